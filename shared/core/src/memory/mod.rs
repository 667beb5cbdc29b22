//! In-memory fakes of every port, for fast tests of the use cases and handlers.
//!
//! [`MemoryStore`] implements the seven storage ports with the semantics of the DynamoDB adapter
//! (`switchboard::dynamo`): the same conditions, the same errors for the same cancelled
//! transactions, the same orderings and cursors that only resume the listing that made them. A
//! port call is one critical section under one lock, as one DynamoDB request or transaction is
//! atomic; where the adapter makes several requests in a row (`finish_attempt`'s SID-only
//! second write, a creation too big for one transaction), the fake plays the same sequence
//! within one call.
//!
//! [`FakeSms`], [`FakeGateway`] and [`FakeQueue`] stand in for Twilio, API Gateway and SQS: they
//! record what they were asked to do and answer as scripted.
//!
//! Layout: this file holds the state and the transaction helpers shared by the ports; each port
//! is implemented in its own file, as in the adapter.

mod connections;
mod contacts;
mod conversations;
mod cursor;
mod gateway;
mod media;
mod media_copies;
mod messages;
mod numbers;
mod outbox;
mod provider;
mod queue;
mod sms;
mod users;
mod webhooks;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};

use crate::domain::contact::Contact;
use crate::domain::conversation::{Conversation, ConversationKind, ConversationStatus, Member, Participant};
use crate::domain::ids::{
    ConnectionId, ContactId, ConversationId, DeliveryId, MessageId, ParticipantId, UserId,
};
use crate::domain::message::{Delivery, DeliveryStatus, Message, TENTATIVE_FAILURE_RANK};
use crate::domain::number::PoolNumber;
use crate::domain::phone::E164;
use crate::domain::realtime::Connection;
use crate::domain::routing::Pair;
use crate::domain::user::User;
use crate::ports::StoreError;

pub use gateway::{FakeGateway, Post};
pub use media::FakeMedia;
pub use media_copies::FakeMediaCopies;
pub use provider::FakeNumbers;
pub use queue::FakeQueue;
pub use sms::FakeSms;

/// DynamoDB's limit on items per TransactWriteItems (the adapter splits what exceeds it).
const TRANSACTION_LIMIT: usize = 100;

/// Every storage port over in-memory state. Cheap to create; share it in an `Arc`, as
/// [`crate::service::App::new`] takes it, and keep a handle to inspect it:
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// use switchboard_core::auth::{TokenService, TokenSettings};
/// use switchboard_core::memory::{FakeSms, MemoryStore};
/// use switchboard_core::{App, Secret, Settings};
///
/// let (store, sms) = (Arc::new(MemoryStore::new()), Arc::new(FakeSms::new()));
/// let tokens = TokenService::new(&TokenSettings {
///     secret: Secret::new("x".repeat(32)),
///     previous: None,
///     access_ttl: Duration::from_secs(900),
///     refresh_ttl: Duration::from_secs(3600),
/// });
/// let _app = App::new(Settings::default(), tokens, store.clone()).with_sms(sms.clone());
/// assert_eq!(store.requests(), 0);
/// ```
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    requests: AtomicU64,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many port calls were made so far (every method of every storage port counts one,
    /// whatever the adapter would have sent for it).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The next port call fails with `error` and changes nothing (a throttled or broken
    /// database). Several calls queue several failures, used in order.
    pub fn fail_next(&self, error: StoreError) {
        self.lock().failures.push_back(error);
    }

    /// The delivery as stored (status, SID, error), whatever conversation it is in.
    pub fn delivery(&self, id: &DeliveryId) -> Option<Delivery> {
        self.lock().deliveries.get(id).map(DeliveryRecord::delivery)
    }

    /// The SIDs of the attempts a redrive superseded (`reset_failed_delivery`): callbacks naming
    /// them change nothing.
    pub fn superseded_sids(&self, id: &DeliveryId) -> Vec<String> {
        self.lock().deliveries.get(id).map(|d| d.superseded.iter().cloned().collect()).unwrap_or_default()
    }

    /// The pool number as stored, whatever its section of the pool listing.
    pub fn pool_number(&self, number: &E164) -> Option<PoolNumber> {
        self.lock().numbers.get(number).and_then(|n| n.pool_number().ok())
    }

    /// The number the user is releasing (`mark_number_releasing`), if any.
    pub fn number_releasing(&self, user_id: UserId) -> Option<E164> {
        self.lock().users.get(&user_id).and_then(|u| u.number_releasing.clone())
    }

    /// The conversation's stored (participant, admin) counts, which the membership conditions
    /// read: they must always match its participants.
    pub fn member_counts(&self, conversation_id: ConversationId) -> Option<(i64, i64)> {
        self.lock().conversations.get(&conversation_id).map(|c| (c.participant_count, c.admin_count))
    }

    /// The conversation's entry in the idle index, if any: when the idle sweep looks at it next.
    pub fn idle_entry(&self, conversation_id: ConversationId) -> Option<DateTime<Utc>> {
        self.lock().conversations.get(&conversation_id).and_then(|c| c.idle_entry)
    }

    /// Whether an inbound MessageSid was recorded (and a retry of it would be a duplicate).
    pub fn inbound_recorded(&self, message_sid: &str) -> bool {
        self.lock().inbound.contains_key(message_sid)
    }

    /// Whether the delivery has an entry in the outbox (the adapter's `OUTBOX#` GSI1 entry), and
    /// when it is due: what the sweeper (`due_jobs`) finds.
    pub fn outbox_due(&self, id: &DeliveryId) -> Option<DateTime<Utc>> {
        self.lock().deliveries.get(id).and_then(|d| d.outbox)
    }

    /// Whether an inbound group text still waits for its relay job (`fan_out_relays` not done).
    pub fn relay_pending(&self, message_id: MessageId) -> bool {
        self.lock().relays.keys().any(|(_, id)| *id == message_id)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked elsewhere poisons the lock, not the state (a call checks every
        // condition before it writes anything): go on.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts one port call: counted, then the state locked for the whole call (never across an
    /// `.await`: the port methods have none), or the failure queued by [`Self::fail_next`].
    fn call(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut state = self.lock();
        match state.failures.pop_front() {
            Some(error) => Err(error),
            None => Ok(state),
        }
    }
}

/// Every item of the table, by kind. Indexes (directory, pool, inbox, SID) are not kept apart:
/// they are derived from the items when read, as GSI1 is from the items' attributes.
#[derive(Default)]
struct State {
    users: BTreeMap<UserId, UserRecord>,
    /// Uniqueness items: email (as stored) and normalized username, to their user.
    emails: HashMap<String, UserId>,
    usernames: HashMap<String, UserId>,
    numbers: BTreeMap<E164, NumberRecord>,
    conversations: HashMap<ConversationId, ConversationRecord>,
    routes: BTreeMap<Pair, RouteRecord>,
    /// One per unordered pair of users (low, high).
    directs: HashMap<(UserId, UserId), ConversationId>,
    messages: BTreeMap<(ConversationId, MessageId), Message>,
    /// Message id to its conversation (the adapter's pointer item).
    pointers: HashMap<MessageId, ConversationId>,
    /// Ordered as the adapter's delivery keys sort: by conversation, message, participant.
    deliveries: BTreeMap<DeliveryId, DeliveryRecord>,
    /// Inbound group texts waiting for their relay job (the message item's outbox entry, the
    /// relay mark), with when they are due.
    relays: BTreeMap<(ConversationId, MessageId), DateTime<Utc>>,
    /// Inbound MMS waiting for their media copy (the pointer item's outbox entry, the
    /// media-copy mark): when due, and attempts claimed so far.
    media_marks: BTreeMap<(ConversationId, MessageId), (DateTime<Utc>, u32)>,
    idempotency: HashMap<(UserId, String), IdempotencyRecord>,
    /// Inbound MessageSids: kept (the adapter's TTL sweeps them late; until then they count).
    inbound: HashMap<String, i64>,
    /// (our number, their phone)
    opt_outs: BTreeSet<Pair>,
    /// The two items of each connection: the user's, and the connection's own.
    user_connections: BTreeMap<UserId, BTreeMap<ConnectionId, Connection>>,
    connections: HashMap<ConnectionId, Connection>,
    /// Contacts by (owner, id), and each owner's phone claims (the adapter's `PHONE#` items).
    contacts: BTreeMap<(UserId, ContactId), Contact>,
    contact_phones: HashMap<(UserId, E164), ContactId>,
    failures: VecDeque<StoreError>,
}

struct UserRecord {
    user: User,
    /// The adapter's `numberReleasing`: no SMS conversation may start on it.
    number_releasing: Option<E164>,
}

/// Where a number is listed in the pool (its GSI1SK prefix). A number moves to `Proxy` when it
/// first carries a group route and stays there while unassigned, routes or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PoolSection {
    Free,
    Assigned,
    Proxy,
}

impl PoolSection {
    fn prefix(self) -> &'static str {
        match self {
            Self::Free => "FREE#",
            Self::Assigned => "ASSIGNED#",
            Self::Proxy => "PROXY#",
        }
    }
}

struct NumberRecord {
    number: E164,
    owner_id: Option<UserId>,
    added_at: DateTime<Utc>,
    assigned_at: Option<DateTime<Utc>>,
    /// Signed as DynamoDB's ADD is; a negative count could not be read back (see `pool_number`).
    route_count: i64,
    section: PoolSection,
}

impl NumberRecord {
    fn pool_number(&self) -> Result<PoolNumber, StoreError> {
        let route_count = u32::try_from(self.route_count)
            .map_err(|_| StoreError::Backend(format!("deserialize: routeCount {}", self.route_count)))?;
        Ok(PoolNumber {
            phone_number: self.number.clone(),
            owner_id: self.owner_id,
            added_at: self.added_at,
            assigned_at: self.assigned_at,
            route_count,
        })
    }

    /// In the pool, unowned, carrying no route: what assignment and removal require.
    fn is_free(&self) -> bool {
        self.owner_id.is_none() && self.route_count == 0
    }
}

/// The conversation's meta item and its participant items (one partition in the adapter).
struct ConversationRecord {
    conversation: Conversation,
    /// Kept in step by every membership change: what the limits are checked against.
    participant_count: i64,
    admin_count: i64,
    participants: BTreeMap<ParticipantKey, ParticipantRecord>,
    /// Its entry in the idle index (the adapter's `IDLE#` GSI1 entry): when the sweeper looks at
    /// it next. Moved by sends and timer changes, never by inbound texts; removed on close.
    idle_entry: Option<DateTime<Utc>>,
}

impl ConversationRecord {
    fn is_active(&self) -> bool {
        self.conversation.status == ConversationStatus::Active
    }
}

/// A participant item's key: a user or a phone is in a conversation at most once.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum ParticipantKey {
    User(UserId),
    Sms(E164),
}

impl ParticipantKey {
    fn of(participant: &Participant) -> Self {
        match &participant.member {
            Member::User { user_id } => Self::User(*user_id),
            Member::Sms { phone, .. } => Self::Sms(phone.clone()),
        }
    }
}

/// A participant item: the participant and, for a web user, their inbox line (the copy of the
/// conversation's title, status and activity that "my conversations" lists).
struct ParticipantRecord {
    participant: Participant,
    /// For web users only: the name this user sees.
    title: Option<String>,
    /// For the web user of a one-to-one SMS conversation: the phone at the other end.
    counterpart_phone: Option<E164>,
    kind: ConversationKind,
    status: ConversationStatus,
    last_message_at: DateTime<Utc>,
    last_message_preview: Option<String>,
}

impl ParticipantRecord {
    /// As the adapter writes it: the inbox line copies `detail` as the caller read it.
    fn new(detail: &crate::domain::conversation::ConversationDetail, participant: &Participant) -> Self {
        let c = &detail.conversation;
        Self {
            participant: participant.clone(),
            title: participant.user_id().map(|uid| detail.title_for(uid)),
            counterpart_phone: participant.user_id().and(detail.sms_counterpart().cloned()),
            kind: c.kind,
            status: c.status,
            last_message_at: c.last_message_at,
            last_message_preview: c.last_message_preview.clone(),
        }
    }

    /// The inbox line moves: a message arrived. Everyone but its author has one more unread, as
    /// the adapter's `ADD unreadCount` does.
    fn touch(&mut self, message: &Message, preview: &str) {
        self.last_message_at = message.created_at;
        self.last_message_preview = Some(preview.to_string());
        let authored =
            message.sender.user_id.is_some() && message.sender.user_id == self.participant.user_id();
        if !authored {
            self.participant.read.unread_count += 1;
        }
    }
}

/// (our number, their phone) → the one conversation replies go to.
#[derive(Clone)]
struct RouteRecord {
    conversation_id: ConversationId,
    participant_id: ParticipantId,
    display_name: String,
    /// The one web user of a one-to-one (sms) conversation.
    inbox_user_id: Option<UserId>,
}

/// A delivery item. Its `delivery.attempts` and `delivery.next_attempt_at` are the item's
/// `attempts` and `nextAttemptAt`; the claim's other attributes are kept beside them.
struct DeliveryRecord {
    delivery: Delivery,
    /// Stored beside the status so updates can refuse to move backwards; a tentative failure
    /// is `failed` at [`TENTATIVE_FAILURE_RANK`].
    rank: u8,
    superseded: BTreeSet<String>,
    /// Its GSI1 entry while it is in the outbox (`OUTBOX#<shard>`, sorted by this due time).
    /// Otherwise its GSI1 entry, if any, names its SID.
    outbox: Option<DateTime<Utc>>,
    /// `leaseUntil`, in epoch milliseconds as the adapter stores it.
    lease_until_ms: Option<i64>,
    /// `inFlight`: set by a claim, kept by an ambiguous retry, removed by a definite outcome.
    in_flight: Option<bool>,
    /// `attemptStartedAt`: when the last attempt was claimed.
    attempt_started_at: Option<DateTime<Utc>>,
}

impl DeliveryRecord {
    /// As the adapter's `DeliveryItem::from` writes it: a pending delivery enters the outbox
    /// (due at `next_attempt_at`, else `updated_at`); `nextAttemptAt` is kept only while pending.
    fn new(delivery: &Delivery) -> Self {
        let pending = delivery.status == DeliveryStatus::Pending;
        let outbox = pending.then(|| delivery.next_attempt_at.unwrap_or(delivery.updated_at));
        let next_attempt_at = if pending { delivery.next_attempt_at } else { None };
        Self {
            delivery: Delivery { next_attempt_at, tentative: false, ..delivery.clone() },
            rank: delivery.rank(),
            superseded: BTreeSet::new(),
            outbox,
            lease_until_ms: None,
            in_flight: None,
            attempt_started_at: None,
        }
    }

    /// As read back: `tentative` is not stored apart from the rank.
    fn delivery(&self) -> Delivery {
        let tentative = self.delivery.status == DeliveryStatus::Failed && self.rank == TENTATIVE_FAILURE_RANK;
        Delivery { tentative, ..self.delivery.clone() }
    }
}

struct IdempotencyRecord {
    conversation_id: ConversationId,
    message_id: MessageId,
    /// Epoch seconds.
    expires_at: i64,
}

/// Writes and checks that several ports share.
impl State {
    /// The number goes back to the free section of the pool, unowned.
    fn free_number(&mut self, number: &E164) {
        if let Some(record) = self.numbers.get_mut(number) {
            record.owner_id = None;
            record.assigned_at = None;
            record.section = PoolSection::Free;
        }
    }

    /// The conditions of storing a new message: its item and its pointer are new.
    fn check_new_message(&self, tx: &mut Conditions, message: &Message) {
        tx.check(Slot::Other, !self.messages.contains_key(&(message.conversation_id, message.id)));
        tx.check(Slot::Other, !self.pointers.contains_key(&message.id));
    }

    /// The message, its pointer, and the conversation's activity.
    fn insert_message(&mut self, message: &Message, preview: &str) {
        let cid = message.conversation_id;
        self.messages.insert((cid, message.id), message.clone());
        self.pointers.insert(message.id, cid);
        if let Some(record) = self.conversations.get_mut(&cid) {
            record.conversation.last_message_at = message.created_at;
            record.conversation.last_message_preview = Some(preview.to_string());
        }
    }

    /// The conversation exists and is active: what every write of its activity requires.
    fn conversation_active(&self, cid: ConversationId) -> bool {
        self.conversations.get(&cid).is_some_and(|c| c.is_active())
    }

    /// The user is still a participant: their inbox line can move.
    fn has_line(&self, cid: ConversationId, user_id: UserId) -> bool {
        self.conversations
            .get(&cid)
            .is_some_and(|c| c.participants.contains_key(&ParticipantKey::User(user_id)))
    }

    fn touch_line(&mut self, user_id: UserId, message: &Message, preview: &str) {
        let line = self
            .conversations
            .get_mut(&message.conversation_id)
            .and_then(|c| c.participants.get_mut(&ParticipantKey::User(user_id)));
        if let Some(line) = line {
            line.touch(message, preview);
        }
    }

    /// Records (a Put) or clears (a Delete) an opt-out, unconditionally.
    fn set_opt_out(&mut self, number: &E164, phone: &E164, opted_out: bool) {
        let pair = (number.clone(), phone.clone());
        if opted_out {
            self.opt_outs.insert(pair);
        } else {
            self.opt_outs.remove(&pair);
        }
    }
}

/// What each item of a transaction is for, so a failed condition is explained as the adapter
/// explains it (`transact_slots`).
#[derive(Clone, Debug)]
enum Slot {
    Meta,
    Participant,
    Route(Pair),
    Direct,
    Owner,
    Number(E164),
    Idempotency,
    Other,
}

/// The conditions of one transaction. DynamoDB checks every condition against the state before
/// the transaction and writes nothing if one fails; so does the fake: check them all, then
/// write.
#[derive(Default)]
struct Conditions {
    failed: Vec<Slot>,
}

impl Conditions {
    fn check(&mut self, slot: Slot, holds: bool) {
        if !holds {
            self.failed.push(slot);
        }
    }

    /// The adapter's reading of a cancellation: every taken route, else an unavailable proxy,
    /// else a used key, else the first failed item.
    fn verdict(self) -> Result<(), StoreError> {
        if self.failed.is_empty() {
            return Ok(());
        }
        let routes: Vec<Pair> = self
            .failed
            .iter()
            .filter_map(|s| if let Slot::Route(p) = s { Some(p.clone()) } else { None })
            .collect();
        if !routes.is_empty() {
            return Err(StoreError::RouteTaken(routes));
        }
        if let Some(Slot::Number(number)) = self.failed.iter().find(|s| matches!(s, Slot::Number(_))) {
            return Err(StoreError::ProxyUnavailable(number.clone()));
        }
        if self.failed.iter().any(|s| matches!(s, Slot::Idempotency)) {
            return Err(StoreError::IdempotencyKeyUsed);
        }
        Err(match self.failed.first() {
            Some(Slot::Participant) => StoreError::ParticipantExists,
            Some(Slot::Direct) => StoreError::DirectExists,
            Some(Slot::Owner) => StoreError::NumberChanged,
            Some(Slot::Meta) => StoreError::ConversationInactive,
            _ => StoreError::Contention,
        })
    }
}

/// DynamoDB refuses a transaction that writes one item twice (a ValidationException, which the
/// adapter reports as a backend error).
fn distinct_items<K: Ord>(keys: impl IntoIterator<Item = K>) -> Result<(), StoreError> {
    let mut seen = BTreeSet::new();
    for key in keys {
        if !seen.insert(key) {
            return Err(StoreError::Backend(
                "ValidationException: Transaction request cannot include multiple operations on one item"
                    .into(),
            ));
        }
    }
    Ok(())
}

/// The key of a direct pair: one per unordered pair of users.
fn direct_key(a: UserId, b: UserId) -> (UserId, UserId) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// Which of `pairs` are in `set`, each once.
fn present(set: impl Fn(&Pair) -> bool, pairs: &[Pair]) -> HashSet<Pair> {
    pairs.iter().filter(|p| set(p)).cloned().collect()
}
