//! The delivery pipeline's figures (issue 14), against the local DynamoDB server and the
//! spec-validating Twilio mock. Run with `make bench` (or `scripts/bench.sh --bench delivery`).
//!
//! - The inbound webhook's latency for a group text with 0, 10 and 48 relays, Twilio answering
//!   after 2 s: the webhook answers after its read and its transaction, whatever Twilio does.
//! - A send's latency to 1 and 48 SMS recipients with the same slow Twilio.
//! - Twilio calls per delivery under injected faults (503 once, 429 three times, an answer that
//!   comes after the client's timeout though Twilio took the SMS): attempts per delivery, and
//!   SMS Twilio accepted per delivery (the goal: exactly 1).
//!
//! The time from write-ahead to Twilio's acceptance through the local pipeline (SQS, the poller,
//! `cargo lambda watch`) is measured against `make dev` by `scripts/pipeline-latency.py`.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchboard_tests::bench::Figures;
use switchboard_tests::twilio_mock::{Step, TwilioMock};
use switchboard_tests::{message_sid, proxy_of, us_number, TestApp};

const SAMPLES: usize = 10;
const SLOW_TWILIO: Duration = Duration::from_secs(2);

/// Ada's group with Pat's phone and `others` more phones.
async fn group(app: &TestApp, others: usize, first_phone: usize) -> (switchboard_tests::Session, Value) {
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1), us_number(2)]).await;
    let ada = app.register("ada").await;
    let mut participants = vec![json!({"phoneNumber": "+14155550500", "displayName": "Pat"})];
    participants
        .extend((0..others).map(|i| json!({"phoneNumber": format!("+1415555{:04}", first_phone + i)})));
    let created = app.create_group(&ada, "Bench", json!(participants)).await;
    (ada, created)
}

#[tokio::main]
async fn main() {
    println!(
        "switchboard delivery bench: {SAMPLES} requests per size, Twilio mock answering after {} ms",
        SLOW_TWILIO.as_millis()
    );
    for relays in [0usize, 10, 48] {
        let mock = TwilioMock::start().await;
        mock.set_delay(SLOW_TWILIO);
        let app = TestApp::with_twilio(&mock, &[]).await;
        let (_, created) = group(&app, relays, 6000).await;
        let proxy = proxy_of(&created, "+14155550500");
        let mut figures = Figures::new(format!("inbound group text, {relays} relays"));
        for i in 0..SAMPLES {
            let sid = message_sid(i as u32);
            figures.measure(&app, || app.inbound_sms(&sid, "+14155550500", &proxy, "hello all")).await;
        }
        figures.print();
        // Drain the queued relays, so the figures above are the webhook's alone.
        mock.set_delay(Duration::ZERO);
        app.run_pipeline().await;
        assert_eq!(mock.sent().len(), relays * SAMPLES);
    }
    for recipients in [1usize, 48] {
        let mock = TwilioMock::start().await;
        mock.set_delay(SLOW_TWILIO);
        let app = TestApp::with_twilio(&mock, &[]).await;
        let (ada, created) = group(&app, recipients - 1, 6100).await;
        let path = format!("/api/conversations/{}/messages", created["id"].as_str().unwrap());
        let mut figures = Figures::new(format!("send to {recipients} SMS recipients"));
        for i in 0..SAMPLES {
            let reply = figures
                .measure(&app, || {
                    app.post(&path, json!({"content": format!("message {i}")}), Some(&ada.token))
                })
                .await;
            let deliveries = reply.body["message"]["deliveries"].as_array().unwrap();
            assert!(deliveries.iter().all(|d| d["status"] == "pending"), "{deliveries:?}");
        }
        figures.print();
        let started = Instant::now();
        app.run_pipeline().await;
        println!(
            "{:<34} then the pipeline sent {} SMS in {:.1} s (one worker, batches of 10)",
            "",
            mock.sent().len(),
            started.elapsed().as_secs_f64()
        );
    }
    faults().await;
}

/// 100 sends to a group of 10 phones whose Twilio fails some attempts: how many calls each
/// delivery took, and whether any phone got a text twice.
async fn faults() {
    const SENDS: usize = 10;
    let mock = TwilioMock::start().await;
    // Twilio answers after the client's 1 s timeout for the late phone's first attempt.
    let app = TestApp::with_twilio(&mock, &[("TWILIO_TIMEOUT_MS", "1000")]).await;
    let (ada, created) = group(&app, 9, 6200).await;
    let path = format!("/api/conversations/{}/messages", created["id"].as_str().unwrap());
    let flaky = "+14155556200";
    let throttled = "+14155556201";
    let late = "+14155556202";
    let (mut attempts, mut accepted, mut deliveries) = (0usize, 0usize, 0usize);
    for i in 0..SENDS {
        mock.fail_times(flaky, 1, 503, 20503, "Service Unavailable");
        mock.fail_times(throttled, 3, 429, 20429, "Too Many Requests");
        mock.script_for(late, [Step::AcceptLate(Duration::from_millis(1500))]);
        let reply = app.post(&path, json!({"content": format!("fault {i}")}), Some(&ada.token)).await;
        assert_eq!(reply.status, 201);
        app.run_pipeline().await;
        deliveries += reply.body["message"]["deliveries"].as_array().unwrap().len();
    }
    let phones: Vec<String> = std::iter::once("+14155550500".to_string())
        .chain((0..9).map(|i| format!("+1415555{:04}", 6200 + i)))
        .collect();
    let mut twice = 0;
    for phone in &phones {
        attempts += mock.attempts(phone);
        let sent = mock.sent_to(phone);
        accepted += sent.len();
        let distinct: std::collections::HashSet<_> = sent.iter().map(|s| s.body.clone()).collect();
        twice += sent.len() - distinct.len();
    }
    assert!(mock.invalid_requests().is_empty(), "{:?}", mock.invalid_requests());
    println!(
        "faults: {deliveries} deliveries (1 of 10 phones 503 once, 1 throttled 3 times, 1 answered late): \
         {attempts} create calls ({:.2} per delivery), {} List Messages calls, {accepted} SMS accepted \
         ({:.2} per delivery), {twice} sent twice",
        attempts as f64 / deliveries as f64,
        mock.list_calls().len(),
        accepted as f64 / deliveries as f64,
    );
}
