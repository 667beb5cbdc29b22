//! `messages` function: sending (web participants in the app, SMS participants through Twilio),
//! history, edit and delete.
//!
//! POST|GET /api/conversations/{id}/messages and /api/messages/{conversationId},
//! PUT|DELETE /api/messages/{messageId}, POST /api/users/sms/internal/{userId},
//! POST /api/users/sms/external. Sends honour an `Idempotency-Key` header.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::json;
use switchboard::api::{self, HttpResponse};
use switchboard::domain::message::{Delivery, Message};
use switchboard::service::messages::{self, Sent};
use switchboard::{AppError, AppState};

pub async fn handle(state: AppState, req: Request) -> Response<Body> {
    api::serve(state, "messages", req, route).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InternalRequest {
    message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExternalRequest {
    phone_number: String,
    message: String,
}

fn message_json(message: &Message, deliveries: &[Delivery]) -> serde_json::Value {
    json!(message.view(deliveries))
}

async fn route(state: AppState, req: Request) -> Result<HttpResponse, AppError> {
    let segments = api::path_segments(&req);
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = req.method().clone();
    let allowed: &'static [&'static str] = match segments.as_slice() {
        ["api", "conversations", _, "messages"] => &["GET", "POST"],
        ["api", "messages", _] => &["GET", "POST", "PUT", "DELETE"],
        ["api", "users", "sms", "internal", _] | ["api", "users", "sms", "external"] => &["POST"],
        _ => return Err(AppError::not_found("no such route")),
    };
    if !allowed.contains(&method.as_str()) {
        return Err(AppError::MethodNotAllowed { allowed });
    }
    let caller = api::authenticate(&state, &req).await?.user;
    let key = req.headers().get("idempotency-key").map(|v| v.to_str().unwrap_or("\u{0}").to_string());
    let key = key.as_deref();
    let sent = |sent: Sent, with_conversation: bool| {
        let message = message_json(&sent.message, &sent.deliveries);
        let body = if with_conversation {
            json!({ "conversation": sent.detail.view_for(&caller.id), "message": message })
        } else {
            json!({ "message": message })
        };
        api::json(201, &body)
    };

    match (method, segments.as_slice()) {
        (Method::POST, ["api", "conversations", id, "messages"] | ["api", "messages", id]) => {
            sent(messages::send(&state, &caller, id, api::json_body(&req)?, key).await?, false)
        }
        (Method::GET, ["api", "conversations", id, "messages"] | ["api", "messages", id]) => {
            let page = messages::history(&state, &caller, id, &api::page_request(&req)?).await?;
            let list: Vec<_> = page.items.iter().map(|(m, d)| message_json(m, d)).collect();
            api::json(200, &json!({ "messages": list, "nextCursor": page.next_cursor }))
        }
        (Method::PUT, ["api", "messages", id]) => {
            let (message, deliveries) =
                messages::change(&state, &caller, id, Some(api::json_body(&req)?)).await?;
            api::json(200, &json!({ "message": message_json(&message, &deliveries) }))
        }
        (Method::DELETE, ["api", "messages", id]) => {
            let (message, deliveries) = messages::change(&state, &caller, id, None).await?;
            api::json(200, &json!({ "message": message_json(&message, &deliveries) }))
        }
        (Method::POST, ["api", "users", "sms", "internal", user_id]) => {
            let body: InternalRequest = api::json_body(&req)?;
            sent(messages::send_to_user(&state, &caller, user_id, &body.message, key).await?, true)
        }
        (Method::POST, ["api", "users", "sms", "external"]) => {
            let body: ExternalRequest = api::json_body(&req)?;
            sent(
                messages::send_to_phone(&state, &caller, &body.phone_number, &body.message, key).await?,
                true,
            )
        }
        _ => Err(AppError::not_found("no such route")),
    }
}
