//! `users` function: the caller's profile and virtual number, the directory, and admin
//! activation.
//!
//! GET|PUT /api/users/profile, POST|DELETE /api/users/virtual-number,
//! GET /api/users/virtual-numbers, GET /api/users, PUT /api/users/{userId}/status (admin).

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::json;
use switchboard::api::{self, HttpResponse};
use switchboard::domain::user::{User, USERNAME_MAX};
use switchboard::service::{accounts, numbers};
use switchboard::{AppError, AppState};

pub async fn handle(state: AppState, req: Request) -> Response<Body> {
    api::serve(state, "users", req, route).await
}

#[derive(Deserialize)]
struct StatusRequest {
    active: bool,
}

async fn route(state: AppState, req: Request) -> Result<HttpResponse, AppError> {
    let segments = api::path_segments(&req);
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = req.method().clone();
    // Every route here needs a caller; check the route exists first so unknown paths are 404.
    let allowed: &'static [&'static str] = match segments.as_slice() {
        ["api", "users", "profile"] => &["GET", "PUT"],
        ["api", "users", "virtual-number"] => &["POST", "DELETE"],
        ["api", "users", "virtual-numbers"] | ["api", "users"] => &["GET"],
        ["api", "users", _, "status"] => &["PUT"],
        _ => return Err(AppError::not_found("no such route")),
    };
    if !allowed.contains(&method.as_str()) {
        return Err(AppError::MethodNotAllowed { allowed });
    }
    let caller = api::authenticate(&state, &req).await?;
    let user_response = |user: &User| api::json(200, &json!({ "user": user.view(caller.role) }));

    match (method, segments.as_slice()) {
        (Method::GET, ["api", "users", "profile"]) => user_response(&caller.user),
        (Method::PUT, ["api", "users", "profile"]) => {
            let updated = accounts::update_profile(&state, &caller.user, api::json_body(&req)?).await?;
            user_response(&updated)
        }
        (Method::POST, ["api", "users", "virtual-number"]) => {
            let updated = numbers::assign(&state, &caller.user, api::json_body_or_default(&req)?).await?;
            user_response(&updated)
        }
        (Method::DELETE, ["api", "users", "virtual-number"]) => {
            user_response(&numbers::release(&state, &caller.user).await?)
        }
        (Method::GET, ["api", "users", "virtual-numbers"]) => {
            let page = numbers::users_with_numbers(&state, &api::page_request(&req)?).await?;
            api::json(200, &json!({ "users": page.items, "nextCursor": page.next_cursor }))
        }
        (Method::GET, ["api", "users"]) => {
            // No username is longer than USERNAME_MAX; a longer prefix matches nobody.
            let prefix =
                api::query_param(&req, "q").map(|q| q.chars().take(USERNAME_MAX + 1).collect::<String>());
            let page = state.store.list_active_users(prefix.as_deref(), &api::page_request(&req)?).await?;
            let users: Vec<_> = page.items.iter().map(User::public_view).collect();
            api::json(200, &json!({ "users": users, "nextCursor": page.next_cursor }))
        }
        (Method::PUT, ["api", "users", user_id, "status"]) => {
            caller.require_admin()?;
            let body: StatusRequest = api::json_body(&req)?;
            let user = accounts::set_active(&state, user_id, body.active).await?;
            let role = api::auth::role_of(&state, &user);
            api::json(200, &json!({ "user": user.view(role) }))
        }
        _ => Err(AppError::not_found("no such route")),
    }
}
