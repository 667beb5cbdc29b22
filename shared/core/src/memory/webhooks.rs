//! [`WebhookStore`]: what Twilio's webhooks read and write.

use async_trait::async_trait;
use chrono::Utc;

use super::{distinct_items, Conditions, DeliveryRecord, MemoryStore, Slot, TRANSACTION_LIMIT};
use crate::domain::conversation::ConversationDetail;
use crate::domain::ids::DeliveryId;
use crate::domain::message::{Delivery, DeliveryStatus, Message};
use crate::domain::phone::E164;
use crate::ports::webhooks::{InboundLookup, InboundWrite, RouteTarget, StatusOutcome, StatusUpdate};
use crate::ports::{StoreError, WebhookStore};

/// How long a MessageSid is remembered.
const INBOUND_RECORD_SECONDS: i64 = 7 * 24 * 3600;

#[async_trait]
impl WebhookStore for MemoryStore {
    async fn inbound_lookup(&self, to: &E164, from: &E164) -> Result<InboundLookup, StoreError> {
        let state = self.call()?;
        let pair = (to.clone(), from.clone());
        let number = state.numbers.get(to);
        Ok(InboundLookup {
            route: state.routes.get(&pair).map(|r| RouteTarget {
                conversation_id: r.conversation_id,
                participant_id: r.participant_id,
                display_name: r.display_name.clone(),
                inbox_user_id: r.inbox_user_id,
            }),
            in_pool: number.is_some(),
            owner_id: number.and_then(|n| n.owner_id),
            opted_out: state.opt_outs.contains(&pair),
        })
    }

    /// One transaction: the MessageSid record (new: else `Duplicate`, whatever else failed),
    /// the message with its pointer (a group text's in the outbox as a pending relay, due at its
    /// creation), the conversation's activity (active: else `ConversationInactive`) and the
    /// one-to-one user's inbox line (still there: else `Contention`), and the opt-out change.
    async fn record_inbound(&self, write: &InboundWrite<'_>) -> Result<(), StoreError> {
        let mut state = self.call()?;
        let mut tx = Conditions::default();
        tx.check(Slot::Idempotency, !state.inbound.contains_key(write.message_sid));
        if let Some(message) = write.message {
            state.check_new_message(&mut tx, message);
            tx.check(Slot::Meta, state.conversation_active(message.conversation_id));
            if let Some(user_id) = write.inbox_user_id {
                tx.check(Slot::Other, state.has_line(message.conversation_id, user_id));
            }
        }
        tx.verdict().map_err(|e| match e {
            StoreError::IdempotencyKeyUsed => StoreError::Duplicate,
            other => other,
        })?;

        let expires_at = Utc::now().timestamp() + INBOUND_RECORD_SECONDS;
        state.inbound.insert(write.message_sid.to_string(), expires_at);
        if let Some(message) = write.message {
            state.insert_message(message, &write.preview);
            if write.relay {
                state.relays.insert((message.conversation_id, message.id), message.created_at);
            }
            if crate::service::media_copy::wants_copy(message) {
                state.media_marks.insert((message.conversation_id, message.id), (message.created_at, 0));
            }
            if let Some(user_id) = write.inbox_user_id {
                state.touch_line(user_id, message, &write.preview);
            }
        }
        if let Some(change) = write.opt_change {
            state.set_opt_out(change.number, change.phone, change.opted_out);
        }
        Ok(())
    }

    /// One transaction, as in the adapter: the message out of the outbox (its relay mark still
    /// there: else `Ok(false)`, whatever else failed), the relays' deliveries (each new, into the
    /// outbox) and every web participant's inbox line (still there). Any other failed condition
    /// is `Contention`: nothing is written and the job reads the group again.
    async fn fan_out_relays(
        &self,
        detail: &ConversationDetail,
        message: &Message,
        deliveries: &[Delivery],
        preview: &str,
    ) -> Result<bool, StoreError> {
        let mut state = self.call()?;
        let cid = detail.conversation.id;
        let users = detail.user_ids();
        distinct_items(deliveries.iter().map(Delivery::id))?;
        distinct_items(users.iter())?;
        let items = 1 + deliveries.len() + users.len();
        if items > TRANSACTION_LIMIT {
            // DynamoDB refuses the request (the adapter does not split this one).
            return Err(StoreError::Backend(format!(
                "ValidationException: a transaction holds at most {TRANSACTION_LIMIT} items ({items})"
            )));
        }
        let mark = (message.conversation_id, message.id);
        let mut tx = Conditions::default();
        tx.check(Slot::Idempotency, state.relays.contains_key(&mark));
        for delivery in deliveries {
            tx.check(Slot::Other, !state.deliveries.contains_key(&delivery.id()));
        }
        for user_id in &users {
            tx.check(Slot::Other, state.has_line(cid, *user_id));
        }
        match tx.verdict() {
            Ok(()) => {}
            // The mark was gone: fanned out before.
            Err(StoreError::IdempotencyKeyUsed) => return Ok(false),
            Err(_) => return Err(StoreError::Contention),
        }

        state.relays.remove(&mark);
        for delivery in deliveries {
            state.deliveries.insert(delivery.id(), DeliveryRecord::new(delivery));
        }
        for user_id in users {
            state.touch_line(user_id, message, preview);
        }
        Ok(true)
    }

    /// Forward only: applied when the new status outranks the stored one; `read` never over a
    /// failure; a superseded SID changes nothing. The SID and the error are added; a SID is set
    /// only if the delivery has none. An applied callback takes the delivery out of the outbox
    /// (if it waited there; its index entry then names its SID, when the callback gives one). `Unknown` when there is
    /// no such delivery.
    async fn apply_status(&self, update: &StatusUpdate) -> Result<StatusOutcome, StoreError> {
        let mut state = self.call()?;
        let Some(record) = state.deliveries.get_mut(&update.delivery) else {
            return Ok(StatusOutcome::Unknown);
        };
        let failed_for_good = matches!(
            record.delivery.status,
            DeliveryStatus::Failed | DeliveryStatus::Undelivered | DeliveryStatus::OptedOut
        );
        let applies = record.rank < update.status.rank()
            && !(update.status == DeliveryStatus::Read && failed_for_good)
            && !update.sid.as_ref().is_some_and(|sid| record.superseded.contains(sid));
        if !applies {
            return Ok(StatusOutcome::Stale);
        }
        let stored = &mut record.delivery;
        stored.status = update.status;
        stored.updated_at = Utc::now();
        record.rank = update.status.rank();
        if stored.twilio_sid.is_none() {
            stored.twilio_sid.clone_from(&update.sid);
        }
        // Twilio has it: out of the outbox (a worker's claim on it would find it done).
        record.outbox = None;
        if update.error_code.is_some() {
            stored.error_code = update.error_code;
        }
        if update.error_message.is_some() {
            stored.error_message.clone_from(&update.error_message);
        }
        Ok(StatusOutcome::Applied)
    }

    /// The first delivery (by id) that carries this SID (and is not in the outbox: its index
    /// entry is then the outbox's).
    async fn delivery_by_sid(&self, sid: &str) -> Result<Option<DeliveryId>, StoreError> {
        let state = self.call()?;
        Ok(state
            .deliveries
            .iter()
            .find(|(_, d)| d.outbox.is_none() && d.delivery.twilio_sid.as_deref() == Some(sid))
            .map(|(id, _)| *id))
    }
}
