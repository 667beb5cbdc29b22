//! `users` function: the caller's profile and virtual number, the directory, and admin
//! activation.

use serde::Deserialize;
use serde_json::json;
use switchboard::api::{self, Access, Call, Reply, Routes};
use switchboard::core::domain::ids::UserId;
use switchboard::core::domain::user::User;
use switchboard::core::service::{accounts, numbers};
use switchboard::route;

pub fn routes() -> Routes {
    Routes::new(
        "users",
        [
            route!(Access::User, get_profile),
            route!(Access::User, update_profile),
            route!(Access::User, take_number),
            route!(Access::User, release_number),
            route!(Access::User, users_with_numbers),
            route!(Access::User, directory),
            route!(Access::Admin, set_status),
        ],
    )
}

#[derive(Deserialize)]
struct StatusRequest {
    active: bool,
}

fn user_reply(call: &Call, user: &User) -> Reply {
    api::json(200, &json!({ "user": user.view(call.caller()?.role) }))
}

/// The caller's profile.
#[utoipa::path(get, path = "/api/users/profile", tag = "users", security(("bearer" = [])))]
async fn get_profile(call: Call) -> Reply {
    user_reply(&call, &call.caller()?.user)
}

/// Changes the caller's names, personal phone or email.
#[utoipa::path(put, path = "/api/users/profile", tag = "users", security(("bearer" = [])))]
async fn update_profile(call: Call) -> Reply {
    let updated = accounts::update_profile(call.app(), &call.caller()?.user, call.json()?).await?;
    user_reply(&call, &updated)
}

/// Gives the caller a virtual number: the one asked for, or any free one.
#[utoipa::path(post, path = "/api/users/virtual-number", tag = "users", security(("bearer" = [])))]
async fn take_number(call: Call) -> Reply {
    let updated = numbers::assign(call.app(), &call.caller()?.user, call.json_or_default()?).await?;
    user_reply(&call, &updated)
}

/// Releases the caller's virtual number (its SMS conversations close).
#[utoipa::path(delete, path = "/api/users/virtual-number", tag = "users", security(("bearer" = [])))]
async fn release_number(call: Call) -> Reply {
    let updated = numbers::release(call.app(), &call.caller()?.user).await?;
    user_reply(&call, &updated)
}

/// Users who hold a virtual number.
#[utoipa::path(get, path = "/api/users/virtual-numbers", tag = "users", security(("bearer" = [])))]
async fn users_with_numbers(call: Call) -> Reply {
    let page = numbers::users_with_numbers(call.app(), &call.page()?).await?;
    api::json(200, &json!({ "users": page.items, "nextCursor": page.next_cursor }))
}

/// The directory of active users, by username (`?q=` a prefix).
#[utoipa::path(get, path = "/api/users", tag = "users", security(("bearer" = [])))]
async fn directory(call: Call) -> Reply {
    let page = accounts::directory(call.app(), call.query("q").as_deref(), &call.page()?).await?;
    api::json(200, &json!({ "users": page.items, "nextCursor": page.next_cursor }))
}

/// Admins deactivate (ends sessions, frees the number) or reactivate a user.
#[utoipa::path(put, path = "/api/users/{userId}/status", tag = "users", security(("bearer" = [])))]
async fn set_status(call: Call) -> Reply {
    // The body is read before the id: a malformed request is a 400 whatever it names.
    let body: StatusRequest = call.json()?;
    let user_id: UserId = call.id("userId")?;
    let user = accounts::set_active(call.app(), user_id, body.active).await?;
    let role = call.app().settings.roles.of(&user);
    api::json(200, &json!({ "user": user.view(role) }))
}
