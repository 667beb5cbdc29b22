//! `conversations` function: direct, SMS and group conversations and their participants.

use serde_json::json;
use switchboard::api::{self, Access, Call, Reply, Routes};
use switchboard::core::domain::conversation::DirectRequest;
use switchboard::core::domain::ids::UserId;
use switchboard::core::service::conversations::{self, Started};
use switchboard::route;

pub fn routes() -> Routes {
    Routes::new(
        "conversations",
        [
            route!(Access::User, list_conversations),
            route!(Access::User, start_direct),
            route!(Access::User, start_sms),
            route!(Access::User, create_group),
            route!(Access::User, get_conversation),
            route!(Access::User, close_conversation),
            route!(Access::User, list_participants),
            route!(Access::User, add_participant),
            route!(Access::User, set_role),
            route!(Access::User, remove_participant),
        ],
    )
}

/// 201 when this request created the conversation, 200 when it existed.
fn started(call: &Call, started: Started) -> Reply {
    let status = if started.created { 201 } else { 200 };
    api::json(status, &json!({ "conversation": started.detail.view_for(call.caller()?.user.id) }))
}

/// The caller's conversations, latest activity first.
#[utoipa::path(get, path = "/api/conversations", tag = "conversations", security(("bearer" = [])))]
async fn list_conversations(call: Call) -> Reply {
    let page = conversations::list(call.app(), &call.caller()?.user, &call.page()?).await?;
    api::json(200, &json!({ "conversations": page.items, "nextCursor": page.next_cursor }))
}

/// Starts (or returns) the direct conversation with another web user.
#[utoipa::path(post, path = "/api/conversations/direct", tag = "conversations", security(("bearer" = [])))]
async fn start_direct(call: Call) -> Reply {
    let body: DirectRequest = call.json()?;
    let other = UserId::parse_or_not_found(&body.user_id)?;
    started(&call, conversations::start_direct(call.app(), &call.caller()?.user, other).await?)
}

/// Starts (or returns) the SMS conversation between the caller's number and a phone.
#[utoipa::path(post, path = "/api/conversations/sms", tag = "conversations", security(("bearer" = [])))]
async fn start_sms(call: Call) -> Reply {
    started(&call, conversations::start_sms(call.app(), &call.caller()?.user, call.json()?).await?)
}

/// Creates a group of web users and phones.
#[utoipa::path(post, path = "/api/conversations/group", tag = "conversations", security(("bearer" = [])))]
async fn create_group(call: Call) -> Reply {
    let caller = &call.caller()?.user;
    let detail = conversations::create_group(call.app(), caller, call.json()?).await?;
    api::json(201, &json!({ "conversation": detail.view_for(caller.id) }))
}

/// A conversation the caller is in, with its participants.
#[utoipa::path(get, path = "/api/conversations/{id}", tag = "conversations", security(("bearer" = [])))]
async fn get_conversation(call: Call) -> Reply {
    let caller = &call.caller()?.user;
    let detail = conversations::load_visible(call.app(), caller, call.id("id")?).await?;
    api::json(200, &json!({ "conversation": detail.view_for(caller.id) }))
}

/// Admins close a conversation: its routes are freed, its history stays.
#[utoipa::path(delete, path = "/api/conversations/{id}", tag = "conversations", security(("bearer" = [])))]
async fn close_conversation(call: Call) -> Reply {
    let caller = &call.caller()?.user;
    let detail = conversations::close(call.app(), caller, call.id("id")?).await?;
    api::json(200, &json!({ "conversation": detail.view_for(caller.id) }))
}

/// The participants of a conversation the caller is in.
#[utoipa::path(get, path = "/api/conversations/{id}/participants", tag = "conversations", security(("bearer" = [])))]
async fn list_participants(call: Call) -> Reply {
    let detail = conversations::load_visible(call.app(), &call.caller()?.user, call.id("id")?).await?;
    let participants: Vec<_> = detail.participants.iter().map(|p| p.view()).collect();
    api::json(200, &json!({ "participants": participants }))
}

/// Admins add a web user or a phone to a group.
#[utoipa::path(post, path = "/api/conversations/{id}/participants", tag = "conversations", security(("bearer" = [])))]
async fn add_participant(call: Call) -> Reply {
    let body = call.json()?;
    let added =
        conversations::add_participant(call.app(), &call.caller()?.user, call.id("id")?, body).await?;
    api::json(201, &json!({ "participant": added.view() }))
}

/// Admins promote or demote a web member.
#[utoipa::path(patch, path = "/api/conversations/{id}/participants/{participantId}", tag = "conversations", security(("bearer" = [])))]
async fn set_role(call: Call) -> Reply {
    let body = call.json()?;
    let (id, participant) = (call.id("id")?, call.id("participantId")?);
    let updated = conversations::set_role(call.app(), &call.caller()?.user, id, participant, body).await?;
    api::json(200, &json!({ "participant": updated.view() }))
}

/// Admins remove anyone; anyone leaves.
#[utoipa::path(delete, path = "/api/conversations/{id}/participants/{participantId}", tag = "conversations", security(("bearer" = [])))]
async fn remove_participant(call: Call) -> Reply {
    let (id, participant) = (call.id("id")?, call.id("participantId")?);
    let promoted =
        conversations::remove_participant(call.app(), &call.caller()?.user, id, participant).await?;
    api::json(200, &json!({ "removed": participant, "promoted": promoted.map(|p| p.view()) }))
}
