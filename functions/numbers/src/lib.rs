//! `numbers` function (admins only): the pool of Twilio numbers.
//!
//! GET /api/numbers?status=free|assigned|proxy&limit&cursor, POST /api/numbers {phoneNumber},
//! DELETE /api/numbers/{phoneNumber}.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use switchboard::api::{self, HttpResponse};
use switchboard::domain::number::NumberStatus;
use switchboard::service::numbers;
use switchboard::{AppError, AppState};

pub async fn handle(state: AppState, req: Request) -> Response<Body> {
    api::serve(state, "numbers", req, route).await
}

async fn route(state: AppState, req: Request) -> Result<HttpResponse, AppError> {
    let segments = api::path_segments(&req);
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = req.method().clone();
    let allowed: &'static [&'static str] = match segments.as_slice() {
        ["api", "numbers"] => &["GET", "POST"],
        ["api", "numbers", _] => &["DELETE"],
        _ => return Err(AppError::not_found("no such route")),
    };
    if !allowed.contains(&method.as_str()) {
        return Err(AppError::MethodNotAllowed { allowed });
    }
    api::authenticate(&state, &req).await?.require_admin()?;

    match (method, segments.as_slice()) {
        (Method::GET, ["api", "numbers"]) => {
            let status = match api::query_param(&req, "status").as_deref() {
                None | Some("") | Some("all") => None,
                Some("free") => Some(NumberStatus::Free),
                Some("assigned") => Some(NumberStatus::Assigned),
                Some("proxy") => Some(NumberStatus::Proxy),
                Some(_) => {
                    return Err(AppError::bad_request(
                        Some("status".to_string()),
                        "status must be free, assigned, proxy or all",
                    ))
                }
            };
            let page = numbers::list(&state, status, &api::page_request(&req)?).await?;
            api::json(200, &json!({ "numbers": page.items, "nextCursor": page.next_cursor }))
        }
        (Method::POST, ["api", "numbers"]) => {
            let added = numbers::add(&state, api::json_body(&req)?).await?;
            api::json(201, &json!({ "number": added }))
        }
        (Method::DELETE, ["api", "numbers", number]) => {
            let removed = numbers::remove(&state, number).await?;
            api::json(200, &json!({ "deleted": removed }))
        }
        _ => Err(AppError::not_found("no such route")),
    }
}
