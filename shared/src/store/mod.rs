//! The storage port. Services depend on [`Store`]; [`dynamo::DynamoStore`] implements it over
//! one DynamoDB table (key layout in `docs/data-model.md`).

pub mod dynamo;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::conversation::{ConversationDetail, InboxEntry, Participant, ParticipantRole};
use crate::domain::message::{Delivery, Message};
use crate::domain::number::{NumberStatus, PoolNumber};
use crate::domain::phone::E164;
use crate::domain::routing::Pair;
use crate::domain::user::User;
use crate::realtime::Connection;

/// The largest page any listing returns, whatever the caller asks for.
pub const MAX_PAGE_SIZE: u32 = 100;

#[derive(Clone, Debug, Default)]
pub struct PageRequest {
    pub limit: u32,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
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

/// How a user logs in: by email or by username.
#[derive(Clone, Debug)]
pub enum LoginKey {
    Email(String),
    Username(String),
}

/// Fields a user may change on their profile. `None` leaves a field as it is;
/// `Some(None)` clears it.
#[derive(Clone, Debug, Default)]
pub struct ProfileChanges {
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub phone_number: Option<Option<E164>>,
    /// A new (lower-cased) email; the store moves its uniqueness item in the same transaction.
    pub email: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UniqueField {
    Email,
    Username,
}

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
    #[error("the proxy number {0} is no longer available")]
    ProxyUnavailable(E164),
    #[error("the user already has a virtual number")]
    UserHasNumber,
    #[error("the user has no virtual number")]
    UserHasNoNumber,
    #[error("a route for these pairs is in use: {0:?}")]
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
    #[error("invalid pagination cursor")]
    InvalidCursor,
    #[error("throttled by the database")]
    Throttled,
    #[error("database error: {0}")]
    Backend(String),
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    // --- users -------------------------------------------------------------------------------
    /// Creates the user with its unique email and username, atomically.
    async fn create_user(&self, user: &User) -> Result<(), StoreError>;
    async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError>;
    /// Many users by id in batched reads; unknown ids are skipped; order follows `ids`.
    async fn get_users(&self, ids: &[String]) -> Result<Vec<User>, StoreError>;
    async fn find_user_id(&self, login: &LoginKey) -> Result<Option<String>, StoreError>;
    /// Applies profile changes; returns the user as stored afterwards.
    async fn update_profile(&self, user: &User, changes: &ProfileChanges) -> Result<User, StoreError>;
    /// Deactivating also releases the user's virtual number and invalidates their tokens.
    async fn set_active(&self, user: &User, active: bool) -> Result<(), StoreError>;
    /// Active users ordered by username, optionally those whose username starts with `prefix`.
    async fn list_active_users(
        &self,
        prefix: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<User>, StoreError>;

    // --- the number pool ---------------------------------------------------------------------
    async fn add_pool_number(&self, number: &E164, at: DateTime<Utc>) -> Result<PoolNumber, StoreError>;
    /// Removes a free number; fails with `NumberAssigned` while a user holds it.
    async fn remove_pool_number(&self, number: &E164) -> Result<(), StoreError>;
    async fn list_pool_numbers(
        &self,
        status: Option<NumberStatus>,
        page: &PageRequest,
    ) -> Result<Page<PoolNumber>, StoreError>;
    /// One transaction: the number gets its owner, the user gets the number; both conditional.
    async fn assign_number(&self, user_id: &str, number: &E164, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// One transaction: the reverse of [`Store::assign_number`].
    async fn release_number(&self, user_id: &str, number: &E164) -> Result<(), StoreError>;
    /// Which of `numbers` are in the pool (batched reads).
    async fn pool_numbers_among(
        &self,
        numbers: &[E164],
    ) -> Result<std::collections::HashSet<E164>, StoreError>;
    /// Marks the user's number as being released: from then on no SMS conversation can start on
    /// it. Cleared by [`Store::release_number`] and by deactivation.
    async fn mark_number_releasing(&self, user_id: &str, number: &E164) -> Result<(), StoreError>;

    // --- conversations -----------------------------------------------------------------------
    /// The conversation and every participant: one Query of its partition.
    async fn get_conversation(&self, id: &str) -> Result<Option<ConversationDetail>, StoreError>;
    /// One transaction: the conversation, its participants, a route per SMS participant (each
    /// only if the pair is free), for direct conversations the pair's uniqueness item, and for
    /// SMS conversations a check that `owner` still holds the number.
    async fn create_conversation(
        &self,
        detail: &ConversationDetail,
        direct_pair: Option<(&str, &str)>,
        owner: Option<(&str, &E164)>,
    ) -> Result<(), StoreError>;
    /// The direct conversation of two users, if any.
    async fn find_direct(&self, a: &str, b: &str) -> Result<Option<String>, StoreError>;
    /// The conversation a route points to.
    async fn route_conversation(&self, number: &E164, phone: &E164) -> Result<Option<String>, StoreError>;
    /// Which of `pairs` are in use (batched reads).
    async fn taken_routes(&self, pairs: &[Pair]) -> Result<std::collections::HashSet<Pair>, StoreError>;
    /// One transaction: the participant, its route if SMS, and the conversation's count, with
    /// the conditions that the conversation is active and below `max_size`.
    async fn add_participant(
        &self,
        detail: &ConversationDetail,
        participant: &Participant,
        max_size: usize,
    ) -> Result<(), StoreError>;
    /// One transaction: removes the participant and its route; `promote` becomes admin.
    async fn remove_participant(
        &self,
        detail: &ConversationDetail,
        participant: &Participant,
        promote: Option<&Participant>,
    ) -> Result<(), StoreError>;
    async fn set_role(
        &self,
        detail: &ConversationDetail,
        participant: &Participant,
        role: ParticipantRole,
    ) -> Result<(), StoreError>;
    /// One transaction: status closed, every route freed, the direct pair freed.
    async fn close_conversation(&self, detail: &ConversationDetail) -> Result<(), StoreError>;
    /// The user's conversations, latest activity first.
    async fn list_inbox(&self, user_id: &str, page: &PageRequest) -> Result<Page<InboxEntry>, StoreError>;

    // --- messages ----------------------------------------------------------------------------
    /// Write-ahead, one transaction: the message, its pointer, one delivery per SMS recipient,
    /// the conversation's and every web participant's last activity, and the idempotency record.
    async fn create_message(&self, new: &NewMessage<'_>) -> Result<(), StoreError>;
    /// Records send outcomes, one transaction for all of them; a delivery a status callback has
    /// already moved further keeps its status (only its SID is added).
    async fn record_deliveries(&self, deliveries: &[Delivery]) -> Result<(), StoreError>;
    /// Sets a `failed` delivery back to `pending` (rank 0, without SID or error) so it can be
    /// sent again, since the rank of a final failure outranks `queued`. Its SID joins
    /// `supersededSids` (status callbacks naming it change nothing any more) and `redeliveryAt`
    /// is set: the reset is also the replay's claim ([`Store::claim_pending_delivery`]). False
    /// when it is no longer that `failed` attempt (a callback or another replay moved it).
    async fn reset_failed_delivery(&self, delivery: &Delivery) -> Result<bool, StoreError>;
    /// A replay's claim on a `pending` delivery before sending it: sets `redeliveryAt` if it is
    /// still `pending`, was last written before `stale_before` (no send of it can still be in
    /// flight) and carries no claim newer than that. False when another send may own it.
    async fn claim_pending_delivery(
        &self,
        delivery: &Delivery,
        stale_before: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError>;
    /// The message with this id and its deliveries.
    async fn get_message(&self, message_id: &str) -> Result<Option<(Message, Vec<Delivery>)>, StoreError>;
    /// The conversation a message belongs to (its pointer item).
    async fn message_conversation(&self, message_id: &str) -> Result<Option<String>, StoreError>;
    /// A page of history, newest first, each message with its deliveries.
    async fn list_messages(
        &self,
        conversation_id: &str,
        page: &PageRequest,
    ) -> Result<Page<(Message, Vec<Delivery>)>, StoreError>;
    /// Author-only change: new content, or deleted (content and media cleared).
    async fn change_message(
        &self,
        message: &Message,
        author_id: &str,
        change: MessageChange,
    ) -> Result<Message, StoreError>;
    /// The (conversation, message) an earlier send with this key produced, if unexpired.
    async fn find_idempotent(&self, user_id: &str, key: &str)
        -> Result<Option<(String, String)>, StoreError>;
    /// Which of (sender, phone) pairs are opted out.
    async fn opted_out(&self, pairs: &[Pair]) -> Result<std::collections::HashSet<Pair>, StoreError>;

    // --- real-time connections ---------------------------------------------------------------
    /// Stores an open WebSocket of a user (with its TTL).
    async fn put_connection(&self, connection: &Connection) -> Result<(), StoreError>;
    /// The user of a connection (consistent read), unless it is unknown or expired.
    async fn connection_user(&self, connection_id: &str) -> Result<Option<String>, StoreError>;
    async fn delete_connection(&self, user_id: &str, connection_id: &str) -> Result<(), StoreError>;
    /// The live connections of these users: one Query per user, concurrently.
    async fn connections_of(&self, user_ids: &[String]) -> Result<Vec<Connection>, StoreError>;

    // --- Twilio webhooks ---------------------------------------------------------------------
    /// The route of (to, from), and who holds `to`: one batched read.
    async fn inbound_lookup(&self, to: &E164, from: &E164) -> Result<InboundLookup, StoreError>;
    /// Once per MessageSid, one transaction: the inbound record, and the message with its
    /// pointer and the conversation's activity, and/or an opt-out change.
    /// `Duplicate` when the MessageSid was stored before.
    async fn record_inbound(&self, write: &InboundWrite<'_>) -> Result<(), StoreError>;
    /// After an inbound message: the relays' deliveries (pending) and the web participants'
    /// inbox lines, one transaction.
    async fn fan_out(
        &self,
        detail: &ConversationDetail,
        message: &Message,
        deliveries: &[Delivery],
        preview: &str,
    ) -> Result<(), StoreError>;
    /// Records (or clears) an opt-out of `phone` from `number`.
    async fn set_opt_out(&self, number: &E164, phone: &E164, opted_out: bool) -> Result<(), StoreError>;
    /// A status callback: one conditional update that only moves the status forward.
    async fn apply_status(&self, update: &StatusUpdate) -> Result<StatusOutcome, StoreError>;
    /// (conversation, message, participant) of the delivery with this Twilio SID.
    async fn delivery_by_sid(&self, sid: &str) -> Result<Option<(String, String, String)>, StoreError>;
}

#[derive(Clone, Debug)]
pub struct RouteTarget {
    pub conversation_id: String,
    pub participant_id: String,
    pub display_name: String,
    /// The one web user of a one-to-one (sms) conversation.
    pub inbox_user_id: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct InboundLookup {
    pub route: Option<RouteTarget>,
    pub in_pool: bool,
    pub owner_id: Option<String>,
    /// The phone is opted out of this number.
    pub opted_out: bool,
}

pub struct InboundWrite<'a> {
    pub message_sid: &'a str,
    pub message: Option<&'a Message>,
    pub preview: String,
    /// A web user whose inbox line moves in the same transaction.
    pub inbox_user_id: Option<&'a str>,
    /// (our number, their phone, opted out?)
    pub opt_change: Option<(&'a E164, &'a E164, bool)>,
}

#[derive(Clone, Debug)]
pub struct StatusUpdate {
    pub conversation_id: String,
    pub message_id: String,
    pub participant_id: String,
    pub status: crate::domain::message::DeliveryStatus,
    pub sid: Option<String>,
    pub error_code: Option<i64>,
    pub error_message: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusOutcome {
    Applied,
    /// The delivery already has this status or a later one.
    Stale,
    /// No such delivery: nothing is created.
    Unknown,
}

pub struct NewMessage<'a> {
    pub detail: &'a ConversationDetail,
    pub message: &'a Message,
    pub deliveries: &'a [Delivery],
    pub idempotency: Option<(&'a str, &'a str)>,
    pub preview: String,
}

#[derive(Clone, Debug)]
pub enum MessageChange {
    Edit { content: String, at: DateTime<Utc> },
    Delete { at: DateTime<Utc> },
}

/// The default meaning of each store failure for a caller. Services map the failures whose
/// meaning depends on the use case before this applies.
impl From<StoreError> for crate::error::AppError {
    fn from(err: StoreError) -> Self {
        use crate::error::AppError;
        match err {
            StoreError::Taken(UniqueField::Email) => {
                AppError::conflict("email_taken", "that email is already registered")
            }
            StoreError::Taken(UniqueField::Username) => {
                AppError::conflict("username_taken", "that username is already taken")
            }
            StoreError::UserNotFound => AppError::not_found("user not found"),
            StoreError::NumberInPool => {
                AppError::conflict("number_exists", "that number is already in the pool")
            }
            StoreError::NumberNotInPool => AppError::not_found("that number is not in the pool"),
            StoreError::NumberTaken => {
                AppError::conflict("number_taken", "that number is assigned to another user")
            }
            StoreError::NumberAssigned => AppError::conflict(
                "number_assigned",
                "that number is assigned to a user; it must be released first",
            ),
            StoreError::UserHasNumber => AppError::conflict(
                "already_has_number",
                "you already have a virtual number; release it first",
            ),
            StoreError::UserHasNoNumber => AppError::not_found("you have no virtual number"),
            StoreError::NumberInUse => AppError::conflict(
                "number_in_use",
                "that number carries group conversations as their proxy number",
            ),
            StoreError::ProxyUnavailable(_) => StoreError::Contention.into(),
            StoreError::RouteTaken(_) => AppError::conflict(
                "route_taken",
                "that phone already talks to that number in another conversation",
            ),
            StoreError::ParticipantExists => {
                AppError::conflict("already_participant", "already a participant of this conversation")
            }
            StoreError::DirectExists => AppError::conflict("conversation_exists", "that conversation exists"),
            StoreError::ConversationInactive => {
                AppError::conflict("conversation_closed", "the conversation is closed")
            }
            StoreError::GroupFull => {
                AppError::conflict("group_full", "the group has reached its maximum size")
            }
            StoreError::LastAdmin => {
                AppError::conflict("last_admin", "a conversation needs an admin; promote someone first")
            }
            StoreError::NumberChanged => {
                AppError::conflict("no_virtual_number", "your virtual number changed; retry the request")
            }
            StoreError::Duplicate => AppError::conflict("duplicate", "this message was received already"),
            StoreError::IdempotencyKeyUsed => AppError::conflict(
                "idempotency_key_used",
                "that Idempotency-Key was used for another message",
            ),
            StoreError::MessageNotFound => AppError::not_found("message not found"),
            StoreError::NotAuthor => AppError::Forbidden("only the author can change a message".into()),
            StoreError::Contention => AppError::conflict(
                "concurrent_update",
                "the resource changed concurrently; retry the request",
            ),
            StoreError::InvalidCursor => AppError::bad_request(Some("cursor".to_string()), "invalid cursor"),
            StoreError::Throttled => AppError::Throttled("the database is busy; retry shortly".into()),
            StoreError::Backend(detail) => AppError::Internal(detail),
        }
    }
}
