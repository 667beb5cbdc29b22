//! The media copy of inbound MMS end to end: the inbound webhook and the delivery worker over
//! the local DynamoDB (moto), the copies in moto's S3, Twilio's media URLs served by a local
//! stand-in that requires the account's Basic auth and redirects to a second host (its storage),
//! as Twilio does.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use switchboard::core::domain::ids::ConversationId;
use switchboard::core::domain::message::Message;
use switchboard::core::domain::phone::E164;
use switchboard::core::ports::media_copies::MediaError;
use switchboard::core::ports::{MediaCopies, PageRequest};
use switchboard::s3::S3Media;
use switchboard::twilio::{TwilioMedia, TwilioSettings};
use switchboard_tests::twilio_mock::{TwilioMock, ACCOUNT_SID, AUTH_TOKEN};
use switchboard_tests::{us_number, Reply, TestApp};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use xtask::twilio_contract::{Account, DeleteMediaContract};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
const PHONE: &str = "+14155550299";

/// Counts the bucket's PutObject calls.
struct Counted {
    inner: S3Media,
    puts: AtomicUsize,
}

#[async_trait]
impl MediaCopies for Counted {
    async fn put(&self, key: &str, content_type: &str, bytes: Vec<u8>) -> Result<(), MediaError> {
        self.puts.fetch_add(1, Ordering::Relaxed);
        self.inner.put(key, content_type, bytes).await
    }
}

struct World {
    app: TestApp,
    api: MockServer,
    storage: MockServer,
    s3: aws_sdk_s3::Client,
    bucket: String,
    copies: Arc<Counted>,
    number: String,
}

async fn world() -> World {
    world_with(&[]).await
}

async fn world_with(settings: &[(&str, &str)]) -> World {
    let (api, storage) = (MockServer::start().await, MockServer::start().await);
    let twilio = TwilioMock::start().await;
    let bucket = format!("media-{}", ulid::Ulid::new().to_string().to_lowercase());
    let api_uri = api.uri();
    let mut extra = vec![("TWILIO_API_BASE_URL", api_uri.as_str())];
    extra.extend_from_slice(settings);
    let mut app = TestApp::with_twilio(&twilio, &extra).await;
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect("the local AWS endpoint");
    let aws = aws_config::load_from_env().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&aws).endpoint_url(&endpoint).force_path_style(true).build(),
    );
    s3.create_bucket().bucket(&bucket).send().await.expect("create the bucket");
    let local = aws_config::from_env().endpoint_url(endpoint.as_str()).load().await;
    let copies = Arc::new(Counted { inner: S3Media::new(&local, bucket.clone()), puts: 0.into() });
    let twilio_settings = TwilioSettings::from_config(&app.state.config).unwrap().unwrap();
    let source = Arc::new(TwilioMedia::new(&twilio_settings).unwrap());
    app.state.app = app.state.app.clone().with_media_copies(source, copies.clone());
    let admin = app.admin().await;
    let number = us_number(7);
    app.add_numbers(&admin, std::slice::from_ref(&number)).await;
    let ana = app.register("ana").await;
    assert_eq!(app.give_number(&ana).await, number);
    World { app, api, storage, s3, bucket, copies, number }
}

/// Message `sid`'s one media item (its SID: `ME` and the message SID's digits).
fn media_path(sid: &str) -> String {
    format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media/ME{}", &sid[2..])
}

fn basic_auth() -> String {
    use base64::Engine;
    let pair = format!("{ACCOUNT_SID}:{AUTH_TOKEN}");
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
}

impl World {
    /// Twilio's media URL for message `sid`: 503 `failures` times, then a redirect to the storage
    /// host, which serves the picture; only with the account's credentials.
    async fn serve(&self, sid: &str, failures: u64) {
        if failures > 0 {
            Mock::given(method("GET"))
                .and(path(media_path(sid)))
                .respond_with(ResponseTemplate::new(503))
                .up_to_n_times(failures)
                .with_priority(1)
                .mount(&self.api)
                .await;
        }
        let stored = format!("/bucket/{sid}");
        Mock::given(method("GET"))
            .and(path(media_path(sid)))
            .and(header("authorization", basic_auth().as_str()))
            .respond_with(
                ResponseTemplate::new(307)
                    .insert_header("location", format!("{}{stored}", self.storage.uri())),
            )
            .with_priority(2)
            .mount(&self.api)
            .await;
        Mock::given(method("GET"))
            .and(path(stored))
            .respond_with(
                ResponseTemplate::new(200).insert_header("content-type", "image/png").set_body_bytes(PNG),
            )
            .mount(&self.storage)
            .await;
    }

    async fn mms(&self, sid: &str) -> Reply {
        let url = format!("{}{}", self.api.uri(), media_path(sid));
        let params = [
            ("MessageSid", sid),
            ("AccountSid", ACCOUNT_SID),
            ("From", PHONE),
            ("To", self.number.as_str()),
            ("Body", "look"),
            ("NumMedia", "1"),
            ("MediaUrl0", url.as_str()),
            ("MediaContentType0", "image/png"),
        ];
        self.app.dispatch(self.app.twilio_request("/api/webhooks/twilio/incoming", &params, None)).await
    }

    async fn conversation(&self) -> ConversationId {
        let (number, phone) = (E164::from_stored(self.number.clone()), E164::from_stored(PHONE.into()));
        self.app.state.app.conversations.route_conversation(&number, &phone).await.unwrap().expect("a route")
    }

    async fn message(&self, sid: &str) -> Message {
        let cid = self.conversation().await;
        let page = self.app.state.app.messages.list_messages(cid, &PageRequest::first(20)).await.unwrap();
        let found = page.items.into_iter().find(|m| m.message.twilio_sid.as_deref() == Some(sid));
        found.expect("the message").message
    }

    async fn object(&self, key: &str) -> (Option<String>, Vec<u8>) {
        let object = self.s3.get_object().bucket(&self.bucket).key(key).send().await.expect("our copy");
        let content_type = object.content_type().map(str::to_string);
        (content_type, object.body.collect().await.unwrap().into_bytes().to_vec())
    }

    fn puts(&self) -> usize {
        self.copies.puts.load(Ordering::Relaxed)
    }
}

#[tokio::test]
async fn an_mms_whose_fetch_fails_twice_ends_with_our_copy_once_and_twilio_credentials_stay_with_twilio() {
    let w = world().await;
    w.serve("MM1", 2).await;
    let started = Instant::now();
    assert_eq!(w.mms("MM1").await.status, 200);
    w.app.run_pipeline().await;
    let elapsed = started.elapsed();

    let message = w.message("MM1").await;
    let cid = message.conversation_id;
    let key = format!("media/{cid}/{}/0", message.id);
    assert_eq!(message.media_keys, std::slice::from_ref(&key));
    assert!(message.media_urls[0].starts_with(&w.api.uri()), "Twilio's URL stays alongside");
    assert_eq!(w.object(&key).await, (Some("image/png".into()), PNG.to_vec()));
    assert_eq!(w.puts(), 1, "stored once");
    let api_calls = w.api.received_requests().await.unwrap();
    assert_eq!(api_calls.len(), 3, "two failures, then the redirect");
    assert!(api_calls.iter().all(|r| r.headers.get("authorization").is_some()));
    let storage_calls = w.storage.received_requests().await.unwrap();
    assert_eq!(storage_calls.len(), 1);
    assert!(storage_calls[0].headers.get("authorization").is_none(), "no credentials on the redirect");
    println!("inbound MMS to our copy (two failed fetches, zero backoff): {elapsed:?}");

    // Twilio retries the webhook: stored once already, nothing copied again.
    assert_eq!(w.mms("MM1").await.status, 200);
    w.app.run_pipeline().await;
    assert_eq!(w.puts(), 1);
    assert_eq!(w.message("MM1").await.media_keys, [key]);
}

#[tokio::test]
async fn the_sweeper_recovers_a_lost_copy_job_and_one_copy_costs_six_dynamodb_requests() {
    let w = world().await;
    w.serve("MM2", 0).await;
    assert_eq!(w.mms("MM2").await.status, 200);
    assert_eq!(w.app.queue.take_all().len(), 1, "the copy job, lost");
    assert!(w.message("MM2").await.media_keys.is_empty());

    assert_eq!(w.app.sweep().await, 1);
    let started = Instant::now();
    let ((), operations) = w.app.count_operations(|| w.app.run_pipeline()).await;
    let elapsed = started.elapsed();

    assert_eq!(w.message("MM2").await.media_keys.len(), 1);
    assert_eq!(w.puts(), 1);
    println!("one copy attempt: {elapsed:?}, DynamoDB {operations:?}, S3 PutObject 1");
    // The claim (UpdateItem), the message as `get_message` reads it (its pointer and its item:
    // two GetItem, and its deliveries: a Query), the copy recorded with the mark removed (one
    // transaction), then the conversation's members for `message.updated` (a Query).
    let total: u64 = operations.values().sum();
    assert_eq!(
        (operations.get("UpdateItem"), operations.get("TransactWriteItems"), total),
        (Some(&1), Some(&1), 6),
        "{operations:?}"
    );
    assert_eq!(w.app.sweep().await, 0, "nothing left in the outbox");
}

#[tokio::test]
async fn with_delete_twilio_media_twilios_copy_is_deleted_after_ours_as_the_spec_describes() {
    let w = world_with(&[("DELETE_TWILIO_MEDIA", "true")]).await;
    let sid = format!("MM{:032x}", 7);
    w.serve(&sid, 0).await;
    let contract = Arc::new(DeleteMediaContract::default());
    let refusals = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (checked, refused) = (contract.clone(), refusals.clone());
    Mock::given(method("DELETE"))
        .respond_with(move |request: &wiremock::Request| {
            let authorization = request.headers.get("authorization").and_then(|v| v.to_str().ok());
            let account = Account { sid: ACCOUNT_SID, auth_token: AUTH_TOKEN };
            match checked.validate(request.url.path(), authorization, &account) {
                Ok(_) => ResponseTemplate::new(204),
                Err(refusal) => {
                    refused.lock().unwrap().push(refusal.message.clone());
                    ResponseTemplate::new(refusal.status).set_body_json(refusal.body())
                }
            }
        })
        .mount(&w.api)
        .await;

    assert_eq!(w.mms(&sid).await.status, 200);
    w.app.run_pipeline().await;

    assert_eq!(w.message(&sid).await.media_keys.len(), 1, "ours first");
    let deletes: Vec<String> = w
        .api
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "DELETE")
        .map(|r| r.url.path().to_string())
        .collect();
    assert_eq!(deletes, [format!("{}.json", media_path(&sid))]);
    assert!(refusals.lock().unwrap().is_empty(), "{:?}", refusals.lock().unwrap());
    // The vendored operation does refuse what Twilio would.
    let account = Account { sid: ACCOUNT_SID, auth_token: AUTH_TOKEN };
    let short = format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/ME1.json");
    assert_eq!(contract.validate(&short, Some(&basic_auth()), &account).unwrap_err().status, 400);
    let path = format!("{}.json", media_path(&sid));
    assert_eq!(contract.validate(&path, None, &account).unwrap_err().status, 401);
}
