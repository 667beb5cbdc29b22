//! `auth` function: register, log in, refresh, and the caller's profile. Also the HTTP API's
//! `$default` route: any path no function serves gets this table's JSON 404.

use switchboard::api::bodies::UserBody;
use switchboard::api::{self, Access, Call, Reply, Routes};
use switchboard::core::domain::user::RegisterRequest;
use switchboard::core::service::accounts::{self, LoginRequest, RefreshRequest, Session};
use switchboard::route;
use serde_json::json;

pub fn routes() -> Routes {
    Routes::new(
        "auth",
        [
            route!(Access::Public, register),
            route!(Access::Public, login),
            route!(Access::Public, refresh),
            route!(Access::User, profile),
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
