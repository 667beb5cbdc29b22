//! Real-time use cases: WebSocket connect / disconnect / client frames, and the helpers every
//! conversation-changing use case publishes its events with (see `crate::realtime`).

use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::{App, Published};
use crate::auth::session;
use crate::auth::tokens::TokenKind;
use crate::domain::conversation::{ConversationDetail, ConversationStatus};
use crate::domain::ids::{ConnectionId, ConversationId, DeliveryId, UserId};
use crate::domain::message::{Delivery, DeliveryStatus};
use crate::domain::realtime::{Connection, DeliveryUpdate, Event, EventKind, Typing};
use crate::domain::user::User;
use crate::error::AppError;

/// Publishes to the conversation's web users as `detail` lists them.
pub async fn to_members(app: &App, detail: &ConversationDetail, events: Vec<Event>) -> Published {
    to_users(app, &detail.user_ids(), events).await
}

pub async fn to_users(app: &App, user_ids: &[UserId], events: Vec<Event>) -> Published {
    app.events.publish(app.connections.as_ref(), user_ids, &events).await
}

/// Publishes to the conversation's current web users, reading them first (one Query), for
/// callers that did not load the conversation. Nothing is read when publishing is disabled.
pub async fn to_conversation(app: &App, conversation_id: ConversationId, events: Vec<Event>) -> Published {
    if !app.events.is_enabled() {
        return Published::default();
    }
    match app.conversations.get_conversation(conversation_id).await {
        Ok(Some(detail)) => to_members(app, &detail, events).await,
        Ok(None) => Published::default(),
        Err(err) => {
            tracing::warn!(error = %err, "could not read a conversation to publish to");
            Published::default()
        }
    }
}

/// A `delivery.updated` event: `{messageId, deliveryId, participantId, status, twilioSid, errorCode, updatedAt}`.
pub fn delivery_event(
    delivery: DeliveryId,
    status: DeliveryStatus,
    twilio_sid: Option<&str>,
    error_code: Option<i64>,
) -> Event {
    let update = delivery_update(delivery, status, twilio_sid, error_code);
    Event::new(EventKind::DeliveryUpdated, delivery.conversation_id, update)
}

/// The payload of a `delivery.updated` event.
pub fn delivery_update(
    delivery: DeliveryId,
    status: DeliveryStatus,
    twilio_sid: Option<&str>,
    error_code: Option<i64>,
) -> DeliveryUpdate {
    DeliveryUpdate {
        message_id: delivery.message_id,
        delivery_id: delivery,
        participant_id: delivery.participant_id,
        status,
        twilio_sid: twilio_sid.map(str::to_string),
        error_code,
        updated_at: Utc::now(),
        attempts: None,
        next_attempt_at: None,
    }
}

/// After a send's Twilio calls: `delivery.updated` for each delivery that was being sent
/// (`sending[i]`) and ended failed or opted out, since no status callback will report those.
/// Accepted ones are reported by Twilio's callbacks. The recipients are read again: the calls
/// may have taken seconds.
pub async fn publish_send_failures(
    app: &App,
    conversation_id: ConversationId,
    deliveries: &[Delivery],
    sending: &[bool],
) {
    let events: Vec<Event> = deliveries
        .iter()
        .zip(sending)
        .filter(|(d, sent)| **sent && matches!(d.status, DeliveryStatus::Failed | DeliveryStatus::OptedOut))
        .map(|(d, _)| delivery_event(d.id(), d.status, d.twilio_sid.as_deref(), d.error_code))
        .collect();
    if !events.is_empty() {
        to_conversation(app, conversation_id, events).await;
    }
}

/// `$connect`: the access token from the query string (`?token=`) or the
/// `Sec-WebSocket-Protocol` header (`bearer, <token>`, for browsers, which cannot set headers).
/// One GetItem (the user, as on every request) and one PutItem.
pub async fn connect(app: &App, connection_id: &ConnectionId, token: Option<&str>) -> Result<User, AppError> {
    let token =
        token.filter(|t| !t.is_empty()).ok_or_else(|| AppError::Unauthorized("missing token".into()))?;
    let user = session::load(&app.tokens, app.users.as_ref(), token, TokenKind::Access).await?;
    app.connections.put_connection(&Connection::new(connection_id.clone(), user.id, Utc::now())).await?;
    Ok(user)
}

/// `$disconnect`: forgets the connection (GetItem + one transaction). Unknown connections are fine.
pub async fn disconnect(app: &App, connection_id: &ConnectionId) -> Result<(), AppError> {
    if let Some(user_id) = app.connections.connection_user(connection_id).await? {
        app.connections.delete_connection(user_id, connection_id).await?;
    }
    Ok(())
}

/// Forgets every connection of a user (deactivation): one Query and a delete per connection.
/// The sockets stay open until the client or API Gateway closes them, but receive nothing.
pub async fn forget_user(app: &App, user_id: UserId) -> Result<(), AppError> {
    for connection in app.connections.connections_of(&[user_id]).await? {
        app.connections.delete_connection(user_id, &connection.connection_id).await?;
    }
    Ok(())
}

/// A frame a client sends on its socket (`$default` route).
#[derive(Debug, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ClientFrame {
    /// Answered with `{"type":"pong"}` on the same connection.
    Ping,
    /// "I am typing in C": to the conversation's other web users.
    #[serde(rename_all = "camelCase")]
    Typing { conversation_id: String },
}

/// Handles one client frame. The sender is the connection's user (GSI1 Query); typing also reads
/// the conversation (one Query) to check membership and find the recipients.
pub async fn client_frame(
    app: &App,
    connection_id: &ConnectionId,
    body: &str,
) -> Result<Published, AppError> {
    let frame: ClientFrame = serde_json::from_str(body).map_err(|e| {
        AppError::validation("action", format!("expected {{\"action\":\"ping\"|\"typing\",…}}: {e}"))
    })?;
    let user_id = app
        .connections
        .connection_user(connection_id)
        .await?
        .ok_or_else(|| AppError::Unauthorized("unknown connection".into()))?;
    match frame {
        ClientFrame::Ping => {
            if let Err(err) = app.events.reply(connection_id, &json!({ "type": "pong" })).await {
                tracing::info!(error = %err, "pong not delivered");
            }
            Ok(Published { connections: 1, delivered: 1, ..Default::default() })
        }
        ClientFrame::Typing { conversation_id } => {
            let id = ConversationId::parse_or_not_found(&conversation_id)?;
            let detail = app
                .conversations
                .get_conversation(id)
                .await?
                .filter(|d| d.conversation.status == ConversationStatus::Active)
                .ok_or_else(|| AppError::not_found("conversation not found"))?;
            let sender = detail
                .participant_for_user(user_id)
                .ok_or_else(|| AppError::not_found("conversation not found"))?;
            let typing =
                Typing { user_id, participant_id: sender.id, display_name: sender.display_name.clone() };
            let event = Event::new(EventKind::Typing, id, typing);
            let others: Vec<UserId> = detail.user_ids().into_iter().filter(|u| *u != user_id).collect();
            Ok(to_users(app, &others, vec![event]).await)
        }
    }
}
