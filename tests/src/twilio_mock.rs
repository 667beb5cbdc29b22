//! A Twilio Messages API stand-in for tests: a wiremock server whose responder validates every
//! request against the official OpenAPI description (`../shared/twilio/twilio_api_v2010.json`),
//! records it, and answers like Twilio (201 with a unique SID, or Twilio's JSON error).
//!
//! Per-phone failures and a fixed delay can be injected to test failure paths and to benchmark.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const AUTH_TOKEN: &str = "test-auth-token-0123456789";
const MESSAGES_PATH: &str = "/2010-04-01/Accounts/{AccountSid}/Messages.json";

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

/// Form fields by name (a name may repeat, like MediaUrl).
type Form = HashMap<String, Vec<String>>;
/// (HTTP status, Twilio error code, message) of a refused request.
type Refusal = (u16, i64, String);

/// The parts of the spec's "create message" operation the responder checks against.
struct Contract {
    account_sid: Value,
    body: Value,
}

impl Contract {
    fn load() -> Self {
        let path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/twilio/twilio_api_v2010.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let spec: Value = serde_json::from_str(&text).expect("the Twilio spec is JSON");
        let op = &spec["paths"][MESSAGES_PATH]["post"];
        let account_sid = op["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "AccountSid"))
            .map(|p| p["schema"].clone())
            .expect("AccountSid parameter");
        let body = op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"].clone();
        assert!(body["properties"].is_object(), "CreateMessageRequest schema");
        Self { account_sid, body }
    }

    /// Checks a value against a (string) schema: type, pattern, lengths, uri format.
    fn check_string(name: &str, value: &str, schema: &Value) -> Result<(), String> {
        if let Some(pattern) = schema["pattern"].as_str() {
            let re = regex_lite::Regex::new(pattern).map_err(|e| e.to_string())?;
            if !re.is_match(value) {
                return Err(format!("{name} does not match {pattern}"));
            }
        }
        let len = value.chars().count() as u64;
        if schema["minLength"].as_u64().is_some_and(|min| len < min)
            || schema["maxLength"].as_u64().is_some_and(|max| len > max)
        {
            return Err(format!("{name} has the wrong length"));
        }
        let ignore_format = schema["x-twilio"]["ignoreFormat"].as_bool().unwrap_or(false);
        if schema["format"] == "uri"
            && !ignore_format
            && !(value.starts_with("https://") || value.starts_with("http://"))
        {
            return Err(format!("{name} is not a URI"));
        }
        if schema["format"] == "phone-number"
            && !(value.starts_with('+') && value[1..].chars().all(|c| c.is_ascii_digit()))
        {
            return Err(format!("{name} is not an E.164 phone number"));
        }
        Ok(())
    }

    fn validate(&self, request: &Request) -> Result<(String, Form), Refusal> {
        let bad = |m: String| (400, 21_000i64, m);
        // Path: the AccountSid parameter's schema.
        let path = request.url.path();
        let sid = path
            .strip_prefix("/2010-04-01/Accounts/")
            .and_then(|rest| rest.strip_suffix("/Messages.json"))
            .ok_or_else(|| (404, 20404, "no such resource".to_string()))?;
        Self::check_string("AccountSid", sid, &self.account_sid).map_err(bad)?;
        // Security: HTTP basic (accountSid_authToken).
        let auth = request.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
        let expected = format!("Basic {}", base64_encode(&format!("{ACCOUNT_SID}:{AUTH_TOKEN}")));
        if auth != expected || sid != ACCOUNT_SID {
            return Err((401, 20003, "Authenticate".to_string()));
        }
        let content_type = request.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        if !content_type.starts_with("application/x-www-form-urlencoded") {
            return Err(bad(format!("content type {content_type} is not form-encoded")));
        }
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&request.body).map_err(|e| bad(e.to_string()))?;
        let mut form: Form = HashMap::new();
        for (k, v) in pairs {
            form.entry(k).or_default().push(v);
        }
        let properties = self.body["properties"].as_object().expect("properties");
        for (name, values) in &form {
            let schema = properties
                .get(name)
                .ok_or_else(|| bad(format!("{name} is not a parameter of CreateMessageRequest")))?;
            match schema["type"].as_str() {
                Some("array") => {
                    for v in values {
                        Self::check_string(name, v, &schema["items"]).map_err(bad)?;
                    }
                }
                Some("string") | None => {
                    if values.len() > 1 {
                        return Err(bad(format!("{name} given {} times", values.len())));
                    }
                    Self::check_string(name, &values[0], schema).map_err(bad)?;
                }
                Some("boolean") if values[0] != "true" && values[0] != "false" => {
                    return Err(bad(format!("{name} is not a boolean")))
                }
                Some("integer") if values[0].parse::<i64>().is_err() => {
                    return Err(bad(format!("{name} is not an integer")))
                }
                _ => {}
            }
        }
        for required in self.body["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !form.contains_key(required) {
                return Err((400, 21604, format!("A '{required}' phone number is required.")));
            }
        }
        // Rules Twilio enforces beyond the schema.
        if !form.contains_key("From") && !form.contains_key("MessagingServiceSid") {
            return Err((400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required".into()));
        }
        if !form.contains_key("Body") && !form.contains_key("MediaUrl") && !form.contains_key("ContentSid") {
            return Err((400, 21619, "A text message body or media urls must be specified.".into()));
        }
        if form.get("Body").is_some_and(|b| b[0].chars().count() > 1600) {
            return Err((
                400,
                21617,
                "The concatenated message body exceeds the 1600 character limit.".into(),
            ));
        }
        Ok((sid.to_string(), form))
    }
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

struct Responder {
    contract: Contract,
    accepted: Arc<Mutex<Vec<SentSms>>>,
    rejected: Arc<Mutex<Vec<String>>>,
    behaviour: Arc<Mutex<Behaviour>>,
}

fn twilio_error(status: u16, code: i64, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    }))
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let (account_sid, form) = match self.contract.validate(request) {
            Ok(ok) => ok,
            Err((status, code, message)) => {
                self.rejected.lock().unwrap().push(message.clone());
                return twilio_error(status, code, &message);
            }
        };
        let first = |k: &str| form.get(k).map(|v| v[0].clone());
        let to = first("To").unwrap_or_default();
        let behaviour = self.behaviour.lock().unwrap();
        match behaviour.failures.get(&to) {
            Some(Failure::Error { status, code, message }) => return twilio_error(*status, *code, message),
            Some(Failure::Hang(delay)) => return twilio_error(500, 20500, "late").set_delay(*delay),
            None => {}
        }
        let sid = format!(
            "SM{}",
            ulid::Ulid::new().to_string().to_lowercase().chars().take(32).collect::<String>()
        );
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
                contract: Contract::load(),
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

    pub fn set_delay(&self, delay: Duration) {
        self.behaviour.lock().unwrap().delay = delay;
    }

    /// Every request that reached the server, valid or not.
    pub async fn request_count(&self) -> usize {
        self.server.received_requests().await.map(|r| r.len()).unwrap_or(0)
    }
}
