//! The IncomingPhoneNumbers calls our client makes, checked against Twilio's official operations
//! ("List IncomingPhoneNumber", `xtask/twilio/list-incoming-phone-numbers.json`; "Update
//! IncomingPhoneNumber", `xtask/twilio/update-incoming-phone-number.json`), and [`NumberAccount`],
//! a few numbers of a made-up account answering them as Twilio does. Both Twilio stand-ins use
//! it: the local one of `make dev` and the tests' wiremock mock.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::{json, Value};

use crate::twilio_contract::{
    account_sid_schema, authenticate_as, check_field, twilio_now, Account, Form, Refusal,
};

const LIST_OPERATION: &str = include_str!("../twilio/list-incoming-phone-numbers.json");
const UPDATE_OPERATION: &str = include_str!("../twilio/update-incoming-phone-number.json");

/// One number of the account.
#[derive(Clone, Debug, PartialEq)]
pub struct IncomingNumber {
    pub sid: String,
    pub phone_number: String,
    pub sms_url: String,
    pub sms_method: String,
    pub status_callback: String,
    pub status_callback_method: String,
}

/// An update the account accepted: the number's SID and the form.
#[derive(Clone, Debug)]
pub struct NumberUpdate {
    pub sid: String,
    pub form: Form,
}

#[derive(Default)]
struct State {
    numbers: Vec<IncomingNumber>,
    updates: Vec<NumberUpdate>,
    lists: usize,
    rejected: Vec<String>,
}

/// A made-up account's numbers behind the two operations' contracts.
pub struct NumberAccount {
    account_sid: String,
    auth_token: String,
    account_schema: Value,
    list_parameters: HashMap<String, Value>,
    number_sid_schema: Value,
    update_body: Value,
    state: Mutex<State>,
}

impl NumberAccount {
    pub fn new(account_sid: &str, auth_token: &str) -> Self {
        let list: Value = serde_json::from_str(LIST_OPERATION).expect("the vendored list operation is JSON");
        let update: Value =
            serde_json::from_str(UPDATE_OPERATION).expect("the vendored update operation is JSON");
        let list_parameters = list["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query")
            .filter_map(|p| Some((p["name"].as_str()?.to_string(), p["schema"].clone())))
            .collect();
        let number_sid_schema = update["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "Sid"))
            .map(|p| p["schema"].clone())
            .expect("the update names the number's Sid");
        let update_body =
            update["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"].clone();
        assert!(update_body["properties"]["SmsUrl"].is_object(), "UpdateIncomingPhoneNumberRequest");
        Self {
            account_sid: account_sid.to_string(),
            auth_token: auth_token.to_string(),
            account_schema: account_sid_schema(&list),
            list_parameters,
            number_sid_schema,
            update_body,
            state: Mutex::default(),
        }
    }

    /// Adds a number pointed at `sms_url` ("" for none); returns its SID.
    pub fn add(&self, phone_number: &str, sms_url: &str) -> String {
        let mut state = self.lock();
        let sid = format!("PN{:032x}", state.numbers.len() + 1);
        state.numbers.push(IncomingNumber {
            sid: sid.clone(),
            phone_number: phone_number.to_string(),
            sms_url: sms_url.to_string(),
            sms_method: "POST".into(),
            status_callback: String::new(),
            status_callback_method: "POST".into(),
        });
        sid
    }

    pub fn numbers(&self) -> Vec<IncomingNumber> {
        self.lock().numbers.clone()
    }

    pub fn updates(&self) -> Vec<NumberUpdate> {
        self.lock().updates.clone()
    }

    /// "List IncomingPhoneNumber" calls answered.
    pub fn list_calls(&self) -> usize {
        self.lock().lists
    }

    /// Requests refused as not matching the spec (should stay empty).
    pub fn rejected(&self) -> Vec<String> {
        self.lock().rejected.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn account(&self) -> Account<'_> {
        Account { sid: &self.account_sid, auth_token: &self.auth_token }
    }

    fn list_path(&self) -> String {
        format!("/2010-04-01/Accounts/{}/IncomingPhoneNumbers.json", self.account_sid)
    }

    /// `GET /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json?…`: status and body.
    pub fn list(&self, path: &str, authorization: Option<&str>, query: &str) -> (u16, Value) {
        let answer = self.try_list(path, authorization, query);
        self.answer(answer, 200)
    }

    /// `POST /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json`: status and body.
    pub fn update(
        &self,
        path: &str,
        authorization: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> (u16, Value) {
        let answer = self.try_update(path, authorization, content_type, body);
        self.answer(answer, 200)
    }

    fn answer(&self, answer: Result<Value, Refusal>, status: u16) -> (u16, Value) {
        match answer {
            Ok(body) => (status, body),
            Err(refusal) => {
                self.lock().rejected.push(refusal.message.clone());
                (refusal.status, refusal.body())
            }
        }
    }

    fn try_list(&self, path: &str, authorization: Option<&str>, query: &str) -> Result<Value, Refusal> {
        let sid = path
            .strip_prefix("/2010-04-01/Accounts/")
            .and_then(|rest| rest.strip_suffix("/IncomingPhoneNumbers.json"))
            .ok_or_else(not_found)?;
        authenticate_as(sid, authorization, &self.account_schema, &self.account())?;
        let form = parse_form(query.as_bytes())?;
        for (name, values) in &form {
            let schema = self.list_parameters.get(name).ok_or_else(|| {
                Refusal::bad(format!("{name} is not a parameter of ListIncomingPhoneNumber"))
            })?;
            check_field(name, values, schema).map_err(Refusal::bad)?;
        }
        let first = |name: &str| form.get(name).map(|v| v[0].clone());
        let page_size: usize = first("PageSize").and_then(|v| v.parse().ok()).unwrap_or(50);
        let page: usize = first("Page").and_then(|v| v.parse().ok()).unwrap_or(0);
        let filter = first("PhoneNumber");
        let mut state = self.lock();
        state.lists += 1;
        let matching: Vec<Value> = state
            .numbers
            .iter()
            .filter(|n| filter.as_deref().is_none_or(|f| n.phone_number.contains(f)))
            .map(|n| resource(&self.account_sid, n))
            .collect();
        let start = page.saturating_mul(page_size).min(matching.len());
        let end = (start + page_size).min(matching.len());
        let uri = |page: usize| {
            let mut pairs = vec![("PageSize", page_size.to_string()), ("Page", page.to_string())];
            if let Some(f) = &filter {
                pairs.push(("PhoneNumber", f.clone()));
            }
            format!("{}?{}", self.list_path(), serde_urlencoded::to_string(pairs).unwrap_or_default())
        };
        Ok(json!({
            "incoming_phone_numbers": &matching[start..end],
            "end": if end > start { end - 1 } else { start },
            "first_page_uri": uri(0),
            "next_page_uri": (end < matching.len())
                .then(|| format!("{}&PageToken=PA{:032x}", uri(page + 1), ulid::Ulid::new().0)),
            "page": page,
            "page_size": page_size,
            "previous_page_uri": (page > 0).then(|| uri(page - 1)),
            "start": start,
            "uri": uri(page),
        }))
    }

    fn try_update(
        &self,
        path: &str,
        authorization: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Value, Refusal> {
        let (account_sid, number_sid) = path
            .strip_prefix("/2010-04-01/Accounts/")
            .and_then(|rest| rest.strip_suffix(".json"))
            .and_then(|rest| rest.split_once("/IncomingPhoneNumbers/"))
            .ok_or_else(not_found)?;
        authenticate_as(account_sid, authorization, &self.account_schema, &self.account())?;
        check_field("Sid", &[number_sid.to_string()], &self.number_sid_schema).map_err(Refusal::bad)?;
        let content_type = content_type.unwrap_or("");
        if !content_type.starts_with("application/x-www-form-urlencoded") {
            return Err(Refusal::bad(format!("content type {content_type} is not form-encoded")));
        }
        let form = parse_form(body)?;
        let properties = self.update_body["properties"].as_object().expect("properties");
        for (name, values) in &form {
            let schema = properties.get(name).ok_or_else(|| {
                Refusal::bad(format!("{name} is not a parameter of UpdateIncomingPhoneNumber"))
            })?;
            check_field(name, values, schema).map_err(Refusal::bad)?;
        }
        let mut state = self.lock();
        let number = state.numbers.iter_mut().find(|n| n.sid == number_sid).ok_or_else(not_found)?;
        let first = |name: &str| form.get(name).map(|v| v[0].clone());
        if let Some(url) = first("SmsUrl") {
            number.sms_url = url;
        }
        if let Some(method) = first("SmsMethod") {
            number.sms_method = method;
        }
        if let Some(url) = first("StatusCallback") {
            number.status_callback = url;
        }
        if let Some(method) = first("StatusCallbackMethod") {
            number.status_callback_method = method;
        }
        let updated = resource(&self.account_sid, number);
        state.updates.push(NumberUpdate { sid: number_sid.to_string(), form });
        Ok(updated)
    }
}

fn not_found() -> Refusal {
    Refusal::new(404, 20404, "The requested resource was not found")
}

fn parse_form(raw: &[u8]) -> Result<Form, Refusal> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(raw).map_err(|e| Refusal::bad(e.to_string()))?;
    let mut form = Form::new();
    for (name, value) in pairs {
        form.entry(name).or_default().push(value);
    }
    Ok(form)
}

/// An IncomingPhoneNumber resource as Twilio answers it (every field of the spec's schema).
pub fn resource(account_sid: &str, n: &IncomingNumber) -> Value {
    let now = twilio_now();
    json!({
        "account_sid": account_sid,
        "address_sid": null,
        "address_requirements": "none",
        "api_version": "2010-04-01",
        "beta": false,
        "capabilities": {"voice": true, "sms": true, "mms": true, "fax": false},
        "date_created": now,
        "date_updated": now,
        "friendly_name": n.phone_number,
        "identity_sid": null,
        "phone_number": n.phone_number,
        "origin": "twilio",
        "sid": n.sid,
        "sms_application_sid": "",
        "sms_fallback_method": "POST",
        "sms_fallback_url": "",
        "sms_method": n.sms_method,
        "sms_url": n.sms_url,
        "status_callback": n.status_callback,
        "status_callback_method": n.status_callback_method,
        "trunk_sid": null,
        "uri": format!("/2010-04-01/Accounts/{account_sid}/IncomingPhoneNumbers/{}.json", n.sid),
        "voice_receive_mode": "voice",
        "voice_application_sid": null,
        "voice_caller_id_lookup": false,
        "voice_fallback_method": "POST",
        "voice_fallback_url": null,
        "voice_method": "POST",
        "voice_url": null,
        "emergency_status": "Inactive",
        "emergency_address_sid": null,
        "emergency_address_status": "unregistered",
        "bundle_sid": null,
        "status": "in-use",
        "type": "local",
    })
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;

    const SID: &str = "AC0123456789abcdef0123456789abcdef";
    const TOKEN: &str = "token";

    fn official_spec() -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/twilio/twilio_api_v2010.json");
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    fn basic() -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}")))
    }

    #[test]
    fn the_vendored_number_operations_are_the_official_ones() {
        let spec = official_spec();
        let list = &spec["paths"]["/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json"]["get"];
        let update =
            &spec["paths"]["/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json"]["post"];
        assert_eq!(list["operationId"], "ListIncomingPhoneNumber");
        assert_eq!(update["operationId"], "UpdateIncomingPhoneNumber");
        assert_eq!(&serde_json::from_str::<Value>(LIST_OPERATION).unwrap(), list);
        assert_eq!(&serde_json::from_str::<Value>(UPDATE_OPERATION).unwrap(), update);
        // The resources have the schema's fields.
        let keys =
            |v: &Value| v.as_object().unwrap().keys().cloned().collect::<std::collections::BTreeSet<_>>();
        let account = NumberAccount::new(SID, TOKEN);
        account.add("+14155550170", "");
        let number = resource(SID, &account.numbers()[0]);
        assert_eq!(
            keys(&number),
            keys(&spec["components"]["schemas"]["api.v2010.account.incoming_phone_number"]["properties"])
        );
        let (_, page) = account.list(&account.list_path(), Some(&basic()), "");
        assert_eq!(
            keys(&page),
            keys(&list["responses"]["200"]["content"]["application/json"]["schema"]["properties"])
        );
    }

    #[test]
    fn lists_page_like_twilio_and_refuses_what_twilio_refuses() {
        let account = NumberAccount::new(SID, TOKEN);
        for n in 0..3 {
            account.add(&format!("+1415555017{n}"), "");
        }
        let path = account.list_path();
        let (status, page) = account.list(&path, Some(&basic()), "PageSize=2");
        assert_eq!(status, 200);
        assert_eq!(page["incoming_phone_numbers"].as_array().unwrap().len(), 2);
        let next = page["next_page_uri"].as_str().unwrap();
        let (next_path, next_query) = next.split_once('?').unwrap();
        let (_, last) = account.list(next_path, Some(&basic()), next_query);
        assert_eq!(last["incoming_phone_numbers"][0]["phone_number"], "+14155550172");
        assert!(last["next_page_uri"].is_null());
        assert_eq!(account.list(&path, Some("Basic bm9wZQ=="), "").0, 401);
        assert_eq!(account.list(&path, Some(&basic()), "PageSize=0").0, 400);
        assert_eq!(account.list(&path, Some(&basic()), "Pagesize=2").0, 400);
        assert_eq!(account.list(&path, Some(&basic()), "PhoneNumber=4155550170").0, 400);
        let (_, found) = account.list(&path, Some(&basic()), "PhoneNumber=%2B14155550171");
        assert_eq!(found["incoming_phone_numbers"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn updates_are_checked_like_twilio_checks_them() {
        let account = NumberAccount::new(SID, TOKEN);
        let sid = account.add("+14155550170", "");
        let path = format!("/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers/{sid}.json");
        let form = Some("application/x-www-form-urlencoded");
        let ok = b"SmsUrl=https%3A%2F%2Fexample.com%2Fin&SmsMethod=POST";
        let (status, body) = account.update(&path, Some(&basic()), form, ok);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["sms_url"], "https://example.com/in");
        assert_eq!(account.update(&path, Some(&basic()), form, b"SmsMethod=PUT").0, 400);
        assert_eq!(account.update(&path, Some(&basic()), form, b"SmsUrl=not-a-url").0, 400);
        assert_eq!(account.update(&path, Some(&basic()), form, b"Nope=1").0, 400);
        let unknown = format!("/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers/PN{:032x}.json", 99);
        assert_eq!(account.update(&unknown, Some(&basic()), form, ok).0, 404);
        assert_eq!(account.update(&path, None, form, ok).0, 401);
        assert_eq!(account.updates().len(), 1);
    }
}
