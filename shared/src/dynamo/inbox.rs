//! The inbox (GSI1 `INBOX#<userId>`: one line per web participant item) and the read state
//! those lines carry. The message transactions keep each line's `unreadCount`
//! (`messages::inbox_update`); here the inbox is listed and a reader's horizon moves.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure, Select};
use switchboard_core::domain::conversation::ReadState;
use switchboard_core::domain::ids::{ConversationId, MessageId, UserId};
use switchboard_core::ports::conversations::{InboxPage, ReadMark};
use switchboard_core::ports::{Page, PageRequest, StoreError, MAX_PAGE_SIZE};

use super::items::ParticipantItem;
use super::{cursor, from_item, key, keys, s, sdk_error, DynamoStore, Item, GSI1_CURSOR_NAMES};

/// Compare-and-set rounds of one mark-read before giving up as contention (a 409 the client
/// retries): each lost round means a message or another read landed on this line between the
/// count and the update, two requests apart; only a storm of messages loses them all.
const READ_ATTEMPTS: u32 = 8;

impl DynamoStore {
    /// Later pages are one Query of `limit` lines. The first page reads every line of the
    /// user in that one Query (a Query page holds 1 MB, some thousands of lines), sums their
    /// `unreadCount` and keeps the first `limit`: the total costs no extra request, and no
    /// message is read.
    pub(super) async fn inbox_page(
        &self,
        user_id: UserId,
        page: &PageRequest,
    ) -> Result<InboxPage, StoreError> {
        let pk = keys::inbox_pk(user_id);
        if page.cursor.is_some() {
            let lines = self.gsi1_page::<ParticipantItem>(&pk, None, true, page).await?;
            return Ok(InboxPage { page: lines.map(|p| p.inbox_entry()), unread_total: None });
        }
        let limit = page.limit.clamp(1, MAX_PAGE_SIZE) as usize;
        let (mut kept, mut last_key, mut more, mut total) = (Vec::with_capacity(limit), None, false, 0u64);
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(keys::GSI1)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", keys::GSI1PK)
                .expression_attribute_values(":pk", s(&pk))
                .scan_index_forward(false)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_error)?;
            for item in out.items.unwrap_or_default() {
                total += item
                    .get("unreadCount")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0);
                if kept.len() == limit {
                    more = true;
                    continue;
                }
                last_key = Some(cursor_key(&item));
                kept.push(from_item::<ParticipantItem>(item)?.inbox_entry());
            }
            match out.last_evaluated_key {
                Some(key) => start = Some(key),
                None => break,
            }
        }
        let next_cursor = if more { last_key.as_ref().and_then(cursor::encode) } else { None };
        Ok(InboxPage { page: Page { items: kept, next_cursor }, unread_total: Some(total) })
    }

    /// Counts what lies beyond `up_to`, then SETs the horizon and that count only if the line
    /// still holds the state the count started from (a send in between added to it; another
    /// device's read moved it). A lost round reads the line's new state from the failed
    /// condition itself and counts again. Usually two requests: the count and the update.
    pub(super) async fn move_read_horizon(
        &self,
        cid: ConversationId,
        user_id: UserId,
        mut seen: ReadState,
        up_to: MessageId,
    ) -> Result<Option<ReadMark>, StoreError> {
        for _ in 0..READ_ATTEMPTS {
            if !seen.moves_to(up_to) {
                return Ok(Some(ReadMark { state: seen, moved: false }));
            }
            let unread_count = self.unread_after(cid, user_id, up_to).await?;
            let read = ReadState { last_read_message_id: Some(up_to), unread_count };
            match self.compare_and_set_read(cid, user_id, &seen, &read).await? {
                Swap::Done => return Ok(Some(ReadMark { state: read, moved: true })),
                Swap::Changed(now) => seen = now,
                Swap::Gone => return Ok(None),
            }
        }
        Err(StoreError::Contention)
    }

    /// The undeleted messages from others after `up_to`, which must be a message of `cid`:
    /// a Query from its key to the end of the message keys (deliveries sort before them),
    /// projected to what the count needs.
    async fn unread_after(
        &self,
        cid: ConversationId,
        reader: UserId,
        up_to: MessageId,
    ) -> Result<u32, StoreError> {
        let first = keys::message_sk(up_to);
        let (mut found, mut unread, mut start) = (false, 0u32, None::<Item>);
        let reader = reader.to_string();
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND SK BETWEEN :from AND :to")
                .expression_attribute_values(":pk", s(keys::messages_pk(cid)))
                .expression_attribute_values(":from", s(&first))
                .expression_attribute_values(":to", s(keys::MESSAGES_END))
                .projection_expression("SK, senderUserId, deleted")
                .select(Select::SpecificAttributes)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_error)?;
            for item in out.items.unwrap_or_default() {
                let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str);
                if text(keys::SK) == Some(first.as_str()) {
                    found = true;
                    continue;
                }
                let deleted = item.get("deleted").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false);
                if !deleted && text("senderUserId") != Some(reader.as_str()) {
                    unread += 1;
                }
            }
            match out.last_evaluated_key {
                Some(key) => start = Some(key),
                None => break,
            }
        }
        if found {
            Ok(unread)
        } else {
            Err(StoreError::MessageNotFound)
        }
    }

    async fn compare_and_set_read(
        &self,
        cid: ConversationId,
        user_id: UserId,
        seen: &ReadState,
        read: &ReadState,
    ) -> Result<Swap, StoreError> {
        // A line written before read state existed has neither attribute: it reads as 0 / none.
        let same_count = if seen.unread_count == 0 {
            "(attribute_not_exists(unreadCount) OR unreadCount = :seenCount)"
        } else {
            "unreadCount = :seenCount"
        };
        let same_horizon = match seen.last_read_message_id {
            Some(_) => "lastReadMessageId = :seenRead",
            None => "attribute_not_exists(lastReadMessageId)",
        };
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::conversation_pk(cid), &keys::user_participant_sk(user_id))))
            .update_expression("SET lastReadMessageId = :read, unreadCount = :count")
            .condition_expression(format!("attribute_exists(SK) AND {same_count} AND {same_horizon}"))
            .expression_attribute_values(
                ":read",
                s(read.last_read_message_id.map(|m| m.to_string()).unwrap_or_default()),
            )
            .expression_attribute_values(":count", number(read.unread_count))
            .expression_attribute_values(":seenCount", number(seen.unread_count))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(horizon) = seen.last_read_message_id {
            update = update.expression_attribute_values(":seenRead", s(horizon.to_string()));
        }
        match update.send().await {
            Ok(_) => Ok(Swap::Done),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => match failed.item() {
                    Some(item) => Ok(Swap::Changed(from_item::<ParticipantItem>(item.clone())?.read_state())),
                    None => Ok(Swap::Gone),
                },
                _ => Err(sdk_error(e)),
            },
        }
    }
}

/// How a compare-and-set of a read state ended.
enum Swap {
    Done,
    /// The line holds another state now (as the failed condition returned it).
    Changed(ReadState),
    /// The line is gone: the reader left.
    Gone,
}

fn number(n: u32) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

/// The key attributes a GSI1 cursor names, taken from a listed item.
fn cursor_key(item: &Item) -> HashMap<String, AttributeValue> {
    GSI1_CURSOR_NAMES
        .iter()
        .filter_map(|name| item.get(*name).map(|v| ((*name).to_string(), v.clone())))
        .collect()
}
