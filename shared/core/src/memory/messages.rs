//! [`MessageStore`]: messages, their deliveries, send idempotency and opt-outs.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::Utc;
use ulid::Ulid;

use super::cursor::{Listing, Row};
use super::{
    distinct_items, present, Conditions, DeliveryRecord, IdempotencyRecord, MemoryStore, Slot, State,
};
use crate::domain::ids::{ConversationId, DeliveryId, MessageId, ParticipantId, UserId};
use crate::domain::message::{Delivery, Message};
use crate::domain::phone::E164;
use crate::domain::routing::Pair;
use crate::ports::messages::{IdempotentSend, MessageChange, NewMessage, StoredMessage};
use crate::ports::{MessageStore, Page, PageRequest, StoreError};

/// How long an Idempotency-Key holds.
const IDEMPOTENCY_SECONDS: i64 = 24 * 3600;

#[async_trait]
impl MessageStore for MemoryStore {
    /// One transaction: the message, its pointer, its deliveries (each new), the conversation's
    /// activity (active: else `ConversationInactive`), every web participant's inbox line (still
    /// there: else `Contention`) and the idempotency record (absent or expired: else
    /// `IdempotencyKeyUsed`, whatever else failed).
    async fn create_message(&self, new: &NewMessage<'_>) -> Result<(), StoreError> {
        let mut state = self.call()?;
        let message = new.message;
        let cid = message.conversation_id;
        let users = new.detail.user_ids();
        distinct_items(new.deliveries.iter().map(Delivery::id))?;
        distinct_items(users.iter())?;
        let mut tx = Conditions::default();
        state.check_new_message(&mut tx, message);
        for delivery in new.deliveries {
            tx.check(Slot::Other, !state.deliveries.contains_key(&delivery.id()));
        }
        tx.check(Slot::Meta, state.conversation_active(cid));
        for user_id in &users {
            tx.check(Slot::Other, state.has_line(new.detail.conversation.id, *user_id));
        }
        let now = Utc::now().timestamp();
        if let Some((user_id, key)) = new.idempotency {
            let record = state.idempotency.get(&(user_id, key.to_string()));
            // Expired records linger until the TTL sweeps them; they do not block the key.
            tx.check(Slot::Idempotency, record.is_none_or(|r| r.expires_at < now));
        }
        tx.verdict()?;

        state.insert_message(message, &new.preview);
        if let (Some(deadline), Some(record)) = (new.idle_deadline, state.conversations.get_mut(&cid)) {
            record.idle_entry = Some(deadline);
        }
        for delivery in new.deliveries {
            state.deliveries.insert(delivery.id(), DeliveryRecord::new(delivery));
        }
        for user_id in users {
            state.touch_line(user_id, message, &new.preview);
        }
        if let Some((user_id, key)) = new.idempotency {
            let record = IdempotencyRecord {
                conversation_id: cid,
                message_id: message.id,
                expires_at: message.created_at.timestamp() + IDEMPOTENCY_SECONDS,
            };
            state.idempotency.insert((user_id, key.to_string()), record);
        }
        Ok(())
    }

    /// Through its pointer; its deliveries by participant id.
    async fn get_message(&self, message_id: MessageId) -> Result<Option<StoredMessage>, StoreError> {
        let state = self.call()?;
        let Some(cid) = state.pointers.get(&message_id) else {
            return Ok(None);
        };
        Ok(state.messages.get(&(*cid, message_id)).map(|message| state.stored(message)))
    }

    /// Newest first (by message id), each message with its deliveries.
    async fn list_messages(
        &self,
        conversation_id: ConversationId,
        page: &PageRequest,
    ) -> Result<Page<StoredMessage>, StoreError> {
        let state = self.call()?;
        let pk = format!("MSGS#{conversation_id}");
        let rows = state
            .messages
            .range((conversation_id, MessageId::from(Ulid::nil()))..)
            .take_while(|((cid, _), _)| *cid == conversation_id)
            .map(|((_, id), message)| Row::table(pk.clone(), format!("MSG#{id}"), message))
            .collect();
        let messages = Listing::table(pk, Some("MSG#".into()), true).page(rows, page)?;
        Ok(messages.map(|message| state.stored(message)))
    }

    /// Oldest first (by message id) after `after`; more may follow when the page is full.
    async fn list_messages_after(
        &self,
        conversation_id: ConversationId,
        after: Option<MessageId>,
        limit: u32,
    ) -> Result<Page<StoredMessage>, StoreError> {
        let state = self.call()?;
        let limit = limit.clamp(1, crate::ports::MAX_PAGE_SIZE) as usize;
        let from = after.unwrap_or_else(|| MessageId::from(Ulid::nil()));
        let mut rest = state
            .messages
            .range((conversation_id, from)..)
            .take_while(|((cid, _), _)| *cid == conversation_id)
            .filter(|((_, id), _)| Some(*id) != after);
        let items: Vec<StoredMessage> = rest.by_ref().take(limit).map(|(_, m)| state.stored(m)).collect();
        let more = rest.next().is_some();
        let next_cursor = items.last().filter(|_| more).map(|m| m.message.id.to_string());
        Ok(Page { items, next_cursor })
    }

    /// Only the author, only while not deleted. A message by someone else is `NotAuthor`
    /// (deleted or not); a missing one, a deleted one of the author, or one no user wrote (SMS,
    /// system) is `MessageNotFound`. Deleting clears the content and media URLs.
    async fn change_message(
        &self,
        message: &Message,
        author_id: UserId,
        change: MessageChange,
    ) -> Result<Message, StoreError> {
        let mut state = self.call()?;
        let Some(stored) = state.messages.get_mut(&(message.conversation_id, message.id)) else {
            return Err(StoreError::MessageNotFound);
        };
        if stored.sender.user_id != Some(author_id) || stored.deleted {
            return Err(match stored.sender.user_id {
                Some(sender) if sender != author_id => StoreError::NotAuthor,
                _ => StoreError::MessageNotFound,
            });
        }
        match change {
            MessageChange::Edit { content, at } => {
                stored.content = content;
                stored.edited_at = Some(at);
            }
            MessageChange::Delete { at } => {
                stored.deleted = true;
                stored.content = String::new();
                stored.media_urls = Vec::new();
                stored.media_keys = Vec::new();
                stored.edited_at = Some(at);
            }
        }
        Ok(stored.clone())
    }

    /// Unexpired records only (expiry is checked at read: the TTL sweeps late).
    async fn find_idempotent(
        &self,
        user_id: UserId,
        key: &str,
    ) -> Result<Option<IdempotentSend>, StoreError> {
        let state = self.call()?;
        let now = Utc::now().timestamp();
        Ok(state
            .idempotency
            .get(&(user_id, key.to_string()))
            .filter(|r| r.expires_at >= now)
            .map(|r| IdempotentSend { conversation_id: r.conversation_id, message_id: r.message_id }))
    }

    async fn opted_out(&self, pairs: &[Pair]) -> Result<HashSet<Pair>, StoreError> {
        let state = self.call()?;
        Ok(present(|p| state.opt_outs.contains(p), pairs))
    }

    async fn set_opt_out(&self, number: &E164, phone: &E164, opted_out: bool) -> Result<(), StoreError> {
        self.call()?.set_opt_out(number, phone, opted_out);
        Ok(())
    }
}

impl State {
    /// A message with its deliveries, by participant id.
    fn stored(&self, message: &Message) -> StoredMessage {
        let first = DeliveryId {
            conversation_id: message.conversation_id,
            message_id: message.id,
            participant_id: ParticipantId::from(Ulid::nil()),
        };
        let deliveries = self
            .deliveries
            .range(first..)
            .take_while(|(id, _)| {
                id.conversation_id == message.conversation_id && id.message_id == message.id
            })
            .map(|(_, d)| d.delivery())
            .collect();
        StoredMessage { message: message.clone(), deliveries }
    }
}
