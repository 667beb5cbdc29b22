//! An SMS from a phone to one of our numbers (the inbound webhook). **This is where a text is
//! routed**: the pair (To, From) names at most one conversation through its route item.
//!
//! Hot path: one batched read (the route and the number), one transaction (the message, its
//! pointer, the MessageSid record and the conversation's activity; a duplicate MessageSid stops
//! here), then the answer. A one-to-one text moves its user's inbox line in that transaction; a
//! group text enters the outbox as a pending relay, and the delivery pipeline's relay job
//! (`service::pipeline::relay`) fans it out to the other phones and the web members.

use chrono::Utc;

use super::{conversations, pipeline, realtime, App};
use crate::domain::ids::{ConversationId, MessageId};
use crate::domain::message::{Message, Sender, SenderKind};
use crate::domain::phone::E164;
use crate::domain::realtime::{Event, EventKind};
use crate::error::AppError;
use crate::ports::queue::Job;
use crate::ports::webhooks::{InboundWrite, OptChange, RouteTarget};
use crate::ports::StoreError;

/// Whole-body keywords (any case) that opt a phone out of the number it texted.
pub const OPT_OUT_KEYWORDS: [&str; 8] =
    ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"];
/// Whole-body keywords that opt it back in.
pub const OPT_IN_KEYWORDS: [&str; 3] = ["START", "UNSTOP", "YES"];
/// MMS attachments kept per message (Twilio sends at most 10).
pub const MEDIA_MAX: usize = 10;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Stored in the conversation the route names (`relayed`: a group text, fanned out by the
    /// pipeline).
    Routed { conversation_id: ConversationId, relayed: bool },
    /// A first text to a user's number: a new SMS conversation for that user.
    Opened { conversation_id: ConversationId },
    /// This MessageSid was stored already (a retried or duplicated webhook).
    Duplicate,
    /// No route and nobody holds the number: nothing stored.
    Unroutable,
    /// STOP or START with no conversation to note it in: only the opt-out changed.
    OptChanged,
}

/// An inbound SMS as the webhook edge read it from Twilio's form (`switchboard::api::webhook`).
#[derive(Clone, Debug)]
pub struct InboundSms {
    pub message_sid: String,
    pub from: E164,
    pub to: E164,
    pub body: String,
    /// (MediaUrlN, MediaContentTypeN) of an MMS, at most [`MEDIA_MAX`].
    pub media: Vec<(String, String)>,
}

impl InboundSms {
    /// Some(true) for an opt-out keyword, Some(false) for an opt-in one.
    fn keyword(&self) -> Option<bool> {
        let word = self.body.trim().to_uppercase();
        if OPT_OUT_KEYWORDS.contains(&word.as_str()) {
            Some(true)
        } else if OPT_IN_KEYWORDS.contains(&word.as_str()) {
            Some(false)
        } else {
            None
        }
    }
}

pub async fn receive(app: &App, sms: &InboundSms) -> Result<Outcome, AppError> {
    let lookup = app.webhooks.inbound_lookup(&sms.to, &sms.from).await?;
    // "Yes" or "start" from a phone that never opted out is just a text.
    let opt = sms.keyword().filter(|opted_out| *opted_out || lookup.opted_out);
    if let Some(target) = lookup.route {
        return deliver(app, sms, target, opt).await;
    }
    let owner = match lookup.owner_id {
        Some(id) => {
            app.users.get_user(id).await?.filter(|u| u.active && u.virtual_number.as_ref() == Some(&sms.to))
        }
        None => None,
    };
    match (owner, opt) {
        // STOP / START without a conversation: record the opt-out change only.
        (_, Some(opted_out)) if lookup.in_pool => record_opt_only(app, sms, opted_out).await,
        (Some(owner), None) => {
            let Some(detail) = conversations::open_for_inbound(app, &owner, &sms.to, &sms.from).await? else {
                // Opened concurrently by a duplicate or another first text: use its route.
                let lookup = app.webhooks.inbound_lookup(&sms.to, &sms.from).await?;
                let target = lookup.route.ok_or(StoreError::Contention)?;
                return deliver(app, sms, target, None).await;
            };
            let phone = detail
                .participants
                .iter()
                .find(|p| p.user_id().is_none())
                .ok_or_else(|| AppError::internal("a new SMS conversation without its phone"))?;
            let target = RouteTarget {
                conversation_id: detail.conversation.id,
                participant_id: phone.id,
                display_name: phone.display_name.clone(),
                inbox_user_id: Some(owner.id),
            };
            tracing::info!(conversationId = %target.conversation_id, from = %sms.from.masked(), to = %sms.to.masked(), "new sms conversation from a first text");
            match deliver(app, sms, target, None).await? {
                Outcome::Routed { conversation_id, .. } => Ok(Outcome::Opened { conversation_id }),
                other => Ok(other),
            }
        }
        _ => {
            tracing::warn!(from = %sms.from.masked(), to = %sms.to.masked(), messageSid = %sms.message_sid, "unroutable inbound sms: no route and nobody holds the number");
            Ok(Outcome::Unroutable)
        }
    }
}

async fn record_opt_only(app: &App, sms: &InboundSms, opted_out: bool) -> Result<Outcome, AppError> {
    let write = InboundWrite {
        message_sid: &sms.message_sid,
        message: None,
        preview: String::new(),
        inbox_user_id: None,
        opt_change: Some(OptChange { number: &sms.to, phone: &sms.from, opted_out }),
        relay: false,
    };
    match app.webhooks.record_inbound(&write).await {
        Ok(()) => Ok(Outcome::OptChanged),
        Err(StoreError::Duplicate) => Ok(Outcome::Duplicate),
        Err(e) => Err(e.into()),
    }
}

/// Stores the text (or, for STOP/START, a system event) in the conversation, once, then fans out.
async fn deliver(
    app: &App,
    sms: &InboundSms,
    target: RouteTarget,
    opt: Option<bool>,
) -> Result<Outcome, AppError> {
    crate::observe::conversation(&target.conversation_id);
    let now = Utc::now();
    let name =
        if target.display_name.is_empty() { sms.from.to_string() } else { target.display_name.clone() };
    let (sender, content) = match opt {
        None => (
            Sender {
                kind: SenderKind::Sms,
                user_id: None,
                phone_number: Some(sms.from.clone()),
                display_name: name.clone(),
            },
            sms.body.trim().to_string(),
        ),
        Some(opted_out) => (
            Sender {
                kind: SenderKind::System,
                user_id: None,
                phone_number: None,
                display_name: "Switchboard".into(),
            },
            if opted_out {
                format!("{name} replied {} and will no longer receive texts from {}. They can reply START to opt back in.", sms.body.trim().to_uppercase(), sms.to)
            } else {
                format!(
                    "{name} replied {} and will receive texts from {} again.",
                    sms.body.trim().to_uppercase(),
                    sms.to
                )
            },
        ),
    };
    let message = Message {
        id: MessageId::new(),
        conversation_id: target.conversation_id,
        sender,
        content,
        media_urls: sms.media.iter().map(|(url, _)| url.clone()).collect(),
        media_content_types: sms.media.iter().map(|(_, kind)| kind.clone()).collect(),
        twilio_sid: Some(sms.message_sid.clone()),
        created_at: now,
        edited_at: None,
        deleted: false,
    };
    let preview = crate::domain::message::preview_of(&message.content, !message.media_urls.is_empty());
    let write = InboundWrite {
        message_sid: &sms.message_sid,
        message: Some(&message),
        preview,
        inbox_user_id: target.inbox_user_id,
        opt_change: opt.map(|opted_out| OptChange { number: &sms.to, phone: &sms.from, opted_out }),
        // A route without its one web user is a group's: the relay job fans the text out.
        relay: target.inbox_user_id.is_none(),
    };
    match app.webhooks.record_inbound(&write).await {
        Ok(()) => {}
        Err(StoreError::Duplicate) => {
            tracing::info!(messageSid = %sms.message_sid, "duplicate inbound webhook ignored");
            return Ok(Outcome::Duplicate);
        }
        Err(StoreError::ConversationInactive) => {
            tracing::warn!(conversationId = %target.conversation_id, "inbound sms for a closed conversation dropped");
            return Ok(Outcome::Unroutable);
        }
        Err(e) => return Err(e.into()),
    }
    // One-to-one: the transaction above moved the one inbox line and there is nobody to relay to;
    // that user is the one to tell.
    if let Some(user_id) = target.inbox_user_id {
        let event = Event::new(EventKind::MessageCreated, message.conversation_id, message.view(&[]));
        realtime::to_users(app, &[user_id], vec![event]).await;
        return Ok(Outcome::Routed { conversation_id: target.conversation_id, relayed: false });
    }
    // A group: answer Twilio now; the relay job reads the group and fans out.
    pipeline::enqueue(app, &[Job::relay(message.conversation_id, message.id)]).await;
    Ok(Outcome::Routed { conversation_id: target.conversation_id, relayed: true })
}
