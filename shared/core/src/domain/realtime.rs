//! Real-time entities: a user's open WebSocket, and the events web clients receive on it
//! (docs/realtime.md).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::conversation::ParticipantView;
use super::ids::{ConnectionId, ConversationId, DeliveryId, MessageId, ParticipantId, UserId};
use super::message::DeliveryStatus;

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
    /// Per kind: the message view, [`DeliveryUpdate`], the participant view, [`ParticipantLeft`],
    /// [`Closed`] or [`Typing`] (the description's event schemas).
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
    #[serde(rename = "conversation.read")]
    ConversationRead,
    #[serde(rename = "typing")]
    Typing,
}

impl EventKind {
    /// Every kind, in the order docs/realtime.md lists them.
    pub const ALL: [EventKind; 9] = [
        Self::MessageCreated,
        Self::MessageUpdated,
        Self::MessageDeleted,
        Self::DeliveryUpdated,
        Self::ParticipantJoined,
        Self::ParticipantLeft,
        Self::ConversationClosed,
        Self::ConversationRead,
        Self::Typing,
    ];

    /// The `type` of the event's frame.
    pub fn name(self) -> &'static str {
        match self {
            Self::MessageCreated => "message.created",
            Self::MessageUpdated => "message.updated",
            Self::MessageDeleted => "message.deleted",
            Self::DeliveryUpdated => "delivery.updated",
            Self::ParticipantJoined => "participant.joined",
            Self::ParticipantLeft => "participant.left",
            Self::ConversationClosed => "conversation.closed",
            Self::ConversationRead => "conversation.read",
            Self::Typing => "typing",
        }
    }
}

/// The payload of `delivery.updated`: a delivery moved (a status callback, an attempt).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryUpdate {
    pub message_id: MessageId,
    pub delivery_id: DeliveryId,
    pub participant_id: ParticipantId,
    pub status: DeliveryStatus,
    pub twilio_sid: Option<String>,
    pub error_code: Option<i64>,
    pub updated_at: DateTime<Utc>,
    /// After a failed attempt that will be retried: the attempts made so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// After a failed attempt that will be retried: when the next one is due.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// The payload of `participant.left`: who left, and who was promoted to admin in their place.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParticipantLeft {
    pub participant: ParticipantView,
    pub promoted: Option<ParticipantView>,
}

/// The payload of `typing`: a web member is typing.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Typing {
    pub user_id: UserId,
    pub participant_id: ParticipantId,
    pub display_name: String,
}

/// The payload of `conversation.read`: a web member's read horizon moved. `unreadCount` goes
/// only to the reader's own devices (another member's count is theirs alone).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReadUpdate {
    pub participant_id: ParticipantId,
    pub user_id: UserId,
    pub last_read_message_id: MessageId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread_count: Option<u32>,
}

/// The payload of `conversation.closed`: `{}`.
#[derive(Clone, Debug, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Closed {}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_listed_once_under_its_serde_name() {
        let names: Vec<String> = EventKind::ALL
            .iter()
            .map(|k| serde_json::to_value(k).unwrap().as_str().unwrap().to_string())
            .collect();
        assert_eq!(names, EventKind::ALL.map(|k| k.name().to_string()));
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
    }
}
