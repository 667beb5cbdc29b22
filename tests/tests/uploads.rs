//! Media uploads against S3 on the local server (moto): the presigned PUT `POST /api/uploads`
//! answers stores the file, and a send's checks (`service::media::uploaded_media`) see it with
//! one HeadObject per upload. `fast_uploads.rs` covers the rest over the fake.
//!
//! S3 refuses a presigned PUT whose `Content-Type` or `Content-Length` differs from what was
//! signed, because both are in `X-Amz-SignedHeaders`. moto does not check presigned signatures
//! at all (a PUT of another type, another size or a corrupted signature all get 200), so this
//! tier asserts what the signature covers, not S3's refusal.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;
use switchboard::core::domain::media::{Attachment, UploadKey};
use switchboard::core::service::media;
use switchboard::s3::S3Media;
use switchboard_tests::twilio_mock::TwilioMock;
use switchboard_tests::{us_number, Session, TestApp};

/// An S3 client and a fresh bucket on the local server.
async fn local_bucket() -> (aws_config::SdkConfig, String) {
    let endpoint =
        std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect("the local server (make test starts it)");
    let sdk_config = aws_config::from_env().endpoint_url(endpoint).load().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk_config).force_path_style(true).build(),
    );
    let bucket = format!("media-{}", ulid::Ulid::new().to_string().to_lowercase());
    s3.create_bucket().bucket(&bucket).send().await.expect("create the bucket");
    (sdk_config, bucket)
}

async fn app_with_bucket() -> (TestApp, String) {
    let (sdk_config, bucket) = local_bucket().await;
    let mut app = TestApp::new().await;
    app.state = app.state.clone().with_media_store(Arc::new(S3Media::new(&sdk_config, bucket.clone())));
    (app, bucket)
}

async fn ticket(app: &TestApp, who: &Session, content_type: &str, size: usize) -> serde_json::Value {
    let reply =
        app.post("/api/uploads", json!({"contentType": content_type, "size": size}), Some(&who.token)).await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    reply.body
}

async fn put(ticket: &serde_json::Value, content_type: &str, body: Vec<u8>) -> reqwest::StatusCode {
    reqwest::Client::new()
        .put(ticket["url"].as_str().unwrap())
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("the local server answers")
        .status()
}

#[tokio::test]
async fn a_browser_uploads_through_the_presigned_put_and_a_send_finds_the_upload() {
    let (app, _bucket) = app_with_bucket().await;
    let ada = app.register("ada").await;
    let user = app.state.app.users.get_user(ada.user_id.parse().unwrap()).await.unwrap().unwrap();
    let photo = vec![7u8; 1234];
    // Presigning is local (no S3 request); the table is read only to authenticate the caller.
    let (ticket, requests) = app.count_operations(|| ticket(&app, &ada, "image/png", photo.len())).await;
    assert_eq!(requests, BTreeMap::from([("GetItem".to_string(), 1)]));
    let id = ticket["uploadId"].as_str().unwrap().to_string();

    let found = media::uploaded_media(&app.state.app, &user, std::slice::from_ref(&id)).await;
    assert_eq!(found.unwrap_err().field(), Some("media"), "nothing uploaded yet");

    assert!(put(&ticket, "image/png", photo).await.is_success());
    // One HeadObject per upload, no table request.
    let (found, requests) = app
        .count_operations(|| media::uploaded_media(&app.state.app, &user, std::slice::from_ref(&id)))
        .await;
    assert!(requests.is_empty(), "{requests:?}");
    let found = found.unwrap();
    let key = UploadKey::of(user.id, &id).unwrap();
    assert_eq!(found, vec![Attachment { upload: key.clone(), content_type: "image/png".into() }]);
    let download =
        app.state.app.media.presign_get(key.as_str(), std::time::Duration::from_secs(60)).await.unwrap();
    let fetched = reqwest::get(&download).await.unwrap();
    assert_eq!(fetched.bytes().await.unwrap().len(), 1234);
}

#[tokio::test]
async fn the_signature_binds_content_type_and_length() {
    let (app, _bucket) = app_with_bucket().await;
    let ada = app.register("ada").await;
    // Under X-Ray (and `cargo lambda watch`) the SDK adds `x-amzn-trace-id`, unsigned: the
    // ticket must not name it, or a browser sends it and the bucket's CORS rule refuses the PUT.
    std::env::set_var("AWS_LAMBDA_FUNCTION_NAME", "messages");
    std::env::set_var("_X_AMZN_TRACE_ID", "Root=1-6743a1b0-0123456789abcdef01234567");
    let ticket = ticket(&app, &ada, "image/jpeg", 100).await;
    let url = reqwest::Url::parse(ticket["url"].as_str().unwrap()).unwrap();
    let signed: String =
        url.query_pairs().find(|(k, _)| k == "X-Amz-SignedHeaders").map(|(_, v)| v.into_owned()).unwrap();
    let signed: Vec<&str> = signed.split(';').collect();
    assert!(signed.contains(&"content-type") && signed.contains(&"content-length"), "{signed:?}");
    assert_eq!(ticket["headers"], json!({"Content-Type": "image/jpeg", "Content-Length": "100"}));
}

#[tokio::test]
async fn a_photo_sent_to_a_phone_is_copied_under_the_message_and_twilio_and_the_sender_fetch_it() {
    let mock = TwilioMock::start().await;
    let (sdk_config, bucket) = local_bucket().await;
    let mut app = TestApp::with_twilio(&mock, &[]).await;
    app.state = app.state.clone().with_media_store(Arc::new(S3Media::new(&sdk_config, bucket)));
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(901)]).await;
    let ada = app.register("ada").await;
    app.give_number(&ada).await;
    let phone = "+14155550177";
    let started = app.post("/api/conversations/sms", json!({"phoneNumber": phone}), Some(&ada.token)).await;
    assert_eq!(started.status, 201, "{:?}", started.body);
    let id = started.body["conversation"]["id"].as_str().unwrap().to_string();

    let photo: Vec<u8> = (0..4321u32).map(|i| (i % 251) as u8).collect();
    let ticket = ticket(&app, &ada, "image/png", photo.len()).await;
    assert!(put(&ticket, "image/png", photo.clone()).await.is_success());
    let body = json!({"content": "the view from here", "media": [ticket["uploadId"]]});
    let path = format!("/api/conversations/{id}/messages");
    let started = std::time::Instant::now();
    let (reply, requests) = app.count_operations(|| app.post(&path, body.clone(), Some(&ada.token))).await;
    let elapsed = started.elapsed();
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    // The same table requests as a send without media: the uploads are S3's (HeadObject, CopyObject).
    eprintln!("send with one photo: {elapsed:?}, table requests {requests:?}");
    let text_only = json!({"content": "and without a picture"});
    let started = std::time::Instant::now();
    let (plain, plain_requests) =
        app.count_operations(|| app.post(&path, text_only.clone(), Some(&ada.token))).await;
    eprintln!("send without media: {:?}, table requests {plain_requests:?}", started.elapsed());
    assert_eq!((plain.status, &plain_requests), (201, &requests), "media add no table request");
    let message = &reply.body["message"];
    assert_eq!(message["mediaContentTypes"], json!(["image/png"]));
    let url = message["mediaUrls"][0].as_str().unwrap();
    assert!(url.contains(&format!("media/{id}/")), "the copy under the message: {url}");
    let fetched = reqwest::get(url).await.unwrap();
    assert_eq!(fetched.bytes().await.unwrap().to_vec(), photo, "the sender's view serves the photo");

    app.run_pipeline().await;
    let mut sent = mock.sent_to(phone);
    assert_eq!(sent.len(), 2, "the MMS and the text");
    // The pipeline sends them concurrently: in either order.
    sent.sort_by_key(|sms| sms.media_urls.is_empty());
    assert_eq!(sent[0].body.as_deref(), Some("the view from here"));
    assert!(sent[1].media_urls.is_empty());
    assert_eq!(sent[0].media_urls.len(), 1);
    assert!(sent[0].media_urls[0].contains("X-Amz-Expires=14400"), "4 hours for Twilio's fetch");
    let fetched = reqwest::get(&sent[0].media_urls[0]).await.unwrap();
    assert_eq!(fetched.bytes().await.unwrap().to_vec(), photo, "Twilio's MediaUrl serves the photo");
    assert!(mock.invalid_requests().is_empty(), "{:?}", mock.invalid_requests());
}
