//! What the Twilio webhooks write: inbound messages (once per MessageSid), their fan-out, opt-outs,
//! and delivery statuses (forward only).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use chrono::Utc;
use switchboard_core::domain::conversation::ConversationDetail;
use switchboard_core::domain::ids::DeliveryId;
use switchboard_core::domain::message::{Delivery, DeliveryStatus, Message};
use switchboard_core::domain::phone::E164;
use switchboard_core::ports::webhooks::{
    InboundLookup, InboundWrite, OptChange, RouteTarget, StatusOutcome, StatusUpdate,
};
use switchboard_core::ports::{StoreError, WebhookStore};

use super::conversations::Slot;
use super::items::{stamp, DeliveryItem, MessageItem, MessagePointerItem, NumberItem, RouteItem};
use super::{built, delivery_key, from_item, key, keys, s, sdk_error, to_item, DynamoStore, Item};

/// How long a MessageSid is remembered (Twilio retries within minutes).
const INBOUND_RECORD_SECONDS: i64 = 7 * 24 * 3600;

#[async_trait]
impl WebhookStore for DynamoStore {
    /// One BatchGetItem: the route (to, from) and the number item of `to`.
    async fn inbound_lookup(&self, to: &E164, from: &E164) -> Result<InboundLookup, StoreError> {
        let route_key = key(keys::route_pk(to), &keys::route_sk(from));
        let number_key = key(keys::number_pk(to), keys::NUMBER_SK);
        let opt_out_key = key(keys::opt_out_pk(to), &keys::opt_out_sk(from));
        let mut lookup = InboundLookup::default();
        for item in self.batch_get(vec![route_key, number_key, opt_out_key]).await? {
            let pk = item.get(keys::PK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            if pk.starts_with("OPTOUT#") {
                lookup.opted_out = true;
            } else if pk.starts_with("ROUTE#") {
                let route: RouteItem = from_item(item)?;
                lookup.route = Some(RouteTarget {
                    conversation_id: route.conversation_id,
                    participant_id: route.participant_id,
                    display_name: route.display_name,
                    inbox_user_id: route.inbox_user_id,
                });
            } else {
                let number: NumberItem = from_item(item)?;
                lookup.in_pool = true;
                lookup.owner_id = number.owner_id;
            }
        }
        Ok(lookup)
    }

    async fn record_inbound(&self, write: &InboundWrite<'_>) -> Result<(), StoreError> {
        let now = Utc::now();
        let mut record: Item = key(keys::inbound_pk(write.message_sid), keys::INBOUND_SK);
        record.insert("entity".into(), s("inbound"));
        record.insert(
            "expiresAt".into(),
            AttributeValue::N((now.timestamp() + INBOUND_RECORD_SECONDS).to_string()),
        );
        if let Some(message) = write.message {
            record.insert("conversationId".into(), s(message.conversation_id.to_string()));
            record.insert("messageId".into(), s(message.id.to_string()));
        }
        let mut items: Vec<(TransactWriteItem, Slot)> =
            vec![(self.put_if_absent(record)?, Slot::Idempotency)];
        if let Some(message) = write.message {
            let item =
                if write.relay { MessageItem::pending_relay(message) } else { MessageItem::from(message) };
            items.push((self.put_if_absent(to_item(&item)?)?, Slot::Other));
            let pointer = MessagePointerItem::of(message);
            items.push((self.put_if_absent(to_item(&pointer)?)?, Slot::Other));
            items.push((
                self.activity_update(message.conversation_id, &message.created_at, &write.preview, None)?,
                Slot::Meta,
            ));
            if let Some(user_id) = write.inbox_user_id {
                let update = self.inbox_update(user_id, message, &write.preview)?;
                items.push((update, Slot::Other));
            }
        }
        if let Some(OptChange { number, phone, opted_out }) = write.opt_change {
            items.push((self.opt_out_write(number, phone, opted_out)?, Slot::Other));
        }
        match self.transact_slots(items).await {
            Err(StoreError::IdempotencyKeyUsed) => Err(StoreError::Duplicate),
            other => other,
        }
    }

    async fn fan_out_relays(
        &self,
        detail: &ConversationDetail,
        message: &Message,
        deliveries: &[Delivery],
        preview: &str,
    ) -> Result<bool, StoreError> {
        // The message leaves the outbox only if it is still in it: a second run of the job
        // finds it out and writes nothing.
        let done = built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(keys::messages_pk(message.conversation_id), &keys::message_sk(message.id))))
                .update_expression("REMOVE GSI1PK, GSI1SK")
                .condition_expression("attribute_exists(GSI1PK)")
                .build(),
        )?;
        let mut items: Vec<(TransactWriteItem, Slot)> =
            vec![(TransactWriteItem::builder().update(done).build(), Slot::Idempotency)];
        for delivery in deliveries {
            items.push((self.put_if_absent(to_item(&DeliveryItem::from(delivery))?)?, Slot::Other));
        }
        // A participant who left since `detail` was read cancels this: the job reads again.
        for update in self.inbox_updates(detail, message, preview)? {
            items.push((update, Slot::Other));
        }
        debug_assert!(items.len() <= super::TRANSACTION_LIMIT, "{} items", items.len());
        match self.transact_slots(items).await {
            Ok(()) => Ok(true),
            // The mark was gone: fanned out before.
            Err(StoreError::IdempotencyKeyUsed) => Ok(false),
            Err(StoreError::Contention | StoreError::ConversationInactive) => Err(StoreError::Contention),
            Err(e) => Err(e),
        }
    }

    /// SET the status only if it moves forward (`read` only after `delivered`); the SID is added
    /// if the delivery lacks it. The delivery must exist: a callback never creates one.
    async fn apply_status(&self, update: &StatusUpdate) -> Result<StatusOutcome, StoreError> {
        let mut set = vec!["#status = :status", "#rank = :rank", "updatedAt = :at"];
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key(&update.delivery)))
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#rank", "rank")
            .expression_attribute_values(":status", s(update.status.as_str()))
            .expression_attribute_values(":rank", AttributeValue::N(update.status.rank().to_string()))
            .expression_attribute_values(":at", s(stamp(&Utc::now())))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let mut condition = "attribute_exists(SK) AND #rank < :rank".to_string();
        if update.status == DeliveryStatus::Read {
            // Read implies delivered, whatever order the callbacks come in; never over a failure.
            condition.push_str(" AND NOT (#status IN (:failed, :undelivered, :opted_out))");
            request = request
                .expression_attribute_values(":failed", s(DeliveryStatus::Failed.as_str()))
                .expression_attribute_values(":undelivered", s(DeliveryStatus::Undelivered.as_str()))
                .expression_attribute_values(":opted_out", s(DeliveryStatus::OptedOut.as_str()));
        }
        if let Some(sid) = &update.sid {
            // A callback of an attempt a replay superseded (`reset_failed_delivery`) is stale.
            condition.push_str(
                " AND (attribute_not_exists(supersededSids) OR NOT contains(supersededSids, :sid))",
            );
            set.extend([
                "twilioSid = if_not_exists(twilioSid, :sid)",
                "GSI1PK = if_not_exists(GSI1PK, :gpk)",
                "GSI1SK = if_not_exists(GSI1SK, :gsk)",
            ]);
            request = request
                .expression_attribute_values(":sid", s(sid.clone()))
                .expression_attribute_values(":gpk", s(keys::sid_pk(sid)))
                .expression_attribute_values(":gsk", s(keys::SID_SK));
        }
        if let Some(code) = update.error_code {
            set.push("errorCode = :code");
            request = request.expression_attribute_values(":code", AttributeValue::N(code.to_string()));
        }
        if let Some(message) = &update.error_message {
            set.push("errorMessage = :msg");
            request = request.expression_attribute_values(":msg", s(message.clone()));
        }
        let result = request
            .update_expression(format!("SET {}", set.join(", ")))
            .condition_expression(condition)
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                // A callback that overtook the pipeline's own record (Twilio's answer still on its
                // way, or lost): the delivery leaves the outbox, for its SID's index entry when
                // the callback names one.
                let was_in_outbox = out
                    .attributes()
                    .and_then(|old| old.get("GSI1PK"))
                    .and_then(|v| v.as_s().ok())
                    .is_some_and(|pk| pk.starts_with(keys::OUTBOX_PREFIX));
                if was_in_outbox {
                    self.leave_outbox(&update.delivery, update.sid.as_deref()).await?;
                }
                Ok(StatusOutcome::Applied)
            }
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    Ok(if failed.item().is_some() { StatusOutcome::Stale } else { StatusOutcome::Unknown })
                }
                _ => Err(sdk_error(e)),
            },
        }
    }

    async fn delivery_by_sid(&self, sid: &str) -> Result<Option<DeliveryId>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI1)
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(":pk", s(keys::sid_pk(sid)))
            .limit(1)
            .send()
            .await
            .map_err(sdk_error)?;
        let Some(item) = out.items.and_then(|mut items| items.pop()) else {
            return Ok(None);
        };
        let delivery: DeliveryItem = from_item(item)?;
        Ok(Some(DeliveryId {
            conversation_id: delivery.conversation_id,
            message_id: delivery.message_id,
            participant_id: delivery.participant_id,
        }))
    }
}

impl DynamoStore {
    /// Moves a delivery's GSI1 entry from the outbox to its SID (or drops it, without one), if it
    /// is still in the outbox.
    async fn leave_outbox(&self, delivery: &DeliveryId, sid: Option<&str>) -> Result<(), StoreError> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key(delivery)))
            .condition_expression("begins_with(GSI1PK, :outbox)")
            .expression_attribute_values(":outbox", s(keys::OUTBOX_PREFIX));
        let request = match sid {
            Some(sid) => request
                .update_expression("SET GSI1PK = :gpk, GSI1SK = :gsk")
                .expression_attribute_values(":gpk", s(keys::sid_pk(sid)))
                .expression_attribute_values(":gsk", s(keys::SID_SK)),
            None => request.update_expression("REMOVE GSI1PK, GSI1SK"),
        };
        let result = request.send().await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Ok(())
            }
            Err(e) => Err(sdk_error(e)),
        }
    }

    /// The write that records (Put) or clears (Delete) an opt-out.
    pub(super) fn opt_out_write(
        &self,
        number: &E164,
        phone: &E164,
        opted_out: bool,
    ) -> Result<TransactWriteItem, StoreError> {
        let opt_key = key(keys::opt_out_pk(number), &keys::opt_out_sk(phone));
        Ok(if opted_out {
            let mut opt = opt_key;
            opt.insert("entity".into(), s("opt-out"));
            opt.insert("optedOutAt".into(), s(stamp(&Utc::now())));
            TransactWriteItem::builder()
                .put(built(Put::builder().table_name(&self.table).set_item(Some(opt)).build())?)
                .build()
        } else {
            TransactWriteItem::builder()
                .delete(built(Delete::builder().table_name(&self.table).set_key(Some(opt_key)).build())?)
                .build()
        })
    }
}
