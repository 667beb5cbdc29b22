//! The fast tier of `GET /api/conversations/{id}/export` (over the in-memory fakes): who may
//! export, both formats read back by a CSV reader and by serde, parts that hold every message
//! once, and the answers to bad requests. The moto tier's request counts and the 5,000-message
//! measurement are in `tests/tests/export.rs` and `tests/benches/export.rs`.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::{json, Value};
use switchboard::core::domain::export::ExportFormat;
use switchboard::core::domain::ids::ConversationId;
use switchboard::core::service::export::{export_part, ExportLimits};
use switchboard_tests::fast::{user_id, FastApp};
use switchboard_tests::{message_sid, next_link, us_number, Reply, Session};

const PAT: &str = "+14155550401";

fn id_of(value: &Value) -> String {
    value["id"].as_str().expect("an id").to_string()
}

/// A JSON part, read with serde into the shape the API describes (`ExportPage`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsonPart {
    conversation_id: String,
    messages: Vec<JsonMessage>,
    next_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonMessage {
    id: String,
    sender: JsonSender,
    content: String,
    media_urls: Vec<String>,
    created_at: String,
    edited_at: Option<String>,
    deleted: bool,
    status: String,
    deliveries: Vec<JsonDelivery>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonSender {
    kind: String,
    display_name: String,
    phone_number: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonDelivery {
    phone_number: String,
    status: String,
}

/// Every part of an export, following `Link: <…>; rel="next"` from the first.
async fn export_all(app: &FastApp, conversation_id: &str, format: &str, who: &Session) -> Vec<Reply> {
    let mut parts = Vec::new();
    let mut next = Some(format!("/api/conversations/{conversation_id}/export?format={format}"));
    while let Some(path) = next.take() {
        let reply = app.get(&path, &who.token).await;
        assert_eq!(reply.status, 200, "{path}: {:?}", reply.body);
        next = next_link(&reply);
        parts.push(reply);
        assert!(parts.len() < 100, "the parts never end");
    }
    parts
}

fn text(reply: &Reply) -> &str {
    reply.body.as_str().expect("a text body")
}

/// The rows of CSV parts joined as the web client joins them (one file), read by a CSV reader.
fn csv_rows(parts: &[Reply]) -> (Vec<String>, Vec<Vec<String>>) {
    let file: String = parts.iter().map(text).collect();
    let mut reader = csv::Reader::from_reader(file.as_bytes());
    let header = reader.headers().expect("a header row").iter().map(str::to_string).collect();
    let rows = reader
        .records()
        .map(|r| r.expect("a well-formed CSV row").iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}

fn json_parts(parts: &[Reply]) -> Vec<JsonPart> {
    parts.iter().map(|p| serde_json::from_value(p.body.clone()).expect("a JSON part")).collect()
}

/// Ann (number 1) and Pat by SMS: a plain text, a text a spreadsheet would run, one edited, one
/// deleted, and Pat's MMS; Twilio took Ann's texts.
async fn conversation_with_everything(app: &FastApp) -> (Session, String, String) {
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1)]).await;
    let ann = app.register("ann").await;
    let number = app.give_number(&ann).await;
    let id = id_of(&app.start_sms(&ann, PAT, Some("Pat")).await);
    app.send_text(&ann, &id, "plain").await;
    app.send_text(&ann, &id, "=HYPERLINK(\"https://evil.example\"), \"quoted\"\nsecond line").await;
    let edited = app.send_text(&ann, &id, "typo").await;
    let gone = app.send_text(&ann, &id, "secret").await;
    let params = [
        ("MessageSid", message_sid(1)),
        ("From", PAT.to_string()),
        ("To", number.clone()),
        ("Body", "-5 degrees, @ home".to_string()),
        ("NumMedia", "1".to_string()),
        ("MediaUrl0", "https://api.twilio.com/Media/ME1".to_string()),
        ("MediaContentType0", "image/jpeg".to_string()),
    ];
    let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        app.dispatch(app.twilio_request("/api/webhooks/twilio/incoming", &params, None)).await.status,
        200
    );
    app.run_pipeline().await;
    let path = |m: &Value| format!("/api/messages/{}", id_of(m));
    assert_eq!(app.put(path(&edited), json!({"content": "fixed"}), &ann.token).await.status, 200);
    assert_eq!(app.delete(path(&gone), &ann.token).await.status, 200);
    (ann, id, number)
}

#[tokio::test]
async fn given_a_conversation_when_a_participant_exports_it_as_csv_then_a_csv_reader_reads_every_message_back_oldest_first(
) {
    let app = FastApp::new();
    let (ann, id, _) = conversation_with_everything(&app).await;
    let history: Vec<Value> = app.history(&id, &ann).await.into_iter().rev().collect();

    let parts = export_all(&app, &id, "csv", &ann).await;
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        parts[0].headers["content-disposition"],
        format!("attachment; filename=\"conversation-{id}.csv\"")
    );
    let (header, rows) = csv_rows(&parts);
    assert_eq!(
        header,
        [
            "id",
            "createdAt",
            "senderKind",
            "senderName",
            "senderUserId",
            "senderPhone",
            "content",
            "mediaUrls",
            "editedAt",
            "deleted",
            "status",
            "deliveries"
        ]
    );
    let ids: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ids, history.iter().map(|m| m["id"].as_str().unwrap()).collect::<Vec<_>>());

    // Commas, quotes and line breaks survive; formulas are neutralised with a leading quote.
    assert_eq!(rows[0][6], "plain");
    assert_eq!(rows[1][6], "'=HYPERLINK(\"https://evil.example\"), \"quoted\"\nsecond line");
    assert_eq!((rows[2][6].as_str(), rows[2][8].is_empty()), ("fixed", false), "edited");
    assert_eq!((rows[3][6].as_str(), rows[3][9].as_str()), ("", "true"), "deleted: no words");
    assert_eq!(rows[0][11], format!("queued to {PAT}"));
    assert_eq!(rows[0][3], history[0]["sender"]["displayName"].as_str().unwrap());
    // Pat's MMS: a phone number stays a number, the text is neutralised, the medium is listed.
    let pat = &rows[4];
    assert_eq!((pat[2].as_str(), pat[5].as_str()), ("sms", PAT));
    assert_eq!(pat[6], "'-5 degrees, @ home");
    assert_eq!(pat[7], "https://api.twilio.com/Media/ME1");
    assert_eq!(pat[10], "delivered", "received: nothing to deliver");
}

#[tokio::test]
async fn given_a_conversation_when_a_participant_exports_it_as_json_then_serde_reads_every_message_as_the_history_shows_it(
) {
    let app = FastApp::new();
    let (ann, id, _) = conversation_with_everything(&app).await;
    let history: Vec<Value> = app.history(&id, &ann).await.into_iter().rev().collect();

    let parts = export_all(&app, &id, "json", &ann).await;
    assert_eq!(parts[0].headers["content-type"], "application/json");
    assert_eq!(
        parts[0].headers["content-disposition"],
        format!("attachment; filename=\"conversation-{id}.json\"")
    );
    let part = json_parts(&parts).remove(0);
    assert_eq!((part.conversation_id.as_str(), part.next_cursor.as_deref()), (id.as_str(), None));
    assert_eq!(part.messages.len(), history.len());
    for (exported, shown) in part.messages.iter().zip(&history) {
        assert_eq!(exported.id, shown["id"].as_str().unwrap());
        assert_eq!(exported.content, shown["content"].as_str().unwrap());
        assert_eq!(exported.created_at, shown["createdAt"].as_str().unwrap());
        assert_eq!(exported.deleted, shown["deleted"].as_bool().unwrap());
        assert_eq!(exported.status, shown["status"].as_str().unwrap());
        assert_eq!(exported.sender.display_name, shown["sender"]["displayName"].as_str().unwrap());
    }
    let (plain, edited, deleted, mms) =
        (&part.messages[0], &part.messages[2], &part.messages[3], &part.messages[4]);
    assert_eq!(
        (plain.deliveries[0].phone_number.as_str(), plain.deliveries[0].status.as_str()),
        (PAT, "queued")
    );
    assert!(edited.edited_at.is_some() && edited.content == "fixed");
    assert!(deleted.deleted && deleted.content.is_empty());
    assert_eq!((mms.sender.kind.as_str(), mms.sender.phone_number.as_deref()), ("sms", Some(PAT)));
    assert_eq!(mms.media_urls, ["https://api.twilio.com/Media/ME1"]);
}

#[tokio::test]
async fn only_participants_export_and_everyone_else_gets_the_historys_own_answer() {
    let app = FastApp::new();
    let (ann, bob, cat) = (app.register("ann").await, app.register("bob").await, app.register("cat").await);
    let group = app.create_group(&ann, "Team", json!([{"userId": bob.user_id}])).await;
    let id = id_of(&group);
    app.send_text(&bob, &id, "hi").await;
    let bob_participant = switchboard_tests::fast::participant_id(&group, "userId", &bob.user_id);
    let removed =
        app.delete(format!("/api/conversations/{id}/participants/{bob_participant}"), &ann.token).await;
    assert_eq!(removed.status, 200, "{:?}", removed.body);

    assert_eq!(export_all(&app, &id, "csv", &ann).await.len(), 1, "a participant exports");
    // An outsider and a removed participant: the history's 404, word for word.
    for who in [&cat, &bob] {
        let history = app.get(format!("/api/conversations/{id}/messages"), &who.token).await;
        let export = app.get(format!("/api/conversations/{id}/export?format=csv"), &who.token).await;
        assert_eq!((export.status, &export.body), (history.status, &history.body));
        assert_eq!((export.status, export.code()), (404, "not_found"));
        assert_eq!(export.headers["content-type"], "application/json");
    }
    let nobody = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    assert_eq!(
        app.get(format!("/api/conversations/{nobody}/export?format=json"), &ann.token).await.status,
        404
    );
}

#[tokio::test]
async fn a_bad_format_or_cursor_is_a_400_json_error_naming_it() {
    let app = FastApp::new();
    let ann = app.register("ann").await;
    let id = id_of(&app.create_group(&ann, "Solo", json!([])).await);
    for (query, field) in [
        ("format=xml", "format"),
        ("", "format"),
        ("format=", "format"),
        ("format=csv&cursor=not-a-cursor", "cursor"),
    ] {
        let reply = app.get(format!("/api/conversations/{id}/export?{query}"), &ann.token).await;
        assert_eq!((reply.status, reply.code(), reply.field()), (400, "invalid_request", field), "{query}");
        assert_eq!(reply.headers["content-type"], "application/json");
    }
    // Bad input is a 400 whatever it names.
    let reply = app.get("/api/conversations/01ARZ3NDEKTSV4RRFFQ69G5FAV/export?format=pdf", &ann.token).await;
    assert_eq!(reply.status, 400);
    assert_eq!(app.get(format!("/api/conversations/{id}/export?format=csv"), "").await.status, 401);
}

#[tokio::test]
async fn given_more_messages_than_a_part_holds_then_the_parts_hold_each_message_once_in_order() {
    let app = FastApp::new();
    let ann = app.register("ann").await;
    let id = id_of(&app.create_group(&ann, "Long", json!([])).await);
    let total = ExportLimits::default().messages + 5;
    let mut sent = Vec::new();
    for i in 0..total {
        sent.push(id_of(&app.send_text(&ann, &id, &format!("message, \"{i}\"")).await));
    }

    // CSV: two parts, the header only in the first; joined, one file of every message in order.
    let parts = export_all(&app, &id, "csv", &ann).await;
    assert_eq!(parts.len(), 2);
    assert!(text(&parts[0]).starts_with("id,createdAt,"));
    assert!(!text(&parts[1]).starts_with("id,createdAt,"));
    let link = parts[0].headers["link"].to_str().unwrap();
    assert_eq!(
        link,
        format!("</api/conversations/{id}/export?format=csv&cursor={}>; rel=\"next\"", sent[total - 6])
    );
    let (_, rows) = csv_rows(&parts);
    assert_eq!(rows.iter().map(|r| r[0].clone()).collect::<Vec<_>>(), sent);
    assert_eq!(rows[7][6], "message, \"7\"");

    // JSON: the same parts; each part a document of its own.
    let parts = json_parts(&export_all(&app, &id, "json", &ann).await);
    assert_eq!(parts.iter().map(|p| p.messages.len()).collect::<Vec<_>>(), [total - 5, 5]);
    assert_eq!(parts[0].next_cursor.as_deref(), Some(sent[total - 6].as_str()));
    let ids: Vec<String> = parts.iter().flat_map(|p| p.messages.iter().map(|m| m.id.clone())).collect();
    assert_eq!(ids, sent);
}

#[tokio::test]
async fn a_part_stops_at_its_message_or_byte_bound_wherever_a_store_page_ends_and_loses_or_doubles_nothing() {
    let app = FastApp::new();
    let ann = app.register("ann").await;
    let id = id_of(&app.create_group(&ann, "Bounds", json!([])).await);
    let mut sent = Vec::new();
    for i in 0..23 {
        // Lengths vary so the byte bound falls anywhere in a page.
        sent.push(id_of(&app.send_text(&ann, &id, &"x".repeat(1 + (i * 37) % 300)).await));
    }
    let caller = app.core().users.get_user(user_id(&ann)).await.unwrap().unwrap();
    let conversation: ConversationId = id.parse().unwrap();
    for limits in [
        ExportLimits { messages: 4, bytes: usize::MAX, page: 3 },
        ExportLimits { messages: 1000, bytes: 900, page: 5 },
        ExportLimits { messages: 23, bytes: usize::MAX, page: 100 },
        ExportLimits { messages: 1, bytes: 1, page: 1 },
    ] {
        for format in [ExportFormat::Csv, ExportFormat::Json] {
            let (mut after, mut exported, mut parts) = (None, Vec::new(), 0);
            loop {
                let part =
                    export_part(app.core(), &caller, conversation, format, after, limits).await.unwrap();
                assert!(part.messages <= limits.messages, "{limits:?}");
                // Past the byte bound by at most the one message that crossed it.
                assert!(part.text.len() < limits.bytes.saturating_add(1200), "{limits:?}");
                exported.push(part.text);
                parts += 1;
                match part.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            let ids: Vec<String> = match format {
                ExportFormat::Csv => {
                    let file: String = exported.concat();
                    let mut reader = csv::Reader::from_reader(file.as_bytes());
                    reader.records().map(|r| r.unwrap()[0].to_string()).collect()
                }
                ExportFormat::Json => exported
                    .iter()
                    .flat_map(|t| serde_json::from_str::<JsonPart>(t).unwrap().messages)
                    .map(|m| m.id)
                    .collect(),
            };
            assert_eq!(ids, sent, "{limits:?} {format:?} in {parts} parts");
            assert_eq!(ids.iter().collect::<HashSet<_>>().len(), sent.len());
        }
    }
}
