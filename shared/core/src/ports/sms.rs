//! Sending SMS: the [`SmsSender`] port (its Twilio adapter is `switchboard::twilio`), and
//! [`NotConfigured`], the sender of a function that has no Twilio account or sends no SMS: a
//! send then fails visibly; it never pretends to succeed.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::message::DeliveryStatus;
use crate::domain::phone::E164;

#[derive(Clone, Debug, PartialEq)]
pub struct OutboundSms {
    pub to: E164,
    /// The number the phone sees and replies to: what makes its reply route back here.
    pub from: E164,
    pub body: String,
    pub media_urls: Vec<String>,
    /// Where Twilio reports this message's status; names our delivery id.
    pub status_callback: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Accepted {
    pub sid: String,
    pub status: DeliveryStatus,
}

/// An SMS we may have sent already (an attempt whose answer we never got): the same text from
/// the same number to the same phone, created at or after `since`.
#[derive(Clone, Debug, PartialEq)]
pub struct SentQuery {
    pub to: E164,
    pub from: E164,
    pub body: String,
    pub since: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SendError {
    /// Twilio refused this message (4xx), e.g. 21211 invalid To, 21610 recipient opted out.
    #[error("Twilio rejected the message: {message}")]
    Rejected { code: Option<i64>, message: String },
    /// 429 from Twilio (error 20429).
    #[error("Twilio throttled the request: {message}")]
    Throttled { code: Option<i64>, message: String },
    /// 5xx from Twilio: a fault on its side, which may have come after it took the message.
    #[error("Twilio is unavailable: {0}")]
    Unavailable(String),
    /// No connection to Twilio: nothing reached it.
    #[error("Twilio could not be reached: {0}")]
    Unreachable(String),
    /// The request may have reached Twilio, but no answer came (a timeout, a dropped
    /// connection): the SMS may or may not have been sent.
    #[error("Twilio did not answer in time")]
    Timeout,
    #[error("SMS sending is not configured (no Twilio account)")]
    NotConfigured,
}

impl SendError {
    /// A short name for logs (the messages can quote phone numbers).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Rejected { .. } => "rejected",
            Self::Throttled { .. } => "throttled",
            Self::Unavailable(_) => "unavailable",
            Self::Unreachable(_) => "unreachable",
            Self::Timeout => "timeout",
            Self::NotConfigured => "not_configured",
        }
    }

    /// Worth another attempt later: throttling, Twilio's own faults, no connection, no answer.
    /// Rejections (4xx) are final.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Throttled { .. } | Self::Unavailable(_) | Self::Unreachable(_) | Self::Timeout)
    }

    /// Twilio may have sent it all the same (no answer, or Twilio's own fault after it may have
    /// taken the message): look for it before sending again.
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, Self::Timeout | Self::Unavailable(_))
    }

    /// Twilio's numeric error code, when it gave one.
    pub fn code(&self) -> Option<i64> {
        match self {
            Self::Rejected { code, .. } | Self::Throttled { code, .. } => *code,
            _ => None,
        }
    }
}

#[async_trait]
pub trait SmsSender: Send + Sync + 'static {
    async fn send(&self, sms: &OutboundSms) -> Result<Accepted, SendError>;
    /// The message an earlier, unanswered attempt may have created (Twilio's Messages list).
    async fn find_sent(&self, query: &SentQuery) -> Result<Option<Accepted>, SendError>;
}

/// The sender when no Twilio account is configured (or the function sends no SMS): every send
/// fails with a clear reason.
pub struct NotConfigured;

#[async_trait]
impl SmsSender for NotConfigured {
    async fn send(&self, _sms: &OutboundSms) -> Result<Accepted, SendError> {
        Err(SendError::NotConfigured)
    }

    async fn find_sent(&self, _query: &SentQuery) -> Result<Option<Accepted>, SendError> {
        Err(SendError::NotConfigured)
    }
}
