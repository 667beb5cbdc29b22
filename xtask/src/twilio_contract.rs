//! The contract of the two Messages API calls our client makes, read from Twilio's official
//! OpenAPI operations: "create a Message" (`xtask/twilio/create-message.json`, [`Contract`]) and
//! "List Messages" (`xtask/twilio/list-messages.json`, [`ListContract`]). Both Twilio stand-ins
//! check requests with them and answer with the shapes here ([`MessageResource`], [`list_page`]):
//! the local one of `make dev` (`standin.rs`) and the tests' wiremock mock.

use std::collections::HashMap;

use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Value};

/// The operations, verbatim from twilio/twilio-oai (see xtask/twilio/README.md).
const OPERATION: &str = include_str!("../twilio/create-message.json");
const LIST_OPERATION: &str = include_str!("../twilio/list-messages.json");
const DELETE_MEDIA_OPERATION: &str = include_str!("../twilio/delete-media.json");

/// Form fields by name (a name may repeat, like MediaUrl).
pub type Form = HashMap<String, Vec<String>>;

/// A request Twilio would refuse: HTTP status, Twilio error code, message.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub status: u16,
    pub code: i64,
    pub message: String,
}

impl Refusal {
    pub(crate) fn new(status: u16, code: i64, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    pub(crate) fn bad(message: impl Into<String>) -> Self {
        Self::new(400, 21_000, message)
    }

    /// Twilio's JSON error body.
    pub fn body(&self) -> Value {
        json!({
            "code": self.code,
            "message": self.message,
            "more_info": format!("https://www.twilio.com/docs/errors/{}", self.code),
            "status": self.status,
        })
    }
}

/// The parts of one HTTP request the contract looks at.
pub struct MessageRequest<'a> {
    pub path: &'a str,
    pub authorization: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// The account a stand-in plays: requests must authenticate as it.
pub struct Account<'a> {
    pub sid: &'a str,
    pub auth_token: &'a str,
}

pub struct Contract {
    account_sid: Value,
    body: Value,
}

impl Default for Contract {
    fn default() -> Self {
        let operation: Value = serde_json::from_str(OPERATION).expect("the vendored operation is JSON");
        Self::from_operation(&operation)
    }
}

/// The schema of the operation's AccountSid path parameter.
pub(crate) fn account_sid_schema(operation: &Value) -> Value {
    operation["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "AccountSid"))
        .map(|p| p["schema"].clone())
        .expect("the operation has an AccountSid parameter")
}

/// The path's account (`/2010-04-01/Accounts/{AccountSid}/Messages.json`) against its schema, and
/// HTTP Basic auth as that account.
fn authenticate(
    path: &str,
    authorization: Option<&str>,
    schema: &Value,
    account: &Account<'_>,
) -> Result<(), Refusal> {
    let sid = path
        .strip_prefix("/2010-04-01/Accounts/")
        .and_then(|rest| rest.strip_suffix("/Messages.json"))
        .ok_or_else(|| Refusal::new(404, 20404, "The requested resource was not found"))?;
    authenticate_as(sid, authorization, schema, account)
}

/// The path's account SID against its schema, and HTTP Basic auth as that account.
pub(crate) fn authenticate_as(
    sid: &str,
    authorization: Option<&str>,
    schema: &Value,
    account: &Account<'_>,
) -> Result<(), Refusal> {
    check_string("AccountSid", sid, schema).map_err(Refusal::bad)?;
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", account.sid, account.auth_token));
    if authorization != Some(format!("Basic {credentials}").as_str()) || sid != account.sid {
        return Err(Refusal::new(401, 20003, "Authenticate"));
    }
    Ok(())
}

impl Contract {
    pub fn from_operation(operation: &Value) -> Self {
        let account_sid = account_sid_schema(operation);
        let body = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"].clone();
        assert!(body["properties"].is_object(), "the operation has the CreateMessageRequest schema");
        Self { account_sid, body }
    }

    /// Checks a request as Twilio would: path, Basic auth, form encoding, every field against
    /// its schema (type, pattern, length, format), required fields, and Twilio's own rules
    /// beyond the schema. Returns the account SID of the path and the form.
    pub fn validate(&self, request: &MessageRequest<'_>, account: &Account<'_>) -> Result<Form, Refusal> {
        authenticate(request.path, request.authorization, &self.account_sid, account)?;
        let content_type = request.content_type.unwrap_or("");
        if !content_type.starts_with("application/x-www-form-urlencoded") {
            return Err(Refusal::bad(format!("content type {content_type} is not form-encoded")));
        }
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(request.body).map_err(|e| Refusal::bad(e.to_string()))?;
        let mut form = Form::new();
        for (name, value) in pairs {
            form.entry(name).or_default().push(value);
        }
        let properties = self.body["properties"].as_object().expect("properties");
        for (name, values) in &form {
            let schema = properties
                .get(name)
                .ok_or_else(|| Refusal::bad(format!("{name} is not a parameter of CreateMessageRequest")))?;
            check_field(name, values, schema).map_err(Refusal::bad)?;
        }
        for required in self.body["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !form.contains_key(required) {
                return Err(Refusal::new(400, 21604, format!("A '{required}' phone number is required.")));
            }
        }
        twilio_rules(&form)?;
        Ok(form)
    }
}

pub(crate) fn check_field(name: &str, values: &[String], schema: &Value) -> Result<(), String> {
    match schema["type"].as_str() {
        Some("array") => values.iter().try_for_each(|v| check_string(name, v, &schema["items"])),
        Some("boolean") if values.iter().any(|v| v != "true" && v != "false") => {
            Err(format!("{name} is not a boolean"))
        }
        Some("integer") if values.iter().any(|v| v.parse::<i64>().is_err()) => {
            Err(format!("{name} is not an integer"))
        }
        Some("integer")
            if values.iter().filter_map(|v| v.parse::<i64>().ok()).any(|n| {
                schema["minimum"].as_i64().is_some_and(|min| n < min)
                    || schema["maximum"].as_i64().is_some_and(|max| n > max)
            }) =>
        {
            Err(format!("{name} is out of range"))
        }
        _ if values.len() > 1 => Err(format!("{name} given {} times", values.len())),
        Some("string") | None => check_string(name, &values[0], schema),
        _ => Ok(()),
    }
}

/// Checks a value against a string schema: pattern, lengths, uri and phone-number formats.
pub(crate) fn check_string(name: &str, value: &str, schema: &Value) -> Result<(), String> {
    if let Some(pattern) = schema["pattern"].as_str() {
        let re = regex_lite::Regex::new(pattern).map_err(|e| e.to_string())?;
        if !re.is_match(value) {
            return Err(format!("{name} does not match {pattern}"));
        }
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.iter().any(|a| a.as_str() == Some(value)) {
            return Err(format!("{name} is not one of {allowed:?}"));
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
        && !(value.starts_with('+') && value.len() > 1 && value[1..].chars().all(|c| c.is_ascii_digit()))
    {
        return Err(format!("{name} is not an E.164 phone number"));
    }
    Ok(())
}

/// Rules Twilio enforces beyond the schema.
fn twilio_rules(form: &Form) -> Result<(), Refusal> {
    if !form.contains_key("From") && !form.contains_key("MessagingServiceSid") {
        return Err(Refusal::new(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required"));
    }
    if !form.contains_key("Body") && !form.contains_key("MediaUrl") && !form.contains_key("ContentSid") {
        return Err(Refusal::new(400, 21619, "A text message body or media urls must be specified."));
    }
    if form.get("Body").is_some_and(|b| b[0].chars().count() > 1600) {
        return Err(Refusal::new(
            400,
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        ));
    }
    Ok(())
}

/// The parts of one "List Messages" request the contract looks at.
pub struct ListRequest<'a> {
    pub path: &'a str,
    pub authorization: Option<&'a str>,
    /// The query string, without the `?` (empty when there is none).
    pub query: &'a str,
}

/// A valid "List Messages" query: its filters and the page asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct ListQuery {
    pub to: Option<String>,
    pub from: Option<String>,
    /// `DateSent`, `DateSent<` (on or before), `DateSent>` (on or after): a day, in UTC.
    pub date_sent: Option<NaiveDate>,
    pub date_sent_before: Option<NaiveDate>,
    pub date_sent_after: Option<NaiveDate>,
    /// 50 unless asked (1 to 1000).
    pub page_size: usize,
    pub page: usize,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            to: None,
            from: None,
            date_sent: None,
            date_sent_before: None,
            date_sent_after: None,
            page_size: 50,
            page: 0,
        }
    }
}

impl ListQuery {
    /// Whether a message passes the filters. `date_sent` is the message's, as Twilio writes it
    /// (RFC 2822); a message not sent yet has none, and fails every `DateSent` filter.
    pub fn matches(&self, to: &str, from: &str, date_sent: Option<&str>) -> bool {
        if self.to.as_deref().is_some_and(|t| t != to) || self.from.as_deref().is_some_and(|f| f != from) {
            return false;
        }
        if self.date_sent.is_none() && self.date_sent_before.is_none() && self.date_sent_after.is_none() {
            return true;
        }
        let Some(day) = date_sent.and_then(|d| DateTime::parse_from_rfc2822(d).ok()).map(|d| d.date_naive())
        else {
            return false;
        };
        self.date_sent.is_none_or(|d| day == d)
            && self.date_sent_before.is_none_or(|d| day <= d)
            && self.date_sent_after.is_none_or(|d| day >= d)
    }

    /// The query string of page `page` of this list, as Twilio writes its page URIs.
    fn query_string(&self, page: usize) -> String {
        let day = |d: &Option<NaiveDate>| d.map(|d| d.format("%Y-%m-%d").to_string());
        let pairs: Vec<(&str, String)> = [
            ("To", self.to.clone()),
            ("From", self.from.clone()),
            ("DateSent", day(&self.date_sent)),
            ("DateSent<", day(&self.date_sent_before)),
            ("DateSent>", day(&self.date_sent_after)),
            ("PageSize", Some(self.page_size.to_string())),
            ("Page", Some(page.to_string())),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect();
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

/// The "List Messages" operation's contract: path, Basic auth, and each query parameter against
/// its schema. Parameters the operation does not have are refused (Twilio ignores them; refusing
/// catches a misspelt filter, which would otherwise list every message).
pub struct ListContract {
    account_sid: Value,
    parameters: HashMap<String, Value>,
}

impl Default for ListContract {
    fn default() -> Self {
        let operation: Value = serde_json::from_str(LIST_OPERATION).expect("the vendored operation is JSON");
        Self::from_operation(&operation)
    }
}

impl ListContract {
    pub fn from_operation(operation: &Value) -> Self {
        let account_sid = account_sid_schema(operation);
        let parameters: HashMap<String, Value> = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query")
            .filter_map(|p| Some((p["name"].as_str()?.to_string(), p["schema"].clone())))
            .collect();
        assert!(
            parameters.contains_key("To") && parameters.contains_key("PageSize"),
            "the ListMessage parameters"
        );
        Self { account_sid, parameters }
    }

    pub fn validate(&self, request: &ListRequest<'_>, account: &Account<'_>) -> Result<ListQuery, Refusal> {
        authenticate(request.path, request.authorization, &self.account_sid, account)?;
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(request.query).map_err(|e| Refusal::bad(e.to_string()))?;
        let mut form = Form::new();
        for (name, value) in pairs {
            form.entry(name).or_default().push(value);
        }
        for (name, values) in &form {
            let schema = self
                .parameters
                .get(name)
                .ok_or_else(|| Refusal::bad(format!("{name} is not a parameter of ListMessage")))?;
            check_field(name, values, schema).map_err(Refusal::bad)?;
        }
        let first = |name: &str| form.get(name).map(|v| v[0].clone());
        let day = |name: &str| -> Result<Option<NaiveDate>, Refusal> {
            first(name)
                .map(|v| {
                    v.get(..10)
                        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                        .ok_or_else(|| Refusal::bad(format!("{name} is not a date (YYYY-MM-DD)")))
                })
                .transpose()
        };
        let number = |name: &str, default: usize| first(name).and_then(|v| v.parse().ok()).unwrap_or(default);
        Ok(ListQuery {
            to: first("To"),
            from: first("From"),
            date_sent: day("DateSent")?,
            date_sent_before: day("DateSent<")?,
            date_sent_after: day("DateSent>")?,
            page_size: number("PageSize", 50),
            page: number("Page", 0),
        })
    }
}

/// Twilio's "Delete a Media resource" (`xtask/twilio/delete-media.json`):
/// `DELETE /2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{Sid}.json`, Basic auth
/// as the account; each path parameter checked against its schema.
pub struct DeleteMediaContract {
    parameters: HashMap<String, Value>,
}

impl Default for DeleteMediaContract {
    fn default() -> Self {
        let operation: Value =
            serde_json::from_str(DELETE_MEDIA_OPERATION).expect("the vendored operation is JSON");
        let parameters: HashMap<String, Value> = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .filter_map(|p| Some((p["name"].as_str()?.to_string(), p["schema"].clone())))
            .collect();
        assert_eq!(parameters.len(), 3, "AccountSid, MessageSid and Sid");
        Self { parameters }
    }
}

impl DeleteMediaContract {
    /// The media's (message SID, media SID) when the request is one Twilio would take.
    pub fn validate(
        &self,
        path: &str,
        authorization: Option<&str>,
        account: &Account<'_>,
    ) -> Result<(String, String), Refusal> {
        let not_found = || Refusal::new(404, 20404, "The requested resource was not found");
        let parts: Vec<&str> = path
            .strip_prefix("/2010-04-01/Accounts/")
            .and_then(|rest| rest.strip_suffix(".json"))
            .ok_or_else(not_found)?
            .split('/')
            .collect();
        let [sid, "Messages", message, "Media", media] = parts.as_slice() else {
            return Err(not_found());
        };
        for (name, value) in [("AccountSid", sid), ("MessageSid", message), ("Sid", media)] {
            check_string(name, value, &self.parameters[name]).map_err(Refusal::bad)?;
        }
        let credentials = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", account.sid, account.auth_token));
        if authorization != Some(format!("Basic {credentials}").as_str()) || *sid != account.sid {
            return Err(Refusal::new(401, 20003, "Authenticate"));
        }
        Ok((message.to_string(), media.to_string()))
    }
}

/// A Message resource as Twilio answers it (create, fetch, and each entry of a list).
#[derive(Clone, Debug)]
pub struct MessageResource {
    pub account_sid: String,
    pub sid: String,
    pub to: String,
    pub from: String,
    pub body: Option<String>,
    /// queued, sent, delivered, failed, received…
    pub status: String,
    pub num_media: usize,
    /// `outbound-api` (sent through the API) or `inbound` (a phone texted one of our numbers).
    pub direction: &'static str,
    pub messaging_service_sid: Option<String>,
    /// RFC 2822, as Twilio writes dates ([`twilio_date`]).
    pub date_created: String,
    pub date_sent: Option<String>,
    pub date_updated: String,
    pub error_code: Option<i64>,
}

impl MessageResource {
    pub fn to_json(&self) -> Value {
        let uri = format!("/2010-04-01/Accounts/{}/Messages/{}", self.account_sid, self.sid);
        json!({
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": self.body.clone().unwrap_or_default(),
            "date_created": self.date_created,
            "date_sent": self.date_sent,
            "date_updated": self.date_updated,
            "direction": self.direction,
            "error_code": self.error_code,
            "error_message": self.error_code.map(|c| format!("Twilio error {c}")),
            "from": self.from,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": self.num_media.to_string(),
            "num_segments": "1",
            "price": null,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": { "media": format!("{uri}/Media.json") },
            "to": self.to,
            "uri": format!("{uri}.json"),
        })
    }
}

/// A date as Twilio writes them (RFC 2822, the day zero-padded): "Fri, 01 Jun 2019 20:12:31 +0000".
pub fn twilio_date(at: DateTime<Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

/// Now, as Twilio writes dates.
pub fn twilio_now() -> String {
    twilio_date(Utc::now())
}

/// The page of "List Messages" that `query` asks for, out of `messages` (already filtered with
/// [`ListQuery::matches`] and newest first), in Twilio's page shape.
pub fn list_page(account_sid: &str, query: &ListQuery, messages: &[Value]) -> Value {
    let size = query.page_size.max(1);
    let start = query.page.saturating_mul(size).min(messages.len());
    let end = (start + size).min(messages.len());
    let base = format!("/2010-04-01/Accounts/{account_sid}/Messages.json");
    let uri = |page: usize| format!("{base}?{}", query.query_string(page));
    json!({
        "messages": &messages[start..end],
        "end": if end > start { end - 1 } else { start },
        "first_page_uri": uri(0),
        "next_page_uri": (end < messages.len()).then(|| {
            format!("{}&PageToken=PASM{:032x}", uri(query.page + 1), ulid::Ulid::new().0)
        }),
        "page": query.page,
        "page_size": size,
        "previous_page_uri": (query.page > 0).then(|| uri(query.page - 1)),
        "start": start,
        "uri": uri(query.page),
    })
}

/// A new Message SID (`SM` + 32 hex digits), as Twilio's look.
pub fn message_sid() -> String {
    format!("SM{:032x}", ulid::Ulid::new().0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "AC0123456789abcdef0123456789abcdef";
    const TOKEN: &str = "token";

    fn request(form: &str, auth: &str) -> Result<Form, Refusal> {
        let path = format!("/2010-04-01/Accounts/{SID}/Messages.json");
        let request = MessageRequest {
            path: &path,
            authorization: Some(auth),
            content_type: Some("application/x-www-form-urlencoded"),
            body: form.as_bytes(),
        };
        Contract::default().validate(&request, &Account { sid: SID, auth_token: TOKEN })
    }

    fn basic() -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}")))
    }

    fn official_spec() -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/twilio/twilio_api_v2010.json");
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn the_vendored_operation_is_the_official_one() {
        let spec = official_spec();
        let official = &spec["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages.json"]["post"];
        let vendored: Value = serde_json::from_str(OPERATION).unwrap();
        assert_eq!(&vendored, official);
    }

    #[test]
    fn the_vendored_list_operation_is_the_official_one() {
        let spec = official_spec();
        let official = &spec["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages.json"]["get"];
        let vendored: Value = serde_json::from_str(LIST_OPERATION).unwrap();
        assert_eq!(official["operationId"], "ListMessage");
        assert_eq!(&vendored, official);
    }

    fn list(query: &str, auth: &str) -> Result<ListQuery, Refusal> {
        let path = format!("/2010-04-01/Accounts/{SID}/Messages.json");
        let request = ListRequest { path: &path, authorization: Some(auth), query };
        ListContract::default().validate(&request, &Account { sid: SID, auth_token: TOKEN })
    }

    #[test]
    fn list_queries_are_checked_like_twilio_checks_them() {
        let query = list("To=%2B14155550177&From=%2B14155550100&PageSize=50", &basic()).unwrap();
        assert_eq!(query.to.as_deref(), Some("+14155550177"));
        assert_eq!(query.from.as_deref(), Some("+14155550100"));
        assert_eq!((query.page_size, query.page), (50, 0));
        assert_eq!(list("", &basic()).unwrap(), ListQuery::default());
        assert_eq!(list("To=%2B14155550177", "Basic bm9wZQ==").unwrap_err().code, 20003);
        // A raw `+` is a space in a query string: not a phone number.
        assert!(list("To=+14155550177", &basic()).is_err());
        assert!(list("PageSize=0", &basic()).is_err());
        assert!(list("PageSize=1001", &basic()).is_err());
        assert!(list("PageSize=ten", &basic()).is_err());
        assert!(list("Pagesize=10", &basic()).is_err(), "a misspelt parameter is refused");
        let dated = list("DateSent%3E=2024-05-01&DateSent%3C=2024-05-31", &basic()).unwrap();
        assert_eq!(dated.date_sent_after, NaiveDate::from_ymd_opt(2024, 5, 1));
        assert!(dated.matches("+1", "+2", Some("Fri, 24 May 2024 17:44:50 +0000")));
        assert!(!dated.matches("+1", "+2", Some("Sat, 01 Jun 2024 00:00:00 +0000")));
        assert!(!dated.matches("+1", "+2", None), "not sent yet");
        assert!(query.matches("+14155550177", "+14155550100", None));
        assert!(!query.matches("+14155550177", "+14155550101", None));
    }

    #[test]
    fn pages_have_twilio_shape() {
        let spec = official_spec();
        let message = |i: usize| MessageResource {
            account_sid: SID.into(),
            sid: format!("SM{i:032x}"),
            to: "+14155550177".into(),
            from: "+14155550100".into(),
            body: Some(format!("text {i}")),
            status: "queued".into(),
            num_media: 0,
            direction: "outbound-api",
            messaging_service_sid: None,
            date_created: twilio_now(),
            date_sent: None,
            date_updated: twilio_now(),
            error_code: None,
        };
        let messages: Vec<Value> = (0..3).map(|i| message(i).to_json()).collect();
        let keys =
            |v: &Value| v.as_object().unwrap().keys().cloned().collect::<std::collections::BTreeSet<_>>();
        let resource = &spec["components"]["schemas"]["api.v2010.account.message"]["properties"];
        assert_eq!(keys(&messages[0]), keys(resource), "a message has the resource's fields");
        let query = ListQuery { to: Some("+14155550177".into()), page_size: 2, ..ListQuery::default() };
        let page = list_page(SID, &query, &messages);
        let schema = &spec["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages.json"]["get"]["responses"]
            ["200"]["content"]["application/json"]["schema"]["properties"];
        assert_eq!(keys(&page), keys(schema), "a page has ListMessageResponse's fields");
        assert_eq!(page["messages"].as_array().unwrap().len(), 2);
        assert_eq!((page["start"].as_u64(), page["end"].as_u64()), (Some(0), Some(1)));
        let next = page["next_page_uri"].as_str().unwrap();
        assert!(next.contains("To=%2B14155550177") && next.contains("Page=1"), "{next}");
        let last = list_page(SID, &ListQuery { page: 1, ..query }, &messages);
        assert_eq!(last["messages"].as_array().unwrap().len(), 1);
        assert!(last["next_page_uri"].is_null() && last["previous_page_uri"].is_string());
        // The date format the client reads (RFC 2822).
        assert!(DateTime::parse_from_rfc2822(messages[0]["date_created"].as_str().unwrap()).is_ok());
        let june = DateTime::parse_from_rfc3339("2019-06-01T20:12:31Z").unwrap().with_timezone(&Utc);
        assert_eq!(twilio_date(june), "Sat, 01 Jun 2019 20:12:31 +0000");
    }

    #[test]
    fn accepts_what_our_client_sends_and_refuses_what_twilio_refuses() {
        let ok =
            "To=%2B14155550177&From=%2B14155550100&Body=Hi&StatusCallback=http%3A%2F%2F127.0.0.1%3A9000%2Fs";
        assert!(request(ok, &basic()).is_ok());
        assert_eq!(request(ok, "Basic bm9wZQ==").unwrap_err().code, 20003);
        assert_eq!(request("From=%2B14155550100&Body=Hi", &basic()).unwrap_err().code, 21604);
        assert_eq!(request("To=%2B14155550177&Body=Hi", &basic()).unwrap_err().code, 21603);
        assert_eq!(request("To=%2B14155550177&From=%2B14155550100", &basic()).unwrap_err().code, 21619);
        assert_eq!(request("To=%2B1&From=%2B1&Body=x&Nope=1", &basic()).unwrap_err().status, 400);
        assert!(request("To=4155550177&From=%2B14155550100&Body=Hi", &basic()).is_err());
        let long = format!("To=%2B14155550177&From=%2B14155550100&Body={}", "a".repeat(1601));
        assert_eq!(request(&long, &basic()).unwrap_err().code, 21617);
    }
}
