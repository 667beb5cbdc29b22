//! The IncomingPhoneNumbers API (2010-04-01): the account's numbers, page by page, and pointing
//! one at our webhooks. The [`NumberProvider`] port's adapter.
//!
//! GET  {base}/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json?PageSize=…  (list)
//! GET  {base}{next_page_uri}                                                      (next page)
//! POST {base}/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json      (update)

use async_trait::async_trait;
use serde::Deserialize;
use switchboard_core::ports::provider::{NumberProvider, ProviderNumber, ProviderPage, Wiring};
use switchboard_core::ports::sms::SendError;

use super::client::{record_call, TwilioClient};

/// A page of "List IncomingPhoneNumber" (only the fields we use).
#[derive(Deserialize)]
struct NumberPage {
    #[serde(default)]
    incoming_phone_numbers: Vec<NumberResource>,
    next_page_uri: Option<String>,
}

#[derive(Deserialize)]
struct NumberResource {
    sid: String,
    phone_number: String,
    sms_url: Option<String>,
    sms_method: Option<String>,
    status_callback: Option<String>,
}

impl From<NumberResource> for ProviderNumber {
    fn from(n: NumberResource) -> Self {
        let blank = |v: Option<String>| v.filter(|v| !v.is_empty());
        Self {
            sid: n.sid,
            phone_number: n.phone_number,
            sms_url: blank(n.sms_url),
            sms_method: blank(n.sms_method),
            status_callback: blank(n.status_callback),
        }
    }
}

impl TwilioClient {
    fn api_base(&self) -> &str {
        self.settings.base_url.trim_end_matches('/')
    }

    /// The list's path; a page token must be one of its page URIs (so a caller's token can only
    /// ever address this account's list).
    fn numbers_path(&self) -> String {
        format!("/2010-04-01/Accounts/{}/IncomingPhoneNumbers.json", self.settings.account_sid)
    }

    async fn get_page(&self, url: String, query: &[(&str, &str)]) -> Result<ProviderPage, SendError> {
        let page: NumberPage = self.read_json(self.http.get(url).query(query), "list").await?;
        Ok(ProviderPage {
            numbers: page.incoming_phone_numbers.into_iter().map(ProviderNumber::from).collect(),
            next_page: page.next_page_uri.filter(|u| !u.is_empty()),
        })
    }

    async fn list_page(&self, page: Option<&str>, page_size: u32) -> Result<ProviderPage, SendError> {
        let path = self.numbers_path();
        match page {
            None => {
                let size = page_size.clamp(1, 1000).to_string();
                self.get_page(format!("{}{path}", self.api_base()), &[("PageSize", &size)]).await
            }
            Some(uri) if uri.strip_prefix(&path).is_some_and(|rest| rest.starts_with('?')) => {
                self.get_page(format!("{}{uri}", self.api_base()), &[]).await
            }
            Some(_) => Err(SendError::Rejected { code: Some(20404), message: "unknown page token".into() }),
        }
    }

    /// Twilio's `PhoneNumber` filter matches partial numbers too: keep the exact one.
    async fn find(&self, phone_number: &str) -> Result<Option<ProviderNumber>, SendError> {
        let url = format!("{}{}", self.api_base(), self.numbers_path());
        let page = self.get_page(url, &[("PhoneNumber", phone_number), ("PageSize", "20")]).await?;
        Ok(page.numbers.into_iter().find(|n| n.phone_number == phone_number))
    }

    async fn update(&self, sid: &str, wiring: &Wiring) -> Result<ProviderNumber, SendError> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/IncomingPhoneNumbers/{sid}.json",
            self.api_base(),
            self.settings.account_sid
        );
        let mut form = vec![("SmsUrl", wiring.sms_url.as_str()), ("SmsMethod", "POST")];
        if let Some(callback) = &wiring.status_callback {
            form.push(("StatusCallback", callback));
            form.push(("StatusCallbackMethod", "POST"));
        }
        let number: NumberResource = self.read_json(self.http.post(url).form(&form), "number").await?;
        Ok(number.into())
    }
}

#[async_trait]
impl NumberProvider for TwilioClient {
    async fn list_numbers(&self, page: Option<&str>, page_size: u32) -> Result<ProviderPage, SendError> {
        let started = std::time::Instant::now();
        let result = self.list_page(page, page_size).await;
        record_call(started, &result);
        result
    }

    async fn find_number(&self, phone_number: &str) -> Result<Option<ProviderNumber>, SendError> {
        let started = std::time::Instant::now();
        let result = self.find(phone_number).await;
        record_call(started, &result);
        result
    }

    async fn wire_number(&self, sid: &str, wiring: &Wiring) -> Result<ProviderNumber, SendError> {
        let started = std::time::Instant::now();
        let result = self.update(sid, wiring).await;
        record_call(started, &result);
        result
    }
}
