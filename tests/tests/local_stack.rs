//! The README's walkthrough, over HTTP, against the running local stack of `make dev`
//! (`cargo lambda watch`, moto, the Twilio stand-in) — not by calling handlers.
//!
//! Built only with the `local-stack` feature: `scripts/test.sh` starts the stack on free ports
//! and runs this with SWITCHBOARD_API_URL and SWITCHBOARD_STANDIN_URL pointing at it.

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

#[tokio::test]
async fn the_readme_walkthrough_works_against_the_local_stack() {
    let stack = Stack::from_env();
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
    assert_eq!(sent["message"]["deliveries"][0]["status"], "queued", "{sent}");

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
}
