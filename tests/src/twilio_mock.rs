//! A Twilio Messages API (and IncomingPhoneNumbers) stand-in for tests: a wiremock server whose responders validate every
//! request against Twilio's official OpenAPI operations (`xtask::twilio_contract`, the checks the
//! local stand-in of `make dev` uses too), record it, and answer like Twilio: "create a Message"
//! (201 with a unique SID, or Twilio's JSON error) and "List Messages" (the accepted SMS that pass
//! the filters, newest first, in Twilio's page shape).
//!
//! Failures per phone:
//! - [`TwilioMock::fail_for`]: every send to the phone fails ([`Failure`]) until [`TwilioMock::recover`];
//! - [`TwilioMock::script_for`]: the next sends to the phone follow a script of [`Step`]s, one per
//!   send, then the phone accepts again (or fails as `fail_for` said): fail N times then accept
//!   ([`TwilioMock::fail_times`]), or accept but answer too late for the client, so the SMS counts
//!   as sent and is listable although the client never saw the answer ([`TwilioMock::accept_late`]).
//!
//! A fixed delay on every answer ([`TwilioMock::set_delay`]) benchmarks and tests timeouts.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};
use xtask::twilio_contract::{
    list_page, message_sid, twilio_now, Account, Contract, ListContract, ListQuery, ListRequest,
    MessageRequest, MessageResource, Refusal,
};
use xtask::twilio_numbers::NumberAccount;

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
    pub messaging_service_sid: Option<String>,
    /// As Twilio writes dates (RFC 2822), as "List Messages" shows it.
    pub date_created: String,
    /// The accepted send was answered late on purpose ([`Step::AcceptLate`]).
    pub answered_late: bool,
}

/// What the mock answers for a given `To`, instead of accepting.
#[derive(Clone, Debug)]
pub enum Failure {
    /// A Twilio JSON error with this HTTP status and Twilio code.
    Error { status: u16, code: i64, message: &'static str },
    /// Answers only after this long (for client timeouts); the SMS is not sent.
    Hang(Duration),
}

/// One send's answer in a phone's script.
#[derive(Clone, Debug)]
pub enum Step {
    /// Answer this failure (nothing is sent).
    Fail(Failure),
    /// Accept (after the mock's delay, if any).
    Accept,
    /// Accept — the SMS is sent and listable at once — but answer only after this long.
    AcceptLate(Duration),
}

impl From<Failure> for Step {
    fn from(failure: Failure) -> Self {
        Self::Fail(failure)
    }
}

/// A "List Messages" call the mock answered.
#[derive(Clone, Debug, PartialEq)]
pub struct ListCall {
    pub to: Option<String>,
    pub from: Option<String>,
    pub page_size: usize,
    /// How many messages the page held.
    pub found: usize,
}

#[derive(Default)]
struct Behaviour {
    delay: Duration,
    failures: HashMap<String, Failure>,
    scripts: HashMap<String, VecDeque<Step>>,
    /// Valid "create a Message" calls per `To`, answered however.
    attempts: HashMap<String, usize>,
}

#[derive(Default)]
struct Record {
    accepted: Mutex<Vec<SentSms>>,
    rejected: Mutex<Vec<String>>,
    lists: Mutex<Vec<ListCall>>,
    behaviour: Mutex<Behaviour>,
}

pub struct TwilioMock {
    pub server: MockServer,
    record: Arc<Record>,
    /// The account's numbers (IncomingPhoneNumbers list and update, checked against the spec).
    pub numbers: Arc<NumberAccount>,
}

/// "List IncomingPhoneNumber" and "Update IncomingPhoneNumber", answered by [`NumberAccount`].
struct NumbersResponder(Arc<NumberAccount>);

impl Respond for NumbersResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
        let path = request.url.path();
        let (status, body) = if request.method.as_str() == "GET" {
            self.0.list(path, header("authorization"), request.url.query().unwrap_or(""))
        } else {
            self.0.update(path, header("authorization"), header("content-type"), &request.body)
        };
        ResponseTemplate::new(status).set_body_json(body)
    }
}

struct CreateResponder {
    contract: Contract,
    record: Arc<Record>,
}

struct ListResponder {
    contract: ListContract,
    record: Arc<Record>,
}

fn twilio_error(status: u16, code: i64, message: &str) -> ResponseTemplate {
    let refusal = Refusal { status, code, message: message.to_string() };
    ResponseTemplate::new(status).set_body_json(refusal.body())
}

fn failure_response(failure: &Failure, delay: Duration) -> ResponseTemplate {
    match failure {
        // Twilio takes as long to refuse as to accept.
        Failure::Error { status, code, message } => twilio_error(*status, *code, message).set_delay(delay),
        Failure::Hang(hang) => twilio_error(500, 20500, "late").set_delay(*hang),
    }
}

fn resource(sms: &SentSms) -> MessageResource {
    MessageResource {
        account_sid: ACCOUNT_SID.to_string(),
        sid: sms.sid.clone(),
        to: sms.to.clone(),
        from: sms.from.clone(),
        body: sms.body.clone(),
        status: "queued".to_string(),
        num_media: sms.media_urls.len(),
        direction: "outbound-api",
        messaging_service_sid: sms.messaging_service_sid.clone(),
        date_created: sms.date_created.clone(),
        date_sent: None,
        date_updated: sms.date_created.clone(),
        error_code: None,
    }
}

impl Respond for CreateResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
        let http = MessageRequest {
            path: request.url.path(),
            authorization: header("authorization"),
            content_type: header("content-type"),
            body: &request.body,
        };
        let form = match self.contract.validate(&http, &Account { sid: ACCOUNT_SID, auth_token: AUTH_TOKEN })
        {
            Ok(form) => form,
            Err(refusal) => {
                self.record.rejected.lock().unwrap().push(refusal.message.clone());
                return twilio_error(refusal.status, refusal.code, &refusal.message);
            }
        };
        let first = |k: &str| form.get(k).map(|v| v[0].clone());
        let to = first("To").unwrap_or_default();
        let (step, delay) = {
            let mut behaviour = self.record.behaviour.lock().unwrap();
            *behaviour.attempts.entry(to.clone()).or_default() += 1;
            let scripted = behaviour.scripts.get_mut(&to).and_then(VecDeque::pop_front);
            let step = scripted.unwrap_or_else(|| match behaviour.failures.get(&to) {
                Some(failure) => Step::Fail(failure.clone()),
                None => Step::Accept,
            });
            (step, behaviour.delay)
        };
        let answer_after = match step {
            Step::Fail(failure) => return failure_response(&failure, delay),
            Step::Accept => delay,
            Step::AcceptLate(late) => late,
        };
        let sms = SentSms {
            sid: message_sid(),
            to,
            from: first("From").unwrap_or_default(),
            body: first("Body"),
            media_urls: form.get("MediaUrl").cloned().unwrap_or_default(),
            status_callback: first("StatusCallback"),
            messaging_service_sid: first("MessagingServiceSid"),
            date_created: twilio_now(),
            answered_late: matches!(step, Step::AcceptLate(_)),
        };
        // Sent (and listable) now, whenever the answer arrives.
        self.record.accepted.lock().unwrap().push(sms.clone());
        ResponseTemplate::new(201).set_body_json(resource(&sms).to_json()).set_delay(answer_after)
    }
}

impl Respond for ListResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let http = ListRequest {
            path: request.url.path(),
            authorization: request.headers.get("authorization").and_then(|v| v.to_str().ok()),
            query: request.url.query().unwrap_or(""),
        };
        let query: ListQuery =
            match self.contract.validate(&http, &Account { sid: ACCOUNT_SID, auth_token: AUTH_TOKEN }) {
                Ok(query) => query,
                Err(refusal) => {
                    self.record.rejected.lock().unwrap().push(refusal.message.clone());
                    return twilio_error(refusal.status, refusal.code, &refusal.message);
                }
            };
        // Newest first: the accepted list is in order of acceptance.
        let messages: Vec<serde_json::Value> = self
            .record
            .accepted
            .lock()
            .unwrap()
            .iter()
            .rev()
            .filter(|s| query.matches(&s.to, &s.from, None))
            .map(|s| resource(s).to_json())
            .collect();
        let page = list_page(ACCOUNT_SID, &query, &messages);
        self.record.lists.lock().unwrap().push(ListCall {
            to: query.to.clone(),
            from: query.from.clone(),
            page_size: query.page_size,
            found: page["messages"].as_array().map_or(0, Vec::len),
        });
        let delay = self.record.behaviour.lock().unwrap().delay;
        ResponseTemplate::new(200).set_body_json(page).set_delay(delay)
    }
}

impl TwilioMock {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let record = Arc::new(Record::default());
        let path = || path_regex(r"^/2010-04-01/Accounts/[^/]+/Messages\.json$");
        Mock::given(method("POST"))
            .and(path())
            .respond_with(CreateResponder { contract: Contract::default(), record: record.clone() })
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path())
            .respond_with(ListResponder { contract: ListContract::default(), record: record.clone() })
            .mount(&server)
            .await;
        let numbers = Arc::new(NumberAccount::new(ACCOUNT_SID, AUTH_TOKEN));
        Mock::given(path_regex(r"^/2010-04-01/Accounts/[^/]+/IncomingPhoneNumbers(/[^/]+)?\.json$"))
            .respond_with(NumbersResponder(numbers.clone()))
            .mount(&server)
            .await;
        Self { server, record, numbers }
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

    /// Every SMS accepted so far (including those answered late).
    pub fn sent(&self) -> Vec<SentSms> {
        self.record.accepted.lock().unwrap().clone()
    }

    /// Requests refused as not matching the spec (should stay empty).
    pub fn invalid_requests(&self) -> Vec<String> {
        self.record.rejected.lock().unwrap().clone()
    }

    /// Every send to `to` fails this way (after any script for it has run out), until
    /// [`TwilioMock::recover`].
    pub fn fail_for(&self, to: &str, failure: Failure) {
        self.record.behaviour.lock().unwrap().failures.insert(to.to_string(), failure);
    }

    /// Accepts messages to `to` again: forgets its failure and what is left of its script.
    pub fn recover(&self, to: &str) {
        let mut behaviour = self.record.behaviour.lock().unwrap();
        behaviour.failures.remove(to);
        behaviour.scripts.remove(to);
    }

    /// The next sends to `to` are answered by these steps, one per send, in order (added after
    /// what is left of an earlier script); then as before.
    pub fn script_for(&self, to: &str, steps: impl IntoIterator<Item = Step>) {
        self.record.behaviour.lock().unwrap().scripts.entry(to.to_string()).or_default().extend(steps);
    }

    /// The next `times` sends to `to` fail with this Twilio error; then it accepts.
    pub fn fail_times(&self, to: &str, times: usize, status: u16, code: i64, message: &'static str) {
        let failure = Failure::Error { status, code, message };
        self.script_for(to, std::iter::repeat_n(Step::Fail(failure), times));
    }

    /// The next send to `to` is accepted (sent, listable) but answered only after `delay`.
    pub fn accept_late(&self, to: &str, delay: Duration) {
        self.script_for(to, [Step::AcceptLate(delay)]);
    }

    pub fn set_delay(&self, delay: Duration) {
        self.record.behaviour.lock().unwrap().delay = delay;
    }

    /// "Create a Message" calls to `to` that passed the spec, however they were answered.
    pub fn attempts(&self, to: &str) -> usize {
        self.record.behaviour.lock().unwrap().attempts.get(to).copied().unwrap_or(0)
    }

    /// SMS accepted for `to`.
    pub fn sent_to(&self, to: &str) -> Vec<SentSms> {
        self.sent().into_iter().filter(|s| s.to == to).collect()
    }

    /// Every "List Messages" call answered so far.
    pub fn list_calls(&self) -> Vec<ListCall> {
        self.record.lists.lock().unwrap().clone()
    }

    /// Every request that reached the server, valid or not.
    pub async fn request_count(&self) -> usize {
        self.server.received_requests().await.map(|r| r.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: &str = "+14155550100";

    fn messages_url(mock: &TwilioMock) -> String {
        format!("{}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json", mock.server.uri())
    }

    async fn send(http: &reqwest::Client, mock: &TwilioMock, to: &str, body: &str) -> Result<u16, String> {
        let response = http
            .post(messages_url(mock))
            .basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN))
            .form(&[("To", to), ("From", OURS), ("Body", body)])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        Ok(response.status().as_u16())
    }

    async fn list(
        http: &reqwest::Client,
        mock: &TwilioMock,
        query: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
        let response = http
            .get(messages_url(mock))
            .basic_auth(ACCOUNT_SID, Some(AUTH_TOKEN))
            .query(query)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    #[tokio::test]
    async fn scripts_fail_then_accept_and_late_answers_are_listed() {
        let mock = TwilioMock::start().await;
        let http = reqwest::Client::new();
        mock.fail_times("+14155550198", 2, 429, 20429, "Too Many Requests");
        assert_eq!(send(&http, &mock, "+14155550198", "a").await, Ok(429));
        assert_eq!(send(&http, &mock, "+14155550198", "a").await, Ok(429));
        assert_eq!(send(&http, &mock, "+14155550198", "a").await, Ok(201));
        assert_eq!((mock.attempts("+14155550198"), mock.sent_to("+14155550198").len()), (3, 1));

        mock.accept_late("+14155550197", Duration::from_millis(800));
        let impatient = reqwest::Client::builder().timeout(Duration::from_millis(200)).build().unwrap();
        assert!(send(&impatient, &mock, "+14155550197", "late").await.is_err(), "the answer is too late");
        let late = [("To", "+14155550197"), ("From", OURS), ("PageSize", "50")];
        let (status, page) = list(&http, &mock, &late).await;
        assert_eq!(status, 200);
        assert_eq!(page["messages"][0]["body"], "late");
        assert!(mock.sent_to("+14155550197")[0].answered_late);
        assert_eq!(send(&http, &mock, "+14155550197", "again").await, Ok(201), "the script ran out");
        let (_, page) = list(&http, &mock, &late).await;
        let bodies: Vec<&str> =
            page["messages"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
        assert_eq!(bodies, ["again", "late"], "newest first");
        assert_eq!(mock.list_calls().len(), 2);
        assert_eq!(mock.list_calls()[1].found, 2);

        // The older API still works, and a script runs before a standing failure.
        mock.fail_for("+14155550199", Failure::Error { status: 400, code: 21211, message: "invalid" });
        mock.script_for("+14155550199", [Step::Accept]);
        assert_eq!(send(&http, &mock, "+14155550199", "x").await, Ok(201));
        assert_eq!(send(&http, &mock, "+14155550199", "x").await, Ok(400));
        mock.recover("+14155550199");
        assert_eq!(send(&http, &mock, "+14155550199", "x").await, Ok(201));
        assert!(mock.invalid_requests().is_empty(), "{:?}", mock.invalid_requests());

        let (status, _) = list(&http, &mock, &[("To", "+14155550199"), ("Nope", "1")]).await;
        assert_eq!(status, 400, "the list is checked against the spec");
        assert_eq!(mock.invalid_requests().len(), 1);
    }
}
