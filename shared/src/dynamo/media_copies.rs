//! [`MediaCopyStore`]: the media-copy mark of an inbound MMS, on its message pointer item
//! (`MSG#<messageId>` / `MESSAGE`): GSI1 entry `OUTBOX#<shard>` / `<due>#M#<c>#<m>` and
//! `mediaAttempts`. A claim is one conditional UpdateItem; a copy that succeeded is one
//! transaction (the message's `mediaKeys`, set once, and the mark removed); a retry or a
//! give-up is one conditional UpdateItem.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use switchboard_core::domain::ids::{ConversationId, MessageId};
use switchboard_core::ports::media_copies::CopyOutcome;
use switchboard_core::ports::{MediaCopyStore, StoreError};

use super::items::stamp;
use super::{built, key, keys, s, sdk_error, DynamoStore, Item, TxError};

/// An early job (its due time not reached) is still accepted this close to it: clocks differ.
const DUE_SLACK: chrono::Duration = chrono::Duration::seconds(2);

fn pointer_key(message_id: MessageId) -> Item {
    key(keys::message_pointer_pk(message_id), keys::MESSAGE_POINTER_SK)
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn condition_failed(err: &aws_sdk_dynamodb::error::SdkError<UpdateItemError>) -> bool {
    matches!(err.as_service_error(), Some(UpdateItemError::ConditionalCheckFailedException(_)))
}

/// Still the mark of claim `attempt`.
const SAME_CLAIM: &str = "attribute_exists(GSI1SK) AND mediaAttempts = :attempt";

#[async_trait]
impl MediaCopyStore for DynamoStore {
    async fn claim_media_copy(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Option<u32>, StoreError> {
        let leased = now + chrono::Duration::from_std(lease).unwrap_or_default();
        // The mark's sort key starts with its due time (fixed width), so it sorts before the
        // cutoff exactly when it is due.
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(pointer_key(message_id)))
            .condition_expression("attribute_exists(GSI1SK) AND GSI1SK < :cutoff")
            .update_expression("SET GSI1SK = :leased ADD mediaAttempts :one")
            .expression_attribute_values(":cutoff", s(stamp(&(now + DUE_SLACK))))
            .expression_attribute_values(
                ":leased",
                s(keys::outbox_media_sk(&stamp(&leased), conversation_id, message_id)),
            )
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match out {
            Ok(out) => {
                let attempts = out
                    .attributes()
                    .and_then(|a| a.get("mediaAttempts"))
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| StoreError::Backend("a media claim without its attempt count".into()))?;
                Ok(Some(attempts))
            }
            Err(err) if condition_failed(&err) => Ok(None),
            Err(err) => Err(sdk_error(err)),
        }
    }

    async fn finish_media_copy(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        attempt: u32,
        outcome: &CopyOutcome,
    ) -> Result<bool, StoreError> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(pointer_key(message_id)))
            .condition_expression(SAME_CLAIM)
            .expression_attribute_values(":attempt", n(attempt));
        let request = match outcome {
            CopyOutcome::Copied(copy_keys) => {
                return self.record_copies(conversation_id, message_id, attempt, copy_keys).await;
            }
            CopyOutcome::Retry(at) => {
                request.update_expression("SET GSI1SK = :due").expression_attribute_values(
                    ":due",
                    s(keys::outbox_media_sk(&stamp(at), conversation_id, message_id)),
                )
            }
            CopyOutcome::GaveUp => request.update_expression("REMOVE GSI1PK, GSI1SK"),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(err) if condition_failed(&err) => Ok(false),
            Err(err) => Err(sdk_error(err)),
        }
    }
}

impl DynamoStore {
    /// One transaction: the message's `mediaKeys` (only if it has none) and the mark removed
    /// (only if still this claim's).
    async fn record_copies(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        attempt: u32,
        copy_keys: &[String],
    ) -> Result<bool, StoreError> {
        let message = built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(keys::messages_pk(conversation_id), &keys::message_sk(message_id))))
                .condition_expression("attribute_exists(PK) AND attribute_not_exists(mediaKeys)")
                .update_expression("SET mediaKeys = :keys")
                .expression_attribute_values(
                    ":keys",
                    AttributeValue::L(copy_keys.iter().map(|k| s(k.clone())).collect()),
                )
                .build(),
        )?;
        let mark = built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(pointer_key(message_id)))
                .condition_expression(SAME_CLAIM)
                .update_expression("REMOVE GSI1PK, GSI1SK")
                .expression_attribute_values(":attempt", n(attempt))
                .build(),
        )?;
        let writes = vec![
            TransactWriteItem::builder().update(message).build(),
            TransactWriteItem::builder().update(mark).build(),
        ];
        match self.transact(writes).await {
            Ok(()) => Ok(true),
            Err(TxError::Cancelled(_)) => Ok(false),
            Err(TxError::Store(err)) => Err(err),
        }
    }
}
