//! The fast tier's harness: [`FastApp`] runs the functions' real route tables and handlers, as
//! [`crate::TestApp`] does, but over switchboard-core's in-memory fakes (`MemoryStore`, `FakeSms`,
//! `FakeGateway`): no DynamoDB server, no Twilio, no AWS. Each test builds its own app in
//! microseconds; only password hashing (argon2, on register and login) costs real time, so tests
//! register the few users they need once.
//!
//! The request helpers answer the same [`Reply`] as `TestApp`'s, and requests are routed by path
//! to the function that serves it ([`function_for`]), then through [`switchboard::api::serve`]
//! (404/405/401/403, JSON errors), exactly as in the slow tier. The fakes stay reachable for
//! inspection and scripting: `app.store`, `app.sms`, `app.gateway`, `app.queue`.
//!
//! A send only writes ahead and queues jobs: SMS go out when a test plays the delivery
//! pipeline's worker, [`FastApp::run_pipeline`] (retries are immediate: no test waits for
//! backoff).

use std::collections::HashMap;
use std::sync::Arc;

use lambda_http::http::{Method, Request as HttpRequest};
use lambda_http::{Body, Request};
use serde_json::{json, Value};
use switchboard::api::Routes;
use switchboard::core::domain::ids::{ConnectionId, ConversationId, UserId};
use switchboard::core::domain::phone::E164;
use switchboard::core::memory::{FakeGateway, FakeMedia, FakeNumbers, FakeQueue, FakeSms, MemoryStore};
use switchboard::core::ports::queue::Job;
use switchboard::core::service::{pipeline, realtime, Publisher};
use switchboard::core::AppError;
use switchboard::{AppState, Config};

use crate::{function_for, session_of, twilio_mock, Reply, Session, ADMIN_EMAIL, JWT_SECRET, PASSWORD};

/// The public URL webhooks are signed for (the same as the slow tier's Twilio settings).
pub const PUBLIC_BASE_URL: &str = "https://switchboard.example.com";
/// The Twilio auth token webhooks are signed with.
pub const TWILIO_AUTH_TOKEN: &str = twilio_mock::AUTH_TOKEN;
pub const INBOUND_PATH: &str = "/api/webhooks/twilio/incoming";
pub const STATUS_PATH: &str = "/api/webhooks/twilio/status";

/// A function state over the in-memory fakes, and the fakes themselves.
pub struct FastApp {
    pub state: AppState,
    /// Every storage port (inspect with `delivery`, `pool_number`, `member_counts`,
    /// `inbound_recorded`, `requests`…; break with `fail_next`).
    pub store: Arc<MemoryStore>,
    /// Twilio: what was sent, and scripted answers per recipient.
    pub sms: Arc<FakeSms>,
    /// API Gateway's management API: the frames posted to each connection.
    pub gateway: Arc<FakeGateway>,
    /// The delivery pipeline's queue (SQS): the jobs sends, relays and retries queued.
    pub queue: Arc<FakeQueue>,
    /// The Twilio account's numbers (IncomingPhoneNumbers): add some, inspect the updates.
    pub twilio_numbers: Arc<FakeNumbers>,
    /// The media bucket (S3): presigned URLs name their key; `put` stands in for an upload.
    pub media: Arc<FakeMedia>,
}

impl Default for FastApp {
    fn default() -> Self {
        Self::new()
    }
}

impl FastApp {
    /// The test configuration (JWT secret, admin email, public URL, Twilio auth token), SMS through
    /// [`FakeSms`], real-time events through [`FakeGateway`].
    pub fn new() -> Self {
        Self::with_settings(&[])
    }

    /// `settings` override the test configuration (same names as the environment; an empty value
    /// unsets a setting).
    pub fn with_settings(settings: &[(&str, &str)]) -> Self {
        let mut values: HashMap<String, String> = HashMap::from([
            ("JWT_SECRET".into(), JWT_SECRET.into()),
            ("ADMIN_EMAILS".into(), ADMIN_EMAIL.into()),
            ("PUBLIC_BASE_URL".into(), PUBLIC_BASE_URL.into()),
            ("TWILIO_ACCOUNT_SID".into(), twilio_mock::ACCOUNT_SID.into()),
            ("TWILIO_AUTH_TOKEN".into(), TWILIO_AUTH_TOKEN.into()),
            // Retries at once and a sweep of whatever is due: the tests do not wait for backoff
            // (the schedule itself is unit-tested in the core).
            ("DELIVERY_RETRY_BASE_SECONDS".into(), "0".into()),
            ("DELIVERY_RETRY_MAX_SECONDS".into(), "0".into()),
            ("DELIVERY_SWEEP_GRACE_SECONDS".into(), "0".into()),
        ]);
        for (k, v) in settings {
            values.insert(k.to_string(), v.to_string());
        }
        let config = Config::from_lookup(|k| values.get(k).cloned()).expect("test config");
        let store = Arc::new(MemoryStore::new());
        let sms = Arc::new(FakeSms::new());
        let gateway = Arc::new(FakeGateway::new());
        let queue = Arc::new(FakeQueue::new());
        let twilio_numbers = Arc::new(FakeNumbers::new());
        let media = Arc::new(FakeMedia::new());
        let state = AppState::in_memory(config, store.clone())
            .with_media_store(media.clone())
            .with_sms(sms.clone())
            .with_provider(twilio_numbers.clone())
            .with_publisher(Publisher::new(gateway.clone()))
            .with_job_queue(queue.clone());
        Self { state, store, sms, gateway, queue, twilio_numbers, media }
    }

    /// The use cases' dependencies, for calling a use case directly.
    pub fn core(&self) -> &switchboard::core::App {
        &self.state.app
    }
}

// --- the delivery pipeline -----------------------------------------------------------------------

impl FastApp {
    /// Plays the delivery pipeline's worker until no job is queued: takes every queued job
    /// (whatever its delay) and runs it with `pipeline::run`, again and again, so every send,
    /// relay, retry and redrive runs to its end. A job that fails is queued again, as SQS would
    /// deliver it again. Returns how many jobs ran; panics if the queue does not empty within
    /// 100 rounds.
    pub async fn run_pipeline(&self) -> usize {
        let mut ran = 0;
        for _ in 0..100 {
            let jobs = self.queue.take_all();
            if jobs.is_empty() {
                return ran;
            }
            ran += jobs.len();
            for job in jobs {
                if self.run_job(&job).await.is_err() {
                    self.requeue(job).await;
                }
            }
        }
        panic!("the pipeline did not settle after 100 rounds: {:?}", self.queue.waiting());
    }

    /// Runs one job as the worker does (without queuing it again if it fails).
    pub async fn run_job(&self, job: &Job) -> Result<(), AppError> {
        pipeline::run(&self.state.app, job).await
    }

    /// Queues a job again now, as SQS delivers a failed one again.
    async fn requeue(&self, job: Job) {
        use switchboard::core::ports::JobQueue;
        self.queue.enqueue(&[job], std::time::Duration::ZERO).await.expect("requeue");
    }
}

// --- requests ----------------------------------------------------------------------------------

impl FastApp {
    pub async fn get(&self, path: impl AsRef<str>, token: &str) -> Reply {
        self.send("GET", path, None, Some(token)).await
    }

    pub async fn post(&self, path: impl AsRef<str>, body: Value, token: Option<&str>) -> Reply {
        self.send("POST", path, Some(body), token).await
    }

    pub async fn put(&self, path: impl AsRef<str>, body: Value, token: &str) -> Reply {
        self.send("PUT", path, Some(body), Some(token)).await
    }

    pub async fn patch(&self, path: impl AsRef<str>, body: Value, token: &str) -> Reply {
        self.send("PATCH", path, Some(body), Some(token)).await
    }

    pub async fn delete(&self, path: impl AsRef<str>, token: &str) -> Reply {
        self.send("DELETE", path, None, Some(token)).await
    }

    pub async fn send(
        &self,
        method: &str,
        path: impl AsRef<str>,
        body: Option<Value>,
        token: Option<&str>,
    ) -> Reply {
        let raw = body.map(|b| b.to_string()).unwrap_or_default();
        self.send_raw(method, path.as_ref(), &raw, token).await
    }

    pub async fn send_raw(
        &self,
        method: &str,
        path: impl AsRef<str>,
        body: &str,
        token: Option<&str>,
    ) -> Reply {
        self.dispatch(request(method, path.as_ref(), body, token, &[])).await
    }

    /// A JSON request with extra headers (e.g. `Idempotency-Key`).
    pub async fn send_with_headers(
        &self,
        method: &str,
        path: impl AsRef<str>,
        body: Option<Value>,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let raw = body.map(|b| b.to_string()).unwrap_or_default();
        self.dispatch(request(method, path.as_ref(), &raw, token, headers)).await
    }

    /// Routes a request to the function that serves its path, as the HTTP API does.
    pub async fn dispatch(&self, req: Request) -> Reply {
        let path = req.uri().path().to_string();
        self.dispatch_to(function_for(&path), req).await
    }

    /// Runs a request through one function's table (e.g. a webhook's function URL root, `/`).
    pub async fn dispatch_to(&self, routes: &Routes, req: Request) -> Reply {
        let (method, path) = (req.method().clone(), req.uri().path().to_string());
        let response = switchboard::api::serve(self.state.clone(), routes, req).await;
        crate::reply_of(routes, &method, &path, response)
    }
}

/// A request as API Gateway hands it over: JSON content type, a bearer token when given.
pub fn request(
    method: &str,
    path: &str,
    body: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> Request {
    let mut builder = HttpRequest::builder()
        .method(Method::from_bytes(method.as_bytes()).expect("an HTTP method"))
        .uri(path)
        .header("content-type", "application/json");
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let body = if body.is_empty() { Body::Empty } else { Body::Text(body.to_string()) };
    builder.body(body).expect("a valid request")
}

// --- users, numbers, conversations ---------------------------------------------------------------

impl FastApp {
    pub async fn register_with(&self, username: &str, email: &str) -> Session {
        let body = json!({"username": username, "email": email, "password": PASSWORD});
        let reply = self.post("/api/auth/register", body, None).await;
        assert_eq!(reply.status, 201, "register {username}: {:?}", reply.body);
        session_of(&reply.body)
    }

    pub async fn register(&self, username: &str) -> Session {
        self.register_with(username, &format!("{username}@example.com")).await
    }

    /// The admin (`ADMIN_EMAILS`).
    pub async fn admin(&self) -> Session {
        self.register_with("admin", ADMIN_EMAIL).await
    }

    /// Adds numbers to the pool as `admin`.
    pub async fn add_numbers(&self, admin: &Session, numbers: &[String]) {
        for number in numbers {
            let reply = self.post("/api/numbers", json!({ "phoneNumber": number }), Some(&admin.token)).await;
            assert_eq!(reply.status, 201, "add {number}: {:?}", reply.body);
        }
    }

    /// Gives `user` a virtual number (any free one) and returns it.
    pub async fn give_number(&self, user: &Session) -> String {
        let reply = self.post("/api/users/virtual-number", json!({}), Some(&user.token)).await;
        assert_eq!(reply.status, 200, "virtual number: {:?}", reply.body);
        reply.body["user"]["virtualPhoneNumber"].as_str().expect("a number").to_string()
    }

    /// `owner` creates a group with these participants (`[{"userId"} | {"phoneNumber", "displayName"}]`);
    /// returns the conversation as the API answered it.
    pub async fn create_group(&self, owner: &Session, name: &str, participants: Value) -> Value {
        let body = json!({ "name": name, "participants": participants });
        let reply = self.post("/api/conversations/group", body, Some(&owner.token)).await;
        assert_eq!(reply.status, 201, "create group: {:?}", reply.body);
        reply.body["conversation"].clone()
    }

    /// `owner`'s SMS conversation with `phone` (through the owner's number); returns it.
    pub async fn start_sms(&self, owner: &Session, phone: &str, name: Option<&str>) -> Value {
        let body = json!({ "phoneNumber": phone, "name": name });
        let reply = self.post("/api/conversations/sms", body, Some(&owner.token)).await;
        assert!(reply.status == 201 || reply.status == 200, "start sms: {:?}", reply.body);
        reply.body["conversation"].clone()
    }

    /// Sends `text` in a conversation as `who`; returns the message as the API answered it.
    pub async fn send_text(&self, who: &Session, conversation_id: &str, text: &str) -> Value {
        let path = format!("/api/conversations/{conversation_id}/messages");
        let reply = self.post(path, json!({ "content": text }), Some(&who.token)).await;
        assert_eq!(reply.status, 201, "send: {:?}", reply.body);
        reply.body["message"].clone()
    }

    /// The conversation's history as `who` reads it, newest first.
    pub async fn history(&self, conversation_id: &str, who: &Session) -> Vec<Value> {
        let reply = self.get(format!("/api/conversations/{conversation_id}/messages"), &who.token).await;
        assert_eq!(reply.status, 200, "history: {:?}", reply.body);
        reply.body["messages"].as_array().expect("messages").clone()
    }

    /// `who`'s inbox, latest activity first.
    pub async fn inbox(&self, who: &Session) -> Vec<Value> {
        let reply = self.get("/api/conversations", &who.token).await;
        assert_eq!(reply.status, 200, "inbox: {:?}", reply.body);
        reply.body["conversations"].as_array().expect("conversations").clone()
    }
}

// --- Twilio webhooks ---------------------------------------------------------------------------

impl FastApp {
    /// A webhook request as Twilio sends it: form body, signed for the public URL of
    /// `path_and_query` (under the configured PUBLIC_BASE_URL) with `token` (the configured auth
    /// token when None, or [`TWILIO_AUTH_TOKEN`] when none is configured).
    pub fn twilio_request(
        &self,
        path_and_query: &str,
        params: &[(&str, &str)],
        token: Option<&str>,
    ) -> Request {
        let params: Vec<(String, String)> =
            params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let config = &self.state.config;
        let configured = config.twilio_auth_token.as_ref().map(|t| t.expose());
        let token = token.or(configured).unwrap_or(TWILIO_AUTH_TOKEN);
        let base = config.public_base_url.as_deref().unwrap_or(PUBLIC_BASE_URL).trim_end_matches('/');
        let url = format!("{base}{path_and_query}");
        let signature = switchboard::twilio::signature::sign(token, &url, &params);
        HttpRequest::builder()
            .method("POST")
            .uri(path_and_query)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(Body::Text(serde_urlencoded::to_string(&params).expect("a form")))
            .expect("a valid request")
    }

    /// An inbound SMS webhook, signed; returns the reply.
    pub async fn inbound_sms(&self, message_sid: &str, from: &str, to: &str, body: &str) -> Reply {
        let params = [
            ("MessageSid", message_sid),
            ("AccountSid", twilio_mock::ACCOUNT_SID),
            ("From", from),
            ("To", to),
            ("Body", body),
            ("NumMedia", "0"),
        ];
        self.dispatch(self.twilio_request(INBOUND_PATH, &params, None)).await
    }

    /// A status callback, signed, for `delivery_id` (in the URL, as every send names it) or, when
    /// None, found by its MessageSid alone.
    pub async fn status_callback(
        &self,
        delivery_id: Option<&str>,
        message_sid: &str,
        status: &str,
        error_code: Option<&str>,
    ) -> Reply {
        let path = match delivery_id {
            Some(id) => format!("{STATUS_PATH}?deliveryId={id}"),
            None => STATUS_PATH.to_string(),
        };
        let mut params = vec![
            ("MessageSid", message_sid),
            ("MessageStatus", status),
            ("AccountSid", twilio_mock::ACCOUNT_SID),
        ];
        if let Some(code) = error_code {
            params.push(("ErrorCode", code));
        }
        self.dispatch(self.twilio_request(&path, &params, None)).await
    }
}

// --- real time -----------------------------------------------------------------------------------

impl FastApp {
    /// `user` opens a WebSocket (`$connect` with their token) as connection `id`.
    pub async fn connect(&self, id: &str, user: &Session) -> ConnectionId {
        let connection = ConnectionId::parse(id).expect("a connection id");
        realtime::connect(&self.state.app, &connection, Some(&user.token)).await.expect("connect");
        connection
    }

    /// The event types delivered to a connection since the gateway was last cleared.
    pub fn event_types(&self, connection: &ConnectionId) -> Vec<String> {
        self.gateway
            .frames_to(connection)
            .iter()
            .map(|frame| frame["type"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

// --- small conversions -----------------------------------------------------------------------------

pub fn e164(phone: &str) -> E164 {
    E164::from_stored(phone.to_string())
}

pub fn user_id(session: &Session) -> UserId {
    UserId::parse(&session.user_id).expect("a user id")
}

pub fn conversation_id(conversation: &Value) -> ConversationId {
    ConversationId::parse(conversation["id"].as_str().expect("an id")).expect("a conversation id")
}

/// The id of the participant of `conversation` whose `key` is `value` (e.g. `"userId"`, an id).
pub fn participant_id(conversation: &Value, key: &str, value: &str) -> String {
    let participants = conversation["participants"].as_array().expect("participants");
    let participant = participants
        .iter()
        .find(|p| p[key] == value)
        .unwrap_or_else(|| panic!("no participant with {key}={value}"));
    participant["id"].as_str().expect("an id").to_string()
}
