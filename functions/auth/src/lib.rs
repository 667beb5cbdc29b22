//! `auth` function: POST /api/auth/register, /login, /refresh; GET /api/auth/profile.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use switchboard::api::{self, HttpResponse};
use switchboard::service::accounts;
use switchboard::{AppError, AppState};

pub async fn handle(state: AppState, req: Request) -> Response<Body> {
    api::serve(state, "auth", req, route).await
}

async fn route(state: AppState, req: Request) -> Result<HttpResponse, AppError> {
    let segments = api::path_segments(&req);
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = req.method().clone();
    match segments.as_slice() {
        ["api", "auth", "register"] => match method {
            Method::POST => api::json(201, &accounts::register(&state, api::json_body(&req)?).await?),
            _ => Err(AppError::MethodNotAllowed { allowed: &["POST"] }),
        },
        ["api", "auth", "login"] => match method {
            Method::POST => api::json(200, &accounts::login(&state, api::json_body(&req)?).await?),
            _ => Err(AppError::MethodNotAllowed { allowed: &["POST"] }),
        },
        ["api", "auth", "refresh"] => match method {
            Method::POST => api::json(200, &accounts::refresh(&state, api::json_body(&req)?).await?),
            _ => Err(AppError::MethodNotAllowed { allowed: &["POST"] }),
        },
        ["api", "auth", "profile"] => match method {
            Method::GET => {
                let caller = api::authenticate(&state, &req).await?;
                api::json(200, &json!({ "user": caller.user.view(caller.role) }))
            }
            _ => Err(AppError::MethodNotAllowed { allowed: &["GET"] }),
        },
        _ => Err(AppError::not_found("no such route")),
    }
}
