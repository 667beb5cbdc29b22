//! Twilio's Messages API (2010-04-01) over reqwest with rustls.
//!
//! POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json, form-encoded, HTTP Basic auth with
//! the account SID and auth token, or an API key SID and secret. `TWILIO_API_BASE_URL` points the
//! client at a stand-in (tests, `make dev`).

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use switchboard_core::domain::message::DeliveryStatus;
use switchboard_core::ports::sms::{Accepted, OutboundSms, SendError, SentQuery, SmsSender};
use switchboard_core::Secret;

use crate::config::{Config, ConfigError};

pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";

#[derive(Clone, Debug)]
pub struct TwilioSettings {
    pub base_url: String,
    pub account_sid: String,
    /// Account SID, or an API key SID (SK…).
    pub username: String,
    /// Auth token, or the API key's secret.
    pub password: Secret,
    pub messaging_service_sid: Option<String>,
    pub connect_timeout: Duration,
    pub timeout: Duration,
}

impl TwilioSettings {
    /// The client's settings from the functions' configuration, or `None` when no account is
    /// configured (`TWILIO_ACCOUNT_SID` unset).
    pub fn from_config(config: &Config) -> Result<Option<Self>, ConfigError> {
        let Some(account_sid) = config.twilio_account_sid.clone() else {
            return Ok(None);
        };
        let (username, password) =
            match (&config.twilio_api_key_sid, &config.twilio_api_key_secret, &config.twilio_auth_token) {
                (Some(key), Some(secret), _) => (key.clone(), secret.clone()),
                (None, None, Some(token)) => (account_sid.clone(), token.clone()),
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "TWILIO_AUTH_TOKEN",
                        reason: "set TWILIO_AUTH_TOKEN, or both TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET"
                            .into(),
                    })
                }
            };
        Ok(Some(Self {
            base_url: config.twilio_api_base_url.clone().unwrap_or_else(|| DEFAULT_BASE_URL.into()),
            account_sid,
            username,
            password,
            messaging_service_sid: config.twilio_messaging_service_sid.clone(),
            connect_timeout: Duration::from_secs(3),
            timeout: config.twilio_timeout,
        }))
    }
}

pub struct TwilioClient {
    pub(crate) http: reqwest::Client,
    messages_url: String,
    pub(crate) settings: TwilioSettings,
}

/// What Twilio answers on success (only the fields we use).
#[derive(Deserialize)]
struct MessageResource {
    sid: String,
    status: Option<String>,
}

/// Twilio's error body: `{"code": 21211, "message": "...", "more_info": "...", "status": 400}`.
#[derive(Deserialize)]
struct ErrorBody {
    code: Option<i64>,
    message: Option<String>,
}

impl TwilioClient {
    pub fn new(settings: TwilioSettings) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        let messages_url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            settings.base_url.trim_end_matches('/'),
            settings.account_sid
        );
        Ok(Self { http, messages_url, settings })
    }

    /// The form fields of a send. `From` is always our proxy number, even with a Messaging
    /// Service: the pair (From, To) is what routes the reply.
    pub fn form(&self, sms: &OutboundSms) -> Vec<(&'static str, String)> {
        let mut form = vec![("To", sms.to.to_string()), ("From", sms.from.to_string())];
        if let Some(service) = &self.settings.messaging_service_sid {
            form.push(("MessagingServiceSid", service.clone()));
        }
        if !sms.body.is_empty() {
            form.push(("Body", sms.body.clone()));
        }
        for url in &sms.media_urls {
            form.push(("MediaUrl", url.clone()));
        }
        if let Some(callback) = &sms.status_callback {
            form.push(("StatusCallback", callback.clone()));
        }
        form
    }
}

#[async_trait]
impl SmsSender for TwilioClient {
    async fn send(&self, sms: &OutboundSms) -> Result<Accepted, SendError> {
        let started = std::time::Instant::now();
        let result = self.create_message(sms).await;
        record_call(started, &result);
        result
    }

    async fn find_sent(&self, query: &SentQuery) -> Result<Option<Accepted>, SendError> {
        let started = std::time::Instant::now();
        let result = self.list_messages(query).await;
        record_call(started, &result);
        result
    }
}

/// One Twilio call's latency and error code, for the request's metrics.
pub(crate) fn record_call<T>(started: std::time::Instant, result: &Result<T, SendError>) {
    let failure =
        result.as_ref().err().map(|e| e.code().map_or_else(|| e.kind().to_string(), |c| c.to_string()));
    switchboard_core::observe::twilio_call(started.elapsed(), failure);
}

impl TwilioClient {
    /// Sends one request to Twilio's API with the account's credentials and reads its JSON
    /// answer (`what` names it when unreadable); a refusal or no answer as a `SendError`.
    pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<T, SendError> {
        let response = request
            .basic_auth(&self.settings.username, Some(self.settings.password.expose()))
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        let body = response.bytes().await.map_err(|_| SendError::Timeout)?;
        if !status.is_success() {
            return Err(refusal(status, &body));
        }
        serde_json::from_slice(&body).map_err(|e| SendError::Unavailable(format!("unreadable {what}: {e}")))
    }

    /// One "create a Message" call.
    async fn create_message(&self, sms: &OutboundSms) -> Result<Accepted, SendError> {
        let response = self
            .http
            .post(&self.messages_url)
            .basic_auth(&self.settings.username, Some(self.settings.password.expose()))
            .form(&self.form(sms))
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        // Twilio answered: whatever happens to the body, the request reached it.
        let body = response.bytes().await.map_err(|_| SendError::Timeout)?;
        if status.is_success() {
            let resource: MessageResource = serde_json::from_slice(&body).map_err(|_| SendError::Timeout)?;
            let status = resource
                .status
                .as_deref()
                .and_then(DeliveryStatus::from_twilio)
                .unwrap_or(DeliveryStatus::Queued);
            return Ok(Accepted { sid: resource.sid, status });
        }
        Err(refusal(status, &body))
    }

    /// "List Messages" filtered by To and From, newest first; the first with the same body
    /// created at or after `since` (less a minute of clock skew). `DateSent` is not a filter:
    /// a message Twilio queued but has not sent yet has none, and is exactly the one to find.
    async fn list_messages(&self, query: &SentQuery) -> Result<Option<Accepted>, SendError> {
        let request = self.http.get(&self.messages_url).query(&[
            ("To", query.to.as_str()),
            ("From", query.from.as_str()),
            ("PageSize", "50"),
        ]);
        let page: MessagePage = self.read_json(request, "list").await?;
        let since = query.since - chrono::Duration::minutes(1);
        let found = page.messages.into_iter().find(|m| {
            let created =
                m.date_created.as_deref().and_then(|d| chrono::DateTime::parse_from_rfc2822(d).ok());
            m.body.as_deref() == Some(query.body.as_str()) && created.is_some_and(|c| c >= since)
        });
        Ok(found.map(|m| Accepted {
            sid: m.sid,
            status: m
                .status
                .as_deref()
                .and_then(DeliveryStatus::from_twilio)
                .unwrap_or(DeliveryStatus::Queued),
        }))
    }
}

/// Twilio's answer to a request it did not carry out, from its status and error body.
pub(crate) fn refusal(status: reqwest::StatusCode, body: &[u8]) -> SendError {
    let error: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let code = error.as_ref().and_then(|e| e.code);
    let message = error.and_then(|e| e.message).unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
    match status.as_u16() {
        429 => SendError::Throttled { code, message },
        500..=599 => SendError::Unavailable(message),
        _ => SendError::Rejected { code, message },
    }
}

/// A request that got no answer: refused connections reached nobody; anything else (a timeout,
/// a connection dropped after sending) may have reached Twilio.
pub(crate) fn transport_error(err: reqwest::Error) -> SendError {
    if err.is_connect() && !err.is_timeout() {
        SendError::Unreachable(err.to_string())
    } else {
        SendError::Timeout
    }
}

/// A page of "List Messages" (only the fields we use).
#[derive(Deserialize)]
struct MessagePage {
    #[serde(default)]
    messages: Vec<ListedMessage>,
}

#[derive(Deserialize)]
struct ListedMessage {
    sid: String,
    body: Option<String>,
    status: Option<String>,
    /// RFC 2822, as Twilio writes dates: "Thu, 30 Jul 2015 20:12:31 +0000".
    date_created: Option<String>,
}
