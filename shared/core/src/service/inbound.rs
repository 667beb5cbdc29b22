//! An SMS from a phone to one of our numbers (the inbound webhook). **This is where a text is
//! routed**: the pair (To, From) names at most one conversation through its route item.
//!
//! Hot path: one batched read (the route and the number), one transaction (the message, its
//! pointer, the MessageSid record and the conversation's activity; a duplicate MessageSid stops
//! here), then the answer. A one-to-one text moves its user's inbox line in that transaction; a
//! group text enters the outbox as a pending relay, and the delivery pipeline's relay job
//! (`service::pipeline::relay`) fans it out to the other phones and the web members.

use chrono::Utc;

use super::{conversations, media_copy, pipeline, realtime, App};
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
/// Whole-body keywords that ask who is texting and how to stop (answered with
/// [`Settings::help_reply`](super::Settings::help_reply)).
pub const HELP_KEYWORDS: [&str; 2] = ["HELP", "INFO"];

/// The HELP answer when `HELP_REPLY` is not set: who operates the number and how to opt out.
pub fn default_help_reply(operator: &str) -> String {
    format!(
        "{operator}: texts to this number reach the people you talk with here. \
         Reply STOP to opt out, START to opt back in. Msg & data rates may apply."
    )
}
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
    /// HELP or INFO: `reply` is the answer for the phone (TwiML). Noted once as a system event
    /// in the conversation of the route (`conversation_id`), not relayed; nothing stored without one.
    Answered { conversation_id: Option<ConversationId>, reply: String },
}

/// What a whole-body keyword asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Keyword {
    OptOut,
    OptIn,
    Help,
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
    /// The keyword the whole body is (trimmed, any case), if any.
    fn keyword(&self) -> Option<Keyword> {
        let word = self.body.trim().to_uppercase();
        let is = |list: &[&str]| list.contains(&word.as_str());
        if is(&OPT_OUT_KEYWORDS) {
            Some(Keyword::OptOut)
        } else if is(&OPT_IN_KEYWORDS) {
            Some(Keyword::OptIn)
        } else if is(&HELP_KEYWORDS) {
            Some(Keyword::Help)
        } else {
            None
        }
    }
}

pub async fn receive(app: &App, sms: &InboundSms) -> Result<Outcome, AppError> {
    let lookup = app.webhooks.inbound_lookup(&sms.to, &sms.from).await?;
    let keyword = sms.keyword();
    if keyword == Some(Keyword::Help) {
        return answer_help(app, sms, lookup.route, lookup.in_pool).await;
    }
    // "Yes" or "start" from a phone that never opted out is just a text.
    let opt = keyword.map(|k| k == Keyword::OptOut).filter(|opted_out| *opted_out || lookup.opted_out);
    if let Some(target) = lookup.route {
        return deliver(app, sms, target, opt.map(Note::Opt)).await;
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

/// HELP / INFO to one of our numbers: the configured answer, always (a retried webhook's answer
/// was lost with its response). Noted once in the conversation of the route, not relayed; a
/// stranger (no route) gets the answer and no conversation.
async fn answer_help(
    app: &App,
    sms: &InboundSms,
    route: Option<RouteTarget>,
    in_pool: bool,
) -> Result<Outcome, AppError> {
    let reply = app.settings.help_reply.clone();
    let Some(target) = route else {
        if !in_pool {
            tracing::warn!(from = %sms.from.masked(), to = %sms.to.masked(), "HELP to a number not in the pool: not answered");
            return Ok(Outcome::Unroutable);
        }
        return Ok(Outcome::Answered { conversation_id: None, reply });
    };
    let conversation_id = target.conversation_id;
    match deliver(app, sms, target, Some(Note::Help)).await? {
        Outcome::Unroutable => Ok(Outcome::Answered { conversation_id: None, reply }),
        _ => Ok(Outcome::Answered { conversation_id: Some(conversation_id), reply }),
    }
}

/// The system event a keyword leaves in the conversation instead of a text.
#[derive(Clone, Copy, Debug)]
enum Note {
    /// STOP (true) or START (false): the opt-out changes in the same transaction.
    Opt(bool),
    Help,
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

/// Stores the text (or, for a keyword, a system event) in the conversation, once, then fans out
/// (system events reach the web members only: `pipeline::relay` sends them to no phone).
async fn deliver(
    app: &App,
    sms: &InboundSms,
    target: RouteTarget,
    note: Option<Note>,
) -> Result<Outcome, AppError> {
    crate::observe::conversation(&target.conversation_id);
    let now = Utc::now();
    let name =
        if target.display_name.is_empty() { sms.from.to_string() } else { target.display_name.clone() };
    let system = Sender {
        kind: SenderKind::System,
        user_id: None,
        phone_number: None,
        display_name: "Switchboard".into(),
    };
    let word = sms.body.trim().to_uppercase();
    let (sender, content) = match note {
        None => (
            Sender {
                kind: SenderKind::Sms,
                user_id: None,
                phone_number: Some(sms.from.clone()),
                display_name: name.clone(),
            },
            sms.body.trim().to_string(),
        ),
        Some(Note::Opt(true)) => (
            system,
            format!("{name} replied {word} and will no longer receive texts from {}. They can reply START to opt back in.", sms.to),
        ),
        Some(Note::Opt(false)) => {
            (system, format!("{name} replied {word} and will receive texts from {} again.", sms.to))
        }
        Some(Note::Help) => (system, format!("{name} texted {word} and was sent: {}", app.settings.help_reply)),
    };
    let opt = match note {
        Some(Note::Opt(opted_out)) => Some(opted_out),
        _ => None,
    };
    let message = Message {
        id: MessageId::new(),
        conversation_id: target.conversation_id,
        sender,
        content,
        media_urls: sms.media.iter().map(|(url, _)| url.clone()).collect(),
        media_content_types: sms.media.iter().map(|(_, kind)| kind.clone()).collect(),
        media_keys: Vec::new(),
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
    // The media copy was written ahead with the message (its mark): queue its job.
    let copy: Vec<Job> = media_copy::wants_copy(&message)
        .then(|| Job::media_copy(message.conversation_id, message.id))
        .into_iter()
        .collect();
    // One-to-one: the transaction above moved the one inbox line and there is nobody to relay to;
    // that user is the one to tell.
    if let Some(user_id) = target.inbox_user_id {
        let event = Event::new(EventKind::MessageCreated, message.conversation_id, message.view(&[]));
        let users = [user_id];
        tokio::join!(realtime::to_users(app, &users, vec![event]), pipeline::enqueue(app, &copy));
        return Ok(Outcome::Routed { conversation_id: target.conversation_id, relayed: false });
    }
    // A group: answer Twilio now; the relay job reads the group and fans out.
    let jobs: Vec<Job> =
        std::iter::once(Job::relay(message.conversation_id, message.id)).chain(copy).collect();
    pipeline::enqueue(app, &jobs).await;
    Ok(Outcome::Routed { conversation_id: target.conversation_id, relayed: true })
}
