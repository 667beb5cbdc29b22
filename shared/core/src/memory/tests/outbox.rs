//! The outbox: claims, how attempts are recorded, what the sweeper finds, an operator's redrive.

use std::collections::HashSet;
use std::time::Duration as StdDuration;

use chrono::Duration;

use super::*;
use crate::domain::ids::DeliveryId;
use crate::domain::message::TENTATIVE_FAILURE_RANK;
use crate::ports::outbox::{AttemptOutcome, Claim, ClaimedDelivery};
use crate::ports::queue::Job;
use crate::ports::webhooks::{StatusOutcome, StatusUpdate};
use crate::ports::{OutboxStore, StoreError, WebhookStore};

const LEASE: StdDuration = StdDuration::from_secs(120);

/// A group with one phone and one message to it: its pending delivery, as written ahead.
async fn one_delivery(store: &MemoryStore) -> Delivery {
    pool(store, [1]).await;
    let ada = registered(store, "ada").await;
    let detail = group(store, &ada, &[], &[(phone(1), number(1))]).await;
    send(store, &detail, &message(&detail, &ada, "hi")).await.remove(0)
}

async fn claimed(store: &MemoryStore, delivery: &Delivery, now: DateTime<Utc>) -> ClaimedDelivery {
    match store.claim_delivery(delivery.id(), now, LEASE).await.unwrap() {
        Claim::Claimed(claimed) => *claimed,
        other => panic!("not claimed: {other:?}"),
    }
}

fn callback(delivery: &Delivery, status: DeliveryStatus, sid: Option<&str>) -> StatusUpdate {
    StatusUpdate {
        delivery: delivery.id(),
        status,
        sid: sid.map(str::to_string),
        error_code: None,
        error_message: None,
    }
}

fn accepted(sid: &str) -> AttemptOutcome {
    AttemptOutcome::Accepted { sid: sid.into(), status: DeliveryStatus::Queued }
}

fn retry(at: DateTime<Utc>, ambiguous: bool) -> AttemptOutcome {
    let message = if ambiguous { "no answer" } else { "503" };
    AttemptOutcome::Retry { at, code: None, message: message.into(), ambiguous }
}

#[tokio::test]
async fn a_send_writes_each_delivery_ahead_into_the_outbox_with_its_text() {
    let store = MemoryStore::new();
    pool(&store, [1]).await;
    let ada = registered(&store, "ada").await;
    let detail = group(&store, &ada, &[], &[(phone(1), number(1)), (phone(2), number(1))]).await;
    let msg =
        Message { media_urls: vec!["https://example.com/a.png".into()], ..message(&detail, &ada, "hi") };
    let mut deliveries = pending_deliveries(&detail, &msg);
    let opted = deliveries.iter().position(|d| d.to == phone(2)).unwrap();
    deliveries[opted] = Delivery::new(
        &msg,
        deliveries[opted].participant_id,
        number(1),
        phone(2),
        "ada: hi",
        segments("ada: hi"),
        true,
    );
    let new = NewMessage {
        detail: &detail,
        message: &msg,
        deliveries: &deliveries,
        idempotency: None,
        preview: "hi".into(),
        idle_deadline: None,
    };

    store.create_message(&new).await.unwrap();

    let pending = deliveries.iter().find(|d| d.to == phone(1)).unwrap();
    let stored = store.delivery(&pending.id()).unwrap();
    assert_eq!(stored, *pending, "read back as written");
    assert_eq!((stored.attempts, stored.next_attempt_at), (0, Some(msg.created_at)));
    assert_eq!(stored.media_urls, msg.media_urls);
    assert_eq!(store.outbox_due(&pending.id()), Some(msg.created_at));
    let opted = &deliveries[opted];
    assert_eq!(store.delivery(&opted.id()).unwrap().status, DeliveryStatus::OptedOut);
    assert_eq!(store.outbox_due(&opted.id()), None, "no SMS: not in the outbox");
    let due = store.due_jobs(Utc::now() + Duration::seconds(1), 10).await.unwrap();
    assert_eq!(due, [Job::delivery(pending.id())]);
}

#[tokio::test]
async fn a_claim_counts_the_attempt_and_leases_it_so_a_second_claim_finds_it_leased() {
    let store = MemoryStore::new();
    let delivery = one_delivery(&store).await;
    let now = Utc::now();

    let first = claimed(&store, &delivery, now).await;

    assert_eq!((first.attempt, first.delivery.attempts, first.reconcile_since), (1, 1, None));
    assert_eq!(first.delivery.body, "hi");
    let again = now + Duration::seconds(119);
    assert_eq!(store.claim_delivery(delivery.id(), again, LEASE).await.unwrap(), Claim::Leased);
    assert_eq!(store.delivery(&delivery.id()).unwrap().attempts, 1, "a refused claim counts nothing");
}

#[tokio::test]
async fn after_the_lease_a_new_claim_reconciles_the_attempt_still_in_flight() {
    let store = MemoryStore::new();
    let delivery = one_delivery(&store).await;
    let started = Utc::now();
    claimed(&store, &delivery, started).await;

    // The lease holds up to its last millisecond (`leaseUntil < now` in milliseconds).
    let at_expiry = started + Duration::seconds(120);
    assert_eq!(store.claim_delivery(delivery.id(), at_expiry, LEASE).await.unwrap(), Claim::Leased);
    let later = at_expiry + Duration::milliseconds(1);
    let second = claimed(&store, &delivery, later).await;

    assert_eq!((second.attempt, second.reconcile_since), (2, Some(started)));
    // The next one reconciles from the attempt it supersedes.
    let third = claimed(&store, &delivery, later + Duration::seconds(121)).await;
    assert_eq!((third.attempt, third.reconcile_since), (3, Some(later)));
}

#[tokio::test]
async fn a_retry_is_reconciled_only_when_its_attempt_was_ambiguous() {
    let store = MemoryStore::new();
    let delivery = one_delivery(&store).await;
    let now = Utc::now();
    let first = claimed(&store, &delivery, now).await;
    assert!(store.finish_attempt(&first.delivery, 1, &retry(now, false), now).await.unwrap());

    let second = claimed(&store, &delivery, now).await;
    assert_eq!((second.attempt, second.reconcile_since), (2, None), "a 5xx: Twilio took nothing");
    let stored = store.delivery(&delivery.id()).unwrap();
    assert_eq!((stored.status, stored.error_message.as_deref()), (DeliveryStatus::Pending, Some("503")));

    let at = now + Duration::milliseconds(5);
    assert!(store.finish_attempt(&second.delivery, 2, &retry(at, true), at).await.unwrap());
    let third = claimed(&store, &delivery, at).await;
    assert_eq!((third.attempt, third.reconcile_since), (3, Some(now)), "a timeout: look before sending");
}

#[tokio::test]
async fn a_delivery_waiting_for_its_retry_is_not_due_before_its_time() {
    let store = MemoryStore::new();
    let delivery = one_delivery(&store).await;
    let now = Utc::now();
    let first = claimed(&store, &delivery, now).await;
    let due = now + Duration::seconds(60);
    assert!(store.finish_attempt(&first.delivery, 1, &retry(due, false), now).await.unwrap());

    assert_eq!(store.claim_delivery(delivery.id(), now, LEASE).await.unwrap(), Claim::NotDue(due));
    let stored = store.delivery(&delivery.id()).unwrap();
    assert_eq!((stored.attempts, stored.next_attempt_at), (1, Some(due)));
    assert_eq!(store.outbox_due(&delivery.id()), Some(due), "the outbox entry moved to its due time");
    // Two seconds early is on time (clocks differ).
    let second = claimed(&store, &delivery, due - Duration::seconds(2)).await;
    assert_eq!(second.attempt, 2);
}

#[tokio::test]
async fn a_delivery_out_of_the_outbox_is_done_and_an_unknown_one_unknown() {
    let store = MemoryStore::new();
    let delivery = one_delivery(&store).await;
    let now = Utc::now();
    let first = claimed(&store, &delivery, now).await;
    assert!(store.finish_attempt(&first.delivery, 1, &accepted("SM1"), now).await.unwrap());

    assert_eq!(store.claim_delivery(delivery.id(), now, LEASE).await.unwrap(), Claim::Done);
    let unknown = DeliveryId { participant_id: ParticipantId::new(), ..delivery.id() };
    assert_eq!(store.claim_delivery(unknown, now, LEASE).await.unwrap(), Claim::Unknown);
    assert!(!store
        .finish_attempt(
            &Delivery { participant_id: unknown.participant_id, ..delivery },
            1,
            &accepted("SM2"),
            now
        )
        .await
        .unwrap());
}

#[tokio::test]
async fn a_superseded_attempt_records_nothing() {
    let store = MemoryStore::new();
    let delivery = one_delivery(&store).await;
    let now = Utc::now();
    let first = claimed(&store, &delivery, now).await;
    let later = now + Duration::seconds(121);
    let second = claimed(&store, &delivery, later).await;

    for outcome in [
        accepted("SM1"),
        AttemptOutcome::Refused {
            status: DeliveryStatus::Failed,
            code: Some(21211),
            message: "invalid To".into(),
        },
        retry(later, true),
        AttemptOutcome::GaveUp { code: None, message: "503".into(), tentative: false },
    ] {
        assert!(!store.finish_attempt(&first.delivery, 1, &outcome, later).await.unwrap(), "{outcome:?}");
    }
    let stored = store.delivery(&delivery.id()).unwrap();
    assert_eq!((stored.status, stored.twilio_sid, stored.attempts), (DeliveryStatus::Pending, None, 2));

    assert!(store.finish_attempt(&second.delivery, 2, &accepted("SM2"), later).await.unwrap());
    assert_eq!(store.delivery(&delivery.id()).unwrap().twilio_sid.as_deref(), Some("SM2"));
}

#[tokio::test]
async fn an_accepted_attempt_leaves_the_outbox_with_its_sid_and_without_the_last_error() {
    let store = MemoryStore::new();
    let delivery = one_delivery(&store).await;
    let now = Utc::now();
    let first = claimed(&store, &delivery, now).await;
    let throttled =
        AttemptOutcome::Retry { at: now, code: Some(20429), message: "slow down".into(), ambiguous: false };
    store.finish_attempt(&first.delivery, 1, &throttled, now).await.unwrap();
    let second = claimed(&store, &delivery, now).await;

    let at = now + Duration::milliseconds(3);
    assert!(store.finish_attempt(&second.delivery, 2, &accepted("SM1"), at).await.unwrap());

    let stored = store.delivery(&delivery.id()).unwrap();
    assert_eq!(
        (stored.status, stored.twilio_sid.as_deref(), stored.error_code, stored.error_message),
        (DeliveryStatus::Queued, Some("SM1"), None, None)
    );
    assert_eq!((stored.attempts, stored.next_attempt_at, stored.updated_at), (2, None, at));
    assert_eq!(store.outbox_due(&delivery.id()), None);
    assert_eq!(store.delivery_by_sid("SM1").await.unwrap(), Some(delivery.id()));
    assert!(store.due_jobs(at + Duration::hours(1), 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn given_a_callback_moved_the_delivery_on_when_the_attempt_is_accepted_then_only_its_sid_is_added() {
    let store = MemoryStore::new();
    let delivery = one_delivery(&store).await;
    let now = Utc::now();
    let first = claimed(&store, &delivery, now).await;
    // Twilio's callback overtook its answer (it names the delivery id, not yet the SID).
    let delivered = callback(&delivery, DeliveryStatus::Delivered, None);
    assert_eq!(store.apply_status(&delivered).await.unwrap(), StatusOutcome::Applied);

    assert!(store.finish_attempt(&first.delivery, 1, &accepted("SM1"), now).await.unwrap());

    let stored = store.delivery(&delivery.id()).unwrap();
    assert_eq!((stored.status, stored.twilio_sid.as_deref()), (DeliveryStatus::Delivered, Some("SM1")));
    assert_eq!(store.delivery_by_sid("SM1").await.unwrap(), Some(delivery.id()));
    assert_eq!(store.outbox_due(&delivery.id()), None);
    assert_eq!(store.claim_delivery(delivery.id(), now, LEASE).await.unwrap(), Claim::Done);
}

#[tokio::test]
async fn a_callback_with_a_sid_takes_a_waiting_delivery_out_of_the_outbox() {
    let store = MemoryStore::new();
    let delivery = one_delivery(&store).await;
    let now = Utc::now();
    let first = claimed(&store, &delivery, now).await;
    // The attempt timed out, yet Twilio had the message: its callback comes before the retry.
    store.finish_attempt(&first.delivery, 1, &retry(now + Duration::seconds(30), true), now).await.unwrap();

    store.apply_status(&callback(&delivery, DeliveryStatus::Sent, Some("SM1"))).await.unwrap();

    assert_eq!(store.outbox_due(&delivery.id()), None);
    assert!(store.due_jobs(now + Duration::hours(1), 10).await.unwrap().is_empty());
    assert_eq!(store.delivery_by_sid("SM1").await.unwrap(), Some(delivery.id()));
    let later = now + Duration::seconds(30);
    assert_eq!(store.claim_delivery(delivery.id(), later, LEASE).await.unwrap(), Claim::Done);
}

#[tokio::test]
async fn a_refusal_records_the_failure_out_of_the_outbox_and_only_while_pending() {
    let store = MemoryStore::new();
    let delivery = one_delivery(&store).await;
    let now = Utc::now();
    let first = claimed(&store, &delivery, now).await;
    let invalid = AttemptOutcome::Refused {
        status: DeliveryStatus::Failed,
        code: Some(21211),
        message: "invalid To".into(),
    };

    assert!(store.finish_attempt(&first.delivery, 1, &invalid, now).await.unwrap());

    let stored = store.delivery(&delivery.id()).unwrap();
    assert_eq!(
        (stored.status, stored.error_code, stored.error_message.as_deref(), stored.tentative),
        (DeliveryStatus::Failed, Some(21211), Some("invalid To"), false)
    );
    assert_eq!((store.outbox_due(&delivery.id()), stored.next_attempt_at), (None, None));
    assert!(!store.finish_attempt(&first.delivery, 1, &invalid, now).await.unwrap(), "no longer pending");
}

#[tokio::test]
async fn an_opted_out_refusal_records_the_opt_out_in_the_same_write() {
    let store = MemoryStore::new();
    let delivery = one_delivery(&store).await;
    let now = Utc::now();
    let first = claimed(&store, &delivery, now).await;
    let pair = (number(1), phone(1));
    let stop = AttemptOutcome::Refused {
        status: DeliveryStatus::OptedOut,
        code: Some(21610),
        message: "STOP".into(),
    };

    // Superseded: neither the status nor the opt-out is written.
    assert!(!store.finish_attempt(&first.delivery, 2, &stop, now).await.unwrap());
    assert!(store.opted_out(std::slice::from_ref(&pair)).await.unwrap().is_empty());

    assert!(store.finish_attempt(&first.delivery, 1, &stop, now).await.unwrap());
    assert_eq!(store.delivery(&delivery.id()).unwrap().status, DeliveryStatus::OptedOut);
    assert_eq!(store.opted_out(std::slice::from_ref(&pair)).await.unwrap(), [pair].into());
}

#[tokio::test]
async fn a_tentative_give_up_is_overruled_by_any_callback() {
    let store = MemoryStore::new();
    let delivery = one_delivery(&store).await;
    let now = Utc::now();
    let first = claimed(&store, &delivery, now).await;
    let gave_up = AttemptOutcome::GaveUp { code: None, message: "no answer".into(), tentative: true };

    assert!(store.finish_attempt(&first.delivery, 1, &gave_up, now).await.unwrap());
    let stored = store.delivery(&delivery.id()).unwrap();
    assert!(
        stored.tentative
            && stored.rank() == TENTATIVE_FAILURE_RANK
            && stored.status == DeliveryStatus::Failed
    );
    assert_eq!(store.outbox_due(&delivery.id()), None);

    let queued = callback(&delivery, DeliveryStatus::Queued, Some("SM1"));
    assert_eq!(store.apply_status(&queued).await.unwrap(), StatusOutcome::Applied);
    let stored = store.delivery(&delivery.id()).unwrap();
    assert_eq!(
        (stored.status, stored.tentative, stored.twilio_sid.as_deref()),
        (DeliveryStatus::Queued, false, Some("SM1"))
    );
}

#[tokio::test]
async fn a_definite_give_up_is_a_final_failure() {
    let store = MemoryStore::new();
    let delivery = one_delivery(&store).await;
    let now = Utc::now();
    let first = claimed(&store, &delivery, now).await;
    let gave_up = AttemptOutcome::GaveUp { code: Some(20429), message: "throttled".into(), tentative: false };

    assert!(store.finish_attempt(&first.delivery, 1, &gave_up, now).await.unwrap());

    let stored = store.delivery(&delivery.id()).unwrap();
    assert_eq!(
        (stored.status, stored.tentative, stored.error_code),
        (DeliveryStatus::Failed, false, Some(20429))
    );
    let queued = callback(&delivery, DeliveryStatus::Queued, Some("SM1"));
    assert_eq!(store.apply_status(&queued).await.unwrap(), StatusOutcome::Stale);
}

#[tokio::test]
async fn due_jobs_are_the_outbox_entries_due_strictly_before_the_cutoff_at_most_limit() {
    let store = MemoryStore::new();
    pool(&store, [1]).await;
    let ada = registered(&store, "ada").await;
    let phones: Vec<_> = (1..=3).map(|n| (phone(n), number(1))).collect();
    let detail = group(&store, &ada, &[], &phones).await;
    let then = Utc::now() - Duration::minutes(10);
    let deliveries = send(&store, &detail, &message_at(&detail, &ada, "hi", then)).await;
    let [early, later, sent] = [&deliveries[0], &deliveries[1], &deliveries[2]];
    let c = claimed(&store, later, then).await;
    store.finish_attempt(&c.delivery, 1, &retry(then + Duration::minutes(5), false), then).await.unwrap();
    let c = claimed(&store, sent, then).await;
    store.finish_attempt(&c.delivery, 1, &accepted("SM1"), then).await.unwrap();

    let due = store.due_jobs(then + Duration::minutes(1), 10).await.unwrap();
    assert_eq!(due, [Job::delivery(early.id())]);
    // Due exactly at the cutoff is not before it.
    assert_eq!(store.due_jobs(then, 10).await.unwrap(), []);
    let all = store.due_jobs(Utc::now(), 10).await.unwrap();
    assert_eq!(
        all.iter().collect::<HashSet<_>>(),
        [Job::delivery(early.id()), Job::delivery(later.id())].iter().collect()
    );
    assert_eq!(store.due_jobs(Utc::now(), 1).await.unwrap().len(), 1);
    assert!(store.due_jobs(Utc::now(), 0).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_redrive_resets_only_the_failure_that_was_read_and_supersedes_its_sid() {
    let store = MemoryStore::new();
    let delivery = one_delivery(&store).await;
    let now = Utc::now();
    let first = claimed(&store, &delivery, now).await;
    store.finish_attempt(&first.delivery, 1, &accepted("SM1"), now).await.unwrap();
    store.apply_status(&callback(&delivery, DeliveryStatus::Failed, Some("SM1"))).await.unwrap();
    let failed = store.delivery(&delivery.id()).unwrap();
    let at = now + Duration::seconds(10);

    assert!(store.reset_failed_delivery(&failed, at).await.unwrap());

    let reset = store.delivery(&delivery.id()).unwrap();
    assert_eq!(
        (reset.status, reset.twilio_sid.as_deref(), reset.error_code),
        (DeliveryStatus::Pending, None, None)
    );
    assert_eq!((reset.attempts, reset.next_attempt_at, reset.rank()), (0, Some(at), 0));
    assert_eq!(store.outbox_due(&delivery.id()), Some(at));
    assert_eq!(store.due_jobs(at + Duration::seconds(1), 10).await.unwrap(), [Job::delivery(delivery.id())]);
    assert_eq!(store.superseded_sids(&delivery.id()), ["SM1"]);
    assert_eq!(store.delivery_by_sid("SM1").await.unwrap(), None);
    let late = callback(&delivery, DeliveryStatus::Delivered, Some("SM1"));
    assert_eq!(store.apply_status(&late).await.unwrap(), StatusOutcome::Stale);
    assert!(!store.reset_failed_delivery(&failed, at).await.unwrap(), "the same failure is reset once");
    // A fresh first attempt: nothing in flight to reconcile.
    let again = claimed(&store, &delivery, at).await;
    assert_eq!((again.attempt, again.reconcile_since), (1, None));
}

#[tokio::test]
async fn a_redrive_of_a_failure_that_moved_on_resets_nothing() {
    let store = MemoryStore::new();
    let delivery = one_delivery(&store).await;
    let now = Utc::now();
    let first = claimed(&store, &delivery, now).await;
    let gave_up = AttemptOutcome::GaveUp { code: None, message: "no answer".into(), tentative: true };
    store.finish_attempt(&first.delivery, 1, &gave_up, now).await.unwrap();
    let read = store.delivery(&delivery.id()).unwrap();
    // A callback overruled the tentative failure: rank and SID differ from what was read.
    store.apply_status(&callback(&delivery, DeliveryStatus::Failed, Some("SM1"))).await.unwrap();

    assert!(!store.reset_failed_delivery(&read, now).await.unwrap());
    assert_eq!(store.delivery(&delivery.id()).unwrap().status, DeliveryStatus::Failed);
    let unknown = Delivery { participant_id: ParticipantId::new(), ..read };
    assert!(!store.reset_failed_delivery(&unknown, now).await.unwrap());
}

#[tokio::test]
async fn a_store_failure_fails_the_outbox_call_and_changes_nothing() {
    let store = MemoryStore::new();
    let delivery = one_delivery(&store).await;
    store.fail_next(StoreError::Throttled);

    let result = store.claim_delivery(delivery.id(), Utc::now(), LEASE).await;

    assert!(matches!(result, Err(StoreError::Throttled)));
    assert_eq!(store.delivery(&delivery.id()).unwrap().attempts, 0);
}
