//! Every sample event in events/ goes through its function's handler, as Lambda would deliver
//! it (API Gateway HTTP API payload v2, function URL events for the webhooks, WebSocket API
//! proxy events for `realtime`), and must do what its name says.
//!
//! Events that need a caller or an id carry placeholders (`{{TOKEN}}`, `{{ADMIN_TOKEN}}`,
//! `{{REFRESH_TOKEN}}`, `{{USER_ID}}`, `{{ADMIN_ID}}`, `{{CONVERSATION_ID}}`, …); the test fills
//! them from the responses to the earlier events.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;
use switchboard::core::memory::{FakeMedia, FakeNumbers};
use switchboard_tests::{Reply, TestApp};

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("events")
}

type Check = fn(&Value) -> bool;
/// Values a response provides to later events: (placeholder, value).
type Capture = fn(&Value) -> Vec<(&'static str, String)>;

fn no_capture(_: &Value) -> Vec<(&'static str, String)> {
    Vec::new()
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn participant_where(body: &Value, key: &str, value: &Value) -> String {
    let list = body["conversation"]["participants"].as_array().cloned().unwrap_or_default();
    list.iter().find(|p| &p[key] == value).map(|p| text(&p["id"])).unwrap_or_default()
}

/// (file, expected status, a check on the body, what it provides to later events)
const STORY: &[(&str, u16, Check, Capture)] = &[
    (
        "auth-register.json",
        201,
        |b| b["user"]["phoneNumber"] == "+442079460958",
        |b| {
            vec![
                ("TOKEN", text(&b["token"])),
                ("REFRESH_TOKEN", text(&b["refreshToken"])),
                ("USER_ID", text(&b["user"]["id"])),
            ]
        },
    ),
    ("auth-login.json", 200, |b| b["user"]["username"] == "ada", no_capture),
    ("auth-openapi-get.json", 200, |b| b["openapi"] == "3.1.0", no_capture),
    ("auth-docs-get.json", 200, |b| b.as_str().is_some_and(|html| html.contains("<redoc")), no_capture),
    ("auth-refresh.json", 200, |b| b["token"].is_string(), no_capture),
    ("auth-profile.json", 200, |b| b["user"]["email"] == "ada@example.com", no_capture),
    // WebSocket API events (the `realtime` function): Ada connects with her token.
    ("websocket-connect.json", 200, |b| b["statusCode"] == 200, no_capture),
    ("users-profile-get.json", 200, |b| b["user"]["lastName"] == "Lovelace", no_capture),
    (
        "users-profile-put.json",
        200,
        |b| b["user"]["firstName"] == "Augusta Ada" && b["user"]["phoneNumber"] == "+14155550142",
        no_capture,
    ),
    ("numbers-post.json", 201, |b| b["number"]["phoneNumber"] == "+14155550150", no_capture),
    ("numbers-get.json", 200, |b| b["numbers"][0]["phoneNumber"] == "+14155550150", no_capture),
    (
        "users-virtual-number-post.json",
        200,
        |b| b["user"]["virtualPhoneNumber"] == "+14155550150",
        no_capture,
    ),
    ("users-virtual-numbers-get.json", 200, |b| b["users"][0]["username"] == "ada", no_capture),
    ("users-directory-get.json", 200, |b| b["users"].as_array().is_some_and(|u| u.len() == 2), no_capture),
    (
        "users-contacts-post.json",
        201,
        |b| b["contact"]["phoneNumber"] == "+14155550177",
        |b| vec![("CONTACT_ID", text(&b["contact"]["id"]))],
    ),
    ("users-contacts-get.json", 200, |b| b["contacts"][0]["name"] == "Grace Hopper", no_capture),
    ("users-contact-get.json", 200, |b| b["contact"]["notes"] == "Met at the conference", no_capture),
    ("users-contact-patch.json", 200, |b| b["contact"]["name"] == "Grace B. Hopper", no_capture),
    (
        "users-contacts-import-post.json",
        200,
        |b| b["imported"] == 1 && b["duplicates"] == 1 && b["cards"][1]["outcome"] == "duplicate",
        no_capture,
    ),
    ("users-contact-delete.json", 200, |b| b["deleted"].is_string(), no_capture),
    ("conversations-direct-post.json", 201, |b| b["conversation"]["type"] == "direct", no_capture),
    (
        "conversations-sms-post.json",
        201,
        |b| b["conversation"]["participants"][1]["proxyNumber"] == "+14155550150",
        no_capture,
    ),
    // Signed with the documented local token for http://127.0.0.1:9000: lands in Ada's SMS
    // conversation with +1 415 555 0177 (the pair her number and that phone make).
    ("twilio-inbound.json", 200, |b| b.as_str().is_some_and(|x| x.contains("<Response/>")), no_capture),
    (
        "conversations-group-post.json",
        201,
        |b| b["conversation"]["participants"].as_array().is_some_and(|p| p.len() == 3),
        |b| {
            let admin = b["conversation"]["participants"][1]["userId"].clone();
            vec![
                ("CONVERSATION_ID", text(&b["conversation"]["id"])),
                ("ADMIN_PARTICIPANT_ID", participant_where(b, "userId", &admin)),
            ]
        },
    ),
    (
        "conversations-get.json",
        200,
        |b| {
            let list = b["conversations"].as_array().cloned().unwrap_or_default();
            list.len() == 3 && list.iter().any(|c| c["lastMessagePreview"] == "Running 10 minutes late")
        },
        no_capture,
    ),
    ("conversation-get.json", 200, |b| b["conversation"]["name"] == "Book club", no_capture),
    (
        "conversation-timers-put.json",
        200,
        |b| b["conversation"]["timers"]["closeAfter"] == "P30D",
        no_capture,
    ),
    // Ada's socket says she is typing in the group.
    ("websocket-default.json", 200, |b| b["statusCode"] == 200, no_capture),
    (
        "conversation-participants-get.json",
        200,
        |b| b["participants"].as_array().is_some_and(|p| p.len() == 3),
        no_capture,
    ),
    (
        "conversation-participants-post.json",
        201,
        |b| b["participant"]["displayName"] == "Kim",
        |b| vec![("PARTICIPANT_ID", text(&b["participant"]["id"]))],
    ),
    ("conversation-participant-patch.json", 200, |b| b["participant"]["role"] == "admin", no_capture),
    ("conversation-participant-delete.json", 200, |b| b["removed"].is_string(), no_capture),
    // No Twilio account in this test: the message is stored and its SMS deliveries say why they failed.
    (
        "messages-post.json",
        201,
        // Written ahead and queued: the delivery pipeline sends it.
        |b| b["message"]["deliveries"][0]["status"] == "pending",
        |b| {
            vec![
                ("MESSAGE_ID", text(&b["message"]["id"])),
                ("DELIVERY_ID", text(&b["message"]["deliveries"][0]["id"])),
            ]
        },
    ),
    // The pipeline's worker takes the delivery's job (SQS event); this test app has no Twilio
    // account, so the attempt is refused and nothing is to be delivered again.
    ("delivery-sqs.json", 200, |b| b["batchItemFailures"] == serde_json::json!([]), no_capture),
    // The sweeper finds nothing overdue: every outbox entry had its job.
    ("sweeper-schedule.json", 200, |b| b["queued"] == 0, no_capture),
    ("messages-get.json", 200, |b| b["messages"][0]["content"] == "Next book: Middlemarch", no_capture),
    // A photo to attach: a presigned PUT bound to its type and size (the bucket is a fake here).
    (
        "messages-uploads-post.json",
        201,
        |b| b["method"] == "PUT" && b["headers"]["Content-Length"] == "482113",
        no_capture,
    ),
    // Ada reads up to that message, her own: her horizon moves to it, nothing is unread.
    (
        "conversation-read-put.json",
        200,
        |b| b["read"]["lastReadMessageId"].is_string() && b["read"]["unreadCount"] == 0,
        no_capture,
    ),
    (
        "messages-export-get.json",
        200,
        |b| b.as_str().is_some_and(|csv| csv.contains("Next book: Middlemarch")),
        no_capture,
    ),
    ("message-put.json", 200, |b| b["message"]["editedAt"].is_string(), no_capture),
    ("message-delete.json", 200, |b| b["message"]["deleted"] == true, no_capture),
    ("users-sms-internal-post.json", 201, |b| b["conversation"]["type"] == "direct", no_capture),
    ("users-sms-external-post.json", 201, |b| b["conversation"]["type"] == "sms", no_capture),
    // A callback for a delivery that does not exist: 200, nothing created.
    ("twilio-status.json", 200, |b| b.as_str().is_some_and(|x| x.contains("<Response/>")), no_capture),
    ("conversation-delete.json", 200, |b| b["conversation"]["status"] == "closed", no_capture),
    ("websocket-disconnect.json", 200, |b| b["statusCode"] == 200, no_capture),
    ("users-virtual-number-delete.json", 200, |b| b["user"]["virtualPhoneNumber"].is_null(), no_capture),
    ("numbers-delete.json", 200, |b| b["deleted"] == "+14155550150", no_capture),
    // The Twilio account's numbers (a fake account: see the test) and importing one.
    (
        "numbers-twilio-get.json",
        200,
        |b| b["numbers"][0]["phoneNumber"] == "+14155550170" && b["numbers"][0]["inPool"] == false,
        no_capture,
    ),
    (
        "numbers-import-post.json",
        200,
        |b| b["results"][0]["pool"] == "imported" && b["results"][0]["wiring"] == "wired",
        no_capture,
    ),
    ("users-status-put.json", 200, |b| b["user"]["active"] == false, no_capture),
];

#[tokio::test]
async fn every_sample_event_runs_through_its_handler() {
    // The settings `make dev` uses, which the webhook events are signed for.
    let mut app = TestApp::with_settings(&[
        ("TWILIO_AUTH_TOKEN", "local-development-twilio-auth-token"),
        ("PUBLIC_BASE_URL", "http://127.0.0.1:9000"),
    ])
    .await;
    // The Twilio account's numbers: one bought and not pointed anywhere yet.
    let account = FakeNumbers::new();
    account.add("+14155550170", None);
    app.state =
        app.state.clone().with_provider(Arc::new(account)).with_media_store(Arc::new(FakeMedia::new()));
    let admin = app.admin().await;
    // A second pool number, free, for the group's phones to use as their proxy.
    app.add_numbers(&admin, &["+14155550160".to_string()]).await;
    let mut values: HashMap<&str, String> =
        HashMap::from([("ADMIN_TOKEN", admin.token.clone()), ("ADMIN_ID", admin.user_id.clone())]);

    for (file, status, check, capture) in STORY {
        let mut raw = std::fs::read_to_string(events_dir().join(file)).unwrap();
        for (name, value) in &values {
            raw = raw.replace(&format!("{{{{{name}}}}}"), value);
        }
        assert!(!raw.contains("{{"), "{file}: a placeholder was not filled");
        let reply: Reply = if file.starts_with("websocket-") {
            let event = serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{file}: {e}"));
            let response = switchboard_realtime::handle(&app.state, event).await;
            let status = response.status_code as u16;
            Reply { status, body: serde_json::to_value(&response).unwrap(), headers: Default::default() }
        } else if file.starts_with("delivery-") {
            let event = serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{file}: {e}"));
            let response = switchboard_delivery::handle(&app.state, event).await;
            Reply { status: 200, body: serde_json::to_value(&response).unwrap(), headers: Default::default() }
        } else if file.starts_with("sweeper-") {
            let event = serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{file}: {e}"));
            let answer = switchboard_sweeper::handle(&app.state, event).await.expect("sweep");
            Reply { status: 200, body: answer, headers: Default::default() }
        } else {
            let request = lambda_http::request::from_str(&raw).unwrap_or_else(|e| panic!("{file}: {e}"));
            app.dispatch(request).await
        };
        assert_eq!(reply.status, *status, "{file}: {:?}", reply.body);
        assert!(check(&reply.body), "{file}: unexpected body {:?}", reply.body);
        values.extend(capture(&reply.body));
    }

    // Every file in events/ is part of the story, so none goes stale untested.
    let mut on_disk: Vec<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    on_disk.sort();
    let mut covered: Vec<String> = STORY.iter().map(|(f, ..)| f.to_string()).collect();
    covered.sort();
    assert_eq!(on_disk, covered);
}
