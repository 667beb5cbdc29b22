//! Test harness. Every test gets its own table, created from template.yaml on the
//! DynamoDB-compatible server that `make test` starts (AWS_ENDPOINT_URL_DYNAMODB), and calls the
//! real function handlers with lambda_http requests, routed by path as API Gateway would: by
//! the functions' own route tables ([`functions`]).

pub mod bench;
pub mod contract;
pub mod fast;
pub mod twilio_mock;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use lambda_http::http::{HeaderMap, Method};
use lambda_http::{Body, Request};
use serde_json::Value;
use switchboard::api::Routes;
use switchboard::core::domain::ids::{ConversationId, UserId};
use switchboard::core::memory::FakeQueue;
use switchboard::core::ports::queue::Job;
use switchboard::dynamo::DynamoStore;
use switchboard::{AppState, Config};

/// Every HTTP function's route table, built once (as each function's `main` does).
pub fn functions() -> &'static [Routes] {
    static TABLES: OnceLock<Vec<Routes>> = OnceLock::new();
    TABLES.get_or_init(|| {
        vec![
            switchboard_auth::routes(),
            switchboard_users::routes(),
            switchboard_numbers::routes(),
            switchboard_conversations::routes(),
            switchboard_messages::routes(),
            switchboard_twilio_inbound::routes(),
            switchboard_twilio_status::routes(),
        ]
    })
}

/// The function that serves `path` in production: the one whose table has the path (any
/// method), or `auth`, the HTTP API's `$default` route, which answers the JSON 404.
pub fn function_for(path: &str) -> &'static Routes {
    static MATCHER: OnceLock<matchit::Router<usize>> = OnceLock::new();
    let matcher = MATCHER.get_or_init(|| {
        let mut matcher = matchit::Router::new();
        for (i, table) in functions().iter().enumerate() {
            for route in table.routes() {
                // Function URL roots ("/") are no HTTP API route.
                if route.path.starts_with("/api/") {
                    let _ = matcher.insert(route.path.clone(), i);
                }
            }
        }
        matcher
    });
    let normalized = format!("/{}", path.split('/').filter(|s| !s.is_empty()).collect::<Vec<_>>().join("/"));
    let index = matcher.at(&normalized).map(|m| *m.value).unwrap_or(0);
    &functions()[index]
}

pub const JWT_SECRET: &str = "test-only-secret-0123456789abcdef0123456789";
pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const PASSWORD: &str = "correct horse battery";

/// A valid US number for tests: +1 415 555 01NN.
pub fn us_number(n: u32) -> String {
    format!("+1415555{:04}", 100 + n)
}

pub struct TestApp {
    pub state: AppState,
    pub client: aws_sdk_dynamodb::Client,
    pub table: String,
    /// The delivery pipeline's queue; [`TestApp::run_pipeline`] plays the worker.
    pub queue: Arc<FakeQueue>,
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: HeaderMap,
}

impl Reply {
    /// The `error.code` of a JSON error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
    pub fn field(&self) -> &str {
        self.body["error"]["field"].as_str().unwrap_or("")
    }
}

/// The [`Reply`] of a response (JSON parsed; TwiML and HTML kept as a string), after checking it
/// against the API's description ([`contract::check`]).
pub fn reply_of(
    routes: &Routes,
    method: &Method,
    path: &str,
    response: lambda_http::Response<Body>,
) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes: &[u8] = response.body().as_ref();
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    let body = if content_type.starts_with("text/") {
        Value::String(String::from_utf8_lossy(bytes).into_owned())
    } else if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{path} answered non-JSON ({e}): {bytes:?}"))
    };
    contract::check(routes, method, path, status, &body);
    Reply { status, body, headers }
}

/// A logged-in user.
#[derive(Clone, Debug)]
pub struct Session {
    pub token: String,
    pub refresh_token: String,
    pub user_id: String,
    pub user: Value,
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_settings(&[]).await
    }

    /// A test app whose Twilio client talks to `mock`.
    pub async fn with_twilio(mock: &twilio_mock::TwilioMock, extra: &[(&str, &str)]) -> Self {
        let owned = mock.settings();
        let mut settings: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
        settings.extend_from_slice(extra);
        Self::with_settings(&settings).await
    }

    /// `settings` override the test configuration (same names as the environment).
    pub async fn with_settings(settings: &[(&str, &str)]) -> Self {
        assert!(
            std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok(),
            "AWS_ENDPOINT_URL_DYNAMODB is not set: run the suite with `make test`, which starts the local DynamoDB server"
        );
        let sdk_config = aws_config::load_from_env().await;
        let (client, round_trips) = DynamoStore::client_from_config(&sdk_config);
        let table = format!("test-{}", ulid::Ulid::new().to_string().to_lowercase());
        let spec = xtask::table::spec_from_template(&xtask::table::template_path()).expect("template.yaml");
        xtask::table::ensure_table(&client, &table, &spec).await.expect("create test table");

        let mut values: HashMap<String, String> = HashMap::from([
            ("JWT_SECRET".into(), JWT_SECRET.into()),
            ("TABLE_NAME".into(), table.clone()),
            ("ADMIN_EMAILS".into(), ADMIN_EMAIL.into()),
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
        let queue = Arc::new(FakeQueue::new());
        let state = AppState::with_dynamo(config, client.clone(), round_trips)
            .with_twilio()
            .and_then(AppState::with_twilio_numbers)
            .expect("test state")
            .with_job_queue(queue.clone());
        Self { state, client, table, queue }
    }

    /// Plays the delivery pipeline's worker (the `delivery` function's handler, with SQS events)
    /// until no job is queued: every send, relay, retry and requeue runs to its end. Jobs a
    /// batch reports as failed are queued again, as SQS would deliver them again.
    pub async fn run_pipeline(&self) {
        for _ in 0..100 {
            let jobs = self.queue.take_all();
            if jobs.is_empty() {
                return;
            }
            for chunk in jobs.chunks(10) {
                self.run_jobs(chunk).await;
            }
        }
        panic!("the pipeline did not settle after 100 rounds: {:?}", self.queue.waiting());
    }

    /// One batch of jobs through the worker, as SQS hands it over; failed ones are queued again.
    pub async fn run_jobs(&self, jobs: &[Job]) {
        let records = jobs
            .iter()
            .enumerate()
            .map(|(i, job)| {
                let mut record = aws_lambda_events::sqs::SqsMessage::default();
                record.message_id = Some(i.to_string());
                record.body = Some(job.to_body());
                record
            })
            .collect();
        let mut event = aws_lambda_events::sqs::SqsEvent::default();
        event.records = records;
        let response = switchboard_delivery::handle(&self.state, event).await;
        let failed: Vec<Job> = response
            .batch_item_failures
            .iter()
            .filter_map(|f| f.item_identifier.parse::<usize>().ok())
            .map(|i| jobs[i])
            .collect();
        if !failed.is_empty() {
            use switchboard::core::ports::JobQueue;
            self.queue.enqueue(&failed, std::time::Duration::ZERO).await.expect("queue again");
        }
    }

    /// One run of the sweeper (as the schedule runs it): how many jobs it queued.
    pub async fn sweep(&self) -> u64 {
        let answer = switchboard_sweeper::handle(&self.state, serde_json::json!({})).await.expect("sweep");
        answer["queued"].as_u64().unwrap_or_default()
    }

    /// DynamoDB requests sent so far by the functions' client.
    pub fn round_trips(&self) -> u64 {
        self.state.round_trips.get()
    }

    /// DynamoDB requests per operation made while `f` runs, e.g. `{"GetItem": 1, "Query": 1}`.
    pub async fn count_operations<F, Fut, T>(&self, f: F) -> (T, BTreeMap<String, u64>)
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        let before = self.state.round_trips.by_operation();
        let result = f().await;
        let mut delta = self.state.round_trips.by_operation();
        for (op, count) in delta.iter_mut() {
            *count -= before.get(op).copied().unwrap_or(0);
        }
        delta.retain(|_, count| *count > 0);
        (result, delta)
    }

    /// Gives `user` a virtual number (any free one) and returns it.
    pub async fn give_number(&self, user: &Session) -> String {
        let reply = self.post("/api/users/virtual-number", serde_json::json!({}), Some(&user.token)).await;
        assert_eq!(reply.status, 200, "virtual number: {:?}", reply.body);
        reply.body["user"]["virtualPhoneNumber"].as_str().unwrap().to_string()
    }

    pub async fn get(&self, path: impl AsRef<str>, token: &str) -> Reply {
        self.send("GET", path, None, Some(token)).await
    }

    pub async fn post(&self, path: impl AsRef<str>, body: Value, token: Option<&str>) -> Reply {
        self.send("POST", path, Some(body), token).await
    }

    pub async fn put(&self, path: impl AsRef<str>, body: Value, token: &str) -> Reply {
        self.send("PUT", path, Some(body), Some(token)).await
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
        let mut builder = lambda_http::http::Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(path.as_ref())
            .header("content-type", "application/json");
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        let body = if body.is_empty() { Body::Empty } else { Body::Text(body.to_string()) };
        self.dispatch(builder.body(body).unwrap()).await
    }

    /// Routes a request to the function that serves its path, as the HTTP API does.
    pub async fn dispatch(&self, req: Request) -> Reply {
        let (method, path) = (req.method().clone(), req.uri().path().to_string());
        let routes = function_for(&path);
        let response = switchboard::api::serve(self.state.clone(), routes, req).await;
        reply_of(routes, &method, &path, response)
    }

    pub async fn register_with(&self, username: &str, email: &str) -> Session {
        let reply = self
            .send(
                "POST",
                "/api/auth/register",
                Some(serde_json::json!({"username": username, "email": email, "password": PASSWORD})),
                None,
            )
            .await;
        assert_eq!(reply.status, 201, "register {username}: {:?}", reply.body);
        session_of(&reply.body)
    }

    pub async fn register(&self, username: &str) -> Session {
        self.register_with(username, &format!("{username}@example.com")).await
    }

    pub async fn admin(&self) -> Session {
        self.register_with("admin", ADMIN_EMAIL).await
    }

    /// `owner` creates a group with these participants (`[{"userId"} | {"phoneNumber", "displayName"}]`);
    /// returns the conversation as the API answered it.
    pub async fn create_group(&self, owner: &Session, name: &str, participants: Value) -> Value {
        let body = serde_json::json!({ "name": name, "participants": participants });
        let reply = self.post("/api/conversations/group", body, Some(&owner.token)).await;
        assert_eq!(reply.status, 201, "create group: {:?}", reply.body);
        reply.body["conversation"].clone()
    }

    /// Adds numbers to the pool as `admin`.
    pub async fn add_numbers(&self, admin: &Session, numbers: &[String]) {
        for number in numbers {
            let reply = self
                .send(
                    "POST",
                    "/api/numbers",
                    Some(serde_json::json!({ "phoneNumber": number })),
                    Some(&admin.token),
                )
                .await;
            assert_eq!(reply.status, 201, "add {number}: {:?}", reply.body);
        }
    }
}

impl TestApp {
    /// A webhook request as Twilio sends it: form body, signed for the public URL of `path`
    /// with `token` (the configured auth token when None).
    pub fn twilio_request(
        &self,
        path_and_query: &str,
        params: &[(&str, &str)],
        token: Option<&str>,
    ) -> Request {
        let params: Vec<(String, String)> =
            params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let base = self.state.config.public_base_url.clone().expect("PUBLIC_BASE_URL");
        let token = token.map(str::to_string).unwrap_or_else(|| {
            self.state.config.twilio_auth_token.as_ref().expect("TWILIO_AUTH_TOKEN").expose().to_string()
        });
        let signature =
            switchboard::twilio::signature::sign(&token, &format!("{base}{path_and_query}"), &params);
        lambda_http::http::Request::builder()
            .method("POST")
            .uri(path_and_query)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(Body::Text(serde_urlencoded::to_string(&params).unwrap()))
            .unwrap()
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
        self.dispatch(self.twilio_request("/api/webhooks/twilio/incoming", &params, None)).await
    }
}

impl TestApp {
    /// Only the write-ahead step of a send, as if the function died before calling Twilio:
    /// returns the stored (pending) deliveries.
    pub async fn write_ahead_only(
        &self,
        user_id: &str,
        conversation_id: &str,
        text: &str,
    ) -> Vec<switchboard::core::domain::message::Delivery> {
        let mut written = self.write_ahead_many(user_id, conversation_id, &[text.to_string()]).await;
        written.pop().expect("one message").1
    }

    /// The write-ahead of a send for each text, in order (the user and the conversation read
    /// once): a long history without a request per message at the edge. Returns each message and
    /// its deliveries.
    pub async fn write_ahead_many(
        &self,
        user_id: &str,
        conversation_id: &str,
        texts: &[String],
    ) -> Vec<(switchboard::core::domain::message::Message, Vec<switchboard::core::domain::message::Delivery>)>
    {
        let app = &self.state.app;
        let user_id = UserId::parse(user_id).expect("a user id");
        let conversation_id = ConversationId::parse(conversation_id).expect("a conversation id");
        let user = app.users.get_user(user_id).await.unwrap().expect("user");
        let detail =
            app.conversations.get_conversation(conversation_id).await.unwrap().expect("conversation");
        let mut written = Vec::with_capacity(texts.len());
        for text in texts {
            let content = switchboard::core::domain::message::NewContent {
                content: text.clone(),
                media_urls: vec![],
                attachments: vec![],
            };
            let (message, deliveries) =
                switchboard::core::service::messages::prepare(app, &user, &detail, &content).await.unwrap();
            let new = switchboard::core::ports::messages::NewMessage {
                detail: &detail,
                message: &message,
                deliveries: &deliveries,
                idempotency: None,
                preview: text.clone(),
                idle_deadline: None,
            };
            app.messages.create_message(&new).await.unwrap();
            written.push((message, deliveries));
        }
        written
    }
}

/// The proxy number a conversation's SMS participant `phone` texts through.
pub fn proxy_of(conversation: &Value, phone: &str) -> String {
    let participants = conversation["participants"].as_array().expect("participants");
    let participant =
        participants.iter().find(|p| p["phoneNumber"] == phone).expect("that phone is a participant");
    participant["proxyNumber"].as_str().expect("proxyNumber").to_string()
}

/// The target of a reply's `Link: <…>; rel="next"` header (an export's next part), if any.
pub fn next_link(reply: &Reply) -> Option<String> {
    let link = reply.headers.get("link")?.to_str().expect("a text header");
    assert!(link.ends_with(r#">; rel="next""#), "{link}");
    Some(link.trim_start_matches('<').split('>').next().unwrap_or_default().to_string())
}

/// A MessageSid for tests: "SM" and 32 hex digits.
pub fn message_sid(n: u32) -> String {
    format!("SM{n:032x}")
}

pub fn session_of(body: &Value) -> Session {
    Session {
        token: body["token"].as_str().expect("token").to_string(),
        refresh_token: body["refreshToken"].as_str().expect("refreshToken").to_string(),
        user_id: body["user"]["id"].as_str().expect("user.id").to_string(),
        user: body["user"].clone(),
    }
}
