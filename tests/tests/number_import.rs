//! Importing the Twilio account's numbers against the local DynamoDB server and the Twilio mock,
//! which checks every IncomingPhoneNumbers request against Twilio's official spec: wiring,
//! idempotency (the second import updates nothing), numbers pointed elsewhere, pagination across
//! Twilio pages, and the DynamoDB and Twilio requests each operation costs.

use serde_json::json;
use switchboard_tests::twilio_mock::TwilioMock;
use switchboard_tests::TestApp;

const INBOUND: &str = "https://switchboard.example.com/api/webhooks/twilio/incoming";
const STATUS: &str = "https://switchboard.example.com/api/webhooks/twilio/status";
const OTHER_APP: &str = "https://other-app.example.com/sms";

#[tokio::test]
async fn import_points_numbers_at_us_once_and_leaves_others_alone() {
    let twilio = TwilioMock::start().await;
    twilio.numbers.add("+14155550170", "");
    twilio.numbers.add("+14155550171", "https://demo.twilio.com/welcome/sms/reply");
    twilio.numbers.add("+14155550172", OTHER_APP);
    let app = TestApp::with_twilio(&twilio, &[]).await;
    let admin = app.admin().await;
    let body = json!({"phoneNumbers": ["+14155550170", "+14155550171", "+14155550172"]});

    let (first, ops) =
        app.count_operations(|| app.post("/api/numbers/import", body.clone(), Some(&admin.token))).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    let outcome = |r: &serde_json::Value, i: usize| {
        (r["results"][i]["pool"].clone(), r["results"][i]["wiring"].clone())
    };
    assert_eq!(outcome(&first.body, 0), (json!("imported"), json!("wired")));
    assert_eq!(outcome(&first.body, 1), (json!("imported"), json!("wired")));
    assert_eq!(outcome(&first.body, 2), (json!("notImported"), json!("pointedElsewhere")));
    // The admin's read and one conditional put per imported number.
    println!(
        "first import: DynamoDB {ops:?}, Twilio lists {}, updates {}",
        twilio.numbers.list_calls(),
        twilio.numbers.updates().len()
    );
    assert_eq!(ops.get("PutItem").copied(), Some(2), "{ops:?}");
    let updates = twilio.numbers.updates();
    assert_eq!(updates.len(), 2);
    for update in &updates {
        assert_eq!(update.form["SmsUrl"], vec![INBOUND.to_string()]);
        assert_eq!(update.form["SmsMethod"], vec!["POST".to_string()]);
        assert_eq!(update.form["StatusCallback"], vec![STATUS.to_string()]);
    }
    let numbers = twilio.numbers.numbers();
    assert_eq!(numbers[2].sms_url, OTHER_APP, "not taken over");

    let lists = twilio.numbers.list_calls();
    let (second, ops) =
        app.count_operations(|| app.post("/api/numbers/import", body.clone(), Some(&admin.token))).await;
    println!(
        "second import: DynamoDB {ops:?}, Twilio lists {}, updates 0",
        twilio.numbers.list_calls() - lists
    );
    assert_eq!(outcome(&second.body, 0), (json!("alreadyInPool"), json!("alreadyWired")));
    assert_eq!(outcome(&second.body, 1), (json!("alreadyInPool"), json!("alreadyWired")));
    assert_eq!(outcome(&second.body, 2), (json!("notImported"), json!("pointedElsewhere")));
    assert_eq!(twilio.numbers.updates().len(), 2, "the second import updates nothing");
    assert_eq!(twilio.numbers.list_calls() - lists, 3, "one look-up per number");

    let taken = app
        .post(
            "/api/numbers/import",
            json!({"phoneNumbers": ["+14155550172"], "takeOver": true}),
            Some(&admin.token),
        )
        .await;
    assert_eq!(outcome(&taken.body, 0), (json!("imported"), json!("wired")));
    assert_eq!(twilio.numbers.numbers()[2].sms_url, INBOUND);
    assert!(twilio.numbers.rejected().is_empty(), "{:?}", twilio.numbers.rejected());
    assert!(twilio.invalid_requests().is_empty());
}

#[tokio::test]
async fn the_account_is_listed_across_twilio_pages() {
    let twilio = TwilioMock::start().await;
    for n in 0..52 {
        twilio.numbers.add(&format!("+1415555{:04}", 1000 + n), "");
    }
    let app = TestApp::with_twilio(&twilio, &[]).await;
    let admin = app.admin().await;
    app.add_numbers(&admin, &["+14155551051".to_string()]).await;

    let (first, ops) = app.count_operations(|| app.get("/api/numbers/twilio", &admin.token)).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    println!("list page: DynamoDB {ops:?}, Twilio 1 list");
    assert_eq!(first.body["numbers"].as_array().unwrap().len(), 50);
    let token = first.body["nextPageToken"].as_str().expect("a second page");
    let query = serde_urlencoded::to_string([("pageToken", token)]).unwrap();
    let second = app.get(format!("/api/numbers/twilio?{query}"), &admin.token).await;
    assert_eq!(second.status, 200, "{:?}", second.body);
    let numbers = second.body["numbers"].as_array().unwrap();
    assert_eq!(numbers.len(), 2);
    assert_eq!(numbers[1]["inPool"], true);
    assert_eq!(numbers[0]["wiring"], "notWired");
    assert!(second.body["nextPageToken"].is_null());
    assert_eq!(twilio.numbers.list_calls(), 2);
    assert!(twilio.numbers.rejected().is_empty(), "{:?}", twilio.numbers.rejected());

    let foreign =
        app.get("/api/numbers/twilio?pageToken=https%3A%2F%2Fevil.example.com%2F", &admin.token).await;
    assert_eq!((foreign.status, foreign.field()), (400, "pageToken"));
    assert_eq!(twilio.numbers.list_calls(), 2, "a foreign page token never reaches Twilio");
}
