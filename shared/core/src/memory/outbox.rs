//! [`OutboxStore`]: claiming an attempt at a pending delivery, recording how it ended, finding
//! overdue outbox entries, an operator's redrive. Each call is the adapter's one conditional
//! update (`switchboard::dynamo::outbox`), checked in full before anything is written; an
//! Accepted whose status a callback overtook is the adapter's second, SID-only, update.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{MemoryStore, State};
use crate::domain::ids::DeliveryId;
use crate::domain::message::{Delivery, DeliveryStatus, TENTATIVE_FAILURE_RANK};
use crate::ports::outbox::{AttemptOutcome, Claim, ClaimedDelivery};
use crate::ports::queue::Job;
use crate::ports::{OutboxStore, StoreError};

/// An early job (its due time not reached) is still accepted this close to it: clocks differ.
const DUE_SLACK: chrono::Duration = chrono::Duration::seconds(2);
/// The adapter spreads the outbox's index entries over this many GSI1 partitions.
const OUTBOX_SHARDS: u32 = 4;

/// The adapter's timestamp attribute form (RFC 3339, UTC, nanoseconds, fixed width): outbox
/// sort keys start with it and compare as strings.
fn stamp(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// The shard of an outbox entry: from the last character of its id, as the adapter picks it.
fn shard(id: &str) -> u32 {
    id.bytes().last().map_or(0, |b| u32::from(b) % OUTBOX_SHARDS)
}

#[async_trait]
impl OutboxStore for MemoryStore {
    /// Claimed only while `pending`, with no lease or an expired one (compared in milliseconds,
    /// as stored), and due by `now` plus two seconds of slack. The claim counts the attempt,
    /// leases it until `now + lease`, and marks it in flight; `reconcile_since` is the previous
    /// attempt's start when that attempt was still in flight (no definite outcome recorded).
    /// When the condition fails: `Unknown` (no item), else `Done` (not pending), else `Leased`,
    /// else `NotDue` (its due time).
    async fn claim_delivery(
        &self,
        id: DeliveryId,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        let mut state = self.call()?;
        let Some(record) = state.deliveries.get_mut(&id) else {
            return Ok(Claim::Unknown);
        };
        let now_ms = now.timestamp_millis();
        let pending = record.delivery.status == DeliveryStatus::Pending;
        let unleased = record.lease_until_ms.is_none_or(|until| until < now_ms);
        let due = record.delivery.next_attempt_at.is_none_or(|at| at <= now + DUE_SLACK);
        if !pending {
            return Ok(Claim::Done);
        }
        if !unleased {
            return Ok(Claim::Leased);
        }
        if !due {
            return Ok(Claim::NotDue(record.delivery.next_attempt_at.unwrap_or(now)));
        }
        // Every right-hand side reads the item as it was.
        let was_in_flight = record.in_flight.unwrap_or(false);
        let reconcile_since = record.attempt_started_at.unwrap_or(now);
        record.delivery.attempts += 1;
        let lease_until = now + chrono::Duration::from_std(lease).unwrap_or_default();
        record.lease_until_ms = Some(lease_until.timestamp_millis());
        record.in_flight = Some(true);
        record.attempt_started_at = Some(now);
        Ok(Claim::Claimed(Box::new(ClaimedDelivery {
            delivery: record.delivery(),
            attempt: record.delivery.attempts,
            reconcile_since: was_in_flight.then_some(reconcile_since),
        })))
    }

    /// Only while the delivery exists and `attempts` is still `attempt` (else false: a later
    /// claim superseded this one):
    /// - Accepted: status, SID (its index entry out of the outbox, under the SID), no error, if
    ///   the status outranks the stored one; else (a callback moved it further) only the SID,
    ///   if it has none. Either way the lease, `inFlight` and `nextAttemptAt` go.
    /// - Refused: only while `pending`; out of the outbox with its status and error; an
    ///   `opted_out` records the opt-out of (from, to) in the same transaction.
    /// - Retry: only while `pending`; due again at `at` (the outbox entry moves), in flight when
    ///   ambiguous, with the error; the lease goes.
    /// - GaveUp: only while `pending`; `failed` (at the tentative rank when tentative), out of
    ///   the outbox, with the error.
    async fn finish_attempt(
        &self,
        delivery: &Delivery,
        attempt: u32,
        outcome: &AttemptOutcome,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut state = self.call()?;
        let Some(record) = state.deliveries.get_mut(&delivery.id()) else {
            return Ok(false);
        };
        if record.delivery.attempts != attempt {
            return Ok(false);
        }
        let pending = record.delivery.status == DeliveryStatus::Pending;
        match outcome {
            AttemptOutcome::Accepted { sid, status } => {
                let stored = &mut record.delivery;
                if record.rank < status.rank() {
                    stored.status = *status;
                    record.rank = status.rank();
                    stored.twilio_sid = Some(sid.clone());
                    (stored.error_code, stored.error_message) = (None, None);
                } else if stored.twilio_sid.is_none() {
                    stored.twilio_sid = Some(sid.clone());
                }
                stored.updated_at = now;
                stored.next_attempt_at = None;
                (record.outbox, record.lease_until_ms, record.in_flight) = (None, None, None);
                Ok(true)
            }
            AttemptOutcome::Refused { status, code, message } => {
                if !pending {
                    return Ok(false);
                }
                record.leave_outbox(*status, status.rank(), *code, message, now);
                if *status == DeliveryStatus::OptedOut {
                    state.set_opt_out(&delivery.from, &delivery.to, true);
                }
                Ok(true)
            }
            AttemptOutcome::Retry { at, code, message, ambiguous } => {
                if !pending {
                    return Ok(false);
                }
                let stored = &mut record.delivery;
                stored.next_attempt_at = Some(*at);
                (stored.error_code, stored.error_message) = (*code, Some(message.clone()));
                stored.updated_at = now;
                record.outbox = Some(*at);
                record.in_flight = Some(*ambiguous);
                record.lease_until_ms = None;
                Ok(true)
            }
            AttemptOutcome::GaveUp { code, message, tentative } => {
                if !pending {
                    return Ok(false);
                }
                let rank = if *tentative { TENTATIVE_FAILURE_RANK } else { DeliveryStatus::Failed.rank() };
                record.leave_outbox(DeliveryStatus::Failed, rank, *code, message, now);
                Ok(true)
            }
        }
    }

    /// The outbox entries (pending deliveries, pending relays) due strictly before `before`, in
    /// the adapter's order: shard by shard, each by due time then key; at most `limit`.
    async fn due_jobs(&self, before: DateTime<Utc>, limit: usize) -> Result<Vec<Job>, StoreError> {
        let state = self.call()?;
        Ok(state.outbox_entries(&stamp(&before)).into_iter().take(limit).map(|(_, _, job)| job).collect())
    }

    /// Only the `failed` attempt that was read (same rank, same SID): back to `pending` at rank
    /// 0 with attempts from zero, due at `now` in the outbox, without SID, error, lease or
    /// in-flight mark; its SID superseded.
    async fn reset_failed_delivery(
        &self,
        delivery: &Delivery,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut state = self.call()?;
        let Some(record) = state.deliveries.get_mut(&delivery.id()) else {
            return Ok(false);
        };
        let same_attempt = record.delivery.status == DeliveryStatus::Failed
            && record.rank == delivery.rank()
            && record.delivery.twilio_sid == delivery.twilio_sid;
        if !same_attempt {
            return Ok(false);
        }
        let stored = &mut record.delivery;
        if let Some(sid) = stored.twilio_sid.take() {
            record.superseded.insert(sid);
        }
        (stored.status, stored.error_code, stored.error_message) = (DeliveryStatus::Pending, None, None);
        (stored.attempts, stored.next_attempt_at, stored.updated_at) = (0, Some(now), now);
        record.rank = 0;
        record.outbox = Some(now);
        (record.lease_until_ms, record.in_flight) = (None, None);
        Ok(true)
    }
}

impl super::DeliveryRecord {
    /// A definite end of its attempts: the status and error, out of the outbox.
    fn leave_outbox(
        &mut self,
        status: DeliveryStatus,
        rank: u8,
        code: Option<i64>,
        message: &str,
        now: DateTime<Utc>,
    ) {
        let stored = &mut self.delivery;
        stored.status = status;
        (stored.error_code, stored.error_message) = (code, Some(message.to_string()));
        stored.updated_at = now;
        stored.next_attempt_at = None;
        self.rank = rank;
        (self.outbox, self.lease_until_ms, self.in_flight) = (None, None, None);
    }
}

impl State {
    /// Every outbox entry whose sort key (`<due>#D#<delivery>`, `<due>#R#<conversation>#<message>`)
    /// sorts before `cutoff`, as (shard, sort key, job), in the adapter's query order.
    fn outbox_entries(&self, cutoff: &str) -> Vec<(u32, String, Job)> {
        let deliveries = self.deliveries.iter().filter_map(|(id, record)| {
            let due = record.outbox?;
            let id_text = id.to_string();
            Some((shard(&id_text), format!("{}#D#{id_text}", stamp(&due)), Job::delivery(*id)))
        });
        let relays = self.relays.iter().map(|((cid, mid), due)| {
            (shard(&mid.to_string()), format!("{}#R#{cid}#{mid}", stamp(due)), Job::relay(*cid, *mid))
        });
        let copies = self.media_marks.iter().map(|((cid, mid), (due, _))| {
            (shard(&mid.to_string()), format!("{}#M#{cid}#{mid}", stamp(due)), Job::media_copy(*cid, *mid))
        });
        let mut entries: Vec<_> =
            deliveries.chain(relays).chain(copies).filter(|(_, sk, _)| sk.as_str() < cutoff).collect();
        entries.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        entries
    }
}
