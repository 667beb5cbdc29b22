//! Handler latency of the Twilio webhooks over 1,000 requests each, through the real handlers
//! (signature check included) against the local DynamoDB server. Run with `make bench`.

use serde_json::json;
use switchboard_tests::bench::Figures;
use switchboard_tests::twilio_mock::TwilioMock;
use switchboard_tests::{message_sid, us_number, TestApp};

const WEBHOOKS: u32 = 1000;

#[tokio::main]
async fn main() {
    let mock = TwilioMock::start().await;
    let app = TestApp::with_twilio(&mock, &[]).await;
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1), us_number(2)]).await;
    let ada = app.register("ada").await;
    let number = app.give_number(&ada).await;
    let phone = "+14155550501";
    let sms = app.post("/api/conversations/sms", json!({"phoneNumber": phone}), Some(&ada.token)).await;
    let conversation = sms.body["conversation"]["id"].as_str().unwrap().to_string();

    let mut inbound = Figures::new("inbound SMS (routed, 1:1)");
    for i in 0..WEBHOOKS {
        let sid = message_sid(i);
        inbound.measure(&app, || app.inbound_sms(&sid, phone, &number, "on my way")).await;
    }
    let mut duplicate = Figures::new("inbound SMS (duplicate)");
    for i in 0..100 {
        let sid = message_sid(i);
        duplicate.measure(&app, || app.inbound_sms(&sid, phone, &number, "on my way")).await;
    }

    // Status callbacks for real deliveries: one send per 4 callbacks (queued, sent, delivered, read).
    let mut status = Figures::new("status callback");
    let path = format!("/api/conversations/{conversation}/messages");
    for _ in 0..WEBHOOKS / 4 {
        let sent = app.post(&path, json!({"content": "hi"}), Some(&ada.token)).await;
        let id = sent.body["message"]["deliveries"][0]["id"].as_str().unwrap().to_string();
        app.run_pipeline().await;
        let sid = mock.sent().last().expect("the SMS").sid.clone();
        for state in ["sending", "sent", "delivered", "read"] {
            let params = [("MessageSid", sid.as_str()), ("MessageStatus", state)];
            let request =
                app.twilio_request(&format!("/api/webhooks/twilio/status?deliveryId={id}"), &params, None);
            status.measure(&app, || app.dispatch(request)).await;
        }
    }
    println!("switchboard webhooks bench: local moto, handlers in-process, signatures checked");
    for mut f in [inbound, duplicate, status] {
        f.print();
    }
}
