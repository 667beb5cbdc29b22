//! The number pool and virtual numbers against the local DynamoDB server.

use futures::future::join_all;
use serde_json::json;
use switchboard_tests::{us_number, TestApp};

#[tokio::test]
async fn only_admins_manage_the_pool() {
    let app = TestApp::new().await;
    let user = app.register("ada").await;
    for (method, path, body) in [
        ("GET", "/api/numbers", None),
        ("POST", "/api/numbers", Some(json!({"phoneNumber": us_number(1)}))),
        ("DELETE", "/api/numbers/+14155550101", None),
    ] {
        let anonymous = app.send(method, path, body.clone(), None).await;
        assert_eq!(anonymous.status, 401, "{method} {path}");
        let reply = app.send(method, path, body, Some(&user.token)).await;
        assert_eq!((reply.status, reply.code()), (403, "forbidden"), "{method} {path}");
    }
}

#[tokio::test]
async fn admins_add_list_and_remove_numbers() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let add = |n: &str| app.post("/api/numbers", json!({"phoneNumber": n}), Some(&admin.token));

    let added = add("(415) 555-0101").await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    assert_eq!(added.body["number"]["phoneNumber"], "+14155550101");
    assert_eq!(added.body["number"]["status"], "free");
    assert_eq!(add("+1 415 555 0101").await.code(), "number_exists");
    let invalid = add("555").await;
    assert_eq!((invalid.status, invalid.field()), (422, "phoneNumber"));
    let uk = add("+44 20 7946 0958").await;
    assert_eq!(uk.body["number"]["phoneNumber"], "+442079460958");

    let all = app.get("/api/numbers", &admin.token).await;
    assert_eq!(all.body["numbers"].as_array().unwrap().len(), 2);

    // A held number cannot be removed; a free one can; an unknown one is 404.
    let ada = app.register("ada").await;
    let chosen =
        app.post("/api/users/virtual-number", json!({"phoneNumber": "+14155550101"}), Some(&ada.token)).await;
    assert_eq!(chosen.status, 200, "{:?}", chosen.body);
    let assigned = app.get("/api/numbers?status=assigned", &admin.token).await;
    assert_eq!(assigned.body["numbers"][0]["ownerId"], json!(ada.user_id));
    let held = app.delete("/api/numbers/%2B14155550101", &admin.token).await;
    assert_eq!((held.status, held.code()), (409, "number_assigned"));
    let removed = app.delete("/api/numbers/+442079460958", &admin.token).await;
    assert_eq!(removed.status, 200, "{:?}", removed.body);
    let unknown = app.delete("/api/numbers/+442079460958", &admin.token).await;
    assert_eq!(unknown.status, 404);
    let bad_filter = app.get("/api/numbers?status=weird", &admin.token).await;
    assert_eq!((bad_filter.status, bad_filter.field()), (400, "status"));
}

#[tokio::test]
async fn users_get_release_and_list_virtual_numbers() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1), us_number(2)]).await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;

    let got = app.send("POST", "/api/users/virtual-number", None, Some(&ada.token)).await;
    assert_eq!(got.status, 200, "an empty body means any free number: {:?}", got.body);
    let ada_number = got.body["user"]["virtualPhoneNumber"].as_str().unwrap().to_string();
    let again = app.post("/api/users/virtual-number", json!({}), Some(&ada.token)).await;
    assert_eq!((again.status, again.code()), (409, "already_has_number"));

    let taken =
        app.post("/api/users/virtual-number", json!({"phoneNumber": ada_number}), Some(&bob.token)).await;
    assert_eq!((taken.status, taken.code()), (409, "number_taken"));
    let outside =
        app.post("/api/users/virtual-number", json!({"phoneNumber": us_number(9)}), Some(&bob.token)).await;
    assert_eq!(outside.status, 404);
    let bob_got = app.post("/api/users/virtual-number", json!({}), Some(&bob.token)).await;
    assert_eq!(bob_got.status, 200);

    let listed = app.get("/api/users/virtual-numbers", &bob.token).await;
    let mut holders: Vec<&str> =
        listed.body["users"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    holders.sort();
    assert_eq!(holders, ["ada", "bob"]);
    assert!(!listed.body.to_string().contains("@example.com"), "the listing shows no emails");

    let carol = app.register("carol").await;
    let none_left = app.post("/api/users/virtual-number", json!({}), Some(&carol.token)).await;
    assert_eq!((none_left.status, none_left.code()), (409, "no_free_number"));

    let released = app.delete("/api/users/virtual-number", &ada.token).await;
    assert_eq!(released.status, 200);
    assert_eq!(released.body["user"]["virtualPhoneNumber"], serde_json::Value::Null);
    let twice = app.delete("/api/users/virtual-number", &ada.token).await;
    assert_eq!(twice.status, 404);
    let carol_got = app.post("/api/users/virtual-number", json!({}), Some(&carol.token)).await;
    assert_eq!(
        carol_got.body["user"]["virtualPhoneNumber"],
        json!(ada_number),
        "released numbers are reused"
    );
}

async fn race_for_one_number(body: serde_json::Value) {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let number = us_number(7);
    app.add_numbers(&admin, std::slice::from_ref(&number)).await;
    let mut users = Vec::new();
    for i in 0..20 {
        users.push(app.register(&format!("racer{i}")).await);
    }
    let replies = join_all(
        users
            .iter()
            .map(|u| app.send("POST", "/api/users/virtual-number", Some(body.clone()), Some(&u.token))),
    )
    .await;
    let winners: Vec<usize> = (0..20).filter(|i| replies[*i].status == 200).collect();
    assert_eq!(winners.len(), 1, "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    assert!(replies.iter().filter(|r| r.status != 200).all(|r| r.status == 409), "losers get 409");

    // The store agrees: the number has one owner, and only that user holds a number.
    let assigned = app.get("/api/numbers?status=assigned", &admin.token).await;
    let owners = assigned.body["numbers"].as_array().unwrap();
    assert_eq!(owners.len(), 1);
    assert_eq!(owners[0]["ownerId"], json!(users[winners[0]].user_id));
    for (i, user) in users.iter().enumerate() {
        let profile = app.get("/api/users/profile", &user.token).await;
        let expected = if i == winners[0] { json!(number) } else { serde_json::Value::Null };
        assert_eq!(profile.body["user"]["virtualPhoneNumber"], expected);
    }
}

#[tokio::test]
async fn twenty_concurrent_requests_for_the_last_free_number_have_one_winner() {
    race_for_one_number(json!({})).await;
}

#[tokio::test]
async fn twenty_concurrent_requests_for_one_chosen_number_have_one_winner() {
    race_for_one_number(json!({"phoneNumber": us_number(7)})).await;
}

#[tokio::test]
async fn assigning_a_chosen_number_is_one_transaction() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1)]).await;
    let ada = app.register("ada").await;
    let before = app.round_trips();
    let reply =
        app.post("/api/users/virtual-number", json!({"phoneNumber": us_number(1)}), Some(&ada.token)).await;
    assert_eq!(reply.status, 200);
    // One GetItem authenticates the caller; the assignment itself is one TransactWriteItems.
    assert_eq!(app.round_trips() - before, 2);
}

#[tokio::test]
async fn listings_page_with_cursors_and_reject_forged_ones() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    for name in ["amy", "ann", "bea", "ben", "cat"] {
        app.register(name).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/users?limit=2&cursor={c}"),
            None => "/api/users?limit=2".to_string(),
        };
        let page = app.get(&path, &admin.token).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        let users = page.body["users"].as_array().unwrap();
        assert!(users.len() <= 2);
        seen.extend(users.iter().map(|u| u["username"].as_str().unwrap().to_string()));
        match page.body["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, ["admin", "amy", "ann", "bea", "ben", "cat"], "every user once, by username");

    let prefixed = app.get("/api/users?q=A", &admin.token).await;
    let names: Vec<_> =
        prefixed.body["users"].as_array().unwrap().iter().map(|u| u["username"].clone()).collect();
    assert_eq!(names, [json!("admin"), json!("amy"), json!("ann")]);

    // A cursor from the pool listing is no cursor for the directory; garbage is a 400 too.
    app.add_numbers(&admin, &[us_number(1), us_number(2)]).await;
    let numbers = app.get("/api/numbers?limit=1", &admin.token).await;
    let pool_cursor = numbers.body["nextCursor"].as_str().expect("a next page").to_string();
    for bad in [pool_cursor.as_str(), "not-a-cursor", "e30"] {
        let reply = app.get(&format!("/api/users?cursor={bad}"), &admin.token).await;
        assert_eq!((reply.status, reply.field()), (400, "cursor"), "{bad}");
    }
    let bad_limit = app.get("/api/users?limit=abc", &admin.token).await;
    assert_eq!((bad_limit.status, bad_limit.field()), (400, "limit"));
}

#[tokio::test]
async fn a_cursor_only_resumes_the_listing_that_made_it() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1), us_number(2), us_number(3)]).await;
    for name in ["amy", "ann", "bea", "ben"] {
        let user = app.register(name).await;
        if name.starts_with('a') {
            app.give_number(&user).await;
        }
    }
    let assigned = app.get("/api/numbers?status=assigned&limit=1", &admin.token).await;
    let cursor = assigned.body["nextCursor"].as_str().expect("a next page").to_string();
    let reused = app.get(format!("/api/numbers?status=free&cursor={cursor}"), &admin.token).await;
    assert_eq!((reused.status, reused.field()), (400, "cursor"));

    let a_page = app.get("/api/users?q=a&limit=1", &admin.token).await;
    let cursor = a_page.body["nextCursor"].as_str().expect("a next page").to_string();
    let other_prefix = app.get(format!("/api/users?q=b&cursor={cursor}"), &admin.token).await;
    assert_eq!((other_prefix.status, other_prefix.field()), (400, "cursor"));
    let same_prefix = app.get(format!("/api/users?q=a&cursor={cursor}"), &admin.token).await;
    assert_eq!(same_prefix.status, 200);
    let long_q = app.get(format!("/api/users?q={}", "a".repeat(5000)), &admin.token).await;
    assert_eq!((long_q.status, long_q.body["users"].clone()), (200, json!([])));
}
