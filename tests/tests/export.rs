//! Export against the local DynamoDB server: the DynamoDB requests of each part, and parts that
//! cross store pages and part boundaries holding every message once, edits and deletions
//! included. (Who may export, both formats' details and bad requests: `fast_export.rs`; the
//! 5,000-message measurement: `tests/benches/export.rs`.)

use std::collections::BTreeMap;

use serde_json::{json, Value};
use switchboard_tests::{next_link, us_number, Reply, Session, TestApp};

const PAT: &str = "+14155550401";

fn ops(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(op, n)| (op.to_string(), *n)).collect()
}

/// Every part of an export with the DynamoDB requests each cost, following `Link` headers.
async fn export_counted(
    app: &TestApp,
    id: &str,
    format: &str,
    who: &Session,
) -> Vec<(Reply, BTreeMap<String, u64>)> {
    let mut parts = Vec::new();
    let mut next = Some(format!("/api/conversations/{id}/export?format={format}"));
    while let Some(path) = next.take() {
        let (reply, counted) = app.count_operations(|| app.get(&path, &who.token)).await;
        assert_eq!(reply.status, 200, "{path}: {:?}", reply.body);
        next = next_link(&reply);
        parts.push((reply, counted));
    }
    parts
}

#[tokio::test]
async fn each_part_costs_the_caller_the_conversation_and_two_queries_per_hundred_messages_and_the_parts_hold_every_message_once(
) {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1)]).await;
    let ann = app.register("ann").await;
    app.give_number(&ann).await;
    let sms = app
        .post("/api/conversations/sms", json!({"phoneNumber": PAT, "name": "Pat"}), Some(&ann.token))
        .await;
    let id = sms.body["conversation"]["id"].as_str().unwrap().to_string();
    let texts: Vec<String> = (0..1050).map(|i| format!("text {i}, \"quoted\"\nline two")).collect();
    let written = app.write_ahead_many(&ann.user_id, &id, &texts).await;
    let ids: Vec<String> = written.iter().map(|(m, _)| m.id.to_string()).collect();
    let edited =
        app.put(format!("/api/messages/{}", ids[999]), json!({"content": "=edited"}), &ann.token).await;
    assert_eq!(edited.status, 200);
    assert_eq!(app.delete(format!("/api/messages/{}", ids[1000]), &ann.token).await.status, 200);

    // CSV: 1,000 messages then 50. Each part: the caller (GetItem), the conversation (Query),
    // then per store page of 100 one Query of messages and one of their deliveries.
    let parts = export_counted(&app, &id, "csv", &ann).await;
    let counts: Vec<_> = parts.iter().map(|(_, c)| c.clone()).collect();
    assert_eq!(counts, [ops(&[("GetItem", 1), ("Query", 21)]), ops(&[("GetItem", 1), ("Query", 3)])]);
    let file: String = parts.iter().map(|(r, _)| r.body.as_str().unwrap()).collect();
    let mut reader = csv::Reader::from_reader(file.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.iter().map(|r| r[0].to_string()).collect::<Vec<_>>(), ids);
    assert_eq!(&rows[5][6], "text 5, \"quoted\"\nline two");
    assert_eq!(&rows[5][11], format!("pending to {PAT}"));
    assert_eq!((&rows[999][6], rows[999][8].is_empty()), ("'=edited", false), "edited, neutralised");
    assert_eq!((&rows[1000][6], &rows[1000][9]), ("", "true"), "deleted");

    // JSON: the same parts and requests; each part a document.
    let parts = export_counted(&app, &id, "json", &ann).await;
    assert_eq!(parts.iter().map(|(_, c)| c.clone()).collect::<Vec<_>>(), counts);
    let exported: Vec<Value> =
        parts.iter().flat_map(|(r, _)| r.body["messages"].as_array().unwrap().clone()).collect();
    assert_eq!(exported.iter().map(|m| m["id"].as_str().unwrap().to_string()).collect::<Vec<_>>(), ids);
    assert_eq!(parts[0].0.body["nextCursor"], json!(ids[999]));
    assert_eq!(parts[1].0.body["nextCursor"], Value::Null);
    assert_eq!(exported[1000]["deleted"], true);
    assert_eq!(exported[7]["deliveries"][0]["phoneNumber"], PAT);
}
