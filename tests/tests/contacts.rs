//! Contacts against the local DynamoDB server: the store's uniqueness under concurrent requests
//! over HTTP, and the DynamoDB requests each contacts operation makes (and what contacts add to
//! reading a conversation). Behaviour in detail is in `fast_contacts.rs` (over the fakes) and the
//! store contract (`store_contract.rs`, both stores).

use std::collections::BTreeMap;

use serde_json::{json, Value};
use switchboard_tests::{us_number, TestApp};

fn ops(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(op, n)| (op.to_string(), *n)).collect()
}

#[tokio::test]
async fn concurrent_creates_of_one_phone_let_exactly_one_in_and_answer_the_others_409_contact_exists() {
    let app = TestApp::new().await;
    let ada = app.register("ada").await;
    for round in 0..5 {
        let phone = format!("+1415555{:04}", 3000 + round);
        let body = |name: &str| json!({"name": name, "phoneNumber": phone});
        let (a, b, c) = tokio::join!(
            app.post("/api/contacts", body("First"), Some(&ada.token)),
            app.post("/api/contacts", body("Second"), Some(&ada.token)),
            app.post("/api/contacts", body("Third"), Some(&ada.token)),
        );
        let replies = [a, b, c];
        let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "round {round}: {statuses:?}");
        for loser in replies.iter().filter(|r| r.status != 201) {
            assert_eq!((loser.status, loser.code()), (409, "contact_exists"), "{:?}", loser.body);
            assert!(loser.body["error"]["message"].as_str().unwrap().contains("already"));
        }
    }
    let listed = app.get("/api/contacts?limit=100", &ada.token).await;
    assert_eq!(listed.body["contacts"].as_array().unwrap().len(), 5, "one contact per phone");
}

#[tokio::test]
async fn dynamo_requests_per_contacts_operation() {
    let app = TestApp::new().await;
    let ada = app.register("ada").await;
    let auth = ("GetItem", 1);

    let (created, counted) = app
        .count_operations(|| {
            app.post(
                "/api/contacts",
                json!({"name": "Grace", "phoneNumber": "+14155550177"}),
                Some(&ada.token),
            )
        })
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(counted, ops(&[auth, ("TransactWriteItems", 1)]), "create: contact + phone claim");
    let path = format!("/api/contacts/{}", created.body["contact"]["id"].as_str().unwrap());

    let (_, counted) = app.count_operations(|| app.get(&path, &ada.token)).await;
    assert_eq!(counted, ops(&[("GetItem", 2)]), "get: auth + the contact");
    let (listed, counted) = app.count_operations(|| app.get("/api/contacts?q=gr", &ada.token)).await;
    assert_eq!(listed.body["contacts"][0]["name"], "Grace");
    assert_eq!(counted, ops(&[auth, ("Query", 1)]), "search: one Query of the name index");
    let (_, counted) = app
        .count_operations(|| app.send("PATCH", &path, Some(json!({"name": "Grace H."})), Some(&ada.token)))
        .await;
    assert_eq!(counted, ops(&[("GetItem", 2), ("TransactWriteItems", 1)]), "rename: read, one transaction");

    let vcard: String = (0..20)
        .map(|i| format!("BEGIN:VCARD\nFN:Person {i}\nTEL:+1415555{:04}\nEND:VCARD\n", 4000 + i))
        .chain(["BEGIN:VCARD\nFN:Grace\nTEL:+14155550177\nEND:VCARD\n".to_string()])
        .collect();
    let (report, counted) = app
        .count_operations(|| app.post("/api/contacts/import", json!({ "vcard": vcard }), Some(&ada.token)))
        .await;
    assert_eq!((report.body["imported"].clone(), report.body["duplicates"].clone()), (json!(20), json!(1)));
    let expected = ops(&[auth, ("BatchGetItem", 1), ("TransactWriteItems", 20)]);
    assert_eq!(counted, expected, "import: the phones in one batch, one transaction per new contact");

    let (_, counted) = app.count_operations(|| app.delete(&path, &ada.token)).await;
    assert_eq!(counted, ops(&[("GetItem", 2), ("TransactWriteItems", 1)]), "delete: read, one transaction");
}

#[tokio::test]
async fn a_conversation_read_names_its_phones_with_one_batch_and_the_inbox_reads_nothing_more() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1)]).await;
    let ada = app.register("ada").await;
    app.give_number(&ada).await;
    let started =
        app.post("/api/conversations/sms", json!({"phoneNumber": "+14155550177"}), Some(&ada.token)).await;
    let id = started.body["conversation"]["id"].as_str().unwrap().to_string();
    app.post("/api/contacts", json!({"name": "Grace", "phoneNumber": "+14155550177"}), Some(&ada.token))
        .await;

    let path = format!("/api/conversations/{id}");
    let (read, counted) = app.count_operations(|| app.get(&path, &ada.token)).await;
    assert_eq!(read.body["conversation"]["name"], "Grace");
    assert_eq!(counted, ops(&[("GetItem", 1), ("Query", 1), ("BatchGetItem", 1)]));
    let (inbox, counted) = app.count_operations(|| app.get("/api/conversations", &ada.token)).await;
    let line: &Value = &inbox.body["conversations"][0];
    assert_eq!(
        (line["phoneNumber"].clone(), line["name"].clone()),
        (json!("+14155550177"), json!("+14155550177"))
    );
    assert_eq!(counted, ops(&[("GetItem", 1), ("Query", 1)]), "the inbox costs what it did");
}
