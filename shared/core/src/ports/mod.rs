//! The ports: what the use cases need from the outside world, one small trait per aggregate.
//! The DynamoDB adapter (`switchboard::dynamo`) implements every storage port over one table;
//! [`crate::memory`] implements them in memory for fast tests. SMS and WebSocket posts leave
//! through [`sms::SmsSender`] and [`gateway::ConnectionGateway`].

pub mod connections;
pub mod contacts;
pub mod conversations;
pub mod gateway;
pub mod media;
pub mod media_copies;
pub mod messages;
pub mod numbers;
pub mod outbox;
pub mod provider;
pub mod queue;
pub mod sms;
pub mod users;
pub mod webhooks;

pub use connections::ConnectionStore;
pub use contacts::ContactStore;
pub use conversations::ConversationStore;
pub use gateway::{ConnectionGateway, GatewayError};
pub use media::MediaStore;
pub use media_copies::{MediaCopies, MediaCopyStore, MediaSource};
pub use messages::MessageStore;
pub use numbers::NumberPool;
pub use outbox::OutboxStore;
pub use provider::NumberProvider;
pub use queue::JobQueue;
pub use sms::SmsSender;
pub use users::UserStore;
pub use webhooks::WebhookStore;

use crate::domain::phone::E164;
use crate::domain::routing::Pair;

/// The largest page any listing returns, whatever the caller asks for.
pub const MAX_PAGE_SIZE: u32 = 100;

#[derive(Clone, Debug, Default)]
pub struct PageRequest {
    pub limit: u32,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl PageRequest {
    /// The first page of `limit` items.
    pub fn first(limit: u32) -> Self {
        Self { limit, cursor: None }
    }
}

#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_cursor: self.next_cursor }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UniqueField {
    Email,
    Username,
}

/// What a store operation can fail with. The variants say what happened to the data; what a
/// caller is told is decided by the use case (`crate::service::errors`).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0:?} already taken")]
    Taken(UniqueField),
    #[error("the user does not exist")]
    UserNotFound,
    #[error("the number is already in the pool")]
    NumberInPool,
    #[error("the number is not in the pool")]
    NumberNotInPool,
    #[error("the number is assigned to another user")]
    NumberTaken,
    #[error("the number is assigned to a user")]
    NumberAssigned,
    #[error("the number carries group conversations")]
    NumberInUse,
    #[error("the proxy number {} is no longer available", .0.masked())]
    ProxyUnavailable(E164),
    #[error("the user already has a virtual number")]
    UserHasNumber,
    #[error("the user has no virtual number")]
    UserHasNoNumber,
    #[error("a route for {} pair(s) is in use", .0.len())]
    RouteTaken(Vec<Pair>),
    #[error("already a participant")]
    ParticipantExists,
    #[error("the conversation for this pair exists")]
    DirectExists,
    #[error("the conversation is closed or gone")]
    ConversationInactive,
    #[error("the group is full")]
    GroupFull,
    #[error("the conversation would have no admin")]
    LastAdmin,
    #[error("the user no longer holds that number")]
    NumberChanged,
    #[error("this inbound message was stored already")]
    Duplicate,
    #[error("that Idempotency-Key was used for another message")]
    IdempotencyKeyUsed,
    #[error("message not found")]
    MessageNotFound,
    #[error("only the author can change a message")]
    NotAuthor,
    #[error("the item changed concurrently")]
    Contention,
    #[error("the owner has a contact with that phone")]
    ContactExists,
    #[error("contact not found")]
    ContactNotFound,
    #[error("invalid pagination cursor")]
    InvalidCursor,
    #[error("throttled by the database")]
    Throttled,
    #[error("database error: {0}")]
    Backend(String),
}

/// Every storage port at once: what one adapter (DynamoDB, memory) provides.
pub trait Stores:
    UserStore
    + NumberPool
    + ConversationStore
    + MessageStore
    + OutboxStore
    + ConnectionStore
    + WebhookStore
    + ContactStore
    + MediaCopyStore
{
}

impl<T> Stores for T where
    T: UserStore
        + NumberPool
        + ConversationStore
        + MessageStore
        + OutboxStore
        + ConnectionStore
        + WebhookStore
        + ContactStore
        + MediaCopyStore
{
}
