//! Routing: every SMS participant is bound to exactly one (our number, phone) pair, and a pair
//! names at most one conversation, whatever runs concurrently.

use std::collections::HashSet;

use futures::future::join_all;
use serde_json::{json, Value};
use switchboard::core::domain::ids::ConversationId;
use switchboard::core::domain::phone::E164;
use switchboard_tests::{us_number, Session, TestApp};

const P1: &str = "+14155550201";
const P2: &str = "+14155550202";
const P3: &str = "+14155550203";
const P4: &str = "+14155550204";
const P5: &str = "+14155550205";

fn e164(s: &str) -> E164 {
    E164::from_stored(s.to_string())
}

/// phone → proxy number of each SMS participant.
fn proxies(conversation: &Value) -> Vec<(String, String)> {
    conversation["participants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "sms")
        .map(|p| {
            (p["phoneNumber"].as_str().unwrap().to_string(), p["proxyNumber"].as_str().unwrap().to_string())
        })
        .collect()
}

async fn group(app: &TestApp, owner: &Session, name: &str, phones: &[&str]) -> Value {
    let participants: Vec<Value> = phones.iter().map(|p| json!({"phoneNumber": p})).collect();
    let reply = app
        .post(
            "/api/conversations/group",
            json!({"name": name, "participants": participants}),
            Some(&owner.token),
        )
        .await;
    assert_eq!(reply.status, 201, "{name}: {:?}", reply.body);
    reply.body["conversation"].clone()
}

/// A pool with `n` free numbers (us_number(1..=n)) and a user to create groups.
async fn pool_of(app: &TestApp, n: u32) -> Session {
    let admin = app.admin().await;
    app.add_numbers(&admin, &(1..=n).map(us_number).collect::<Vec<_>>()).await;
    app.register("owner").await
}

#[tokio::test]
async fn groups_keep_one_number_and_reuse_it_across_groups_that_share_no_phone() {
    let app = TestApp::new().await;
    let owner = pool_of(&app, 3).await;
    let (n1, n2) = (us_number(1), us_number(2));

    let g1 = group(&app, &owner, "g1", &[P1, P2]).await;
    assert_eq!(proxies(&g1), [(P1.into(), n1.clone()), (P2.into(), n1.clone())], "one number for the group");
    let g2 = group(&app, &owner, "g2", &[P3]).await;
    assert_eq!(proxies(&g2), [(P3.into(), n1.clone())], "reused: g2 shares no phone with g1");
    let g3 = group(&app, &owner, "g3", &[P1, P4]).await;
    assert_eq!(proxies(&g3), [(P1.into(), n2.clone()), (P4.into(), n1.clone())], "only the taken pair moves");

    // Adding to an existing group prefers the group's own number.
    let id = g2["id"].as_str().unwrap();
    let added = app
        .post(
            &format!("/api/conversations/{id}/participants"),
            json!({"phoneNumber": P5}),
            Some(&owner.token),
        )
        .await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    assert_eq!(added.body["participant"]["proxyNumber"], json!(n1.clone()));
    let again = app
        .post(format!("/api/conversations/{id}/participants"), json!({"phoneNumber": P1}), Some(&owner.token))
        .await;
    assert_eq!(
        again.body["participant"]["proxyNumber"],
        json!(us_number(3)),
        "(n1,P1) and (n2,P1) are taken"
    );
}

#[tokio::test]
async fn one_phone_in_an_sms_conversation_and_a_group_has_two_distinct_routes() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1), us_number(2)]).await;
    let a = app.register("ann").await;
    let b = app.register("bea").await;
    let c = app.register("cat").await;
    let a_number = app.give_number(&a).await;

    let sms = app.post("/api/conversations/sms", json!({"phoneNumber": P1}), Some(&a.token)).await;
    let sms_id = sms.body["conversation"]["id"].as_str().unwrap().to_string();
    let participants = json!([{"userId": c.user_id}, {"phoneNumber": P1, "displayName": "Pat"}]);
    let g = app
        .post(
            "/api/conversations/group",
            json!({"name": "b+c+pat", "participants": participants}),
            Some(&b.token),
        )
        .await;
    let group_id = g.body["conversation"]["id"].as_str().unwrap().to_string();
    let group_proxy = proxies(&g.body["conversation"])[0].1.clone();
    assert_ne!(group_proxy, a_number, "a user's own number is never a group proxy");

    let store = &app.state.app.conversations;
    let route = |number: String| async move {
        store.route_conversation(&e164(&number), &e164(P1)).await.unwrap().map(|id| id.to_string())
    };
    assert_eq!(route(a_number.clone()).await, Some(sms_id));
    assert_eq!(route(group_proxy.clone()).await, Some(group_id));
}

#[tokio::test]
async fn one_phone_added_concurrently_to_groups_never_shares_a_pair() {
    let app = TestApp::new().await;
    let owner = pool_of(&app, 2).await;
    let mut groups = Vec::new();
    for i in 0..4 {
        groups.push(group(&app, &owner, &format!("g{i}"), &[]).await["id"].as_str().unwrap().to_string());
    }
    let replies = join_all(groups.iter().map(|id| {
        app.post(
            format!("/api/conversations/{id}/participants"),
            json!({"phoneNumber": P1}),
            Some(&owner.token),
        )
    }))
    .await;
    let added: Vec<&str> = replies
        .iter()
        .filter(|r| r.status == 201)
        .map(|r| r.body["participant"]["proxyNumber"].as_str().unwrap())
        .collect();
    assert_eq!(
        added.len(),
        2,
        "two numbers, two groups: {:?}",
        replies.iter().map(|r| (r.status, r.code())).collect::<Vec<_>>()
    );
    assert_eq!(added.iter().collect::<HashSet<_>>().len(), 2, "never the same pair twice: {added:?}");
    assert!(replies
        .iter()
        .filter(|r| r.status != 201)
        .all(|r| r.status == 409 && r.code() == "no_proxy_number"));

    // Concurrent group creations with the same phone: same guarantee.
    let app = TestApp::new().await;
    let owner = pool_of(&app, 2).await;
    let replies = join_all((0..3).map(|i| {
        app.post(
            "/api/conversations/group",
            json!({"name": format!("c{i}"), "participants": [{"phoneNumber": P2}]}),
            Some(&owner.token),
        )
    }))
    .await;
    let created: Vec<String> = replies
        .iter()
        .filter(|r| r.status == 201)
        .map(|r| proxies(&r.body["conversation"])[0].1.clone())
        .collect();
    assert_eq!(created.len(), 2);
    assert_ne!(created[0], created[1]);
}

#[tokio::test]
async fn one_phone_added_twice_to_one_group_concurrently_joins_once() {
    let app = TestApp::new().await;
    let owner = pool_of(&app, 3).await;
    let id = group(&app, &owner, "g", &[]).await["id"].as_str().unwrap().to_string();
    let replies = join_all((0..10).map(|_| {
        app.post(
            format!("/api/conversations/{id}/participants"),
            json!({"phoneNumber": P1}),
            Some(&owner.token),
        )
    }))
    .await;
    assert_eq!(replies.iter().filter(|r| r.status == 201).count(), 1);
    assert!(
        replies.iter().filter(|r| r.status != 201).all(|r| r.status == 409),
        "{:?}",
        replies.iter().map(|r| r.code()).collect::<Vec<_>>()
    );
    let read = app.get(&format!("/api/conversations/{id}"), &owner.token).await;
    assert_eq!(proxies(&read.body["conversation"]).len(), 1);
    // And only one route holds the phone: the other numbers are still free for it.
    let taken = app
        .state
        .app
        .conversations
        .taken_routes(&[1, 2, 3].map(|n| (e164(&us_number(n)), e164(P1))))
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
}

#[tokio::test]
async fn an_exhausted_pool_refuses_the_next_group_and_changes_nothing() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1), us_number(2), us_number(3)]).await;
    let owner = app.register("owner").await;
    let own_number = app.give_number(&owner).await; // takes us_number(1): two free numbers remain
    group(&app, &owner, "g1", &[P1]).await;
    group(&app, &owner, "g2", &[P1]).await;

    let third = app
        .post(
            "/api/conversations/group",
            json!({"name": "g3", "participants": [{"phoneNumber": P2}, {"phoneNumber": P1}]}),
            Some(&owner.token),
        )
        .await;
    assert_eq!((third.status, third.code()), (409, "no_proxy_number"), "{:?}", third.body);
    assert!(third.body["error"]["message"].as_str().unwrap().contains("***0201"), "names the phone, masked");
    let inbox = app.get("/api/conversations", &owner.token).await;
    assert_eq!(inbox.body["conversations"].as_array().unwrap().len(), 2, "no third group");
    let free_pairs = [2, 3].map(|n| (e164(&us_number(n)), e164(P2)));
    assert!(
        app.state.app.conversations.taken_routes(&free_pairs).await.unwrap().is_empty(),
        "no route was written for P2"
    );

    // The user's own number still reaches the phone in an SMS conversation.
    let sms = app.post("/api/conversations/sms", json!({"phoneNumber": P1}), Some(&owner.token)).await;
    assert_eq!(sms.status, 201);
    assert_eq!(proxies(&sms.body["conversation"])[0].1, own_number);
}

#[tokio::test]
async fn removing_a_participant_frees_its_pair() {
    let app = TestApp::new().await;
    let owner = pool_of(&app, 1).await;
    let g1 = group(&app, &owner, "g1", &[P1]).await;
    let g1_id = g1["id"].as_str().unwrap();
    let full = app
        .post(
            "/api/conversations/group",
            json!({"name": "g2", "participants": [{"phoneNumber": P1}]}),
            Some(&owner.token),
        )
        .await;
    assert_eq!(full.status, 409);

    let pid = g1["participants"].as_array().unwrap().iter().find(|p| p["kind"] == "sms").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let removed = app.delete(&format!("/api/conversations/{g1_id}/participants/{pid}"), &owner.token).await;
    assert_eq!(removed.status, 200, "{:?}", removed.body);
    let g2 = group(&app, &owner, "g2", &[P1]).await;
    assert_eq!(proxies(&g2), [(P1.into(), us_number(1))]);
}

#[tokio::test]
async fn a_number_carrying_a_group_is_never_given_to_a_user_nor_removed() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1), us_number(2)]).await;
    let owner = app.register("owner").await;
    let g = group(&app, &owner, "g", &[P1]).await;
    let proxy = proxies(&g)[0].1.clone();
    assert_eq!(proxy, us_number(1));

    // The next user asking for "any number" gets the other one, not the group's proxy.
    let ada = app.register("ada").await;
    assert_eq!(app.give_number(&ada).await, us_number(2));
    let bob = app.register("bob").await;
    let chosen = app.post("/api/users/virtual-number", json!({"phoneNumber": proxy}), Some(&bob.token)).await;
    assert_eq!((chosen.status, chosen.code()), (409, "number_in_use"));
    let none = app.post("/api/users/virtual-number", json!({}), Some(&bob.token)).await;
    assert_eq!((none.status, none.code()), (409, "no_free_number"));
    let removed = app.delete(format!("/api/numbers/{proxy}"), &admin.token).await;
    assert_eq!((removed.status, removed.code()), (409, "number_in_use"));
    let listed = app.get("/api/numbers?status=proxy", &admin.token).await;
    assert_eq!(listed.body["numbers"][0]["status"], "proxy");

    // Once the group is closed the number carries nothing and can be given out again.
    assert_eq!(
        app.delete(format!("/api/conversations/{}", g["id"].as_str().unwrap()), &owner.token).await.status,
        200
    );
    assert_eq!(app.give_number(&bob).await, proxy);
}

#[tokio::test]
async fn a_close_that_read_a_stale_participant_list_frees_every_route() {
    let app = TestApp::new().await;
    let owner = pool_of(&app, 2).await;
    let g = group(&app, &owner, "g", &[P1]).await;
    let id = g["id"].as_str().unwrap().to_string();
    let stale = app
        .state
        .app
        .conversations
        .get_conversation(ConversationId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    let added = app
        .post(format!("/api/conversations/{id}/participants"), json!({"phoneNumber": P2}), Some(&owner.token))
        .await;
    assert_eq!(added.status, 201);

    // Closing from the stale read would leave P2's route behind: the store refuses it.
    let refused = app.state.app.conversations.close_conversation(&stale).await;
    assert!(matches!(refused, Err(switchboard::core::ports::StoreError::Contention)), "{refused:?}");
    // Through the API the close re-reads and frees both routes.
    assert_eq!(app.delete(format!("/api/conversations/{id}"), &owner.token).await.status, 200);
    let pairs = [(e164(&us_number(1)), e164(P1)), (e164(&us_number(1)), e164(P2))];
    assert!(app.state.app.conversations.taken_routes(&pairs).await.unwrap().is_empty());
}
