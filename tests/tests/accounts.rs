//! Accounts against the local DynamoDB server: register, log in, refresh, profile, deactivation.

use futures::future::join_all;
use serde_json::json;
use switchboard_tests::{us_number, TestApp, ADMIN_EMAIL, PASSWORD};

#[tokio::test]
async fn register_login_refresh_and_profile() {
    let app = TestApp::new().await;
    let reply = app
        .post(
            "/api/auth/register",
            json!({"username": "Ada", "email": "Ada@Example.com", "password": PASSWORD,
                        "firstName": "Ada", "lastName": "Lovelace", "phoneNumber": "+44 20 7946 0958"}),
            None,
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let user = &reply.body["user"];
    assert_eq!(user["username"], "Ada");
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["firstName"], "Ada");
    assert_eq!(user["phoneNumber"], "+442079460958", "a British number stays British");
    assert_eq!(user["virtualPhoneNumber"], serde_json::Value::Null);
    assert_eq!(user["role"], "user");
    assert!(user.get("passwordHash").is_none() && !reply.body.to_string().contains("argon2"));

    for login in [
        json!({"email": "ADA@example.com", "password": PASSWORD}),
        json!({"username": "ada", "password": PASSWORD}),
    ] {
        let reply = app.post("/api/auth/login", login, None).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(reply.body["user"]["username"], "Ada");
    }

    let wrong = app
        .post("/api/auth/login", json!({"email": "ada@example.com", "password": "wrong password"}), None)
        .await;
    let unknown =
        app.post("/api/auth/login", json!({"email": "bob@example.com", "password": PASSWORD}), None).await;
    assert_eq!((wrong.status, unknown.status), (401, 401));
    assert_eq!(wrong.body, unknown.body, "unknown users and wrong passwords look alike");

    let session = switchboard_tests::session_of(&reply.body);
    let refreshed = app.post("/api/auth/refresh", json!({"refreshToken": session.refresh_token}), None).await;
    assert_eq!(refreshed.status, 200, "{:?}", refreshed.body);
    let new_token = refreshed.body["token"].as_str().unwrap();
    let profile = app.get("/api/auth/profile", new_token).await;
    assert_eq!((profile.status, profile.body["user"]["id"].clone()), (200, json!(session.user_id)));

    // An access token is not a refresh token, and vice versa.
    let misuse = app.post("/api/auth/refresh", json!({"refreshToken": session.token}), None).await;
    assert_eq!(misuse.status, 401);
    let misuse = app.get("/api/users/profile", &session.refresh_token).await;
    assert_eq!(misuse.status, 401);
}

#[tokio::test]
async fn admins_are_the_configured_emails() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    assert_eq!(admin.user["role"], "admin");
    assert_eq!(admin.user["email"], ADMIN_EMAIL);
}

#[tokio::test]
async fn email_and_username_are_unique_case_insensitively() {
    let app = TestApp::new().await;
    app.register_with("grace", "grace@example.com").await;
    let body = |username: &str, email: &str| {
        Some(json!({"username": username, "email": email, "password": PASSWORD}))
    };
    let same_email = app.send("POST", "/api/auth/register", body("other", "GRACE@example.com"), None).await;
    assert_eq!((same_email.status, same_email.code()), (409, "email_taken"));
    let same_name = app.send("POST", "/api/auth/register", body("GRACE", "g2@example.com"), None).await;
    assert_eq!((same_name.status, same_name.code()), (409, "username_taken"));
}

#[tokio::test]
async fn concurrent_registrations_of_one_email_or_username_make_one_user() {
    let app = TestApp::new().await;
    let replies = join_all((0..10).map(|i| {
        app.post(
            "/api/auth/register",
            json!({"username": format!("user{i}"), "email": "same@example.com", "password": PASSWORD}),
            None,
        )
    }))
    .await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 9, "{statuses:?}");

    let replies = join_all((0..10).map(|i| {
        app.post(
            "/api/auth/register",
            json!({"username": "taken", "email": format!("u{i}@example.com"), "password": PASSWORD}),
            None,
        )
    }))
    .await;
    assert_eq!(replies.iter().filter(|r| r.status == 201).count(), 1);
    assert!(replies
        .iter()
        .filter(|r| r.status != 201)
        .all(|r| r.status == 409 && r.code() == "username_taken"));

    // The store holds exactly two users, and no orphaned uniqueness item.
    let admin = app.admin().await;
    let listed = app.get("/api/users?limit=100", &admin.token).await;
    assert_eq!(listed.body["users"].as_array().unwrap().len(), 3, "{:?}", listed.body);
    let winners: Vec<_> = replies.iter().filter(|r| r.status == 201).collect();
    let login = app.post("/api/auth/login", json!({"username": "taken", "password": PASSWORD}), None).await;
    assert_eq!(login.body["user"]["id"], winners[0].body["user"]["id"]);
}

#[tokio::test]
async fn profile_updates_normalise_and_keep_email_unique() {
    let app = TestApp::new().await;
    let ada = app.register("ada").await;
    app.register("bob").await;
    let put = |body| app.put("/api/users/profile", body, &ada.token);

    let reply = put(json!({"firstName": " Ada ", "phoneNumber": "(415) 555-0142"})).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["user"]["firstName"], "Ada");
    assert_eq!(reply.body["user"]["phoneNumber"], "+14155550142");

    let reply = put(json!({"phoneNumber": null})).await;
    assert_eq!(reply.body["user"]["phoneNumber"], serde_json::Value::Null);
    assert_eq!(reply.body["user"]["firstName"], "Ada", "absent fields are left alone");

    let taken = put(json!({"email": "bob@example.com"})).await;
    assert_eq!((taken.status, taken.code()), (409, "email_taken"));
    let invalid = put(json!({"phoneNumber": "12"})).await;
    assert_eq!((invalid.status, invalid.field()), (422, "phoneNumber"));

    let moved = put(json!({"email": "lovelace@example.com"})).await;
    assert_eq!((moved.status, moved.body["user"]["email"].clone()), (200, json!("lovelace@example.com")));
    let old =
        app.post("/api/auth/login", json!({"email": "ada@example.com", "password": PASSWORD}), None).await;
    let new = app
        .post("/api/auth/login", json!({"email": "lovelace@example.com", "password": PASSWORD}), None)
        .await;
    assert_eq!((old.status, new.status), (401, 200));
    // The old email is free again.
    app.register_with("ada2", "ada@example.com").await;

    let read = app.get("/api/users/profile", &ada.token).await;
    assert_eq!(read.body["user"]["email"], "lovelace@example.com");
}

#[tokio::test]
async fn a_deactivated_users_tokens_stop_working_and_their_number_is_freed() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let number = us_number(1);
    app.add_numbers(&admin, std::slice::from_ref(&number)).await;
    let eve = app.register("eve").await;
    let got = app.post("/api/users/virtual-number", json!({}), Some(&eve.token)).await;
    assert_eq!(got.body["user"]["virtualPhoneNumber"], json!(number));

    let path = format!("/api/users/{}/status", eve.user_id);
    let forbidden = app.put(&path, json!({"active": false}), &eve.token).await;
    assert_eq!(forbidden.status, 403);
    let off = app.put(&path, json!({"active": false}), &admin.token).await;
    assert_eq!((off.status, off.body["user"]["active"].clone()), (200, json!(false)), "{:?}", off.body);
    assert_eq!(off.body["user"]["virtualPhoneNumber"], serde_json::Value::Null);

    assert_eq!(app.get("/api/users/profile", &eve.token).await.status, 401);
    let refresh = app.post("/api/auth/refresh", json!({"refreshToken": eve.refresh_token}), None).await;
    assert_eq!(refresh.status, 401);
    let login = app.post("/api/auth/login", json!({"username": "eve", "password": PASSWORD}), None).await;
    assert_eq!((login.status, login.code()), (403, "forbidden"));
    let directory = app.get("/api/users", &admin.token).await;
    assert!(!directory.body.to_string().contains("\"eve\""), "deactivated users leave the directory");
    let free = app.get("/api/numbers?status=free", &admin.token).await;
    assert_eq!(free.body["numbers"][0]["phoneNumber"], json!(number), "the number went back to the pool");

    let on = app.put(&path, json!({"active": true}), &admin.token).await;
    assert_eq!(on.status, 200);
    let login = app.post("/api/auth/login", json!({"username": "eve", "password": PASSWORD}), None).await;
    assert_eq!(login.status, 200);
    // Tokens issued before the deactivation stay dead.
    assert_eq!(app.get("/api/users/profile", &eve.token).await.status, 401);
}

#[tokio::test]
async fn missing_bad_and_expired_tokens_are_401() {
    let app = TestApp::with_settings(&[("ACCESS_TOKEN_TTL_SECONDS", "1")]).await;
    let ada = app.register("ada").await;
    let other_secret =
        TestApp::with_settings(&[("JWT_SECRET", "another-secret-another-secret-another")]).await;
    let foreign = other_secret.register("ada").await;

    for (name, token) in
        [("none", None), ("garbage", Some("garbage")), ("foreign", Some(foreign.token.as_str()))]
    {
        let reply = app.send("GET", "/api/users/profile", None, token).await;
        assert_eq!((reply.status, reply.code()), (401, "unauthorized"), "{name}");
        assert_eq!(reply.headers["www-authenticate"], "Bearer");
    }
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let expired = app.get("/api/users/profile", &ada.token).await;
    assert_eq!(expired.status, 401);
    // The refresh token outlives the access token.
    let refreshed = app.post("/api/auth/refresh", json!({"refreshToken": ada.refresh_token}), None).await;
    assert_eq!(refreshed.status, 200);
}

#[tokio::test]
async fn login_costs_two_reads_and_register_one_transaction() {
    let app = TestApp::new().await;
    let before = app.round_trips();
    app.register("ada").await;
    assert_eq!(app.round_trips() - before, 1, "register: one TransactWriteItems");
    let before = app.round_trips();
    let reply =
        app.post("/api/auth/login", json!({"email": "ada@example.com", "password": PASSWORD}), None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(app.round_trips() - before, 2, "login: uniqueness item + user");
}

#[tokio::test]
async fn an_admin_email_cannot_be_taken_through_the_profile() {
    let app = TestApp::new().await;
    let eve = app.register("eve").await;
    let reply = app.put("/api/users/profile", json!({"email": ADMIN_EMAIL}), &eve.token).await;
    assert_eq!(reply.status, 403);
    assert_eq!(app.get("/api/auth/profile", &eve.token).await.body["user"]["role"], "user");
    // Over-long login values cannot match anyone and never reach the table.
    let long = app
        .post(
            "/api/auth/login",
            json!({"email": format!("{}@example.com", "a".repeat(3000)), "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(long.status, 401);
    let long =
        app.post("/api/auth/login", json!({"username": "u".repeat(3000), "password": PASSWORD}), None).await;
    assert_eq!(long.status, 401);
}
