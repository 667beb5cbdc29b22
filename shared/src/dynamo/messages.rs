//! Messages, their deliveries, idempotency records and opt-outs.

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use chrono::{DateTime, Utc};
use switchboard_core::domain::conversation::ConversationDetail;
use switchboard_core::domain::ids::{ConversationId, MessageId, UserId};
use switchboard_core::domain::message::{Delivery, Message};
use switchboard_core::domain::phone::E164;
use switchboard_core::domain::routing::Pair;
use switchboard_core::ports::messages::{IdempotentSend, MessageChange, NewMessage, StoredMessage};
use switchboard_core::ports::{MessageStore, Page, PageRequest, StoreError};

use super::conversations::Slot;
use super::items::{
    idle_entry, sortable, stamp, DeliveryItem, IdempotencyItem, MessageItem, MessagePointerItem,
};
use super::{built, cursor, from_item, key, keys, page_limit, s, sdk_error, to_item, DynamoStore};

/// How long an Idempotency-Key holds (and when TTL removes its record).
const IDEMPOTENCY_SECONDS: i64 = 24 * 3600;

#[async_trait]
impl MessageStore for DynamoStore {
    async fn create_message(&self, new: &NewMessage<'_>) -> Result<(), StoreError> {
        let message = new.message;
        let cid = message.conversation_id;
        let mut items: Vec<(TransactWriteItem, Slot)> = vec![
            (self.put_if_absent(to_item(&MessageItem::from(message))?)?, Slot::Other),
            (self.put_if_absent(to_item(&MessagePointerItem::of(message))?)?, Slot::Other),
        ];
        for delivery in new.deliveries {
            items.push((self.put_if_absent(to_item(&DeliveryItem::from(delivery))?)?, Slot::Other));
        }
        items.push((
            self.activity_update(cid, &message.created_at, &new.preview, new.idle_deadline)?,
            Slot::Meta,
        ));
        for update in self.inbox_updates(new.detail, message, &new.preview)? {
            items.push((update, Slot::Other));
        }
        if let Some((user_id, key_value)) = new.idempotency {
            let record = IdempotencyItem {
                pk: keys::idempotency_pk(user_id, key_value),
                sk: keys::IDEMPOTENCY_SK.into(),
                entity: "idempotency".into(),
                conversation_id: cid,
                message_id: message.id,
                expires_at: message.created_at.timestamp() + IDEMPOTENCY_SECONDS,
            };
            // TTL deletes lazily: an expired record that is still there does not block reuse.
            let put = built(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(to_item(&record)?))
                    .condition_expression("attribute_not_exists(PK) OR expiresAt < :now")
                    .expression_attribute_values(
                        ":now",
                        AttributeValue::N(Utc::now().timestamp().to_string()),
                    )
                    .build(),
            )?;
            items.push((TransactWriteItem::builder().put(put).build(), Slot::Idempotency));
        }
        debug_assert!(items.len() <= super::TRANSACTION_LIMIT, "{} items", items.len());
        self.transact_slots(items).await
    }

    async fn get_message(&self, message_id: MessageId) -> Result<Option<StoredMessage>, StoreError> {
        let Some(cid) = self.get_message_pointer(message_id).await? else {
            return Ok(None);
        };
        let message = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::messages_pk(cid), &keys::message_sk(message_id))))
            .consistent_read(true)
            .send();
        let prefix = format!("{}{message_id}#", keys::DELIVERY_PREFIX);
        let end = format!("{prefix}\u{7f}");
        let (message, deliveries) = futures::try_join!(
            async { message.await.map_err(sdk_error) },
            self.query_deliveries(cid, &prefix, &end),
        )?;
        let Some(item) = message.item else { return Ok(None) };
        Ok(Some(StoredMessage { message: from_item::<MessageItem>(item)?.into(), deliveries }))
    }

    /// One Query for the page of messages, one for the deliveries of exactly that page (their
    /// keys sort in one contiguous range).
    async fn list_messages(
        &self,
        cid: ConversationId,
        page: &PageRequest,
    ) -> Result<Page<StoredMessage>, StoreError> {
        let pk = keys::messages_pk(cid);
        let start = match &page.cursor {
            Some(c) => Some(cursor::decode(
                c,
                &[keys::PK, keys::SK],
                keys::PK,
                &pk,
                Some((keys::SK, keys::MESSAGE_PREFIX)),
            )?),
            None => None,
        };
        let with_cursor = page.cursor.is_some();
        let (items, last_key) = self.message_page(cid, start, false, page_limit(page), with_cursor).await?;
        Ok(Page { items, next_cursor: last_key.as_ref().and_then(cursor::encode) })
    }

    /// The same two Queries, forwards: the key of the message `after` is the start key.
    async fn list_messages_after(
        &self,
        cid: ConversationId,
        after: Option<MessageId>,
        limit: u32,
    ) -> Result<Page<StoredMessage>, StoreError> {
        let start = after.map(|id| key(keys::messages_pk(cid), &keys::message_sk(id)));
        let limit = limit.clamp(1, switchboard_core::ports::MAX_PAGE_SIZE) as i32;
        let (items, last_key) = self.message_page(cid, start, true, limit, false).await?;
        let next_cursor = items.last().filter(|_| last_key.is_some()).map(|m| m.message.id.to_string());
        Ok(Page { items, next_cursor })
    }

    async fn change_message(
        &self,
        message: &Message,
        author_id: UserId,
        change: MessageChange,
    ) -> Result<Message, StoreError> {
        let author = author_id.to_string();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::messages_pk(message.conversation_id), &keys::message_sk(message.id))))
            .condition_expression("senderUserId = :me AND deleted = :false")
            .expression_attribute_values(":me", s(author.clone()))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        update = match change {
            MessageChange::Edit { content, at } => update
                .update_expression("SET content = :content, editedAt = :at")
                .expression_attribute_values(":content", s(content))
                .expression_attribute_values(":at", s(stamp(&at))),
            MessageChange::Delete { at } => update
                .update_expression(
                    "SET deleted = :true, content = :empty, mediaUrls = :none, editedAt = :at REMOVE mediaKeys",
                )
                .expression_attribute_values(":true", AttributeValue::Bool(true))
                .expression_attribute_values(":empty", s(""))
                .expression_attribute_values(":none", AttributeValue::L(Vec::new()))
                .expression_attribute_values(":at", s(stamp(&at))),
        };
        let out = update.send().await.map_err(|e| match e.as_service_error() {
            Some(
                aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(
                    failed,
                ),
            ) => match failed.item().and_then(|i| i.get("senderUserId")).and_then(|v| v.as_s().ok()) {
                Some(sender) if *sender != author => StoreError::NotAuthor,
                _ => StoreError::MessageNotFound,
            },
            _ => sdk_error(e),
        })?;
        let item = out.attributes.ok_or(StoreError::MessageNotFound)?;
        Ok(from_item::<MessageItem>(item)?.into())
    }

    async fn find_idempotent(
        &self,
        user_id: UserId,
        key_value: &str,
    ) -> Result<Option<IdempotentSend>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::idempotency_pk(user_id, key_value), keys::IDEMPOTENCY_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        let record = out.item.map(from_item::<IdempotencyItem>).transpose()?;
        Ok(record
            .filter(|r| r.expires_at >= Utc::now().timestamp())
            .map(|r| IdempotentSend { conversation_id: r.conversation_id, message_id: r.message_id }))
    }

    async fn opted_out(&self, pairs: &[Pair]) -> Result<HashSet<Pair>, StoreError> {
        let unique: HashSet<&Pair> = pairs.iter().collect();
        let keys = unique
            .into_iter()
            .map(|(sender, phone)| key(keys::opt_out_pk(sender), &keys::opt_out_sk(phone)))
            .collect();
        let mut found = HashSet::new();
        for item in self.batch_get(keys).await? {
            let pk = item.get(keys::PK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            let sk = item.get(keys::SK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            if let (Some(sender), Some(phone)) = (pk.strip_prefix("OPTOUT#"), sk.strip_prefix("PHONE#")) {
                found.insert((E164::from_stored(sender.into()), E164::from_stored(phone.into())));
            }
        }
        Ok(found)
    }

    async fn set_opt_out(&self, number: &E164, phone: &E164, opted_out: bool) -> Result<(), StoreError> {
        self.transact_slots(vec![(self.opt_out_write(number, phone, opted_out)?, Slot::Other)]).await
    }
}

impl DynamoStore {
    /// The conversation's last activity moves; it must still be active. With `idle_deadline`
    /// its idle entry moves there in the same update (no request of its own).
    pub(super) fn activity_update(
        &self,
        cid: ConversationId,
        at: &DateTime<Utc>,
        preview: &str,
        idle_deadline: Option<DateTime<Utc>>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut meta = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::conversation_pk(cid), keys::CONVERSATION_SK)))
            .update_expression("SET lastMessageAt = :at, lastMessagePreview = :preview")
            .condition_expression("#status = :active")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":active", s("active"))
            .expression_attribute_values(":at", s(stamp(at)))
            .expression_attribute_values(":preview", s(preview));
        if let Some(deadline) = idle_deadline {
            let (pk, sk) = idle_entry(cid, &deadline);
            meta = meta
                .update_expression(
                    "SET lastMessageAt = :at, lastMessagePreview = :preview, GSI1PK = :gpk, GSI1SK = :gsk",
                )
                .expression_attribute_values(":gpk", s(pk))
                .expression_attribute_values(":gsk", s(sk));
        }
        Ok(TransactWriteItem::builder().update(built(meta.build())?).build())
    }

    /// Every web participant's inbox line moves to the top (if the participant is still there).
    pub(super) fn inbox_updates(
        &self,
        detail: &ConversationDetail,
        message: &Message,
        preview: &str,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        detail.user_ids().into_iter().map(|user_id| self.inbox_update(user_id, message, preview)).collect()
    }

    /// One web participant's inbox line moves to the top (if the participant is still there)
    /// and, unless they wrote it, counts one more unread. The author's read state is left alone:
    /// setting their horizon here could move it back past a read that committed first (there is
    /// no max() in an update), and their own messages are never counted anyway.
    pub(super) fn inbox_update(
        &self,
        user_id: UserId,
        message: &Message,
        preview: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        let (cid, at) = (message.conversation_id, &message.created_at);
        let moved = "SET lastMessageAt = :at, lastMessagePreview = :preview, GSI1SK = :sk";
        let builder = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::conversation_pk(cid), &keys::user_participant_sk(user_id))))
            .condition_expression("attribute_exists(SK)")
            .expression_attribute_values(":at", s(stamp(at)))
            .expression_attribute_values(":preview", s(preview))
            .expression_attribute_values(":sk", s(keys::inbox_sk(sortable(at), cid)));
        let builder = if message.sender.user_id == Some(user_id) {
            builder.update_expression(moved)
        } else {
            builder
                .update_expression(format!("{moved} ADD unreadCount :one"))
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
        };
        Ok(TransactWriteItem::builder().update(built(builder.build())?).build())
    }

    /// The conversation a message belongs to: its pointer item.
    async fn get_message_pointer(&self, message_id: MessageId) -> Result<Option<ConversationId>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::message_pointer_pk(message_id), keys::MESSAGE_POINTER_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(out.item.map(from_item::<MessagePointerItem>).transpose()?.map(|p| p.conversation_id))
    }

    /// Deliveries of `cid` whose sort key lies in [from, to], all pages.
    /// One Query of messages (newest first unless `forward`), then one for the deliveries of
    /// exactly that page: their keys sort in one contiguous range. Also the page's
    /// LastEvaluatedKey.
    async fn message_page(
        &self,
        cid: ConversationId,
        start: Option<HashMap<String, AttributeValue>>,
        forward: bool,
        limit: i32,
        with_cursor: bool,
    ) -> Result<(Vec<StoredMessage>, Option<HashMap<String, AttributeValue>>), StoreError> {
        let pk = keys::messages_pk(cid);
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(keys::MESSAGE_PREFIX))
            .scan_index_forward(forward)
            .consistent_read(true)
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| super::query_error(e, with_cursor))?;
        let messages: Vec<Message> = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| from_item::<MessageItem>(item).map(Message::from))
            .collect::<Result<_, _>>()?;
        let mut by_message: BTreeMap<MessageId, Vec<Delivery>> = BTreeMap::new();
        let ids = (messages.first().map(|m| m.id), messages.last().map(|m| m.id));
        if let (Some(a), Some(b)) = ids {
            let (oldest, newest) = if forward { (a, b) } else { (b, a) };
            let from = format!("{}{}#", keys::DELIVERY_PREFIX, oldest);
            let to = format!("{}{}#\u{7f}", keys::DELIVERY_PREFIX, newest);
            for delivery in self.query_deliveries(cid, &from, &to).await? {
                by_message.entry(delivery.message_id).or_default().push(delivery);
            }
        }
        let items = messages
            .into_iter()
            .map(|message| {
                let deliveries = by_message.remove(&message.id).unwrap_or_default();
                StoredMessage { message, deliveries }
            })
            .collect();
        Ok((items, out.last_evaluated_key))
    }

    async fn query_deliveries(
        &self,
        cid: ConversationId,
        from: &str,
        to: &str,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.query_all(&keys::messages_pk(cid), Some((from, to)))
            .await?
            .into_iter()
            .map(|item| from_item::<DeliveryItem>(item).map(Delivery::from))
            .collect()
    }
}
