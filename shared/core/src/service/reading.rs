//! Read state: a web participant marks a conversation read up to a message; their other devices
//! and the other web members hear of it. The counts themselves are kept by the store (see
//! [`crate::domain::conversation::ReadState`]).

use super::conversations::load_visible;
use super::{realtime, App};
use crate::domain::conversation::{ReadRequest, ReadView};
use crate::domain::ids::{ConversationId, MessageId, UserId};
use crate::domain::realtime::{Event, EventKind, ReadUpdate};
use crate::domain::user::User;
use crate::error::AppError;

/// Moves the caller's read horizon forward to `messageId` (an older one changes nothing and
/// tells no one). Readable conversations only, closed ones included: their history stays.
pub async fn mark_read(
    app: &App,
    caller: &User,
    conversation_id: ConversationId,
    request: ReadRequest,
) -> Result<ReadView, AppError> {
    let message_id = MessageId::parse(request.message_id.trim())
        .map_err(|_| AppError::validation("messageId", "is not a message id"))?;
    let detail = load_visible(app, caller, conversation_id).await?;
    let reader = detail
        .participant_for_user(caller.id)
        .ok_or_else(|| AppError::not_found("conversation not found"))?;
    let mark = app
        .conversations
        .mark_read(&detail, reader, message_id)
        .await?
        .ok_or_else(|| AppError::not_found("conversation not found"))?;
    if mark.moved {
        let update = |unread_count| ReadUpdate {
            participant_id: reader.id,
            user_id: caller.id,
            last_read_message_id: message_id,
            unread_count,
        };
        let others: Vec<UserId> = detail.user_ids().into_iter().filter(|id| *id != caller.id).collect();
        let own =
            Event::new(EventKind::ConversationRead, conversation_id, update(Some(mark.state.unread_count)));
        let theirs = Event::new(EventKind::ConversationRead, conversation_id, update(None));
        let reader_only = [caller.id];
        futures::join!(
            realtime::to_users(app, &reader_only, vec![own]),
            realtime::to_users(app, &others, vec![theirs]),
        );
    }
    Ok(ReadView {
        conversation_id,
        participant_id: reader.id,
        last_read_message_id: mark.state.last_read_message_id,
        unread_count: mark.state.unread_count,
    })
}
