//! Sending messages: write ahead, then send, then record.
//!
//! 1. One transaction stores the message and one `pending` delivery per SMS recipient (opted-out
//!    phones get `opted_out` and no SMS), so nothing is lost if the function dies after it.
//! 2. Twilio is called for every pending delivery concurrently (at most
//!    `SMS_SEND_CONCURRENCY` at once); each call's StatusCallback names the delivery's id, so a
//!    status that arrives before Twilio's answer still finds it.
//! 3. One transaction records every SID or error. A recipient's failure fails only its delivery.
//!
//! DynamoDB requests per send do not grow with recipients: auth, the conversation, the opt-outs
//! (batched), the write-ahead transaction, the record transaction.

use chrono::Utc;
use futures::StreamExt;

use super::{conversations, realtime, App};
use crate::domain::conversation::{
    ConversationDetail, ConversationKind, ConversationStatus, Member, SmsRequest,
};
use crate::domain::ids::{ConversationId, MessageId, UserId};
use crate::domain::message::{
    segments, sms_body, validate_content, validate_idempotency_key, Delivery, DeliveryStatus, EditRequest,
    Message, NewContent, SendRequest, Sender, SenderKind,
};
use crate::domain::realtime::{Event, EventKind};
use crate::domain::routing::Pair;
use crate::domain::user::User;
use crate::error::AppError;
use crate::observe::{self, Metric};
use crate::ports::messages::{MessageChange, NewMessage, StoredMessage};
use crate::ports::sms::{OutboundSms, SendError};
use crate::ports::{Page, PageRequest, StoreError};

/// Twilio's error for a recipient who unsubscribed from the sender number.
const OPTED_OUT_AT_TWILIO: i64 = 21610;

/// Characters of a message kept as the conversation's preview.
const PREVIEW_CHARS: usize = 100;

/// A stored message and its deliveries as they stand after sending.
pub struct Sent {
    pub detail: ConversationDetail,
    pub message: Message,
    pub deliveries: Vec<Delivery>,
    /// True when an earlier request with the same Idempotency-Key produced it.
    pub replayed: bool,
}

fn preview(content: &NewContent) -> String {
    preview_of(&content.content, !content.media_urls.is_empty())
}

/// What the inbox shows of a message.
pub fn preview_of(text: &str, has_media: bool) -> String {
    match text.chars().count() {
        0 if has_media => "[media]".to_string(),
        n if n <= PREVIEW_CHARS => text.to_string(),
        _ => format!("{}…", text.chars().take(PREVIEW_CHARS).collect::<String>()),
    }
}

pub async fn send(
    app: &App,
    caller: &User,
    conversation_id: ConversationId,
    request: SendRequest,
    idempotency_key: Option<&str>,
) -> Result<Sent, AppError> {
    let content = validate_content(request.content.as_deref(), &request.media_urls, "content")?;
    send_with(app, caller, content, idempotency_key, || {
        conversations::load_visible(app, caller, conversation_id)
    })
    .await
}

/// POST /api/users/sms/internal/{userId}: the direct conversation with that user, and a message in it.
pub async fn send_to_user(
    app: &App,
    caller: &User,
    user_id: UserId,
    text: &str,
    idempotency_key: Option<&str>,
) -> Result<Sent, AppError> {
    let content = validate_content(Some(text), &[], "message")?;
    send_with(app, caller, content, idempotency_key, || async {
        Ok(conversations::start_direct(app, caller, user_id).await?.detail)
    })
    .await
}

/// POST /api/users/sms/external: the SMS conversation with that phone, and a message in it.
pub async fn send_to_phone(
    app: &App,
    caller: &User,
    phone_number: &str,
    text: &str,
    idempotency_key: Option<&str>,
) -> Result<Sent, AppError> {
    let content = validate_content(Some(text), &[], "message")?;
    let request = SmsRequest { phone_number: phone_number.to_string(), name: None };
    send_with(app, caller, content, idempotency_key, || async {
        Ok(conversations::start_sms(app, caller, request).await?.detail)
    })
    .await
}

/// Every send: a repeated Idempotency-Key answers with the first result before anything else;
/// otherwise find the conversation and send in it.
async fn send_with<F, Fut>(
    app: &App,
    caller: &User,
    content: NewContent,
    idempotency_key: Option<&str>,
    conversation: F,
) -> Result<Sent, AppError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<ConversationDetail, AppError>>,
{
    let key = idempotency_key.map(validate_idempotency_key).transpose()?;
    if let Some(sent) = replay(app, caller, key.as_deref()).await? {
        return Ok(sent);
    }
    let detail = conversation().await?;
    send_in(app, caller, detail, content, key.as_deref()).await
}

/// The first result of an earlier send with this key, if any (the key is per user, 24 hours).
async fn replay(app: &App, caller: &User, key: Option<&str>) -> Result<Option<Sent>, AppError> {
    let Some(key) = key else { return Ok(None) };
    let Some(earlier) = app.messages.find_idempotent(caller.id, key).await? else {
        return Ok(None);
    };
    let StoredMessage { message, deliveries } = app
        .messages
        .get_message(earlier.message_id)
        .await?
        .ok_or_else(|| AppError::internal("idempotent message missing"))?;
    let detail = conversations::load_visible(app, caller, earlier.conversation_id).await?;
    Ok(Some(Sent { detail, message, deliveries, replayed: true }))
}

async fn send_in(
    app: &App,
    caller: &User,
    detail: ConversationDetail,
    content: NewContent,
    key: Option<&str>,
) -> Result<Sent, AppError> {
    if detail.conversation.status == ConversationStatus::Closed {
        return Err(StoreError::ConversationInactive.into());
    }
    let (message, mut deliveries, body) = prepare(app, caller, &detail, &content).await?;
    let new = NewMessage {
        detail: &detail,
        message: &message,
        deliveries: &deliveries,
        idempotency: key.map(|k| (caller.id, k)),
        preview: preview(&content),
    };
    match app.messages.create_message(&new).await {
        Ok(()) => {}
        // A concurrent request with the same key stored its message first: answer with that one.
        Err(StoreError::IdempotencyKeyUsed) => {
            return replay(app, caller, key).await?.ok_or_else(|| StoreError::IdempotencyKeyUsed.into());
        }
        Err(e) => return Err(e.into()),
    }
    observe::conversation(&detail.conversation.id);
    // Members hear of the message while Twilio is called: the recipients are those of a moment
    // ago, and the event precedes every status callback's.
    let created = Event::new(EventKind::MessageCreated, message.conversation_id, message.view(&deliveries));
    let sending: Vec<bool> = deliveries.iter().map(|d| d.status == DeliveryStatus::Pending).collect();
    tokio::join!(
        dispatch(app, &message, &mut deliveries, &body),
        realtime::to_members(app, &detail, vec![created])
    );
    realtime::publish_send_failures(app, message.conversation_id, &deliveries, &sending).await;
    Ok(Sent { detail, message, deliveries, replayed: false })
}

/// The message and its deliveries, before anything is stored or sent.
pub async fn prepare(
    app: &App,
    caller: &User,
    detail: &ConversationDetail,
    content: &NewContent,
) -> Result<(Message, Vec<Delivery>, String), AppError> {
    let now = Utc::now();
    let message = Message {
        id: MessageId::new(),
        conversation_id: detail.conversation.id,
        sender: Sender {
            kind: SenderKind::User,
            user_id: Some(caller.id),
            phone_number: None,
            display_name: caller.display_name(),
        },
        content: content.content.clone(),
        media_urls: content.media_urls.clone(),
        media_content_types: Vec::new(),
        twilio_sid: None,
        created_at: now,
        edited_at: None,
        deleted: false,
    };
    // In a group the phones see who wrote; in a one-to-one SMS conversation they know already.
    let prefix = (detail.conversation.kind == ConversationKind::Group).then(|| caller.display_name());
    let body = sms_body(prefix.as_deref(), &content.content);
    let recipients: Vec<(_, Pair)> = detail
        .participants
        .iter()
        .filter_map(|p| match &p.member {
            Member::Sms { phone, proxy_number } => Some((p.id, (proxy_number.clone(), phone.clone()))),
            Member::User { .. } => None,
        })
        .collect();
    let opted_out = if recipients.is_empty() {
        Default::default()
    } else {
        let pairs: Vec<Pair> = recipients.iter().map(|(_, pair)| pair.clone()).collect();
        app.messages.opted_out(&pairs).await?
    };
    let cost = segments(&body);
    let deliveries = recipients
        .into_iter()
        .map(|(participant_id, (from, to))| {
            let status = if opted_out.contains(&(from.clone(), to.clone())) {
                DeliveryStatus::OptedOut
            } else {
                DeliveryStatus::Pending
            };
            Delivery {
                conversation_id: message.conversation_id,
                message_id: message.id,
                participant_id,
                to,
                from,
                status,
                twilio_sid: None,
                error_code: None,
                error_message: None,
                segments: cost,
                updated_at: now,
                tentative: false,
            }
        })
        .collect();
    Ok((message, deliveries, body))
}

/// Sends every pending delivery (bounded concurrency) and records the outcomes in one write.
/// Never fails the request: a recipient's failure is its delivery's status.
pub async fn dispatch(app: &App, message: &Message, deliveries: &mut [Delivery], body: &str) {
    let callback = app.settings.status_callback_url.clone();
    let pending: Vec<usize> =
        (0..deliveries.len()).filter(|i| deliveries[*i].status == DeliveryStatus::Pending).collect();
    if pending.is_empty() {
        return;
    }
    // Names the message before any Twilio call: a timeout from here on leaves pending deliveries.
    tracing::info!(conversationId = %message.conversation_id, messageId = %message.id, sends = pending.len(), "sending sms");
    // Owned requests, so the futures borrow nothing (they must be Send for the Lambda runtime).
    let requests: Vec<(usize, OutboundSms)> = pending
        .iter()
        .map(|&i| {
            let delivery = &deliveries[i];
            let sms = OutboundSms {
                to: delivery.to.clone(),
                from: delivery.from.clone(),
                body: body.to_string(),
                media_urls: message.media_urls.clone(),
                status_callback: callback.as_ref().map(|url| format!("{url}?deliveryId={}", delivery.id())),
            };
            (i, sms)
        })
        .collect();
    let sender = app.sms.clone();
    let outcomes: Vec<_> = futures::stream::iter(requests)
        .map(|(i, sms)| {
            let sender = sender.clone();
            async move { (i, sender.send(&sms).await) }
        })
        .buffer_unordered(app.settings.sms_send_concurrency.max(1))
        .collect()
        .await;
    let now = Utc::now();
    let mut newly_opted_out = Vec::new();
    for (i, outcome) in outcomes {
        let delivery = &mut deliveries[i];
        delivery.updated_at = now;
        match outcome {
            Ok(accepted) => {
                delivery.status = accepted.status;
                delivery.twilio_sid = Some(accepted.sid);
                observe::count(Metric::SmsQueued);
                tracing::info!(deliveryId = %delivery.id(), to = %delivery.to.masked(), status = delivery.status.as_str(), "sms accepted");
            }
            // Twilio's 21610: the phone unsubscribed from this number (an opt-out we had not seen).
            Err(err) if err.code() == Some(OPTED_OUT_AT_TWILIO) => {
                delivery.status = DeliveryStatus::OptedOut;
                delivery.error_code = err.code();
                delivery.error_message = Some(err.to_string());
                newly_opted_out.push((delivery.from.clone(), delivery.to.clone()));
                observe::count(Metric::SmsOptedOut);
                tracing::info!(deliveryId = %delivery.id(), to = %delivery.to.masked(), "recipient opted out at Twilio");
            }
            Err(err) => {
                delivery.status = DeliveryStatus::Failed;
                // Without Twilio's answer the SMS may still go out: callbacks may overrule us.
                delivery.tentative = matches!(err, SendError::Timeout | SendError::Unavailable(_));
                delivery.error_code = err.code();
                delivery.error_message = Some(err.to_string());
                observe::count(Metric::SmsFailed);
                // Twilio's texts can quote the phone number: log the kind and code only.
                tracing::warn!(deliveryId = %delivery.id(), to = %delivery.to.masked(), errorCode = ?err.code(), errorKind = err.kind(), "sms failed");
            }
        }
    }
    for (number, phone) in &newly_opted_out {
        if let Err(err) = app.messages.set_opt_out(number, phone, true).await {
            tracing::error!(error = %err, "could not record an opt-out Twilio reported");
        }
    }
    let sent: Vec<Delivery> = pending.iter().map(|&i| deliveries[i].clone()).collect();
    if let Err(err) = app.messages.record_deliveries(&sent).await {
        // The SMS went out; their records stay `pending` until the status callbacks arrive.
        tracing::error!(messageId = %message.id, error = %err, "could not record send outcomes");
    }
}

/// How long a replay leaves a `pending` delivery alone after its last write (the write-ahead, a
/// reset) or another replay's claim: a send of it may still be in flight (a Lambda runs at most
/// 15 minutes).
pub const REDELIVERY_CLAIM_MINUTES: i64 = 15;

/// What an operator's replay may do.
#[derive(Clone, Copy, Debug)]
pub struct RedeliverOptions {
    /// Also re-send tentative failures (a timeout or a Twilio 5xx: the SMS may have gone out).
    pub force: bool,
    /// A `pending` delivery written or claimed more recently than this is left alone.
    pub in_flight: chrono::Duration,
}

impl Default for RedeliverOptions {
    fn default() -> Self {
        Self { force: false, in_flight: chrono::Duration::minutes(REDELIVERY_CLAIM_MINUTES) }
    }
}

/// Why a replay left a `pending` or `failed` delivery alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skipped {
    /// A failure we concluded without Twilio's answer: Twilio may have sent it (`--force`).
    Tentative,
    /// Its participant left the conversation, or now texts from another number.
    NotAParticipant,
    /// Another send or replay may own it (written or claimed within `in_flight`), or a status
    /// callback moved it meanwhile.
    Claimed,
}

impl Skipped {
    pub fn reason(self) -> &'static str {
        match self {
            Self::Tentative => "tentative failure: Twilio may have sent it (--force re-sends it)",
            Self::NotAParticipant => "the participant left or texts from another number now",
            Self::Claimed => "a send or replay may still own it, or it moved on meanwhile",
        }
    }
}

/// What a replay did.
#[derive(Debug, Default)]
pub struct Redelivery {
    /// The deliveries it handled, as they now stand: sent again (or failed again), or
    /// `opted_out` without an SMS.
    pub attempted: Vec<Delivery>,
    /// The `pending` or `failed` deliveries it left alone, and why.
    pub skipped: Vec<(Delivery, Skipped)>,
}

/// An operator's replay (`xtask redeliver`): sends the message's `pending` deliveries (left by a
/// crash after the write-ahead) and `failed` ones again, with the same delivery ids so status
/// callbacks still find them, and records the outcomes as a send does. Only in an active
/// conversation, only to participants still there with the same (proxy, phone) pair; opted-out
/// pairs are recorded `opted_out` without an SMS, as a send does. Each delivery is claimed by a
/// conditional update first (the reset of a failure, or `claim_pending_delivery`), so concurrent
/// replays, or a send still in flight, never send it twice. Tentative failures only with `force`.
pub async fn redeliver(
    app: &App,
    conversation_id: ConversationId,
    message_id: MessageId,
    options: RedeliverOptions,
) -> Result<Redelivery, AppError> {
    let not_found = || AppError::not_found("message not found");
    let StoredMessage { message, deliveries } =
        app.messages.get_message(message_id).await?.ok_or_else(not_found)?;
    if message.conversation_id != conversation_id {
        return Err(not_found());
    }
    if message.deleted {
        return Err(AppError::conflict("message_deleted", "the message was deleted: nothing to send"));
    }
    let detail = app.conversations.get_conversation(conversation_id).await?.ok_or_else(not_found)?;
    if detail.conversation.status != ConversationStatus::Active {
        return Err(AppError::conflict(
            "conversation_closed",
            "the conversation is closed: nothing is sent again",
        ));
    }
    let mut report = Redelivery::default();
    let mut eligible = Vec::new();
    for delivery in deliveries {
        if !matches!(delivery.status, DeliveryStatus::Pending | DeliveryStatus::Failed) {
            continue;
        }
        let still_there = detail.participants.iter().any(|p| {
            p.id == delivery.participant_id
                && matches!(&p.member, Member::Sms { phone, proxy_number }
                    if *phone == delivery.to && *proxy_number == delivery.from)
        });
        if !still_there {
            report.skipped.push((delivery, Skipped::NotAParticipant));
        } else if delivery.status == DeliveryStatus::Failed && delivery.tentative && !options.force {
            report.skipped.push((delivery, Skipped::Tentative));
        } else {
            eligible.push(delivery);
        }
    }
    let opted_out = if eligible.is_empty() {
        Default::default()
    } else {
        let pairs: Vec<Pair> = eligible.iter().map(|d| (d.from.clone(), d.to.clone())).collect();
        app.messages.opted_out(&pairs).await?
    };
    let stale_before = Utc::now() - options.in_flight;
    let (mut retry, mut opted) = (Vec::new(), Vec::new());
    for mut delivery in eligible {
        let claimed = match delivery.status {
            // A final failure outranks `queued`: it must go back to pending before a new outcome can land.
            DeliveryStatus::Failed => app.messages.reset_failed_delivery(&delivery).await?,
            _ => app.messages.claim_pending_delivery(&delivery, stale_before).await?,
        };
        if !claimed {
            report.skipped.push((delivery, Skipped::Claimed));
            continue;
        }
        delivery.status = DeliveryStatus::Pending;
        (delivery.twilio_sid, delivery.error_code, delivery.error_message) = (None, None, None);
        delivery.tentative = false;
        delivery.updated_at = Utc::now();
        if opted_out.contains(&(delivery.from.clone(), delivery.to.clone())) {
            delivery.status = DeliveryStatus::OptedOut;
            opted.push(delivery);
        } else {
            retry.push(delivery);
        }
    }
    if !opted.is_empty() {
        app.messages.record_deliveries(&opted).await?;
    }
    // The same text as the first attempt: in a group, prefixed with the sender's name.
    let prefix =
        (detail.conversation.kind == ConversationKind::Group).then_some(&message.sender.display_name);
    let body = sms_body(prefix.map(String::as_str), &message.content);
    dispatch(app, &message, &mut retry, &body).await;
    report.attempted = opted;
    report.attempted.append(&mut retry);
    Ok(report)
}

pub async fn history(
    app: &App,
    caller: &User,
    conversation_id: ConversationId,
    page: &PageRequest,
) -> Result<Page<StoredMessage>, AppError> {
    let detail = conversations::load_visible(app, caller, conversation_id).await?;
    Ok(app.messages.list_messages(detail.conversation.id, page).await?)
}

/// Author-only edit (the new text is not re-sent by SMS) or soft delete.
pub async fn change(
    app: &App,
    caller: &User,
    message_id: MessageId,
    edit: Option<EditRequest>,
) -> Result<StoredMessage, AppError> {
    let change = match edit {
        Some(request) => {
            let content = validate_content(Some(&request.content), &[], "content")?;
            MessageChange::Edit { content: content.content, at: Utc::now() }
        }
        None => MessageChange::Delete { at: Utc::now() },
    };
    let StoredMessage { message, deliveries } =
        app.messages.get_message(message_id).await?.ok_or(StoreError::MessageNotFound)?;
    // Only current participants see (and so may change) the conversation's messages.
    let detail = conversations::load_visible(app, caller, message.conversation_id)
        .await
        .map_err(|_| AppError::from(StoreError::MessageNotFound))?;
    let changed = app.messages.change_message(&message, caller.id, change).await?;
    let kind = if changed.deleted { EventKind::MessageDeleted } else { EventKind::MessageUpdated };
    let event = Event::new(kind, changed.conversation_id, changed.view(&deliveries));
    realtime::to_members(app, &detail, vec![event]).await;
    Ok(StoredMessage { message: changed, deliveries })
}
