//! The local Twilio stand-in of `make dev` (a development tool; a deployed stack never talks to it).
//!
//! - Serves the Messages API call our client makes (`POST /2010-04-01/Accounts/{sid}/Messages.json`),
//!   checks it against Twilio's published contract (`twilio_contract.rs`), records the SMS in the
//!   receiving phone's inbox and then calls the message's StatusCallback with signed `queued`,
//!   `sent` and `delivered` callbacks, like Twilio.
//! - Plays the phones: `POST /phones/{phone}/messages` texts one of our numbers, i.e. sends the
//!   signed inbound webhook Twilio would send; `GET /phones` and `GET /phones/{phone}/messages` show
//!   what each phone has received and sent (the `phone` command wraps both).
//! - Serves "List Messages" (`GET /2010-04-01/Accounts/{sid}/Messages.json?To=&From=&PageSize=`),
//!   checked against Twilio's "ListMessage" operation, in Twilio's page shape, newest first: how
//!   the delivery worker finds an attempt whose answer it never got.
//! - Twilio's magic test numbers fail as they do with test credentials: `+15005550001` (21211,
//!   invalid), `+15005550004` (21610, unsubscribed), `+15005550009` (21614, not SMS-capable).
//! - Phones that fail on purpose, to watch the delivery pipeline retry ([`script`]):
//!   `+14155550199` answers 503 to the first attempt of each SMS, then accepts; `+14155550198`
//!   answers 429 (20429) three times, then accepts; `+14155550197` accepts the first attempt but
//!   answers only after `late_answer` (past the functions' `TWILIO_TIMEOUT_MS`), so the worker must
//!   find it through "List Messages" instead of sending it twice (its status callbacks wait until
//!   a list has shown it, or six times `late_answer`).
//! - Every attempt is recorded with its answer: an SMS shows how many attempts it took, an SMS not
//!   accepted yet shows as `refused`, and each phone has counters (`GET /phones`, `make phone`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use switchboard::twilio::signature;

use crate::twilio_contract::{
    list_page, message_sid, twilio_date, Account, Contract, DeleteMediaContract, ListContract, ListRequest,
    MessageRequest, MessageResource, Refusal,
};
use crate::twilio_numbers::NumberAccount;

/// The account the stand-in plays, and where it delivers webhooks.
#[derive(Clone, Debug)]
pub struct StandinConfig {
    pub account_sid: String,
    pub auth_token: String,
    /// The inbound webhook URL, as it would be set on each number in Twilio's console.
    pub inbound_url: String,
    /// Time between the status callbacks of one message.
    pub callback_step: Duration,
    /// Whether accepted messages get status callbacks at all (`make perf` turns them off: it
    /// drives the status webhook itself, and a burst of callbacks would blur its figures).
    pub status_callbacks: bool,
    /// How long `+14155550197` holds the answer to an SMS's first attempt: longer than the
    /// functions' Twilio timeout (`TWILIO_TIMEOUT_MS`), so they never see it.
    pub late_answer: Duration,
}

/// The phone that answers 503 to an SMS's first attempt.
pub const UNAVAILABLE_ONCE: &str = "+14155550199";
/// The phone that answers 429 (20429) to an SMS's first three attempts.
pub const THROTTLED_THRICE: &str = "+14155550198";
/// The phone whose SMS's first attempt is accepted but answered too late.
pub const ANSWERS_LATE: &str = "+14155550197";

/// A later attempt of an SMS the phone already received (same From, Body and media) within this
/// long counts as a duplicate send.
const DUPLICATE_WINDOW: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// One SMS as a simulated phone saw it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneSms {
    /// The Message SID; none while every attempt was refused.
    pub sid: Option<String>,
    /// `received` (we texted the phone), `sent` (the phone texted one of our numbers), or
    /// `refused` (we tried to text the phone and every attempt so far was refused).
    pub direction: &'static str,
    pub from: String,
    pub to: String,
    pub body: Option<String>,
    pub media_urls: Vec<String>,
    /// Received SMS: the last status reported to our StatusCallback. Sent SMS: the HTTP status
    /// our inbound webhook answered. Refused: the last refusal's status and code.
    pub status: String,
    pub at: String,
    /// Received and refused SMS: each "create a Message" call for it, with the answer.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
    #[serde(skip)]
    created: chrono::DateTime<chrono::Utc>,
    #[serde(skip)]
    sent_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(skip)]
    messaging_service_sid: Option<String>,
    /// A "List Messages" answer has shown it.
    #[serde(skip)]
    listed: bool,
}

/// One "create a Message" call and what the stand-in answered.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    pub at: String,
    /// `201`, `201 held 10.0 s (past the client's timeout)`, `201 duplicate of SM…`, `503 (20503)`…
    pub answer: String,
}

/// What one phone was asked: "create a Message" calls to it, how they were answered, and
/// "List Messages" calls filtered on it.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    pub attempts: u64,
    pub accepted: u64,
    pub refused: u64,
    pub late: u64,
    pub duplicates: u64,
    pub lists: u64,
}

#[derive(Default)]
struct Phones {
    inbox: BTreeMap<String, Vec<PhoneSms>>,
    counters: BTreeMap<String, Counters>,
}

struct Standin {
    config: StandinConfig,
    contract: Contract,
    list_contract: ListContract,
    http: reqwest::Client,
    phones: Mutex<Phones>,
    /// The account's numbers (IncomingPhoneNumbers), for the admin's import.
    numbers: NumberAccount,
}

/// The made-up account's numbers: one just bought (no SmsUrl), one with Twilio's demo URL, one
/// pointed at another application (import leaves it alone unless told to take it over).
pub const ACCOUNT_NUMBERS: [(&str, &str); 3] = [
    ("+14155550180", ""),
    ("+14155550181", "https://demo.twilio.com/welcome/sms/reply"),
    ("+14155550182", "https://other-app.example.com/sms"),
];

/// How the stand-in answers one attempt.
#[derive(Debug, PartialEq)]
enum Answer {
    Refuse(Refusal),
    Accept,
    /// Accept (the SMS is recorded, listable, and its callbacks run) but answer late.
    AcceptLate,
}

/// What the phone `to` does with attempt `attempt` (1-based) of an SMS: the magic test numbers
/// always refuse; the failing phones follow their script; every other phone accepts.
fn script(to: &str, attempt: usize, duplicate: bool) -> Answer {
    if let Some(refusal) = magic_failure(to) {
        return Answer::Refuse(refusal);
    }
    match to {
        UNAVAILABLE_ONCE if attempt <= 1 => {
            Answer::Refuse(Refusal { status: 503, code: 20503, message: "Service Unavailable".into() })
        }
        THROTTLED_THRICE if attempt <= 3 => {
            Answer::Refuse(Refusal { status: 429, code: 20429, message: "Too Many Requests".into() })
        }
        ANSWERS_LATE if attempt <= 1 && !duplicate => Answer::AcceptLate,
        _ => Answer::Accept,
    }
}

impl Standin {
    fn record(&self, phone: &str, sms: PhoneSms) {
        self.phones.lock().unwrap().inbox.entry(phone.to_string()).or_default().push(sms);
    }

    fn set_status(&self, phone: &str, sid: &str, status: &str) {
        let mut phones = self.phones.lock().unwrap();
        let list = phones.inbox.get_mut(phone);
        if let Some(sms) = list.and_then(|l| l.iter_mut().find(|s| s.sid.as_deref() == Some(sid))) {
            sms.status = status.to_string();
            if status == "sent" {
                sms.sent_at = Some(chrono::Utc::now());
            }
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
    let numbers = NumberAccount::new(&config.account_sid, &config.auth_token);
    for (number, sms_url) in ACCOUNT_NUMBERS {
        numbers.add(number, sms_url);
    }
    let standin = Arc::new(Standin {
        config,
        contract: Contract::default(),
        list_contract: ListContract::default(),
        http,
        phones: Mutex::new(Phones::default()),
        numbers,
    });
    Router::new()
        .route("/", get(|| async { Json(json!({ "service": "switchboard twilio stand-in" })) }))
        .route("/2010-04-01/Accounts/{account}/Messages.json", post(create_message).get(list_messages))
        .route("/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json", get(list_numbers))
        .route("/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{sid}", post(update_number))
        .route(
            "/2010-04-01/Accounts/{account}/Messages/{message}/Media/{media}",
            get(media).delete(delete_media),
        )
        .route("/media-storage/{media}", get(stored_media))
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
    let from = first("From").unwrap_or_default();
    let body = first("Body");
    let media_urls = form.get("MediaUrl").cloned().unwrap_or_default();
    let now = chrono::Utc::now();
    let same = |s: &PhoneSms| s.from == from && s.body == body && s.media_urls == media_urls;
    // Under the lock: the attempt's number, the script's answer, and the record, together.
    let (answer, sms) = {
        let mut guard = standin.phones.lock().unwrap();
        let phones = &mut *guard;
        phones.counters.entry(to.clone()).or_default().attempts += 1;
        let inbox = phones.inbox.entry(to.clone()).or_default();
        // An SMS refused so far is the one this attempt retries.
        let open = inbox.iter().rposition(|s| s.direction == "refused" && same(s));
        let duplicate_of = inbox
            .iter()
            .rev()
            .find(|s| s.direction == "received" && same(s) && now - s.created < DUPLICATE_WINDOW)
            .and_then(|s| s.sid.clone());
        let attempt = open.map_or(1, |i| inbox[i].attempts.len() + 1);
        let answer = script(&to, attempt, duplicate_of.is_some());
        let at = now.to_rfc3339();
        let index = match open {
            Some(i) => i,
            None => {
                inbox.push(PhoneSms {
                    sid: None,
                    direction: "refused",
                    from: from.clone(),
                    to: to.clone(),
                    body: body.clone(),
                    media_urls: media_urls.clone(),
                    status: String::new(),
                    at: at.clone(),
                    attempts: Vec::new(),
                    created: now,
                    sent_at: None,
                    messaging_service_sid: first("MessagingServiceSid"),
                    listed: false,
                });
                inbox.len() - 1
            }
        };
        let sms = &mut inbox[index];
        let text = match &answer {
            Answer::Refuse(refusal) => {
                sms.status = format!("{} ({})", refusal.status, refusal.code);
                sms.status.clone()
            }
            Answer::Accept | Answer::AcceptLate => {
                sms.sid = Some(message_sid());
                sms.direction = "received";
                sms.status = "queued".into();
                sms.at = at.clone();
                sms.created = now;
                match (&answer, &duplicate_of) {
                    (Answer::AcceptLate, _) => format!(
                        "201 held {:.1} s (past the client's timeout)",
                        standin.config.late_answer.as_secs_f64()
                    ),
                    (_, Some(sid)) => format!("201 duplicate of {sid}"),
                    _ => "201".to_string(),
                }
            }
        };
        sms.attempts.push(Attempt { at, answer: text.clone() });
        let sms = sms.clone();
        let counters = phones.counters.entry(to.clone()).or_default();
        match &answer {
            Answer::Refuse(_) => counters.refused += 1,
            Answer::AcceptLate => counters.late += 1,
            Answer::Accept => {}
        }
        if !matches!(answer, Answer::Refuse(_)) {
            counters.accepted += 1;
            counters.duplicates += u64::from(duplicate_of.is_some());
        }
        println!(
            "twilio-standin: {to} attempt {attempt} from {from}: {text}: {}",
            body.as_deref().unwrap_or("(media)")
        );
        (answer, sms)
    };
    if let Answer::Refuse(refusal) = &answer {
        return twilio_error(refusal);
    }
    let Some(sid) = sms.sid.clone() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if let Some(callback) = first("StatusCallback").filter(|_| standin.config.status_callbacks) {
        // A late answer's callbacks wait until the worker has found the SMS by listing (or a
        // while): sent first, with the delivery's id in their URL, they would settle it before the
        // worker's retry, and the reconciliation would never run.
        let hold = (answer == Answer::AcceptLate).then(|| standin.config.late_answer * 6);
        tokio::spawn(report_progress(standin.clone(), callback, sid.clone(), sms.clone(), hold));
    }
    let reply = resource(&standin.config.account_sid, &sms, &sid).to_json();
    if answer == Answer::AcceptLate {
        // Twilio has the message (it is listed, its callbacks run); the answer is lost.
        tokio::time::sleep(standin.config.late_answer).await;
    }
    (StatusCode::CREATED, Json(reply)).into_response()
}

/// An SMS of a phone as Twilio's Message resource.
fn resource(account_sid: &str, sms: &PhoneSms, sid: &str) -> MessageResource {
    let inbound = sms.direction == "sent";
    MessageResource {
        account_sid: account_sid.to_string(),
        sid: sid.to_string(),
        to: sms.to.clone(),
        from: sms.from.clone(),
        body: sms.body.clone(),
        status: if inbound { "received".into() } else { sms.status.clone() },
        num_media: sms.media_urls.len(),
        direction: if inbound { "inbound" } else { "outbound-api" },
        messaging_service_sid: sms.messaging_service_sid.clone(),
        date_created: twilio_date(sms.created),
        date_sent: if inbound { Some(twilio_date(sms.created)) } else { sms.sent_at.map(twilio_date) },
        date_updated: twilio_date(sms.sent_at.unwrap_or(sms.created)),
        error_code: None,
    }
}

/// "List Messages": every message the account sent (accepted sends) or received (the phones'
/// texts) that passes the filters, newest first, one page.
/// "List IncomingPhoneNumber", checked against the official operation.
async fn list_numbers(
    State(standin): State<Arc<Standin>>,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let answer = standin.numbers.list(uri.path(), authorization, query.as_deref().unwrap_or(""));
    number_answer("list numbers", answer)
}

/// "Update IncomingPhoneNumber" (`{sid}` is `PN….json`), checked against the official operation.
async fn update_number(
    State(standin): State<Arc<Standin>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let answer = standin.numbers.update(
        uri.path(),
        header(header::AUTHORIZATION),
        header(header::CONTENT_TYPE),
        &body,
    );
    if answer.0 == 200 {
        println!("twilio-standin: {} now sends its SMS to {}", answer.1["phone_number"], answer.1["sms_url"]);
    }
    number_answer("update a number", answer)
}

fn number_answer(what: &str, (status, body): (u16, serde_json::Value)) -> Response {
    if status >= 400 {
        eprintln!("twilio-standin: refused to {what}: {}", body["message"]);
    }
    (StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), Json(body)).into_response()
}

async fn list_messages(
    State(standin): State<Arc<Standin>>,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let request = ListRequest {
        path: uri.path(),
        authorization: headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()),
        query: query.as_deref().unwrap_or(""),
    };
    let account = Account { sid: &standin.config.account_sid, auth_token: &standin.config.auth_token };
    let query = match standin.list_contract.validate(&request, &account) {
        Ok(query) => query,
        Err(refusal) => {
            eprintln!("twilio-standin: refused a list: {} ({})", refusal.message, refusal.code);
            return twilio_error(&refusal);
        }
    };
    let account_sid = &standin.config.account_sid;
    let mut found: Vec<PhoneSms> = {
        let mut phones = standin.phones.lock().unwrap();
        if let Some(to) = &query.to {
            phones.counters.entry(to.clone()).or_default().lists += 1;
        }
        phones
            .inbox
            .values_mut()
            .flatten()
            .filter(|s| s.sid.is_some() && s.direction != "refused")
            .filter(|s| query.matches(&s.to, &s.from, s.sent_at.map(twilio_date).as_deref()))
            .map(|s| {
                s.listed = true;
                s.clone()
            })
            .collect()
    };
    // Newest first (a stable sort keeps the order of equal times: reversed, newest first too).
    found.reverse();
    found.sort_by_key(|s| std::cmp::Reverse(s.created));
    let messages: Vec<Value> =
        found.iter().filter_map(|s| Some(resource(account_sid, s, s.sid.as_deref()?).to_json())).collect();
    println!(
        "twilio-standin: List Messages To={} From={}: {} found",
        query.to.as_deref().unwrap_or("*"),
        query.from.as_deref().unwrap_or("*"),
        messages.len()
    );
    (StatusCode::OK, Json(list_page(account_sid, &query, &messages))).into_response()
}

impl Standin {
    fn was_listed(&self, phone: &str, sid: &str) -> bool {
        let phones = self.phones.lock().unwrap();
        let list = phones.inbox.get(phone);
        list.and_then(|l| l.iter().find(|s| s.sid.as_deref() == Some(sid))).is_some_and(|s| s.listed)
    }
}

/// The status callbacks Twilio sends as a message moves on: queued, sent, delivered. With
/// `hold`, they start once a "List Messages" answer has shown the SMS, or after `hold`.
async fn report_progress(
    standin: Arc<Standin>,
    callback: String,
    sid: String,
    sms: PhoneSms,
    hold: Option<Duration>,
) {
    if let Some(hold) = hold {
        let until = tokio::time::Instant::now() + hold;
        while tokio::time::Instant::now() < until && !standin.was_listed(&sms.to, &sid) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    for status in ["queued", "sent", "delivered"] {
        tokio::time::sleep(standin.config.callback_step).await;
        standin.set_status(&sms.to, &sid, status);
        let params: Vec<(String, String)> = [
            ("AccountSid", standin.config.account_sid.as_str()),
            ("ApiVersion", "2010-04-01"),
            ("From", &sms.from),
            ("To", &sms.to),
            ("MessageSid", &sid),
            ("SmsSid", &sid),
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
    let phones = standin.phones.lock().unwrap();
    Json(json!({ "phones": phones.inbox, "counters": phones.counters }))
}

async fn phone_messages(State(standin): State<Arc<Standin>>, Path(phone): Path<String>) -> Json<Value> {
    let phones = standin.phones.lock().unwrap();
    let messages = phones.inbox.get(&phone).cloned().unwrap_or_default();
    let counters = phones.counters.get(&phone).cloned().unwrap_or_default();
    Json(json!({ "phone": phone, "messages": messages, "counters": counters }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Text {
    to: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    media_urls: Vec<String>,
    /// Attach the stand-in's built-in picture (served at a Twilio-like media URL).
    #[serde(default)]
    picture: bool,
}

/// A 1×1 PNG: the picture `scripts/phone picture` sends.
const PICTURE: &[u8] = &[
    137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 31,
    21, 196, 137, 0, 0, 0, 13, 73, 68, 65, 84, 120, 218, 99, 100, 96, 248, 95, 15, 0, 2, 135, 1, 128, 235,
    71, 186, 146, 0, 0, 0, 0, 73, 69, 78, 68, 174, 66, 96, 130,
];

/// Whether the request authenticates as the stand-in's account (HTTP Basic).
fn authenticated(standin: &Standin, headers: &HeaderMap) -> bool {
    use base64::Engine;
    let config = &standin.config;
    let pair = format!("{}:{}", config.account_sid, config.auth_token);
    let expected = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair));
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) == Some(expected.as_str())
}

/// A phone's MMS media, as Twilio serves it: the account's Basic auth, then a redirect to the
/// storage host (here a second path) that serves the bytes.
async fn media(
    State(standin): State<Arc<Standin>>,
    Path((account, _message, media)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if account != standin.config.account_sid || !authenticated(&standin, &headers) {
        return (StatusCode::UNAUTHORIZED, Json(json!({ "code": 20003, "message": "Authenticate" })))
            .into_response();
    }
    (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, format!("/media-storage/{media}"))]).into_response()
}

async fn stored_media(Path(_media): Path<String>) -> Response {
    ([(header::CONTENT_TYPE, "image/png")], PICTURE).into_response()
}

/// Twilio's "Delete a Media resource" (`DELETE …/Media/{Sid}.json`), checked against the spec.
async fn delete_media(State(standin): State<Arc<Standin>>, uri: Uri, headers: HeaderMap) -> Response {
    let account = Account { sid: &standin.config.account_sid, auth_token: &standin.config.auth_token };
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match DeleteMediaContract::default().validate(uri.path(), authorization, &account) {
        Ok((message, media)) => {
            println!("twilio-standin: media {media} of {message} deleted");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(refusal) => twilio_error(&refusal),
    }
}

fn is_e164(phone: &str) -> bool {
    phone.len() > 2 && phone.starts_with('+') && phone[1..].chars().all(|c| c.is_ascii_digit())
}

/// The phone texts one of our numbers: the signed inbound webhook, as Twilio sends it.
async fn phone_texts(
    State(standin): State<Arc<Standin>>,
    Path(phone): Path<String>,
    headers: HeaderMap,
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
    let mut media: Vec<(String, &str)> = text.media_urls.iter().map(|u| (u.clone(), "image/jpeg")).collect();
    if text.picture {
        // Twilio's form: the message's Media resource, on the API host (this stand-in).
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("127.0.0.1");
        let account = &standin.config.account_sid;
        let url = format!("http://{host}/2010-04-01/Accounts/{account}/Messages/{sid}/Media/ME{}", &sid[2..]);
        media.push((url, "image/png"));
    }
    if let Some(count) = params.iter_mut().find(|(name, _)| name == "NumMedia") {
        count.1 = media.len().to_string();
    }
    for (i, (url, content_type)) in media.iter().enumerate() {
        params.push((format!("MediaUrl{i}"), url.clone()));
        params.push((format!("MediaContentType{i}"), content_type.to_string()));
    }
    let media_urls: Vec<String> = media.into_iter().map(|(url, _)| url).collect();
    let outcome = standin.post_signed(&standin.config.inbound_url, &params).await;
    let (status, reply) = match outcome {
        Ok((status, body)) => (status, body),
        Err(e) => return (StatusCode::BAD_GATEWAY, Json(json!({ "error": e }))).into_response(),
    };
    println!("twilio-standin: {phone} texted {}: webhook answered {status}", text.to);
    let now = chrono::Utc::now();
    standin.record(
        &phone,
        PhoneSms {
            sid: Some(sid.clone()),
            direction: "sent",
            from: phone.clone(),
            to: text.to,
            body: Some(text.body),
            media_urls,
            status: status.to_string(),
            at: now.to_rfc3339(),
            attempts: Vec::new(),
            created: now,
            sent_at: Some(now),
            messaging_service_sid: None,
            listed: false,
        },
    );
    let code = if (200..300).contains(&status) { StatusCode::OK } else { StatusCode::BAD_GATEWAY };
    (code, Json(json!({ "messageSid": sid, "webhookStatus": status, "webhookResponse": reply })))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "AC0123456789abcdef0123456789abcdef";
    const TOKEN: &str = "token";
    const OURS: &str = "+14155550100";

    async fn start(late_answer: Duration) -> String {
        let config = StandinConfig {
            account_sid: SID.into(),
            auth_token: TOKEN.into(),
            inbound_url: "http://127.0.0.1:9/unused".into(),
            callback_step: Duration::from_millis(10),
            status_callbacks: true,
            late_answer,
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router(config)).await });
        base
    }

    fn messages_url(base: &str) -> String {
        format!("{base}/2010-04-01/Accounts/{SID}/Messages.json")
    }

    async fn send(http: &reqwest::Client, base: &str, to: &str, body: &str) -> Result<(u16, Value), String> {
        let response = http
            .post(messages_url(base))
            .basic_auth(SID, Some(TOKEN))
            .form(&[("To", to), ("From", OURS), ("Body", body)])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.map_err(|e| e.to_string())?))
    }

    async fn listed(http: &reqwest::Client, base: &str, to: &str) -> Value {
        http.get(messages_url(base))
            .basic_auth(SID, Some(TOKEN))
            .query(&[("To", to), ("From", OURS), ("PageSize", "50")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn phone(http: &reqwest::Client, base: &str, phone: &str) -> Value {
        http.get(format!("{base}/phones/{phone}/messages")).send().await.unwrap().json().await.unwrap()
    }

    #[tokio::test]
    async fn failing_phones_follow_their_script_per_sms() {
        let base = start(Duration::from_millis(50)).await;
        let http = reqwest::Client::new();
        let (status, error) = send(&http, &base, UNAVAILABLE_ONCE, "one").await.unwrap();
        assert_eq!((status, error["code"].as_i64()), (503, Some(20503)));
        assert_eq!(listed(&http, &base, UNAVAILABLE_ONCE).await["messages"], json!([]), "nothing sent yet");
        assert_eq!(send(&http, &base, UNAVAILABLE_ONCE, "one").await.unwrap().0, 201);
        // A new SMS to the same phone fails once again.
        assert_eq!(send(&http, &base, UNAVAILABLE_ONCE, "two").await.unwrap().0, 503);
        for _ in 0..3 {
            let (status, error) = send(&http, &base, THROTTLED_THRICE, "hi").await.unwrap();
            assert_eq!((status, error["code"].as_i64()), (429, Some(20429)));
        }
        assert_eq!(send(&http, &base, THROTTLED_THRICE, "hi").await.unwrap().0, 201);
        let seen = phone(&http, &base, THROTTLED_THRICE).await;
        let sms = &seen["messages"][0];
        assert_eq!(
            (sms["direction"].as_str(), sms["attempts"].as_array().map(Vec::len)),
            (Some("received"), Some(4))
        );
        assert_eq!(seen["counters"]["attempts"], 4);
        assert_eq!(seen["counters"]["refused"], 3);
        let seen = phone(&http, &base, UNAVAILABLE_ONCE).await;
        let directions: Vec<&str> =
            seen["messages"].as_array().unwrap().iter().map(|m| m["direction"].as_str().unwrap()).collect();
        assert_eq!(directions, ["received", "refused"]);
    }

    #[tokio::test]
    async fn a_late_answer_is_lost_but_the_sms_is_listed() {
        let base = start(Duration::from_millis(600)).await;
        let impatient = reqwest::Client::builder().timeout(Duration::from_millis(200)).build().unwrap();
        assert!(send(&impatient, &base, ANSWERS_LATE, "late").await.is_err(), "the answer comes too late");
        let http = reqwest::Client::new();
        let page = listed(&http, &base, ANSWERS_LATE).await;
        let messages = page["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 1, "{page}");
        assert_eq!(
            (messages[0]["body"].as_str(), messages[0]["to"].as_str()),
            (Some("late"), Some(ANSWERS_LATE))
        );
        assert!(chrono::DateTime::parse_from_rfc2822(messages[0]["date_created"].as_str().unwrap()).is_ok());
        // Sending it again anyway is answered at once, and shows as a duplicate.
        let (status, _) = send(&http, &base, ANSWERS_LATE, "late").await.unwrap();
        assert_eq!(status, 201);
        let seen = phone(&http, &base, ANSWERS_LATE).await;
        assert_eq!(seen["counters"]["duplicates"], 1);
        assert_eq!(seen["counters"]["lists"], 1);
        assert_eq!(listed(&http, &base, ANSWERS_LATE).await["messages"].as_array().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_late_answers_callbacks_wait_until_the_sms_is_listed() {
        let calls = Arc::new(Mutex::new(Vec::<String>::new()));
        let receiver = Router::new()
            .route(
                "/status",
                post(|State(calls): State<Arc<Mutex<Vec<String>>>>, body: String| async move {
                    calls.lock().unwrap().push(body);
                    StatusCode::OK
                }),
            )
            .with_state(calls.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let callback = format!("http://{}/status", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, receiver).await });
        let base = start(Duration::from_millis(100)).await;
        let http = reqwest::Client::new();
        let form = [("To", ANSWERS_LATE), ("From", OURS), ("Body", "late"), ("StatusCallback", &callback)];
        let sent =
            http.post(messages_url(&base)).basic_auth(SID, Some(TOKEN)).form(&form).send().await.unwrap();
        assert_eq!(sent.status(), 201);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(calls.lock().unwrap().is_empty(), "no callback before the worker found the SMS");
        listed(&http, &base, ANSWERS_LATE).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let calls = calls.lock().unwrap();
        assert_eq!(calls.len(), 3, "queued, sent, delivered once listed");
        assert!(calls[2].contains("MessageStatus=delivered"), "{}", calls[2]);
    }

    #[tokio::test]
    async fn lists_are_filtered_newest_first_and_checked() {
        let base = start(Duration::from_millis(50)).await;
        let http = reqwest::Client::new();
        for body in ["first", "second"] {
            assert_eq!(send(&http, &base, "+14155550177", body).await.unwrap().0, 201);
        }
        assert_eq!(send(&http, &base, "+14155550178", "other").await.unwrap().0, 201);
        let page = listed(&http, &base, "+14155550177").await;
        let bodies: Vec<&str> =
            page["messages"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
        assert_eq!(bodies, ["second", "first"]);
        let refused = http.get(messages_url(&base)).query(&[("To", "+14155550177")]).send().await.unwrap();
        assert_eq!(refused.status(), 401, "Basic auth");
        let refused = http
            .get(messages_url(&base))
            .basic_auth(SID, Some(TOKEN))
            .query(&[("PageSize", "0")])
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 400);
    }

    #[tokio::test]
    async fn the_accounts_numbers_are_listed_and_updated_like_twilio() {
        let base = start(Duration::from_millis(50)).await;
        let http = reqwest::Client::new();
        let list = format!("{base}/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers.json");
        let page: Value =
            http.get(&list).basic_auth(SID, Some(TOKEN)).send().await.unwrap().json().await.unwrap();
        let numbers = page["incoming_phone_numbers"].as_array().unwrap();
        assert_eq!(numbers.len(), ACCOUNT_NUMBERS.len());
        let sid = numbers[0]["sid"].as_str().unwrap();
        let update = format!("{base}/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers/{sid}.json");
        let form = [("SmsUrl", "http://127.0.0.1:9000/api/webhooks/twilio/incoming"), ("SmsMethod", "POST")];
        let updated = http.post(&update).basic_auth(SID, Some(TOKEN)).form(&form).send().await.unwrap();
        assert_eq!(updated.status(), 200);
        let updated: Value = updated.json().await.unwrap();
        assert_eq!(updated["sms_url"], form[0].1);
        let refused =
            http.post(&update).basic_auth(SID, Some(TOKEN)).form(&[("SmsMethod", "PUT")]).send().await;
        assert_eq!(refused.unwrap().status(), 400);
        assert_eq!(http.get(&list).send().await.unwrap().status(), 401);
    }

    #[tokio::test]
    async fn a_phones_picture_is_served_behind_the_accounts_credentials_with_a_redirect_and_deleted_per_the_spec(
    ) {
        let base = start(Duration::from_secs(1)).await;
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let media = format!("{base}/2010-04-01/Accounts/{SID}/Messages/MM{:032x}/Media/ME{:032x}", 1, 1);
        assert_eq!(http.get(&media).send().await.unwrap().status(), 401, "credentials required");
        let redirect = http.get(&media).basic_auth(SID, Some(TOKEN)).send().await.unwrap();
        assert_eq!(redirect.status(), 307);
        let location = redirect.headers()[reqwest::header::LOCATION].to_str().unwrap().to_string();
        let stored = http.get(format!("{base}{location}")).send().await.unwrap();
        assert_eq!(stored.headers()[reqwest::header::CONTENT_TYPE], "image/png");
        assert_eq!(stored.bytes().await.unwrap().as_ref(), PICTURE);
        let deleted = http.delete(format!("{media}.json")).basic_auth(SID, Some(TOKEN)).send().await.unwrap();
        assert_eq!(deleted.status(), 204);
        let bad = format!("{base}/2010-04-01/Accounts/{SID}/Messages/MM1/Media/ME1.json");
        assert_eq!(http.delete(bad).basic_auth(SID, Some(TOKEN)).send().await.unwrap().status(), 400);
    }
}
