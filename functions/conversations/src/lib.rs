//! `conversations` function: direct, SMS and group conversations and their participants.
//!
//! POST /api/conversations/direct | /sms | /group, GET /api/conversations,
//! GET|DELETE /api/conversations/{id}, GET|POST /api/conversations/{id}/participants,
//! PATCH|DELETE /api/conversations/{id}/participants/{participantId}.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use switchboard::api::{self, HttpResponse};
use switchboard::service::conversations::{self, Started};
use switchboard::{AppError, AppState};

pub async fn handle(state: AppState, req: Request) -> Response<Body> {
    api::serve(state, "conversations", req, route).await
}

async fn route(state: AppState, req: Request) -> Result<HttpResponse, AppError> {
    let segments = api::path_segments(&req);
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = req.method().clone();
    let allowed: &'static [&'static str] = match segments.as_slice() {
        ["api", "conversations"] => &["GET"],
        ["api", "conversations", "direct" | "sms" | "group"] => &["POST"],
        ["api", "conversations", _] => &["GET", "DELETE"],
        ["api", "conversations", _, "participants"] => &["GET", "POST"],
        ["api", "conversations", _, "participants", _] => &["PATCH", "DELETE"],
        _ => return Err(AppError::not_found("no such route")),
    };
    if !allowed.contains(&method.as_str()) {
        return Err(AppError::MethodNotAllowed { allowed });
    }
    let caller = api::authenticate(&state, &req).await?.user;
    let started = |s: Started| {
        let status = if s.created { 201 } else { 200 };
        api::json(status, &json!({ "conversation": s.detail.view_for(&caller.id) }))
    };

    match (method, segments.as_slice()) {
        (Method::GET, ["api", "conversations"]) => {
            let page = conversations::list(&state, &caller, &api::page_request(&req)?).await?;
            api::json(200, &json!({ "conversations": page.items, "nextCursor": page.next_cursor }))
        }
        (Method::POST, ["api", "conversations", "direct"]) => {
            started(conversations::start_direct(&state, &caller, api::json_body(&req)?).await?)
        }
        (Method::POST, ["api", "conversations", "sms"]) => {
            started(conversations::start_sms(&state, &caller, api::json_body(&req)?).await?)
        }
        (Method::POST, ["api", "conversations", "group"]) => {
            let detail = conversations::create_group(&state, &caller, api::json_body(&req)?).await?;
            api::json(201, &json!({ "conversation": detail.view_for(&caller.id) }))
        }
        (Method::GET, ["api", "conversations", id]) => {
            let detail = conversations::load_visible(&state, &caller, id).await?;
            api::json(200, &json!({ "conversation": detail.view_for(&caller.id) }))
        }
        (Method::DELETE, ["api", "conversations", id]) => {
            let detail = conversations::close(&state, &caller, id).await?;
            api::json(200, &json!({ "conversation": detail.view_for(&caller.id) }))
        }
        (Method::GET, ["api", "conversations", id, "participants"]) => {
            let detail = conversations::load_visible(&state, &caller, id).await?;
            let participants: Vec<_> = detail.participants.iter().map(|p| p.view()).collect();
            api::json(200, &json!({ "participants": participants }))
        }
        (Method::POST, ["api", "conversations", id, "participants"]) => {
            let added = conversations::add_participant(&state, &caller, id, api::json_body(&req)?).await?;
            api::json(201, &json!({ "participant": added.view() }))
        }
        (Method::PATCH, ["api", "conversations", id, "participants", pid]) => {
            let updated = conversations::set_role(&state, &caller, id, pid, api::json_body(&req)?).await?;
            api::json(200, &json!({ "participant": updated.view() }))
        }
        (Method::DELETE, ["api", "conversations", id, "participants", pid]) => {
            let promoted = conversations::remove_participant(&state, &caller, id, pid).await?;
            api::json(200, &json!({ "removed": pid, "promoted": promoted.map(|p| p.view()) }))
        }
        _ => Err(AppError::not_found("no such route")),
    }
}
