//! Real-time entities: a user's open WebSocket, and the events web clients receive on it
//! (docs/realtime.md).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::ids::{ConnectionId, ConversationId, UserId};

/// How long a connection item lives without a `$disconnect`: API Gateway closes WebSocket
/// connections after 2 hours at most, and the TTL sweeps what a lost `$disconnect` left.
pub const CONNECTION_TTL_SECONDS: i64 = 3 * 3600;

/// One open WebSocket of a user.
#[derive(Clone, Debug, PartialEq)]
pub struct Connection {
    pub connection_id: ConnectionId,
    pub user_id: UserId,
    pub connected_at: DateTime<Utc>,
    /// Epoch seconds after which the item is swept (TTL) and no longer used.
    pub expires_at: i64,
}

impl Connection {
    pub fn new(connection_id: ConnectionId, user_id: UserId, now: DateTime<Utc>) -> Self {
        Self {
            connection_id,
            user_id,
            connected_at: now,
            expires_at: now.timestamp() + CONNECTION_TTL_SECONDS,
        }
    }

    /// Still usable at `now` (the TTL sweeps expired items late, so readers skip them).
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at > now.timestamp()
    }
}

/// What a client receives: `{id, type, conversationId, timestamp, payload}`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Unique and time-ordered (ULID): clients deduplicate by it.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub conversation_id: ConversationId,
    pub timestamp: DateTime<Utc>,
    pub payload: Value,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum EventKind {
    #[serde(rename = "message.created")]
    MessageCreated,
    #[serde(rename = "message.updated")]
    MessageUpdated,
    #[serde(rename = "message.deleted")]
    MessageDeleted,
    #[serde(rename = "delivery.updated")]
    DeliveryUpdated,
    #[serde(rename = "participant.joined")]
    ParticipantJoined,
    #[serde(rename = "participant.left")]
    ParticipantLeft,
    #[serde(rename = "conversation.closed")]
    ConversationClosed,
    #[serde(rename = "typing")]
    Typing,
}

impl Event {
    pub fn new(kind: EventKind, conversation_id: ConversationId, payload: impl Serialize) -> Self {
        Self {
            id: ulid::Ulid::new().to_string(),
            kind,
            conversation_id,
            timestamp: Utc::now(),
            payload: serde_json::to_value(payload).unwrap_or(Value::Null),
        }
    }
}
