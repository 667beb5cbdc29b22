//! Sending messages: web participants in the app, SMS participants through Twilio (a mock that
//! validates every request against Twilio's official OpenAPI description).

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
    let deliveries = message["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 3);
    let sids: std::collections::HashSet<&str> =
        deliveries.iter().map(|d| d["twilioSid"].as_str().unwrap()).collect();
    assert_eq!(sids.len(), 3, "distinct SIDs");
    assert!(deliveries
        .iter()
        .all(|d| d["status"] == "queued" && d["segments"] == 1 && d["encoding"] == "gsm7"));

    // The web users have it in the app, with the deliveries as stored.
    let history = g.app.get(format!("/api/conversations/{}/messages", g.id), &g.members[0].token).await;
    assert_eq!(history.status, 200);
    let stored = &history.body["messages"][0];
    assert_eq!(stored["id"], message["id"]);
    assert_eq!(stored["deliveries"].as_array().unwrap().len(), 3);
    assert!(stored["deliveries"].as_array().unwrap().iter().all(|d| d["twilioSid"].is_string()));
    let inbox = g.app.get("/api/conversations", &g.members[1].token).await;
    assert_eq!(inbox.body["conversations"][0]["lastMessagePreview"], "Meeting at 5");
}

#[tokio::test]
async fn a_failure_for_one_phone_fails_only_its_delivery_and_says_why() {
    let mock = TwilioMock::start().await;
    let phones =
        ["+14155550301", "+14155550302", "+14155550303", "+14155550304", "+14155550305", "+14155550306"];
    let g = group_with(&mock, &phones, &[("TWILIO_TIMEOUT_MS", "500")]).await;
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
    let deliveries = sent.body["message"]["deliveries"].as_array().unwrap().clone();
    let of = |phone: &str| deliveries.iter().find(|d| d["phoneNumber"] == phone).unwrap().clone();
    assert_eq!(of(phones[0])["status"], "queued");
    for phone in [phones[1], phones[3], phones[4], phones[5]] {
        assert_eq!(of(phone)["status"], "failed", "{phone}");
        assert!(of(phone)["errorMessage"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // 21610: the phone unsubscribed from that number at Twilio: opted out, not failed.
    assert_eq!(
        (of(phones[2])["status"].clone(), of(phones[2])["errorCode"].clone()),
        (json!("opted_out"), json!(21610))
    );
    assert_eq!(of(phones[3])["errorCode"], 21211);
    assert_eq!(of(phones[4])["errorCode"], 20429);
    assert!(of(phones[5])["errorMessage"].as_str().unwrap().contains("in time"));
    assert_eq!(sent.body["message"]["status"], "failed");

    let history = g.app.get(format!("/api/messages/{}", g.id), &g.ada.token).await;
    let stored = history.body["messages"][0]["deliveries"].as_array().unwrap().clone();
    assert_eq!(stored.iter().filter(|d| d["status"] == "failed").count(), 4, "outcomes are recorded");
    // The opt-out Twilio reported is ours now: the next send makes no call to that phone.
    let calls = mock.request_count().await;
    let again =
        g.app.post(format!("/api/messages/{}", g.id), json!({"content": "again"}), Some(&g.ada.token)).await;
    let again = again.body["message"]["deliveries"].as_array().unwrap().clone();
    assert_eq!(again.iter().find(|d| d["phoneNumber"] == phones[2]).unwrap()["status"], "opted_out");
    assert_eq!(mock.request_count().await, calls + 5);
}

#[tokio::test]
async fn a_crash_between_storing_and_sending_leaves_visible_pending_deliveries() {
    let mock = TwilioMock::start().await;
    let g = group_with(&mock, &PHONES, &[]).await;
    // The write-ahead step alone, as if the function died before calling Twilio.
    g.app.write_ahead_only(&g.ada.user_id, &g.id, "lost?").await;

    assert!(mock.sent().is_empty());
    let history = g.app.get(format!("/api/conversations/{}/messages", g.id), &g.members[0].token).await;
    let stored = &history.body["messages"][0];
    assert_eq!(stored["content"], "lost?");
    assert_eq!(stored["status"], "pending");
    let pending = stored["deliveries"].as_array().unwrap();
    assert_eq!(pending.len(), 3);
    assert!(pending.iter().all(|d| d["status"] == "pending" && d["twilioSid"].is_null()));
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
    let delivery = &reply.body["message"]["deliveries"][0];
    assert_eq!(delivery["status"], "failed");
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
        assert_eq!(ops.get("TransactWriteItems"), Some(&2), "write ahead, then record: {ops:?}");
        counts.push(ops.values().sum::<u64>());
    }
    assert_eq!(counts[0], counts[1], "1 phone and 3 phones cost the same");
    assert_eq!(counts[0], 5, "auth, conversation, opt-outs, write-ahead, record");
}

use switchboard::core::domain::ids::{ConversationId, MessageId};
use switchboard::core::service::messages::{RedeliverOptions, Redelivery, Skipped};
use switchboard::core::AppError;

/// An operator's replay of a message's deliveries, as `xtask redeliver` runs it.
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

/// A replay that does not wait for sends that may be in flight (the tests' write-aheads are new).
fn at_once() -> RedeliverOptions {
    RedeliverOptions { in_flight: chrono::Duration::zero(), ..RedeliverOptions::default() }
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

#[tokio::test]
async fn redeliver_resends_failed_and_pending_deliveries_once_with_the_same_ids() {
    let mock = TwilioMock::start().await;
    let g = group_with(&mock, &PHONES, &[]).await;
    mock.fail_for(
        PHONES[1],
        Failure::Error { status: 400, code: 21211, message: "The 'To' number is not a valid phone number." },
    );
    let sent = g
        .app
        .post(format!("/api/messages/{}", g.id), json!({"content": "retry me"}), Some(&g.ada.token))
        .await;
    let message_id = sent.body["message"]["id"].as_str().unwrap().to_string();
    let failed = sent.body["message"]["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["phoneNumber"] == PHONES[1])
        .unwrap()
        .clone();
    assert_eq!((failed["status"].clone(), failed["errorCode"].clone()), (json!("failed"), json!(21211)));

    // Once the cause is fixed, only the failed delivery is sent again, under the same id.
    mock.recover(PHONES[1]);
    let before = mock.sent().len();
    let replayed = redeliver(&g.app.state, &g.id, &message_id, RedeliverOptions::default()).await.unwrap();
    assert!(replayed.skipped.is_empty());
    let replayed = replayed.attempted;
    assert_eq!(replayed.len(), 1);
    assert_eq!(replayed[0].id().to_string(), failed["id"].as_str().unwrap());
    let resent = &mock.sent()[before..];
    assert_eq!(resent.len(), 1);
    assert_eq!(resent[0].to, PHONES[1]);
    assert_eq!(resent[0].body.as_deref(), Some("Ada Lovelace: retry me"), "the text of the first attempt");
    assert!(resent[0].status_callback.as_deref().unwrap().ends_with(failed["id"].as_str().unwrap()));

    let history = g.app.get(format!("/api/conversations/{}/messages", g.id), &g.ada.token).await;
    let stored = history.body["messages"][0]["deliveries"].as_array().unwrap().clone();
    let now = stored.iter().find(|d| d["id"] == failed["id"]).unwrap();
    assert_eq!(now["status"], "queued");
    assert_eq!(now["twilioSid"].as_str(), Some(resent[0].sid.as_str()));
    assert!(now["errorCode"].is_null(), "the old error is gone: {now}");
    assert!(stored.iter().all(|d| d["status"] == "queued"));

    // Nothing is left to send: a second replay sends nothing.
    let again = redeliver(&g.app.state, &g.id, &message_id, RedeliverOptions::default()).await.unwrap();
    assert!(again.attempted.is_empty() && again.skipped.is_empty());
    assert_eq!(mock.sent().len(), before + 1);

    // Deliveries left pending by a crash after the write-ahead are sent too.
    // (Here at once: no send of them is in flight.)
    let pending = g.app.write_ahead_only(&g.ada.user_id, &g.id, "lost?").await;
    let replayed = redeliver(&g.app.state, &g.id, &pending[0].message_id, at_once()).await.unwrap().attempted;
    assert_eq!(replayed.len(), 3);
    assert!(replayed.iter().all(|d| d.status.as_str() == "queued" && d.twilio_sid.is_some()));
    assert_eq!(mock.sent().len(), before + 4);
    // Another conversation's id does not name the message.
    let elsewhere = ulid::Ulid::new().to_string();
    assert!(redeliver(&g.app.state, &elsewhere, &message_id, RedeliverOptions::default()).await.is_err());
}

#[tokio::test]
async fn redeliver_refuses_a_closed_conversation_and_skips_who_left_or_opted_out() {
    let mock = TwilioMock::start().await;
    let g = group_with(&mock, &PHONES, &[]).await;
    let pending = g.app.write_ahead_only(&g.ada.user_id, &g.id, "lost?").await;
    let message_id = pending[0].message_id;

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
    let stop = by_phone(&pending, PHONES[1]);
    g.app.state.app.messages.set_opt_out(&stop.from, &stop.to, true).await.unwrap();

    let before = mock.sent().len();
    let report = redeliver(&g.app.state, &g.id, &message_id, at_once()).await.unwrap();
    let sent = &mock.sent()[before..];
    assert_eq!(sent.len(), 1, "only the phone still there and not opted out");
    assert_eq!(sent[0].to, PHONES[2]);
    assert_eq!(report.skipped.len(), 1);
    assert_eq!((report.skipped[0].0.to.as_str(), report.skipped[0].1), (PHONES[0], Skipped::NotAParticipant));
    let stored = stored_deliveries(&g, &message_id).await;
    assert_eq!(by_phone(&stored, PHONES[0]).status.as_str(), "pending", "left alone");
    assert_eq!(by_phone(&stored, PHONES[1]).status.as_str(), "opted_out", "recorded, no SMS");
    assert_eq!(by_phone(&stored, PHONES[2]).status.as_str(), "queued");
    assert_eq!(report.attempted.len(), 2);

    // A closed conversation sends nothing again, with a clear error.
    let lost = g.app.write_ahead_only(&g.ada.user_id, &g.id, "lost too").await;
    let closed = g.app.delete(format!("/api/conversations/{}", g.id), &g.ada.token).await;
    assert_eq!(closed.status, 200, "{:?}", closed.body);
    let refused = redeliver(&g.app.state, &g.id, &lost[0].message_id, at_once()).await.unwrap_err();
    assert!(refused.to_string().contains("closed"), "{refused}");
    assert_eq!(mock.sent().len(), before + 1);
}

#[tokio::test]
async fn redeliver_skips_tentative_failures_unless_forced() {
    let mock = TwilioMock::start().await;
    let g = group_with(&mock, &PHONES[..1], &[]).await;
    // A Twilio 5xx: Twilio may have sent it all the same.
    mock.fail_for(PHONES[0], Failure::Error { status: 503, code: 20503, message: "Service unavailable" });
    let message_id = send_text(&g, "maybe sent").await;
    let failed = by_phone(&stored_deliveries(&g, &message_id).await, PHONES[0]).clone();
    assert!(failed.tentative && failed.status.as_str() == "failed", "{failed:?}");
    mock.recover(PHONES[0]);

    let before = mock.sent().len();
    let report = redeliver(&g.app.state, &g.id, &message_id, RedeliverOptions::default()).await.unwrap();
    assert!(report.attempted.is_empty());
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].1, Skipped::Tentative);
    assert!(report.skipped[0].1.reason().contains("--force"));
    assert_eq!(mock.sent().len(), before, "nothing sent");

    let forced = RedeliverOptions { force: true, ..RedeliverOptions::default() };
    let report = redeliver(&g.app.state, &g.id, &message_id, forced).await.unwrap();
    assert_eq!((report.attempted.len(), report.skipped.len()), (1, 0));
    assert_eq!(report.attempted[0].status.as_str(), "queued");
    assert_eq!(mock.sent().len(), before + 1);
}

#[tokio::test]
async fn concurrent_replays_and_sends_in_flight_never_send_a_delivery_twice() {
    let mock = TwilioMock::start().await;
    let g = group_with(&mock, &PHONES, &[]).await;
    let pending = g.app.write_ahead_only(&g.ada.user_id, &g.id, "once").await;
    let message_id = pending[0].message_id;
    let before = mock.sent().len();

    // Just written: the send that wrote them may still be calling Twilio.
    let report = redeliver(&g.app.state, &g.id, &message_id, RedeliverOptions::default()).await.unwrap();
    assert!(report.attempted.is_empty());
    assert!(report.skipped.iter().all(|(_, why)| *why == Skipped::Claimed) && report.skipped.len() == 3);
    assert_eq!(mock.sent().len(), before);

    // Older than the window: two replays at once send each SMS once between them.
    for d in &pending {
        g.app
            .client
            .update_item()
            .table_name(&g.app.table)
            .key("PK", aws_sdk_dynamodb::types::AttributeValue::S(format!("MSGS#{}", d.conversation_id)))
            .key(
                "SK",
                aws_sdk_dynamodb::types::AttributeValue::S(format!(
                    "DLV#{}#{}",
                    d.message_id, d.participant_id
                )),
            )
            .update_expression("SET updatedAt = :old")
            .condition_expression("attribute_exists(SK)")
            .expression_attribute_values(
                ":old",
                aws_sdk_dynamodb::types::AttributeValue::S("2020-01-01T00:00:00Z".into()),
            )
            .send()
            .await
            .unwrap();
    }
    mock.set_delay(Duration::from_millis(200));
    let (a, b) = futures::join!(
        redeliver(&g.app.state, &g.id, &message_id, RedeliverOptions::default()),
        redeliver(&g.app.state, &g.id, &message_id, RedeliverOptions::default()),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.attempted.len() + b.attempted.len(), 3, "each delivery in one replay");
    assert_eq!(a.skipped.len() + b.skipped.len(), 3, "and skipped by the other");
    assert_eq!(mock.sent().len(), before + 3);
    // A later replay finds nothing left to send.
    let later = redeliver(&g.app.state, &g.id, &message_id, at_once()).await.unwrap();
    assert!(later.attempted.is_empty() && later.skipped.is_empty());
    assert_eq!(mock.sent().len(), before + 3);
}

#[tokio::test]
async fn late_callbacks_of_a_superseded_attempt_do_not_change_the_redelivered_one() {
    let mock = TwilioMock::start().await;
    let g = group_with(&mock, &PHONES[..1], &[]).await;
    let message_id = send_text(&g, "carrier trouble").await;
    let first = by_phone(&stored_deliveries(&g, &message_id).await, PHONES[0]).clone();
    let old_sid = first.twilio_sid.clone().expect("accepted by Twilio");
    // The carrier failed it: a final failure, with the first attempt's SID.
    assert_eq!(status_callback(&g, &first.id().to_string(), &old_sid, "failed").await, 200);
    assert_eq!(by_phone(&stored_deliveries(&g, &message_id).await, PHONES[0]).status.as_str(), "failed");

    let report = redeliver(&g.app.state, &g.id, &message_id, RedeliverOptions::default()).await.unwrap();
    assert_eq!(report.attempted.len(), 1);
    let new_sid = report.attempted[0].twilio_sid.clone().expect("a new SID");
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
