use std::time::Duration;

use super::*;
use crate::domain::ids::ConnectionId;
use crate::memory::{FakeGateway, FakeSms};
use crate::ports::sms::{Accepted, OutboundSms, SendError, SentQuery, SmsSender};
use crate::ports::{ConnectionGateway, GatewayError, PageRequest, StoreError};

fn sms_to(to: &E164) -> OutboundSms {
    OutboundSms {
        to: to.clone(),
        from: number(1),
        body: "hi".into(),
        media_urls: Vec::new(),
        status_callback: None,
    }
}

#[tokio::test]
async fn by_default_every_sms_is_queued_with_a_fresh_twilio_like_sid_and_recorded() {
    let sms = FakeSms::new();

    let first = sms.send(&sms_to(&phone(1))).await.unwrap();
    let second = sms.send(&sms_to(&phone(2))).await.unwrap();

    assert_eq!(first.status, DeliveryStatus::Queued);
    assert!(first.sid.starts_with("SM") && first.sid.len() == 34, "{}", first.sid);
    assert!(first.sid[2..].chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(first.sid, second.sid);
    assert_eq!(sms.sent(), [sms_to(&phone(1)), sms_to(&phone(2))]);
    assert_eq!(sms.sent_to(&phone(2)).len(), 1);
}

#[tokio::test]
async fn scripted_outcomes_are_used_once_each_per_recipient_before_the_standing_one() {
    let sms = FakeSms::new();
    let invalid = SendError::Rejected { code: Some(21211), message: "invalid To".into() };
    sms.script(&phone(1), Err(SendError::Unavailable("503".into())))
        .script(&phone(1), FakeSms::accepted(DeliveryStatus::Sent))
        .always(&phone(2), Err(invalid.clone()));

    let first = sms.send(&sms_to(&phone(1))).await;
    let second = sms.send(&sms_to(&phone(1))).await.unwrap();
    let third = sms.send(&sms_to(&phone(1))).await.unwrap();

    assert_eq!(first, Err(SendError::Unavailable("503".into())));
    assert_eq!((second.status, third.status), (DeliveryStatus::Sent, DeliveryStatus::Queued));
    for _ in 0..2 {
        assert_eq!(sms.send(&sms_to(&phone(2))).await, Err(invalid.clone()));
    }
    assert_eq!(sms.sent().len(), 5, "failed sends are recorded too");
}

#[tokio::test(start_paused = true)]
async fn a_delayed_outcome_answers_after_its_delay_on_tokios_clock() {
    let sms = FakeSms::new();
    sms.script_delayed(&phone(1), Err(SendError::Timeout), Duration::from_secs(30));
    sms.set_latency(Duration::from_millis(200));
    let start = tokio::time::Instant::now();

    let outcome = sms.send(&sms_to(&phone(1))).await;

    assert_eq!(outcome, Err(SendError::Timeout));
    assert_eq!(start.elapsed(), Duration::from_millis(30_200));
}

#[tokio::test]
async fn the_gateway_records_frames_and_refuses_gone_or_failing_connections() {
    let gateway = FakeGateway::new();
    let (live, gone, broken) = (
        ConnectionId::parse("live").unwrap(),
        ConnectionId::parse("gone").unwrap(),
        ConnectionId::parse("broken").unwrap(),
    );
    gateway.mark_gone(&gone);
    gateway.mark_failing(&broken, "500");

    gateway.post(&live, br#"{"type":"pong"}"#.to_vec()).await.unwrap();
    assert!(matches!(gateway.post(&gone, b"{}".to_vec()).await, Err(GatewayError::Gone)));
    assert!(matches!(gateway.post(&broken, b"{}".to_vec()).await, Err(GatewayError::Other(r)) if r == "500"));
    gateway.restore(&gone);
    gateway.post(&gone, b"not json".to_vec()).await.unwrap();

    assert_eq!(gateway.frames_to(&live), [serde_json::json!({"type": "pong"})]);
    assert_eq!(gateway.posts().len(), 2);
    assert_eq!(gateway.posts()[1], (gone.clone(), serde_json::Value::String("not json".into())));
    assert_eq!(gateway.attempts().iter().filter(|p| !p.delivered).count(), 2);
}

#[tokio::test]
async fn the_store_counts_port_calls_and_fails_the_next_ones_on_request() {
    let store = MemoryStore::new();
    pool(&store, [1]).await;
    assert_eq!(store.requests(), 1);

    store.fail_next(StoreError::Throttled);
    let failed = store.list_numbers(None, &PageRequest::first(10)).await;
    let listed = store.list_numbers(None, &PageRequest::first(10)).await.unwrap();

    assert!(matches!(failed, Err(StoreError::Throttled)));
    assert_eq!(listed.items.len(), 1);
    assert_eq!(store.requests(), 3);
}

#[tokio::test]
async fn accepted_answers_compare_by_value() {
    let accepted = FakeSms::accepted(DeliveryStatus::Accepted).unwrap();
    assert_eq!(accepted, Accepted { sid: accepted.sid.clone(), status: DeliveryStatus::Accepted });
}

fn query(to: &E164, body: &str, since: chrono::DateTime<Utc>) -> SentQuery {
    SentQuery { to: to.clone(), from: number(1), body: body.into(), since }
}

#[tokio::test]
async fn a_lost_answer_is_a_timeout_for_an_sms_twilio_took_and_find_sent_finds() {
    let sms = FakeSms::new();
    let since = Utc::now();
    let sid = sms.script_lost_answer(&phone(1));

    assert_eq!(sms.send(&sms_to(&phone(1))).await, Err(SendError::Timeout));

    assert_eq!(sms.taken(), [(sms_to(&phone(1)), sid.clone())]);
    let found = sms.find_sent(&query(&phone(1), "hi", since)).await.unwrap().unwrap();
    assert_eq!((found.sid, found.status), (sid, DeliveryStatus::Queued));
    // The next send is answered as usual.
    assert!(sms.send(&sms_to(&phone(1))).await.is_ok());
    assert_eq!((sms.sent().len(), sms.taken_by(&phone(1)).len()), (2, 2));
}

#[tokio::test]
async fn find_sent_answers_only_from_what_twilio_took_with_the_same_text_since_then() {
    let sms = FakeSms::new();
    sms.script(&phone(2), Err(SendError::Unavailable("503".into())));
    let before = Utc::now();
    let first = sms.send(&sms_to(&phone(1))).await.unwrap();
    let second = sms.send(&sms_to(&phone(1))).await.unwrap();
    sms.send(&sms_to(&phone(2))).await.unwrap_err();
    let after = Utc::now() + chrono::Duration::seconds(1);

    let newest = sms.find_sent(&query(&phone(1), "hi", before)).await.unwrap().unwrap();
    assert_eq!(newest.sid, second.sid, "newest first");
    assert_ne!(newest.sid, first.sid);
    assert_eq!(sms.find_sent(&query(&phone(1), "other text", before)).await.unwrap(), None);
    assert_eq!(sms.find_sent(&query(&phone(1), "hi", after)).await.unwrap(), None);
    let other_number = SentQuery { from: number(2), ..query(&phone(1), "hi", before) };
    assert_eq!(sms.find_sent(&other_number).await.unwrap(), None);
    assert_eq!(sms.find_sent(&query(&phone(2), "hi", before)).await.unwrap(), None, "refused: never taken");
    assert_eq!(sms.find_queries().len(), 5);
}

#[tokio::test]
async fn a_scripted_lookup_failure_is_used_once() {
    let sms = FakeSms::new();
    let since = Utc::now();
    sms.send(&sms_to(&phone(1))).await.unwrap();
    sms.script_find_failure(&phone(1), SendError::Unreachable("refused".into()));

    let failed = sms.find_sent(&query(&phone(1), "hi", since)).await;
    let found = sms.find_sent(&query(&phone(1), "hi", since)).await;

    assert_eq!(failed, Err(SendError::Unreachable("refused".into())));
    assert!(found.unwrap().is_some());
}
