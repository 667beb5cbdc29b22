//! The fast tier of handler behaviour: every function's real route table and handlers, over the
//! in-memory fakes (`switchboard_tests::fast::FastApp`). No server, no Twilio, no AWS: each test
//! builds its own app, so they run in parallel and in well under a second each. Tests are named
//! GIVEN / WHEN / THEN where a name alone says it; the comments inside mark the steps otherwise.
//!
//! The slow tier (the other files here, against moto) keeps what only a real table shows: request
//! counts per operation, the key layout, concurrency under DynamoDB's own conditions.

use std::collections::{BTreeMap, HashSet};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use switchboard::api::webhook::EMPTY_TWIML;
use switchboard::api::Access;
use switchboard::core::domain::ids::DeliveryId;
use switchboard::core::domain::message::DeliveryStatus;
use switchboard::core::ports::queue::Job;
use switchboard::core::ports::sms::SendError;
use switchboard::core::ports::MessageStore;
use switchboard::core::service::{pipeline, realtime};
use switchboard::core::AppError;
use switchboard_tests::fast::{
    self, conversation_id, e164, participant_id, user_id, FastApp, INBOUND_PATH, PUBLIC_BASE_URL, STATUS_PATH,
};
use switchboard_tests::{functions, message_sid, proxy_of, session_of, us_number, Reply, Session, PASSWORD};

const PAT: &str = "+14155550401";
const SAM: &str = "+14155550402";
const KIM: &str = "+14155550403";
const LEE: &str = "+14155550404";
const STRANGER: &str = "+14155550499";
/// A ULID that names nothing.
const NOBODY: &str = "01ARZ3NDEKTSV4RRFFQ69G5FAV";

fn assert_twiml(reply: &Reply) {
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.headers["content-type"], "text/xml");
    assert_eq!(reply.body, json!(EMPTY_TWIML));
}

/// The delivery of `message` (as the API answered it) to `phone`.
fn delivery_to(message: &Value, phone: &str) -> Value {
    message["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .find(|d| d["phoneNumber"] == phone)
        .unwrap_or_else(|| panic!("no delivery to {phone}: {message}"))
        .clone()
}

fn stored_delivery(app: &FastApp, delivery: &Value) -> switchboard::core::domain::message::Delivery {
    let id = DeliveryId::parse(delivery["id"].as_str().expect("a delivery id")).expect("a delivery id");
    app.store.delivery(&id).expect("the delivery is stored")
}

/// Deliveries by id: a send answers them in participant order, the history by participant id.
fn by_id(deliveries: &Value) -> BTreeMap<String, Value> {
    deliveries.as_array().expect("deliveries").iter().map(|d| (id_of(d), d.clone())).collect()
}

fn id_of(value: &Value) -> String {
    value["id"].as_str().expect("an id").to_string()
}

fn contents(messages: &[Value]) -> HashSet<String> {
    messages.iter().map(|m| m["content"].as_str().unwrap_or_default().to_string()).collect()
}

fn rejected(code: i64) -> Result<switchboard::core::ports::sms::Accepted, SendError> {
    Err(SendError::Rejected { code: Some(code), message: format!("Twilio error {code}") })
}

/// The message as `who` reads it in the conversation's history now.
async fn shown(app: &FastApp, conversation_id: &str, who: &Session, message: &Value) -> Value {
    let history = app.history(conversation_id, who).await;
    history
        .into_iter()
        .find(|m| m["id"] == message["id"])
        .unwrap_or_else(|| panic!("not in the history: {message}"))
}

/// Sends `text` as `who` (the answer shows every SMS `pending`), plays the delivery pipeline, and
/// returns the message as its history then shows it: what the sender sees in the end.
async fn send_and_deliver(app: &FastApp, who: &Session, conversation_id: &str, text: &str) -> Value {
    let sent = app.send_text(who, conversation_id, text).await;
    let pending: Vec<&Value> =
        sent["deliveries"].as_array().unwrap().iter().filter(|d| d["status"] != "opted_out").collect();
    assert!(pending.iter().all(|d| d["status"] == "pending" && d["twilioSid"].is_null()), "{sent}");
    app.run_pipeline().await;
    shown(app, conversation_id, who, &sent).await
}

// === auth =======================================================================================

#[tokio::test]
async fn given_a_registered_user_when_logging_in_refreshing_and_reading_the_profile_then_each_names_that_user(
) {
    let app = FastApp::new();
    // GIVEN Ada, registered with names and a personal phone typed as people type it
    let reply = app
        .post(
            "/api/auth/register",
            json!({"username": "Ada", "email": "Ada@Example.com", "password": PASSWORD,
                   "firstName": "Ada", "lastName": "Lovelace", "phoneNumber": "(415) 555-0142"}),
            None,
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let user = &reply.body["user"];
    assert_eq!((user["username"].clone(), user["email"].clone()), (json!("Ada"), json!("ada@example.com")));
    assert_eq!(user["phoneNumber"], "+14155550142");
    assert_eq!((user["role"].clone(), user["active"].clone()), (json!("user"), json!(true)));
    assert!(user["virtualPhoneNumber"].is_null());
    assert_eq!(reply.body["expiresIn"], 900);
    assert!(user.get("passwordHash").is_none() && !reply.body.to_string().contains("argon2"));
    let ada = session_of(&reply.body);

    // WHEN she logs in by email or by username, in any case
    for login in [
        json!({"email": "ADA@example.com", "password": PASSWORD}),
        json!({"username": "ada", "password": PASSWORD}),
    ] {
        let reply = app.post("/api/auth/login", login, None).await;
        // THEN she is herself
        assert_eq!((reply.status, reply.body["user"]["id"].clone()), (200, json!(ada.user_id)));
    }
    // A wrong password and an unknown user look alike.
    let wrong = app
        .post("/api/auth/login", json!({"email": "ada@example.com", "password": "wrong horse"}), None)
        .await;
    let unknown =
        app.post("/api/auth/login", json!({"email": "bob@example.com", "password": PASSWORD}), None).await;
    assert_eq!((wrong.status, unknown.status), (401, 401));
    assert_eq!(wrong.body, unknown.body);

    // WHEN she refreshes THEN the new access token reads her profile
    let refreshed = app.post("/api/auth/refresh", json!({"refreshToken": ada.refresh_token}), None).await;
    assert_eq!(refreshed.status, 200, "{:?}", refreshed.body);
    let profile = app.get("/api/auth/profile", refreshed.body["token"].as_str().unwrap()).await;
    assert_eq!((profile.status, profile.body["user"]["id"].clone()), (200, json!(ada.user_id)));
    assert_eq!(app.get("/api/users/profile", &ada.token).await.body["user"]["lastName"], "Lovelace");

    // An access token is no refresh token, and a refresh token no access token.
    assert_eq!(app.post("/api/auth/refresh", json!({"refreshToken": ada.token}), None).await.status, 401);
    assert_eq!(app.get("/api/auth/profile", &ada.refresh_token).await.status, 401);
}

#[tokio::test]
async fn given_a_user_when_someone_registers_the_same_email_or_username_in_another_case_then_409_says_which()
{
    let app = FastApp::new();
    app.register_with("grace", "grace@example.com").await;
    let register = |username: &str, email: &str| {
        app.post(
            "/api/auth/register",
            json!({"username": username, "email": email, "password": PASSWORD}),
            None,
        )
    };
    let same_email = register("other", "GRACE@example.com").await;
    assert_eq!((same_email.status, same_email.code()), (409, "email_taken"));
    let same_name = register("GRACE", "g2@example.com").await;
    assert_eq!((same_name.status, same_name.code()), (409, "username_taken"));
}

/// A JWT signed with nothing (`alg: none`) naming `user_id`.
fn unsigned_token(user_id: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = json!({"sub": user_id, "ver": 0, "typ": "access", "iat": now, "exp": now + 900, "jti": "x"});
    format!("{header}.{}.", URL_SAFE_NO_PAD.encode(claims.to_string()))
}

#[tokio::test]
async fn given_a_bad_token_when_calling_a_protected_route_then_401_with_a_bearer_challenge() {
    let app = FastApp::new();
    let ada = app.register("ada").await;
    // A token for Ada, well formed, signed with another secret.
    let foreign = switchboard::core::auth::TokenService::new(&switchboard::core::auth::TokenSettings {
        secret: switchboard::core::Secret::new("another-secret-another-secret-another".to_string()),
        previous: None,
        access_ttl: std::time::Duration::from_secs(900),
        refresh_ttl: std::time::Duration::from_secs(3600),
    })
    .issue_pair(user_id(&ada), 0)
    .unwrap()
    .token;
    // Ada's own token with its claims swapped for another user's (signature kept).
    let parts: Vec<&str> = ada.token.split('.').collect();
    let claims =
        json!({"sub": NOBODY, "ver": 0, "typ": "access", "iat": 0, "exp": 4_000_000_000u64, "jti": "x"});
    let tampered = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(claims.to_string()), parts[2]);

    let headers = |value: String| vec![("authorization".to_string(), value)];
    for (name, header) in [
        ("none", vec![]),
        ("empty bearer", headers("Bearer ".into())),
        ("basic", headers(format!("Basic {}", ada.token))),
        ("garbage", headers("Bearer garbage".into())),
        ("foreign secret", headers(format!("Bearer {foreign}"))),
        ("alg none", headers(format!("Bearer {}", unsigned_token(&ada.user_id)))),
        ("tampered claims", headers(format!("Bearer {tampered}"))),
        ("refresh token", headers(format!("Bearer {}", ada.refresh_token))),
    ] {
        let pairs: Vec<(&str, &str)> = header.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let reply = app.send_with_headers("GET", "/api/users/profile", None, None, &pairs).await;
        assert_eq!((reply.status, reply.code()), (401, "unauthorized"), "{name}");
        assert_eq!(reply.headers["www-authenticate"], "Bearer", "{name}");
    }
    // The scheme's case does not matter.
    let lower = app
        .send_with_headers(
            "GET",
            "/api/users/profile",
            None,
            None,
            &[("authorization", format!("bearer {}", ada.token).as_str())],
        )
        .await;
    assert_eq!(lower.status, 200);
}

#[tokio::test]
async fn given_a_deactivated_user_then_their_tokens_sockets_number_and_sms_conversations_go_and_only_a_new_login_brings_them_back(
) {
    let app = FastApp::new();
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1)]).await;
    let eve = app.register("eve").await;
    let number = app.give_number(&eve).await;
    let sms = app.start_sms(&eve, PAT, None).await;
    app.connect("eve-1", &eve).await;
    let path = format!("/api/users/{}/status", eve.user_id);

    // Only admins change a user's status.
    assert_eq!(app.put(&path, json!({"active": false}), &eve.token).await.status, 403);
    assert_eq!(
        app.put(format!("/api/users/{NOBODY}/status"), json!({"active": false}), &admin.token).await.status,
        404
    );

    // WHEN the admin deactivates Eve
    let off = app.put(&path, json!({"active": false}), &admin.token).await;
    assert_eq!((off.status, off.body["user"]["active"].clone()), (200, json!(false)), "{:?}", off.body);
    assert!(off.body["user"]["virtualPhoneNumber"].is_null());

    // THEN her tokens stop working, she cannot log in, and she leaves the directory
    assert_eq!(app.get("/api/users/profile", &eve.token).await.status, 401);
    assert_eq!(
        app.post("/api/auth/refresh", json!({"refreshToken": eve.refresh_token}), None).await.status,
        401
    );
    let login = app.post("/api/auth/login", json!({"username": "eve", "password": PASSWORD}), None).await;
    assert_eq!((login.status, login.code()), (403, "forbidden"));
    let directory = app.get("/api/users", &admin.token).await;
    assert!(!directory.body.to_string().contains("\"eve\""), "{:?}", directory.body);
    // ...her number is free again, its SMS conversation closed, and her sockets forgotten.
    let free = app.get("/api/numbers?status=free", &admin.token).await;
    assert_eq!(free.body["numbers"][0]["phoneNumber"], json!(number));
    let stored = app.core().conversations.get_conversation(conversation_id(&sms)).await.unwrap().unwrap();
    assert_eq!(
        stored.conversation.status,
        switchboard::core::domain::conversation::ConversationStatus::Closed
    );
    assert!(app.core().connections.connections_of(&[user_id(&eve)]).await.unwrap().is_empty());

    // WHEN she is reactivated THEN she logs in again, but the old tokens stay dead
    assert_eq!(app.put(&path, json!({"active": true}), &admin.token).await.status, 200);
    let login = app.post("/api/auth/login", json!({"username": "eve", "password": PASSWORD}), None).await;
    assert_eq!(login.status, 200);
    assert_eq!(app.get("/api/users/profile", &eve.token).await.status, 401);
    assert_eq!(app.get("/api/users/profile", login.body["token"].as_str().unwrap()).await.status, 200);
}

#[tokio::test]
async fn profile_updates_normalise_keep_absent_fields_and_guard_emails() {
    let app = FastApp::new();
    let ada = app.register("ada").await;
    app.register("bob").await;
    let put = |body| app.put("/api/users/profile", body, &ada.token);

    let reply = put(json!({"firstName": " Ada ", "phoneNumber": "(415) 555-0142"})).await;
    assert_eq!((reply.status, reply.body["user"]["firstName"].clone()), (200, json!("Ada")));
    assert_eq!(reply.body["user"]["phoneNumber"], "+14155550142");
    let reply = put(json!({"phoneNumber": null})).await;
    assert!(reply.body["user"]["phoneNumber"].is_null());
    assert_eq!(reply.body["user"]["firstName"], "Ada", "absent fields stay");

    let taken = put(json!({"email": "BOB@example.com"})).await;
    assert_eq!((taken.status, taken.code()), (409, "email_taken"));
    let reserved = put(json!({"email": switchboard_tests::ADMIN_EMAIL})).await;
    assert_eq!(
        (reserved.status, reserved.code()),
        (403, "forbidden"),
        "an admin email is no way to admin rights"
    );
    let invalid = put(json!({"phoneNumber": "12"})).await;
    assert_eq!((invalid.status, invalid.field()), (422, "phoneNumber"));
    let moved = put(json!({"email": "Lovelace@Example.com"})).await;
    assert_eq!(moved.body["user"]["email"], "lovelace@example.com");
    assert_eq!(app.get("/api/auth/profile", &ada.token).await.body["user"]["role"], "user");
}

// === route tables ================================================================================

/// A concrete path for a route pattern: `{phoneNumber}` a number, any other parameter an id.
fn concrete(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|segment| match segment {
            "{phoneNumber}" => us_number(1),
            s if s.starts_with('{') => NOBODY.to_string(),
            s => s.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_protected_route_is_401_without_a_token_and_every_admin_route_403_for_a_user() {
    let app = FastApp::new();
    let user = app.register("ada").await;
    let mut admin_routes = Vec::new();
    let mut protected = 0;
    for table in functions() {
        for route in table.routes() {
            let path = concrete(&route.path);
            let label = format!("{} {} {}", table.function(), route.method, route.path);
            // WHEN called without a token
            let anonymous =
                app.dispatch_to(table, fast::request(route.method.as_str(), &path, "{}", None, &[])).await;
            match route.access {
                // THEN public routes get past the door (and answer for themselves)...
                Access::Public => assert_ne!(anonymous.status, 401, "{label}: {:?}", anonymous.body),
                // ...and every other route is 401 with a bearer challenge
                Access::User | Access::Admin => {
                    protected += 1;
                    assert_eq!((anonymous.status, anonymous.code()), (401, "unauthorized"), "{label}");
                    assert_eq!(anonymous.headers["www-authenticate"], "Bearer", "{label}");
                }
            }
            if route.access == Access::Admin {
                // WHEN a user (no admin) calls an admin route THEN 403
                let req = fast::request(route.method.as_str(), &path, "{}", Some(&user.token), &[]);
                let reply = app.dispatch_to(table, req).await;
                assert_eq!((reply.status, reply.code()), (403, "forbidden"), "{label}");
                admin_routes.push(route.name);
            }
        }
    }
    admin_routes.sort();
    assert_eq!(
        admin_routes,
        [
            "add_number",
            "import_numbers",
            "list_numbers",
            "list_twilio_numbers",
            "remove_number",
            "set_status"
        ]
    );
    assert!(protected >= 25, "{protected} protected routes");
}

#[tokio::test]
async fn unknown_paths_are_a_json_404_and_another_method_on_a_known_path_is_405_naming_the_allowed_ones() {
    let app = FastApp::new();
    for path in ["/api/nothing", "/api/users/nope/deeper/still", "/api/conversations/a/b/c/d", "/", "/api"] {
        let reply = app.send("GET", path, None, None).await;
        assert_eq!((reply.status, reply.code()), (404, "not_found"), "{path}");
        assert_eq!(reply.headers["content-type"], "application/json", "{path}");
    }

    let order = ["GET", "POST", "PUT", "PATCH", "DELETE"];
    let mut checked = 0;
    for table in functions() {
        let mut by_path: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for route in table.routes() {
            by_path.entry(route.path.as_str()).or_default().push(route.method.as_str());
        }
        for (pattern, methods) in by_path {
            let allowed: Vec<&str> = order.iter().copied().filter(|m| methods.contains(m)).collect();
            let other =
                order.iter().copied().find(|m| !methods.contains(m)).expect("a method the path lacks");
            // WHEN the path is called with a method it does not have (no token needed: the method
            // is checked first)
            let reply = app.dispatch_to(table, fast::request(other, &concrete(pattern), "", None, &[])).await;
            // THEN 405, and Allow names exactly the path's methods
            let label = format!("{} {other} {pattern}", table.function());
            assert_eq!((reply.status, reply.code()), (405, "method_not_allowed"), "{label}");
            assert_eq!(reply.headers["allow"], allowed.join(", "), "{label}");
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked} paths");
    // Trailing and doubled slashes match the route, as API Gateway matches them.
    assert_eq!(app.send("GET", "/api//conversations/", None, None).await.status, 401);
}

/// (method, path, raw body, token, status, code, field)
type Case<'a> = (&'a str, &'a str, String, Option<&'a str>, u16, &'a str, &'a str);

#[tokio::test]
async fn errors_are_json_with_a_stable_code_a_message_and_the_field_at_fault() {
    let app = FastApp::new();
    let ada = app.register("ada").await;
    let token = Some(ada.token.as_str());
    let register = |body: Value| body.to_string();
    let big = format!(r#"{{"username":"x","email":"x@example.com","password":"{}"}}"#, "p".repeat(70_000));
    let messages = format!("/api/conversations/{NOBODY}/messages");
    let messages = messages.as_str();
    let cases: Vec<Case> = vec![
        ("POST", "/api/auth/register", "{not json".into(), None, 400, "invalid_request", ""),
        ("POST", "/api/auth/register", "".into(), None, 400, "invalid_request", ""),
        ("POST", "/api/auth/register", "[1,2]".into(), None, 400, "invalid_request", ""),
        (
            "POST",
            "/api/auth/register",
            register(json!({"email": "a@example.com", "password": PASSWORD})),
            None,
            400,
            "invalid_request",
            "username",
        ),
        (
            "POST",
            "/api/auth/register",
            register(json!({"username": 5, "email": "a@example.com", "password": PASSWORD})),
            None,
            400,
            "invalid_request",
            "username",
        ),
        (
            "POST",
            "/api/auth/register",
            register(json!({"username": "okname", "email": "nope", "password": PASSWORD})),
            None,
            422,
            "validation_failed",
            "email",
        ),
        (
            "POST",
            "/api/auth/register",
            register(json!({"username": "okname", "email": "a@example.com", "password": "short"})),
            None,
            422,
            "validation_failed",
            "password",
        ),
        ("POST", "/api/auth/register", big, None, 413, "payload_too_large", ""),
        (
            "POST",
            "/api/auth/login",
            register(json!({"password": PASSWORD})),
            None,
            400,
            "invalid_request",
            "email",
        ),
        ("POST", "/api/auth/refresh", "{}".into(), None, 400, "invalid_request", "refreshToken"),
        (
            "POST",
            "/api/auth/refresh",
            register(json!({"refreshToken": "nope"})),
            None,
            401,
            "unauthorized",
            "",
        ),
        (
            "PUT",
            "/api/users/profile",
            register(json!({"firstName": ["a"]})),
            token,
            400,
            "invalid_request",
            "firstName",
        ),
        (
            "PUT",
            "/api/users/profile",
            register(json!({"email": "nope"})),
            token,
            422,
            "validation_failed",
            "email",
        ),
        (
            "POST",
            "/api/users/virtual-number",
            register(json!({"phoneNumber": "call me"})),
            token,
            422,
            "validation_failed",
            "phoneNumber",
        ),
        ("GET", "/api/users?limit=abc", "".into(), token, 400, "invalid_request", "limit"),
        ("GET", "/api/users?cursor=bogus", "".into(), token, 400, "invalid_request", "cursor"),
        ("GET", "/api/conversations?cursor=bogus", "".into(), token, 400, "invalid_request", "cursor"),
        (
            "POST",
            "/api/conversations/group",
            register(json!({"name": "  "})),
            token,
            422,
            "validation_failed",
            "name",
        ),
        (
            "POST",
            "/api/conversations/group",
            register(json!({"name": "x", "participants": [{"phoneNumber": PAT}, {"phoneNumber": "nope"}]})),
            token,
            422,
            "validation_failed",
            "participants[1].phoneNumber",
        ),
        (
            "POST",
            "/api/conversations/group",
            register(json!({"name": "x", "participants": [{}]})),
            token,
            422,
            "validation_failed",
            "participants[0].userId",
        ),
        ("POST", "/api/conversations/direct", "{}".into(), token, 400, "invalid_request", "userId"),
        ("GET", "/api/conversations/not-an-id", "".into(), token, 404, "not_found", ""),
        ("POST", messages, register(json!({"content": 5})), token, 400, "invalid_request", "content"),
        ("POST", messages, register(json!({"content": "hi"})), token, 404, "not_found", ""),
        (
            "PATCH",
            "/api/conversations/x/participants/y",
            register(json!({"role": "owner"})),
            token,
            400,
            "invalid_request",
            "role",
        ),
    ];
    for (method, path, body, token, status, code, field) in cases {
        let label = format!("{method} {path} {}", body.chars().take(60).collect::<String>());
        let reply = app.send_raw(method, path, &body, token).await;
        assert_eq!(
            (reply.status, reply.code(), reply.field()),
            (status, code, field),
            "{label}: {:?}",
            reply.body
        );
        assert!(reply.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{label}");
        assert_eq!(reply.headers["content-type"], "application/json", "{label}");
        if field.is_empty() {
            assert!(reply.body["error"].get("field").is_none(), "{label}: no field key when none applies");
        }
    }
}

// === numbers =====================================================================================

#[tokio::test]
async fn admins_add_list_filter_and_remove_pool_numbers() {
    let app = FastApp::new();
    let admin = app.admin().await;
    let add = |n: &str| app.post("/api/numbers", json!({"phoneNumber": n}), Some(&admin.token));

    let added = add("(415) 555-0101").await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    assert_eq!(added.body["number"]["phoneNumber"], "+14155550101");
    assert_eq!(
        (added.body["number"]["status"].clone(), added.body["number"]["routeCount"].clone()),
        (json!("free"), json!(0))
    );
    assert_eq!(add("+1 415 555 0101").await.code(), "number_exists");
    assert_eq!(add("555").await.field(), "phoneNumber");
    assert_eq!(add("+44 20 7946 0958").await.body["number"]["phoneNumber"], "+442079460958");

    assert_eq!(app.get("/api/numbers", &admin.token).await.body["numbers"].as_array().unwrap().len(), 2);
    let page = app.get("/api/numbers?limit=1", &admin.token).await;
    assert_eq!(page.body["numbers"].as_array().unwrap().len(), 1);
    assert!(page.body["nextCursor"].is_string());
    assert_eq!(app.get("/api/numbers?status=assigned", &admin.token).await.body["numbers"], json!([]));
    let weird = app.get("/api/numbers?status=weird", &admin.token).await;
    assert_eq!((weird.status, weird.field()), (400, "status"));

    // A held number cannot leave the pool; a free one can, once.
    let ada = app.register("ada").await;
    let chosen =
        app.post("/api/users/virtual-number", json!({"phoneNumber": "+14155550101"}), Some(&ada.token)).await;
    assert_eq!(chosen.status, 200, "{:?}", chosen.body);
    let assigned = app.get("/api/numbers?status=assigned", &admin.token).await;
    assert_eq!(assigned.body["numbers"][0]["ownerId"], json!(ada.user_id));
    let held = app.delete("/api/numbers/%2B14155550101", &admin.token).await;
    assert_eq!((held.status, held.code()), (409, "number_assigned"));
    let removed = app.delete("/api/numbers/+442079460958", &admin.token).await;
    assert_eq!((removed.status, removed.body["deleted"].clone()), (200, json!("+442079460958")));
    assert_eq!(app.delete("/api/numbers/+442079460958", &admin.token).await.status, 404);
}

#[tokio::test]
async fn users_take_any_free_or_a_chosen_number_release_it_and_see_who_holds_one() {
    let app = FastApp::new();
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1), us_number(2)]).await;
    let (ada, bob, carol) =
        (app.register("ada").await, app.register("bob").await, app.register("carol").await);

    // No body at all means "any free number".
    let got = app.send("POST", "/api/users/virtual-number", None, Some(&ada.token)).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    let ada_number = got.body["user"]["virtualPhoneNumber"].as_str().unwrap().to_string();
    assert_eq!(
        app.post("/api/users/virtual-number", json!({}), Some(&ada.token)).await.code(),
        "already_has_number"
    );
    let taken =
        app.post("/api/users/virtual-number", json!({"phoneNumber": ada_number}), Some(&bob.token)).await;
    assert_eq!((taken.status, taken.code()), (409, "number_taken"));
    let outside =
        app.post("/api/users/virtual-number", json!({"phoneNumber": us_number(9)}), Some(&bob.token)).await;
    assert_eq!(outside.status, 404);
    app.give_number(&bob).await;
    let none_left = app.post("/api/users/virtual-number", json!({}), Some(&carol.token)).await;
    assert_eq!((none_left.status, none_left.code()), (409, "no_free_number"));

    let holders = app.get("/api/users/virtual-numbers", &carol.token).await;
    let mut names: Vec<&str> =
        holders.body["users"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["ada", "bob"]);
    assert!(!holders.body.to_string().contains("@example.com"), "no emails in the listing");

    let released = app.delete("/api/users/virtual-number", &ada.token).await;
    assert_eq!((released.status, released.body["user"]["virtualPhoneNumber"].clone()), (200, Value::Null));
    assert_eq!(app.delete("/api/users/virtual-number", &ada.token).await.status, 404);
    assert_eq!(app.give_number(&carol).await, ada_number, "a released number is given out again");
}

#[tokio::test]
async fn given_an_sms_conversation_on_a_number_when_its_user_releases_the_number_then_the_conversation_closes_and_its_route_routes_nothing(
) {
    let app = FastApp::new();
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1)]).await;
    let ada = app.register("ada").await;
    let number = app.give_number(&ada).await;
    let sms = app.start_sms(&ada, PAT, None).await;

    // A number that carries a conversation cannot leave the pool.
    assert_eq!(app.delete(format!("/api/numbers/{number}"), &admin.token).await.status, 409);

    // WHEN Ada releases her number
    assert_eq!(app.delete("/api/users/virtual-number", &ada.token).await.status, 200);

    // THEN the conversation is closed (its history still readable)...
    let read = app.get(format!("/api/conversations/{}", id_of(&sms)), &ada.token).await;
    assert_eq!((read.status, read.body["conversation"]["status"].clone()), (200, json!("closed")));
    // ...a text from Pat to the number stores nothing anywhere...
    assert_twiml(&app.inbound_sms(&message_sid(1), PAT, &number, "still there?").await);
    assert!(!app.store.inbound_recorded(&message_sid(1)));
    assert!(app.history(&id_of(&sms), &ada).await.is_empty());
    assert_eq!(app.inbox(&ada).await.len(), 1);
    // ...and the number can leave the pool.
    assert_eq!(app.delete(format!("/api/numbers/{number}"), &admin.token).await.status, 200);
}

#[tokio::test]
async fn given_a_number_carrying_a_group_then_it_is_a_proxy_nobody_can_take_or_remove_until_the_group_closes()
{
    let app = FastApp::new();
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1), us_number(2)]).await;
    let (ada, bob) = (app.register("ada").await, app.register("bob").await);
    let group = app.create_group(&ada, "g", json!([{"phoneNumber": PAT}])).await;
    let proxy = proxy_of(&group, PAT);
    assert_eq!(proxy, us_number(1), "the first free number");

    let listed = app.get("/api/numbers?status=proxy", &admin.token).await;
    assert_eq!(listed.body["numbers"][0]["phoneNumber"], json!(proxy));
    assert_eq!(listed.body["numbers"][0]["routeCount"], 1);
    assert_eq!(app.give_number(&ada).await, us_number(2), "any number skips the proxy");
    let chosen = app.post("/api/users/virtual-number", json!({"phoneNumber": proxy}), Some(&bob.token)).await;
    assert_eq!((chosen.status, chosen.code()), (409, "number_in_use"));
    assert_eq!(
        app.post("/api/users/virtual-number", json!({}), Some(&bob.token)).await.code(),
        "no_free_number"
    );
    let removed = app.delete(format!("/api/numbers/{proxy}"), &admin.token).await;
    assert_eq!((removed.status, removed.code()), (409, "number_in_use"));

    // WHEN the group closes THEN the number carries nothing and can be given out
    assert_eq!(app.delete(format!("/api/conversations/{}", id_of(&group)), &ada.token).await.status, 200);
    assert_eq!(app.store.pool_number(&e164(&proxy)).unwrap().route_count, 0);
    assert_eq!(app.give_number(&bob).await, proxy);
}

// === conversations ===============================================================================

#[tokio::test]
async fn a_direct_conversation_is_one_per_pair_and_named_after_the_other_side() {
    let app = FastApp::new();
    let (ada, bob) = (app.register("ada").await, app.register("bob").await);
    let created =
        app.post("/api/conversations/direct", json!({"userId": bob.user_id}), Some(&ada.token)).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let conversation = &created.body["conversation"];
    assert_eq!((conversation["type"].clone(), conversation["name"].clone()), (json!("direct"), json!("bob")));
    let participants = conversation["participants"].as_array().unwrap();
    assert_eq!(participants.len(), 2);
    assert!(participants.iter().all(|p| p["kind"] == "user" && p["role"] == "admin"));

    let again = app.post("/api/conversations/direct", json!({"userId": ada.user_id}), Some(&bob.token)).await;
    assert_eq!((again.status, again.body["conversation"]["id"].clone()), (200, conversation["id"].clone()));
    assert_eq!(again.body["conversation"]["name"], "ada");

    let to_self =
        app.post("/api/conversations/direct", json!({"userId": ada.user_id}), Some(&ada.token)).await;
    assert_eq!((to_self.status, to_self.field()), (422, "userId"));
    for unknown in [NOBODY.to_string(), "x".repeat(3000)] {
        let reply = app.post("/api/conversations/direct", json!({"userId": unknown}), Some(&ada.token)).await;
        assert_eq!(reply.status, 404);
    }
}

#[tokio::test]
async fn an_sms_conversation_binds_the_phone_to_the_users_own_number() {
    let app = FastApp::new();
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1), us_number(2)]).await;
    let ada = app.register("ada").await;
    let start = |body: Value| app.post("/api/conversations/sms", body, Some(&ada.token));

    let no_number = start(json!({"phoneNumber": PAT})).await;
    assert_eq!((no_number.status, no_number.code()), (409, "no_virtual_number"));
    let number = app.give_number(&ada).await;

    let created = start(json!({"phoneNumber": "+44 20 7946 0958", "name": "Grace"})).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let conversation = &created.body["conversation"];
    assert_eq!((conversation["type"].clone(), conversation["name"].clone()), (json!("sms"), json!("Grace")));
    let phone =
        conversation["participants"].as_array().unwrap().iter().find(|p| p["kind"] == "sms").unwrap().clone();
    assert_eq!(phone["phoneNumber"], "+442079460958");
    assert_eq!((phone["proxyNumber"].clone(), phone["role"].clone()), (json!(number), json!("member")));

    let again = start(json!({"phoneNumber": "+442079460958"})).await;
    assert_eq!((again.status, again.body["conversation"]["id"].clone()), (200, conversation["id"].clone()));
    let pool_number = us_number(2);
    for (phone, why) in [
        ("not a phone", "invalid"),
        (number.as_str(), "her own number"),
        (pool_number.as_str(), "a pool number"),
    ] {
        let reply = start(json!({"phoneNumber": phone})).await;
        assert_eq!((reply.status, reply.field()), (422, "phoneNumber"), "{why}");
    }
}

#[tokio::test]
async fn a_group_has_its_creator_as_admin_its_members_and_each_phone_on_a_proxy_number() {
    let app = FastApp::new();
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1), us_number(2)]).await;
    let (ada, bob, cat) = (app.register("ada").await, app.register("bob").await, app.register("cat").await);

    let group = app
        .create_group(
            &ada,
            "  Team ",
            json!([{"userId": bob.user_id}, {"userId": ada.user_id},
                   {"phoneNumber": PAT, "displayName": "Pat"}, {"phoneNumber": "(415) 555-0402"}]),
        )
        .await;
    assert_eq!(
        (group["type"].clone(), group["name"].clone(), group["status"].clone()),
        (json!("group"), json!("Team"), json!("active"))
    );
    let participants = group["participants"].as_array().unwrap();
    assert_eq!(participants.len(), 4, "the creator once, whatever the request says");
    let ada_p = participants.iter().find(|p| p["userId"] == json!(ada.user_id)).unwrap();
    let bob_p = participants.iter().find(|p| p["userId"] == json!(bob.user_id)).unwrap();
    assert_eq!((ada_p["role"].clone(), bob_p["role"].clone()), (json!("admin"), json!("member")));
    let pat = participants.iter().find(|p| p["phoneNumber"] == PAT).unwrap();
    let sam = participants.iter().find(|p| p["phoneNumber"] == SAM).unwrap();
    assert_eq!((pat["displayName"].clone(), sam["displayName"].clone()), (json!("Pat"), json!(SAM)));
    assert_eq!(
        (pat["proxyNumber"].clone(), sam["proxyNumber"].clone()),
        (json!(us_number(1)), json!(us_number(1)))
    );

    let bobs = app.inbox(&bob).await;
    assert_eq!(
        (bobs.len(), bobs[0]["name"].clone(), bobs[0]["role"].clone()),
        (1, json!("Team"), json!("member"))
    );
    assert!(app.inbox(&cat).await.is_empty());

    // Bad groups: a phone twice (in two spellings), an unknown user, too many participants.
    let post = |participants: Value| {
        app.post(
            "/api/conversations/group",
            json!({"name": "x", "participants": participants}),
            Some(&ada.token),
        )
    };
    let twice = post(json!([{"phoneNumber": PAT}, {"phoneNumber": "(415) 555-0401"}])).await;
    assert_eq!((twice.status, twice.field()), (422, "participants[1].phoneNumber"));
    assert_eq!(post(json!([{"userId": NOBODY}])).await.status, 404);
    let many: Vec<Value> =
        (0..60).map(|i| json!({"phoneNumber": format!("+1415555{:04}", 3000 + i)})).collect();
    let too_many = post(json!(many)).await;
    assert_eq!((too_many.status, too_many.field()), (422, "participants"));
    assert_eq!(app.inbox(&ada).await.len(), 1, "no failed group was stored");
}

/// (method, path, body, status for an outsider, a member, an admin)
type Row = (&'static str, String, Option<Value>, u16, u16, u16);

#[tokio::test]
async fn given_a_group_then_outsiders_get_404_members_403_on_admin_actions_and_admins_succeed() {
    let app = FastApp::new();
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1)]).await;
    let (owner, member, target, outsider) = (
        app.register("owner").await,
        app.register("member").await,
        app.register("target").await,
        app.register("outsider").await,
    );
    let group = app
        .create_group(
            &owner,
            "Team",
            json!([{"userId": member.user_id}, {"userId": target.user_id}, {"phoneNumber": PAT}]),
        )
        .await;
    let base = format!("/api/conversations/{}", id_of(&group));
    let target_path = format!("{base}/participants/{}", participant_id(&group, "userId", &target.user_id));

    // Admin actions last: they change the group.
    let matrix: Vec<Row> = vec![
        ("GET", base.clone(), None, 404, 200, 200),
        ("GET", format!("{base}/participants"), None, 404, 200, 200),
        ("GET", format!("{base}/messages"), None, 404, 200, 200),
        ("POST", format!("{base}/messages"), Some(json!({"content": "hi"})), 404, 201, 201),
        ("POST", format!("{base}/participants"), Some(json!({"phoneNumber": SAM})), 404, 403, 201),
        ("PATCH", target_path.clone(), Some(json!({"role": "admin"})), 404, 403, 200),
        ("DELETE", target_path, None, 404, 403, 200),
        ("DELETE", base.clone(), None, 404, 403, 200),
    ];
    for (method, path, body, outsider_status, member_status, admin_status) in matrix {
        assert_eq!(
            app.send(method, &path, body.clone(), None).await.status,
            401,
            "anonymous {method} {path}"
        );
        for (who, session, expected) in [
            ("outsider", &outsider, outsider_status),
            ("member", &member, member_status),
            ("admin", &owner, admin_status),
        ] {
            let reply = app.send(method, &path, body.clone(), Some(&session.token)).await;
            assert_eq!(reply.status, expected, "{who} {method} {path}: {:?}", reply.body);
        }
    }
    assert!(app.inbox(&outsider).await.is_empty());
    assert_eq!(app.get(&base, &target.token).await.status, 404, "removed: no longer sees it");
}

#[tokio::test]
async fn membership_changes_are_refused_when_full_duplicate_last_admin_closed_or_not_a_group() {
    let app = FastApp::with_settings(&[("MAX_GROUP_SIZE", "3")]);
    let owner = app.register("owner").await;
    let (ann, bea, cat) = (app.register("ann").await, app.register("bea").await, app.register("cat").await);
    let too_big = json!({"name": "Big", "participants": [{"userId": ann.user_id}, {"userId": bea.user_id}, {"userId": cat.user_id}]});
    let reply = app.post("/api/conversations/group", too_big, Some(&owner.token)).await;
    assert_eq!((reply.status, reply.field()), (422, "participants"));

    let group =
        app.create_group(&owner, "Team", json!([{"userId": ann.user_id}, {"userId": bea.user_id}])).await;
    let participants = format!("/api/conversations/{}/participants", id_of(&group));
    let full = app.post(&participants, json!({"userId": cat.user_id}), Some(&owner.token)).await;
    assert_eq!((full.status, full.code()), (409, "group_full"));
    let twice = app.post(&participants, json!({"userId": ann.user_id}), Some(&owner.token)).await;
    assert_eq!((twice.status, twice.code()), (409, "already_participant"));
    let owner_path = format!("{participants}/{}", participant_id(&group, "userId", &owner.user_id));
    let demote = app.patch(&owner_path, json!({"role": "member"}), &owner.token).await;
    assert_eq!((demote.status, demote.code()), (409, "last_admin"));

    // Anyone may leave; then they no longer see the group.
    let bea_path = format!("{participants}/{}", participant_id(&group, "userId", &bea.user_id));
    assert_eq!(app.delete(&bea_path, &bea.token).await.status, 200);
    assert_eq!(app.get(format!("/api/conversations/{}", id_of(&group)), &bea.token).await.status, 404);
    assert!(app.inbox(&bea).await.is_empty());

    assert_eq!(app.delete(format!("/api/conversations/{}", id_of(&group)), &owner.token).await.status, 200);
    let ann_path = format!("{participants}/{}", participant_id(&group, "userId", &ann.user_id));
    let closed = app.delete(&ann_path, &owner.token).await;
    assert_eq!((closed.status, closed.code()), (409, "conversation_closed"));

    let direct =
        app.post("/api/conversations/direct", json!({"userId": cat.user_id}), Some(&owner.token)).await;
    let add = app
        .post(
            format!("/api/conversations/{}/participants", id_of(&direct.body["conversation"])),
            json!({"userId": ann.user_id}),
            Some(&owner.token),
        )
        .await;
    assert_eq!((add.status, add.code()), (409, "not_a_group"));
}

// === messages ====================================================================================

#[tokio::test]
async fn given_a_web_only_group_when_a_member_sends_then_no_sms_goes_out_and_every_member_reads_it() {
    let app = FastApp::new();
    let (ada, bob, cat) = (app.register("ada").await, app.register("bob").await, app.register("cat").await);
    let group =
        app.create_group(&ada, "Web", json!([{"userId": bob.user_id}, {"userId": cat.user_id}])).await;

    let message = app.send_text(&bob, &id_of(&group), "  hello  ").await;

    assert_eq!(message["content"], "hello");
    assert_eq!(message["sender"], json!({"kind": "user", "userId": bob.user_id, "displayName": "bob"}));
    assert_eq!((message["deliveries"].clone(), message["status"].clone()), (json!([]), json!("delivered")));
    assert!(app.sms.sent().is_empty(), "no SMS for web users");
    let history = app.history(&id_of(&group), &cat).await;
    assert_eq!((history.len(), history[0]["id"].clone()), (1, message["id"].clone()));
    for who in [&ada, &cat] {
        assert_eq!(app.inbox(who).await[0]["lastMessagePreview"], "hello");
    }
}

#[tokio::test]
async fn given_a_group_with_phones_when_sending_then_each_phone_gets_one_sms_from_its_own_proxy_signed_with_the_senders_name(
) {
    let app = FastApp::new();
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1), us_number(2)]).await;
    let (ada, bob) = (app.register("ada").await, app.register("bob").await);
    app.put("/api/users/profile", json!({"firstName": "Ada", "lastName": "Lovelace"}), &ada.token).await;
    // GIVEN Pat already talks to number 1 in Bob's group, so Ada's group reaches Pat on number 2
    app.create_group(&bob, "Other", json!([{"phoneNumber": PAT}])).await;
    let group = app
        .create_group(
            &ada,
            "Team",
            json!([{"userId": bob.user_id}, {"phoneNumber": PAT}, {"phoneNumber": SAM}]),
        )
        .await;
    let (pat_proxy, sam_proxy) = (proxy_of(&group, PAT), proxy_of(&group, SAM));
    assert_eq!((pat_proxy.as_str(), sam_proxy.as_str()), (us_number(2).as_str(), us_number(1).as_str()));

    // WHEN Ada sends
    let sent = app.send_text(&ada, &id_of(&group), "  Meeting at 5  ").await;

    // THEN the answer shows each SMS pending, in the outbox (changed by design: the send queues
    // them; the delivery pipeline sends them)
    assert!(app.sms.sent().is_empty());
    assert_eq!(sent["status"], "pending");
    for phone in [PAT, SAM] {
        let delivery = delivery_to(&sent, phone);
        assert_eq!((delivery["status"].clone(), delivery["attempts"].clone()), (json!("pending"), json!(0)));
    }
    app.run_pipeline().await;
    let message = shown(&app, &id_of(&group), &bob, &sent).await;

    // ...and each phone gets exactly one SMS, from its own proxy, "Name: text", naming its delivery
    assert_eq!(app.sms.sent().len(), 2, "{:?}", app.sms.sent());
    for (phone, proxy) in [(PAT, &pat_proxy), (SAM, &sam_proxy)] {
        let sent = app.sms.sent_to(&e164(phone));
        assert_eq!(sent.len(), 1, "{phone}");
        assert_eq!(
            (sent[0].from.as_str(), sent[0].body.as_str()),
            (proxy.as_str(), "Ada Lovelace: Meeting at 5")
        );
        let delivery = delivery_to(&message, phone);
        let callback =
            format!("{PUBLIC_BASE_URL}/api/webhooks/twilio/status?deliveryId={}", id_of(&delivery));
        assert_eq!(sent[0].status_callback.as_deref(), Some(callback.as_str()));
        assert_eq!((delivery["status"].clone(), delivery["from"].clone()), (json!("queued"), json!(proxy)));
        assert_eq!((delivery["segments"].clone(), delivery["encoding"].clone()), (json!(1), json!("gsm7")));
    }
    let sids: HashSet<&str> =
        message["deliveries"].as_array().unwrap().iter().map(|d| d["twilioSid"].as_str().unwrap()).collect();
    assert_eq!(sids.len(), 2);
    assert_eq!(
        (message["status"].clone(), message["content"].clone()),
        (json!("queued"), json!("Meeting at 5"))
    );
    // The same deliveries (ids) the answer named.
    let ids = |m: &Value| by_id(&m["deliveries"]).into_keys().collect::<Vec<_>>();
    assert_eq!(ids(&message), ids(&sent));

    // A picture without words: the phones get the media and the name alone.
    app.sms.clear_sent();
    let url = "https://example.com/cat.jpg";
    let reply = app
        .post(
            format!("/api/conversations/{}/messages", id_of(&group)),
            json!({"mediaUrls": [url]}),
            Some(&ada.token),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    app.run_pipeline().await;
    assert_eq!(app.sms.sent().len(), 2);
    assert!(app.sms.sent().iter().all(|s| s.body == "Ada Lovelace:" && s.media_urls == [url]));
    assert_eq!(app.inbox(&bob).await[0]["lastMessagePreview"], "[media]");
}

#[tokio::test]
async fn a_one_to_one_sms_goes_from_the_users_own_number_without_a_name_and_web_users_get_none() {
    let app = FastApp::new();
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1)]).await;
    let (ada, bob) = (app.register("ada").await, app.register("bob").await);
    let number = app.give_number(&ada).await;

    let external = app
        .post(
            "/api/users/sms/external",
            json!({"phoneNumber": "(415) 555-0401", "message": "hi"}),
            Some(&ada.token),
        )
        .await;
    assert_eq!(external.status, 201, "{:?}", external.body);
    assert_eq!(external.body["conversation"]["type"], "sms");
    app.run_pipeline().await;
    let sent = app.sms.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].from.as_str(), sent[0].to.as_str(), sent[0].body.as_str()),
        (number.as_str(), PAT, "hi")
    );
    let again = app
        .post("/api/users/sms/external", json!({"phoneNumber": PAT, "message": "again"}), Some(&ada.token))
        .await;
    assert_eq!(again.body["conversation"]["id"], external.body["conversation"]["id"]);

    let internal = app
        .post(format!("/api/users/sms/internal/{}", bob.user_id), json!({"message": "hey"}), Some(&ada.token))
        .await;
    assert_eq!((internal.status, internal.body["conversation"]["type"].clone()), (201, json!("direct")));
    app.run_pipeline().await;
    assert_eq!(app.sms.sent().len(), 2, "nothing goes by SMS to a web user");
    assert_eq!(app.history(&id_of(&internal.body["conversation"]), &bob).await[0]["content"], "hey");

    let bad = app
        .post("/api/users/sms/external", json!({"phoneNumber": "nope", "message": "hi"}), Some(&ada.token))
        .await;
    assert_eq!((bad.status, bad.field()), (422, "phoneNumber"));
    let empty = app
        .post("/api/users/sms/external", json!({"phoneNumber": PAT, "message": " "}), Some(&ada.token))
        .await;
    assert_eq!((empty.status, empty.field()), (422, "message"));
}

#[tokio::test]
async fn given_twilio_refuses_some_recipients_when_sending_then_only_their_deliveries_fail_and_21610_is_an_opt_out(
) {
    let app = FastApp::new();
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1)]).await;
    let ada = app.register("ada").await;
    let phones =
        json!([{"phoneNumber": PAT}, {"phoneNumber": SAM}, {"phoneNumber": KIM}, {"phoneNumber": LEE}]);
    let group = app.create_group(&ada, "Team", phones).await;
    app.sms.script(&e164(SAM), rejected(21211));
    app.sms.script(&e164(KIM), rejected(21610));
    app.sms.script(&e164(LEE), Err(SendError::Unavailable("503".into())));

    // WHEN Ada sends (and the pipeline takes each SMS to Twilio)
    let message = send_and_deliver(&app, &ada, &id_of(&group), "hi").await;

    // THEN each delivery says how it went
    let pat = delivery_to(&message, PAT);
    assert_eq!(pat["status"], "queued");
    assert!(pat["twilioSid"].is_string());
    let sam = delivery_to(&message, SAM);
    assert_eq!((sam["status"].clone(), sam["errorCode"].clone()), (json!("failed"), json!(21211)));
    assert!(sam["errorMessage"].as_str().is_some_and(|m| !m.is_empty()));
    let kim = delivery_to(&message, KIM);
    assert_eq!((kim["status"].clone(), kim["errorCode"].clone()), (json!("opted_out"), json!(21610)));
    // Changed by design: a 503 is no longer a (tentative) failure but retried: Lee's second
    // attempt went through, one SMS.
    let lee = delivery_to(&message, LEE);
    assert_eq!((lee["status"].clone(), lee["attempts"].clone()), (json!("queued"), json!(2)));
    assert!(lee["twilioSid"].is_string() && lee["errorCode"].is_null());
    assert_eq!(app.sms.taken_by(&e164(LEE)).len(), 1);
    assert_eq!(app.sms.sent_to(&e164(SAM)).len(), 1, "a refusal is final: no retry");
    assert!(!stored_delivery(&app, &sam).tentative, "Twilio said no");
    assert_eq!(message["status"], "failed");
    assert_eq!(app.store.opted_out(&[(e164(&proxy_of(&group, KIM)), e164(KIM))]).await.unwrap().len(), 1);

    // WHEN she sends again THEN Kim (opted out at Twilio) gets no SMS and everyone else does
    app.sms.clear_sent();
    let again = send_and_deliver(&app, &ada, &id_of(&group), "again").await;
    let kim = delivery_to(&again, KIM);
    assert_eq!((kim["status"].clone(), kim["errorCode"].clone()), (json!("opted_out"), Value::Null));
    let to: HashSet<String> = app.sms.sent().iter().map(|s| s.to.to_string()).collect();
    assert_eq!(to, HashSet::from([PAT.to_string(), SAM.to_string(), LEE.to_string()]));
}

#[tokio::test]
async fn given_an_idempotency_key_when_the_send_is_repeated_then_the_first_message_answers_and_nothing_is_sent_again(
) {
    let app = FastApp::new();
    let app = &app;
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1)]).await;
    let (ada, bob) = (app.register("ada").await, app.register("bob").await);
    let group = app.create_group(&ada, "Team", json!([{"userId": bob.user_id}, {"phoneNumber": PAT}])).await;
    let path = format!("/api/conversations/{}/messages", id_of(&group));
    let send = |who: &Session, key: &str, text: &str| {
        let (path, token, key, body) =
            (path.clone(), who.token.clone(), key.to_string(), json!({"content": text}));
        async move {
            app.send_with_headers(
                "POST",
                &path,
                Some(body),
                Some(&token),
                &[("idempotency-key", key.as_str())],
            )
            .await
        }
    };

    let first = send(&ada, "key-1", "once").await;
    let again = send(&ada, "key-1", "once, really").await;
    assert_eq!((first.status, again.status), (201, 201));
    assert_eq!(again.body["message"], first.body["message"], "the first result, whatever the body says");
    app.run_pipeline().await;
    assert_eq!(app.sms.sent().len(), 1);

    let replies = futures::future::join_all((0..3).map(|_| send(&ada, "key-2", "twice?"))).await;
    let ids: HashSet<String> = replies.iter().map(|r| id_of(&r.body["message"])).collect();
    app.run_pipeline().await;
    assert_eq!((ids.len(), app.sms.sent().len()), (1, 2));

    // Keys are per user: Bob's "key-1" is his own message.
    let bobs = send(&bob, "key-1", "mine").await;
    assert_ne!(bobs.body["message"]["id"], first.body["message"]["id"]);
    assert_eq!(app.history(&id_of(&group), &ada).await.len(), 3);

    let bad = send(&ada, &"x".repeat(200), "x").await;
    assert_eq!((bad.status, bad.field()), (400, "Idempotency-Key"));
}

#[tokio::test]
async fn only_the_author_edits_or_deletes_a_message_and_an_edit_is_not_texted_again() {
    let app = FastApp::new();
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1)]).await;
    let (ada, bob, otto) = (app.register("ada").await, app.register("bob").await, app.register("otto").await);
    let group = app.create_group(&ada, "Team", json!([{"userId": bob.user_id}, {"phoneNumber": PAT}])).await;
    let message = app.send_text(&ada, &id_of(&group), "typo").await;
    app.run_pipeline().await;
    let path = format!("/api/messages/{}", id_of(&message));

    assert_eq!(app.put(&path, json!({"content": "hijack"}), &bob.token).await.status, 403);
    assert_eq!(
        app.put(&path, json!({"content": "x"}), &otto.token).await.status,
        404,
        "outsiders learn nothing"
    );
    let empty = app.put(&path, json!({"content": "   "}), &ada.token).await;
    assert_eq!((empty.status, empty.field()), (422, "content"));

    let edited = app.put(&path, json!({"content": "fixed"}), &ada.token).await;
    assert_eq!((edited.status, edited.body["message"]["content"].clone()), (200, json!("fixed")));
    assert!(edited.body["message"]["editedAt"].is_string());
    app.run_pipeline().await;
    assert_eq!(app.sms.sent().len(), 1, "an edit is not sent again");

    assert_eq!(app.delete(&path, &bob.token).await.status, 403);
    let deleted = app.delete(&path, &ada.token).await;
    assert_eq!((deleted.status, deleted.body["message"]["deleted"].clone()), (200, json!(true)));
    let history = app.history(&id_of(&group), &bob).await;
    assert_eq!((history[0]["deleted"].clone(), history[0]["content"].clone()), (json!(true), json!("")));
    assert_eq!(app.delete(&path, &ada.token).await.status, 404, "already deleted");
    assert_eq!(app.put(&path, json!({"content": "back"}), &ada.token).await.status, 404);
    assert_eq!(app.put("/api/messages/not-an-id", json!({"content": "x"}), &ada.token).await.status, 404);
}

#[tokio::test]
async fn a_message_needs_valid_content_and_an_open_conversation() {
    let app = FastApp::new();
    let ada = app.register("ada").await;
    let group = app.create_group(&ada, "Solo", json!([])).await;
    let path = format!("/api/conversations/{}/messages", id_of(&group));
    let media: Vec<String> = (0..11).map(|i| format!("https://example.com/{i}.jpg")).collect();
    for (body, status, field) in [
        (json!({}), 422, "content"),
        (json!({"content": "   "}), 422, "content"),
        (json!({"content": "x".repeat(1601)}), 422, "content"),
        (json!({"content": 5}), 400, "content"),
        (json!({"content": "x", "mediaUrls": ["ftp://x"]}), 422, "mediaUrls[0]"),
        (json!({"content": "x", "mediaUrls": "https://x"}), 400, "mediaUrls"),
        (json!({"content": "x", "mediaUrls": media}), 422, "mediaUrls"),
    ] {
        let reply = app.post(&path, body.clone(), Some(&ada.token)).await;
        assert_eq!((reply.status, reply.field()), (status, field), "{body}");
    }
    assert!(app.history(&id_of(&group), &ada).await.is_empty());

    app.send_text(&ada, &id_of(&group), "before").await;
    assert_eq!(app.delete(format!("/api/conversations/{}", id_of(&group)), &ada.token).await.status, 200);
    let closed = app.post(&path, json!({"content": "after"}), Some(&ada.token)).await;
    assert_eq!((closed.status, closed.code()), (409, "conversation_closed"));
    assert_eq!(app.history(&id_of(&group), &ada).await.len(), 1, "history stays readable");
}

#[tokio::test]
async fn given_messages_sent_one_after_another_then_history_lists_them_newest_first() {
    let app = FastApp::new();
    let ada = app.register("ada").await;
    let group = app.create_group(&ada, "Busy", json!([])).await;
    let sent: Vec<String> = {
        let mut sent = Vec::new();
        for i in 0..30 {
            sent.push(id_of(&app.send_text(&ada, &id_of(&group), &format!("message {i}")).await));
        }
        sent
    };

    let reply = app.get(format!("/api/conversations/{}/messages?limit=100", id_of(&group)), &ada.token).await;
    let listed: Vec<String> = reply.body["messages"].as_array().unwrap().iter().map(id_of).collect();
    let newest_first: Vec<String> = sent.into_iter().rev().collect();
    assert_eq!(listed, newest_first);
}

// === inbound webhooks ============================================================================

/// Ann holds number 1 and talks to Pat; Bea's club has Cat, Pat and Sam on number 2.
struct World {
    app: FastApp,
    ann: Session,
    bea: Session,
    cat: Session,
    ann_number: String,
    sms_id: String,
    club_id: String,
    club_proxy: String,
}

async fn world(settings: &[(&str, &str)]) -> World {
    let app = FastApp::with_settings(settings);
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1), us_number(2), us_number(3)]).await;
    let (ann, bea, cat) = (app.register("ann").await, app.register("bea").await, app.register("cat").await);
    let ann_number = app.give_number(&ann).await;
    let sms = app.start_sms(&ann, PAT, Some("Pat")).await;
    let club = app
        .create_group(
            &bea,
            "Club",
            json!([{"userId": cat.user_id}, {"phoneNumber": PAT, "displayName": "Pat"}, {"phoneNumber": SAM, "displayName": "Sam"}]),
        )
        .await;
    let club_proxy = proxy_of(&club, PAT);
    assert_eq!(proxy_of(&club, SAM), club_proxy);
    assert_ne!(club_proxy, ann_number);
    World { ann_number, sms_id: id_of(&sms), club_id: id_of(&club), club_proxy, app, ann, bea, cat }
}

#[tokio::test]
async fn given_one_phone_in_two_conversations_when_it_texts_either_number_then_the_text_lands_in_that_conversation_only(
) {
    let w = world(&[]).await;
    let app = &w.app;

    // WHEN Pat texts Ann's number, then the club's number (whose relays the pipeline sends:
    // changed by design, the webhook only stores the text and queues its relay job)
    assert_twiml(&app.inbound_sms(&message_sid(1), PAT, &w.ann_number, "for Ann").await);
    assert_twiml(&app.inbound_sms(&message_sid(2), PAT, &w.club_proxy, "for the club").await);
    assert!(app.sms.sent().is_empty(), "not sent by the webhook");
    app.run_pipeline().await;

    // THEN each text is in its own conversation, from Pat
    let ann = app.history(&w.sms_id, &w.ann).await;
    assert_eq!(contents(&ann), HashSet::from(["for Ann".to_string()]));
    assert_eq!(ann[0]["sender"], json!({"kind": "sms", "phoneNumber": PAT, "displayName": "Pat"}));
    let club = app.history(&w.club_id, &w.cat).await;
    assert_eq!(contents(&club), HashSet::from(["for the club".to_string()]));
    // ...the club's other phone gets it relayed from its own proxy, and Pat gets nothing back
    let sent = app.sms.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        (sent[0].to.as_str(), sent[0].from.as_str(), sent[0].body.as_str()),
        (SAM, w.club_proxy.as_str(), "Pat: for the club")
    );
    assert_eq!(delivery_to(&club[0], SAM)["status"], "queued");
    // ...and every member's inbox moved.
    assert_eq!(app.inbox(&w.ann).await[0]["lastMessagePreview"], "for Ann");
    for who in [&w.bea, &w.cat] {
        assert_eq!(app.inbox(who).await[0]["lastMessagePreview"], "for the club");
    }

    // WHEN Sam texts the club THEN Pat gets it, signed with Sam's name
    app.sms.clear_sent();
    assert_twiml(&app.inbound_sms(&message_sid(3), SAM, &w.club_proxy, "me too").await);
    app.run_pipeline().await;
    let sent = app.sms.sent();
    assert_eq!((sent.len(), sent[0].to.as_str(), sent[0].body.as_str()), (1, PAT, "Sam: me too"));
}

#[tokio::test]
async fn given_an_unknown_phone_when_it_first_texts_a_users_number_then_one_sms_conversation_opens_for_that_user(
) {
    let w = world(&[]).await;
    let app = &w.app;
    assert_twiml(&app.inbound_sms(&message_sid(1), STRANGER, &w.ann_number, "hello?").await);
    assert_twiml(&app.inbound_sms(&message_sid(2), STRANGER, &w.ann_number, "anyone?").await);

    let inbox = app.inbox(&w.ann).await;
    let opened: Vec<&Value> = inbox.iter().filter(|c| c["name"] == STRANGER).collect();
    assert_eq!(opened.len(), 1, "{inbox:?}");
    assert_eq!((opened[0]["type"].clone(), opened[0]["role"].clone()), (json!("sms"), json!("admin")));
    let id = id_of(opened[0]);
    assert_eq!(
        contents(&app.history(&id, &w.ann).await),
        HashSet::from(["hello?".to_string(), "anyone?".to_string()])
    );
    assert!(app.sms.sent().is_empty());
    for other in [&w.bea, &w.cat] {
        assert!(app.inbox(other).await.iter().all(|c| c["name"] != STRANGER));
    }

    // Ann answers from her own number.
    app.send_text(&w.ann, &id, "who is this?").await;
    app.run_pipeline().await;
    let sent = app.sms.sent();
    assert_eq!(
        (sent[0].from.as_str(), sent[0].to.as_str(), sent[0].body.as_str()),
        (w.ann_number.as_str(), STRANGER, "who is this?")
    );
}

#[tokio::test]
async fn given_idle_conversations_when_their_timer_runs_out_then_they_close_and_their_phones_next_texts_are_first_texts(
) {
    let w = world(&[("IDLE_CLOSE_AFTER", "P1D")]).await;
    let app = &w.app;
    let laptop = app.connect("bea-laptop", &w.bea).await;
    // Ann keeps her SMS conversation for a week; the club follows the deployment's day.
    let timers = format!("/api/conversations/{}/timers", w.sms_id);
    let week = app.put(&timers, json!({"closeAfter": "P7D"}), &w.ann.token).await;
    assert_eq!(week.status, 200, "{:?}", week.body);
    assert_eq!(week.body["conversation"]["timers"]["closeAfter"], "P7D");
    let club = app.get(format!("/api/conversations/{}", w.club_id), &w.cat.token).await;
    assert_eq!(club.body["conversation"]["timers"]["closeAfter"], "P1D");
    assert_eq!(club.body["conversation"]["timers"]["own"], false);
    let member = app
        .put(format!("/api/conversations/{}/timers", w.club_id), json!({"closeAfter": "off"}), &w.cat.token)
        .await;
    assert_eq!((member.status, member.code()), (403, "forbidden"));

    // WHEN the sweeper runs two days later
    let later = chrono::Utc::now() + chrono::Duration::days(2);
    let swept = switchboard::core::service::idle::sweep(app.core(), later).await.unwrap();

    // THEN the club is closed (its members told), Ann's conversation is not
    assert_eq!(swept.closed, 1);
    let club = app.get(format!("/api/conversations/{}", w.club_id), &w.bea.token).await;
    assert_eq!(club.body["conversation"]["status"], "closed");
    assert!(app.event_types(&laptop).contains(&"conversation.closed".to_string()));
    let sms = app.get(format!("/api/conversations/{}", w.sms_id), &w.ann.token).await;
    assert_eq!(sms.body["conversation"]["status"], "active");
    // ...its phones' texts to its number are first texts to a number nobody holds: nothing stored
    assert_twiml(&app.inbound_sms(&message_sid(1), SAM, &w.club_proxy, "hello?").await);
    assert!(!app.store.inbound_recorded(&message_sid(1)));
    // ...and the pair serves a new group at once.
    let again = app.create_group(&w.bea, "Club again", json!([{"phoneNumber": SAM}])).await;
    assert_eq!(proxy_of(&again, SAM), w.club_proxy);
}

#[tokio::test]
async fn given_no_route_when_a_phone_texts_a_pool_number_nobody_holds_or_no_number_of_ours_then_nothing_is_stored(
) {
    let w = world(&[]).await;
    let app = &w.app;
    let before: Vec<usize> = futures::future::join_all([&w.ann, &w.bea, &w.cat].map(|u| app.inbox(u)))
        .await
        .iter()
        .map(Vec::len)
        .collect();
    // Number 3 is in the pool, unowned, and routes nobody (not even Pat, who talks to the other
    // two); the last number is not ours at all.
    for (n, from, to) in
        [(1, STRANGER, us_number(3)), (2, PAT, us_number(3)), (3, STRANGER, "+14155550199".to_string())]
    {
        assert_twiml(&app.inbound_sms(&message_sid(n), from, &to, "hi").await);
        assert!(!app.store.inbound_recorded(&message_sid(n)), "{to}");
    }
    let after: Vec<usize> = futures::future::join_all([&w.ann, &w.bea, &w.cat].map(|u| app.inbox(u)))
        .await
        .iter()
        .map(Vec::len)
        .collect();
    assert_eq!(before, after);
    assert!(app.queue.waiting().is_empty(), "nothing to relay");
    assert!(app.sms.sent().is_empty() && app.gateway.attempts().is_empty());
}

#[tokio::test]
async fn given_a_retried_webhook_when_its_message_sid_arrives_again_then_nothing_is_stored_relayed_or_published_twice(
) {
    let w = world(&[]).await;
    let app = &w.app;
    let cat = app.connect("cat-1", &w.cat).await;
    let sid = message_sid(7);

    assert_twiml(&app.inbound_sms(&sid, PAT, &w.club_proxy, "once").await);
    assert_twiml(&app.inbound_sms(&sid, PAT, &w.club_proxy, "once").await);
    let replies =
        futures::future::join_all((0..3).map(|_| app.inbound_sms(&sid, PAT, &w.club_proxy, "once"))).await;
    replies.iter().for_each(assert_twiml);
    assert_eq!(app.queue.waiting().len(), 1, "one relay job");
    app.run_pipeline().await;

    assert!(app.store.inbound_recorded(&sid));
    assert_eq!(app.history(&w.club_id, &w.bea).await.len(), 1);
    assert_eq!(app.sms.sent().len(), 1, "one relay, to Sam");
    // The text once, and (changed by design: the pipeline reports each SMS's progress) its relay
    // handed to Twilio once.
    assert_eq!(app.event_types(&cat), ["message.created", "delivery.updated"]);

    // One to one, too.
    let sid = message_sid(8);
    for _ in 0..2 {
        assert_twiml(&app.inbound_sms(&sid, PAT, &w.ann_number, "hi Ann").await);
    }
    assert_eq!(app.history(&w.sms_id, &w.ann).await.len(), 1);
}

#[tokio::test]
async fn stop_and_start_are_whole_body_keywords_in_any_case_per_number_and_an_opted_out_phone_gets_no_sms() {
    let w = world(&[]).await;
    let app = &w.app;

    // GIVEN Pat replies "  Stop " to Ann's number
    assert_twiml(&app.inbound_sms(&message_sid(1), PAT, &w.ann_number, "  Stop ").await);
    let notice = &app.history(&w.sms_id, &w.ann).await[0];
    assert_eq!(notice["sender"]["kind"], "system");
    assert!(notice["content"].as_str().unwrap().contains("STOP"), "{notice}");
    // WHEN Ann writes to Pat THEN the delivery is opted out and no SMS goes
    let message = send_and_deliver(app, &w.ann, &w.sms_id, "ping").await;
    let pat = delivery_to(&message, PAT);
    assert_eq!((pat["status"].clone(), pat["errorCode"].clone()), (json!("opted_out"), Value::Null));
    assert!(app.sms.sent().is_empty());
    // ...but the opt-out is per number: the club still reaches Pat.
    let club = send_and_deliver(app, &w.bea, &w.club_id, "club news").await;
    assert_eq!(delivery_to(&club, PAT)["status"], "queued");

    // Words that only contain a keyword, and "yes" from a phone that never opted out, are texts.
    app.sms.clear_sent();
    assert_twiml(&app.inbound_sms(&message_sid(2), SAM, &w.club_proxy, "Stop please").await);
    assert_twiml(&app.inbound_sms(&message_sid(3), SAM, &w.club_proxy, "Yes").await);
    app.run_pipeline().await;
    let bodies: HashSet<String> = app.sms.sent_to(&e164(PAT)).iter().map(|s| s.body.clone()).collect();
    assert_eq!(bodies, HashSet::from(["Sam: Stop please".to_string(), "Sam: Yes".to_string()]));
    assert_eq!(
        delivery_to(&send_and_deliver(app, &w.bea, &w.club_id, "still?").await, SAM)["status"],
        "queued"
    );

    // WHEN Pat says "unsubscribe" to the club THEN it is noted, not relayed, and Pat gets no more
    app.sms.clear_sent();
    assert_twiml(&app.inbound_sms(&message_sid(4), PAT, &w.club_proxy, "unsubscribe").await);
    app.run_pipeline().await;
    assert!(app.sms.sent().is_empty(), "a keyword is not relayed");
    let club = app.history(&w.club_id, &w.cat).await;
    assert!(club
        .iter()
        .any(|m| m["sender"]["kind"] == "system" && m["content"].as_str().unwrap().contains("UNSUBSCRIBE")));
    assert_twiml(&app.inbound_sms(&message_sid(5), SAM, &w.club_proxy, "bye Pat").await);
    app.run_pipeline().await;
    assert!(app.sms.sent_to(&e164(PAT)).is_empty(), "no relay to an opted-out phone");
    let relayed = app.history(&w.club_id, &w.cat).await;
    let bye = relayed.iter().find(|m| m["content"] == "bye Pat").unwrap();
    assert_eq!(delivery_to(bye, PAT)["status"], "opted_out");

    // WHEN Pat says "start" to Ann's number THEN Ann reaches Pat again
    assert_twiml(&app.inbound_sms(&message_sid(6), PAT, &w.ann_number, "start").await);
    let message = send_and_deliver(app, &w.ann, &w.sms_id, "welcome back").await;
    assert_eq!(delivery_to(&message, PAT)["status"], "queued");
    assert_eq!(app.sms.sent_to(&e164(PAT)).len(), 1);
}

#[tokio::test]
async fn given_an_unknown_phone_whose_first_text_is_stop_then_nothing_opens_but_the_user_cannot_text_it_until_start(
) {
    let w = world(&[]).await;
    let app = &w.app;
    let inbox = app.inbox(&w.ann).await.len();

    // WHEN a stranger's first text to Ann's number is "STOP"
    assert_twiml(&app.inbound_sms(&message_sid(1), STRANGER, &w.ann_number, "STOP").await);

    // THEN no conversation opens, but the opt-out is kept: Ann's texts to it are not sent
    assert_eq!(app.inbox(&w.ann).await.len(), inbox);
    let conversation = app.start_sms(&w.ann, STRANGER, None).await;
    let message = send_and_deliver(app, &w.ann, &id_of(&conversation), "hello?").await;
    assert_eq!(delivery_to(&message, STRANGER)["status"], "opted_out");
    assert!(app.sms.sent().is_empty());

    // WHEN it says "Start" THEN Ann reaches it again
    assert_twiml(&app.inbound_sms(&message_sid(2), STRANGER, &w.ann_number, "Start").await);
    let message = send_and_deliver(app, &w.ann, &id_of(&conversation), "hello again").await;
    assert_eq!(delivery_to(&message, STRANGER)["status"], "queued");
    assert_eq!(app.sms.sent_to(&e164(STRANGER)).len(), 1);
}

/// The TwiML answer to HELP: the configured text as one `<Message>`, XML-escaped.
fn assert_help_answer(reply: &Reply, text: &str) {
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.headers["content-type"], "text/xml");
    let escaped = text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let expected =
        format!(r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>{escaped}</Message></Response>"#);
    assert_eq!(reply.body, json!(expected));
}

#[tokio::test]
async fn given_help_or_info_from_a_phone_then_it_gets_the_configured_answer_noted_once_where_a_conversation_exists_and_never_relayed(
) {
    let answer = "Acme <Dental> & Co: reply STOP to opt out.";
    let w = world(&[("HELP_REPLY", answer)]).await;
    let app = &w.app;
    let inbox = app.inbox(&w.ann).await.len();

    // GIVEN Pat in Ann's one-to-one conversation WHEN Pat texts " help " (twice: Twilio retried)
    assert_help_answer(&app.inbound_sms(&message_sid(1), PAT, &w.ann_number, " help ").await, answer);
    assert_help_answer(&app.inbound_sms(&message_sid(1), PAT, &w.ann_number, " help ").await, answer);
    // THEN the conversation notes it once, as a system event naming the answer
    let history = app.history(&w.sms_id, &w.ann).await;
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0]["sender"]["kind"], "system");
    let note = history[0]["content"].as_str().unwrap();
    assert!(note.contains("Pat") && note.contains("HELP") && note.contains(answer), "{note}");

    // WHEN Pat texts "Info" to the club THEN answered, noted for the members, relayed to no phone
    let cat_socket = app.connect("cat-1", &w.cat).await;
    assert_help_answer(&app.inbound_sms(&message_sid(2), PAT, &w.club_proxy, "Info").await, answer);
    app.run_pipeline().await;
    assert!(app.sms.sent().is_empty(), "HELP is not relayed");
    let club = app.history(&w.club_id, &w.cat).await;
    assert_eq!((club.len(), club[0]["sender"]["kind"].clone()), (1, json!("system")));
    assert_eq!(club[0]["deliveries"], json!([]));
    assert_eq!(app.event_types(&cat_socket), ["message.created"]);

    // WHEN a stranger texts HELP to Ann's number or to a pool number nobody holds
    // THEN it is answered, and no conversation opens, nothing is stored
    for (n, to) in [(3, w.ann_number.clone()), (4, us_number(3))] {
        assert_help_answer(&app.inbound_sms(&message_sid(n), STRANGER, &to, "HELP").await, answer);
        assert!(!app.store.inbound_recorded(&message_sid(n)), "{to}");
    }
    assert_eq!(app.inbox(&w.ann).await.len(), inbox);
    // ...and a number that is not ours is not answered.
    assert_twiml(&app.inbound_sms(&message_sid(5), STRANGER, "+14155550123", "help").await);

    // HELP in a sentence is a text; HELP changes no opt-out: STOP then HELP stays opted out.
    assert_twiml(&app.inbound_sms(&message_sid(6), PAT, &w.ann_number, "help me move on Sunday?").await);
    assert_eq!(app.history(&w.sms_id, &w.ann).await[0]["sender"]["kind"], "sms");
    assert_twiml(&app.inbound_sms(&message_sid(7), PAT, &w.ann_number, "STOP").await);
    assert_help_answer(&app.inbound_sms(&message_sid(8), PAT, &w.ann_number, "HELP").await, answer);
    let message = send_and_deliver(app, &w.ann, &w.sms_id, "still there?").await;
    assert_eq!(delivery_to(&message, PAT)["status"], "opted_out");
}

#[tokio::test]
async fn a_text_from_a_short_code_or_an_alphanumeric_sender_is_acknowledged_and_ignored() {
    let w = world(&[]).await;
    let app = &w.app;
    for (n, from) in [(1, "12345"), (2, "ACME")] {
        assert_twiml(&app.inbound_sms(&message_sid(n), from, &w.ann_number, "promo").await);
        assert!(!app.store.inbound_recorded(&message_sid(n)), "{from}");
    }
    assert_eq!(app.inbox(&w.ann).await.len(), 1);
    assert!(app.history(&w.sms_id, &w.ann).await.is_empty());
}

#[tokio::test]
async fn mms_media_urls_and_types_are_kept_even_without_text_and_relayed_to_the_other_phones() {
    let w = world(&[]).await;
    let app = &w.app;
    let media = |n: u32, to: &str| {
        let sid = message_sid(n);
        let params = [
            ("MessageSid", sid.as_str()),
            ("From", PAT),
            ("To", to),
            ("Body", ""),
            ("NumMedia", "2"),
            ("MediaUrl0", "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"),
            ("MediaContentType0", "image/jpeg"),
            ("MediaUrl1", "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME2"),
            ("MediaContentType1", "image/png"),
        ];
        app.dispatch(app.twilio_request(INBOUND_PATH, &params, None))
    };
    assert_twiml(&media(1, &w.ann_number).await);
    let stored = &app.history(&w.sms_id, &w.ann).await[0];
    assert_eq!(stored["content"], "");
    assert_eq!(stored["mediaUrls"].as_array().unwrap().len(), 2);
    assert_eq!(stored["mediaContentTypes"], json!(["image/jpeg", "image/png"]));
    assert_eq!(app.inbox(&w.ann).await[0]["lastMessagePreview"], "[media]");

    assert_twiml(&media(2, &w.club_proxy).await);
    app.run_pipeline().await;
    let relay = app.sms.sent_to(&e164(SAM));
    assert_eq!((relay.len(), relay[0].body.as_str(), relay[0].media_urls.len()), (1, "Pat:", 2));
}

#[tokio::test]
async fn given_a_forged_or_missing_signature_when_a_webhook_arrives_then_403_and_nothing_is_stored() {
    let w = world(&[("TWILIO_AUTH_TOKEN_PREVIOUS", "the-old-token")]).await;
    let app = &w.app;
    let sid = message_sid(5);
    let params =
        [("MessageSid", sid.as_str()), ("From", PAT), ("To", w.ann_number.as_str()), ("Body", "sneaky")];

    let mut unsigned = app.twilio_request(INBOUND_PATH, &params, None);
    unsigned.headers_mut().remove("x-twilio-signature");
    let mut tampered = app.twilio_request(INBOUND_PATH, &params, None);
    tampered.headers_mut().insert("x-twilio-signature", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=".parse().unwrap());
    let wrong_token = app.twilio_request(INBOUND_PATH, &params, Some("not-the-token"));
    let mut other_url = app.twilio_request(STATUS_PATH, &params, None);
    *other_url.uri_mut() = INBOUND_PATH.parse().unwrap();
    let mut other_body = app.twilio_request(INBOUND_PATH, &params, None);
    *other_body.body_mut() = lambda_http::Body::Text(other_body_of(&params));
    for (name, request) in [
        ("unsigned", unsigned),
        ("tampered", tampered),
        ("wrong token", wrong_token),
        ("signed for another URL", other_url),
        ("body changed after signing", other_body),
    ] {
        let reply = app.dispatch(request).await;
        assert_eq!((reply.status, reply.code()), (403, "forbidden"), "{name}");
    }
    assert!(!app.store.inbound_recorded(&sid));
    assert!(app.history(&w.sms_id, &w.ann).await.is_empty(), "nothing stored");

    // During a rotation the previous token still verifies.
    assert_twiml(&app.dispatch(app.twilio_request(INBOUND_PATH, &params, Some("the-old-token"))).await);
    assert_eq!(app.history(&w.sms_id, &w.ann).await.len(), 1);

    // Not a form, or a form without what every inbound SMS has: 400.
    let mut json_body = app.twilio_request(INBOUND_PATH, &params, None);
    json_body.headers_mut().insert("content-type", "application/json".parse().unwrap());
    assert_eq!(app.dispatch(json_body).await.status, 400);
    let missing =
        app.dispatch(app.twilio_request(INBOUND_PATH, &[("From", PAT), ("To", "+14155550101")], None)).await;
    assert_eq!((missing.status, missing.field()), (400, "MessageSid"));

    // Without an auth token configured, every webhook is refused.
    let unconfigured = FastApp::with_settings(&[("TWILIO_AUTH_TOKEN", "")]);
    let reply = unconfigured.dispatch(unconfigured.twilio_request(INBOUND_PATH, &params, None)).await;
    assert_eq!(reply.status, 403);
}

/// The form of `params` with its Body changed.
fn other_body_of(params: &[(&str, &str)]) -> String {
    let changed: Vec<(&str, &str)> =
        params.iter().map(|(k, v)| if *k == "Body" { (*k, "changed") } else { (*k, *v) }).collect();
    serde_urlencoded::to_string(changed).unwrap()
}

#[tokio::test]
async fn given_closed_conversations_when_their_phones_text_again_then_the_freed_routes_route_nothing_or_a_new_conversation(
) {
    let w = world(&[]).await;
    let app = &w.app;
    assert_eq!(app.delete(format!("/api/conversations/{}", w.club_id), &w.bea.token).await.status, 200);
    assert_eq!(app.delete(format!("/api/conversations/{}", w.sms_id), &w.ann.token).await.status, 200);

    // The club's number belongs to nobody: nothing is stored.
    assert_twiml(&app.inbound_sms(&message_sid(1), PAT, &w.club_proxy, "hello club?").await);
    assert!(!app.store.inbound_recorded(&message_sid(1)));
    assert!(app.history(&w.club_id, &w.bea).await.is_empty());
    // Ann still holds hers: a new conversation opens, the closed one stays as it was.
    assert_twiml(&app.inbound_sms(&message_sid(2), PAT, &w.ann_number, "hello Ann?").await);
    assert!(app.history(&w.sms_id, &w.ann).await.is_empty());
    let inbox = app.inbox(&w.ann).await;
    assert_eq!(inbox.len(), 2);
    assert_eq!(
        (inbox[0]["status"].clone(), inbox[0]["lastMessagePreview"].clone()),
        (json!("active"), json!("hello Ann?"))
    );
}

// === status callbacks ============================================================================

#[tokio::test]
async fn status_callbacks_move_a_delivery_forward_only_whatever_order_they_arrive_in() {
    let w = world(&[]).await;
    let (app, ann, sms_id) = (&w.app, &w.ann, w.sms_id.as_str());
    let one = || async move {
        let message = send_and_deliver(app, ann, sms_id, "status?").await;
        let delivery = delivery_to(&message, PAT);
        (id_of(&delivery), delivery["twilioSid"].as_str().unwrap().to_string(), delivery)
    };
    let status_of = |delivery: &Value| stored_delivery(app, delivery).status;

    for order in [
        ["queued", "sent", "delivered"],
        ["queued", "delivered", "sent"],
        ["sent", "queued", "delivered"],
        ["sent", "delivered", "queued"],
        ["delivered", "queued", "sent"],
        ["delivered", "sent", "queued"],
    ] {
        let (id, sid, delivery) = one().await;
        for status in order {
            assert_twiml(&app.status_callback(Some(&id), &sid, status, None).await);
        }
        assert_eq!(status_of(&delivery), DeliveryStatus::Delivered, "{order:?}");
    }

    // Failed after sent stays failed, with Twilio's code; nothing moves it back.
    let (id, sid, delivery) = one().await;
    for (status, code) in [("sent", None), ("failed", Some("30003")), ("delivered", None), ("sending", None)]
    {
        app.status_callback(Some(&id), &sid, status, code).await;
    }
    let failed = stored_delivery(app, &delivery);
    assert_eq!((failed.status, failed.error_code), (DeliveryStatus::Failed, Some(30003)));

    // Read after delivered; never over a failure.
    let (id, sid, delivery) = one().await;
    for status in ["sent", "read", "delivered"] {
        app.status_callback(Some(&id), &sid, status, None).await;
    }
    assert_eq!(status_of(&delivery), DeliveryStatus::Read);
    let (id, sid, delivery) = one().await;
    app.status_callback(Some(&id), &sid, "undelivered", Some("30005")).await;
    app.status_callback(Some(&id), &sid, "read", None).await;
    assert_eq!(status_of(&delivery), DeliveryStatus::Undelivered);
    // A status we do not track is acknowledged and changes nothing.
    assert_twiml(&app.status_callback(Some(&id), &sid, "partially_delivered", None).await);
    assert_eq!(status_of(&delivery), DeliveryStatus::Undelivered);

    // Without our id in the URL, the MessageSid finds the delivery.
    let (_, sid, delivery) = one().await;
    assert_twiml(&app.status_callback(None, &sid, "delivered", None).await);
    assert_eq!(status_of(&delivery), DeliveryStatus::Delivered);
    // The history shows what was stored.
    let history = app.history(&w.sms_id, &w.ann).await;
    let shown = history
        .iter()
        .flat_map(|m| m["deliveries"].as_array().unwrap().clone())
        .find(|d| d["id"] == delivery["id"]);
    assert_eq!(shown.unwrap()["status"], "delivered");
}

#[tokio::test]
async fn given_a_callback_for_an_unknown_delivery_then_200_and_nothing_is_created() {
    let w = world(&[]).await;
    let app = &w.app;
    let message = send_and_deliver(app, &w.ann, &w.sms_id, "known").await;
    let known = delivery_to(&message, PAT);
    let ghost = format!("{}-{}-{}", w.sms_id, NOBODY, "01ARZ3NDEKTSV4RRFFQ69G5FAW");
    let requests = app.store.requests();

    assert_twiml(&app.status_callback(Some(&ghost), "SM1", "delivered", None).await);
    assert_twiml(&app.status_callback(None, "SMunknown", "delivered", None).await);
    assert_twiml(&app.status_callback(Some("not-an-id"), "SMunknown", "delivered", None).await);
    assert_eq!(app.store.requests() - requests, 3, "one lookup each, nothing written");

    assert!(app.store.delivery(&DeliveryId::parse(&ghost).unwrap()).is_none());
    let deliveries: usize =
        app.history(&w.sms_id, &w.ann).await.iter().map(|m| m["deliveries"].as_array().unwrap().len()).sum();
    assert_eq!(deliveries, 1);
    assert_eq!(stored_delivery(app, &known).status, DeliveryStatus::Queued);

    // Unsigned: refused, and the known delivery stays as it was.
    let path = format!("{STATUS_PATH}?deliveryId={}", id_of(&known));
    let mut unsigned = app.twilio_request(&path, &[("MessageStatus", "failed")], None);
    unsigned.headers_mut().remove("x-twilio-signature");
    assert_eq!(app.dispatch(unsigned).await.status, 403);
    assert_eq!(stored_delivery(app, &known).status, DeliveryStatus::Queued);
}

// === real-time events ============================================================================

#[tokio::test]
async fn given_members_on_several_devices_then_sends_callbacks_edits_and_membership_changes_reach_them_and_no_one_else(
) {
    let app = FastApp::new();
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1)]).await;
    let (ada, bob, eve) = (app.register("ada").await, app.register("bob").await, app.register("eve").await);
    let group = app
        .create_group(
            &ada,
            "Club",
            json!([{"userId": bob.user_id}, {"phoneNumber": SAM, "displayName": "Sam"}]),
        )
        .await;
    let (id, proxy) = (id_of(&group), proxy_of(&group, SAM));
    let laptop = app.connect("ada-laptop", &ada).await;
    let phone = app.connect("ada-phone", &ada).await;
    let bob1 = app.connect("bob-1", &bob).await;
    let eve1 = app.connect("eve-1", &eve).await;
    let members = [&laptop, &phone, &bob1];
    let expect = |types: &[&str]| {
        for connection in members {
            assert_eq!(app.event_types(connection), types, "{connection}");
        }
        assert!(app.gateway.frames_to(&eve1).is_empty(), "never to an outsider");
        app.gateway.clear();
    };

    // WHEN Bob sends THEN every device of every member hears of it, his own too
    let message = app.send_text(&bob, &id, "Hi all").await;
    let frame = &app.gateway.frames_to(&laptop)[0];
    assert_eq!(
        (frame["conversationId"].clone(), frame["payload"]["content"].clone()),
        (json!(id), json!("Hi all"))
    );
    assert!(frame["id"].is_string() && frame["timestamp"].is_string());
    expect(&["message.created"]);

    // WHEN the pipeline hands the SMS to Twilio THEN they hear of its progress (changed by design:
    // the send no longer waits for Twilio, so progress comes as events)
    app.run_pipeline().await;
    let delivery = delivery_to(&message, SAM);
    let frame = &app.gateway.frames_to(&bob1)[0];
    assert_eq!(
        (frame["payload"]["status"].clone(), frame["payload"]["deliveryId"].clone()),
        (json!("queued"), delivery["id"].clone())
    );
    expect(&["delivery.updated"]);

    // WHEN Twilio reports the delivery THEN they hear of that too
    let sid = stored_delivery(&app, &delivery).twilio_sid.expect("the SID Twilio gave");
    app.status_callback(Some(&id_of(&delivery)), &sid, "delivered", None).await;
    let frame = &app.gateway.frames_to(&bob1)[0];
    assert_eq!(
        (frame["payload"]["status"].clone(), frame["payload"]["deliveryId"].clone()),
        (json!("delivered"), delivery["id"].clone())
    );
    expect(&["delivery.updated"]);

    // Edits and deletions.
    let path = format!("/api/messages/{}", id_of(&message));
    app.put(&path, json!({"content": "Hi everyone"}), &bob.token).await;
    assert_eq!(app.gateway.frames_to(&phone)[0]["payload"]["content"], "Hi everyone");
    app.delete(&path, &bob.token).await;
    expect(&["message.updated", "message.deleted"]);

    // WHEN Bob is removed THEN he is told, and from then on hears nothing of the group
    let bob_path =
        format!("/api/conversations/{id}/participants/{}", participant_id(&group, "userId", &bob.user_id));
    assert_eq!(app.delete(&bob_path, &ada.token).await.status, 200);
    expect(&["participant.left"]);
    app.inbound_sms(&message_sid(1), SAM, &proxy, "Bob left?").await;
    app.run_pipeline().await;
    assert!(app.gateway.frames_to(&bob1).is_empty());
    assert_eq!(app.event_types(&laptop), ["message.created"]);
    app.gateway.clear();

    // WHEN he is added back THEN everyone in, him included, hears of it
    let added = app
        .post(
            format!("/api/conversations/{id}/participants"),
            json!({"userId": bob.user_id}),
            Some(&ada.token),
        )
        .await;
    assert_eq!(added.status, 201);
    expect(&["participant.joined"]);

    // WHEN the group closes THEN everyone hears of it
    app.delete(format!("/api/conversations/{id}"), &ada.token).await;
    expect(&["conversation.closed"]);
}

#[tokio::test]
async fn a_text_to_a_users_number_is_told_to_that_user_and_a_refused_send_is_reported_at_once() {
    let app = FastApp::new();
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1)]).await;
    let (ann, bob) = (app.register("ann").await, app.register("bob").await);
    let number = app.give_number(&ann).await;
    let ann1 = app.connect("ann-1", &ann).await;
    let bob1 = app.connect("bob-1", &bob).await;

    app.inbound_sms(&message_sid(1), STRANGER, &number, "hello?").await;
    let frames = app.gateway.frames_to(&ann1);
    assert_eq!(app.event_types(&ann1), ["message.created"]);
    assert_eq!(frames[0]["payload"]["content"], "hello?");
    assert!(app.gateway.frames_to(&bob1).is_empty());
    app.gateway.clear();

    // Twilio refuses Ann's answer: no status callback will ever come, so the failure is published
    // (as soon as the pipeline's attempt is refused: the send itself no longer calls Twilio).
    app.sms.script(&e164(STRANGER), rejected(21211));
    let conversation = frames[0]["conversationId"].as_str().unwrap().to_string();
    app.send_text(&ann, &conversation, "who is this?").await;
    assert_eq!(app.event_types(&ann1), ["message.created"]);
    app.run_pipeline().await;
    assert_eq!(app.event_types(&ann1), ["message.created", "delivery.updated"]);
    let update = &app.gateway.frames_to(&ann1)[1]["payload"];
    assert_eq!((update["status"].clone(), update["errorCode"].clone()), (json!("failed"), json!(21211)));
}

#[tokio::test]
async fn sockets_need_a_valid_token_typing_goes_to_the_other_members_and_a_deactivated_or_disconnected_user_hears_nothing(
) {
    let app = FastApp::new();
    let admin = app.admin().await;
    let (ada, bob, eve) = (app.register("ada").await, app.register("bob").await, app.register("eve").await);
    let group = app.create_group(&ada, "Pair", json!([{"userId": bob.user_id}])).await;
    let id = id_of(&group);
    let core = app.core();
    let refused = |id: &str| switchboard::core::domain::ids::ConnectionId::parse(id).unwrap();

    // WHEN a socket connects without a token, or with a bad one THEN it is refused and not stored
    for token in [None, Some(""), Some("garbage"), Some(ada.refresh_token.as_str())] {
        let err = realtime::connect(core, &refused("nope"), token).await.unwrap_err();
        assert!(matches!(err, AppError::Unauthorized(_)), "{token:?}: {err:?}");
    }
    assert!(core.connections.connection_user(&refused("nope")).await.unwrap().is_none());

    let ada1 = app.connect("ada-1", &ada).await;
    let ada2 = app.connect("ada-2", &ada).await;
    let bob1 = app.connect("bob-1", &bob).await;
    let eve1 = app.connect("eve-1", &eve).await;

    // Typing: to the other members only, not to the typist's own devices.
    let typing = json!({"action": "typing", "conversationId": id}).to_string();
    realtime::client_frame(core, &ada1, &typing).await.unwrap();
    assert_eq!(app.event_types(&bob1), ["typing"]);
    assert_eq!(app.gateway.frames_to(&bob1)[0]["payload"]["userId"], json!(ada.user_id));
    assert!(app.gateway.frames_to(&ada2).is_empty() && app.gateway.frames_to(&ada1).is_empty());
    // An outsider cannot type in it; a ping is answered on the same socket; nonsense is refused.
    assert!(matches!(realtime::client_frame(core, &eve1, &typing).await, Err(AppError::NotFound(_))));
    realtime::client_frame(core, &eve1, r#"{"action":"ping"}"#).await.unwrap();
    assert_eq!(app.event_types(&eve1), ["pong"]);
    assert!(matches!(
        realtime::client_frame(core, &eve1, "nonsense").await,
        Err(AppError::Validation { .. })
    ));
    app.gateway.clear();

    // WHEN Bob is deactivated and Ada's second device disconnects THEN they hear nothing more
    let off =
        app.put(format!("/api/users/{}/status", bob.user_id), json!({"active": false}), &admin.token).await;
    assert_eq!(off.status, 200);
    realtime::disconnect(core, &ada2).await.unwrap();
    realtime::disconnect(core, &ada2).await.unwrap();
    app.send_text(&ada, &id, "anyone?").await;
    assert_eq!(app.event_types(&ada1), ["message.created"]);
    assert!(app.gateway.frames_to(&bob1).is_empty() && app.gateway.frames_to(&ada2).is_empty());
    assert!(matches!(realtime::client_frame(core, &bob1, &typing).await, Err(AppError::Unauthorized(_))));
}

// === the delivery pipeline =======================================================================
//
// A send writes each SMS ahead into the outbox and queues a job; the pipeline's worker (played by
// `FastApp::run_pipeline`, retries immediate) claims each attempt, calls Twilio, and records the
// outcome. These are its rules, end to end over the fakes.

/// Ann, her number, and her SMS conversation with Pat (its id).
async fn ann_and_pat(settings: &[(&str, &str)]) -> (FastApp, Session, String, String) {
    let app = FastApp::with_settings(settings);
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1)]).await;
    let ann = app.register("ann").await;
    let number = app.give_number(&ann).await;
    let sms = app.start_sms(&ann, PAT, Some("Pat")).await;
    let id = id_of(&sms);
    (app, ann, id, number)
}

fn job_of(delivery: &Value) -> Job {
    Job::delivery(DeliveryId::parse(delivery["id"].as_str().expect("a delivery id")).expect("a delivery id"))
}

#[tokio::test]
async fn given_twilio_answers_503_then_accepts_when_sending_then_one_sms_goes_with_one_sid() {
    let (app, ann, id, _) = ann_and_pat(&[]).await;
    app.sms.script(&e164(PAT), Err(SendError::Unavailable("503".into())));

    let message = send_and_deliver(&app, &ann, &id, "hi").await;

    let pat = delivery_to(&message, PAT);
    let taken = app.sms.taken_by(&e164(PAT));
    assert_eq!(taken.len(), 1, "one SMS");
    assert_eq!(app.sms.sent_to(&e164(PAT)).len(), 2, "the refused call, then the accepted one");
    assert_eq!(pat["twilioSid"], json!(taken[0].1), "its one SID");
    assert_eq!((pat["status"].clone(), pat["attempts"].clone()), (json!("queued"), json!(2)));
    assert!(pat["errorCode"].is_null() && pat["errorMessage"].is_null() && pat["nextAttemptAt"].is_null());
    assert!(app.queue.dead_letters().is_empty());
}

#[tokio::test]
async fn given_twilio_throttles_three_times_then_accepts_then_the_sms_is_sent_once() {
    let (app, ann, id, _) = ann_and_pat(&[]).await;
    for _ in 0..3 {
        let throttled = SendError::Throttled { code: Some(20429), message: "Too Many Requests".into() };
        app.sms.script(&e164(PAT), Err(throttled));
    }

    let message = send_and_deliver(&app, &ann, &id, "hi").await;

    let pat = delivery_to(&message, PAT);
    assert_eq!((pat["status"].clone(), pat["attempts"].clone()), (json!("queued"), json!(4)));
    assert_eq!(app.sms.taken_by(&e164(PAT)).len(), 1, "sent once");
    assert_eq!(app.sms.sent_to(&e164(PAT)).len(), 4);
    // Each retry was queued as a delayed job of its own (zero here: DELIVERY_RETRY_*_SECONDS=0).
    let retries = app.queue.calls().iter().skip(1).filter(|(jobs, _)| jobs == &[job_of(&pat)]).count();
    assert_eq!(retries, 3);
}

#[tokio::test]
async fn given_an_invalid_number_21211_then_the_delivery_fails_after_one_call_and_is_not_retried() {
    let (app, ann, id, _) = ann_and_pat(&[]).await;
    app.sms.always(&e164(PAT), rejected(21211));

    let message = send_and_deliver(&app, &ann, &id, "hi").await;

    let pat = delivery_to(&message, PAT);
    assert_eq!(
        (pat["status"].clone(), pat["errorCode"].clone(), pat["attempts"].clone()),
        (json!("failed"), json!(21211), json!(1))
    );
    assert_eq!(app.sms.sent_to(&e164(PAT)).len(), 1, "no retry");
    assert!(!stored_delivery(&app, &pat).tentative, "Twilio said no");
    assert!(app.queue.dead_letters().is_empty(), "refused, not given up");
    assert_eq!(message["status"], "failed");
}

#[tokio::test]
async fn given_twilio_took_the_sms_but_its_answer_was_lost_then_the_retry_adopts_its_sid_and_sends_nothing_more(
) {
    let (app, ann, id, _) = ann_and_pat(&[]).await;
    let sid = app.sms.script_lost_answer(&e164(PAT));

    let message = send_and_deliver(&app, &ann, &id, "did it go?").await;

    // The second attempt looked for it at Twilio first (same to, from and text, since the first
    // attempt), found it, and adopted its SID instead of sending again.
    let pat = delivery_to(&message, PAT);
    assert_eq!((pat["status"].clone(), pat["twilioSid"].clone()), (json!("queued"), json!(sid)));
    assert_eq!(pat["attempts"], 2);
    assert_eq!(app.sms.sent_to(&e164(PAT)).len(), 1, "one SMS");
    let queries = app.sms.find_queries();
    assert_eq!(queries.len(), 1);
    assert_eq!((queries[0].to.as_str(), queries[0].body.as_str()), (PAT, "did it go?"));
    // Its status callbacks find it by that SID.
    assert_twiml(&app.status_callback(None, &sid, "delivered", None).await);
    assert_eq!(stored_delivery(&app, &pat).status, DeliveryStatus::Delivered);
}

#[tokio::test]
async fn given_a_delivery_job_run_by_two_workers_at_once_and_delivered_again_later_then_one_sms_goes() {
    let (app, ann, id, _) = ann_and_pat(&[]).await;
    // Twilio takes its time: the second worker claims while the first is calling it.
    app.sms.set_latency(std::time::Duration::from_millis(50));
    let sent = app.send_text(&ann, &id, "once").await;
    let jobs = app.queue.take_all();
    assert_eq!(jobs, [job_of(&delivery_to(&sent, PAT))]);

    let (a, b) = tokio::join!(app.run_job(&jobs[0]), app.run_job(&jobs[0]));
    a.unwrap();
    b.unwrap();
    // ...and the queue delivers the same job once more.
    app.run_job(&jobs[0]).await.unwrap();
    app.run_pipeline().await;

    assert_eq!(app.sms.sent().len(), 1, "one send");
    let pat = delivery_to(&shown(&app, &id, &ann, &sent).await, PAT);
    assert_eq!((pat["status"].clone(), pat["attempts"].clone()), (json!("queued"), json!(1)));
}

#[tokio::test]
async fn given_the_jobs_are_lost_after_the_write_ahead_then_the_sweeper_queues_them_and_they_are_sent() {
    let (app, ann, id, _) = ann_and_pat(&[]).await;
    app.queue.refuse(true);

    // The send answers all the same: its SMS are in the outbox.
    let sent = app.send_text(&ann, &id, "not lost").await;
    assert_eq!(delivery_to(&sent, PAT)["status"], "pending");
    assert!(app.queue.waiting().is_empty());
    app.queue.refuse(false);
    assert_eq!(app.run_pipeline().await, 0);

    let swept = pipeline::sweep(app.core(), chrono::Utc::now()).await.unwrap();

    assert_eq!(swept, 1);
    app.run_pipeline().await;
    assert_eq!(app.sms.sent_to(&e164(PAT)).len(), 1);
    assert_eq!(delivery_to(&shown(&app, &id, &ann, &sent).await, PAT)["status"], "queued");
    // Nothing left to sweep.
    assert_eq!(pipeline::sweep(app.core(), chrono::Utc::now()).await.unwrap(), 0);
}

#[tokio::test]
async fn given_the_last_attempt_fails_then_the_delivery_is_failed_and_dead_lettered() {
    let (app, ann, id, _) = ann_and_pat(&[("DELIVERY_MAX_ATTEMPTS", "3")]).await;
    let throttled = SendError::Throttled { code: Some(20429), message: "Too Many Requests".into() };
    app.sms.always(&e164(PAT), Err(throttled));

    let message = send_and_deliver(&app, &ann, &id, "hi").await;

    let pat = delivery_to(&message, PAT);
    assert_eq!(
        (pat["status"].clone(), pat["attempts"].clone(), pat["errorCode"].clone()),
        (json!("failed"), json!(3), json!(20429))
    );
    assert_eq!(app.sms.sent_to(&e164(PAT)).len(), 3);
    assert!(!stored_delivery(&app, &pat).tentative, "Twilio said it did not take it");
    let dead = app.queue.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].0, job_of(&pat));
    assert!(dead[0].1.contains("3 attempts"), "{}", dead[0].1);
}

#[tokio::test]
async fn given_a_stop_arrives_while_a_delivery_waits_for_its_retry_then_it_is_opted_out_and_no_sms_goes() {
    let (app, ann, id, number) = ann_and_pat(&[]).await;
    app.sms.script(&e164(PAT), Err(SendError::Unavailable("503".into())));
    let sent = app.send_text(&ann, &id, "hi").await;
    // The first attempt fails; its retry waits in the queue.
    for job in app.queue.take_all() {
        app.run_job(&job).await.unwrap();
    }
    assert_eq!(app.queue.waiting().len(), 1);
    assert_eq!(app.sms.sent_to(&e164(PAT)).len(), 1);

    // WHEN Pat texts STOP
    assert_twiml(&app.inbound_sms(&message_sid(1), PAT, &number, "STOP").await);
    app.run_pipeline().await;

    // THEN the retry sends nothing and the delivery is opted out
    let pat = delivery_to(&shown(&app, &id, &ann, &sent).await, PAT);
    assert_eq!(pat["status"], "opted_out");
    assert_eq!(app.sms.sent_to(&e164(PAT)).len(), 1, "no second call");
    assert!(app.sms.taken_by(&e164(PAT)).is_empty(), "no SMS");
}

#[tokio::test]
async fn given_a_group_text_to_twenty_other_phones_then_the_webhook_makes_two_store_calls_and_each_relay_goes_once(
) {
    let app = FastApp::new();
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1)]).await;
    let bea = app.register("bea").await;
    let phones: Vec<String> = (0..=20).map(|n| format!("+1415555{:04}", 500 + n)).collect();
    let participants: Vec<Value> = phones.iter().map(|p| json!({"phoneNumber": p})).collect();
    let group = app.create_group(&bea, "Big", json!(participants)).await;
    let proxy = proxy_of(&group, &phones[0]);
    let requests = app.store.requests();

    assert_twiml(&app.inbound_sms(&message_sid(1), &phones[0], &proxy, "hello all").await);

    // The route and the number (one read), the text with its MessageSid (one write): the webhook
    // answers without reading the group.
    assert_eq!(app.store.requests() - requests, 2);
    assert!(app.sms.sent().is_empty());
    assert_eq!(app.run_pipeline().await, 21, "the relay job, then one job per relay");
    for phone in &phones[1..] {
        assert_eq!(app.sms.sent_to(&e164(phone)).len(), 1, "{phone}");
    }
    assert!(app.sms.sent_to(&e164(&phones[0])).is_empty(), "not back to its sender");
    let text = &app.history(&id_of(&group), &bea).await[0];
    let deliveries = text["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 20);
    assert!(deliveries.iter().all(|d| d["status"] == "queued"));
    assert_eq!(app.inbox(&bea).await[0]["lastMessagePreview"], "hello all");
}

// --- found by fuzzing the local stack against the description (scripts/fuzz.sh) ------------------

#[tokio::test]
async fn fuzzing_a_body_that_is_not_utf8_is_a_400_not_a_500() {
    let app = FastApp::new();
    let ann = app.register("ann").await;
    for (path, token) in [("/api/auth/login", None), ("/api/conversations/direct", Some(ann.token.as_str()))]
    {
        let mut request = switchboard_tests::fast::request("POST", path, "", token, &[]);
        *request.body_mut() = lambda_http::Body::Binary(vec![0xb3, b'i', 0xff]);
        let reply = app.dispatch(request).await;
        assert_eq!((reply.status, reply.code()), (400, "invalid_request"), "{path}: {:?}", reply.body);
    }
}

#[tokio::test]
async fn fuzzing_a_limit_past_int32_is_read_as_100_as_the_description_says_and_past_u32_is_a_400() {
    let app = FastApp::new();
    let ann = app.register("ann").await;
    assert_eq!(app.get("/api/users?limit=2147483648", &ann.token).await.status, 200);
    assert_eq!(app.get("/api/users?limit=4294967295", &ann.token).await.status, 200);
    let past = app.get("/api/users?limit=4294967296", &ann.token).await;
    assert_eq!((past.status, past.field()), (400, "limit"));
    let description = serde_json::to_value(switchboard_tests::contract::description()).unwrap();
    let limit = description["paths"]["/api/users"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap()
        .clone();
    assert_eq!(
        (limit["schema"]["minimum"].as_u64(), limit["schema"]["maximum"].as_u64()),
        (Some(1), Some(u32::MAX.into()))
    );
}

#[tokio::test]
async fn fuzzing_an_empty_status_filter_is_a_400_as_the_described_enum_says() {
    let app = FastApp::new();
    let admin = app.admin().await;
    let empty = app.get("/api/numbers?status=", &admin.token).await;
    assert_eq!((empty.status, empty.field()), (400, "status"), "{:?}", empty.body);
    assert_eq!(app.get("/api/numbers?status=all", &admin.token).await.status, 200);
}

// --- read state ----------------------------------------------------------------------------------

/// Bob's inbox line for `id`, and his unread total.
async fn bobs_line(app: &FastApp, bob: &Session, id: &str) -> (Value, Value) {
    let inbox = app.get("/api/conversations", &bob.token).await;
    let line = inbox.body["conversations"].as_array().unwrap().iter().find(|c| c["id"] == id).cloned();
    (line.expect("bob's line"), inbox.body["unreadTotal"].clone())
}

#[tokio::test]
async fn given_a_group_when_others_write_and_a_member_reads_then_counts_horizons_and_events_follow() {
    let app = FastApp::new();
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1)]).await;
    let (ada, bob, eve) = (app.register("ada").await, app.register("bob").await, app.register("eve").await);
    let group = app
        .create_group(
            &ada,
            "Club",
            json!([{"userId": bob.user_id}, {"phoneNumber": SAM, "displayName": "Sam"}]),
        )
        .await;
    let (id, proxy) = (id_of(&group), proxy_of(&group, SAM));
    let read_path = format!("/api/conversations/{id}/read");

    // WHEN Ada writes twice and Sam texts once THEN Bob has three unread; Ada has Sam's text
    let first = app.send_text(&ada, &id, "one").await;
    app.send_text(&ada, &id, "two").await;
    app.inbound_sms(&message_sid(1), SAM, &proxy, "three").await;
    app.run_pipeline().await;
    let (line, total) = bobs_line(&app, &bob, &id).await;
    assert_eq!((line["unreadCount"].clone(), total), (json!(3), json!(3)));
    assert!(line.get("lastReadMessageId").is_none(), "Bob has read nothing yet");
    let adas = app.get(format!("/api/conversations/{id}"), &ada.token).await.body["conversation"].clone();
    assert_eq!(adas["unreadCount"], 1);
    let ada_in_view =
        adas["participants"].as_array().unwrap().iter().find(|p| p["userId"] == ada.user_id).cloned();
    assert!(ada_in_view.unwrap().get("lastReadMessageId").is_none(), "writing moves no horizon");

    // WHEN Bob reads up to the first message on his laptop THEN two remain; his phone hears his
    // count, Ada hears his horizon (not his count), Eve hears nothing
    let (laptop, phone) = (app.connect("bob-laptop", &bob).await, app.connect("bob-phone", &bob).await);
    let (ada1, eve1) = (app.connect("ada-1", &ada).await, app.connect("eve-1", &eve).await);
    let reply = app.put(&read_path, json!({"messageId": first["id"]}), &bob.token).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        (reply.body["read"]["unreadCount"].clone(), reply.body["read"]["lastReadMessageId"].clone()),
        (json!(2), first["id"].clone())
    );
    let own = &app.gateway.frames_to(&phone)[0];
    assert_eq!(own["type"], "conversation.read");
    assert_eq!(
        (own["payload"]["lastReadMessageId"].clone(), own["payload"]["unreadCount"].clone()),
        (first["id"].clone(), json!(2))
    );
    assert_eq!(
        app.event_types(&laptop),
        ["conversation.read"],
        "every device of the reader, the one that read too"
    );
    let theirs = &app.gateway.frames_to(&ada1)[0];
    assert_eq!(
        (theirs["type"].clone(), theirs["payload"]["userId"].clone()),
        (json!("conversation.read"), json!(bob.user_id))
    );
    assert!(theirs["payload"].get("unreadCount").is_none(), "another member's count is his alone");
    assert!(app.gateway.frames_to(&eve1).is_empty());
    app.gateway.clear();

    // WHEN he marks an older message read THEN nothing moves and no one is told
    let back = app.put(&read_path, json!({"messageId": first["id"]}), &bob.token).await;
    assert_eq!((back.status, back.body["read"]["unreadCount"].clone()), (200, json!(2)));
    assert!(app.gateway.frames_to(&ada1).is_empty() && app.gateway.frames_to(&phone).is_empty());

    // WHEN he reads the newest THEN his line and total are zero and members see his horizon
    let newest = app.history(&id, &bob).await[0]["id"].clone();
    app.put(&read_path, json!({"messageId": newest}), &bob.token).await;
    let (line, total) = bobs_line(&app, &bob, &id).await;
    assert_eq!(
        (line["unreadCount"].clone(), line["lastReadMessageId"].clone(), total),
        (json!(0), newest.clone(), json!(0))
    );
    let view = app.get(format!("/api/conversations/{id}"), &ada.token).await.body["conversation"].clone();
    let bob_in_view =
        view["participants"].as_array().unwrap().iter().find(|p| p["userId"] == bob.user_id).cloned();
    assert_eq!(bob_in_view.unwrap()["lastReadMessageId"], newest);

    // WHEN he writes THEN nothing becomes unread for him
    app.send_text(&bob, &id, "caught up").await;
    assert_eq!(bobs_line(&app, &bob, &id).await.0["unreadCount"], 0);
}

#[tokio::test]
async fn given_outsiders_bad_ids_and_removed_members_when_marking_read_then_each_gets_a_clear_error() {
    let app = FastApp::new();
    let (ada, bob, eve) = (app.register("ada").await, app.register("bob").await, app.register("eve").await);
    let group = app.create_group(&ada, "Club", json!([{"userId": bob.user_id}])).await;
    let id = id_of(&group);
    let other = app.create_group(&ada, "Other", json!([{"userId": bob.user_id}])).await;
    let elsewhere = app.send_text(&ada, &id_of(&other), "elsewhere").await;
    let message = app.send_text(&ada, &id, "hello").await;
    let read_path = format!("/api/conversations/{id}/read");
    let mark = |who: &Session, body: Value| {
        let (path, token) = (read_path.clone(), who.token.clone());
        let app = &app;
        async move { app.put(&path, body, &token).await }
    };

    let outsider = mark(&eve, json!({"messageId": message["id"]})).await;
    assert_eq!((outsider.status, outsider.code()), (404, "not_found"), "an outsider learns nothing");
    let not_an_id = mark(&bob, json!({"messageId": "yesterday"})).await;
    assert_eq!((not_an_id.status, not_an_id.field()), (422, "messageId"), "{:?}", not_an_id.body);
    let missing = mark(&bob, json!({})).await;
    assert_eq!((missing.status, missing.field()), (400, "messageId"), "{:?}", missing.body);
    let foreign = mark(&bob, json!({"messageId": elsewhere["id"]})).await;
    assert_eq!((foreign.status, foreign.code()), (404, "not_found"), "a message of another conversation");
    let unknown = mark(&bob, json!({"messageId": NOBODY})).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        app.put(format!("/api/conversations/{NOBODY}/read"), json!({"messageId": message["id"]}), &bob.token)
            .await
            .status,
        404
    );
    assert_eq!(
        app.send("PUT", &read_path, Some(json!({"messageId": message["id"]})), None).await.status,
        401
    );

    // WHEN Bob is removed THEN his read state is gone from the conversation and he cannot mark it
    let bob_path =
        format!("/api/conversations/{id}/participants/{}", participant_id(&group, "userId", &bob.user_id));
    assert_eq!(app.delete(&bob_path, &ada.token).await.status, 200);
    let removed = mark(&bob, json!({"messageId": message["id"]})).await;
    assert_eq!(removed.status, 404);
    let view = app.get(format!("/api/conversations/{id}"), &ada.token).await.body["conversation"].clone();
    assert!(view["participants"].as_array().unwrap().iter().all(|p| p["userId"] != bob.user_id));
}
