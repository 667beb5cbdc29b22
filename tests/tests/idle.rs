//! Idle conversations against the local DynamoDB server: the inactivity timer closes an SMS or
//! group conversation through the idle index (GSI1 `IDLE#<shard>`), frees its pairs as a close
//! does, never loses a message racing it, and costs a send nothing more.

use chrono::{Duration, Utc};
use futures::future::join_all;
use serde_json::{json, Value};
use switchboard::core::service::idle::{self, IdleSweep};
use switchboard_tests::twilio_mock::TwilioMock;
use switchboard_tests::{message_sid, proxy_of, us_number, Session, TestApp};

const PAT: &str = "+14155550601";
const SAM: &str = "+14155550602";

/// The deployment's timer: an hour.
const HOUR: &[(&str, &str)] = &[("IDLE_CLOSE_AFTER", "PT1H")];

async fn group_of(app: &TestApp, owner: &Session, phones: &[&str]) -> Value {
    let participants: Vec<Value> = phones.iter().map(|p| json!({"phoneNumber": p})).collect();
    app.create_group(owner, "Club", json!(participants)).await
}

async fn status(app: &TestApp, id: &str, who: &Session) -> String {
    let reply = app.get(format!("/api/conversations/{id}"), &who.token).await;
    reply.body["conversation"]["status"].as_str().unwrap().to_string()
}

async fn sweep_at(app: &TestApp, at: chrono::DateTime<Utc>) -> IdleSweep {
    idle::sweep(&app.state.app, at).await.expect("idle sweep")
}

#[tokio::test]
async fn an_idle_group_closes_after_its_timer_frees_its_pairs_and_its_phones_next_texts_are_first_texts() {
    let mock = TwilioMock::start().await;
    let app = TestApp::with_twilio(&mock, HOUR).await;
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1), us_number(2)]).await;
    let ann = app.register("ann").await;
    let number = app.give_number(&ann).await;
    let group = group_of(&app, &ann, &[PAT, SAM]).await;
    let id = group["id"].as_str().unwrap().to_string();
    let proxy = proxy_of(&group, PAT);
    let sms = app.post("/api/conversations/sms", json!({"phoneNumber": PAT}), Some(&ann.token)).await;
    let sms_id = sms.body["conversation"]["id"].as_str().unwrap().to_string();

    // Before the hour: nothing is due (the Query finds nothing, nothing else is read).
    let (early, ops) = app.count_operations(|| sweep_at(&app, Utc::now() + Duration::minutes(59))).await;
    assert_eq!(early, IdleSweep::default());
    assert_eq!(ops, [("Query".to_string(), 4)].into(), "one Query per shard: {ops:?}");

    // After it: one Query per shard, then per conversation its read and the close.
    let (swept, ops) = app.count_operations(|| sweep_at(&app, Utc::now() + Duration::hours(1))).await;
    assert_eq!(swept.closed, 2);
    assert_eq!(ops, [("Query".to_string(), 4 + 2), ("TransactWriteItems".to_string(), 2)].into(), "{ops:?}");
    assert_eq!(status(&app, &id, &ann).await, "closed");
    assert_eq!(status(&app, &sms_id, &ann).await, "closed");

    // The pairs are free and the proxy carries nothing: its number can go back to a user.
    let pairs = [PAT, SAM].map(|p| (switchboard_tests::fast::e164(&proxy), switchboard_tests::fast::e164(p)));
    assert!(app.state.app.conversations.taken_routes(&pairs).await.unwrap().is_empty());
    let pool = app.get("/api/numbers", &admin.token).await;
    let carried =
        pool.body["numbers"].as_array().unwrap().iter().find(|n| n["phoneNumber"] == proxy).cloned();
    let carried = carried.unwrap_or_else(|| panic!("{:?}", pool.body));
    assert_eq!((carried["routeCount"].clone(), carried["status"].clone()), (json!(0), json!("free")));

    // A later text to the group's number is a first text to a number nobody holds: nothing stored.
    let before = app.round_trips();
    let reply = app.inbound_sms(&message_sid(1), PAT, &proxy, "anyone?").await;
    assert_eq!(reply.status, 200);
    assert_eq!(app.round_trips() - before, 1, "the route lookup only");
    assert_eq!(
        app.get(format!("/api/conversations/{id}/messages"), &ann.token).await.body["messages"],
        json!([])
    );
    // ...and to Ann's number it opens a new SMS conversation, as any first text does.
    assert_eq!(app.inbound_sms(&message_sid(2), PAT, &number, "hello again").await.status, 200);
    let inbox = app.get("/api/conversations", &ann.token).await.body["conversations"].clone();
    let open: Vec<&Value> = inbox.as_array().unwrap().iter().filter(|c| c["status"] == "active").collect();
    assert_eq!(open.len(), 1, "{inbox}");
    assert_ne!(open[0]["id"], json!(sms_id));
    assert_eq!(open[0]["lastMessagePreview"], "hello again");
}

#[tokio::test]
async fn a_message_before_the_deadline_keeps_it_open_and_a_send_costs_what_it_did_without_a_timer() {
    let mock = TwilioMock::start().await;
    let timed = TestApp::with_twilio(&mock, HOUR).await;
    let untimed = TestApp::with_twilio(&mock, &[]).await;
    let mut costs = Vec::new();
    let mut sessions = Vec::new();
    for app in [&untimed, &timed] {
        let admin = app.admin().await;
        app.add_numbers(&admin, &[us_number(1)]).await;
        let ann = app.register("ann").await;
        let id = group_of(app, &ann, &[PAT]).await["id"].as_str().unwrap().to_string();
        let path = format!("/api/conversations/{id}/messages");
        let (reply, ops) =
            app.count_operations(|| app.post(&path, json!({"content": "hi"}), Some(&ann.token))).await;
        assert_eq!(reply.status, 201);
        costs.push(ops);
        sessions.push(ann);
    }
    assert_eq!(costs[0], costs[1], "the deadline moves inside the send's own transaction");

    // A send before the deadline: a sweep at the group's first deadline finds it, keeps it open.
    let ann = &sessions[1];
    let id = group_of(&timed, ann, &[SAM]).await["id"].as_str().unwrap().to_string();
    let sent = timed
        .post(format!("/api/conversations/{id}/messages"), json!({"content": "hi"}), Some(&ann.token))
        .await;
    let sent_at: chrono::DateTime<Utc> = sent.body["message"]["createdAt"].as_str().unwrap().parse().unwrap();
    let swept = sweep_at(&timed, sent_at + Duration::minutes(59)).await;
    assert_eq!(swept.closed, 0);
    assert_eq!(status(&timed, &id, ann).await, "active");
    // Its phone's text moves only the activity: the sweep reads it and moves the entry along.
    let proxy =
        proxy_of(&timed.get(format!("/api/conversations/{id}"), &ann.token).await.body["conversation"], SAM);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(timed.inbound_sms(&message_sid(9), SAM, &proxy, "still here").await.status, 200);
    // (the first group, idle since its own send, may close in the same sweep)
    let swept = sweep_at(&timed, sent_at + Duration::hours(1) + Duration::milliseconds(10)).await;
    assert_eq!(swept.rescheduled, 1);
    assert_eq!(status(&timed, &id, ann).await, "active");
    assert_eq!(sweep_at(&timed, sent_at + Duration::minutes(122)).await.closed, 1);
}

#[tokio::test]
async fn a_send_racing_the_sweep_lands_before_the_close_or_is_told_the_conversation_closed() {
    let mock = TwilioMock::start().await;
    let app = TestApp::with_twilio(&mock, HOUR).await;
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1)]).await;
    let ann = app.register("ann").await;
    for round in 0..4 {
        let id = group_of(&app, &ann, &[PAT]).await["id"].as_str().unwrap().to_string();
        let path = format!("/api/conversations/{id}/messages");
        let later = Utc::now() + Duration::hours(2);
        let sends = join_all(
            (0..6).map(|i| app.post(&path, json!({"content": format!("m{round}-{i}")}), Some(&ann.token))),
        );
        let sweeps = join_all((0..3).map(|_| sweep_at(&app, later)));
        let (replies, _) = tokio::join!(sends, sweeps);
        assert!(
            replies.iter().all(|r| r.status == 201 || (r.status == 409 && r.code() == "conversation_closed")),
            "{:?}",
            replies.iter().map(|r| (r.status, r.code().to_string())).collect::<Vec<_>>()
        );
        let stored = app.get(&path, &ann.token).await.body["messages"].as_array().unwrap().clone();
        let accepted = replies.iter().filter(|r| r.status == 201).count();
        assert_eq!(stored.len(), accepted, "every accepted send is stored, no other");
        // Closed: the close was conditioned on the activity the sweep read, so that activity is
        // the last stored message's (or the creation's); a send committed after the read would
        // have cancelled it, a send after the close was refused.
        let detail =
            app.get(format!("/api/conversations/{id}"), &ann.token).await.body["conversation"].clone();
        if detail["status"] == "closed" {
            let last: chrono::DateTime<Utc> = detail["lastMessageAt"].as_str().unwrap().parse().unwrap();
            let created: chrono::DateTime<Utc> = detail["createdAt"].as_str().unwrap().parse().unwrap();
            let times: Vec<chrono::DateTime<Utc>> =
                stored.iter().map(|m| m["createdAt"].as_str().unwrap().parse().unwrap()).collect();
            assert!(last == created || times.contains(&last), "round {round}: {last} not among {times:?}");
        } else {
            assert_eq!(accepted, 6, "open: every send landed");
        }
        // Whatever happened, the group closes once it is idle again: no message is stored after.
        sweep_at(&app, Utc::now() + Duration::hours(2)).await;
        assert_eq!(status(&app, &id, &ann).await, "closed");
        let late = app.post(&path, json!({"content": "late"}), Some(&ann.token)).await;
        assert_eq!((late.status, late.code()), (409, "conversation_closed"));
    }
}

#[tokio::test]
async fn admins_set_the_timer_through_the_api_and_the_conversation_shows_it() {
    let app = TestApp::with_settings(HOUR).await;
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1)]).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let group = app.create_group(&ann, "Club", json!([{"userId": bob.user_id}, {"phoneNumber": PAT}])).await;
    let id = group["id"].as_str().unwrap().to_string();
    let path = format!("/api/conversations/{id}/timers");

    let shown =
        app.get(format!("/api/conversations/{id}"), &ann.token).await.body["conversation"]["timers"].clone();
    assert_eq!((shown["closeAfter"].clone(), shown["own"].clone()), (json!("PT1H"), json!(false)));
    let (reply, ops) =
        app.count_operations(|| app.put(&path, json!({"closeAfter": "P7D"}), &ann.token)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["conversation"]["timers"]["closeAfterSeconds"], 7 * 86_400);
    assert_eq!(reply.body["conversation"]["timers"]["own"], true);
    assert_eq!(ops.get("UpdateItem"), Some(&1), "{ops:?}");
    assert_eq!(sweep_at(&app, Utc::now() + Duration::days(6)).await.closed, 0);

    let forbidden = app.put(&path, json!({"closeAfter": "off"}), &bob.token).await;
    assert_eq!((forbidden.status, forbidden.code()), (403, "forbidden"));
    let invalid = app.put(&path, json!({"closeAfter": "PT30S"}), &ann.token).await;
    assert_eq!((invalid.status, invalid.field()), (422, "closeAfter"));
    let off = app.put(&path, json!({"closeAfter": "off"}), &ann.token).await;
    assert_eq!(off.body["conversation"]["timers"]["closeAfter"], Value::Null);
    assert_eq!(sweep_at(&app, Utc::now() + Duration::days(400)).await.closed, 0);
    let reset = app.put(&path, json!({"closeAfter": null}), &ann.token).await;
    assert_eq!(reset.body["conversation"]["timers"]["own"], false);
    assert_eq!(sweep_at(&app, Utc::now() + Duration::hours(2)).await.closed, 1);
}
