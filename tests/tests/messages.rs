//! Sending messages: web participants in the app, SMS participants through the delivery pipeline
//! and Twilio (a mock that validates every request against Twilio's official OpenAPI
//! description). A send answers once the message is written ahead and queued; `run_pipeline`
//! plays the pipeline's worker.

use std::time::Duration;

use futures::future::join_all;
use serde_json::{json, Value};
use switchboard_tests::twilio_mock::{Failure, TwilioMock};
use switchboard_tests::{us_number, Session, TestApp};

const PHONES: [&str; 3] = ["+14155550301", "+14155550302", "+14155550303"];

struct Group {
    app: TestApp,
    ada: Session,
    members: Vec<Session>,
    id: String,
    conversation: Value,
}

/// Ada (named "Ada Lovelace"), two more web users and `phones`, in one group.
async fn group_with(mock: &TwilioMock, phones: &[&str], extra: &[(&str, &str)]) -> Group {
    let app = TestApp::with_twilio(mock, extra).await;
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1), us_number(2)]).await;
    let ada = app.register("ada").await;
    app.put("/api/users/profile", json!({"firstName": "Ada", "lastName": "Lovelace"}), &ada.token).await;
    let members = vec![app.register("bob").await, app.register("cat").await];
    let mut participants: Vec<Value> = members.iter().map(|m| json!({"userId": m.user_id})).collect();
    participants.extend(phones.iter().map(|p| json!({"phoneNumber": p})));
    let created = app
        .post(
            "/api/conversations/group",
            json!({"name": "Team", "participants": participants}),
            Some(&ada.token),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["conversation"]["id"].as_str().unwrap().to_string();
    Group { app, ada, members, id, conversation: created.body["conversation"].clone() }
}

fn proxy_of(conversation: &Value, phone: &str) -> String {
    conversation["participants"].as_array().unwrap().iter().find(|p| p["phoneNumber"] == phone).unwrap()
        ["proxyNumber"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn one_send_texts_each_phone_from_its_proxy_and_no_web_user() {
    let mock = TwilioMock::start().await;
    let g = group_with(&mock, &PHONES, &[]).await;
    let sent = g
        .app
        .post(
            format!("/api/conversations/{}/messages", g.id),
            json!({"content": "  Meeting at 5  "}),
            Some(&g.ada.token),
        )
        .await;
    assert_eq!(sent.status, 201, "{:?}", sent.body);
    let message = &sent.body["message"];
    assert_eq!(message["content"], "Meeting at 5");
    assert_eq!(message["sender"]["displayName"], "Ada Lovelace");
    // Written ahead and queued: the answer does not wait for Twilio.
    assert!(mock.sent().is_empty());
    let deliveries = message["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 3);
    assert!(deliveries.iter().all(|d| d["status"] == "pending" && d["attempts"] == 0), "{deliveries:?}");
    assert!(deliveries.iter().all(|d| d["segments"] == 1 && d["encoding"] == "gsm7"));

    g.app.run_pipeline().await;
    let sms = mock.sent();
    assert_eq!(sms.len(), 3, "one SMS per phone, none for the three web users");
    assert!(mock.invalid_requests().is_empty(), "{:?}", mock.invalid_requests());
    for phone in PHONES {
        let text = sms.iter().find(|s| s.to == phone).unwrap_or_else(|| panic!("no SMS to {phone}"));
        assert_eq!(text.from, proxy_of(&g.conversation, phone), "from the phone's own proxy number");
        assert_eq!(text.body.as_deref(), Some("Ada Lovelace: Meeting at 5"));
        let callback = text.status_callback.as_deref().unwrap();
        assert!(
            callback.starts_with("https://switchboard.example.com/api/webhooks/twilio/status?deliveryId=")
        );
    }

    // The web users have it in the app, with the deliveries as stored.
    let history = g.app.get(format!("/api/conversations/{}/messages", g.id), &g.members[0].token).await;
    assert_eq!(history.status, 200);
    let stored = &history.body["messages"][0];
    assert_eq!(stored["id"], message["id"]);
    let stored = stored["deliveries"].as_array().unwrap();
    assert_eq!(stored.len(), 3);
    let sids: std::collections::HashSet<&str> =
        stored.iter().map(|d| d["twilioSid"].as_str().unwrap()).collect();
    assert_eq!(sids.len(), 3, "distinct SIDs");
    assert!(stored.iter().all(|d| d["status"] == "queued" && d["attempts"] == 1), "{stored:?}");
    let inbox = g.app.get("/api/conversations", &g.members[1].token).await;
    assert_eq!(inbox.body["conversations"][0]["lastMessagePreview"], "Meeting at 5");
}

#[tokio::test]
async fn a_failure_for_one_phone_fails_only_its_delivery_and_says_why() {
    let mock = TwilioMock::start().await;
    let phones =
        ["+14155550301", "+14155550302", "+14155550303", "+14155550304", "+14155550305", "+14155550306"];
    let g = group_with(&mock, &phones, &[("TWILIO_TIMEOUT_MS", "300")]).await;
    mock.fail_for(phones[1], Failure::Error { status: 500, code: 20500, message: "Internal Server Error" });
    mock.fail_for(
        phones[2],
        Failure::Error { status: 400, code: 21610, message: "Attempt to send to unsubscribed recipient" },
    );
    mock.fail_for(
        phones[3],
        Failure::Error { status: 400, code: 21211, message: "The 'To' number is not a valid phone number." },
    );
    mock.fail_for(phones[4], Failure::Error { status: 429, code: 20429, message: "Too Many Requests" });
    mock.fail_for(phones[5], Failure::Hang(Duration::from_secs(3)));

    let sent =
        g.app.post(format!("/api/messages/{}", g.id), json!({"content": "hi"}), Some(&g.ada.token)).await;
    assert_eq!(sent.status, 201, "the message is stored and the request succeeds: {:?}", sent.body);
    g.app.run_pipeline().await;

    let history = g.app.get(format!("/api/messages/{}", g.id), &g.ada.token).await;
    let deliveries = history.body["messages"][0]["deliveries"].as_array().unwrap().clone();
    let of = |phone: &str| deliveries.iter().find(|d| d["phoneNumber"] == phone).unwrap().clone();
    assert_eq!(of(phones[0])["status"], "queued");
    // A rejection is final at once; 21610 means the phone unsubscribed at Twilio: opted out.
    assert_eq!(
        (of(phones[3])["status"].clone(), of(phones[3])["errorCode"].clone()),
        (json!("failed"), json!(21211))
    );
    assert_eq!(
        (of(phones[2])["status"].clone(), of(phones[2])["errorCode"].clone()),
        (json!("opted_out"), json!(21610))
    );
    assert_eq!((mock.attempts(phones[2]), mock.attempts(phones[3])), (1, 1), "no retry of a rejection");
    // Twilio's faults, throttling and silence are retried up to the last attempt, then given up.
    for phone in [phones[1], phones[4], phones[5]] {
        assert_eq!(of(phone)["status"], "failed", "{phone}");
        assert_eq!(of(phone)["attempts"], 6, "{phone}");
        assert_eq!(mock.attempts(phone), 6, "{phone}: one Twilio call per attempt");
        assert!(of(phone)["errorMessage"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(of(phones[4])["errorCode"], 20429);
    assert!(of(phones[5])["errorMessage"].as_str().unwrap().contains("in time"));
    assert_eq!(history.body["messages"][0]["status"], "failed");
    // Given up: on the dead-letter queue, each with a reason that names no number.
    let dead = g.app.queue.dead_letters();
    assert_eq!(dead.len(), 3, "{dead:?}");
    assert!(dead.iter().all(|(_, why)| why.starts_with("gave up after 6 attempts") && !why.contains("+1")));

    // The opt-out Twilio reported is ours now: the next send makes no call to that phone.
    let again =
        g.app.post(format!("/api/messages/{}", g.id), json!({"content": "again"}), Some(&g.ada.token)).await;
    let again = again.body["message"]["deliveries"].as_array().unwrap().clone();
    assert_eq!(again.iter().find(|d| d["phoneNumber"] == phones[2]).unwrap()["status"], "opted_out");
    g.app.run_pipeline().await;
    assert_eq!(mock.attempts(phones[2]), 1);
}

#[tokio::test]
async fn a_function_that_dies_after_the_write_ahead_loses_nothing_the_sweeper_sends_every_delivery() {
    let mock = TwilioMock::start().await;
    let g = group_with(&mock, &PHONES, &[]).await;
    // The write-ahead step alone, as if the function died before queuing anything.
    g.app.write_ahead_only(&g.ada.user_id, &g.id, "lost?").await;

    assert!(mock.sent().is_empty());
    let history = g.app.get(format!("/api/conversations/{}/messages", g.id), &g.members[0].token).await;
    let stored = &history.body["messages"][0];
    assert_eq!(stored["content"], "lost?");
    assert_eq!(stored["status"], "pending");
    let pending = stored["deliveries"].as_array().unwrap();
    assert_eq!(pending.len(), 3);
    assert!(pending.iter().all(|d| d["status"] == "pending" && d["twilioSid"].is_null()));

    // Nothing was queued; the sweeper finds the outbox entries and the pipeline sends them.
    assert_eq!(g.app.sweep().await, 3);
    g.app.run_pipeline().await;
    assert_eq!(mock.sent().len(), 3);
    assert!(PHONES.iter().all(|p| mock.attempts(p) == 1));
    let history = g.app.get(format!("/api/conversations/{}/messages", g.id), &g.members[0].token).await;
    let sent = history.body["messages"][0]["deliveries"].as_array().unwrap().clone();
    assert!(sent.iter().all(|d| d["status"] == "queued" && d["twilioSid"].is_string()), "{sent:?}");
    // Out of the outbox: the next sweep finds nothing.
    assert_eq!(g.app.sweep().await, 0);
}

#[tokio::test]
async fn outsiders_and_removed_participants_can_neither_send_nor_read() {
    let mock = TwilioMock::start().await;
    let g = group_with(&mock, &[], &[]).await;
    let outsider = g.app.register("otto").await;
    let path = format!("/api/conversations/{}/messages", g.id);
    for (who, token) in [("outsider", &outsider.token)] {
        assert_eq!(g.app.post(&path, json!({"content": "hi"}), Some(token)).await.status, 404, "{who}");
        assert_eq!(g.app.get(&path, token).await.status, 404, "{who}");
    }
    let bob = &g.members[0];
    assert_eq!(g.app.post(&path, json!({"content": "before"}), Some(&bob.token)).await.status, 201);
    let bob_pid = g.conversation["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["userId"] == json!(bob.user_id))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let removed =
        g.app.delete(format!("/api/conversations/{}/participants/{bob_pid}", g.id), &g.ada.token).await;
    assert_eq!(removed.status, 200);
    assert_eq!(g.app.post(&path, json!({"content": "after"}), Some(&bob.token)).await.status, 404);
    assert_eq!(g.app.get(&path, &bob.token).await.status, 404);
    assert_eq!(g.app.send("POST", &path, Some(json!({"content": "x"})), None).await.status, 401);
}

#[tokio::test]
async fn the_same_idempotency_key_sends_once_even_concurrently() {
    let mock = TwilioMock::start().await;
    let g = group_with(&mock, &PHONES, &[]).await;
    let path = format!("/api/conversations/{}/messages", g.id);
    let send = |key: &'static str| {
        let mut request = lambda_http::http::Request::builder()
            .method("POST")
            .uri(path.clone())
            .header("authorization", format!("Bearer {}", g.ada.token))
            .header("idempotency-key", key);
        request = request.header("content-type", "application/json");
        g.app.dispatch(request.body(lambda_http::Body::Text(json!({"content": "once"}).to_string())).unwrap())
    };
    let first = send("key-1").await;
    let again = send("key-1").await;
    assert_eq!((first.status, again.status), (201, 201));
    assert_eq!(first.body["message"]["id"], again.body["message"]["id"], "the first result, again");
    g.app.run_pipeline().await;
    assert_eq!(mock.sent().len(), 3);

    let replies = join_all((0..5).map(|_| send("key-2"))).await;
    assert!(
        replies.iter().all(|r| r.status == 201),
        "{:?}",
        replies.iter().map(|r| r.body.clone()).collect::<Vec<_>>()
    );
    let ids: std::collections::HashSet<String> =
        replies.iter().map(|r| r.body["message"]["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 1, "one message");
    g.app.run_pipeline().await;
    assert_eq!(mock.sent().len(), 6, "one set of SMS for key-2");
    let history = g.app.get(&path, &g.ada.token).await;
    assert_eq!(history.body["messages"].as_array().unwrap().len(), 2);

    let bad = g.app.dispatch(
        lambda_http::http::Request::builder()
            .method("POST")
            .uri(path.clone())
            .header("authorization", format!("Bearer {}", g.ada.token))
            .header("idempotency-key", "x".repeat(200))
            .body(lambda_http::Body::Text(json!({"content": "x"}).to_string()))
            .unwrap(),
    );
    let bad = bad.await;
    assert_eq!((bad.status, bad.field()), (400, "Idempotency-Key"));
}

#[tokio::test]
async fn opted_out_phones_get_an_opted_out_delivery_and_no_sms() {
    let mock = TwilioMock::start().await;
    let g = group_with(&mock, &PHONES, &[]).await;
    let proxy = proxy_of(&g.conversation, PHONES[0]);
    // What a STOP from that phone records (the inbound webhook writes it).
    g.app
        .client
        .put_item()
        .table_name(&g.app.table)
        .item("PK", aws_sdk_dynamodb::types::AttributeValue::S(format!("OPTOUT#{proxy}")))
        .item("SK", aws_sdk_dynamodb::types::AttributeValue::S(format!("PHONE#{}", PHONES[0])))
        .send()
        .await
        .unwrap();
    let sent = g
        .app
        .post(format!("/api/conversations/{}/messages", g.id), json!({"content": "hi"}), Some(&g.ada.token))
        .await;
    let deliveries = sent.body["message"]["deliveries"].as_array().unwrap().clone();
    let opted = deliveries.iter().find(|d| d["phoneNumber"] == PHONES[0]).unwrap();
    assert_eq!(opted["status"], "opted_out");
    assert!(opted["errorCode"].is_null(), "not a failure");
    g.app.run_pipeline().await;
    assert_eq!(mock.sent().len(), 2);
    assert!(mock.sent().iter().all(|s| s.to != PHONES[0]));
}

#[tokio::test]
async fn authors_edit_and_delete_their_own_messages() {
    let mock = TwilioMock::start().await;
    let g = group_with(&mock, &[], &[]).await;
    let sent = g
        .app
        .post(format!("/api/conversations/{}/messages", g.id), json!({"content": "typo"}), Some(&g.ada.token))
        .await;
    let id = sent.body["message"]["id"].as_str().unwrap().to_string();
    let path = format!("/api/messages/{id}");

    let other = g.app.put(&path, json!({"content": "hijack"}), &g.members[0].token).await;
    assert_eq!(other.status, 403);
    let outsider = g.app.register("otto").await;
    assert_eq!(g.app.put(&path, json!({"content": "x"}), &outsider.token).await.status, 404);
    let empty = g.app.put(&path, json!({"content": "   "}), &g.ada.token).await;
    assert_eq!((empty.status, empty.field()), (422, "content"));

    let edited = g.app.put(&path, json!({"content": "fixed"}), &g.ada.token).await;
    assert_eq!(edited.status, 200, "{:?}", edited.body);
    assert_eq!(edited.body["message"]["content"], "fixed");
    assert!(edited.body["message"]["editedAt"].is_string());

    let deleted = g.app.delete(&path, &g.members[0].token).await;
    assert_eq!(deleted.status, 403);
    let deleted = g.app.delete(&path, &g.ada.token).await;
    assert_eq!((deleted.status, deleted.body["message"]["deleted"].clone()), (200, json!(true)));
    let history = g.app.get(format!("/api/messages/{}", g.id), &g.members[1].token).await;
    assert_eq!(history.body["messages"][0]["deleted"], true);
    assert_eq!(history.body["messages"][0]["content"], "");
    assert_eq!(g.app.delete(&path, &g.ada.token).await.status, 404, "already deleted");
    assert_eq!(g.app.put("/api/messages/not-an-id", json!({"content": "x"}), &g.ada.token).await.status, 404);
}

#[tokio::test]
async fn bodies_media_and_segments() {
    let mock = TwilioMock::start().await;
    let g = group_with(&mock, &PHONES[..1], &[]).await;
    let path = format!("/api/conversations/{}/messages", g.id);
    let post = |body: Value| g.app.post(&path, body, Some(&g.ada.token));
    for (body, status, field) in [
        (json!({}), 422, "content"),
        (json!({"content": "   "}), 422, "content"),
        (json!({"content": "x".repeat(1601)}), 422, "content"),
        (json!({"content": 5}), 400, "content"),
        (json!({"content": "x", "mediaUrls": ["ftp://x"]}), 422, "mediaUrls[0]"),
        (json!({"content": "x", "mediaUrls": "https://x"}), 400, "mediaUrls"),
    ] {
        let reply = post(body.clone()).await;
        assert_eq!((reply.status, reply.field()), (status, field), "{body}");
    }
    assert!(mock.sent().is_empty());

    let media = post(json!({"mediaUrls": ["https://example.com/cat.jpg"]})).await;
    assert_eq!(media.status, 201, "media only: {:?}", media.body);
    g.app.run_pipeline().await;
    let sms = mock.sent();
    assert_eq!(sms[0].media_urls, ["https://example.com/cat.jpg"]);
    assert_eq!(sms[0].body.as_deref(), Some("Ada Lovelace:"));

    let long = post(json!({"content": "ж".repeat(100)})).await;
    let delivery = &long.body["message"]["deliveries"][0];
    assert_eq!((delivery["encoding"].clone(), delivery["segments"].clone()), (json!("ucs2"), json!(2)));
    assert!(mock.invalid_requests().is_empty(), "{:?}", mock.invalid_requests());
}

#[tokio::test]
async fn without_a_twilio_account_sends_fail_visibly() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1)]).await;
    let ada = app.register("ada").await;
    app.give_number(&ada).await;
    let reply = app
        .post(
            "/api/users/sms/external",
            json!({"phoneNumber": PHONES[0], "message": "hello"}),
            Some(&ada.token),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    app.run_pipeline().await;
    let id = reply.body["conversation"]["id"].as_str().unwrap();
    let history = app.get(format!("/api/conversations/{id}/messages"), &ada.token).await;
    let delivery = &history.body["messages"][0]["deliveries"][0];
    assert_eq!(delivery["status"], "failed");
    assert_eq!(delivery["attempts"], 1, "refused at once, not retried");
    assert!(delivery["errorMessage"].as_str().unwrap().contains("not configured"));
}

#[tokio::test]
async fn sms_shortcuts_find_or_create_the_conversation() {
    let mock = TwilioMock::start().await;
    let app = TestApp::with_twilio(&mock, &[]).await;
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1)]).await;
    let ada = app.register("ada").await;
    let number = app.give_number(&ada).await;
    let bob = app.register("bob").await;

    let internal = app
        .post(
            format!("/api/users/sms/internal/{}", bob.user_id),
            json!({"message": "hi bob"}),
            Some(&ada.token),
        )
        .await;
    assert_eq!(internal.status, 201, "{:?}", internal.body);
    assert_eq!(internal.body["conversation"]["type"], "direct");
    assert_eq!(internal.body["message"]["deliveries"], json!([]), "web to web: no SMS");
    assert_eq!(internal.body["message"]["status"], "delivered");
    assert!(mock.sent().is_empty(), "no paid SMS between two web users");
    let again = app
        .post(
            format!("/api/users/sms/internal/{}", bob.user_id),
            json!({"message": "again"}),
            Some(&ada.token),
        )
        .await;
    assert_eq!(again.body["conversation"]["id"], internal.body["conversation"]["id"]);

    let external = app
        .post(
            "/api/users/sms/external",
            json!({"phoneNumber": "(415) 555-0301", "message": "hi"}),
            Some(&ada.token),
        )
        .await;
    assert_eq!(external.status, 201, "{:?}", external.body);
    assert_eq!(external.body["conversation"]["type"], "sms");
    app.run_pipeline().await;
    let sms = mock.sent();
    assert_eq!((sms.len(), sms[0].from.as_str(), sms[0].to.as_str()), (1, number.as_str(), PHONES[0]));
    assert_eq!(sms[0].body.as_deref(), Some("hi"), "no name prefix one to one");
    let bad = app
        .post("/api/users/sms/external", json!({"phoneNumber": "nope", "message": "hi"}), Some(&ada.token))
        .await;
    assert_eq!((bad.status, bad.field()), (422, "phoneNumber"));
    let empty = app
        .post("/api/users/sms/external", json!({"phoneNumber": PHONES[0], "message": ""}), Some(&ada.token))
        .await;
    assert_eq!((empty.status, empty.field()), (422, "message"));
}

#[tokio::test]
async fn dynamodb_requests_per_send_do_not_grow_with_recipients() {
    let mut counts = Vec::new();
    for phones in [&PHONES[..1], &PHONES[..]] {
        let mock = TwilioMock::start().await;
        let g = group_with(&mock, phones, &[]).await;
        let path = format!("/api/conversations/{}/messages", g.id);
        let (reply, ops) =
            g.app.count_operations(|| g.app.post(&path, json!({"content": "hi"}), Some(&g.ada.token))).await;
        assert_eq!(reply.status, 201);
        assert_eq!(ops.get("TransactWriteItems"), Some(&1), "the write-ahead: {ops:?}");
        counts.push(ops.values().sum::<u64>());
        // The queue call is one batch of at most ten jobs whatever the recipients (here up to 3).
        assert_eq!(g.app.queue.calls().len(), 1);
    }
    assert_eq!(counts[0], counts[1], "1 phone and 3 phones cost the same");
    assert_eq!(counts[0], 4, "auth, conversation, opt-outs, write-ahead");
}

use switchboard::core::domain::ids::{ConversationId, MessageId};
use switchboard::core::service::messages::{RedeliverOptions, Redelivery, Skipped};
use switchboard::core::AppError;

/// An operator's redrive of a message's failed deliveries, as `xtask redeliver` runs it.
async fn redeliver(
    state: &switchboard::AppState,
    conversation_id: &str,
    message_id: &impl ToString,
    options: RedeliverOptions,
) -> Result<Redelivery, AppError> {
    let conversation_id = ConversationId::parse(conversation_id).expect("a conversation id");
    let message_id = MessageId::parse(&message_id.to_string()).expect("a message id");
    switchboard::core::service::messages::redeliver(&state.app, conversation_id, message_id, options).await
}

/// The message's deliveries as stored, by phone.
async fn stored_deliveries(
    g: &Group,
    message_id: &impl ToString,
) -> Vec<switchboard::core::domain::message::Delivery> {
    let id = MessageId::parse(&message_id.to_string()).expect("a message id");
    g.app.state.app.messages.get_message(id).await.unwrap().expect("the message").deliveries
}

fn by_phone<'a>(
    deliveries: &'a [switchboard::core::domain::message::Delivery],
    phone: &str,
) -> &'a switchboard::core::domain::message::Delivery {
    deliveries.iter().find(|d| d.to.as_str() == phone).unwrap_or_else(|| panic!("no delivery to {phone}"))
}

/// A signed status callback for `delivery_id`.
async fn status_callback(g: &Group, delivery_id: &str, sid: &str, status: &str) -> u16 {
    let path = format!("/api/webhooks/twilio/status?deliveryId={delivery_id}");
    let params = [("MessageSid", sid), ("MessageStatus", status), ("ErrorCode", "30003")];
    g.app.dispatch(g.app.twilio_request(&path, &params, None)).await.status
}

/// Sends `text` in the group; returns the message id.
async fn send_text(g: &Group, text: &str) -> String {
    let sent =
        g.app.post(format!("/api/messages/{}", g.id), json!({"content": text}), Some(&g.ada.token)).await;
    assert_eq!(sent.status, 201, "{:?}", sent.body);
    sent.body["message"]["id"].as_str().unwrap().to_string()
}

// --- the delivery pipeline under Twilio's failures ------------------------------------------

#[tokio::test]
async fn a_phone_twilio_answers_503_then_201_gets_the_text_exactly_once() {
    let mock = TwilioMock::start().await;
    let g = group_with(&mock, &PHONES, &[]).await;
    mock.fail_times(PHONES[1], 1, 503, 20503, "Service Unavailable");
    let message_id = send_text(&g, "see you at noon").await;
    g.app.run_pipeline().await;

    assert_eq!(mock.sent_to(PHONES[1]).len(), 1, "exactly once");
    assert_eq!(mock.attempts(PHONES[1]), 2, "the 503, then the accepted retry");
    // A 5xx may have been sent all the same: the retry looked in Twilio's list first.
    assert!(mock.list_calls().iter().any(|c| c.to.as_deref() == Some(PHONES[1])));
    let delivery = by_phone(&stored_deliveries(&g, &message_id).await, PHONES[1]).clone();
    assert_eq!(delivery.status.as_str(), "queued");
    assert_eq!(delivery.twilio_sid.as_deref(), Some(mock.sent_to(PHONES[1])[0].sid.as_str()));
    assert_eq!(delivery.attempts, 2);
    // The other phones, sent at the first attempt, once each.
    for phone in [PHONES[0], PHONES[2]] {
        assert_eq!((mock.attempts(phone), mock.sent_to(phone).len()), (1, 1), "{phone}");
    }
    assert!(mock.invalid_requests().is_empty(), "{:?}", mock.invalid_requests());
}

#[tokio::test]
async fn throttled_three_times_it_is_sent_once_and_a_rejection_is_final_after_one_call() {
    let mock = TwilioMock::start().await;
    let g = group_with(&mock, &PHONES[..2], &[]).await;
    mock.fail_times(PHONES[0], 3, 429, 20429, "Too Many Requests");
    mock.fail_for(
        PHONES[1],
        Failure::Error { status: 400, code: 21211, message: "The 'To' number is not a valid phone number." },
    );
    let message_id = send_text(&g, "hello").await;
    g.app.run_pipeline().await;

    let stored = stored_deliveries(&g, &message_id).await;
    let throttled = by_phone(&stored, PHONES[0]);
    assert_eq!((throttled.status.as_str(), throttled.attempts), ("queued", 4));
    assert_eq!((mock.attempts(PHONES[0]), mock.sent_to(PHONES[0]).len()), (4, 1), "sent once");
    // A 429 is Twilio saying no: nothing to reconcile.
    assert!(mock.list_calls().iter().all(|c| c.to.as_deref() != Some(PHONES[0])));
    let rejected = by_phone(&stored, PHONES[1]);
    assert_eq!(
        (rejected.status.as_str(), rejected.error_code, rejected.attempts),
        ("failed", Some(21211), 1)
    );
    assert_eq!(mock.attempts(PHONES[1]), 1, "no retry");
    assert!(g.app.queue.dead_letters().is_empty(), "a rejection is no dead letter");
}

#[tokio::test]
async fn a_timeout_where_twilio_did_accept_is_reconciled_to_one_sms_with_twilios_sid() {
    let mock = TwilioMock::start().await;
    let g = group_with(&mock, &PHONES[..1], &[("TWILIO_TIMEOUT_MS", "300")]).await;
    // Twilio takes the SMS, but its answer comes after the client gave up.
    mock.accept_late(PHONES[0], Duration::from_secs(2));
    let message_id = send_text(&g, "did it go?").await;
    g.app.run_pipeline().await;

    let sent = mock.sent_to(PHONES[0]);
    assert_eq!(sent.len(), 1, "one SMS: the retry found it instead of sending again");
    assert_eq!(mock.attempts(PHONES[0]), 1);
    let lists = mock.list_calls();
    assert_eq!(lists.len(), 1, "{lists:?}");
    assert_eq!(
        (lists[0].from.as_deref(), lists[0].found),
        (Some(proxy_of(&g.conversation, PHONES[0]).as_str()), 1)
    );
    let delivery = by_phone(&stored_deliveries(&g, &message_id).await, PHONES[0]).clone();
    assert_eq!(delivery.twilio_sid.as_deref(), Some(sent[0].sid.as_str()), "Twilio's SID adopted");
    assert_eq!((delivery.status.as_str(), delivery.attempts), ("queued", 2));
}

#[tokio::test]
async fn the_same_job_twice_or_two_workers_at_once_make_one_twilio_call() {
    let mock = TwilioMock::start().await;
    let g = group_with(&mock, &PHONES, &[]).await;
    mock.set_delay(Duration::from_millis(200));
    send_text(&g, "once only").await;
    let jobs = g.app.queue.take_all();
    assert_eq!(jobs.len(), 3);
    // SQS delivers a batch twice, to two workers at once; then once more, late.
    tokio::join!(g.app.run_jobs(&jobs), g.app.run_jobs(&jobs));
    g.app.run_jobs(&jobs).await;
    g.app.run_pipeline().await;
    assert_eq!(mock.sent().len(), 3);
    assert!(PHONES.iter().all(|p| mock.attempts(p) == 1), "one Twilio call per delivery");
}

/// One delivery worker: takes the jobs ten at a time, as the SQS event source does.
async fn drain_in_batches(app: &TestApp, jobs: &[switchboard::core::ports::queue::Job]) {
    for batch in jobs.chunks(10) {
        app.run_jobs(batch).await;
    }
}

#[tokio::test]
async fn fifty_concurrent_sends_to_a_group_of_ten_phones_make_five_hundred_sms_none_twice() {
    let mock = TwilioMock::start().await;
    let phones: Vec<String> = (0..10).map(|n| format!("+1415555{:04}", 400 + n)).collect();
    let refs: Vec<&str> = phones.iter().map(String::as_str).collect();
    let g = group_with(&mock, &refs, &[]).await;
    let path = format!("/api/conversations/{}/messages", g.id);
    let sends = join_all(
        (0..50).map(|n| g.app.post(&path, json!({"content": format!("note {n}")}), Some(&g.ada.token))),
    );
    assert!(sends.await.iter().all(|r| r.status == 201));
    // Two workers drain the queue together, ten jobs a batch.
    let jobs = g.app.queue.take_all();
    assert_eq!(jobs.len(), 500);
    let (left, right) = jobs.split_at(250);
    tokio::join!(drain_in_batches(&g.app, left), drain_in_batches(&g.app, right));
    g.app.run_pipeline().await;

    let sent = mock.sent();
    assert_eq!(sent.len(), 500);
    let distinct: std::collections::HashSet<(String, Option<String>)> =
        sent.iter().map(|s| (s.to.clone(), s.body.clone())).collect();
    assert_eq!(distinct.len(), 500, "none twice");
}

#[tokio::test]
async fn the_last_failed_attempt_gives_the_delivery_up_and_dead_letters_it() {
    let mock = TwilioMock::start().await;
    let g = group_with(&mock, &PHONES[..1], &[("DELIVERY_MAX_ATTEMPTS", "3")]).await;
    mock.fail_for(PHONES[0], Failure::Error { status: 429, code: 20429, message: "Too Many Requests" });
    let message_id = send_text(&g, "never").await;
    g.app.run_pipeline().await;
    let delivery = by_phone(&stored_deliveries(&g, &message_id).await, PHONES[0]).clone();
    assert_eq!(
        (delivery.status.as_str(), delivery.attempts, delivery.error_code),
        ("failed", 3, Some(20429))
    );
    assert_eq!(mock.attempts(PHONES[0]), 3);
    let dead = g.app.queue.dead_letters();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].1.contains("gave up after 3 attempts: Twilio error 20429"), "{}", dead[0].1);
    // The message stays in history, its failure visible.
    let history = g.app.get(format!("/api/messages/{}", g.id), &g.ada.token).await;
    assert_eq!(history.body["messages"][0]["status"], "failed");
    // Nothing is left for the sweeper.
    assert_eq!(g.app.sweep().await, 0);
}

// --- the operator's redrive -----------------------------------------------------------------

/// Twilio refuses every SMS to the group's phones (21408: the region is not enabled).
fn refuse_every_phone(mock: &TwilioMock) {
    for phone in PHONES {
        let message = "Permission to send an SMS has not been enabled";
        mock.fail_for(phone, Failure::Error { status: 400, code: 21408, message });
    }
}

#[tokio::test]
async fn redeliver_puts_failed_deliveries_back_in_the_outbox_with_the_same_ids() {
    let mock = TwilioMock::start().await;
    let g = group_with(&mock, &PHONES, &[]).await;
    mock.fail_for(
        PHONES[1],
        Failure::Error { status: 400, code: 21211, message: "The 'To' number is not a valid phone number." },
    );
    let message_id = send_text(&g, "retry me").await;
    g.app.run_pipeline().await;
    let failed = by_phone(&stored_deliveries(&g, &message_id).await, PHONES[1]).clone();
    assert_eq!((failed.status.as_str(), failed.error_code), ("failed", Some(21211)));

    // Once the cause is fixed, only the failed delivery is queued again, under the same id.
    mock.recover(PHONES[1]);
    let before = mock.sent().len();
    let report = redeliver(&g.app.state, &g.id, &message_id, RedeliverOptions::default()).await.unwrap();
    assert!(report.skipped.is_empty());
    assert_eq!(report.requeued.len(), 1);
    assert_eq!(report.requeued[0].id(), failed.id());
    g.app.run_pipeline().await;
    let resent = &mock.sent()[before..];
    assert_eq!(resent.len(), 1);
    assert_eq!(resent[0].to, PHONES[1]);
    assert_eq!(resent[0].body.as_deref(), Some("Ada Lovelace: retry me"), "the text of the first attempt");
    assert!(resent[0].status_callback.as_deref().unwrap().ends_with(&failed.id().to_string()));

    let history = g.app.get(format!("/api/conversations/{}/messages", g.id), &g.ada.token).await;
    let stored = history.body["messages"][0]["deliveries"].as_array().unwrap().clone();
    let now = stored.iter().find(|d| d["id"] == failed.id().to_string()).unwrap();
    assert_eq!(now["status"], "queued");
    assert_eq!(now["twilioSid"].as_str(), Some(resent[0].sid.as_str()));
    assert!(now["errorCode"].is_null(), "the old error is gone: {now}");
    assert!(stored.iter().all(|d| d["status"] == "queued"));

    // Nothing is left to send: a second redrive queues nothing.
    let again = redeliver(&g.app.state, &g.id, &message_id, RedeliverOptions::default()).await.unwrap();
    assert!(again.requeued.is_empty() && again.skipped.is_empty());
    g.app.run_pipeline().await;
    assert_eq!(mock.sent().len(), before + 1);

    // Deliveries still in the outbox are the pipeline's (the sweeper's, if their job was lost).
    let pending = g.app.write_ahead_only(&g.ada.user_id, &g.id, "lost?").await;
    let report =
        redeliver(&g.app.state, &g.id, &pending[0].message_id, RedeliverOptions::default()).await.unwrap();
    assert!(report.requeued.is_empty());
    assert!(report.skipped.iter().all(|(_, why)| *why == Skipped::InOutbox) && report.skipped.len() == 3);
    // Another conversation's id does not name the message.
    let elsewhere = ulid::Ulid::new().to_string();
    assert!(redeliver(&g.app.state, &elsewhere, &message_id, RedeliverOptions::default()).await.is_err());
}

#[tokio::test]
async fn redeliver_refuses_a_closed_conversation_and_skips_who_left_or_opted_out() {
    let mock = TwilioMock::start().await;
    let g = group_with(&mock, &PHONES, &[]).await;
    refuse_every_phone(&mock);
    let message_id = send_text(&g, "refused").await;
    g.app.run_pipeline().await;
    for phone in PHONES {
        mock.recover(phone);
    }
    let failed = stored_deliveries(&g, &message_id).await;
    assert!(failed.iter().all(|d| d.status.as_str() == "failed"));

    // PHONES[0] left the group; PHONES[1] replied STOP to its proxy number meanwhile.
    let left = g.conversation["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["phoneNumber"] == PHONES[0])
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let removed =
        g.app.delete(format!("/api/conversations/{}/participants/{left}", g.id), &g.ada.token).await;
    assert!(removed.status < 300, "{:?}", removed.body);
    let stop = by_phone(&failed, PHONES[1]);
    g.app.state.app.messages.set_opt_out(&stop.from, &stop.to, true).await.unwrap();

    let before = mock.sent().len();
    let report = redeliver(&g.app.state, &g.id, &message_id, RedeliverOptions::default()).await.unwrap();
    assert_eq!(report.skipped.len(), 1);
    assert_eq!((report.skipped[0].0.to.as_str(), report.skipped[0].1), (PHONES[0], Skipped::NotAParticipant));
    assert_eq!(report.requeued.len(), 2);
    g.app.run_pipeline().await;
    let sent = &mock.sent()[before..];
    assert_eq!(sent.len(), 1, "only the phone still there and not opted out");
    assert_eq!(sent[0].to, PHONES[2]);
    let stored = stored_deliveries(&g, &message_id).await;
    assert_eq!(by_phone(&stored, PHONES[0]).status.as_str(), "failed", "left alone");
    assert_eq!(by_phone(&stored, PHONES[1]).status.as_str(), "opted_out", "recorded, no SMS");
    assert_eq!(by_phone(&stored, PHONES[2]).status.as_str(), "queued");

    // A closed conversation sends nothing again, with a clear error.
    let closed = g.app.delete(format!("/api/conversations/{}", g.id), &g.ada.token).await;
    assert_eq!(closed.status, 200, "{:?}", closed.body);
    let refused = redeliver(&g.app.state, &g.id, &message_id, RedeliverOptions::default()).await.unwrap_err();
    assert!(refused.to_string().contains("closed"), "{refused}");
}

#[tokio::test]
async fn redeliver_skips_tentative_failures_unless_forced() {
    let mock = TwilioMock::start().await;
    let g = group_with(&mock, &PHONES[..1], &[("DELIVERY_MAX_ATTEMPTS", "2")]).await;
    // A Twilio 5xx at every attempt: Twilio may have sent it all the same.
    mock.fail_for(PHONES[0], Failure::Error { status: 500, code: 20500, message: "Internal Server Error" });
    let message_id = send_text(&g, "maybe sent").await;
    g.app.run_pipeline().await;
    let failed = by_phone(&stored_deliveries(&g, &message_id).await, PHONES[0]).clone();
    assert!(failed.tentative && failed.status.as_str() == "failed", "{failed:?}");
    mock.recover(PHONES[0]);

    let before = mock.sent().len();
    let report = redeliver(&g.app.state, &g.id, &message_id, RedeliverOptions::default()).await.unwrap();
    assert!(report.requeued.is_empty());
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].1, Skipped::Tentative);
    assert!(report.skipped[0].1.reason().contains("--force"));
    g.app.run_pipeline().await;
    assert_eq!(mock.sent().len(), before, "nothing sent");

    let report = redeliver(&g.app.state, &g.id, &message_id, RedeliverOptions { force: true }).await.unwrap();
    assert_eq!((report.requeued.len(), report.skipped.len()), (1, 0));
    g.app.run_pipeline().await;
    assert_eq!(by_phone(&stored_deliveries(&g, &message_id).await, PHONES[0]).status.as_str(), "queued");
    assert_eq!(mock.sent().len(), before + 1);
}

#[tokio::test]
async fn two_redrives_at_once_send_a_failed_delivery_once() {
    let mock = TwilioMock::start().await;
    let g = group_with(&mock, &PHONES, &[]).await;
    refuse_every_phone(&mock);
    let message_id = send_text(&g, "once").await;
    g.app.run_pipeline().await;
    for phone in PHONES {
        mock.recover(phone);
    }
    let before = mock.sent().len();
    let (a, b) = futures::join!(
        redeliver(&g.app.state, &g.id, &message_id, RedeliverOptions::default()),
        redeliver(&g.app.state, &g.id, &message_id, RedeliverOptions::default()),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.requeued.len() + b.requeued.len(), 3, "each delivery by one redrive");
    assert_eq!(a.skipped.len() + b.skipped.len(), 3, "and skipped by the other");
    g.app.run_pipeline().await;
    assert_eq!(mock.sent().len(), before + 3);
    let later = redeliver(&g.app.state, &g.id, &message_id, RedeliverOptions::default()).await.unwrap();
    assert!(later.requeued.is_empty() && later.skipped.is_empty());
}

#[tokio::test]
async fn late_callbacks_of_a_superseded_attempt_do_not_change_the_redelivered_one() {
    let mock = TwilioMock::start().await;
    let g = group_with(&mock, &PHONES[..1], &[]).await;
    let message_id = send_text(&g, "carrier trouble").await;
    g.app.run_pipeline().await;
    let first = by_phone(&stored_deliveries(&g, &message_id).await, PHONES[0]).clone();
    let old_sid = first.twilio_sid.clone().expect("accepted by Twilio");
    // The carrier failed it: a final failure, with the first attempt's SID.
    assert_eq!(status_callback(&g, &first.id().to_string(), &old_sid, "failed").await, 200);
    assert_eq!(by_phone(&stored_deliveries(&g, &message_id).await, PHONES[0]).status.as_str(), "failed");

    let report = redeliver(&g.app.state, &g.id, &message_id, RedeliverOptions::default()).await.unwrap();
    assert_eq!(report.requeued.len(), 1);
    g.app.run_pipeline().await;
    let new_sid =
        by_phone(&stored_deliveries(&g, &message_id).await, PHONES[0]).twilio_sid.clone().expect("a new SID");
    assert_ne!(new_sid, old_sid);

    // A late (or repeated) callback of the first attempt, same deliveryId, changes nothing.
    assert_eq!(status_callback(&g, &first.id().to_string(), &old_sid, "failed").await, 200);
    let now = by_phone(&stored_deliveries(&g, &message_id).await, PHONES[0]).clone();
    assert_eq!((now.status.as_str(), now.twilio_sid.as_deref()), ("queued", Some(new_sid.as_str())));
    assert_eq!(now.error_code, None);
    // The new attempt's callbacks still apply.
    assert_eq!(status_callback(&g, &first.id().to_string(), &new_sid, "failed").await, 200);
    let now = by_phone(&stored_deliveries(&g, &message_id).await, PHONES[0]).clone();
    assert_eq!((now.status.as_str(), now.error_code), ("failed", Some(30003)));
}
