//! Twilio webhooks against the local DynamoDB server, signed by the test as Twilio signs them.

use std::time::Duration;

use futures::future::join_all;
use serde_json::{json, Value};
use switchboard::api::webhook::EMPTY_TWIML;
use switchboard::core::domain::message::{Delivery, DeliveryStatus};
use switchboard::core::ports::outbox::{AttemptOutcome, Claim, ClaimedDelivery};
use switchboard_tests::twilio_mock::TwilioMock;
use switchboard_tests::{message_sid, proxy_of, us_number, Reply, Session, TestApp};

const PAT: &str = "+14155550401";
const SAM: &str = "+14155550402";
const STRANGER: &str = "+14155550499";

async fn history(app: &TestApp, id: &str, who: &Session) -> Vec<Value> {
    let reply = app.get(format!("/api/conversations/{id}/messages"), &who.token).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body["messages"].as_array().unwrap().clone()
}

fn assert_twiml(reply: &Reply) {
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.headers["content-type"], "text/xml");
    assert_eq!(reply.body, json!(EMPTY_TWIML));
}

/// A with her own number and an SMS conversation with Pat; B's group with C, Pat and Sam.
struct World {
    app: TestApp,
    a: Session,
    b: Session,
    c: Session,
    a_number: String,
    sms_id: String,
    group_id: String,
    group_proxy: String,
}

async fn world(mock: &TwilioMock, extra: &[(&str, &str)]) -> World {
    let app = TestApp::with_twilio(mock, extra).await;
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1), us_number(2), us_number(3)]).await;
    let a = app.register("ann").await;
    let b = app.register("bea").await;
    let c = app.register("cat").await;
    let a_number = app.give_number(&a).await;
    let sms =
        app.post("/api/conversations/sms", json!({"phoneNumber": PAT, "name": "Pat"}), Some(&a.token)).await;
    let participants = json!([{"userId": c.user_id}, {"phoneNumber": PAT, "displayName": "Pat"}, {"phoneNumber": SAM, "displayName": "Sam"}]);
    let group = app.create_group(&b, "Club", participants).await;
    let group_proxy = proxy_of(&group, PAT);
    World {
        a,
        b,
        c,
        a_number,
        sms_id: sms.body["conversation"]["id"].as_str().unwrap().to_string(),
        group_id: group["id"].as_str().unwrap().to_string(),
        group_proxy,
        app,
    }
}

#[tokio::test]
async fn a_reply_lands_in_the_conversation_of_the_number_it_was_sent_to() {
    // The old app routed by sender alone: Pat's reply to Ann landed in the group, or vice versa.
    let mock = TwilioMock::start().await;
    let w = world(&mock, &[]).await;
    assert_ne!(w.group_proxy, w.a_number);

    // One to one: one batched read and one transaction, the inbox line included.
    let sid = message_sid(1);
    let (reply, ops) = w.app.count_operations(|| w.app.inbound_sms(&sid, PAT, &w.a_number, "for Ann")).await;
    assert_twiml(&reply);
    assert_eq!(ops, [("BatchGetItem".to_string(), 1), ("TransactWriteItems".to_string(), 1)].into());
    let inbox = w.app.get("/api/conversations", &w.a.token).await;
    assert_eq!(inbox.body["conversations"][0]["lastMessagePreview"], "for Ann");
    assert_twiml(&w.app.inbound_sms(&message_sid(2), PAT, &w.group_proxy, "for the club").await);
    w.app.run_pipeline().await;

    let ann = history(&w.app, &w.sms_id, &w.a).await;
    assert_eq!(ann.len(), 1);
    assert_eq!(ann[0]["content"], "for Ann");
    assert_eq!(ann[0]["sender"], json!({"kind": "sms", "phoneNumber": PAT, "displayName": "Pat"}));
    let club = history(&w.app, &w.group_id, &w.c).await;
    assert_eq!(club.len(), 1);
    assert_eq!(club[0]["content"], "for the club");

    // The club's other phone gets it relayed, signed with Pat's name; Pat gets nothing back.
    let relays = mock.sent();
    assert_eq!(relays.len(), 1, "{relays:?}");
    assert_eq!((relays[0].to.as_str(), relays[0].body.as_deref()), (SAM, Some("Pat: for the club")));
    assert_eq!(club[0]["deliveries"][0]["phoneNumber"], SAM);
    let inbox = w.app.get("/api/conversations", &w.b.token).await;
    assert_eq!(inbox.body["conversations"][0]["lastMessagePreview"], "for the club");
}

#[tokio::test]
async fn a_stranger_texting_a_users_number_opens_one_conversation_for_that_user() {
    let mock = TwilioMock::start().await;
    let w = world(&mock, &[]).await;
    assert_twiml(&w.app.inbound_sms(&message_sid(1), STRANGER, &w.a_number, "hello?").await);
    assert_twiml(&w.app.inbound_sms(&message_sid(2), STRANGER, &w.a_number, "anyone?").await);
    let inbox = w.app.get("/api/conversations", &w.a.token).await;
    let opened: Vec<&Value> =
        inbox.body["conversations"].as_array().unwrap().iter().filter(|c| c["name"] == STRANGER).collect();
    assert_eq!(opened.len(), 1, "{:?}", inbox.body);
    assert_eq!(opened[0]["type"], "sms");
    let messages = history(&w.app, opened[0]["id"].as_str().unwrap(), &w.a).await;
    assert_eq!(
        messages.iter().map(|m| m["content"].clone()).collect::<Vec<_>>(),
        [json!("anyone?"), json!("hello?")]
    );

    // A pool number nobody holds and no route uses: answered, nothing stored.
    let free = us_number(3);
    let before = w.app.round_trips();
    let sid = message_sid(3);
    let (reply, ops) = w.app.count_operations(|| w.app.inbound_sms(&sid, STRANGER, &free, "hi")).await;
    assert_twiml(&reply);
    assert_eq!(
        ops,
        [("BatchGetItem".to_string(), 1)].into(),
        "one read, no write ({} trips)",
        w.app.round_trips() - before
    );
}

#[tokio::test]
async fn the_same_webhook_five_times_at_once_stores_one_message_and_relays_once() {
    let mock = TwilioMock::start().await;
    let w = world(&mock, &[]).await;
    let sid = message_sid(7);
    let replies = join_all((0..5).map(|_| w.app.inbound_sms(&sid, PAT, &w.group_proxy, "once"))).await;
    replies.iter().for_each(assert_twiml);
    w.app.run_pipeline().await;
    assert_eq!(history(&w.app, &w.group_id, &w.b).await.len(), 1);
    assert_eq!(mock.sent().len(), 1, "one relay to Sam");

    // A retry later is a duplicate too, and costs one read and one refused transaction.
    let (reply, ops) = w.app.count_operations(|| w.app.inbound_sms(&sid, PAT, &w.group_proxy, "once")).await;
    assert_twiml(&reply);
    assert_eq!(ops, [("BatchGetItem".to_string(), 1), ("TransactWriteItems".to_string(), 1)].into());
}

#[tokio::test]
async fn mms_media_is_kept_even_without_text() {
    let mock = TwilioMock::start().await;
    let w = world(&mock, &[]).await;
    let sid = message_sid(9);
    let params = [
        ("MessageSid", sid.as_str()),
        ("From", PAT),
        ("To", w.a_number.as_str()),
        ("Body", ""),
        ("NumMedia", "2"),
        ("MediaUrl0", "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"),
        ("MediaContentType0", "image/jpeg"),
        ("MediaUrl1", "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME2"),
        ("MediaContentType1", "image/png"),
    ];
    assert_twiml(&w.app.dispatch(w.app.twilio_request("/api/webhooks/twilio/incoming", &params, None)).await);
    let stored = &history(&w.app, &w.sms_id, &w.a).await[0];
    assert_eq!(stored["content"], "");
    assert_eq!(stored["mediaUrls"].as_array().unwrap().len(), 2);
    assert_eq!(stored["mediaContentTypes"], json!(["image/jpeg", "image/png"]));
    let inbox = w.app.get("/api/conversations", &w.a.token).await;
    assert_eq!(inbox.body["conversations"][0]["lastMessagePreview"], "[media]");
}

#[tokio::test]
async fn stop_opts_a_phone_out_of_that_number_and_start_undoes_it() {
    let mock = TwilioMock::start().await;
    let w = world(&mock, &[]).await;
    let send = || {
        w.app.post(
            format!("/api/conversations/{}/messages", w.sms_id),
            json!({"content": "ping"}),
            Some(&w.a.token),
        )
    };

    assert_twiml(&w.app.inbound_sms(&message_sid(1), PAT, &w.a_number, "  Stop ").await);
    let event = &history(&w.app, &w.sms_id, &w.a).await[0];
    assert_eq!(event["sender"]["kind"], "system");
    assert!(event["content"].as_str().unwrap().contains("STOP"));
    let sent = send().await;
    assert_eq!(sent.body["message"]["deliveries"][0]["status"], "opted_out");
    assert!(mock.sent().is_empty(), "no Twilio call to an opted-out phone");
    // The opt-out is per number: the group's proxy still reaches Pat.
    let club = w
        .app
        .post(
            format!("/api/conversations/{}/messages", w.group_id),
            json!({"content": "club news"}),
            Some(&w.b.token),
        )
        .await;
    assert!(club.body["message"]["deliveries"].as_array().unwrap().iter().all(|d| d["status"] == "pending"));
    w.app.run_pipeline().await;
    assert_eq!(mock.sent().len(), 2, "the club's two phones");

    // "Yes" from a phone that never opted out is an ordinary text, relayed like any other.
    assert_twiml(&w.app.inbound_sms(&message_sid(3), SAM, &w.group_proxy, "Yes").await);
    w.app.run_pipeline().await;
    let club_history = history(&w.app, &w.group_id, &w.b).await;
    assert_eq!(
        (club_history[0]["sender"]["kind"].clone(), club_history[0]["content"].clone()),
        (json!("sms"), json!("Yes"))
    );
    assert!(mock.sent().iter().any(|s| s.to == PAT && s.body.as_deref() == Some("Sam: Yes")));

    assert_twiml(&w.app.inbound_sms(&message_sid(2), PAT, &w.a_number, "START").await);
    let before = mock.sent().len();
    let sent = send().await;
    assert_eq!(sent.body["message"]["deliveries"][0]["status"], "pending");
    w.app.run_pipeline().await;
    assert_eq!(mock.sent().len(), before + 1);
}

fn assert_help(reply: &Reply, answer: &str) {
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.headers["content-type"], "text/xml");
    let body = reply.body.as_str().unwrap();
    assert_eq!(
        body,
        format!(r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>{answer}</Message></Response>"#)
    );
}

#[tokio::test]
async fn help_is_answered_in_twiml_noted_once_in_the_routes_conversation_and_never_relayed() {
    let mock = TwilioMock::start().await;
    let w = world(&mock, &[("OPERATOR_NAME", "Acme & Co")]).await;
    let answer = "Acme &amp; Co: texts to this number reach the people you talk with here. \
                  Reply STOP to opt out, START to opt back in. Msg &amp; data rates may apply.";

    // One to one: the note costs what a text costs, 1 read + 1 transaction; a retry stores nothing.
    let sid = message_sid(1);
    let (reply, ops) = w.app.count_operations(|| w.app.inbound_sms(&sid, PAT, &w.a_number, " Help ")).await;
    assert_help(&reply, answer);
    assert_eq!(ops, [("BatchGetItem".to_string(), 1), ("TransactWriteItems".to_string(), 1)].into());
    let (retry, ops) = w.app.count_operations(|| w.app.inbound_sms(&sid, PAT, &w.a_number, " Help ")).await;
    assert_help(&retry, answer);
    assert_eq!(ops, [("BatchGetItem".to_string(), 1), ("TransactWriteItems".to_string(), 1)].into());
    let ann = history(&w.app, &w.sms_id, &w.a).await;
    assert_eq!(ann.len(), 1, "stored once: {ann:?}");
    assert_eq!(ann[0]["sender"]["kind"], "system");
    assert!(ann[0]["content"].as_str().unwrap().starts_with("Pat texted HELP and was sent: Acme & Co:"));

    // A group: noted for its members, no SMS to anyone.
    assert_help(&w.app.inbound_sms(&message_sid(2), PAT, &w.group_proxy, "INFO").await, answer);
    w.app.run_pipeline().await;
    assert!(mock.sent().is_empty(), "HELP is not relayed: {:?}", mock.sent());
    let club = history(&w.app, &w.group_id, &w.c).await;
    assert_eq!((club.len(), club[0]["sender"]["kind"].clone()), (1, json!("system")));
    assert_eq!(club[0]["deliveries"], json!([]));

    // A stranger: answered after one read, nothing written, no conversation for Ann.
    let inbox =
        w.app.get("/api/conversations", &w.a.token).await.body["conversations"].as_array().unwrap().len();
    let sid = message_sid(3);
    let (reply, ops) =
        w.app.count_operations(|| w.app.inbound_sms(&sid, STRANGER, &w.a_number, "help")).await;
    assert_help(&reply, answer);
    assert_eq!(ops, [("BatchGetItem".to_string(), 1)].into());
    let after = w.app.get("/api/conversations", &w.a.token).await;
    assert_eq!(after.body["conversations"].as_array().unwrap().len(), inbox);
    // ...and a later ordinary text from it still opens the conversation as a first text.
    assert_twiml(&w.app.inbound_sms(&message_sid(4), STRANGER, &w.a_number, "hello").await);
    let opened = w.app.get("/api/conversations", &w.a.token).await;
    assert_eq!(opened.body["conversations"].as_array().unwrap().len(), inbox + 1);
    let _ = &w.b;
}

#[tokio::test]
async fn unsigned_or_badly_signed_webhooks_are_refused_and_store_nothing() {
    let mock = TwilioMock::start().await;
    let w = world(&mock, &[("TWILIO_AUTH_TOKEN_PREVIOUS", "the-old-token")]).await;
    let sid = message_sid(5);
    let params =
        [("MessageSid", sid.as_str()), ("From", PAT), ("To", w.a_number.as_str()), ("Body", "sneaky")];
    let path = "/api/webhooks/twilio/incoming";

    let mut unsigned = w.app.twilio_request(path, &params, None);
    unsigned.headers_mut().remove("x-twilio-signature");
    let mut tampered = w.app.twilio_request(path, &params, None);
    tampered.headers_mut().insert("x-twilio-signature", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=".parse().unwrap());
    let wrong_token = w.app.twilio_request(path, &params, Some("not-the-token"));
    // Signed for another URL, then sent here.
    let mut other_url = w.app.twilio_request("/api/webhooks/twilio/status", &params, None);
    *other_url.uri_mut() = path.parse().unwrap();
    for (name, request) in [
        ("unsigned", unsigned),
        ("tampered", tampered),
        ("wrong token", wrong_token),
        ("other URL", other_url),
    ] {
        let reply = w.app.dispatch(request).await;
        assert_eq!(reply.status, 403, "{name}");
    }
    assert!(history(&w.app, &w.sms_id, &w.a).await.is_empty(), "nothing stored");

    // During a rotation the previous token still verifies.
    assert_twiml(&w.app.dispatch(w.app.twilio_request(path, &params, Some("the-old-token"))).await);
    assert_eq!(history(&w.app, &w.sms_id, &w.a).await.len(), 1);

    // Not a form body, or a form without the required fields: 400.
    let mut json_body = w.app.twilio_request(path, &params, None);
    json_body.headers_mut().insert("content-type", "application/json".parse().unwrap());
    assert_eq!(w.app.dispatch(json_body).await.status, 400);
    let missing =
        w.app.dispatch(w.app.twilio_request(path, &[("From", PAT), ("To", w.a_number.as_str())], None)).await;
    assert_eq!((missing.status, missing.field()), (400, "MessageSid"));
}

/// Sends one message to Pat in Ann's SMS conversation; returns its delivery id and SID.
async fn one_delivery(w: &World, mock: &TwilioMock) -> (String, String) {
    let sent = w
        .app
        .post(
            format!("/api/conversations/{}/messages", w.sms_id),
            json!({"content": "status?"}),
            Some(&w.a.token),
        )
        .await;
    let id = sent.body["message"]["deliveries"][0]["id"].as_str().unwrap().to_string();
    w.app.run_pipeline().await;
    let callback = mock.sent().last().unwrap().status_callback.clone().unwrap();
    assert!(callback.ends_with(&format!("deliveryId={id}")));
    let sid = delivery_status(w, &id).await["twilioSid"].as_str().expect("Twilio's SID").to_string();
    (id, sid)
}

async fn callback(
    w: &World,
    delivery_id: Option<&str>,
    sid: &str,
    status: &str,
    error: Option<&str>,
) -> Reply {
    let path = match delivery_id {
        Some(id) => format!("/api/webhooks/twilio/status?deliveryId={id}"),
        None => "/api/webhooks/twilio/status".to_string(),
    };
    let mut params = vec![
        ("MessageSid", sid),
        ("MessageStatus", status),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
    ];
    if let Some(code) = error {
        params.push(("ErrorCode", code));
    }
    w.app.dispatch(w.app.twilio_request(&path, &params, None)).await
}

async fn delivery_status(w: &World, delivery_id: &str) -> Value {
    let messages = history(&w.app, &w.sms_id, &w.a).await;
    messages
        .iter()
        .flat_map(|m| m["deliveries"].as_array().unwrap().clone())
        .find(|d| d["id"] == delivery_id)
        .expect("the delivery")
}

#[tokio::test]
async fn every_order_of_status_callbacks_ends_delivered() {
    let mock = TwilioMock::start().await;
    let w = world(&mock, &[]).await;
    let orders = [
        ["queued", "sent", "delivered"],
        ["queued", "delivered", "sent"],
        ["sent", "queued", "delivered"],
        ["sent", "delivered", "queued"],
        ["delivered", "queued", "sent"],
        ["delivered", "sent", "queued"],
    ];
    for order in orders {
        let (id, sid) = one_delivery(&w, &mock).await;
        for status in order {
            let (reply, ops) = w.app.count_operations(|| callback(&w, Some(&id), &sid, status, None)).await;
            assert_eq!(reply.status, 200);
            assert_eq!(ops, [("UpdateItem".to_string(), 1)].into(), "one round trip per callback");
        }
        assert_eq!(delivery_status(&w, &id).await["status"], "delivered", "{order:?}");
    }

    // Failed after sent ends failed, with Twilio's error code; nothing moves it back.
    let (id, sid) = one_delivery(&w, &mock).await;
    for (status, code) in [("sent", None), ("failed", Some("30003")), ("delivered", None), ("sending", None)]
    {
        callback(&w, Some(&id), &sid, status, code).await;
    }
    let failed = delivery_status(&w, &id).await;
    assert_eq!((failed["status"].clone(), failed["errorCode"].clone()), (json!("failed"), json!(30003)));

    // Read implies delivered, in whatever order; never over a failure.
    let (id, sid) = one_delivery(&w, &mock).await;
    callback(&w, Some(&id), &sid, "sent", None).await;
    callback(&w, Some(&id), &sid, "read", None).await;
    callback(&w, Some(&id), &sid, "delivered", None).await;
    assert_eq!(delivery_status(&w, &id).await["status"], "read");
    let (id, sid) = one_delivery(&w, &mock).await;
    callback(&w, Some(&id), &sid, "undelivered", Some("30005")).await;
    callback(&w, Some(&id), &sid, "read", None).await;
    assert_eq!(delivery_status(&w, &id).await["status"], "undelivered");
    // Statuses we do not track are acknowledged.
    assert_eq!(callback(&w, Some(&id), &sid, "partially_delivered", None).await.status, 200);

    // Without our id in the URL, the MessageSid finds the delivery.
    let (id, sid) = one_delivery(&w, &mock).await;
    assert_eq!(callback(&w, None, &sid, "delivered", None).await.status, 200);
    assert_eq!(delivery_status(&w, &id).await["status"], "delivered");
}

/// The pipeline's claim on the first attempt at `delivery`, as made before calling Twilio.
async fn claim(state: &switchboard::AppState, delivery: &Delivery) -> ClaimedDelivery {
    let lease = Duration::from_secs(120);
    match state.app.outbox.claim_delivery(delivery.id(), chrono::Utc::now(), lease).await.unwrap() {
        Claim::Claimed(claim) => *claim,
        other => panic!("the delivery is pending and due, not {other:?}"),
    }
}

/// Records how a claimed attempt ended, as the pipeline does after Twilio's answer.
async fn finish(state: &switchboard::AppState, claim: &ClaimedDelivery, outcome: AttemptOutcome) {
    let outbox = &state.app.outbox;
    let recorded = outbox.finish_attempt(&claim.delivery, claim.attempt, &outcome, chrono::Utc::now()).await;
    assert!(recorded.unwrap(), "the attempt is still the latest");
}

#[tokio::test]
async fn a_callback_before_twilios_answer_lands_and_unknown_ones_create_nothing() {
    let mock = TwilioMock::start().await;
    let w = world(&mock, &[]).await;
    let state = &w.app.state;
    let deliveries = w.app.write_ahead_only(&w.a.user_id, &w.sms_id, "race").await;
    let id = deliveries[0].id().to_string();
    let race = claim(state, &deliveries[0]).await;

    // Twilio's "delivered" arrives while our send is still waiting for Twilio's answer...
    assert_eq!(
        callback(&w, Some(&id), "SM00000000000000000000000000000042", "delivered", None).await.status,
        200
    );
    assert_eq!(delivery_status(&w, &id).await["status"], "delivered");
    // ...and the answer, recorded after, keeps the later status.
    let accepted = AttemptOutcome::Accepted {
        sid: "SM00000000000000000000000000000042".into(),
        status: DeliveryStatus::Queued,
    };
    finish(state, &race, accepted).await;
    let after = delivery_status(&w, &id).await;
    assert_eq!(
        (after["status"].clone(), after["twilioSid"].clone()),
        (json!("delivered"), json!("SM00000000000000000000000000000042"))
    );

    // A failure we concluded ourselves (a timeout) yields to Twilio's word; Twilio's own does not.
    let timed_out = w.app.write_ahead_only(&w.a.user_id, &w.sms_id, "timed out").await;
    let gave_up = AttemptOutcome::GaveUp {
        code: None,
        message: "Twilio did not answer in time".into(),
        tentative: true,
    };
    finish(state, &claim(state, &timed_out[0]).await, gave_up).await;
    assert_eq!(delivery_status(&w, &timed_out[0].id().to_string()).await["status"], "failed");
    callback(&w, Some(&timed_out[0].id().to_string()), "SM00000000000000000000000000000043", "sent", None)
        .await;
    assert_eq!(delivery_status(&w, &timed_out[0].id().to_string()).await["status"], "sent");
    let rejected = w.app.write_ahead_only(&w.a.user_id, &w.sms_id, "rejected").await;
    let refused = AttemptOutcome::Refused {
        status: DeliveryStatus::Failed,
        code: Some(21211),
        message: "The 'To' number is not a valid phone number.".into(),
    };
    finish(state, &claim(state, &rejected[0]).await, refused).await;
    callback(&w, Some(&rejected[0].id().to_string()), "SM00000000000000000000000000000044", "sent", None)
        .await;
    assert_eq!(delivery_status(&w, &rejected[0].id().to_string()).await["status"], "failed");

    // Unknown deliveries: 200, nothing created.
    let ghost = format!("{}-{}-{}", w.sms_id, "01ARZ3NDEKTSV4RRFFQ69G5FAV", "01ARZ3NDEKTSV4RRFFQ69G5FAW");
    assert_eq!(callback(&w, Some(&ghost), "SM1", "delivered", None).await.status, 200);
    assert_eq!(callback(&w, None, "SMunknown", "delivered", None).await.status, 200);
    assert_eq!(callback(&w, Some("not-an-id"), "SMunknown", "delivered", None).await.status, 200);
    let history = history(&w.app, &w.sms_id, &w.a).await;
    assert_eq!(history.iter().map(|m| m["deliveries"].as_array().unwrap().len()).sum::<usize>(), 3);

    let mut unsigned = w.app.twilio_request(
        &format!("/api/webhooks/twilio/status?deliveryId={id}"),
        &[("MessageStatus", "failed")],
        None,
    );
    unsigned.headers_mut().remove("x-twilio-signature");
    assert_eq!(w.app.dispatch(unsigned).await.status, 403);
    let _ = (&w.b, &w.c);
}

#[tokio::test]
async fn an_inbound_group_text_to_twenty_phones_is_answered_after_two_round_trips_and_relayed_once() {
    let mock = TwilioMock::start().await;
    let w = world(&mock, &[]).await;
    let others: Vec<String> = (0..20).map(|n| format!("+1415555{:04}", 600 + n)).collect();
    let mut participants = vec![json!({"phoneNumber": PAT, "displayName": "Pat"})];
    participants.extend(others.iter().map(|phone| json!({"phoneNumber": phone})));
    let big = w.app.create_group(&w.b, "Big", json!(participants)).await;
    let proxy = proxy_of(&big, PAT);
    // Twilio is slow and fails some phones; the webhook does not wait for any of it.
    mock.set_delay(Duration::from_secs(2));
    mock.fail_times(&others[0], 1, 503, 20500, "Service Unavailable");
    mock.fail_times(&others[1], 2, 429, 20429, "Too Many Requests");

    let sid = message_sid(21);
    let (reply, ops) = w.app.count_operations(|| w.app.inbound_sms(&sid, PAT, &proxy, "to everyone")).await;
    assert_twiml(&reply);
    assert_eq!(ops, [("BatchGetItem".to_string(), 1), ("TransactWriteItems".to_string(), 1)].into());
    assert!(mock.sent().is_empty(), "no Twilio call on the webhook's path");

    // Twilio retries the webhook while the relay is in flight: still one relay per phone.
    assert_twiml(&w.app.inbound_sms(&sid, PAT, &proxy, "to everyone").await);
    mock.set_delay(Duration::ZERO);
    w.app.run_pipeline().await;
    for phone in &others {
        let sent = mock.sent_to(phone);
        assert_eq!(sent.len(), 1, "{phone}");
        assert_eq!(sent[0].body.as_deref(), Some("Pat: to everyone"));
    }
    assert!(mock.sent_to(PAT).is_empty(), "the sender gets nothing back");
    let id = big["id"].as_str().unwrap();
    let stored = history(&w.app, id, &w.b).await;
    assert_eq!(stored.len(), 1);
    let deliveries = stored[0]["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 20);
    assert!(
        deliveries.iter().all(|d| d["status"] == "queued" && d["twilioSid"].is_string()),
        "{deliveries:?}"
    );
}
