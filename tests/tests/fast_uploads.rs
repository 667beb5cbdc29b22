//! Media uploads over the in-memory fakes (the fast tier, as `fast_handlers.rs`): the presigned
//! PUT `POST /api/uploads` answers, its bad input, and the checks a send makes of the uploads it
//! names (the caller's own, uploaded, at most 10 and 5 MB). `uploads.rs` runs the same uploads
//! against S3 on the local server, where the signature is enforced.

use serde_json::{json, Value};
use switchboard::core::domain::media::{UploadKey, MAX_MEDIA_BYTES};
use switchboard::core::service::media;
use switchboard::core::AppError;
use switchboard_tests::fast::{user_id, FastApp};
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
    let keys = media::uploaded_media(app.core(), &ada, std::slice::from_ref(&mine)).await.unwrap();
    assert_eq!(keys, vec![UploadKey::of(ada.id, &mine).unwrap()]);

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
