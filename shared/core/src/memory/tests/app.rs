//! The fakes under the use cases: what they were written for.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::auth::{TokenService, TokenSettings};
use crate::domain::ids::ConnectionId;
use crate::domain::message::SendRequest;
use crate::domain::realtime::Connection;
use crate::memory::{FakeGateway, FakeQueue, FakeSms};
use crate::ports::sms::SendError;
use crate::ports::ConnectionStore;
use crate::service::{messages, pipeline, App, DeliverySettings, Publisher, Settings};
use crate::Secret;

/// The app over the fakes, its delivery pipeline retrying at once.
fn app(store: &Arc<MemoryStore>, sms: &Arc<FakeSms>, queue: &Arc<FakeQueue>) -> App {
    let tokens = TokenService::new(&TokenSettings {
        secret: Secret::new("a".repeat(32)),
        previous: None,
        access_ttl: Duration::from_secs(900),
        refresh_ttl: Duration::from_secs(3600),
    });
    let delivery = DeliverySettings {
        retry_base: Duration::ZERO,
        retry_max: Duration::ZERO,
        sweep_grace: Duration::ZERO,
        ..DeliverySettings::default()
    };
    let settings = Settings { delivery, ..Settings::default() };
    App::new(settings, tokens, store.clone()).with_sms(sms.clone()).with_queue(queue.clone())
}

/// Runs every queued job, as the pipeline's worker would, until none is left.
async fn run_pipeline(app: &App, queue: &FakeQueue) {
    for _ in 0..100 {
        let jobs = queue.take_all();
        if jobs.is_empty() {
            return;
        }
        for job in jobs {
            pipeline::run(app, &job).await.unwrap();
        }
    }
    panic!("the pipeline did not settle");
}

fn fakes() -> (Arc<MemoryStore>, Arc<FakeSms>, Arc<FakeQueue>) {
    (Arc::new(MemoryStore::new()), Arc::new(FakeSms::new()), Arc::new(FakeQueue::new()))
}

fn text(content: &str) -> SendRequest {
    SendRequest { content: Some(content.into()), media_urls: Vec::new(), media: Vec::new() }
}

#[tokio::test]
async fn a_group_send_records_each_recipients_outcome() {
    let (store, sms, queue) = fakes();
    pool(&store, [1]).await;
    let ada = registered(&store, "ada").await;
    let detail =
        group(&store, &ada, &[], &[(phone(1), number(1)), (phone(2), number(1)), (phone(3), number(1))])
            .await;
    sms.script(&phone(2), Err(SendError::Rejected { code: Some(21211), message: "invalid To".into() }));
    sms.script(&phone(3), Err(SendError::Rejected { code: Some(21610), message: "unsubscribed".into() }));

    let app = app(&store, &sms, &queue);
    let sent = messages::send(&app, &ada, detail.conversation.id, text("hi"), None).await.unwrap();
    assert!(sent.deliveries.iter().all(|d| d.status == DeliveryStatus::Pending));
    run_pipeline(&app, &queue).await;

    let stored = |p: u32| {
        let delivery = sent.deliveries.iter().find(|d| d.to == phone(p)).unwrap();
        store.delivery(&delivery.id()).unwrap()
    };
    assert_eq!(stored(1).status, DeliveryStatus::Queued);
    assert!(stored(1).twilio_sid.is_some());
    assert_eq!((stored(2).status, stored(2).error_code), (DeliveryStatus::Failed, Some(21211)));
    assert_eq!(stored(3).status, DeliveryStatus::OptedOut);
    assert_eq!(store.opted_out(&[(number(1), phone(3))]).await.unwrap().len(), 1);
    assert!(sms.sent().iter().all(|s| s.body == "ada: hi" && s.from == number(1)));
}

#[tokio::test]
async fn port_calls_per_send_do_not_grow_with_recipients() {
    let (store, sms, queue) = fakes();
    pool(&store, [1]).await;
    let ada = registered(&store, "ada").await;
    let small = group(&store, &ada, &[], &[(phone(1), number(1))]).await;
    let phones: Vec<_> = (2..12).map(|n| (phone(n), number(1))).collect();
    let large = group(&store, &ada, &[], &phones).await;
    let app = app(&store, &sms, &queue);

    let mut calls = Vec::new();
    for detail in [&small, &large] {
        let before = store.requests();
        messages::send(&app, &ada, detail.conversation.id, text("hi"), None).await.unwrap();
        calls.push(store.requests() - before);
    }

    assert_eq!(calls[0], calls[1], "{calls:?}");
    // The send queues one job per SMS; the pipeline sends them.
    assert_eq!((sms.sent().len(), queue.waiting().len()), (0, 11));
    run_pipeline(&app, &queue).await;
    assert_eq!(sms.sent().len(), 11);
}

// Changed by design: a timeout is retried (each retry first looks for the SMS at Twilio); only
// when the last attempt also gets no answer is the delivery a tentative failure.
#[tokio::test]
async fn a_send_that_times_out_on_every_attempt_is_a_tentative_failure() {
    let (store, sms, queue) = fakes();
    let ada = with_number(&store, "ada", 1).await;
    let detail = sms_conversation(&store, &ada, &phone(1)).await;
    sms.always(&phone(1), Err(SendError::Timeout));
    let app = app(&store, &sms, &queue);

    let sent = messages::send(&app, &ada, detail.conversation.id, text("hi"), None).await.unwrap();
    run_pipeline(&app, &queue).await;

    let stored = store.delivery(&sent.deliveries[0].id()).unwrap();
    assert_eq!((stored.status, stored.tentative, stored.attempts), (DeliveryStatus::Failed, true, 6));
    assert_eq!((sms.sent().len(), sms.find_queries().len()), (6, 5));
    assert_eq!(queue.dead_letters().len(), 1);
}

#[tokio::test]
async fn a_repeated_idempotency_key_answers_the_first_message_without_sending_again() {
    let (store, sms, queue) = fakes();
    let ada = with_number(&store, "ada", 1).await;
    let detail = sms_conversation(&store, &ada, &phone(1)).await;
    let app = app(&store, &sms, &queue);

    let first = messages::send(&app, &ada, detail.conversation.id, text("hi"), Some("k")).await.unwrap();
    let again = messages::send(&app, &ada, detail.conversation.id, text("hi"), Some("k")).await.unwrap();
    run_pipeline(&app, &queue).await;

    assert!(again.replayed && again.message.id == first.message.id);
    assert_eq!(sms.sent().len(), 1);
}

#[tokio::test]
async fn events_reach_live_connections_and_a_gone_one_is_forgotten() {
    let (store, sms, queue) = fakes();
    let gateway = Arc::new(FakeGateway::new());
    let (ada, bob) = (registered(&store, "ada").await, registered(&store, "bob").await);
    let detail = direct(&store, &ada, &bob).await;
    let (live, gone) = (ConnectionId::parse("live").unwrap(), ConnectionId::parse("gone").unwrap());
    store.put_connection(&Connection::new(live.clone(), bob.id, Utc::now())).await.unwrap();
    // Older than the publisher's grace for connections still opening.
    let old = Utc::now() - chrono::Duration::minutes(5);
    store.put_connection(&Connection::new(gone.clone(), ada.id, old)).await.unwrap();
    gateway.mark_gone(&gone);
    let app = app(&store, &sms, &queue).with_events(Publisher::new(gateway.clone()));

    messages::send(&app, &ada, detail.conversation.id, text("hi"), None).await.unwrap();

    let frames = gateway.frames_to(&live);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0]["type"], "message.created");
    assert_eq!(frames[0]["payload"]["content"], "hi");
    assert!(store.connections_of(&[ada.id]).await.unwrap().is_empty());
}
