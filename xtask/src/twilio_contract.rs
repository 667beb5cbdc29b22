//! The contract of Twilio's "create a Message" call, read from the official OpenAPI operation
//! (`xtask/twilio/create-message.json`). Both Twilio stand-ins check requests with it: the
//! local one of `make dev` (`standin.rs`) and the tests' wiremock mock.

use std::collections::HashMap;

use base64::Engine;
use serde_json::{json, Value};

/// The operation, verbatim from twilio/twilio-oai (see xtask/twilio/README.md).
const OPERATION: &str = include_str!("../twilio/create-message.json");

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
    fn new(status: u16, code: i64, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    fn bad(message: impl Into<String>) -> Self {
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

impl Contract {
    pub fn from_operation(operation: &Value) -> Self {
        let account_sid = operation["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "AccountSid"))
            .map(|p| p["schema"].clone())
            .expect("the operation has an AccountSid parameter");
        let body = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"].clone();
        assert!(body["properties"].is_object(), "the operation has the CreateMessageRequest schema");
        Self { account_sid, body }
    }

    /// Checks a request as Twilio would: path, Basic auth, form encoding, every field against
    /// its schema (type, pattern, length, format), required fields, and Twilio's own rules
    /// beyond the schema. Returns the account SID of the path and the form.
    pub fn validate(&self, request: &MessageRequest<'_>, account: &Account<'_>) -> Result<Form, Refusal> {
        let sid = request
            .path
            .strip_prefix("/2010-04-01/Accounts/")
            .and_then(|rest| rest.strip_suffix("/Messages.json"))
            .ok_or_else(|| Refusal::new(404, 20404, "The requested resource was not found"))?;
        check_string("AccountSid", sid, &self.account_sid).map_err(Refusal::bad)?;
        let credentials = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", account.sid, account.auth_token));
        if request.authorization != Some(format!("Basic {credentials}").as_str()) || sid != account.sid {
            return Err(Refusal::new(401, 20003, "Authenticate"));
        }
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

fn check_field(name: &str, values: &[String], schema: &Value) -> Result<(), String> {
    match schema["type"].as_str() {
        Some("array") => values.iter().try_for_each(|v| check_string(name, v, &schema["items"])),
        Some("boolean") if values.iter().any(|v| v != "true" && v != "false") => {
            Err(format!("{name} is not a boolean"))
        }
        Some("integer") if values.iter().any(|v| v.parse::<i64>().is_err()) => {
            Err(format!("{name} is not an integer"))
        }
        _ if values.len() > 1 => Err(format!("{name} given {} times", values.len())),
        Some("string") | None => check_string(name, &values[0], schema),
        _ => Ok(()),
    }
}

/// Checks a value against a string schema: pattern, lengths, uri and phone-number formats.
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

    #[test]
    fn the_vendored_operation_is_the_official_one() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/twilio/twilio_api_v2010.json");
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let spec: Value = serde_json::from_str(&text).unwrap();
        let official = &spec["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages.json"]["post"];
        let vendored: Value = serde_json::from_str(OPERATION).unwrap();
        assert_eq!(&vendored, official);
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
