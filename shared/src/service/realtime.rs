//! Real-time use cases: WebSocket connect / disconnect / client frames, and the helpers every
//! conversation-changing use case publishes its events with (see `crate::realtime`).

use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use crate::api::auth::load_session_user;
use crate::app::AppState;
use crate::auth::tokens::TokenKind;
use crate::domain::conversation::{ConversationDetail, ConversationStatus};
use crate::domain::message::{delivery_id, Delivery, DeliveryStatus};
use crate::domain::user::User;
use crate::error::AppError;
use crate::realtime::{Connection, Event, EventKind, Published};

/// The web users of a conversation: who receives its events.
pub fn web_users(detail: &ConversationDetail) -> Vec<String> {
    detail.user_participants().filter_map(|p| p.user_id().map(str::to_string)).collect()
}

/// Publishes to the conversation's web users as `detail` lists them.
pub async fn to_members(state: &AppState, detail: &ConversationDetail, events: Vec<Event>) -> Published {
    to_users(state, &web_users(detail), events).await
}

pub async fn to_users(state: &AppState, user_ids: &[String], events: Vec<Event>) -> Published {
    state.events.publish(state.store.as_ref(), user_ids, &events).await
}

/// Publishes to the conversation's current web users, reading them first (one Query), for
/// callers that did not load the conversation. Nothing is read when publishing is disabled.
pub async fn to_conversation(state: &AppState, conversation_id: &str, events: Vec<Event>) -> Published {
    if !state.events.is_enabled() {
        return Published::default();
    }
    match state.store.get_conversation(conversation_id).await {
        Ok(Some(detail)) => to_members(state, &detail, events).await,
        Ok(None) => Published::default(),
        Err(err) => {
            tracing::warn!(error = %err, "could not read a conversation to publish to");
            Published::default()
        }
    }
}

/// A `delivery.updated` event: `{messageId, deliveryId, participantId, status, twilioSid, errorCode, updatedAt}`.
pub fn delivery_event(
    conversation_id: &str,
    message_id: &str,
    participant_id: &str,
    status: DeliveryStatus,
    twilio_sid: Option<&str>,
    error_code: Option<i64>,
) -> Event {
    let payload = json!({
        "messageId": message_id,
        "deliveryId": delivery_id(conversation_id, message_id, participant_id),
        "participantId": participant_id,
        "status": status.as_str(),
        "twilioSid": twilio_sid,
        "errorCode": error_code,
        "updatedAt": Utc::now(),
    });
    Event::new(EventKind::DeliveryUpdated, conversation_id, payload)
}

/// After a send's Twilio calls: `delivery.updated` for each delivery that was being sent
/// (`sending[i]`) and ended failed or opted out, since no status callback will report those.
/// Accepted ones are reported by Twilio's callbacks. The recipients are read again: the calls
/// may have taken seconds.
pub async fn publish_send_failures(
    state: &AppState,
    conversation_id: &str,
    deliveries: &[Delivery],
    sending: &[bool],
) {
    let events: Vec<Event> = deliveries
        .iter()
        .zip(sending)
        .filter(|(d, sent)| **sent && matches!(d.status, DeliveryStatus::Failed | DeliveryStatus::OptedOut))
        .map(|(d, _)| {
            delivery_event(
                conversation_id,
                &d.message_id,
                &d.participant_id,
                d.status,
                d.twilio_sid.as_deref(),
                d.error_code,
            )
        })
        .collect();
    if !events.is_empty() {
        to_conversation(state, conversation_id, events).await;
    }
}

/// `$connect`: the access token from the query string (`?token=`) or the
/// `Sec-WebSocket-Protocol` header (`bearer, <token>`, for browsers, which cannot set headers).
/// One GetItem (the user, as on every request) and one PutItem.
pub async fn connect(state: &AppState, connection_id: &str, token: Option<&str>) -> Result<User, AppError> {
    let token =
        token.filter(|t| !t.is_empty()).ok_or_else(|| AppError::Unauthorized("missing token".into()))?;
    let claims = state.tokens.verify(token, TokenKind::Access)?;
    let user = load_session_user(state, &claims.sub, claims.ver).await?;
    state.store.put_connection(&Connection::new(connection_id, &user.id, Utc::now())).await?;
    Ok(user)
}

/// `$disconnect`: forgets the connection (GSI1 Query + DeleteItem). Unknown connections are fine.
pub async fn disconnect(state: &AppState, connection_id: &str) -> Result<(), AppError> {
    if let Some(user_id) = state.store.connection_user(connection_id).await? {
        state.store.delete_connection(&user_id, connection_id).await?;
    }
    Ok(())
}

/// Forgets every connection of a user (deactivation): one Query and a DeleteItem per connection.
/// The sockets stay open until the client or API Gateway closes them, but receive nothing.
pub async fn forget_user(state: &AppState, user_id: &str) -> Result<(), AppError> {
    for connection in state.store.connections_of(&[user_id.to_string()]).await? {
        state.store.delete_connection(user_id, &connection.connection_id).await?;
    }
    Ok(())
}

/// A frame a client sends on its socket (`$default` route).
#[derive(Debug, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase", deny_unknown_fields)]
pub enum ClientFrame {
    /// Answered with `{"type":"pong"}` on the same connection.
    Ping,
    /// "I am typing in C": to the conversation's other web users.
    #[serde(rename_all = "camelCase")]
    Typing { conversation_id: String },
}

/// Handles one client frame. The sender is the connection's user (GSI1 Query); typing also reads
/// the conversation (one Query) to check membership and find the recipients.
pub async fn client_frame(state: &AppState, connection_id: &str, body: &str) -> Result<Published, AppError> {
    let frame: ClientFrame = serde_json::from_str(body).map_err(|e| {
        AppError::validation("action", format!("expected {{\"action\":\"ping\"|\"typing\",…}}: {e}"))
    })?;
    let user_id = state
        .store
        .connection_user(connection_id)
        .await?
        .ok_or_else(|| AppError::Unauthorized("unknown connection".into()))?;
    match frame {
        ClientFrame::Ping => {
            if let Err(err) = state.events.reply(connection_id, &json!({ "type": "pong" })).await {
                tracing::info!(error = %err, "pong not delivered");
            }
            Ok(Published { connections: 1, delivered: 1, ..Default::default() })
        }
        ClientFrame::Typing { conversation_id } => {
            let id = super::conversations::require_id(&conversation_id, "conversation")?;
            let detail = state
                .store
                .get_conversation(&id)
                .await?
                .filter(|d| d.participant_for_user(&user_id).is_some())
                .filter(|d| d.conversation.status == ConversationStatus::Active)
                .ok_or_else(|| AppError::not_found("conversation not found"))?;
            let sender = detail.participant_for_user(&user_id).expect("checked above");
            let event = Event::new(
                EventKind::Typing,
                &id,
                json!({ "userId": user_id, "participantId": sender.id, "displayName": sender.display_name }),
            );
            let others: Vec<String> = web_users(&detail).into_iter().filter(|u| *u != user_id).collect();
            Ok(to_users(state, &others, vec![event]).await)
        }
    }
}
