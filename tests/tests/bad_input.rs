//! Bad input never gives a 500: every case gets the JSON error with the right status and,
//! where one applies, the field.

use serde_json::json;
use switchboard_tests::{TestApp, PASSWORD};

/// (method, path, raw body, token, expected status, code, field)
type Case<'a> = (&'a str, &'a str, String, Option<&'a str>, u16, &'a str, &'a str);

#[tokio::test]
async fn bad_requests_get_clear_json_errors() {
    let app = TestApp::new().await;
    let ada = app.register("ada").await;
    let token = Some(ada.token.as_str());
    let big = format!(r#"{{"username":"x","email":"x@example.com","password":"{}"}}"#, "p".repeat(70_000));

    let cases: Vec<Case> = vec![
        ("POST", "/api/auth/register", "{not json".into(), None, 400, "invalid_request", ""),
        ("POST", "/api/auth/register", "".into(), None, 400, "invalid_request", ""),
        ("POST", "/api/auth/register", "[1,2]".into(), None, 400, "invalid_request", ""),
        ("POST", "/api/auth/register", json!({"email": "a@example.com", "password": PASSWORD}).to_string(), None, 400, "invalid_request", "username"),
        ("POST", "/api/auth/register", json!({"username": 5, "email": "a@example.com", "password": PASSWORD}).to_string(), None, 400, "invalid_request", "username"),
        ("POST", "/api/auth/register", json!({"username": "okname", "email": "not-an-email", "password": PASSWORD}).to_string(), None, 422, "validation_failed", "email"),
        ("POST", "/api/auth/register", json!({"username": "okname", "email": "a@example.com", "password": "short"}).to_string(), None, 422, "validation_failed", "password"),
        ("POST", "/api/auth/register", json!({"username": "okname", "email": "a@example.com", "password": PASSWORD, "phoneNumber": "+1 23"}).to_string(), None, 422, "validation_failed", "phoneNumber"),
        ("POST", "/api/auth/register", json!({"username": "okname", "email": "a@example.com", "password": PASSWORD, "phoneNumber": 14155550100u64}).to_string(), None, 400, "invalid_request", "phoneNumber"),
        ("POST", "/api/auth/register", big, None, 413, "payload_too_large", ""),
        ("POST", "/api/auth/login", json!({"password": PASSWORD}).to_string(), None, 400, "invalid_request", "email"),
        ("POST", "/api/auth/login", json!({"email": "ada@example.com"}).to_string(), None, 400, "invalid_request", "password"),
        ("POST", "/api/auth/refresh", json!({"refreshToken": "nope"}).to_string(), None, 401, "unauthorized", ""),
        ("POST", "/api/auth/refresh", json!({}).to_string(), None, 400, "invalid_request", "refreshToken"),
        ("PUT", "/api/users/profile", json!({"firstName": ["a"]}).to_string(), token, 400, "invalid_request", "firstName"),
        ("PUT", "/api/users/profile", json!({"email": "nope"}).to_string(), token, 422, "validation_failed", "email"),
        ("POST", "/api/users/virtual-number", json!({"phoneNumber": "call me"}).to_string(), token, 422, "validation_failed", "phoneNumber"),
        ("POST", "/api/users/virtual-number", "{".into(), token, 400, "invalid_request", ""),
        ("PUT", "/api/users/01ARZ3NDEKTSV4RRFFQ69G5FAV/status", json!({"active": false}).to_string(), token, 403, "forbidden", ""),
        ("GET", "/api/auth/nope", "".into(), None, 404, "not_found", ""),
        ("GET", "/api/users/nope/deeper/still", "".into(), token, 404, "not_found", ""),
        ("GET", "/api/auth/register", "".into(), None, 405, "method_not_allowed", ""),
        ("DELETE", "/api/users/profile", "".into(), token, 405, "method_not_allowed", ""),
        ("PATCH", "/api/numbers", "".into(), token, 405, "method_not_allowed", ""),
    ];
    for (method, path, body, token, status, code, field) in cases {
        let reply = app.send_raw(method, path, &body, token).await;
        let label = format!("{method} {path} {}", body.chars().take(60).collect::<String>());
        assert_eq!(reply.status, status, "{label}: {:?}", reply.body);
        assert_eq!(reply.code(), code, "{label}: {:?}", reply.body);
        assert_eq!(reply.field(), field, "{label}: {:?}", reply.body);
        assert!(reply.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{label}");
        assert_eq!(reply.headers["content-type"], "application/json", "{label}");
    }
}

#[tokio::test]
async fn method_not_allowed_names_the_allowed_methods() {
    let app = TestApp::new().await;
    let reply = app.send("GET", "/api/auth/login", None, None).await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.headers["allow"], "POST");
}

#[tokio::test]
async fn admin_routes_reject_unknown_users_and_bad_numbers_without_500() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let token = Some(admin.token.as_str());
    let unknown = app.send("PUT", "/api/users/nobody/status", Some(json!({"active": false})), token).await;
    assert_eq!(unknown.status, 404);
    let wrong_type = app.send("PUT", "/api/users/nobody/status", Some(json!({"active": "no"})), token).await;
    assert_eq!((wrong_type.status, wrong_type.field()), (400, "active"));
    let bad_number = app.send("DELETE", "/api/numbers/not-a-number", None, token).await;
    assert_eq!((bad_number.status, bad_number.field()), (422, "phoneNumber"));
}
