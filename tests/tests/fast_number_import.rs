//! Importing the Twilio account's numbers over the in-memory fakes (the fast tier): listing them
//! page by page, importing and wiring them, idempotency, numbers pointed elsewhere, who may, and
//! bad input. `number_import.rs` runs the same story against the local DynamoDB server and the
//! Twilio mock, which checks every request against Twilio's official spec.

use serde_json::{json, Value};
use switchboard::core::ports::provider::Wiring;
use switchboard_tests::fast::{FastApp, PUBLIC_BASE_URL};
use switchboard_tests::Reply;

const BOUGHT: &str = "+14155550170";
const ALSO_BOUGHT: &str = "+14155550171";
const ELSEWHERE: &str = "+14155550172";
const OTHER_APP: &str = "https://other-app.example.com/sms";

fn inbound_url() -> String {
    format!("{PUBLIC_BASE_URL}/api/webhooks/twilio/incoming")
}

fn ours() -> Wiring {
    Wiring {
        sms_url: inbound_url(),
        status_callback: Some(format!("{PUBLIC_BASE_URL}/api/webhooks/twilio/status")),
    }
}

/// Each number's (pool, wiring) outcome, in order.
fn outcomes(reply: &Reply) -> Vec<(String, String)> {
    let results = reply.body["results"].as_array().unwrap_or_else(|| panic!("{:?}", reply.body));
    results
        .iter()
        .map(|r| (r["pool"].as_str().unwrap().into(), r["wiring"].as_str().unwrap().into()))
        .collect()
}

fn pair(pool: &str, wiring: &str) -> (String, String) {
    (pool.into(), wiring.into())
}

async fn import(app: &FastApp, token: &str, body: Value) -> Reply {
    app.post("/api/numbers/import", body, Some(token)).await
}

#[tokio::test]
async fn an_admin_imports_bought_numbers_and_they_are_pointed_at_the_inbound_webhook() {
    let app = FastApp::new();
    app.twilio_numbers.add(BOUGHT, None).add(ALSO_BOUGHT, Some("https://demo.twilio.com/welcome/sms/reply"));
    let admin = app.admin().await;

    let reply = import(&app, &admin.token, json!({"phoneNumbers": [BOUGHT, "(415) 555-0171"]})).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(outcomes(&reply), vec![pair("imported", "wired"), pair("imported", "wired")]);
    let updates = app.twilio_numbers.updates();
    assert_eq!(updates.len(), 2);
    assert!(updates.iter().all(|(_, wiring)| *wiring == ours()), "{updates:?}");
    let bought = app.twilio_numbers.number(BOUGHT).unwrap();
    assert_eq!(bought.sms_url.as_deref(), Some(inbound_url().as_str()));
    assert_eq!(bought.sms_method.as_deref(), Some("POST"));

    // The pool has them, free, and the listing says so.
    let pool = app.get("/api/numbers?status=free", &admin.token).await;
    let listed: Vec<&str> =
        pool.body["numbers"].as_array().unwrap().iter().map(|n| n["phoneNumber"].as_str().unwrap()).collect();
    assert_eq!(listed, vec![BOUGHT, ALSO_BOUGHT]);
    let account = app.get("/api/numbers/twilio", &admin.token).await;
    assert_eq!(account.status, 200, "{:?}", account.body);
    assert!(account.body["numbers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["inPool"] == true && n["wiring"] == "wired"));
    assert_eq!(account.body["inboundWebhookUrl"], inbound_url());
}

#[tokio::test]
async fn importing_again_adds_nothing_and_calls_twilio_only_to_look() {
    let app = FastApp::new();
    app.twilio_numbers.add(BOUGHT, None).add_wired(ALSO_BOUGHT, &ours());
    let admin = app.admin().await;
    let body = json!({"phoneNumbers": [BOUGHT, ALSO_BOUGHT, BOUGHT]});

    let first = import(&app, &admin.token, body.clone()).await;
    assert_eq!(outcomes(&first), vec![pair("imported", "wired"), pair("imported", "alreadyWired")]);
    assert_eq!(app.twilio_numbers.updates().len(), 1, "the number pointed at us already is not updated");

    let calls = app.twilio_numbers.calls();
    let requests = app.store.requests();
    let second = import(&app, &admin.token, body).await;
    assert_eq!(second.status, 200, "{:?}", second.body);
    assert_eq!(outcomes(&second), vec![pair("alreadyInPool", "alreadyWired"); 2]);
    assert_eq!(app.twilio_numbers.updates().len(), 1, "no update on the second import");
    assert_eq!(app.twilio_numbers.calls() - calls, 2, "one look-up per number");
    // The admin's read, then one conditional put per number.
    assert_eq!(app.store.requests() - requests, 3);
}

#[tokio::test]
async fn a_number_pointed_elsewhere_is_reported_and_taken_over_only_when_asked() {
    let app = FastApp::new();
    app.twilio_numbers.add(ELSEWHERE, Some(OTHER_APP));
    let admin = app.admin().await;

    let listed = app.get("/api/numbers/twilio", &admin.token).await;
    assert_eq!(listed.body["numbers"][0]["wiring"], "pointedElsewhere");
    assert_eq!(listed.body["numbers"][0]["smsUrl"], OTHER_APP);

    let reply = import(&app, &admin.token, json!({"phoneNumbers": [ELSEWHERE], "takeOver": false})).await;
    assert_eq!(outcomes(&reply), vec![pair("notImported", "pointedElsewhere")]);
    assert_eq!(reply.body["results"][0]["previousSmsUrl"], OTHER_APP);
    assert!(app.twilio_numbers.updates().is_empty());
    assert_eq!(app.twilio_numbers.number(ELSEWHERE).unwrap().sms_url.as_deref(), Some(OTHER_APP));
    let pool = app.get("/api/numbers", &admin.token).await;
    assert_eq!(pool.body["numbers"], json!([]));

    let taken = import(&app, &admin.token, json!({"phoneNumbers": [ELSEWHERE], "takeOver": true})).await;
    assert_eq!(outcomes(&taken), vec![pair("imported", "wired")]);
    assert_eq!(app.twilio_numbers.number(ELSEWHERE).unwrap().sms_url, Some(inbound_url()));
}

#[tokio::test]
async fn the_account_is_listed_page_by_page_as_twilio_pages_it() {
    let app = FastApp::new();
    for n in 0..52 {
        app.twilio_numbers.add(&format!("+1415555{:04}", 1000 + n), None);
    }
    let admin = app.admin().await;
    app.add_numbers(&admin, &["+14155551051".to_string()]).await;

    let first = app.get("/api/numbers/twilio", &admin.token).await;
    assert_eq!(first.body["numbers"].as_array().unwrap().len(), 50);
    let token = first.body["nextPageToken"].as_str().expect("a second page").to_string();
    let path = format!("/api/numbers/twilio?pageToken={}", urlencoding(&token));
    let second = app.get(path, &admin.token).await;
    assert_eq!(second.status, 200, "{:?}", second.body);
    let numbers = second.body["numbers"].as_array().unwrap();
    assert_eq!(numbers.len(), 2);
    assert_eq!((numbers[0]["inPool"].clone(), numbers[1]["inPool"].clone()), (json!(false), json!(true)));
    assert!(second.body["nextPageToken"].is_null());
}

fn urlencoding(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn only_admins_see_the_account_and_import() {
    let app = FastApp::new();
    app.twilio_numbers.add(BOUGHT, None);
    let ada = app.register("ada").await;
    assert_eq!(app.get("/api/numbers/twilio", &ada.token).await.status, 403);
    let reply = import(&app, &ada.token, json!({"phoneNumbers": [BOUGHT]})).await;
    assert_eq!((reply.status, reply.code()), (403, "forbidden"));
    assert!(app.twilio_numbers.updates().is_empty());
    assert_eq!(app.twilio_numbers.calls(), 0);
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_touches_nothing() {
    let app = FastApp::new();
    app.twilio_numbers.add(BOUGHT, None);
    let admin = app.admin().await;
    let cases = [
        (json!({"phoneNumbers": []}), 422, "phoneNumbers"),
        (json!({"phoneNumbers": ["not a number"]}), 422, "phoneNumbers"),
        (json!({"phoneNumbers": ["+14155550199"]}), 422, "phoneNumbers"),
        (
            json!({"phoneNumbers": (0..21).map(|n| format!("+1415555{:04}", 2000 + n)).collect::<Vec<_>>()}),
            422,
            "phoneNumbers",
        ),
        (json!({"phoneNumbers": BOUGHT}), 400, ""),
        (json!({"numbers": [BOUGHT]}), 400, ""),
    ];
    for (body, status, field) in cases {
        let reply = import(&app, &admin.token, body.clone()).await;
        assert_eq!(reply.status, status, "{body}: {:?}", reply.body);
        assert!(!reply.body["error"]["message"].as_str().unwrap_or("").is_empty(), "{:?}", reply.body);
        if !field.is_empty() {
            assert_eq!(reply.field(), field, "{body}");
        }
    }
    let bad_page = app.get("/api/numbers/twilio?pageToken=elsewhere", &admin.token).await;
    assert_eq!((bad_page.status, bad_page.field()), (400, "pageToken"), "{:?}", bad_page.body);
    assert!(app.twilio_numbers.updates().is_empty());
    assert_eq!(app.get("/api/numbers", &admin.token).await.body["numbers"], json!([]));
}

#[tokio::test]
async fn without_a_public_webhook_url_nothing_is_imported() {
    let app = FastApp::with_settings(&[("PUBLIC_BASE_URL", "")]);
    app.twilio_numbers.add(BOUGHT, None);
    let admin = app.admin().await;
    let reply = import(&app, &admin.token, json!({"phoneNumbers": [BOUGHT]})).await;
    assert_eq!((reply.status, reply.code()), (409, "webhook_url_unknown"), "{:?}", reply.body);
    assert!(app.twilio_numbers.updates().is_empty());
}
