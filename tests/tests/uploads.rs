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
use switchboard::core::domain::media::UploadKey;
use switchboard::core::service::media;
use switchboard::s3::S3Media;
use switchboard_tests::{Session, TestApp};

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
    let (keys, requests) = app
        .count_operations(|| media::uploaded_media(&app.state.app, &user, std::slice::from_ref(&id)))
        .await;
    assert!(requests.is_empty(), "{requests:?}");
    let keys = keys.unwrap();
    assert_eq!(keys, vec![UploadKey::of(user.id, &id).unwrap()]);
    let download =
        app.state.app.media.presign_get(keys[0].as_str(), std::time::Duration::from_secs(60)).await.unwrap();
    let fetched = reqwest::get(&download).await.unwrap();
    assert_eq!(fetched.bytes().await.unwrap().len(), 1234);
}

#[tokio::test]
async fn the_signature_binds_content_type_and_length() {
    let (app, _bucket) = app_with_bucket().await;
    let ada = app.register("ada").await;
    let ticket = ticket(&app, &ada, "image/jpeg", 100).await;
    let url = reqwest::Url::parse(ticket["url"].as_str().unwrap()).unwrap();
    let signed: String =
        url.query_pairs().find(|(k, _)| k == "X-Amz-SignedHeaders").map(|(_, v)| v.into_owned()).unwrap();
    let signed: Vec<&str> = signed.split(';').collect();
    assert!(signed.contains(&"content-type") && signed.contains(&"content-length"), "{signed:?}");
    assert_eq!(ticket["headers"], json!({"Content-Type": "image/jpeg", "Content-Length": "100"}));
}
