//! Messages and their per-recipient SMS deliveries.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{ConversationId, DeliveryId, MessageId, ParticipantId, UserId};
use super::media::Attachment;
use super::phone::E164;
use crate::error::AppError;

pub const BODY_MAX_CHARS: usize = 1600;
pub const MEDIA_MAX: usize = 10;
pub const MEDIA_URL_MAX: usize = 1024;
pub const IDEMPOTENCY_KEY_MAX: usize = 128;

/// Where a delivery stands. Statuses only move forward (see [`DeliveryStatus::rank`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DeliveryStatus {
    /// In the outbox: stored, not yet accepted by Twilio. The delivery pipeline sends it, and
    /// retries it (`attempts`, `next_attempt_at`) when Twilio is throttling or failing.
    Pending,
    Accepted,
    Queued,
    Sending,
    Sent,
    Delivered,
    Undelivered,
    Failed,
    Read,
    /// The phone opted out of this sender number: no SMS was sent, nothing failed.
    OptedOut,
}

impl DeliveryStatus {
    /// queued < sending < sent < delivered | undelivered | failed; read after delivered.
    /// A status is applied only if its rank is higher than the current one. (Even numbers:
    /// [`TENTATIVE_FAILURE_RANK`] sits between pending and queued.)
    pub fn rank(self) -> u8 {
        match self {
            Self::Pending => 0,
            Self::Accepted | Self::Queued => 2,
            Self::Sending => 4,
            Self::Sent => 6,
            Self::Delivered | Self::Undelivered | Self::Failed | Self::OptedOut => 8,
            Self::Read => 10,
        }
    }

    /// Twilio's status names (`MessageStatus`, the API's `status`).
    pub fn from_twilio(status: &str) -> Option<Self> {
        Some(match status {
            "accepted" | "scheduled" => Self::Accepted,
            "queued" => Self::Queued,
            "sending" => Self::Sending,
            "sent" => Self::Sent,
            "delivered" => Self::Delivered,
            "undelivered" => Self::Undelivered,
            "failed" | "canceled" => Self::Failed,
            "read" => Self::Read,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Undelivered => "undelivered",
            Self::Failed => "failed",
            Self::Read => "read",
            Self::OptedOut => "opted_out",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SenderKind {
    User,
    Sms,
    System,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Sender {
    pub kind: SenderKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<E164>,
    pub display_name: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub sender: Sender,
    pub content: String,
    pub media_urls: Vec<String>,
    /// Content types of `media_urls` (inbound MMS: MediaContentTypeN), same order.
    pub media_content_types: Vec<String>,
    /// The message's media in our bucket (`media/<conversationId>/<messageId>/<n>`): a web
    /// user's attachments, stored with the message; or our copies of an inbound MMS's media
    /// (same order as `media_urls`), once the pipeline's media copy stored them all, empty
    /// until then (and for good when the copy gave up: `media_urls` stay Twilio's). Shown only
    /// through short-lived presigned GETs (`service::media::present`).
    pub media_keys: Vec<String>,
    /// Twilio's MessageSid of an inbound SMS.
    pub twilio_sid: Option<String>,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted: bool,
}

/// The rank of a `failed` we concluded ourselves without Twilio's word (a timeout, a 5xx, no
/// connection): Twilio may have accepted the SMS all the same, so any status callback wins.
pub const TENTATIVE_FAILURE_RANK: u8 = 1;

/// One SMS to one phone for one message.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
    pub participant_id: ParticipantId,
    pub to: E164,
    pub from: E164,
    /// The text the phone receives (in a group, "Name: text"), fixed when the message is stored.
    pub body: String,
    pub media_urls: Vec<String>,
    /// The message's media in our bucket: each attempt hands Twilio fresh presigned GETs.
    pub media_keys: Vec<String>,
    pub status: DeliveryStatus,
    /// Attempts the pipeline has made (claimed) so far.
    pub attempts: u32,
    /// While pending: when the pipeline (next) sends it.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub twilio_sid: Option<String>,
    pub error_code: Option<i64>,
    pub error_message: Option<String>,
    pub segments: Segments,
    pub updated_at: DateTime<Utc>,
    /// A failure we concluded ourselves (see [`TENTATIVE_FAILURE_RANK`]); not stored apart from
    /// its rank.
    pub tentative: bool,
}

impl Delivery {
    /// The rank stored with the status.
    pub fn rank(&self) -> u8 {
        if self.tentative && self.status == DeliveryStatus::Failed {
            TENTATIVE_FAILURE_RANK
        } else {
            self.status.rank()
        }
    }

    /// Our id for it, named in the StatusCallback URL.
    pub fn id(&self) -> DeliveryId {
        DeliveryId {
            conversation_id: self.conversation_id,
            message_id: self.message_id,
            participant_id: self.participant_id,
        }
    }

    pub fn view(&self) -> DeliveryView {
        DeliveryView {
            id: self.id(),
            participant_id: self.participant_id,
            phone_number: self.to.clone(),
            from: self.from.clone(),
            status: self.status,
            twilio_sid: self.twilio_sid.clone(),
            error_code: self.error_code,
            error_message: self.error_message.clone(),
            segments: self.segments.count,
            encoding: self.segments.encoding,
            attempts: self.attempts,
            next_attempt_at: if self.status == DeliveryStatus::Pending { self.next_attempt_at } else { None },
            updated_at: self.updated_at,
        }
    }

    /// A new delivery of `body` to `to` from `from`, in the outbox (or `opted_out`, with no SMS).
    pub fn new(
        message: &Message,
        participant_id: ParticipantId,
        from: E164,
        to: E164,
        body: &str,
        segments: Segments,
        opted_out: bool,
    ) -> Self {
        let status = if opted_out { DeliveryStatus::OptedOut } else { DeliveryStatus::Pending };
        Self {
            conversation_id: message.conversation_id,
            message_id: message.id,
            participant_id,
            to,
            from,
            body: body.to_string(),
            media_urls: message.media_urls.clone(),
            media_keys: message.media_keys.clone(),
            status,
            attempts: 0,
            next_attempt_at: (!opted_out).then_some(message.created_at),
            twilio_sid: None,
            error_code: None,
            error_message: None,
            segments,
            updated_at: message.created_at,
            tentative: false,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryView {
    pub id: DeliveryId,
    pub participant_id: ParticipantId,
    pub phone_number: E164,
    pub from: E164,
    pub status: DeliveryStatus,
    pub twilio_sid: Option<String>,
    pub error_code: Option<i64>,
    pub error_message: Option<String>,
    /// SMS segments this delivery costs (what the carrier bills).
    pub segments: u32,
    pub encoding: Encoding,
    /// Attempts the pipeline made to hand it to Twilio.
    pub attempts: u32,
    /// While pending after a failed attempt: when the next one is due.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageView {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub sender: Sender,
    pub content: String,
    pub media_urls: Vec<String>,
    pub media_content_types: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted: bool,
    /// Derived from the deliveries: `failed` if any failed or was undelivered, else the least
    /// advanced of them, or `delivered` with none (web members have it as soon as it is stored).
    pub status: DeliveryStatus,
    pub deliveries: Vec<DeliveryView>,
}

impl Message {
    pub fn view(&self, deliveries: &[Delivery]) -> MessageView {
        let status = overall_status(deliveries);
        MessageView {
            id: self.id,
            conversation_id: self.conversation_id,
            sender: self.sender.clone(),
            // A deleted message keeps its place in history but not its words.
            content: if self.deleted { String::new() } else { self.content.clone() },
            media_urls: if self.deleted { Vec::new() } else { self.media_urls.clone() },
            media_content_types: if self.deleted { Vec::new() } else { self.media_content_types.clone() },
            created_at: self.created_at,
            edited_at: self.edited_at,
            deleted: self.deleted,
            status,
            deliveries: deliveries.iter().map(Delivery::view).collect(),
        }
    }
}

/// A message's status from its deliveries: "failed" if any failed, else the least advanced one.
/// Web-only messages are "delivered" (they are in the app as soon as they are stored).
pub fn overall_status(deliveries: &[Delivery]) -> DeliveryStatus {
    let sms: Vec<&Delivery> = deliveries.iter().filter(|d| d.status != DeliveryStatus::OptedOut).collect();
    if sms.iter().any(|d| matches!(d.status, DeliveryStatus::Failed | DeliveryStatus::Undelivered)) {
        return DeliveryStatus::Failed;
    }
    sms.iter().map(|d| d.status).min_by_key(|s| s.rank()).unwrap_or(DeliveryStatus::Delivered)
}

// --- requests ------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SendRequest {
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub media_urls: Vec<String>,
    /// Files to attach: the `uploadId`s of `POST /api/uploads`, uploaded by the caller. At
    /// most 10 and 5 MB in all; phones get them as one MMS, web members as presigned URLs.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 10, example = json!(["01JDQ3K6W3N4VY8A1T2R5C7XZB"])))]
    pub media: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EditRequest {
    pub content: String,
}

/// A message body that passed validation.
#[derive(Clone, Debug, PartialEq)]
pub struct NewContent {
    pub content: String,
    pub media_urls: Vec<String>,
    /// Uploads to attach (checked by `service::media::uploaded_media`).
    pub attachments: Vec<Attachment>,
}

impl NewContent {
    pub fn has_media(&self) -> bool {
        !self.media_urls.is_empty() || !self.attachments.is_empty()
    }
}

/// 1 to 1,600 characters after trimming, or media only (up to 10 https URLs).
pub fn validate_content(
    content: Option<&str>,
    media_urls: &[String],
    field: &str,
) -> Result<NewContent, AppError> {
    validate_with_attachments(content, media_urls, Vec::new(), field)
}

/// As [`validate_content`], with checked uploads to attach (which count as media).
pub fn validate_with_attachments(
    content: Option<&str>,
    media_urls: &[String],
    attachments: Vec<Attachment>,
    field: &str,
) -> Result<NewContent, AppError> {
    let content = content.map(str::trim).unwrap_or_default().to_string();
    if content.chars().count() > BODY_MAX_CHARS {
        return Err(AppError::validation(field, format!("must be at most {BODY_MAX_CHARS} characters")));
    }
    if media_urls.len() > MEDIA_MAX {
        return Err(AppError::validation("mediaUrls", format!("at most {MEDIA_MAX} media URLs")));
    }
    for (i, url) in media_urls.iter().enumerate() {
        let ok = url.len() <= MEDIA_URL_MAX
            && url.starts_with("https://")
            && url.len() > "https://".len()
            && !url.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            return Err(AppError::validation(format!("mediaUrls[{i}]"), "must be an https URL"));
        }
    }
    if !media_urls.is_empty() && !attachments.is_empty() {
        return Err(AppError::validation("media", "name uploads or mediaUrls, not both"));
    }
    if media_urls.len() + attachments.len() > MEDIA_MAX {
        return Err(AppError::validation("media", format!("at most {MEDIA_MAX} media per message")));
    }
    if content.is_empty() && media_urls.is_empty() && attachments.is_empty() {
        return Err(AppError::validation(field, "a message needs text or media"));
    }
    Ok(NewContent { content, media_urls: media_urls.to_vec(), attachments })
}

pub fn validate_idempotency_key(raw: &str) -> Result<String, AppError> {
    let key = raw.trim();
    if key.is_empty() || key.len() > IDEMPOTENCY_KEY_MAX || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(AppError::bad_request(
            Some("Idempotency-Key".to_string()),
            format!("must be 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII characters"),
        ));
    }
    Ok(key.to_string())
}

/// Characters of a message kept as the conversation's preview.
const PREVIEW_CHARS: usize = 100;

/// What the inbox shows of a message.
pub fn preview_of(text: &str, has_media: bool) -> String {
    match text.chars().count() {
        0 if has_media => "[media]".to_string(),
        n if n <= PREVIEW_CHARS => text.to_string(),
        _ => format!("{}…", text.chars().take(PREVIEW_CHARS).collect::<String>()),
    }
}

/// The SMS text a phone receives: in a group, prefixed with the sender's name.
pub fn sms_body(prefix: Option<&str>, content: &str) -> String {
    match prefix {
        Some(name) if !content.is_empty() => format!("{name}: {content}"),
        Some(name) => format!("{name}:"),
        None => content.to_string(),
    }
}

// --- segments ------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segments {
    pub count: u32,
    pub encoding: Encoding,
}

/// GSM 03.38 basic character set.
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// Characters of the extension table: each costs two septets (escape + char).
const GSM7_EXTENDED: &str = "\u{0c}^{}\\[~]|€";

/// How many SMS segments `body` costs. GSM-7 when every character is in the GSM alphabet (160
/// septets in one segment, 153 per segment when split); otherwise UCS-2 (70 UTF-16 units, 67
/// when split). An empty body (media only) is one segment.
pub fn segments(body: &str) -> Segments {
    let mut septets = 0u32;
    let mut gsm = true;
    for c in body.chars() {
        if GSM7_BASIC.contains(c) {
            septets += 1;
        } else if GSM7_EXTENDED.contains(c) {
            septets += 2;
        } else {
            gsm = false;
            break;
        }
    }
    let (units, single, multi, encoding) = if gsm {
        (septets, 160, 153, Encoding::Gsm7)
    } else {
        (body.encode_utf16().count() as u32, 70, 67, Encoding::Ucs2)
    };
    let count = if units <= single { 1 } else { units.div_ceil(multi) };
    Segments { count, encoding }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_move_forward_only_by_rank() {
        use DeliveryStatus::*;
        assert!(
            Queued.rank() < Sending.rank() && Sending.rank() < Sent.rank() && Sent.rank() < Delivered.rank()
        );
        assert_eq!(Delivered.rank(), Failed.rank());
        assert!(Read.rank() > Delivered.rank());
        assert_eq!(DeliveryStatus::from_twilio("undelivered"), Some(Undelivered));
        assert_eq!(DeliveryStatus::from_twilio("bogus"), None);
    }

    #[test]
    fn segments_follow_gsm7_and_ucs2_rules() {
        assert_eq!(segments("hello"), Segments { count: 1, encoding: Encoding::Gsm7 });
        assert_eq!(segments(&"a".repeat(160)).count, 1);
        assert_eq!(segments(&"a".repeat(161)).count, 2);
        assert_eq!(segments(&"a".repeat(306)).count, 2);
        assert_eq!(segments(&"a".repeat(307)).count, 3);
        // Extension characters cost two septets.
        assert_eq!(segments(&"€".repeat(80)).count, 1);
        assert_eq!(segments(&"€".repeat(81)).count, 2);
        // One emoji makes the whole message UCS-2; an emoji is two UTF-16 units.
        assert_eq!(segments("héllo 👋").encoding, Encoding::Ucs2);
        assert_eq!(segments(&"ж".repeat(70)).count, 1);
        assert_eq!(segments(&"ж".repeat(71)).count, 2);
        assert_eq!(segments(&"👋".repeat(35)).count, 1);
        assert_eq!(segments(&"👋".repeat(36)).count, 2);
        assert_eq!(segments("").count, 1);
    }

    #[test]
    fn bodies_are_text_or_media_within_bounds() {
        assert_eq!(validate_content(Some("  hi "), &[], "content").unwrap().content, "hi");
        assert!(validate_content(Some("   "), &[], "content").is_err());
        assert!(validate_content(None, &["https://example.com/a.jpg".into()], "content").is_ok());
        assert!(validate_content(Some(&"x".repeat(1600)), &[], "content").is_ok());
        assert!(validate_content(Some(&"x".repeat(1601)), &[], "content").is_err());
        match validate_content(Some("x"), &["http://plain.example".into()], "content") {
            Err(AppError::Validation { field, .. }) => assert_eq!(field, "mediaUrls[0]"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn group_texts_carry_the_senders_name() {
        assert_eq!(sms_body(Some("Ada"), "hi"), "Ada: hi");
        assert_eq!(sms_body(None, "hi"), "hi");
    }
}
