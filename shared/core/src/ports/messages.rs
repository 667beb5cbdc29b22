//! Messages, their per-recipient SMS deliveries, send idempotency and opt-outs.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Page, PageRequest, StoreError};
use crate::domain::conversation::ConversationDetail;
use crate::domain::ids::{ConversationId, MessageId, UserId};
use crate::domain::message::{Delivery, Message};
use crate::domain::phone::E164;
use crate::domain::routing::Pair;

/// The write-ahead of a send.
pub struct NewMessage<'a> {
    pub detail: &'a ConversationDetail,
    pub message: &'a Message,
    pub deliveries: &'a [Delivery],
    /// (sender, Idempotency-Key)
    pub idempotency: Option<(UserId, &'a str)>,
    pub preview: String,
    /// The conversation's idle deadline from this message on (its timer from `createdAt`): the
    /// meta update that records the activity moves the idle entry too. None: no timer.
    pub idle_deadline: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug)]
pub enum MessageChange {
    Edit { content: String, at: DateTime<Utc> },
    Delete { at: DateTime<Utc> },
}

/// A message with its deliveries, as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredMessage {
    pub message: Message,
    pub deliveries: Vec<Delivery>,
}

/// What an earlier send with an Idempotency-Key produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdempotentSend {
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
}

#[async_trait]
pub trait MessageStore: Send + Sync + 'static {
    /// Write-ahead, one transaction: the message, its pointer, one delivery per SMS recipient,
    /// the conversation's and every web participant's last activity, and the idempotency record
    /// (`IdempotencyKeyUsed`). `ConversationInactive` when the conversation closed.
    async fn create_message(&self, new: &NewMessage<'_>) -> Result<(), StoreError>;
    /// The message with this id and its deliveries.
    async fn get_message(&self, message_id: MessageId) -> Result<Option<StoredMessage>, StoreError>;
    /// A page of history, newest first, each message with its deliveries.
    async fn list_messages(
        &self,
        conversation_id: ConversationId,
        page: &PageRequest,
    ) -> Result<Page<StoredMessage>, StoreError>;
    /// Oldest first: up to `limit` messages after `after` (from the first when `None`), each
    /// with its deliveries. `next_cursor` is the id of the last one when more may follow (the
    /// export reads history forwards, part by part, from any message it stopped at).
    async fn list_messages_after(
        &self,
        conversation_id: ConversationId,
        after: Option<MessageId>,
        limit: u32,
    ) -> Result<Page<StoredMessage>, StoreError>;
    /// Author-only change: new content, or deleted (content and media cleared).
    /// `MessageNotFound` for a message that is gone or deleted, `NotAuthor` for anyone else.
    async fn change_message(
        &self,
        message: &Message,
        author_id: UserId,
        change: MessageChange,
    ) -> Result<Message, StoreError>;
    /// What an earlier send with this key produced, if unexpired.
    async fn find_idempotent(&self, user_id: UserId, key: &str)
        -> Result<Option<IdempotentSend>, StoreError>;
    /// Which of (sender, phone) pairs are opted out.
    async fn opted_out(&self, pairs: &[Pair]) -> Result<HashSet<Pair>, StoreError>;
    /// Records (or clears) an opt-out of `phone` from `number`.
    async fn set_opt_out(&self, number: &E164, phone: &E164, opted_out: bool) -> Result<(), StoreError>;
}
