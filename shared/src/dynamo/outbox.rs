//! [`OutboxStore`]: claiming an attempt at a pending delivery, recording how it ended, finding
//! overdue outbox entries for the sweeper, and an operator's redrive. Every write is one
//! conditional UpdateItem (a transaction only where an opt-out is recorded too).
//!
//! A delivery item in the outbox carries, besides its status (`pending`):
//! - `attempts` (attempts claimed so far), `leaseUntil` (epoch ms until which the claim belongs
//!   to its worker), `inFlight` (true from a claim until a definite outcome is recorded: still
//!   true at the next claim means the previous attempt may have been sent), `attemptStartedAt`;
//! - `nextAttemptAt` and its GSI1 entry `OUTBOX#<shard>` / `<due>#D#<id>` (see `keys`).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use chrono::{DateTime, Utc};
use switchboard_core::domain::ids::{ConversationId, DeliveryId, MessageId};
use switchboard_core::domain::message::{Delivery, DeliveryStatus, TENTATIVE_FAILURE_RANK};
use switchboard_core::ports::outbox::{AttemptOutcome, Claim, ClaimedDelivery};
use switchboard_core::ports::queue::Job;
use switchboard_core::ports::{OutboxStore, StoreError};

use super::items::{stamp, DeliveryItem};
use super::{built, delivery_key, from_item, keys, s, sdk_error, DynamoStore, Item, TxError};

/// An early job (its due time not reached) is still accepted this close to it: clocks differ.
const DUE_SLACK: chrono::Duration = chrono::Duration::seconds(2);

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

fn is_condition_failure(err: &aws_sdk_dynamodb::error::SdkError<UpdateItemError>) -> bool {
    matches!(err.as_service_error(), Some(UpdateItemError::ConditionalCheckFailedException(_)))
}

/// An outbox entry's job, from its GSI1 sort key (`<due>#D#<id>`, `<due>#R#<c>#<m>`,
/// `<due>#M#<c>#<m>`).
fn job_of(sort_key: &str) -> Option<Job> {
    let (_, rest) = sort_key.split_once('#')?;
    match rest.split_once('#')? {
        ("D", id) => DeliveryId::parse(id).ok().map(Job::delivery),
        ("R", ids) => {
            let (conversation, message) = ids.split_once('#')?;
            Some(Job::relay(ConversationId::parse(conversation).ok()?, MessageId::parse(message).ok()?))
        }
        ("M", ids) => {
            let (conversation, message) = ids.split_once('#')?;
            Some(Job::media_copy(ConversationId::parse(conversation).ok()?, MessageId::parse(message).ok()?))
        }
        _ => None,
    }
}

#[async_trait]
impl OutboxStore for DynamoStore {
    async fn claim_delivery(
        &self,
        id: DeliveryId,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        let lease_until = now + chrono::Duration::from_std(lease).unwrap_or_default();
        // Every right-hand side reads the item as it was: `wasInFlight` and `reconcileSince` are
        // the previous attempt's.
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key(&id)))
            .update_expression(
                "SET wasInFlight = if_not_exists(inFlight, :false), \
                 reconcileSince = if_not_exists(attemptStartedAt, :now), \
                 attempts = if_not_exists(attempts, :zero) + :one, \
                 leaseUntil = :lease, inFlight = :true, attemptStartedAt = :now",
            )
            .condition_expression(
                "attribute_exists(SK) AND #status = :pending \
                 AND (attribute_not_exists(leaseUntil) OR leaseUntil < :nowMs) \
                 AND (attribute_not_exists(nextAttemptAt) OR nextAttemptAt <= :dueBy)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s(DeliveryStatus::Pending.as_str()))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", s(stamp(&now)))
            .expression_attribute_values(":nowMs", n(now.timestamp_millis()))
            .expression_attribute_values(":lease", n(lease_until.timestamp_millis()))
            .expression_attribute_values(":dueBy", s(stamp(&(now + DUE_SLACK))))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let item =
                    out.attributes.ok_or_else(|| StoreError::Backend("claim returned no item".into()))?;
                let attempt = number(&item, "attempts").unwrap_or(1) as u32;
                let was_in_flight =
                    item.get("wasInFlight").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false);
                let reconcile_since = text(&item, "reconcileSince")
                    .filter(|_| was_in_flight)
                    .and_then(|t| t.parse::<DateTime<Utc>>().ok());
                let delivery = Delivery::from(from_item::<DeliveryItem>(item)?);
                Ok(Claim::Claimed(Box::new(ClaimedDelivery { delivery, attempt, reconcile_since })))
            }
            Err(err) if is_condition_failure(&err) => {
                let old = match err.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(failed)) => failed.item().cloned(),
                    _ => None,
                };
                Ok(match old {
                    None => Claim::Unknown,
                    Some(item) if text(&item, "status") != Some(DeliveryStatus::Pending.as_str()) => {
                        Claim::Done
                    }
                    Some(item)
                        if number(&item, "leaseUntil")
                            .is_some_and(|until| until >= now.timestamp_millis()) =>
                    {
                        Claim::Leased
                    }
                    Some(item) => {
                        let due = text(&item, "nextAttemptAt").and_then(|t| t.parse().ok()).unwrap_or(now);
                        Claim::NotDue(due)
                    }
                })
            }
            Err(err) => Err(sdk_error(err)),
        }
    }

    async fn finish_attempt(
        &self,
        delivery: &Delivery,
        attempt: u32,
        outcome: &AttemptOutcome,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let id = delivery.id();
        let mut w = Write::new(attempt, now);
        match outcome {
            AttemptOutcome::Accepted { sid, status } => {
                // The status too, unless a status callback already moved it further.
                let full = w
                    .status(*status, status.rank())
                    .set("twilioSid", s(sid.clone()))
                    .set("GSI1PK", s(keys::sid_pk(sid)))
                    .set("GSI1SK", s(keys::SID_SK))
                    .remove(&["leaseUntil", "inFlight", "nextAttemptAt", "errorCode", "errorMessage"])
                    .condition("#rank < :rank");
                if self.write(&id, full).await? {
                    return Ok(true);
                }
                // Only the SID, indexed unless a callback recorded another one first (an attempt
                // that reconciling did not find, sent twice): the delivery keeps that first SID.
                let sid_only = Write::new(attempt, now)
                    .keep_sid(sid)
                    .set("GSI1PK", s(keys::sid_pk(sid)))
                    .set("GSI1SK", s(keys::SID_SK))
                    .remove(&["leaseUntil", "inFlight", "nextAttemptAt"])
                    .condition("(attribute_not_exists(twilioSid) OR twilioSid = :sid)");
                if self.write(&id, sid_only).await? {
                    return Ok(true);
                }
                let lease_only =
                    Write::new(attempt, now).remove(&["leaseUntil", "inFlight", "nextAttemptAt"]);
                self.write(&id, lease_only).await
            }
            AttemptOutcome::Refused { status, code, message } => {
                w = w
                    .status(*status, status.rank())
                    .error(*code, message)
                    .remove(&["GSI1PK", "GSI1SK", "leaseUntil", "inFlight", "nextAttemptAt"])
                    .condition("#status = :pending");
                if *status == DeliveryStatus::OptedOut {
                    return self.write_with_opt_out(delivery, w).await;
                }
                self.write(&id, w).await
            }
            AttemptOutcome::Retry { at, code, message, ambiguous } => {
                let due = stamp(at);
                w = w
                    .set("nextAttemptAt", s(due.clone()))
                    .set("GSI1SK", s(keys::outbox_delivery_sk(&due, id)))
                    .set("inFlight", AttributeValue::Bool(*ambiguous))
                    .error(*code, message)
                    .remove(&["leaseUntil"])
                    .condition("#status = :pending");
                self.write(&id, w).await
            }
            AttemptOutcome::GaveUp { code, message, tentative } => {
                let rank = if *tentative { TENTATIVE_FAILURE_RANK } else { DeliveryStatus::Failed.rank() };
                w = w
                    .status(DeliveryStatus::Failed, rank)
                    .error(*code, message)
                    .remove(&["GSI1PK", "GSI1SK", "leaseUntil", "inFlight", "nextAttemptAt"])
                    .condition("#status = :pending");
                self.write(&id, w).await
            }
        }
    }

    async fn due_jobs(&self, before: DateTime<Utc>, limit: usize) -> Result<Vec<Job>, StoreError> {
        let shards = (0..keys::OUTBOX_SHARDS).map(keys::outbox_pk);
        let keys = self.gsi1_due(shards, &stamp(&before), limit).await?;
        Ok(keys.iter().filter_map(|sk| job_of(sk)).collect())
    }

    /// `failed` back to the outbox: only the failure that was read (same rank and SID); its SID
    /// superseded (late callbacks of it change nothing); attempts from zero, due now.
    async fn reset_failed_delivery(
        &self,
        delivery: &Delivery,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let id = delivery.id();
        let due = stamp(&now);
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key(&id)))
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#rank", "rank")
            .expression_attribute_values(":pending", s(DeliveryStatus::Pending.as_str()))
            .expression_attribute_values(":failed", s(DeliveryStatus::Failed.as_str()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":read_rank", n(delivery.rank()))
            .expression_attribute_values(":at", s(due.clone()))
            .expression_attribute_values(":gpk", s(keys::outbox_pk(keys::outbox_shard(id))))
            .expression_attribute_values(":gsk", s(keys::outbox_delivery_sk(&due, id)));
        let mut update = "SET #status = :pending, #rank = :zero, attempts = :zero, updatedAt = :at, \
                          nextAttemptAt = :at, GSI1PK = :gpk, GSI1SK = :gsk \
                          REMOVE twilioSid, errorCode, errorMessage, leaseUntil, inFlight"
            .to_string();
        let mut condition = "attribute_exists(SK) AND #status = :failed AND #rank = :read_rank".to_string();
        match &delivery.twilio_sid {
            Some(sid) => {
                update.push_str(" ADD supersededSids :old");
                condition.push_str(" AND twilioSid = :sid");
                request = request
                    .expression_attribute_values(":sid", s(sid.clone()))
                    .expression_attribute_values(":old", AttributeValue::Ss(vec![sid.clone()]));
            }
            None => condition.push_str(" AND attribute_not_exists(twilioSid)"),
        }
        match request.update_expression(update).condition_expression(condition).send().await {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(sdk_error(err)),
        }
    }
}

impl DynamoStore {
    /// Runs one attempt's write; false when its condition failed (the claim was superseded, or a
    /// status callback moved the delivery on).
    async fn write(&self, id: &DeliveryId, w: Write) -> Result<bool, StoreError> {
        let (update, condition, names, values) = w.build();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key(id)))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(sdk_error(err)),
        }
    }

    /// The attempt's write and the opt-out it found (Twilio's 21610, or a STOP on our side), in one
    /// transaction.
    async fn write_with_opt_out(&self, delivery: &Delivery, w: Write) -> Result<bool, StoreError> {
        let (update, condition, names, values) = w.build();
        let update = built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(delivery_key(&delivery.id())))
                .update_expression(update)
                .condition_expression(condition)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .build(),
        )?;
        let opt_out = self.opt_out_write(&delivery.from, &delivery.to, true)?;
        let items = vec![TransactWriteItem::builder().update(update).build(), opt_out];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TxError::Cancelled(_)) => Ok(false),
            Err(TxError::Store(e)) => Err(e),
        }
    }
}

/// One attempt's update expression, built from its parts. Every one is conditioned on the
/// attempt still being the claimed one (`attempts = :attempt`).
struct Write {
    set: Vec<String>,
    remove: Vec<String>,
    conditions: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Write {
    fn new(attempt: u32, now: DateTime<Utc>) -> Self {
        let mut w = Self {
            set: vec!["updatedAt = :at".into()],
            remove: Vec::new(),
            conditions: vec!["attribute_exists(SK)".into(), "attempts = :attempt".into()],
            names: HashMap::from([("#status".into(), "status".into()), ("#rank".into(), "rank".into())]),
            values: HashMap::from([(":at".into(), s(stamp(&now))), (":attempt".into(), n(attempt))]),
        };
        w.values.insert(":pending".into(), s(DeliveryStatus::Pending.as_str()));
        w
    }

    fn set(mut self, name: &str, value: AttributeValue) -> Self {
        let placeholder = format!(":v{}", self.values.len());
        self.set.push(format!("{name} = {placeholder}"));
        self.values.insert(placeholder, value);
        self
    }

    /// `twilioSid` only if it has none (a callback may have recorded it first).
    fn keep_sid(mut self, sid: &str) -> Self {
        self.set.retain(|part| !part.starts_with("twilioSid"));
        self.set.push("twilioSid = if_not_exists(twilioSid, :sid)".into());
        self.values.insert(":sid".into(), s(sid.to_string()));
        self
    }

    fn status(mut self, status: DeliveryStatus, rank: u8) -> Self {
        self.set.push("#status = :status".into());
        self.set.push("#rank = :rank".into());
        self.values.insert(":status".into(), s(status.as_str()));
        self.values.insert(":rank".into(), n(rank));
        self
    }

    fn error(mut self, code: Option<i64>, message: &str) -> Self {
        match code {
            Some(code) => {
                self.set.push("errorCode = :code".into());
                self.values.insert(":code".into(), n(code));
            }
            None => self.remove.push("errorCode".into()),
        }
        self.set.push("errorMessage = :message".into());
        self.values.insert(":message".into(), s(message.to_string()));
        self
    }

    fn remove(mut self, names: &[&str]) -> Self {
        self.remove.extend(names.iter().map(|n| n.to_string()));
        self
    }

    fn condition(mut self, condition: &str) -> Self {
        self.conditions.push(condition.into());
        self
    }

    fn build(self) -> (String, String, HashMap<String, String>, HashMap<String, AttributeValue>) {
        let mut update = format!("SET {}", self.set.join(", "));
        if !self.remove.is_empty() {
            update.push_str(&format!(" REMOVE {}", self.remove.join(", ")));
        }
        let condition = self.conditions.join(" AND ");
        // DynamoDB refuses names and values the expressions do not use.
        let used = |key: &String| update.contains(key.as_str()) || condition.contains(key.as_str());
        let names = self.names.into_iter().filter(|(k, _)| used(k)).collect();
        let values = self.values.into_iter().filter(|(k, _)| used(k)).collect();
        (update, condition, names, values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbox_sort_keys_name_their_jobs() {
        let id = DeliveryId {
            conversation_id: ConversationId::new(),
            message_id: MessageId::new(),
            participant_id: switchboard_core::domain::ids::ParticipantId::new(),
        };
        let due = stamp(&Utc::now());
        assert_eq!(job_of(&keys::outbox_delivery_sk(&due, id)), Some(Job::delivery(id)));
        let relay = keys::outbox_relay_sk(&due, id.conversation_id, id.message_id);
        assert_eq!(job_of(&relay), Some(Job::relay(id.conversation_id, id.message_id)));
        let copy = keys::outbox_media_sk(&due, id.conversation_id, id.message_id);
        assert_eq!(job_of(&copy), Some(Job::media_copy(id.conversation_id, id.message_id)));
        assert_eq!(job_of("garbage"), None);
        assert_eq!(job_of(&format!("{due}#X#y")), None);
    }
}
