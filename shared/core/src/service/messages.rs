//! Sending messages: write ahead, queue, answer.
//!
//! 1. One transaction stores the message and one `pending` delivery per SMS recipient, each with
//!    its text, in the outbox (opted-out phones get `opted_out` and no SMS): nothing is lost if
//!    the function dies after it.
//! 2. A job per delivery is queued for the delivery pipeline (`service::pipeline`), which sends
//!    each SMS, retries what Twilio throttles or fails, and reports progress as
//!    `delivery.updated` events. The answer (201) shows the deliveries `pending`.
//!
//! A send's time grows neither with its recipients nor with a slow Twilio: DynamoDB requests per
//! send are auth, the conversation, the opt-outs (batched) and the write-ahead transaction; the
//! jobs go out in batched queue calls.

use chrono::Utc;

use super::{conversations, media, pipeline, realtime, App};
use crate::domain::conversation::{
    ConversationDetail, ConversationKind, ConversationStatus, Member, SmsRequest,
};
use crate::domain::ids::{ConversationId, MessageId, UserId};
use crate::domain::media::{media_key, Attachment};
use crate::domain::message::{
    segments, sms_body, validate_content, validate_idempotency_key, validate_with_attachments, Delivery,
    DeliveryStatus, EditRequest, Message, NewContent, SendRequest, Sender, SenderKind,
};
use crate::domain::realtime::{Event, EventKind};
use crate::domain::routing::Pair;
use crate::domain::user::User;
use crate::error::AppError;
use crate::observe;
use crate::ports::messages::{MessageChange, NewMessage, StoredMessage};
use crate::ports::queue::Job;
use crate::ports::{Page, PageRequest, StoreError};

/// A stored message and its deliveries as they stand after sending.
pub struct Sent {
    pub detail: ConversationDetail,
    pub message: Message,
    pub deliveries: Vec<Delivery>,
    /// True when an earlier request with the same Idempotency-Key produced it.
    pub replayed: bool,
}

fn preview(content: &NewContent) -> String {
    crate::domain::message::preview_of(&content.content, content.has_media())
}

pub async fn send(
    app: &App,
    caller: &User,
    conversation_id: ConversationId,
    request: SendRequest,
    idempotency_key: Option<&str>,
) -> Result<Sent, AppError> {
    // The body's shape first (no request), as for any send; then a replay comes before the
    // uploads are looked at: a retry after the staged uploads expired still gets the first
    // message (its media were copied then).
    let unchecked = media::upload_keys(caller, &request.media)?
        .into_iter()
        .map(|upload| Attachment { upload, content_type: String::new() })
        .collect();
    validate_with_attachments(request.content.as_deref(), &request.media_urls, unchecked, "content")?;
    let key = idempotency_key.map(validate_idempotency_key).transpose()?;
    if let Some(sent) = replay(app, caller, key.as_deref()).await? {
        return Ok(sent);
    }
    // One HeadObject per upload (none without): a send naming a missing upload stores nothing.
    let attachments = media::uploaded_media(app, caller, &request.media).await?;
    let content =
        validate_with_attachments(request.content.as_deref(), &request.media_urls, attachments, "content")?;
    let detail = conversations::load_visible(app, caller, conversation_id).await?;
    send_in(app, caller, detail, content, key.as_deref()).await
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
    let (message, deliveries) = prepare(app, caller, &detail, &content).await?;
    media::attach(app, &content.attachments, &message).await?;
    let new = NewMessage {
        detail: &detail,
        message: &message,
        deliveries: &deliveries,
        idempotency: key.map(|k| (caller.id, k)),
        preview: preview(&content),
        idle_deadline: super::idle::deadline_after(app, &detail.conversation, message.created_at),
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
    // The write-ahead is the outbox: the pipeline sends each SMS from here, whatever happens to
    // this request. Members hear of the message at once; of each SMS as it progresses.
    let jobs: Vec<Job> = deliveries
        .iter()
        .filter(|d| d.status == DeliveryStatus::Pending)
        .map(|d| Job::delivery(d.id()))
        .collect();
    if !jobs.is_empty() {
        tracing::info!(conversationId = %message.conversation_id, messageId = %message.id, sends = jobs.len(), "sms queued");
    }
    let view = media::present(app, &message, message.view(&deliveries)).await;
    let created = Event::new(EventKind::MessageCreated, message.conversation_id, view);
    tokio::join!(pipeline::enqueue(app, &jobs), realtime::to_members(app, &detail, vec![created]));
    Ok(Sent { detail, message, deliveries, replayed: false })
}

/// The message and its deliveries (each with its text, in the outbox, or `opted_out`), before
/// anything is stored.
pub async fn prepare(
    app: &App,
    caller: &User,
    detail: &ConversationDetail,
    content: &NewContent,
) -> Result<(Message, Vec<Delivery>), AppError> {
    let now = Utc::now();
    let (id, conversation_id) = (MessageId::new(), detail.conversation.id);
    let message = Message {
        id,
        conversation_id,
        sender: Sender {
            kind: SenderKind::User,
            user_id: Some(caller.id),
            phone_number: None,
            display_name: caller.display_name(),
        },
        content: content.content.clone(),
        media_urls: content.media_urls.clone(),
        media_content_types: content.attachments.iter().map(|a| a.content_type.clone()).collect(),
        media_keys: (0..content.attachments.len()).map(|n| media_key(conversation_id, id, n)).collect(),
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
            let opted = opted_out.contains(&(from.clone(), to.clone()));
            Delivery::new(&message, participant_id, from, to, &body, cost, opted)
        })
        .collect();
    Ok((message, deliveries))
}

/// What an operator's redrive may do.
#[derive(Clone, Copy, Debug, Default)]
pub struct RedeliverOptions {
    /// Also send again tentative failures (the last attempt got no answer: Twilio may have sent it).
    pub force: bool,
}

/// Why a redrive left a delivery alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skipped {
    /// A failure we concluded without Twilio's answer: Twilio may have sent it (`--force`).
    Tentative,
    /// Its participant left the conversation, or now texts from another number.
    NotAParticipant,
    /// Still in the outbox: the pipeline sends it (and the sweeper queues it if its job was lost).
    InOutbox,
    /// A status callback or another redrive moved it meanwhile.
    Moved,
}

impl Skipped {
    pub fn reason(self) -> &'static str {
        match self {
            Self::Tentative => "tentative failure: Twilio may have sent it (--force sends it again)",
            Self::NotAParticipant => "the participant left or texts from another number now",
            Self::InOutbox => "still in the outbox: the pipeline sends it",
            Self::Moved => "it moved on meanwhile (a status callback or another redrive)",
        }
    }
}

/// What a redrive did.
#[derive(Debug, Default)]
pub struct Redelivery {
    /// The deliveries put back in the outbox (their jobs queued).
    pub requeued: Vec<Delivery>,
    /// The `pending` or `failed` deliveries it left alone, and why.
    pub skipped: Vec<(Delivery, Skipped)>,
}

/// An operator's redrive (`xtask redeliver`, docs/operations.md): puts a message's `failed`
/// deliveries (refused, or given up after their last attempt) back in the outbox, with the same
/// ids so status callbacks still find them, and queues them: the pipeline sends them as any other.
/// Only in an active conversation, only to participants still there with the same (proxy,
/// phone) pair; tentative failures only with `force`. Each reset is conditional on the failure
/// that was read, so concurrent redrives send a delivery once. Pending deliveries are the
/// pipeline's (the sweeper queues them if their job was lost).
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
    let now = Utc::now();
    for mut delivery in deliveries {
        let skip = match delivery.status {
            DeliveryStatus::Pending => Some(Skipped::InOutbox),
            DeliveryStatus::Failed => {
                let still_there = detail.participants.iter().any(|p| {
                    p.id == delivery.participant_id
                        && matches!(&p.member, Member::Sms { phone, proxy_number }
                            if *phone == delivery.to && *proxy_number == delivery.from)
                });
                if !still_there {
                    Some(Skipped::NotAParticipant)
                } else if delivery.tentative && !options.force {
                    Some(Skipped::Tentative)
                } else if !app.outbox.reset_failed_delivery(&delivery, now).await? {
                    Some(Skipped::Moved)
                } else {
                    None
                }
            }
            _ => continue,
        };
        match skip {
            Some(why) => report.skipped.push((delivery, why)),
            None => {
                delivery.status = DeliveryStatus::Pending;
                (delivery.twilio_sid, delivery.error_code, delivery.error_message) = (None, None, None);
                (delivery.attempts, delivery.next_attempt_at, delivery.tentative) = (0, Some(now), false);
                delivery.updated_at = now;
                report.requeued.push(delivery);
            }
        }
    }
    let jobs: Vec<Job> = report.requeued.iter().map(|d| Job::delivery(d.id())).collect();
    if !jobs.is_empty() {
        app.queue
            .enqueue(&jobs, std::time::Duration::ZERO)
            .await
            .map_err(|e| AppError::Upstream(format!("the delivery queue refused the redrive: {e}")))?;
    }
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
    let view = media::present(app, &changed, changed.view(&deliveries)).await;
    let event = Event::new(kind, changed.conversation_id, view);
    realtime::to_members(app, &detail, vec![event]).await;
    Ok(StoredMessage { message: changed, deliveries })
}
