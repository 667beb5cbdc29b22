//! Media uploads over the in-memory fakes (the fast tier, as `fast_handlers.rs`): the presigned
//! PUT `POST /api/uploads` answers, its bad input, and the checks a send makes of the uploads it
//! names (the caller's own, uploaded, at most 10 and 5 MB). `uploads.rs` runs the same uploads
//! against S3 on the local server, where the signature is enforced.

use serde_json::{json, Value};
use switchboard::core::domain::media::{Attachment, UploadKey, MAX_MEDIA_BYTES};
use switchboard::core::service::media;
use switchboard::core::AppError;
use switchboard_tests::fast::{participant_id, user_id, FastApp};
use switchboard_tests::Session;

async fn upload(app: &FastApp, who: &Session, body: Value) -> switchboard_tests::Reply {
    app.post("/api/uploads", body, Some(&who.token)).await
}

/// Starts an upload of `size` bytes and stores it, as the browser's PUT would; its id.
async fn uploaded(app: &FastApp, who: &Session, size: u64) -> String {
    let reply = upload(app, who, json!({"contentType": "image/png", "size": size})).await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let id = reply.body["uploadId"].as_str().unwrap().to_string();
    app.media.put(UploadKey::of(user_id(who), &id).unwrap().as_str(), size);
    id
}

fn field_of(err: AppError) -> String {
    assert_eq!(err.code(), "validation_failed", "{err}");
    err.field().unwrap_or_default().to_string()
}

#[tokio::test]
async fn an_upload_is_a_presigned_put_of_a_key_under_the_callers_prefix_bound_to_type_and_size() {
    let app = FastApp::new();
    let ada = app.register("ada").await;
    let reply = upload(&app, &ada, json!({"contentType": "image/jpeg", "size": 482113})).await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let ticket = &reply.body;
    assert_eq!(ticket["method"], "PUT");
    assert_eq!(ticket["headers"], json!({"Content-Type": "image/jpeg", "Content-Length": "482113"}));
    let id = ticket["uploadId"].as_str().unwrap();
    let url = ticket["url"].as_str().unwrap();
    assert!(url.contains(&format!("uploads/{}/{id}", user_id(&ada))), "{url}");
    let expires_at = chrono::DateTime::parse_from_rfc3339(ticket["expiresAt"].as_str().unwrap()).unwrap();
    let lifetime = expires_at.signed_duration_since(chrono::Utc::now());
    assert!(lifetime > chrono::Duration::minutes(14) && lifetime <= chrono::Duration::minutes(15));
}

#[tokio::test]
async fn bad_uploads_are_refused_with_a_json_error_naming_the_field() {
    let app = FastApp::new();
    let ada = app.register("ada").await;
    for (body, status, field) in [
        (json!({"contentType": "video/mp4", "size": 100}), 422, "contentType"),
        (json!({"contentType": "image/svg+xml", "size": 100}), 422, "contentType"),
        (json!({"contentType": "image/png", "size": MAX_MEDIA_BYTES + 1}), 422, "size"),
        (json!({"contentType": "image/png", "size": 0}), 422, "size"),
        (json!({"contentType": "image/png", "size": -1}), 400, "size"),
        (json!({"size": 100}), 400, "contentType"),
    ] {
        let reply = upload(&app, &ada, body.clone()).await;
        assert_eq!((reply.status, reply.body["error"]["field"].clone()), (status, json!(field)), "{body}");
    }
    let anonymous = app.post("/api/uploads", json!({"contentType": "image/png", "size": 1}), None).await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn a_send_may_name_only_the_callers_own_finished_uploads_up_to_10_and_5_mb() {
    let app = FastApp::new();
    let ada_session = app.register("ada").await;
    let bob_session = app.register("bob").await;
    let ada = app.core().users.get_user(user_id(&ada_session)).await.unwrap().unwrap();

    let mine = uploaded(&app, &ada_session, 1000).await;
    let found = media::uploaded_media(app.core(), &ada, std::slice::from_ref(&mine)).await.unwrap();
    let expected =
        Attachment { upload: UploadKey::of(ada.id, &mine).unwrap(), content_type: "image/png".into() };
    assert_eq!(found, vec![expected]);

    let bobs = uploaded(&app, &bob_session, 1000).await;
    let err = media::uploaded_media(app.core(), &ada, &[bobs]).await.unwrap_err();
    assert_eq!(field_of(err), "media", "someone else's upload");

    let started = upload(&app, &ada_session, json!({"contentType": "image/png", "size": 10})).await;
    let not_put = started.body["uploadId"].as_str().unwrap().to_string();
    assert_eq!(field_of(media::uploaded_media(app.core(), &ada, &[not_put]).await.unwrap_err()), "media");

    let eleven: Vec<String> =
        futures::future::join_all((0..11).map(|_| uploaded(&app, &ada_session, 10))).await;
    assert_eq!(field_of(media::uploaded_media(app.core(), &ada, &eleven).await.unwrap_err()), "media");
    assert_eq!(media::uploaded_media(app.core(), &ada, &eleven[..10]).await.unwrap().len(), 10);

    let big = [uploaded(&app, &ada_session, MAX_MEDIA_BYTES).await, mine.clone()];
    assert_eq!(
        field_of(media::uploaded_media(app.core(), &ada, &big).await.unwrap_err()),
        "media",
        "over 5 MB"
    );
    let twice = [mine.clone(), mine];
    assert_eq!(field_of(media::uploaded_media(app.core(), &ada, &twice).await.unwrap_err()), "media");
    let not_an_id = ["../bob/x".to_string()];
    assert_eq!(field_of(media::uploaded_media(app.core(), &ada, &not_an_id).await.unwrap_err()), "media");
}

/// A group of ada (with a number), bob (web) and a phone; ada's uploaded photo's id.
async fn group_with_a_photo(app: &FastApp) -> (Session, Session, Value, String) {
    let admin = app.admin().await;
    app.add_numbers(&admin, &["+14155550100".to_string(), "+14155550101".to_string()]).await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    app.give_number(&ada).await;
    let group = app
        .create_group(
            &ada,
            "Picnic",
            json!([{"userId": user_id(&bob).to_string()}, {"phoneNumber": "+14155550177", "displayName": "Grace"}]),
        )
        .await;
    let photo = uploaded(app, &ada, 2000).await;
    (ada, bob, group, photo)
}

/// `who` sends the upload `photo` alone in the conversation; the message as answered.
async fn send_photo(app: &FastApp, who: &Session, conversation_id: &str, photo: &str) -> Value {
    let path = format!("/api/conversations/{conversation_id}/messages");
    let reply = app.post(path, json!({"media": [photo]}), Some(&who.token)).await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body["message"].clone()
}

#[tokio::test]
async fn a_photo_sent_in_a_group_reaches_the_phone_as_mms_and_web_members_through_presigned_urls() {
    let app = FastApp::new();
    let (ada, bob, group, photo) = group_with_a_photo(&app).await;
    let id = group["id"].as_str().unwrap();
    let message = &send_photo(&app, &ada, id, &photo).await;
    let message_id = message["id"].as_str().unwrap();
    // Stored under the message, not the upload: the staging area's expiry does not touch it.
    let key = format!("media/{id}/{message_id}/0");
    assert_eq!(app.media.get(&key).map(|o| o.size), Some(2000), "copied under the message");
    assert_eq!(message["mediaUrls"], json!([format!("memory://media/{key}?get&expires=3600")]));
    assert_eq!(message["mediaContentTypes"], json!(["image/png"]));

    // Bob reads the same short-lived URL in the history; nothing names the bucket's keys bare.
    let history = app.history(id, &bob).await;
    assert_eq!(history[0]["mediaUrls"], message["mediaUrls"]);
    // So does the export (JSON and CSV).
    for format in ["json", "csv"] {
        let export = app.get(format!("/api/conversations/{id}/export?format={format}"), &bob.token).await;
        assert_eq!(export.status, 200);
        assert!(export.body.to_string().contains(&format!("memory://media/{key}?get")), "{format}");
    }

    // The phone gets an MMS whose media URL Twilio can fetch for hours.
    app.run_pipeline().await;
    let sent = app.sms.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].media_urls, vec![format!("memory://media/{key}?get&expires=14400")]);
    assert_eq!(sent[0].body, "ada:", "no words, only the picture");
}

#[tokio::test]
async fn outsiders_and_removed_participants_get_no_media_url() {
    let app = FastApp::new();
    let (ada, bob, group, photo) = group_with_a_photo(&app).await;
    let id = group["id"].as_str().unwrap();
    send_photo(&app, &ada, id, &photo).await;
    let eve = app.register("eve").await;
    let outsider = app.get(format!("/api/conversations/{id}/messages"), &eve.token).await;
    assert_eq!((outsider.status, outsider.body["error"]["code"].clone()), (404, json!("not_found")));

    let bob_participant = participant_id(&group, "userId", &user_id(&bob).to_string());
    let removed =
        app.delete(format!("/api/conversations/{id}/participants/{bob_participant}"), &ada.token).await;
    assert_eq!(removed.status, 200, "{:?}", removed.body);
    let after = app.get(format!("/api/conversations/{id}/messages"), &bob.token).await;
    assert_eq!((after.status, after.body["error"]["code"].clone()), (404, json!("not_found")));
    let export = app.get(format!("/api/conversations/{id}/export?format=json"), &bob.token).await;
    assert_eq!(export.status, 404);
}

#[tokio::test]
async fn a_send_naming_a_missing_upload_stores_and_sends_nothing() {
    let app = FastApp::new();
    let (ada, bob, group, photo) = group_with_a_photo(&app).await;
    let id = group["id"].as_str().unwrap();
    let path = format!("/api/conversations/{id}/messages");
    let bobs = uploaded(&app, &bob, 10).await;
    for body in [
        json!({"content": "look", "media": [bobs]}),
        json!({"content": "look", "media": ["not-an-upload"]}),
        json!({"content": "look", "media": [photo.clone()], "mediaUrls": ["https://example.com/a.png"]}),
    ] {
        let reply = app.post(&path, body.clone(), Some(&ada.token)).await;
        assert_eq!((reply.status, reply.body["error"]["field"].clone()), (422, json!("media")), "{body}");
    }
    assert!(app.history(id, &ada).await.is_empty());
    app.run_pipeline().await;
    assert!(app.sms.sent().is_empty());
}

#[tokio::test]
async fn a_retried_send_with_media_answers_the_first_message_even_after_its_uploads_expired() {
    let app = FastApp::new();
    let (ada, _bob, group, photo) = group_with_a_photo(&app).await;
    let id = group["id"].as_str().unwrap();
    let path = format!("/api/conversations/{id}/messages");
    let body = json!({"content": "look", "media": [photo.clone()]});
    let send = || {
        app.send_with_headers(
            "POST",
            &path,
            Some(body.clone()),
            Some(&ada.token),
            &[("idempotency-key", "k-1")],
        )
    };
    let first = send().await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    // The staged upload is gone (the bucket's lifecycle): the retry is answered all the same.
    app.media.remove(UploadKey::of(user_id(&ada), &photo).unwrap().as_str());
    let again = send().await;
    assert_eq!(again.status, 201, "{:?}", again.body);
    assert_eq!(again.body["message"]["id"], first.body["message"]["id"]);
    assert_eq!(again.body["message"]["mediaUrls"], first.body["message"]["mediaUrls"], "presigned again");
    assert_eq!(app.history(id, &ada).await.len(), 1, "stored once");
    // A body no send accepts is refused even under a used key: 11 files.
    let eleven = json!({"media": vec![photo.clone(); 11]});
    let refused = app
        .send_with_headers("POST", &path, Some(eleven), Some(&ada.token), &[("idempotency-key", "k-1")])
        .await;
    assert_eq!((refused.status, refused.body["error"]["field"].clone()), (422, json!("media")));
    app.run_pipeline().await;
    assert_eq!(app.sms.sent().len(), 1, "sent once");
}
