//! The local Twilio stand-in of `make dev` (a development tool; a deployed stack never talks to it).
//!
//! - Serves the Messages API call our client makes (`POST /2010-04-01/Accounts/{sid}/Messages.json`),
//!   checks it against Twilio's published contract (`twilio_contract.rs`), records the SMS in the
//!   receiving phone's inbox and then calls the message's StatusCallback with signed `queued`,
//!   `sent` and `delivered` callbacks, like Twilio.
//! - Plays the phones: `POST /phones/{phone}/messages` texts one of our numbers, i.e. sends the
//!   signed inbound webhook Twilio would send; `GET /phones` and `GET /phones/{phone}/messages` show
//!   what each phone has received and sent (the `phone` command wraps both).
//! - Twilio's magic test numbers fail as they do with test credentials: `+15005550001` (21211,
//!   invalid), `+15005550004` (21610, unsubscribed), `+15005550009` (21614, not SMS-capable).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use switchboard::twilio::signature;

use crate::twilio_contract::{message_sid, Account, Contract, MessageRequest, Refusal};

/// The account the stand-in plays, and where it delivers webhooks.
#[derive(Clone, Debug)]
pub struct StandinConfig {
    pub account_sid: String,
    pub auth_token: String,
    /// The inbound webhook URL, as it would be set on each number in Twilio's console.
    pub inbound_url: String,
    /// Time between the status callbacks of one message.
    pub callback_step: Duration,
}

/// One SMS as a simulated phone saw it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneSms {
    pub sid: String,
    /// `received` (we texted the phone) or `sent` (the phone texted one of our numbers).
    pub direction: &'static str,
    pub from: String,
    pub to: String,
    pub body: Option<String>,
    pub media_urls: Vec<String>,
    /// Received SMS: the last status reported to our StatusCallback. Sent SMS: the HTTP status
    /// our inbound webhook answered.
    pub status: String,
    pub at: String,
}

struct Standin {
    config: StandinConfig,
    contract: Contract,
    http: reqwest::Client,
    phones: Mutex<BTreeMap<String, Vec<PhoneSms>>>,
}

impl Standin {
    fn record(&self, phone: &str, sms: PhoneSms) {
        self.phones.lock().unwrap().entry(phone.to_string()).or_default().push(sms);
    }

    fn set_status(&self, phone: &str, sid: &str, status: &str) {
        let mut phones = self.phones.lock().unwrap();
        if let Some(sms) = phones.get_mut(phone).and_then(|l| l.iter_mut().find(|s| s.sid == sid)) {
            sms.status = status.to_string();
        }
    }

    /// POSTs a form signed like Twilio signs it (the URL exactly as configured).
    async fn post_signed(&self, url: &str, params: &[(String, String)]) -> Result<(u16, String), String> {
        let signature = signature::sign(&self.config.auth_token, url, params);
        let response = self
            .http
            .post(url)
            .header("x-twilio-signature", signature)
            .form(params)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let status = response.status().as_u16();
        Ok((status, response.text().await.unwrap_or_default()))
    }
}

pub fn router(config: StandinConfig) -> Router {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(300)) // `make dev` compiles a function on its first call
        .build()
        .expect("an HTTP client");
    let standin = Arc::new(Standin {
        config,
        contract: Contract::default(),
        http,
        phones: Mutex::new(BTreeMap::new()),
    });
    Router::new()
        .route("/", get(|| async { Json(json!({ "service": "switchboard twilio stand-in" })) }))
        .route("/2010-04-01/Accounts/{account}/Messages.json", post(create_message))
        .route("/phones", get(all_phones))
        .route("/phones/{phone}/messages", get(phone_messages).post(phone_texts))
        .with_state(standin)
}

fn twilio_error(refusal: &Refusal) -> Response {
    let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, Json(refusal.body())).into_response()
}

/// Twilio's magic test numbers (https://www.twilio.com/docs/iam/test-credentials).
fn magic_failure(to: &str) -> Option<Refusal> {
    let (code, message) = match to {
        "+15005550001" => (21211, format!("The 'To' number {to} is not a valid phone number.")),
        "+15005550004" => (21610, "Attempt to send to unsubscribed recipient".to_string()),
        "+15005550009" => (21614, format!("'To' number {to} is not a valid mobile number")),
        _ => return None,
    };
    Some(Refusal { status: 400, code, message })
}

async fn create_message(
    State(standin): State<Arc<Standin>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let request = MessageRequest {
        path: uri.path(),
        authorization: header(header::AUTHORIZATION),
        content_type: header(header::CONTENT_TYPE),
        body: &body,
    };
    let account = Account { sid: &standin.config.account_sid, auth_token: &standin.config.auth_token };
    let form = match standin.contract.validate(&request, &account) {
        Ok(form) => form,
        Err(refusal) => {
            eprintln!("twilio-standin: refused a send: {} ({})", refusal.message, refusal.code);
            return twilio_error(&refusal);
        }
    };
    let first = |name: &str| form.get(name).map(|v| v[0].clone());
    let to = first("To").unwrap_or_default();
    if let Some(refusal) = magic_failure(&to) {
        return twilio_error(&refusal);
    }
    let sid = message_sid();
    let from = first("From").unwrap_or_default();
    let sms = PhoneSms {
        sid: sid.clone(),
        direction: "received",
        from: from.clone(),
        to: to.clone(),
        body: first("Body"),
        media_urls: form.get("MediaUrl").cloned().unwrap_or_default(),
        status: "queued".to_string(),
        at: chrono::Utc::now().to_rfc3339(),
    };
    println!("twilio-standin: {to} received from {from}: {}", sms.body.as_deref().unwrap_or("(media)"));
    standin.record(&to, sms.clone());
    if let Some(callback) = first("StatusCallback") {
        tokio::spawn(report_progress(standin.clone(), callback, sms.clone()));
    }
    let account_sid = &standin.config.account_sid;
    let reply = json!({
        "sid": sid,
        "account_sid": account_sid,
        "to": to,
        "from": from,
        "body": sms.body,
        "status": "queued",
        "num_media": sms.media_urls.len().to_string(),
        "num_segments": "1",
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "messaging_service_sid": first("MessagingServiceSid"),
        "date_created": chrono::Utc::now().to_rfc2822(),
        "uri": format!("/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json"),
    });
    (StatusCode::CREATED, Json(reply)).into_response()
}

/// The status callbacks Twilio sends as a message moves on: queued, sent, delivered.
async fn report_progress(standin: Arc<Standin>, callback: String, sms: PhoneSms) {
    for status in ["queued", "sent", "delivered"] {
        tokio::time::sleep(standin.config.callback_step).await;
        standin.set_status(&sms.to, &sms.sid, status);
        let params: Vec<(String, String)> = [
            ("AccountSid", standin.config.account_sid.as_str()),
            ("ApiVersion", "2010-04-01"),
            ("From", &sms.from),
            ("To", &sms.to),
            ("MessageSid", &sms.sid),
            ("SmsSid", &sms.sid),
            ("MessageStatus", status),
            ("SmsStatus", status),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        match standin.post_signed(&callback, &params).await {
            Ok((200..=299, _)) => {}
            Ok((code, body)) => eprintln!("twilio-standin: status callback {status} got {code}: {body}"),
            Err(e) => eprintln!("twilio-standin: status callback {status} failed: {e}"),
        }
    }
}

async fn all_phones(State(standin): State<Arc<Standin>>) -> Json<Value> {
    Json(json!({ "phones": *standin.phones.lock().unwrap() }))
}

async fn phone_messages(State(standin): State<Arc<Standin>>, Path(phone): Path<String>) -> Json<Value> {
    let messages = standin.phones.lock().unwrap().get(&phone).cloned().unwrap_or_default();
    Json(json!({ "phone": phone, "messages": messages }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Text {
    to: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    media_urls: Vec<String>,
}

fn is_e164(phone: &str) -> bool {
    phone.len() > 2 && phone.starts_with('+') && phone[1..].chars().all(|c| c.is_ascii_digit())
}

/// The phone texts one of our numbers: the signed inbound webhook, as Twilio sends it.
async fn phone_texts(
    State(standin): State<Arc<Standin>>,
    Path(phone): Path<String>,
    Json(text): Json<Text>,
) -> Response {
    if !is_e164(&phone) || !is_e164(&text.to) {
        let error = json!({ "error": "phone numbers are E.164, like +14155550177" });
        return (StatusCode::BAD_REQUEST, Json(error)).into_response();
    }
    let sid = message_sid();
    let mut params: Vec<(String, String)> = vec![
        ("MessageSid".into(), sid.clone()),
        ("SmsSid".into(), sid.clone()),
        ("SmsMessageSid".into(), sid.clone()),
        ("AccountSid".into(), standin.config.account_sid.clone()),
        ("From".into(), phone.clone()),
        ("To".into(), text.to.clone()),
        ("Body".into(), text.body.clone()),
        ("NumMedia".into(), text.media_urls.len().to_string()),
        ("NumSegments".into(), "1".into()),
        ("SmsStatus".into(), "received".into()),
        ("ApiVersion".into(), "2010-04-01".into()),
    ];
    for (i, url) in text.media_urls.iter().enumerate() {
        params.push((format!("MediaUrl{i}"), url.clone()));
        params.push((format!("MediaContentType{i}"), "image/jpeg".into()));
    }
    let outcome = standin.post_signed(&standin.config.inbound_url, &params).await;
    let (status, reply) = match outcome {
        Ok((status, body)) => (status, body),
        Err(e) => return (StatusCode::BAD_GATEWAY, Json(json!({ "error": e }))).into_response(),
    };
    println!("twilio-standin: {phone} texted {}: webhook answered {status}", text.to);
    standin.record(
        &phone,
        PhoneSms {
            sid: sid.clone(),
            direction: "sent",
            from: phone.clone(),
            to: text.to,
            body: Some(text.body),
            media_urls: text.media_urls,
            status: status.to_string(),
            at: chrono::Utc::now().to_rfc3339(),
        },
    );
    let code = if (200..300).contains(&status) { StatusCode::OK } else { StatusCode::BAD_GATEWAY };
    (code, Json(json!({ "messageSid": sid, "webhookStatus": status, "webhookResponse": reply })))
        .into_response()
}
