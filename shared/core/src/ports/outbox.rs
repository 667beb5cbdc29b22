//! The outbox: deliveries waiting for the pipeline (and group texts waiting for their relay
//! job), each attempt claimed before it is made and recorded after. Written ahead by the
//! message and inbound transactions (`MessageStore::create_message`,
//! `WebhookStore::record_inbound`); taken to Twilio by `service::pipeline`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::queue::Job;
use super::StoreError;
use crate::domain::ids::DeliveryId;
use crate::domain::message::{Delivery, DeliveryStatus};

/// A worker's hold on one attempt at a pending delivery.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimedDelivery {
    /// The delivery as stored after the claim (`attempts` counts this attempt).
    pub delivery: Delivery,
    /// The attempt this claim is for (1 for the first).
    pub attempt: u32,
    /// Set when the previous attempt's outcome is unknown (no answer from Twilio, or its worker
    /// died): it may have been sent, so look for messages created since then before sending.
    pub reconcile_since: Option<DateTime<Utc>>,
}

/// What a claim found.
#[derive(Clone, Debug, PartialEq)]
pub enum Claim {
    Claimed(Box<ClaimedDelivery>),
    /// It left the outbox (accepted, failed, opted out): nothing to do.
    Done,
    /// Another worker holds an unexpired lease on it.
    Leased,
    /// Its next attempt is not due yet (an early duplicate of its job).
    NotDue(DateTime<Utc>),
    /// No such delivery.
    Unknown,
}

/// How an attempt ended, as recorded.
#[derive(Clone, Debug, PartialEq)]
pub enum AttemptOutcome {
    /// Twilio took it (or had taken it: found by reconciling). A status a callback already
    /// recorded is kept; only the SID is added.
    Accepted { sid: String, status: DeliveryStatus },
    /// Twilio refused it for good (`failed`), or the phone opted out (`opted_out`, which also
    /// records the opt-out).
    Refused { status: DeliveryStatus, code: Option<i64>, message: String },
    /// Worth another attempt at `at`; `ambiguous` when this one may have reached Twilio (the
    /// next attempt reconciles first).
    Retry { at: DateTime<Utc>, code: Option<i64>, message: String, ambiguous: bool },
    /// The last attempt failed: `failed`, tentatively when Twilio's answer was unknown (its
    /// status callbacks may still overrule it).
    GaveUp { code: Option<i64>, message: String, tentative: bool },
}

#[async_trait]
pub trait OutboxStore: Send + Sync + 'static {
    /// Claims the next attempt at a pending delivery before calling Twilio: one conditional
    /// update (still pending, no unexpired lease, due by `now`) that counts the attempt and
    /// leases it to the caller until `now + lease`, so two workers, or a job delivered twice,
    /// never send one delivery twice.
    async fn claim_delivery(
        &self,
        id: DeliveryId,
        now: DateTime<Utc>,
        lease: std::time::Duration,
    ) -> Result<Claim, StoreError>;
    /// Records how attempt `attempt` ended: out of the outbox (accepted, refused, given up), or
    /// back in it for a retry at a later time. False when a later claim superseded this one.
    async fn finish_attempt(
        &self,
        delivery: &Delivery,
        attempt: u32,
        outcome: &AttemptOutcome,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// The outbox's jobs due before `before` (pending deliveries, pending group relays): what
    /// the sweeper queues again when their own job was lost. At most `limit`.
    async fn due_jobs(&self, before: DateTime<Utc>, limit: usize) -> Result<Vec<Job>, StoreError>;
    /// Puts a `failed` delivery back in the outbox (`pending`, attempts from zero, due now) so
    /// the pipeline sends it again: an operator's redrive. Its SID joins the superseded ones
    /// (status callbacks naming it change nothing any more). False when it is no longer that
    /// `failed` attempt (a callback or another redrive moved it).
    async fn reset_failed_delivery(
        &self,
        delivery: &Delivery,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}
