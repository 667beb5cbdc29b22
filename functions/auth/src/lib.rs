//! `auth` function: register, log in, refresh, and the caller's profile. Also the HTTP API's
//! `$default` route: any path no function serves gets this table's JSON 404.

use serde_json::json;
use switchboard::api::{self, Access, Call, Reply, Routes};
use switchboard::core::service::accounts;
use switchboard::route;

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

/// Registers a user and logs them in: `{token, refreshToken, expiresIn, user}`.
#[utoipa::path(post, path = "/api/auth/register", tag = "auth")]
async fn register(call: Call) -> Reply {
    api::json(201, &accounts::register(call.app(), call.json()?).await?)
}

/// Logs in by email or username.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth")]
async fn login(call: Call) -> Reply {
    api::json(200, &accounts::login(call.app(), call.json()?).await?)
}

/// A new token pair for a refresh token.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth")]
async fn refresh(call: Call) -> Reply {
    api::json(200, &accounts::refresh(call.app(), call.json()?).await?)
}

/// The caller.
#[utoipa::path(get, path = "/api/auth/profile", tag = "auth", security(("bearer" = [])))]
async fn profile(call: Call) -> Reply {
    let caller = call.caller()?;
    api::json(200, &json!({ "user": caller.user.view(caller.role) }))
}
