//! Direct, SMS and group conversations against the local DynamoDB server.

use serde_json::{json, Value};
use switchboard_tests::{us_number, TestApp};

fn ids(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_direct_conversation_is_one_per_pair() {
    let app = TestApp::new().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;

    let created =
        app.post("/api/conversations/direct", json!({"userId": bob.user_id}), Some(&ada.token)).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let conversation = &created.body["conversation"];
    assert_eq!(conversation["type"], "direct");
    assert_eq!(conversation["name"], "bob", "a direct conversation is named after the other side");
    assert_eq!(conversation["participants"].as_array().unwrap().len(), 2);
    assert!(conversation["participants"].as_array().unwrap().iter().all(|p| p["kind"] == "user"));

    // Either side asking again gets the same conversation, with 200.
    let again = app.post("/api/conversations/direct", json!({"userId": ada.user_id}), Some(&bob.token)).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["conversation"]["id"], conversation["id"]);
    assert_eq!(again.body["conversation"]["name"], "ada");

    let to_self =
        app.post("/api/conversations/direct", json!({"userId": ada.user_id}), Some(&ada.token)).await;
    assert_eq!((to_self.status, to_self.field()), (422, "userId"));
    let unknown = app
        .post("/api/conversations/direct", json!({"userId": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}), Some(&ada.token))
        .await;
    assert_eq!(unknown.status, 404);
    let malformed =
        app.post("/api/conversations/direct", json!({"userId": "x".repeat(3000)}), Some(&ada.token)).await;
    assert_eq!(malformed.status, 404);
}

#[tokio::test]
async fn concurrent_direct_starts_make_one_conversation() {
    let app = TestApp::new().await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let (a, b) = futures::join!(
        app.post("/api/conversations/direct", json!({"userId": bob.user_id}), Some(&ada.token)),
        app.post("/api/conversations/direct", json!({"userId": ada.user_id}), Some(&bob.token)),
    );
    assert_eq!(a.body["conversation"]["id"], b.body["conversation"]["id"]);
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [200, 201]);
}

#[tokio::test]
async fn an_sms_conversation_binds_the_phone_to_the_users_number() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1), us_number(2)]).await;
    let ada = app.register("ada").await;

    let no_number =
        app.post("/api/conversations/sms", json!({"phoneNumber": "+14155550199"}), Some(&ada.token)).await;
    assert_eq!((no_number.status, no_number.code()), (409, "no_virtual_number"));

    let number = app.give_number(&ada).await;
    let body = json!({"phoneNumber": "+44 20 7946 0958", "name": "Grace"});
    let created = app.post("/api/conversations/sms", body.clone(), Some(&ada.token)).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let conversation = &created.body["conversation"];
    assert_eq!((conversation["type"].clone(), conversation["name"].clone()), (json!("sms"), json!("Grace")));
    let phone =
        conversation["participants"].as_array().unwrap().iter().find(|p| p["kind"] == "sms").unwrap().clone();
    assert_eq!(phone["phoneNumber"], "+442079460958", "a British number stays British");
    assert_eq!(phone["proxyNumber"], json!(number), "the phone texts the user's own number");
    assert_eq!(phone["role"], "member");

    let again =
        app.post("/api/conversations/sms", json!({"phoneNumber": "not a phone"}), Some(&ada.token)).await;
    assert_eq!((again.status, again.field()), (422, "phoneNumber"));
    let again =
        app.post("/api/conversations/sms", json!({"phoneNumber": "+442079460958"}), Some(&ada.token)).await;
    assert_eq!(again.status, 200, "the existing conversation between that number and phone");
    assert_eq!(again.body["conversation"]["id"], conversation["id"]);

    let own = app.post("/api/conversations/sms", json!({"phoneNumber": number}), Some(&ada.token)).await;
    assert_eq!((own.status, own.field()), (422, "phoneNumber"));
    let ours =
        app.post("/api/conversations/sms", json!({"phoneNumber": us_number(2)}), Some(&ada.token)).await;
    assert_eq!((ours.status, ours.field()), (422, "phoneNumber"), "our own pool numbers are not phones");
}

#[tokio::test]
async fn my_conversations_come_latest_first_in_pages() {
    let app = TestApp::new().await;
    let ada = app.register("ada").await;
    let mut created = Vec::new();
    for name in ["one", "two", "three", "four", "five"] {
        let reply = app.post("/api/conversations/group", json!({"name": name}), Some(&ada.token)).await;
        assert_eq!(reply.status, 201);
        created.push(reply.body["conversation"]["id"].as_str().unwrap().to_string());
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let bob = app.register("bob").await;
    assert_eq!(
        ids(&app.get("/api/conversations", &bob.token).await.body["conversations"]),
        Vec::<String>::new()
    );

    let mut listed = Vec::new();
    let mut path = "/api/conversations?limit=2".to_string();
    loop {
        let page = app.get(&path, &ada.token).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        let entries = page.body["conversations"].as_array().unwrap().clone();
        assert!(entries.len() <= 2);
        for entry in &entries {
            assert_eq!(entry["type"], "group");
            assert_eq!(entry["role"], "admin");
        }
        listed.extend(ids(&page.body["conversations"]));
        match page.body["nextCursor"].as_str() {
            Some(cursor) => path = format!("/api/conversations?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    created.reverse();
    assert_eq!(listed, created, "newest activity first, each once");
    let first = app.get("/api/conversations?limit=1", &ada.token).await;
    assert_eq!(first.body["conversations"][0]["name"], "five");
}

#[tokio::test]
async fn closing_frees_routes_and_keeps_history_readable() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1)]).await;
    let ada = app.register("ada").await;
    app.give_number(&ada).await;
    let created =
        app.post("/api/conversations/sms", json!({"phoneNumber": "+14155550188"}), Some(&ada.token)).await;
    let id = created.body["conversation"]["id"].as_str().unwrap().to_string();

    let closed = app.delete(&format!("/api/conversations/{id}"), &ada.token).await;
    assert_eq!((closed.status, closed.body["conversation"]["status"].clone()), (200, json!("closed")));
    let read = app.get(&format!("/api/conversations/{id}"), &ada.token).await;
    assert_eq!((read.status, read.body["conversation"]["status"].clone()), (200, json!("closed")));
    let inbox = app.get("/api/conversations", &ada.token).await;
    assert_eq!(inbox.body["conversations"][0]["status"], "closed");

    // The pair is free again: a new SMS conversation with that phone is a new conversation.
    let fresh =
        app.post("/api/conversations/sms", json!({"phoneNumber": "+14155550188"}), Some(&ada.token)).await;
    assert_eq!(fresh.status, 201);
    assert_ne!(fresh.body["conversation"]["id"], json!(id));
}

#[tokio::test]
async fn releasing_a_number_closes_the_sms_conversations_it_carries() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1)]).await;
    let ada = app.register("ada").await;
    let number = app.give_number(&ada).await;
    let created =
        app.post("/api/conversations/sms", json!({"phoneNumber": "+14155550188"}), Some(&ada.token)).await;
    let id = created.body["conversation"]["id"].as_str().unwrap().to_string();

    // A number that still carries a conversation cannot leave the pool.
    let blocked = app.delete(&format!("/api/numbers/{number}"), &admin.token).await;
    assert_eq!(blocked.status, 409);

    assert_eq!(app.delete("/api/users/virtual-number", &ada.token).await.status, 200);
    let read = app.get(&format!("/api/conversations/{id}"), &ada.token).await;
    assert_eq!(read.body["conversation"]["status"], "closed");
    let removed = app.delete(&format!("/api/numbers/{number}"), &admin.token).await;
    assert_eq!(removed.status, 200, "no route is left on the number: {:?}", removed.body);
}

#[tokio::test]
async fn reading_a_conversation_is_one_query_and_creating_a_group_one_transaction() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1), us_number(2)]).await;
    let ada = app.register("ada").await;
    let mut participants = Vec::new();
    for i in 0..10 {
        participants.push(json!({"userId": app.register(&format!("member{i}")).await.user_id}));
        participants.push(json!({"phoneNumber": format!("+1415555{:04}", 2000 + i)}));
    }
    let body = json!({"name": "Twenty", "participants": participants});
    let (created, ops) =
        app.count_operations(|| app.post("/api/conversations/group", body, Some(&ada.token))).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["conversation"]["participants"].as_array().unwrap().len(), 21);
    assert_eq!(ops.get("TransactWriteItems"), Some(&1), "{ops:?}");
    // Auth; the users and the pool-number check (batched, concurrent); the proxy and free parts
    // of the pool (two queries, concurrent); the route check (batched); the transaction.
    assert_eq!(ops.values().sum::<u64>(), 7, "{ops:?}");

    let id = created.body["conversation"]["id"].as_str().unwrap();
    let (read, ops) = app.count_operations(|| app.get(format!("/api/conversations/{id}"), &ada.token)).await;
    assert_eq!(read.status, 200);
    // Auth, one Query, and the caller's contact names for the ten phones (one BatchGetItem).
    let expected = [("GetItem".to_string(), 1), ("Query".to_string(), 1), ("BatchGetItem".to_string(), 1)];
    assert_eq!(ops, expected.into(), "auth + one Query + the contact names");

    let (listed, ops) = app.count_operations(|| app.get("/api/conversations", &ada.token)).await;
    assert_eq!(listed.body["conversations"].as_array().unwrap().len(), 1);
    assert_eq!(ops, [("GetItem".to_string(), 1), ("Query".to_string(), 1)].into(), "auth + one inbox Query");
}

#[tokio::test]
async fn no_sms_conversation_starts_on_a_number_being_released() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1)]).await;
    let ada = app.register("ada").await;
    let number = app.give_number(&ada).await;
    let e164 = switchboard::core::domain::phone::E164::from_stored(number.clone());
    // A release that stopped after its first step...
    let ada_id = switchboard::core::domain::ids::UserId::parse(&ada.user_id).unwrap();
    app.state.app.numbers.mark_number_releasing(ada_id, &e164).await.unwrap();
    let refused =
        app.post("/api/conversations/sms", json!({"phoneNumber": "+14155550188"}), Some(&ada.token)).await;
    assert_eq!((refused.status, refused.code()), (409, "no_virtual_number"));
    // ...is finished by asking again.
    assert_eq!(app.delete("/api/users/virtual-number", &ada.token).await.status, 200);
    assert_eq!(
        app.get("/api/users/profile", &ada.token).await.body["user"]["virtualPhoneNumber"],
        Value::Null
    );
}

/// Bob's read state in `id`: his horizon and count from the conversation, his line's count and
/// his unread total from the inbox.
async fn read_state(app: &TestApp, bob: &switchboard_tests::Session, id: &str) -> (Value, u64, u64, u64) {
    let view = app.get(format!("/api/conversations/{id}"), &bob.token).await.body["conversation"].clone();
    let me = view["participants"].as_array().unwrap().iter().find(|p| p["userId"] == bob.user_id).cloned();
    let inbox = app.get("/api/conversations", &bob.token).await.body;
    let line = inbox["conversations"].as_array().unwrap().iter().find(|c| c["id"] == id).cloned().unwrap();
    (
        me.unwrap()["lastReadMessageId"].clone(),
        view["unreadCount"].as_u64().unwrap(),
        line["unreadCount"].as_u64().unwrap(),
        inbox["unreadTotal"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn unread_counts_stay_right_under_concurrent_sends_and_reads() {
    let app = TestApp::new().await;
    let (ada, bob, cy) = (app.register("ada").await, app.register("bob").await, app.register("cyd").await);
    // Three rounds: the races differ from run to run, so one round alone could miss one.
    for round in 1..=3u64 {
        let group =
            app.create_group(&ada, "Busy", json!([{"userId": bob.user_id}, {"userId": cy.user_id}])).await;
        let id = group["id"].as_str().unwrap().to_string();
        let (messages, read) =
            (format!("/api/conversations/{id}/messages"), format!("/api/conversations/{id}/read"));
        let first = app.post(&messages, json!({"content": "start"}), Some(&ada.token)).await;
        assert_eq!(first.status, 201);

        // 30 sends (Ada, Cy and Bob himself, a few at a time) race Bob's two devices, each reading
        // the newest message it can see, again and again until the sends are done.
        let authors = [&ada, &cy, &bob];
        let done = std::sync::atomic::AtomicBool::new(false);
        let sends = async {
            for wave in 0..10 {
                let sends = (0..3).map(|n| {
                    let (path, token) = (messages.clone(), authors[n].token.clone());
                    let app = &app;
                    async move {
                        let reply =
                            app.post(&path, json!({"content": format!("m{wave}-{n}")}), Some(&token)).await;
                        assert_eq!(reply.status, 201, "{:?}", reply.body);
                    }
                });
                futures::future::join_all(sends).await;
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        };
        let contended = std::sync::atomic::AtomicU32::new(0);
        let device = || async {
            let list = format!("{messages}?limit=1");
            let mut reads = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) || reads < 3 {
                let newest = app.get(&list, &bob.token).await.body["messages"][0]["id"].clone();
                let reply = app.put(&read, json!({"messageId": newest}), &bob.token).await;
                // Under this storm a read may lose every compare-and-set round: it is told to
                // retry and changes nothing.
                match (reply.status, reply.code()) {
                    (200, _) => reads += 1,
                    (409, "concurrent_update") => {
                        contended.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    _ => panic!("{:?}", reply.body),
                }
            }
        };
        futures::join!(sends, device(), device());
        eprintln!(
            "round {round}: {} reads told to retry",
            contended.load(std::sync::atomic::Ordering::SeqCst)
        );

        // Bob's count is exactly the messages of others after his horizon, wherever it ended.
        let (horizon, count, line, total) = read_state(&app, &bob, &id).await;
        let history = app.get(format!("{messages}?limit=100"), &bob.token).await.body["messages"].clone();
        let history = history.as_array().unwrap();
        assert_eq!(history.len(), 31);
        let horizon = horizon.as_str().expect("Bob read something").to_string();
        let expected = history
            .iter()
            .filter(|m| m["id"].as_str().unwrap() > horizon.as_str() && m["sender"]["userId"] != bob.user_id)
            .count() as u64;
        assert_eq!((count, line, total), (expected, expected, expected), "horizon {horizon}");

        // Reading the newest leaves nothing unread; Ada, who read nothing, has Cy's and Bob's 20.
        app.put(&read, json!({"messageId": history[0]["id"]}), &bob.token).await;
        let (horizon, count, line, total) = read_state(&app, &bob, &id).await;
        assert_eq!((horizon, count, line, total), (history[0]["id"].clone(), 0, 0, 0));
        let adas = app.get("/api/conversations", &ada.token).await.body;
        assert_eq!(
            (adas["conversations"][0]["unreadCount"].clone(), adas["unreadTotal"].clone()),
            (json!(20), json!(20 * round)),
            "Ada's total counts every round's group"
        );
    }
}

#[tokio::test]
async fn marking_read_and_the_inbox_cost_the_same_requests_whatever_the_group_size() {
    let app = TestApp::new().await;
    let ada = app.register("ada").await;
    let mut costs = Vec::new();
    for size in [2usize, 20] {
        let mut members = Vec::new();
        for i in 0..size - 1 {
            members.push(app.register(&format!("m{size}-{i}")).await);
        }
        let participants: Vec<Value> = members.iter().map(|m| json!({"userId": m.user_id})).collect();
        let group = app.create_group(&ada, "Sized", json!(participants)).await;
        let id = group["id"].as_str().unwrap();
        let message = app
            .post(
                format!("/api/conversations/{id}/messages"),
                json!({"content": "hi"}),
                Some(&members[0].token),
            )
            .await;
        let path = format!("/api/conversations/{id}/read");
        let body = json!({"messageId": message.body["message"]["id"]});
        let (marked, ops) = app.count_operations(|| app.put(&path, body, &ada.token)).await;
        assert_eq!((marked.status, marked.body["read"]["unreadCount"].clone()), (200, json!(0)));
        // Auth; the conversation (pattern 15); the count beyond the horizon; the update.
        let expected = [("GetItem".to_string(), 1), ("Query".to_string(), 2), ("UpdateItem".to_string(), 1)];
        assert_eq!(ops, expected.into(), "a group of {size}");
        let (listed, ops) = app.count_operations(|| app.get("/api/conversations", &ada.token)).await;
        assert!(listed.body["unreadTotal"].is_u64());
        costs.push(ops);
    }
    assert_eq!(costs[0], costs[1]);
    assert_eq!(
        costs[0],
        [("GetItem".to_string(), 1), ("Query".to_string(), 1)].into(),
        "auth + one inbox Query, as before"
    );
}
