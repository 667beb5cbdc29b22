//! A Twilio Messages API stand-in for tests: a wiremock server whose responder validates every
//! request against Twilio's official OpenAPI operation (`xtask::twilio_contract`, the check the
//! local stand-in of `make dev` uses too), records it, and answers like Twilio (201 with a unique
//! SID, or Twilio's JSON error).
//!
//! Per-phone failures and a fixed delay can be injected to test failure paths and to benchmark.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};
use xtask::twilio_contract::{message_sid, Account, Contract, MessageRequest};

pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const AUTH_TOKEN: &str = "test-auth-token-0123456789";

/// One SMS the mock accepted.
#[derive(Clone, Debug)]
pub struct SentSms {
    pub sid: String,
    pub to: String,
    pub from: String,
    pub body: Option<String>,
    pub media_urls: Vec<String>,
    pub status_callback: Option<String>,
}

/// What the mock answers for a given `To`, instead of accepting.
#[derive(Clone, Debug)]
pub enum Failure {
    /// A Twilio JSON error with this HTTP status and Twilio code.
    Error { status: u16, code: i64, message: &'static str },
    /// Answers only after this long (for client timeouts).
    Hang(Duration),
}

#[derive(Default)]
struct Behaviour {
    delay: Duration,
    failures: HashMap<String, Failure>,
}

pub struct TwilioMock {
    pub server: MockServer,
    accepted: Arc<Mutex<Vec<SentSms>>>,
    rejected: Arc<Mutex<Vec<String>>>,
    behaviour: Arc<Mutex<Behaviour>>,
}

struct Responder {
    contract: Contract,
    accepted: Arc<Mutex<Vec<SentSms>>>,
    rejected: Arc<Mutex<Vec<String>>>,
    behaviour: Arc<Mutex<Behaviour>>,
}

fn twilio_error(status: u16, code: i64, message: &str) -> ResponseTemplate {
    let refusal = xtask::twilio_contract::Refusal { status, code, message: message.to_string() };
    ResponseTemplate::new(status).set_body_json(refusal.body())
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
        let http = MessageRequest {
            path: request.url.path(),
            authorization: header("authorization"),
            content_type: header("content-type"),
            body: &request.body,
        };
        let account_sid = ACCOUNT_SID;
        let form = match self.contract.validate(&http, &Account { sid: ACCOUNT_SID, auth_token: AUTH_TOKEN })
        {
            Ok(form) => form,
            Err(refusal) => {
                self.rejected.lock().unwrap().push(refusal.message.clone());
                return twilio_error(refusal.status, refusal.code, &refusal.message);
            }
        };
        let first = |k: &str| form.get(k).map(|v| v[0].clone());
        let to = first("To").unwrap_or_default();
        let behaviour = self.behaviour.lock().unwrap();
        match behaviour.failures.get(&to) {
            // Twilio takes as long to refuse as to accept.
            Some(Failure::Error { status, code, message }) => {
                return twilio_error(*status, *code, message).set_delay(behaviour.delay)
            }
            Some(Failure::Hang(delay)) => return twilio_error(500, 20500, "late").set_delay(*delay),
            None => {}
        }
        let sid = message_sid();
        let sms = SentSms {
            sid: sid.clone(),
            to: to.clone(),
            from: first("From").unwrap_or_default(),
            body: first("Body"),
            media_urls: form.get("MediaUrl").cloned().unwrap_or_default(),
            status_callback: first("StatusCallback"),
        };
        self.accepted.lock().unwrap().push(sms.clone());
        ResponseTemplate::new(201)
            .set_body_json(json!({
                "sid": sid,
                "account_sid": account_sid,
                "to": sms.to,
                "from": sms.from,
                "body": sms.body,
                "status": "queued",
                "num_media": sms.media_urls.len().to_string(),
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "uri": format!("/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json"),
            }))
            .set_delay(behaviour.delay)
    }
}

impl TwilioMock {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let rejected = Arc::new(Mutex::new(Vec::new()));
        let behaviour = Arc::new(Mutex::new(Behaviour::default()));
        Mock::given(method("POST"))
            .and(path_regex(r"^/2010-04-01/Accounts/[^/]+/Messages\.json$"))
            .respond_with(Responder {
                contract: Contract::default(),
                accepted: accepted.clone(),
                rejected: rejected.clone(),
                behaviour: behaviour.clone(),
            })
            .mount(&server)
            .await;
        Self { server, accepted, rejected, behaviour }
    }

    /// The settings that point the functions' Twilio client here.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TWILIO_ACCOUNT_SID", ACCOUNT_SID.to_string()),
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN.to_string()),
            ("TWILIO_API_BASE_URL", self.server.uri()),
            ("PUBLIC_BASE_URL", "https://switchboard.example.com".to_string()),
        ]
    }

    /// Every SMS accepted so far.
    pub fn sent(&self) -> Vec<SentSms> {
        self.accepted.lock().unwrap().clone()
    }

    /// Requests refused as not matching the spec (should stay empty).
    pub fn invalid_requests(&self) -> Vec<String> {
        self.rejected.lock().unwrap().clone()
    }

    pub fn fail_for(&self, to: &str, failure: Failure) {
        self.behaviour.lock().unwrap().failures.insert(to.to_string(), failure);
    }

    /// Accepts messages to `to` again.
    pub fn recover(&self, to: &str) {
        self.behaviour.lock().unwrap().failures.remove(to);
    }

    pub fn set_delay(&self, delay: Duration) {
        self.behaviour.lock().unwrap().delay = delay;
    }

    /// Every request that reached the server, valid or not.
    pub async fn request_count(&self) -> usize {
        self.server.received_requests().await.map(|r| r.len()).unwrap_or(0)
    }
}
