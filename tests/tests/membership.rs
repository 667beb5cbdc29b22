//! Who may do what in a conversation, and the membership rules.

use serde_json::{json, Value};
use switchboard_tests::{us_number, Reply, Session, TestApp};

const P1: &str = "+14155550201";
const P2: &str = "+14155550202";

struct Group {
    id: String,
    conversation: Value,
}

impl Group {
    fn participant_id(&self, key: &str, value: &str) -> String {
        self.conversation["participants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p[key] == value)
            .unwrap_or_else(|| panic!("no participant with {key}={value}"))["id"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

async fn create_group(app: &TestApp, owner: &Session, participants: Value) -> Group {
    let reply = app
        .post(
            "/api/conversations/group",
            json!({"name": "Team", "participants": participants}),
            Some(&owner.token),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    Group {
        id: reply.body["conversation"]["id"].as_str().unwrap().to_string(),
        conversation: reply.body["conversation"].clone(),
    }
}

/// (method, path, body, status for an outsider, for a member, for an admin)
type Row<'a> = (&'a str, &'a str, Option<Value>, u16, u16, u16);

#[tokio::test]
async fn authorization_matrix_for_every_conversation_endpoint() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1), us_number(2)]).await;
    let owner = app.register("owner").await;
    let member = app.register("member").await;
    let target = app.register("target").await;
    let outsider = app.register("outsider").await;
    let g = create_group(
        &app,
        &owner,
        json!([{"userId": member.user_id}, {"userId": target.user_id}, {"phoneNumber": P1}]),
    )
    .await;
    let target_pid = g.participant_id("userId", &target.user_id);
    let base = format!("/api/conversations/{}", g.id);
    let participants = format!("{base}/participants");
    let target_path = format!("{participants}/{target_pid}");

    // Admin last, as it changes things.
    let matrix: Vec<Row> = vec![
        ("GET", &base, None, 404, 200, 200),
        ("GET", &participants, None, 404, 200, 200),
        ("POST", &participants, Some(json!({"phoneNumber": P2})), 404, 403, 201),
        ("PATCH", &target_path, Some(json!({"role": "admin"})), 404, 403, 200),
        ("DELETE", &target_path, None, 404, 403, 200),
        ("DELETE", &base, None, 404, 403, 200),
    ];
    for (method, path, body, outsider_status, member_status, admin_status) in matrix {
        let anonymous = app.send(method, path, body.clone(), None).await;
        assert_eq!(anonymous.status, 401, "anonymous {method} {path}");
        for (who, session, expected) in [
            ("outsider", &outsider, outsider_status),
            ("member", &member, member_status),
            ("admin", &owner, admin_status),
        ] {
            let reply: Reply = app.send(method, path, body.clone(), Some(&session.token)).await;
            assert_eq!(reply.status, expected, "{who} {method} {path}: {:?}", reply.body);
        }
    }
    let outsiders_inbox = app.get("/api/conversations", &outsider.token).await;
    assert_eq!(outsiders_inbox.body["conversations"], json!([]));
}

#[tokio::test]
async fn a_removed_participant_loses_access_at_once_and_leaving_works() {
    let app = TestApp::new().await;
    let owner = app.register("owner").await;
    let mia = app.register("mia").await;
    let max = app.register("max").await;
    let g = create_group(&app, &owner, json!([{"userId": mia.user_id}, {"userId": max.user_id}])).await;
    let path = format!("/api/conversations/{}", g.id);
    assert_eq!(app.get(&path, &mia.token).await.status, 200);

    let removed = app
        .delete(format!("{path}/participants/{}", g.participant_id("userId", &mia.user_id)), &owner.token)
        .await;
    assert_eq!(removed.status, 200);
    assert_eq!(app.get(&path, &mia.token).await.status, 404);
    assert_eq!(app.get("/api/conversations", &mia.token).await.body["conversations"], json!([]));

    let left = app
        .delete(format!("{path}/participants/{}", g.participant_id("userId", &max.user_id)), &max.token)
        .await;
    assert_eq!(left.status, 200, "anyone may leave");
    assert_eq!(app.get(&path, &max.token).await.status, 404);
}

#[tokio::test]
async fn the_last_admin_leaving_promotes_the_oldest_member() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1)]).await;
    let owner = app.register("owner").await;
    let mia = app.register("mia").await;
    let max = app.register("max").await;
    let g = create_group(
        &app,
        &owner,
        json!([{"userId": mia.user_id}, {"userId": max.user_id}, {"phoneNumber": P1}]),
    )
    .await;
    let path = format!("/api/conversations/{}", g.id);

    let owner_pid = g.participant_id("userId", &owner.user_id);
    let demote_self = app
        .send(
            "PATCH",
            format!("{path}/participants/{owner_pid}"),
            Some(json!({"role": "member"})),
            Some(&owner.token),
        )
        .await;
    assert_eq!((demote_self.status, demote_self.code()), (409, "last_admin"));
    let sms_admin = app
        .send(
            "PATCH",
            format!("{path}/participants/{}", g.participant_id("kind", "sms")),
            Some(json!({"role": "admin"})),
            Some(&owner.token),
        )
        .await;
    assert_eq!((sms_admin.status, sms_admin.field()), (422, "role"));

    let left = app.delete(format!("{path}/participants/{owner_pid}"), &owner.token).await;
    assert_eq!(left.status, 200, "{:?}", left.body);
    assert_eq!(left.body["promoted"]["userId"], json!(mia.user_id), "mia joined before max");
    let read = app.get(&path, &mia.token).await;
    let mia_now = read.body["conversation"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["userId"] == json!(mia.user_id))
        .unwrap()
        .clone();
    assert_eq!(mia_now["role"], "admin");
    // Mia can now administer.
    let added =
        app.post(format!("{path}/participants"), json!({"userId": owner.user_id}), Some(&mia.token)).await;
    assert_eq!(added.status, 201);
}

#[tokio::test]
async fn the_last_web_user_leaving_closes_the_group_and_frees_its_routes() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1)]).await;
    let owner = app.register("owner").await;
    let g = create_group(&app, &owner, json!([{"phoneNumber": P1}])).await;
    let left = app
        .delete(
            format!(
                "/api/conversations/{}/participants/{}",
                g.id,
                g.participant_id("userId", &owner.user_id)
            ),
            &owner.token,
        )
        .await;
    assert_eq!(left.status, 200);
    let read = app.get(format!("/api/conversations/{}", g.id), &owner.token).await;
    assert_eq!(read.body["conversation"]["status"], "closed");
    // The only pool number can serve P1 again.
    create_group(&app, &owner, json!([{"phoneNumber": P1}])).await;
}

#[tokio::test]
async fn group_size_is_limited_and_closed_or_direct_conversations_do_not_change_membership() {
    let app = TestApp::with_settings(&[("MAX_GROUP_SIZE", "3")]).await;
    let owner = app.register("owner").await;
    let others: Vec<Session> =
        futures::future::join_all(["ann", "bea", "cat"].map(|n| app.register(n))).await;
    let too_many = json!({"name": "Big", "participants": others.iter().map(|u| json!({"userId": u.user_id})).collect::<Vec<_>>()});
    let reply = app.post("/api/conversations/group", too_many, Some(&owner.token)).await;
    assert_eq!((reply.status, reply.field()), (422, "participants"));

    let g = create_group(&app, &owner, json!([{"userId": others[0].user_id}, {"userId": others[1].user_id}]))
        .await;
    let full = app
        .post(
            format!("/api/conversations/{}/participants", g.id),
            json!({"userId": others[2].user_id}),
            Some(&owner.token),
        )
        .await;
    assert_eq!((full.status, full.code()), (409, "group_full"));
    let twice = app
        .post(
            format!("/api/conversations/{}/participants", g.id),
            json!({"userId": others[0].user_id}),
            Some(&owner.token),
        )
        .await;
    assert_eq!((twice.status, twice.code()), (409, "already_participant"));

    assert_eq!(app.delete(format!("/api/conversations/{}", g.id), &owner.token).await.status, 200);
    let closed = app
        .delete(
            format!(
                "/api/conversations/{}/participants/{}",
                g.id,
                g.participant_id("userId", &others[0].user_id)
            ),
            &owner.token,
        )
        .await;
    assert_eq!((closed.status, closed.code()), (409, "conversation_closed"));

    let direct =
        app.post("/api/conversations/direct", json!({"userId": others[2].user_id}), Some(&owner.token)).await;
    let direct_id = direct.body["conversation"]["id"].as_str().unwrap();
    let add = app
        .post(
            format!("/api/conversations/{direct_id}/participants"),
            json!({"userId": others[0].user_id}),
            Some(&owner.token),
        )
        .await;
    assert_eq!((add.status, add.code()), (409, "not_a_group"));
}

#[tokio::test]
async fn bad_conversation_input_never_gives_a_500() {
    let app = TestApp::new().await;
    let owner = app.register("owner").await;
    let token = Some(owner.token.as_str());
    let group = "/api/conversations/group";
    let many: Vec<Value> =
        (0..60).map(|i| json!({"phoneNumber": format!("+1415555{:04}", 3000 + i)})).collect();
    let cases: Vec<(&str, String, Value, u16, &str)> = vec![
        ("POST", group.into(), json!({"name": "  "}), 422, "name"),
        ("POST", group.into(), json!({"name": 7}), 400, "name"),
        ("POST", group.into(), json!({"name": "x", "participants": "everyone"}), 400, "participants"),
        (
            "POST",
            group.into(),
            json!({"name": "x", "participants": [{"userId": owner.user_id, "phoneNumber": P1}]}),
            422,
            "participants[0].userId",
        ),
        ("POST", group.into(), json!({"name": "x", "participants": [{}]}), 422, "participants[0].userId"),
        (
            "POST",
            group.into(),
            json!({"name": "x", "participants": [{"phoneNumber": P1}, {"phoneNumber": "nope"}]}),
            422,
            "participants[1].phoneNumber",
        ),
        (
            "POST",
            group.into(),
            json!({"name": "x", "participants": [{"phoneNumber": P1}, {"phoneNumber": "(415) 555-0201"}]}),
            422,
            "participants[1].phoneNumber",
        ),
        ("POST", group.into(), json!({"name": "x", "participants": many}), 422, "participants"),
        (
            "POST",
            group.into(),
            json!({"name": "x", "participants": [{"userId": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}]}),
            404,
            "",
        ),
        ("POST", "/api/conversations/sms".into(), json!({"phoneNumber": ["x"]}), 400, "phoneNumber"),
        ("POST", "/api/conversations/direct".into(), json!({}), 400, "userId"),
        (
            "PATCH",
            "/api/conversations/01ARZ3NDEKTSV4RRFFQ69G5FAV/participants/x".into(),
            json!({"role": "owner"}),
            400,
            "role",
        ),
        ("GET", "/api/conversations/not-an-id".into(), Value::Null, 404, ""),
        ("GET", format!("/api/conversations/{}", "9".repeat(5000)), Value::Null, 404, ""),
        (
            "GET",
            "/api/conversations/01ARZ3NDEKTSV4RRFFQ69G5FAV/participants/x/y".into(),
            Value::Null,
            404,
            "",
        ),
        ("GET", "/api/conversations/direct".into(), Value::Null, 405, ""),
        ("POST", "/api/conversations".into(), json!({}), 405, ""),
        ("GET", "/api/conversations?cursor=bogus".into(), Value::Null, 400, "cursor"),
    ];
    for (method, path, body, status, field) in cases {
        let body = if body.is_null() { None } else { Some(body) };
        let reply = app.send(method, &path, body.clone(), token).await;
        let label = format!("{method} {} {:?}", path.chars().take(80).collect::<String>(), body);
        assert_eq!(reply.status, status, "{label}: {:?}", reply.body);
        assert_eq!(reply.field(), field, "{label}: {:?}", reply.body);
    }
}

#[tokio::test]
async fn concurrent_role_changes_keep_an_admin() {
    let app = TestApp::new().await;
    let owner = app.register("owner").await;
    let mia = app.register("mia").await;
    let g = create_group(&app, &owner, json!([{"userId": mia.user_id}])).await;
    let mia_path =
        format!("/api/conversations/{}/participants/{}", g.id, g.participant_id("userId", &mia.user_id));
    let replies = futures::future::join_all(
        (0..5).map(|_| app.send("PATCH", &mia_path, Some(json!({"role": "admin"})), Some(&owner.token))),
    )
    .await;
    assert!(replies.iter().any(|r| r.status == 200));
    assert!(
        replies.iter().all(|r| r.status == 200 || r.status == 409),
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );

    // Two admins now, whatever the race: the owner leaves, and mia cannot demote herself.
    let owner_path =
        format!("/api/conversations/{}/participants/{}", g.id, g.participant_id("userId", &owner.user_id));
    assert_eq!(app.delete(&owner_path, &owner.token).await.status, 200);
    let demote = app.send("PATCH", &mia_path, Some(json!({"role": "member"})), Some(&mia.token)).await;
    assert_eq!((demote.status, demote.code()), (409, "last_admin"));
}
