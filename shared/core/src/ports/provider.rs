//! The Twilio account's phone numbers ([`NumberProvider`]): listing them page by page, as
//! Twilio pages them, and pointing one at our webhooks. Its Twilio adapter is
//! `switchboard::twilio`; [`crate::memory::FakeNumbers`] is the fake.

use async_trait::async_trait;

use super::sms::SendError;

/// One of the account's numbers (Twilio's IncomingPhoneNumber resource, the fields we use).
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderNumber {
    /// `PN` + 32 hex digits: what an update names.
    pub sid: String,
    /// E.164, as Twilio writes it.
    pub phone_number: String,
    pub sms_url: Option<String>,
    pub sms_method: Option<String>,
    pub status_callback: Option<String>,
}

/// One page of the account's numbers; `next_page` is Twilio's next_page_uri, to pass back as is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProviderPage {
    pub numbers: Vec<ProviderNumber>,
    pub next_page: Option<String>,
}

/// Where a number's SMS go: `SmsUrl` (always POST) and, when the deployment has one,
/// `StatusCallback`.
#[derive(Clone, Debug, PartialEq)]
pub struct Wiring {
    pub sms_url: String,
    pub status_callback: Option<String>,
}

#[async_trait]
pub trait NumberProvider: Send + Sync + 'static {
    /// A page of the account's numbers: the first one (`page` None, `page_size` numbers), or the
    /// one a previous page's `next_page` names.
    async fn list_numbers(&self, page: Option<&str>, page_size: u32) -> Result<ProviderPage, SendError>;
    /// The account's number `phone_number` (E.164), if it has it.
    async fn find_number(&self, phone_number: &str) -> Result<Option<ProviderNumber>, SendError>;
    /// Points the number `sid` at `wiring`; answers the number as updated.
    async fn wire_number(&self, sid: &str, wiring: &Wiring) -> Result<ProviderNumber, SendError>;
}

/// No Twilio account configured: every call fails with a clear reason.
pub struct NoProvider;

#[async_trait]
impl NumberProvider for NoProvider {
    async fn list_numbers(&self, _page: Option<&str>, _page_size: u32) -> Result<ProviderPage, SendError> {
        Err(SendError::NotConfigured)
    }

    async fn find_number(&self, _phone_number: &str) -> Result<Option<ProviderNumber>, SendError> {
        Err(SendError::NotConfigured)
    }

    async fn wire_number(&self, _sid: &str, _wiring: &Wiring) -> Result<ProviderNumber, SendError> {
        Err(SendError::NotConfigured)
    }
}
