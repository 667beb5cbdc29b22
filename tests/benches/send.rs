//! One send to a group with 1, 10 and 49 SMS recipients (49 phones and the sender fill a group
//! at MAX_GROUP_SIZE = 50), against the local DynamoDB server and the spec-validating Twilio mock
//! answering after a fixed delay. Prints DynamoDB requests, Twilio calls and latency per send.
//! Run with `make bench`.

use std::time::Duration;

use serde_json::{json, Value};
use switchboard_tests::bench::Figures;
use switchboard_tests::twilio_mock::TwilioMock;
use switchboard_tests::{us_number, TestApp};

const SENDS: usize = 15;
const TWILIO_DELAY: Duration = Duration::from_millis(100);

#[tokio::main]
async fn main() {
    println!(
        "switchboard send bench: {SENDS} sends per size, Twilio mock delay {} ms, SMS_SEND_CONCURRENCY default",
        TWILIO_DELAY.as_millis()
    );
    for recipients in [1usize, 10, 49] {
        let mock = TwilioMock::start().await;
        mock.set_delay(TWILIO_DELAY);
        let app = TestApp::with_twilio(&mock, &[]).await;
        let admin = app.admin().await;
        app.add_numbers(&admin, &[us_number(1), us_number(2)]).await;
        let ada = app.register("ada").await;
        let phones: Vec<Value> =
            (0..recipients).map(|i| json!({"phoneNumber": format!("+1415555{:04}", 6000 + i)})).collect();
        let created = app
            .post(
                "/api/conversations/group",
                json!({"name": "Bench", "participants": phones}),
                Some(&ada.token),
            )
            .await;
        assert_eq!(created.status, 201, "{:?}", created.body);
        let path =
            format!("/api/conversations/{}/messages", created.body["conversation"]["id"].as_str().unwrap());

        let mut figures = Figures::new(format!("send to {recipients} SMS recipients"));
        for i in 0..SENDS {
            let reply = figures
                .measure(&app, || {
                    app.post(&path, json!({"content": format!("message {i}")}), Some(&ada.token))
                })
                .await;
            let deliveries = reply.body["message"]["deliveries"].as_array().unwrap();
            assert!(deliveries.iter().all(|d| d["status"] == "queued"), "{deliveries:?}");
        }
        let calls = mock.sent().len();
        assert!(mock.invalid_requests().is_empty());
        figures.print();
        println!("{:<34} twilio calls per send = {}", "", calls / SENDS);
    }
}
