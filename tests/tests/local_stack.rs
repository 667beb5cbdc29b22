//! The README's walkthrough, over HTTP, against the running local stack of `make dev`
//! (`cargo lambda watch`, moto, the Twilio stand-in) — not by calling handlers.
//!
//! Then real-time events over the local WebSocket API stand-in, in the walkthrough's group.
//!
//! Built only with the `local-stack` feature: `scripts/test.sh` starts the stack on free ports
//! and runs this with SWITCHBOARD_API_URL, SWITCHBOARD_STANDIN_URL and SWITCHBOARD_WEBSOCKET_URL
//! pointing at it. One test, in phases: they share the stack's one table and number pool.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

struct Stack {
    http: reqwest::Client,
    api: String,
    standin: String,
}

fn setting(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} must point at the running local stack"))
}

impl Stack {
    fn from_env() -> Self {
        // The first call to each function waits for `cargo lambda watch` to compile it.
        let http = reqwest::Client::builder().timeout(Duration::from_secs(600)).build().unwrap();
        Self { http, api: setting("SWITCHBOARD_API_URL"), standin: setting("SWITCHBOARD_STANDIN_URL") }
    }

    async fn call(
        &self,
        method: &str,
        url: String,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method.parse().unwrap(), &url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {url}: not JSON: {text}"));
        (status, value)
    }

    /// An API call that must answer `expected`.
    async fn api(
        &self,
        expected: u16,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Value {
        let (status, value) = self.call(method, format!("{}{path}", self.api), token, body).await;
        assert_eq!(status, expected, "{method} {path}: {value}");
        value
    }

    async fn register(&self, username: &str, email: &str, first_name: Option<&str>) -> (String, String) {
        let mut body = json!({ "username": username, "email": email, "password": "correct horse battery" });
        if let Some(first_name) = first_name {
            body["firstName"] = json!(first_name);
        }
        let session = self.api(201, "POST", "/api/auth/register", None, Some(body)).await;
        (session["token"].as_str().unwrap().to_string(), session["user"]["id"].as_str().unwrap().to_string())
    }

    /// What a simulated phone has received, as the `phone inbox` command shows it.
    async fn received_by(&self, phone: &str) -> Vec<Value> {
        let (status, value) =
            self.call("GET", format!("{}/phones/{phone}/messages", self.standin), None, None).await;
        assert_eq!(status, 200);
        value["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["direction"] == "received")
            .cloned()
            .collect()
    }

    /// The phone texts one of our numbers through the stand-in (a signed inbound webhook).
    async fn text(&self, from: &str, to: &str, body: &str) {
        let url = format!("{}/phones/{from}/messages", self.standin);
        let (status, value) = self.call("POST", url, None, Some(json!({ "to": to, "body": body }))).await;
        assert_eq!((status, value["webhookStatus"].as_u64()), (200, Some(200)), "{value}");
    }
}

/// Polls until `check` returns a value (status callbacks and relays arrive after the reply).
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What the walkthrough leaves for the real-time phase.
struct Story {
    admin: String,
    ada: String,
    ada_number: String,
    grace_conversation: String,
    club: String,
}

#[tokio::test]
async fn the_readme_walkthrough_and_real_time_events_work_against_the_local_stack() {
    let stack = Stack::from_env();
    let story = walkthrough(&stack).await;
    real_time_events(&stack, &story).await;
    inbound_to_socket_latency(&stack, &story).await;
}

async fn walkthrough(stack: &Stack) -> Story {
    let grace = "+14155550177";

    // An admin registers and adds two numbers to the pool.
    let (admin, admin_id) = stack.register("admin", "admin@example.com", None).await;
    for number in ["+1 415 555 0100", "+44 20 7946 0958"] {
        stack.api(201, "POST", "/api/numbers", Some(&admin), Some(json!({ "phoneNumber": number }))).await;
    }

    // Ada registers and takes a free number.
    let (ada, _) = stack.register("ada", "ada@example.com", Some("Ada")).await;
    let profile = stack.api(200, "POST", "/api/users/virtual-number", Some(&ada), Some(json!({}))).await;
    let ada_number = profile["user"]["virtualPhoneNumber"].as_str().unwrap().to_string();
    assert_eq!(ada_number, "+14155550100");

    // Ada starts an SMS conversation with Grace's phone and texts her.
    let started = stack
        .api(
            201,
            "POST",
            "/api/conversations/sms",
            Some(&ada),
            Some(json!({"phoneNumber": "+1 415 555 0177", "name": "Grace"})),
        )
        .await;
    let conversation = started["conversation"]["id"].as_str().unwrap().to_string();
    let messages_path = format!("/api/conversations/{conversation}/messages");
    let sent = stack
        .api(201, "POST", &messages_path, Some(&ada), Some(json!({ "content": "Hi Grace, lunch at noon?" })))
        .await;
    // Accepted and written ahead; the delivery pipeline takes it to Twilio.
    assert_eq!(sent["message"]["deliveries"][0]["status"], "pending", "{sent}");

    // Grace's phone receives it from Ada's number.
    let received = eventually("Grace's phone to receive the text", || async {
        let inbox = stack.received_by(grace).await;
        (!inbox.is_empty()).then_some(inbox)
    })
    .await;
    assert_eq!(received.len(), 1);
    assert_eq!(
        (received[0]["from"].as_str(), received[0]["body"].as_str()),
        (Some("+14155550100"), Some("Hi Grace, lunch at noon?"))
    );

    // Grace replies from her phone; Ada reads the conversation: the reply, and her own text
    // delivered (the stand-in's signed status callbacks).
    stack.text(grace, &ada_number, "Yes! See you there").await;
    let messages = eventually("the delivery to reach delivered", || async {
        let page = stack.api(200, "GET", &messages_path, Some(&ada), None).await;
        let messages = page["messages"].as_array().unwrap().clone();
        let delivered = messages.iter().any(|m| m["deliveries"][0]["status"] == "delivered");
        (messages.len() == 2 && delivered).then_some(messages)
    })
    .await;
    assert_eq!(messages[0]["content"], "Yes! See you there");
    assert_eq!(messages[0]["sender"], json!({ "kind": "sms", "phoneNumber": grace, "displayName": "Grace" }));
    assert_eq!(messages[1]["content"], "Hi Grace, lunch at noon?");
    assert_eq!(messages[1]["status"], "delivered");
    assert_eq!(received[0]["sid"], messages[1]["deliveries"][0]["twilioSid"]);

    // A group with the admin and two phones: each phone gets "Ada: ..." from the group's proxy
    // number, and a phone's reply reaches the other phone and the app.
    let group = stack
        .api(
            201,
            "POST",
            "/api/conversations/group",
            Some(&ada),
            Some(json!({"name": "Book club", "participants": [
                {"userId": admin_id}, {"phoneNumber": "+14155550178", "displayName": "Sam"}, {"phoneNumber": "+14155550179"}]})),
        )
        .await;
    let group_id = group["conversation"]["id"].as_str().unwrap().to_string();
    let group_path = format!("/api/conversations/{group_id}/messages");
    stack
        .api(201, "POST", &group_path, Some(&ada), Some(json!({ "content": "Next book: Middlemarch" })))
        .await;
    for phone in ["+14155550178", "+14155550179"] {
        let texts = eventually("the group text to reach both phones", || async {
            let inbox = stack.received_by(phone).await;
            (!inbox.is_empty()).then_some(inbox)
        })
        .await;
        assert_eq!(texts[0]["body"], "Ada: Next book: Middlemarch");
        assert_eq!(texts[0]["from"], "+442079460958");
    }
    stack.text("+14155550178", "+442079460958", "Loved it").await;
    let relayed = eventually("Sam's reply to be relayed", || async {
        let inbox = stack.received_by("+14155550179").await;
        (inbox.len() == 2).then_some(inbox)
    })
    .await;
    assert_eq!(relayed[1]["body"], "Sam: Loved it");
    let page = stack.api(200, "GET", &group_path, Some(&admin), None).await;
    assert_eq!(page["messages"][0]["content"], "Loved it");
    assert_eq!(page["messages"][0]["sender"]["displayName"], "Sam");
    // Sam's own phone got nothing back.
    assert_eq!(stack.received_by("+14155550178").await.len(), 1);

    // A phone Twilio answers 503 once: the pipeline retries by itself and it gets the text once.
    let flaky = "+14155550199";
    let started = stack
        .api(201, "POST", "/api/conversations/sms", Some(&ada), Some(json!({"phoneNumber": flaky})))
        .await;
    let flaky_path =
        format!("/api/conversations/{}/messages", started["conversation"]["id"].as_str().unwrap());
    stack.api(201, "POST", &flaky_path, Some(&ada), Some(json!({ "content": "Second try?" }))).await;
    let delivery = eventually("the retried delivery to be accepted", || async {
        let page = stack.api(200, "GET", &flaky_path, Some(&ada), None).await;
        let delivery = page["messages"][0]["deliveries"][0].clone();
        delivery["twilioSid"].is_string().then_some(delivery)
    })
    .await;
    assert_eq!(delivery["attempts"], 2, "{delivery}");
    let texts = stack.received_by(flaky).await;
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!(texts[0]["sid"], delivery["twilioSid"]);
    Story { admin, ada, ada_number, grace_conversation: conversation, club: group_id }
}

// --- real-time events -------------------------------------------------------------------------

type WsStream = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One client socket, and every event it has received so far.
struct Socket {
    stream: WsStream,
    seen: Vec<Value>,
}

impl Socket {
    async fn open(token: &str) -> Result<Self, tokio_tungstenite::tungstenite::Error> {
        let url = format!("{}/?token={token}", setting("SWITCHBOARD_WEBSOCKET_URL"));
        let (stream, _) = tokio_tungstenite::connect_async(url).await?;
        Ok(Self { stream, seen: Vec::new() })
    }

    /// As a browser does it: the token offered as the second subprotocol after `bearer`.
    async fn open_by_subprotocol(token: &str) -> Self {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = setting("SWITCHBOARD_WEBSOCKET_URL").into_client_request().unwrap();
        request.headers_mut().insert("sec-websocket-protocol", format!("bearer, {token}").parse().unwrap());
        let (stream, response) = tokio_tungstenite::connect_async(request).await.unwrap();
        assert_eq!(response.headers()["sec-websocket-protocol"], "bearer");
        Self { stream, seen: Vec::new() }
    }

    async fn send(&mut self, frame: Value) {
        use futures::SinkExt;
        self.stream.send(tokio_tungstenite::tungstenite::Message::text(frame.to_string())).await.unwrap();
    }

    /// The next event, if one arrives within `wait`.
    async fn next(&mut self, wait: Duration) -> Option<Value> {
        use futures::StreamExt;
        loop {
            let message = tokio::time::timeout(wait, self.stream.next()).await.ok()??.ok()?;
            if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
                let event: Value = serde_json::from_str(&text).unwrap();
                self.seen.push(event.clone());
                return Some(event);
            }
        }
    }

    /// Waits for the first event (already seen or new) that `matches`.
    async fn expect(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        if let Some(event) = self.seen.iter().find(|e| matches(e)) {
            return event.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(event) = self.next(Duration::from_secs(1)).await {
                if matches(&event) {
                    return event;
                }
            }
        }
        panic!("no {what} event; received: {:#?}", self.seen);
    }

    /// Events received within `wait`, for checks that nothing arrives.
    async fn drain(&mut self, wait: Duration) -> Vec<Value> {
        let mut events = Vec::new();
        while let Some(event) = self.next(wait).await {
            events.push(event);
        }
        events
    }

    /// The socket is open and served: ping answers pong.
    async fn ping(&mut self) {
        self.send(json!({ "action": "ping" })).await;
        self.expect("pong", |e| e["type"] == "pong").await;
        self.seen.retain(|e| e["type"] != "pong");
    }
}

fn is_message(event: &Value, conversation: &str, content: &str) -> bool {
    event["type"] == "message.created"
        && event["conversationId"] == conversation
        && event["payload"]["content"] == content
}

/// Two web users (Ada on two devices, the admin) and phones in the walkthrough's group.
async fn real_time_events(stack: &Stack, story: &Story) {
    let club = story.club.as_str();
    let (eve, _) = stack.register("eve", "eve@example.com", Some("Eve")).await;
    let mut ada_laptop = Socket::open(&story.ada).await.unwrap();
    let mut ada_phone = Socket::open_by_subprotocol(&story.ada).await;
    let mut admin = Socket::open(&story.admin).await.unwrap();
    let mut outsider = Socket::open(&eve).await.unwrap();
    for socket in [&mut ada_laptop, &mut ada_phone, &mut admin, &mut outsider] {
        socket.ping().await;
    }
    // A bad or missing token is refused at the handshake.
    for token in ["not-a-token", ""] {
        match Socket::open(token).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
            Err(other) => panic!("refused with {other}"),
            Ok(_) => panic!("a socket with token {token:?} was accepted"),
        }
    }

    // Sam texts the group: every device of both web users gets the message, then the status
    // of its relay to the other phone, up to delivered.
    stack.text("+14155550178", "+442079460958", "Who brings snacks?").await;
    for socket in [&mut ada_laptop, &mut ada_phone, &mut admin] {
        let created = socket.expect("inbound SMS", |e| is_message(e, club, "Who brings snacks?")).await;
        assert_eq!(created["payload"]["sender"]["displayName"], "Sam");
        assert!(created["id"].is_string() && created["timestamp"].is_string(), "{created}");
        let message_id = created["payload"]["id"].as_str().unwrap().to_string();
        socket
            .expect("delivery status", |e| {
                e["type"] == "delivery.updated"
                    && e["payload"]["messageId"] == message_id.as_str()
                    && e["payload"]["status"] == "delivered"
            })
            .await;
    }
    // A web user types: the others see it, the typist does not.
    admin.send(json!({ "action": "typing", "conversationId": club })).await;
    ada_laptop.expect("typing", |e| e["type"] == "typing" && e["payload"]["displayName"] == "admin").await;
    // The outsider received nothing of it (and its socket works).
    assert_eq!(outsider.drain(Duration::from_millis(500)).await, Vec::<Value>::new());
    outsider.ping().await;
    assert!(admin.seen.iter().all(|e| e["type"] != "typing"), "{:#?}", admin.seen);

    // Ada removes the admin: the admin is told, then receives nothing more of the group.
    let participants = stack
        .api(200, "GET", &format!("/api/conversations/{club}/participants"), Some(&story.ada), None)
        .await;
    let admin_participant = participants["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["displayName"] == "admin")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/conversations/{club}/participants/{admin_participant}");
    stack.api(200, "DELETE", &path, Some(&story.ada), None).await;
    admin.expect("removal", |e| e["type"] == "participant.left").await;
    let before = admin.seen.len();
    stack.text("+14155550178", "+442079460958", "Admin gone?").await;
    ada_laptop.expect("the next SMS", |e| is_message(e, club, "Admin gone?")).await;
    let late = admin.drain(Duration::from_millis(1500)).await;
    assert!(late.iter().all(|e| e["conversationId"] != club), "after removal: {late:#?}");
    assert_eq!(admin.seen.len(), before + late.len());
    admin.ping().await;
}

/// Inbound webhook → event on a socket, over 200 texts (figures printed, not asserted).
async fn inbound_to_socket_latency(stack: &Stack, story: &Story) {
    let mut socket = Socket::open(&story.ada).await.unwrap();
    let mut samples = Vec::new();
    for i in 0..200 {
        let text = format!("latency probe {i}");
        let started = Instant::now();
        stack.text("+14155550177", &story.ada_number, &text).await;
        socket.expect("probe", |e| is_message(e, &story.grace_conversation, &text)).await;
        samples.push(started.elapsed());
        socket.seen.clear();
    }
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "inbound webhook -> socket event over {} texts: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        samples.len(),
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() * 99 / 100]),
        ms(samples[samples.len() - 1])
    );
}
