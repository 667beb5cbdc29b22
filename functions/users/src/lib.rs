//! `users` function: the caller's profile and virtual number, the directory, admin activation,
//! and the caller's contacts (`contacts.rs`).

mod contacts;

use serde::Deserialize;
use switchboard::api::bodies::{PageParams, UserBody, UserPage};
use switchboard::api::{self, Access, Call, Reply, Routes};
use switchboard::core::domain::ids::UserId;
use switchboard::core::domain::user::User;
use switchboard::core::service::accounts::{self, ProfileUpdate};
use switchboard::core::service::numbers::{self, AssignRequest};
use switchboard::route;

use contacts::{create_contact, delete_contact, get_contact, import_contacts, list_contacts, update_contact};
// The route table names each handler's generated path description beside it.
use contacts::{
    __path_create_contact, __path_delete_contact, __path_get_contact, __path_import_contacts,
    __path_list_contacts, __path_update_contact,
};

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
            route!(Access::User, list_contacts),
            route!(Access::User, create_contact),
            route!(Access::User, get_contact),
            route!(Access::User, update_contact),
            route!(Access::User, delete_contact),
            route!(Access::User, import_contacts),
        ],
    )
}

/// `PUT /api/users/{userId}/status`.
#[derive(Deserialize, utoipa::ToSchema)]
struct StatusRequest {
    /// `false` deactivates: their sessions end, they leave the directory, their number is freed.
    active: bool,
}

fn user_reply(call: &Call, user: &User) -> Reply {
    api::json(200, &UserBody { user: user.view(call.caller()?.role) })
}

fn page(users: switchboard::core::ports::Page<switchboard::core::domain::user::PublicUserView>) -> Reply {
    api::json(200, &UserPage { users: users.items, next_cursor: users.next_cursor })
}

/// The caller's profile.
#[utoipa::path(
    get,
    path = "/api/users/profile",
    tag = "users",
    responses((status = 200, description = "The caller's profile.", body = UserBody))
)]
async fn get_profile(call: Call) -> Reply {
    user_reply(&call, &call.caller()?.user)
}

/// Changes the caller's names, personal phone or email.
///
/// An absent field stays as it is; `null` or `""` clears it (not the email).
#[utoipa::path(
    put,
    path = "/api/users/profile",
    tag = "users",
    request_body = ProfileUpdate,
    responses((status = 200, description = "The updated profile.", body = UserBody)),
    extensions(("x-errors" = json!(["validation_failed", "forbidden", "email_taken", "concurrent_update"])))
)]
async fn update_profile(call: Call) -> Reply {
    let updated = accounts::update_profile(call.app(), &call.caller()?.user, call.json()?).await?;
    user_reply(&call, &updated)
}

/// Gives the caller a virtual number: the one asked for, or any free one.
///
/// The body may be empty (any free number).
#[utoipa::path(
    post,
    path = "/api/users/virtual-number",
    tag = "users",
    request_body(content = AssignRequest, description = "Optional: `{}` or no body takes any free number."),
    responses((status = 200, description = "The caller, with `virtualPhoneNumber`.", body = UserBody)),
    extensions(("x-errors" = json!([
        "validation_failed", "not_found", "already_has_number", "number_taken", "number_assigned",
        "number_in_use", "no_free_number", "concurrent_update"
    ])))
)]
async fn take_number(call: Call) -> Reply {
    let updated = numbers::assign(call.app(), &call.caller()?.user, call.json_or_default()?).await?;
    user_reply(&call, &updated)
}

/// Releases the caller's virtual number (its SMS conversations close).
#[utoipa::path(
    delete,
    path = "/api/users/virtual-number",
    tag = "users",
    responses((status = 200, description = "The caller, without a virtual number.", body = UserBody)),
    extensions(("x-errors" = json!(["not_found", "concurrent_update"])))
)]
async fn release_number(call: Call) -> Reply {
    let updated = numbers::release(call.app(), &call.caller()?.user).await?;
    user_reply(&call, &updated)
}

/// Users who hold a virtual number.
#[utoipa::path(
    get,
    path = "/api/users/virtual-numbers",
    tag = "users",
    params(PageParams),
    responses((status = 200, description = "One page of users with a virtual number.", body = UserPage))
)]
async fn users_with_numbers(call: Call) -> Reply {
    page(numbers::users_with_numbers(call.app(), &call.page()?).await?)
}

/// The directory of active users, by username.
#[utoipa::path(
    get,
    path = "/api/users",
    tag = "users",
    params(
        ("q" = Option<String>, Query, description = "Only usernames starting with this (case-insensitive)."),
        PageParams
    ),
    responses((status = 200, description = "One page of the directory, by username.", body = UserPage))
)]
async fn directory(call: Call) -> Reply {
    page(accounts::directory(call.app(), call.query("q").as_deref(), &call.page()?).await?)
}

/// Admins deactivate (ends sessions, frees the number) or reactivate a user.
#[utoipa::path(
    put,
    path = "/api/users/{userId}/status",
    tag = "users",
    params(("userId" = UserId, Path, description = "The user.")),
    request_body = StatusRequest,
    responses((status = 200, description = "The user after the change.", body = UserBody)),
    extensions(("x-errors" = json!(["not_found", "concurrent_update"])))
)]
async fn set_status(call: Call) -> Reply {
    // The body is read before the id: a malformed request is a 400 whatever it names.
    let body: StatusRequest = call.json()?;
    let user_id: UserId = call.id("userId")?;
    let user = accounts::set_active(call.app(), user_id, body.active).await?;
    let role = call.app().settings.roles.of(&user);
    api::json(200, &UserBody { user: user.view(role) })
}
