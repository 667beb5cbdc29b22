//! Idle conversations (Twilio Conversations' `Timers.Closed`): an SMS or group conversation
//! without a message for its timer closes by itself and frees its routes and proxy numbers, as
//! its admins' close does, with the same `conversation.closed` event. The timer is the
//! conversation's own (its admins set it) or the deployment's (`IDLE_CLOSE_AFTER`).
//!
//! The meta item carries an entry in the idle index (GSI1 `IDLE#<shard>`, sorted by deadline).
//! A send moves it in the meta update of its own transaction; an inbound text moves only the
//! activity, so an entry may come due early, never late. The sweeper ([`sweep`], every minute)
//! reads what is due, reads each conversation again and either moves its entry to the real
//! deadline or closes it, on condition that its last activity is still the one it read: a
//! message stored meanwhile keeps it open, a message after the close finds it closed.

use chrono::{DateTime, Utc};

use super::conversations::{announce_closed, load_visible, require_admin};
use super::App;
use crate::domain::conversation::{
    Conversation, ConversationDetail, ConversationKind, ConversationStatus, TimersRequest,
};
use crate::domain::ids::ConversationId;
use crate::domain::user::User;
use crate::error::AppError;
use crate::observe::{self, Metric};
use crate::ports::StoreError;

/// Conversations one sweep looks at (the next sweep takes the rest).
const SWEEP_LIMIT: usize = 200;

/// The conversation's idle deadline if its last activity were `at`.
pub fn deadline_after(app: &App, conversation: &Conversation, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    conversation
        .idle_close_after(app.settings.idle_close_after)
        .map(|seconds| at + chrono::Duration::seconds(seconds.into()))
}

/// Admins set the conversation's own timer, turn it off, or give it back to the deployment's.
pub async fn set_timer(
    app: &App,
    caller: &User,
    conversation_id: ConversationId,
    request: TimersRequest,
) -> Result<ConversationDetail, AppError> {
    let timer = request.validate()?;
    let mut detail = load_visible(app, caller, conversation_id).await?;
    require_admin(&detail, caller)?;
    if detail.conversation.status == ConversationStatus::Closed {
        return Err(StoreError::ConversationInactive.into());
    }
    if detail.conversation.kind == ConversationKind::Direct {
        return Err(AppError::conflict(
            "no_idle_timer",
            "a direct conversation holds no number: it never closes by itself",
        ));
    }
    detail.conversation.idle_timer = timer;
    let deadline = detail.conversation.idle_deadline(app.settings.idle_close_after);
    app.conversations.set_idle_timer(conversation_id, timer, deadline).await?;
    Ok(detail)
}

/// What one sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdleSweep {
    /// Closed: idle past their deadline.
    pub closed: usize,
    /// Looked at too early (a later message, a longer timer): their entry moved to the real deadline.
    pub rescheduled: usize,
}

/// Closes every conversation idle past its deadline at `now`. One conversation's failure does
/// not stop the others: it stays due and the next sweep tries again.
pub async fn sweep(app: &App, now: DateTime<Utc>) -> Result<IdleSweep, AppError> {
    let mut done = IdleSweep::default();
    for id in app.conversations.idle_due(now, SWEEP_LIMIT).await? {
        match look_at(app, id, now).await {
            Ok(Looked::Closed) => done.closed += 1,
            Ok(Looked::Rescheduled) => done.rescheduled += 1,
            Ok(Looked::Left) => {}
            Err(err) => tracing::warn!(conversationId = %id, error = %err, "idle conversation not swept"),
        }
    }
    if done.closed > 0 {
        tracing::info!(closed = done.closed, rescheduled = done.rescheduled, "idle conversations closed");
    }
    observe::add(Metric::ConversationsIdleClosed, done.closed);
    Ok(done)
}

enum Looked {
    Closed,
    Rescheduled,
    /// Changed under us (a message, a close): left for the next sweep.
    Left,
}

async fn look_at(app: &App, id: ConversationId, now: DateTime<Utc>) -> Result<Looked, AppError> {
    let Some(detail) = app.conversations.get_conversation(id).await? else {
        return Ok(Looked::Left);
    };
    if detail.conversation.status == ConversationStatus::Closed {
        return Ok(Looked::Left);
    }
    let seen = detail.conversation.last_message_at;
    match detail.conversation.idle_deadline(app.settings.idle_close_after) {
        Some(deadline) if deadline <= now => match app.conversations.close_idle(&detail, seen).await {
            Ok(()) => {
                tracing::info!(conversationId = %id, idleSince = %seen, "idle conversation closed");
                let mut closed = detail;
                closed.conversation.status = ConversationStatus::Closed;
                announce_closed(app, &closed).await;
                Ok(Looked::Closed)
            }
            // A message, a member or a close came first: it stays as that left it.
            Err(StoreError::Contention | StoreError::ConversationInactive) => Ok(Looked::Left),
            Err(err) => Err(err.into()),
        },
        // Not due yet (or no timer any more): the entry moves to the real deadline (or leaves).
        deadline => {
            let moved = app.conversations.reschedule_idle(id, seen, deadline).await?;
            Ok(if moved { Looked::Rescheduled } else { Looked::Left })
        }
    }
}
