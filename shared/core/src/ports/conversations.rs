//! Conversations, their participants, the routes of their phones and the inbox.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Page, PageRequest, StoreError};
use crate::domain::conversation::{
    ConversationDetail, IdleTimer, InboxEntry, Participant, ParticipantRole, ReadState,
};
use crate::domain::ids::{ConversationId, MessageId, UserId};
use crate::domain::phone::E164;
use crate::domain::routing::Pair;

/// What a new conversation must hold to be created.
#[derive(Clone, Copy, Debug)]
pub struct NewConversation<'a> {
    pub detail: &'a ConversationDetail,
    /// A direct conversation's two users: at most one direct conversation per pair.
    pub direct_pair: Option<(UserId, UserId)>,
    /// An SMS conversation's owner and number: the owner must still hold it, active and not
    /// releasing it.
    pub sms_owner: Option<(UserId, &'a E164)>,
    /// When it closes if nobody writes (its timer from its creation): its entry in the idle
    /// index; None: no timer.
    pub idle_deadline: Option<DateTime<Utc>>,
}

/// A page of a user's inbox and, on the first page, the unread messages of all their lines.
#[derive(Clone, Debug)]
pub struct InboxPage {
    pub page: Page<InboxEntry>,
    /// The sum of every line's unread count (first page only: later pages give `None`).
    pub unread_total: Option<u64>,
}

/// Reads as the page it holds, so callers that only want the lines use it as one.
impl std::ops::Deref for InboxPage {
    type Target = Page<InboxEntry>;
    fn deref(&self) -> &Page<InboxEntry> {
        &self.page
    }
}

/// What marking read did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadMark {
    /// The reader's state now.
    pub state: ReadState,
    /// False when the horizon was already there or beyond (nothing written).
    pub moved: bool,
}

#[async_trait]
pub trait ConversationStore: Send + Sync + 'static {
    /// The conversation and every participant: one Query of its partition.
    async fn get_conversation(&self, id: ConversationId) -> Result<Option<ConversationDetail>, StoreError>;
    /// One transaction: the conversation, its participants, a route per SMS participant (each
    /// only if the pair is free: `RouteTaken`), the direct pair's uniqueness (`DirectExists`),
    /// the proxy numbers' route counts (`ProxyUnavailable` when one went to a user), the SMS
    /// owner's hold on the number (`NumberChanged`).
    async fn create_conversation(&self, new: NewConversation<'_>) -> Result<(), StoreError>;
    /// The direct conversation of two users, if any.
    async fn find_direct(&self, a: UserId, b: UserId) -> Result<Option<ConversationId>, StoreError>;
    /// The conversation a route points to.
    async fn route_conversation(
        &self,
        number: &E164,
        phone: &E164,
    ) -> Result<Option<ConversationId>, StoreError>;
    /// Which of `pairs` are in use (batched reads).
    async fn taken_routes(&self, pairs: &[Pair]) -> Result<HashSet<Pair>, StoreError>;
    /// One transaction: the participant, its route if SMS, and the conversation's count, with
    /// the conditions that the conversation is active (`ConversationInactive`) and below
    /// `max_size` (`GroupFull`).
    async fn add_participant(
        &self,
        detail: &ConversationDetail,
        participant: &Participant,
        max_size: usize,
    ) -> Result<(), StoreError>;
    /// One transaction: removes the participant and its route; `promote` becomes admin.
    /// `LastAdmin` when it would leave the conversation without an admin.
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
    /// One transaction: status closed, every route freed, the direct pair freed, inbox lines
    /// marked. `Contention` when a participant joined since `detail` was read;
    /// `ConversationInactive` when it is closed already.
    async fn close_conversation(&self, detail: &ConversationDetail) -> Result<(), StoreError>;
    /// `close_conversation` for the idle sweep, on the further condition that its last activity
    /// is still `seen`: a message stored meanwhile keeps it open (`Contention`).
    async fn close_idle(&self, detail: &ConversationDetail, seen: DateTime<Utc>) -> Result<(), StoreError>;
    /// Its own inactivity timer, and its entry in the idle index (`deadline`; None removes it);
    /// `ConversationInactive` when it is closed (or absent).
    async fn set_idle_timer(
        &self,
        id: ConversationId,
        timer: IdleTimer,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;
    /// Conversations whose idle entry is due by `now` (one Query per shard of the idle index),
    /// at most `limit`. An entry is never later than the conversation's real deadline; it may be
    /// earlier (an inbound text moves the activity but not the entry), so each is read again.
    async fn idle_due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<ConversationId>, StoreError>;
    /// Moves its idle entry to `deadline` (None removes it), if it is active and its last
    /// activity is still `seen`; false when either changed (nothing written).
    async fn reschedule_idle(
        &self,
        id: ConversationId,
        seen: DateTime<Utc>,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError>;
    /// The user's conversations, latest activity first; the first page also sums every line's
    /// unread count (read from the lines alone: no message is read).
    async fn list_inbox(&self, user_id: UserId, page: &PageRequest) -> Result<InboxPage, StoreError>;
    /// Moves `reader`'s read horizon forward to `up_to` and sets its unread count to the
    /// messages from others after it, conditioned on the state it read, so a send or another
    /// read in between makes it count again. `MessageNotFound` when `up_to` is no message of the
    /// conversation; `None` when the reader is no longer a participant.
    async fn mark_read(
        &self,
        detail: &ConversationDetail,
        reader: &Participant,
        up_to: MessageId,
    ) -> Result<Option<ReadMark>, StoreError>;
}
