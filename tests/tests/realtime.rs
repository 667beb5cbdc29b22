//! Real-time publishing in process, against moto: who receives what, what it costs in DynamoDB
//! requests, and that gone connections are deleted. The sockets themselves (the WebSocket API
//! stand-in, `cargo lambda watch`) are exercised in `local_stack.rs`; here the gateway port
//! records what it is asked to post, so each post can be attributed to a connection.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{json, Value};
use switchboard::api::response::HttpStatus;
use switchboard::core::domain::ids::{ConnectionId, UserId};
use switchboard::core::domain::realtime::Connection;
use switchboard::core::ports::{ConnectionGateway, GatewayError};
use switchboard::core::service::{realtime, Publisher};
use switchboard_tests::twilio_mock::{Failure, TwilioMock};
use switchboard_tests::{message_sid, proxy_of, us_number, Session, TestApp};

const SAM: &str = "+14155550178";

fn conn(id: &str) -> ConnectionId {
    ConnectionId::parse(id).unwrap()
}

fn uid(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

/// The gateway port, recording each post; connections marked gone answer 410.
#[derive(Default)]
struct RecordingGateway {
    posts: Mutex<Vec<(String, Value)>>,
    gone: Mutex<HashSet<String>>,
}

#[async_trait]
impl ConnectionGateway for RecordingGateway {
    async fn post(&self, connection_id: &ConnectionId, data: Vec<u8>) -> Result<(), GatewayError> {
        let connection_id = connection_id.as_str();
        if self.gone.lock().unwrap().contains(connection_id) {
            return Err(GatewayError::Gone);
        }
        let event: Value = serde_json::from_slice(&data).expect("events are JSON");
        self.posts.lock().unwrap().push((connection_id.to_string(), event));
        Ok(())
    }
}

impl RecordingGateway {
    /// Event types posted to `connection_id` since the last call (and forgets them).
    fn take(&self, connection_id: &str) -> Vec<Value> {
        let mut posts = self.posts.lock().unwrap();
        let (mine, rest): (Vec<_>, Vec<_>) = posts.drain(..).partition(|(c, _)| c == connection_id);
        *posts = rest;
        mine.into_iter().map(|(_, event)| event).collect()
    }
}

struct World {
    app: TestApp,
    gateway: Arc<RecordingGateway>,
    admin: Session,
    ada: Session,
    bob: Session,
    group_id: String,
    proxy: String,
    mock: TwilioMock,
}

/// Ada (admin) and Bob, web users, with Sam's phone in a group; Ada on two devices, Bob on one,
/// Eve (an outsider) on one.
async fn world() -> World {
    let mock = TwilioMock::start().await;
    let mut app = TestApp::with_twilio(&mock, &[]).await;
    let gateway = Arc::new(RecordingGateway::default());
    app.state = app.state.clone().with_publisher(Publisher::new(gateway.clone()));
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1)]).await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let eve = app.register("eve").await;
    let participants = json!([{"userId": bob.user_id}, {"phoneNumber": SAM, "displayName": "Sam"}]);
    let group = app.create_group(&ada, "Club", participants).await;
    let group_id = group["id"].as_str().unwrap().to_string();
    let proxy = proxy_of(&group, SAM);
    for (connection, user) in [("ada-laptop", &ada), ("ada-phone", &ada), ("bob-1", &bob), ("eve-1", &eve)] {
        realtime::connect(&app.state.app, &conn(connection), Some(&user.token)).await.unwrap();
    }
    World { app, gateway, admin, ada, bob, group_id, proxy, mock }
}

/// The participant id of a web user in the world's group.
async fn participant_of(w: &World, user_id: &str) -> String {
    let reply = w.app.get(format!("/api/conversations/{}/participants", w.group_id), &w.ada.token).await;
    let participants = reply.body["participants"].as_array().unwrap().clone();
    participants.iter().find(|p| p["userId"] == user_id).unwrap()["id"].as_str().unwrap().to_string()
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn an_inbound_sms_reaches_every_device_of_every_member_and_no_one_else() {
    let w = world().await;
    let reply = w.app.inbound_sms(&message_sid(1), SAM, &w.proxy, "Who brings snacks?").await;
    assert_eq!(reply.status, 200);
    // A group text is fanned out (and its members told) by the pipeline's relay job.
    w.app.run_pipeline().await;
    for connection in ["ada-laptop", "ada-phone", "bob-1"] {
        let events = w.gateway.take(connection);
        assert_eq!(types(&events), ["message.created"], "{connection}");
        let event = &events[0];
        assert_eq!(event["conversationId"], w.group_id.as_str());
        assert_eq!(event["payload"]["content"], "Who brings snacks?");
        assert_eq!(event["payload"]["sender"]["displayName"], "Sam");
        assert!(event["id"].is_string() && event["timestamp"].is_string());
    }
    assert!(w.gateway.take("eve-1").is_empty());

    // A retried webhook stores nothing and publishes nothing.
    w.app.inbound_sms(&message_sid(1), SAM, &w.proxy, "Who brings snacks?").await;
    w.app.run_pipeline().await;
    assert!(w.gateway.posts.lock().unwrap().is_empty());
}

#[tokio::test]
async fn sends_edits_status_callbacks_and_membership_changes_are_published() {
    let w = world().await;
    let path = format!("/api/conversations/{}/messages", w.group_id);
    let sent = w.app.post(&path, json!({"content": "Hi all"}), Some(&w.bob.token)).await;
    assert_eq!(sent.status, 201);
    let message = sent.body["message"].clone();
    let delivery_id = message["deliveries"][0]["id"].as_str().unwrap().to_string();
    // The sender's own devices hear of it too (another tab, the phone app).
    for connection in ["ada-laptop", "ada-phone", "bob-1"] {
        assert_eq!(types(&w.gateway.take(connection)), ["message.created"], "{connection}");
    }
    // The pipeline hands the SMS to Twilio and says so: `queued`, with its SID.
    w.app.run_pipeline().await;
    let mut sid = String::new();
    for connection in ["ada-laptop", "ada-phone", "bob-1"] {
        let events = w.gateway.take(connection);
        assert_eq!(types(&events), ["delivery.updated"], "{connection}");
        assert_eq!(events[0]["payload"]["status"], "queued");
        sid = events[0]["payload"]["twilioSid"].as_str().expect("the SID").to_string();
    }

    let status = w
        .app
        .dispatch(w.app.twilio_request(
            &format!("/api/webhooks/twilio/status?deliveryId={delivery_id}"),
            &[("MessageSid", sid.as_str()), ("MessageStatus", "delivered")],
            None,
        ))
        .await;
    assert_eq!(status.status, 200);
    for connection in ["ada-laptop", "ada-phone", "bob-1"] {
        let events = w.gateway.take(connection);
        assert_eq!(types(&events), ["delivery.updated"], "{connection}");
        assert_eq!(events[0]["payload"]["status"], "delivered");
        assert_eq!(events[0]["payload"]["deliveryId"], delivery_id.as_str());
    }

    let edit = w
        .app
        .put(
            format!("/api/messages/{}", message["id"].as_str().unwrap()),
            json!({"content": "Hi everyone"}),
            &w.bob.token,
        )
        .await;
    assert_eq!(edit.status, 200);
    let events = w.gateway.take("ada-laptop");
    assert_eq!(types(&events), ["message.updated"]);
    assert_eq!(events[0]["payload"]["content"], "Hi everyone");
    w.app.delete(format!("/api/messages/{}", message["id"].as_str().unwrap()), &w.bob.token).await;
    assert_eq!(types(&w.gateway.take("ada-laptop")), ["message.deleted"]);
    for connection in ["ada-phone", "bob-1"] {
        assert_eq!(types(&w.gateway.take(connection)), ["message.updated", "message.deleted"]);
    }

    // Bob is removed: he is told, and from then on hears nothing of the group.
    let bob_participant = participant_of(&w, &w.bob.user_id).await;
    let removed = w
        .app
        .delete(format!("/api/conversations/{}/participants/{bob_participant}", w.group_id), &w.ada.token)
        .await;
    assert_eq!(removed.status, 200);
    for connection in ["ada-laptop", "ada-phone", "bob-1"] {
        assert_eq!(types(&w.gateway.take(connection)), ["participant.left"], "{connection}");
    }
    w.app.inbound_sms(&message_sid(2), SAM, &w.proxy, "Bob left?").await;
    w.app.run_pipeline().await;
    assert!(w.gateway.take("bob-1").is_empty());
    assert_eq!(types(&w.gateway.take("ada-laptop")), ["message.created"]);
    w.gateway.take("ada-phone");

    // Adding him back: everyone in, him included, hears of it.
    let added = w
        .app
        .post(
            format!("/api/conversations/{}/participants", w.group_id),
            json!({"userId": w.bob.user_id}),
            Some(&w.ada.token),
        )
        .await;
    assert_eq!(added.status, 201);
    assert_eq!(types(&w.gateway.take("bob-1")), ["participant.joined"]);
    assert_eq!(types(&w.gateway.take("ada-phone")), ["participant.joined"]);
    assert!(w.gateway.take("eve-1").is_empty());
}

#[tokio::test]
async fn typing_goes_to_the_other_members_only_and_outsiders_cannot_type() {
    let w = world().await;
    let typing = json!({"action": "typing", "conversationId": w.group_id}).to_string();
    realtime::client_frame(&w.app.state.app, &conn("ada-laptop"), &typing).await.unwrap();
    let events = w.gateway.take("bob-1");
    assert_eq!(types(&events), ["typing"]);
    assert_eq!(events[0]["payload"]["userId"], w.ada.user_id.as_str());
    assert!(w.gateway.take("ada-phone").is_empty(), "the typist's own devices are not told");
    let refused = realtime::client_frame(&w.app.state.app, &conn("eve-1"), &typing).await.unwrap_err();
    assert_eq!(refused.status(), 404);
    assert!(w.gateway.posts.lock().unwrap().is_empty());
    let bad =
        realtime::client_frame(&w.app.state.app, &conn("eve-1"), r#"{"action":"shout"}"#).await.unwrap_err();
    assert_eq!((bad.status(), bad.code()), (422, "validation_failed"));
    let unknown = realtime::client_frame(&w.app.state.app, &conn("never-connected"), r#"{"action":"ping"}"#)
        .await
        .unwrap_err();
    assert_eq!(unknown.status(), 401);
}

#[tokio::test]
async fn a_gone_connection_is_deleted_unless_it_is_still_opening_and_disconnects_are_forgotten() {
    let w = world().await;
    let store = &w.app.state.app.connections;
    // A socket that went away an hour ago, and one whose $connect has not returned yet: API
    // Gateway answers 410 to both, only the first is gone.
    let hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    store.put_connection(&Connection::new(conn("ada-old"), uid(&w.ada.user_id), hour_ago)).await.unwrap();
    w.gateway.gone.lock().unwrap().extend(["ada-old".to_string(), "ada-phone".to_string()]);
    w.app.inbound_sms(&message_sid(1), SAM, &w.proxy, "one").await;
    w.app.run_pipeline().await;
    let mut ada_connections: Vec<String> = store
        .connections_of(&[uid(&w.ada.user_id)])
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.connection_id.to_string())
        .collect();
    ada_connections.sort();
    assert_eq!(ada_connections, ["ada-laptop", "ada-phone"]);
    realtime::disconnect(&w.app.state.app, &conn("bob-1")).await.unwrap();
    realtime::disconnect(&w.app.state.app, &conn("bob-1")).await.unwrap(); // twice is fine
    assert!(store.connections_of(&[uid(&w.bob.user_id)]).await.unwrap().is_empty());
    assert!(store.connection_user(&conn("bob-1")).await.unwrap().is_none());
}

#[tokio::test]
async fn a_deactivated_user_is_forgotten_and_cannot_connect_again() {
    let w = world().await;
    let reply = w
        .app
        .put(format!("/api/users/{}/status", w.bob.user_id), json!({"active": false}), &w.admin.token)
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert!(w.app.state.app.connections.connections_of(&[uid(&w.bob.user_id)]).await.unwrap().is_empty());
    w.app.inbound_sms(&message_sid(1), SAM, &w.proxy, "still there?").await;
    w.app.run_pipeline().await;
    assert!(w.gateway.take("bob-1").is_empty());
    assert_eq!(types(&w.gateway.take("ada-laptop")), ["message.created"]);
    let refused = realtime::connect(&w.app.state.app, &conn("bob-2"), Some(&w.bob.token)).await.unwrap_err();
    assert_eq!(refused.status(), 401);
    let frame = json!({"action": "typing", "conversationId": w.group_id}).to_string();
    assert_eq!(
        realtime::client_frame(&w.app.state.app, &conn("bob-1"), &frame).await.unwrap_err().status(),
        401
    );
}

#[tokio::test]
async fn a_member_removed_while_twilio_is_called_gets_the_message_but_not_what_follows() {
    let w = world().await;
    w.mock.set_delay(std::time::Duration::from_millis(800));
    w.mock.fail_for(SAM, Failure::Error { status: 400, code: 21211, message: "invalid number" });
    let path = format!("/api/conversations/{}/messages", w.group_id);
    let ada_token = w.ada.token.clone();
    // The send answers at once (the SMS is queued); the pipeline calls Twilio after.
    let sent = w.app.post(&path, json!({"content": "Hello"}), Some(&ada_token)).await;
    assert_eq!(sent.status, 201);
    assert_eq!(sent.body["message"]["deliveries"][0]["status"], "pending");
    let remove = async {
        // While the pipeline waits for Twilio, Ada removes Bob.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let bob = participant_of(&w, &w.bob.user_id).await;
        w.app.delete(format!("/api/conversations/{}/participants/{bob}", w.group_id), &ada_token).await
    };
    let ((), removed) = tokio::join!(w.app.run_pipeline(), remove);
    assert_eq!(removed.status, 200);
    let history = w.app.get(&path, &ada_token).await;
    assert_eq!(history.body["messages"][0]["deliveries"][0]["status"], "failed");
    // Bob was a member when the message was stored: he got it, then his removal, and not the
    // failure that came after.
    assert_eq!(types(&w.gateway.take("bob-1")), ["message.created", "participant.left"]);
    let mut ada = types(&w.gateway.take("ada-laptop")).into_iter().map(str::to_string).collect::<Vec<_>>();
    ada.sort();
    assert_eq!(ada, ["delivery.updated", "message.created", "participant.left"]);
}

#[tokio::test]
async fn connecting_needs_a_valid_access_token() {
    let w = world().await;
    for token in [None, Some(""), Some("not-a-token"), Some(w.ada.refresh_token.as_str())] {
        let err = realtime::connect(&w.app.state.app, &conn("x"), token).await.unwrap_err();
        assert_eq!(err.status(), 401, "{token:?}");
    }
    assert!(w.app.state.app.connections.connection_user(&conn("x")).await.unwrap().is_none());

    // Through the function, as API Gateway invokes it: a refused $connect answers the API's JSON error.
    let event = json!({
        "requestContext": {"routeKey": "$connect", "eventType": "CONNECT", "connectionId": "y",
            "connectedAt": 1795599000000_i64, "requestTimeEpoch": 1795599000000_i64, "identity": {"sourceIp": "203.0.113.7"}},
        "queryStringParameters": {"token": "not-a-token"},
        "isBase64Encoded": false
    });
    let response = switchboard_realtime::handle(&w.app.state, serde_json::from_value(event).unwrap()).await;
    assert_eq!(response.status_code, 401);
    let body: Value = serde_json::to_value(&response).unwrap();
    let error: Value = serde_json::from_str(body["body"].as_str().unwrap()).unwrap();
    assert_eq!(error["error"]["code"], "unauthorized", "{error}");
}

/// DynamoDB requests of an inbound SMS with publishing on, minus the same with it off.
async fn extra_requests(w: &mut World) -> BTreeMap<String, i64> {
    let (_, on) = w
        .app
        .count_operations(|| async {
            w.app.inbound_sms(&message_sid(10), SAM, &w.proxy, "counted").await;
            w.app.run_pipeline().await
        })
        .await;
    let publishing = w.app.state.app.events.clone();
    w.app.state = w.app.state.clone().with_publisher(Publisher::disabled());
    let (_, off) = w
        .app
        .count_operations(|| async {
            w.app.inbound_sms(&message_sid(11), SAM, &w.proxy, "counted").await;
            w.app.run_pipeline().await
        })
        .await;
    w.app.state = w.app.state.clone().with_publisher(publishing);
    let mut extra: BTreeMap<String, i64> = on.into_iter().map(|(k, v)| (k, v as i64)).collect();
    for (op, count) in off {
        *extra.entry(op).or_default() -= count as i64;
    }
    extra.retain(|_, v| *v != 0);
    extra
}

#[tokio::test]
async fn publishing_an_inbound_sms_costs_one_query_per_web_member() {
    let mut w = world().await;
    // Two web members (Ada, Bob): two Queries, whatever their number of devices.
    let extra = extra_requests(&mut w).await;
    assert_eq!(extra, BTreeMap::from([("Query".to_string(), 2)]));
}
