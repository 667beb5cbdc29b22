//! `messages` function: sending (web participants in the app, SMS participants through Twilio),
//! history, edit and delete. Sends honour an `Idempotency-Key` header.

use serde::Deserialize;
use serde_json::json;
use switchboard::api::{self, Access, Call, Reply, Routes};
use switchboard::core::domain::ids::UserId;
use switchboard::core::ports::messages::StoredMessage;
use switchboard::core::service::messages::{self, Sent};
use switchboard::route;

pub fn routes() -> Routes {
    Routes::new(
        "messages",
        [
            route!(Access::User, send),
            route!(Access::User, history),
            route!(Access::User, send_legacy),
            route!(Access::User, history_legacy),
            route!(Access::User, edit),
            route!(Access::User, delete),
            route!(Access::User, send_to_user),
            route!(Access::User, send_to_phone),
        ],
    )
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

fn message_json(stored: &StoredMessage) -> serde_json::Value {
    json!(stored.message.view(&stored.deliveries))
}

/// The `Idempotency-Key` header; one that is not text is kept as an invalid key (a 400), not
/// ignored.
fn idempotency_key(call: &Call) -> Option<String> {
    call.req.headers().get("idempotency-key").map(|v| v.to_str().unwrap_or("\u{0}").to_string())
}

/// 201 with the message (and, for the user and phone shortcuts, its conversation).
fn sent(call: &Call, sent: Sent, with_conversation: bool) -> Reply {
    let message = json!(sent.message.view(&sent.deliveries));
    let body = if with_conversation {
        json!({ "conversation": sent.detail.view_for(call.caller()?.user.id), "message": message })
    } else {
        json!({ "message": message })
    };
    api::json(201, &body)
}

async fn send_in(call: Call) -> Reply {
    let body = call.json()?;
    let id = call.id("id")?;
    let key = idempotency_key(&call);
    let done = messages::send(call.app(), &call.caller()?.user, id, body, key.as_deref()).await?;
    sent(&call, done, false)
}

async fn history_of(call: Call) -> Reply {
    let page = messages::history(call.app(), &call.caller()?.user, call.id("id")?, &call.page()?).await?;
    let list: Vec<_> = page.items.iter().map(message_json).collect();
    api::json(200, &json!({ "messages": list, "nextCursor": page.next_cursor }))
}

/// Sends a message: in the app to web members, by SMS to phones.
#[utoipa::path(post, path = "/api/conversations/{id}/messages", tag = "messages", security(("bearer" = [])))]
async fn send(call: Call) -> Reply {
    send_in(call).await
}

/// History, newest first.
#[utoipa::path(get, path = "/api/conversations/{id}/messages", tag = "messages", security(("bearer" = [])))]
async fn history(call: Call) -> Reply {
    history_of(call).await
}

/// Sends a message (the old app's path; `id` is the conversation).
#[utoipa::path(post, path = "/api/messages/{id}", tag = "messages", security(("bearer" = [])))]
async fn send_legacy(call: Call) -> Reply {
    send_in(call).await
}

/// History, newest first (the old app's path; `id` is the conversation).
#[utoipa::path(get, path = "/api/messages/{id}", tag = "messages", security(("bearer" = [])))]
async fn history_legacy(call: Call) -> Reply {
    history_of(call).await
}

/// The author edits a message (the new text is not sent again by SMS).
#[utoipa::path(put, path = "/api/messages/{id}", tag = "messages", security(("bearer" = [])))]
async fn edit(call: Call) -> Reply {
    let edit = call.json()?;
    let changed = messages::change(call.app(), &call.caller()?.user, call.id("id")?, Some(edit)).await?;
    api::json(200, &json!({ "message": message_json(&changed) }))
}

/// The author deletes a message (it keeps its place in history without its words).
#[utoipa::path(delete, path = "/api/messages/{id}", tag = "messages", security(("bearer" = [])))]
async fn delete(call: Call) -> Reply {
    let changed = messages::change(call.app(), &call.caller()?.user, call.id("id")?, None).await?;
    api::json(200, &json!({ "message": message_json(&changed) }))
}

/// Sends to a web user: their direct conversation, started if needed.
#[utoipa::path(post, path = "/api/users/sms/internal/{userId}", tag = "messages", security(("bearer" = [])))]
async fn send_to_user(call: Call) -> Reply {
    let body: InternalRequest = call.json()?;
    let user: UserId = call.id("userId")?;
    let key = idempotency_key(&call);
    let done =
        messages::send_to_user(call.app(), &call.caller()?.user, user, &body.message, key.as_deref()).await?;
    sent(&call, done, true)
}

/// Sends to a phone: the SMS conversation with it, started if needed.
#[utoipa::path(post, path = "/api/users/sms/external", tag = "messages", security(("bearer" = [])))]
async fn send_to_phone(call: Call) -> Reply {
    let body: ExternalRequest = call.json()?;
    let key = idempotency_key(&call);
    let caller = &call.caller()?.user;
    let done = messages::send_to_phone(call.app(), caller, &body.phone_number, &body.message, key.as_deref())
        .await?;
    sent(&call, done, true)
}
