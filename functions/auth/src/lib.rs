//! `auth` function: register, log in, refresh, and the caller's profile; the API's description
//! (`/api/openapi.json`) and its rendered reference (`/api/docs`). Also the HTTP API's `$default`
//! route: any path no function serves gets this table's JSON 404.

use switchboard::api::bodies::UserBody;
use switchboard::api::{self, Access, Call, Reply, Routes};
use switchboard::core::domain::user::RegisterRequest;
use switchboard::core::service::accounts::{self, LoginRequest, RefreshRequest, Session};
use switchboard::route;

pub fn routes() -> Routes {
    Routes::new(
        "auth",
        [
            route!(Access::Public, register),
            route!(Access::Public, login),
            route!(Access::Public, refresh),
            route!(Access::User, profile),
            route!(Access::Public, openapi_json),
            route!(Access::Public, docs),
        ],
    )
}

/// Registers a user and logs them in.
///
/// The username is unique whatever its case; the email is stored lower-cased. An email listed in
/// `ADMIN_EMAILS` makes the user an admin.
#[utoipa::path(
    post,
    path = "/api/auth/register",
    tag = "auth",
    request_body = RegisterRequest,
    responses((status = 201, description = "Registered and logged in.", body = Session)),
    extensions(("x-errors" = json!(["validation_failed", "email_taken", "username_taken", "concurrent_update"])))
)]
async fn register(call: Call) -> Reply {
    api::json(201, &accounts::register(call.app(), call.json()?).await?)
}

/// Logs in by email or username.
///
/// An unknown login and a wrong password answer alike (401).
#[utoipa::path(
    post,
    path = "/api/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    responses((status = 200, description = "Logged in.", body = Session)),
    extensions(("x-errors" = json!(["unauthorized", "forbidden"])))
)]
async fn login(call: Call) -> Reply {
    api::json(200, &accounts::login(call.app(), call.json()?).await?)
}

/// A new token pair for a refresh token.
///
/// A refresh token stops working when its user is deactivated.
#[utoipa::path(
    post,
    path = "/api/auth/refresh",
    tag = "auth",
    request_body = RefreshRequest,
    responses((status = 200, description = "A new session.", body = Session)),
    extensions(("x-errors" = json!(["unauthorized"])))
)]
async fn refresh(call: Call) -> Reply {
    api::json(200, &accounts::refresh(call.app(), call.json()?).await?)
}

/// The caller.
#[utoipa::path(
    get,
    path = "/api/auth/profile",
    tag = "auth",
    responses((status = 200, description = "The caller's profile.", body = UserBody))
)]
async fn profile(call: Call) -> Reply {
    let caller = call.caller()?;
    api::json(200, &UserBody { user: caller.user.view(caller.role) })
}

/// The description as committed: tests/tests/openapi.rs fails when it differs from what the route
/// tables generate, so serving the file is serving the code's description, without linking
/// every function's handlers into this one.
pub const OPENAPI_JSON: &str = include_str!("../../../docs/openapi.json");

/// Redoc's standalone bundle, vendored (assets/, MIT): a deployed stack may not reach a CDN.
const DOCS_PAGE: &str = concat!(
    r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Switchboard API</title>
<style>body { margin: 0; padding: 0; }</style>
</head>
<body>
<redoc spec-url="openapi.json"></redoc>
<script>
"#,
    include_str!("../assets/redoc.standalone.js"),
    r#"
</script>
</body>
</html>
"#
);

/// This API's OpenAPI 3.1 description: every route, its parameters, bodies, answers and error
/// codes, the Twilio webhooks and the WebSocket events. No token needed.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "docs",
    responses((status = 200, description = "The OpenAPI 3.1 document.", content_type = "application/json", body = Object))
)]
async fn openapi_json(_call: Call) -> Reply {
    api::response::document("application/json", OPENAPI_JSON)
}

/// The rendered reference of this description (Redoc, served from the function). No token needed.
#[utoipa::path(
    get,
    path = "/api/docs",
    tag = "docs",
    responses((status = 200, description = "An HTML page.", content_type = "text/html", body = String))
)]
async fn docs(_call: Call) -> Reply {
    api::response::document("text/html; charset=utf-8", DOCS_PAGE)
}
