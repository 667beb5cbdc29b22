//! Typed ids. Records are named by ULIDs (time-sortable, 26 characters); each kind of record has
//! its own type, so a message id cannot be passed where a user id is expected. Ids are parsed
//! once, where they enter (a path, a body, a token, a stored item); an id that does not parse
//! names nothing, so the edge answers "not found" without reading anything.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use ulid::{Generator, Ulid};

use crate::error::AppError;

/// A new ULID, after every one this process made before: within one millisecond a plain
/// `Ulid::new()` is random in its low bits, and history is ordered by message id, so two
/// messages stored in the same millisecond could list in the wrong order.
fn monotonic() -> Ulid {
    static GENERATOR: Mutex<Option<Generator>> = Mutex::new(None);
    let mut generator = GENERATOR.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    // Overflow (2^80 ids in one millisecond) cannot happen in practice; fall back to random.
    generator.get_or_insert_with(Generator::new).generate().unwrap_or_else(|_| Ulid::new())
}

/// Not a ULID: it cannot name any record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {0} id")]
pub struct InvalidId(pub &'static str);

macro_rules! ulid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Ulid);

        impl $name {
            /// What the id names, for messages ("conversation not found").
            pub const WHAT: &'static str = $what;

            /// A new id, ordered after every id this process made before.
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                Self(monotonic())
            }

            /// Parses a ULID (surrounding whitespace ignored).
            pub fn parse(raw: &str) -> Result<Self, InvalidId> {
                Ulid::from_string(raw.trim()).map(Self).map_err(|_| InvalidId($what))
            }

            /// Parses an id a caller gave: one that does not parse names nothing they may see.
            pub fn parse_or_not_found(raw: &str) -> Result<Self, AppError> {
                Self::parse(raw).map_err(|_| AppError::not_found(concat!($what, " not found")))
            }

            pub fn ulid(self) -> Ulid {
                self.0
            }
        }

        impl From<Ulid> for $name {
            fn from(ulid: Ulid) -> Self {
                Self(ulid)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(raw: &str) -> Result<Self, InvalidId> {
                Self::parse(raw)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                schema::ulid(concat!("A ", $what, " id: a ULID (26 characters, sorts by creation time)."))
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}
    };
}

/// The OpenAPI schemas of the ids (feature `openapi`).
#[cfg(feature = "openapi")]
mod schema {
    use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
    use utoipa::openapi::RefOr;

    /// Crockford's base32, canonical (upper-case) as the API writes ids.
    pub const ULID_PATTERN: &str = "^[0-7][0-9A-HJKMNP-TV-Z]{25}$";

    pub fn ulid(description: &str) -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(ULID_PATTERN))
            .description(Some(description))
            .examples(["01JDX3H7R5P2N8K4J6G0F9E1D2"])
            .into()
    }

    pub fn delivery_id() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(
                "^[0-7][0-9A-HJKMNP-TV-Z]{25}-[0-7][0-9A-HJKMNP-TV-Z]{25}-[0-7][0-9A-HJKMNP-TV-Z]{25}$",
            ))
            .description(Some(
                "A delivery id: `<conversationId>-<messageId>-<participantId>`. Twilio's status \
                 callbacks name it (`?deliveryId=`).",
            ))
            .examples(["01JDX3H7R5P2N8K4J6G0F9E1D2-01JDX3K2W8Q9M4T6V0B1C2D3E4-01JDX3H7R6A1B2C3D4E5F6G7H8"])
            .into()
    }
}

ulid_id!(
    /// A registered user.
    UserId,
    "user"
);
ulid_id!(
    /// A conversation (direct, SMS or group).
    ConversationId,
    "conversation"
);
ulid_id!(
    /// One participant of one conversation (a web user or a phone).
    ParticipantId,
    "participant"
);
ulid_id!(
    /// A message; ULIDs sort by time, so history pages are key ranges.
    MessageId,
    "message"
);
ulid_id!(
    /// One entry of a user's address book.
    ContactId,
    "contact"
);

/// One SMS delivery: the (conversation, message, participant) it is for. Written
/// `<conversation>-<message>-<participant>` (ULIDs never contain '-'): our id for it in the
/// StatusCallback URL, enough to find the record without an index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeliveryId {
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
    pub participant_id: ParticipantId,
}

impl DeliveryId {
    pub fn parse(raw: &str) -> Result<Self, InvalidId> {
        let invalid = InvalidId("delivery");
        let mut parts = raw.split('-');
        let (Some(c), Some(m), Some(p), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid);
        };
        Ok(Self {
            conversation_id: ConversationId::parse(c).map_err(|_| invalid)?,
            message_id: MessageId::parse(m).map_err(|_| invalid)?,
            participant_id: ParticipantId::parse(p).map_err(|_| invalid)?,
        })
    }
}

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.conversation_id, self.message_id, self.participant_id)
    }
}

impl FromStr for DeliveryId {
    type Err = InvalidId;
    fn from_str(raw: &str) -> Result<Self, InvalidId> {
        Self::parse(raw)
    }
}

impl Serialize for DeliveryId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DeliveryId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for DeliveryId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schema::delivery_id()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for DeliveryId {}

/// API Gateway's id of one open WebSocket (not ours, not a ULID: e.g. `L0SM9cOFvHcCIhw=`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConnectionId(String);

impl ConnectionId {
    /// Connection ids are opaque; only an empty one or an absurdly long one is refused.
    pub fn parse(raw: &str) -> Result<Self, InvalidId> {
        match raw.trim() {
            id if id.is_empty() || id.len() > 128 => Err(InvalidId("connection")),
            id => Ok(Self(id.to_string())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_ulids_only_and_round_trip_as_strings() {
        let id = ConversationId::new();
        assert_eq!(ConversationId::parse(&id.to_string()), Ok(id));
        assert_eq!(ConversationId::parse(&format!("  {id} ")), Ok(id));
        assert_eq!(ConversationId::parse("not-an-id"), Err(InvalidId("conversation")));
        assert_eq!(UserId::parse(&"9".repeat(5000)), Err(InvalidId("user")));
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<ConversationId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<ConversationId>("\"nope\"").is_err());
    }

    #[test]
    fn new_ids_are_ordered_even_within_a_millisecond() {
        let ids: Vec<MessageId> = (0..1000).map(|_| MessageId::new()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn a_bad_id_from_a_caller_is_not_found() {
        let err = MessageId::parse_or_not_found("x").unwrap_err();
        assert_eq!(err.code(), "not_found");
        assert_eq!(err.to_string(), "message not found");
    }

    #[test]
    fn delivery_ids_round_trip_and_reject_garbage() {
        let id = DeliveryId {
            conversation_id: ConversationId::new(),
            message_id: MessageId::new(),
            participant_id: ParticipantId::new(),
        };
        assert_eq!(DeliveryId::parse(&id.to_string()), Ok(id));
        assert!(DeliveryId::parse("a-b-c").is_err());
        assert!(DeliveryId::parse(&format!("{}-{}", id.conversation_id, id.message_id)).is_err());
        assert!(DeliveryId::parse(&format!("{id}-x")).is_err());
    }

    #[test]
    fn connection_ids_are_opaque_but_bounded() {
        assert_eq!(ConnectionId::parse("L0SM9cOFvHcCIhw=").unwrap().as_str(), "L0SM9cOFvHcCIhw=");
        assert!(ConnectionId::parse("").is_err());
        assert!(ConnectionId::parse(&"x".repeat(129)).is_err());
    }
}
