//! `conversations` function: direct, SMS and group conversations and their participants.

use switchboard::api::bodies::{
    ConversationBody, ConversationPage, ConversationPath, PageParams, ParticipantBody, ParticipantList,
    ParticipantPath, ParticipantRemoved, ReadBody,
};
use switchboard::api::{self, Access, Call, Reply, Routes};
use switchboard::core::domain::conversation::{
    ConversationDetail, DirectRequest, GroupRequest, ParticipantRequest, ReadRequest, RoleRequest,
    SmsRequest, TimersRequest,
};
use switchboard::core::domain::ids::UserId;
use switchboard::core::service::contacts;
use switchboard::core::service::conversations::{self, Started};
use switchboard::core::service::{idle, reading};
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
            route!(Access::User, mark_read),
            route!(Access::User, set_timers),
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
    api::json(status, &ConversationBody { conversation: started.detail.view_for(call.caller()?.user.id) })
}

/// The caller's conversations (their inbox), latest activity first.
#[utoipa::path(
    get,
    path = "/api/conversations",
    tag = "conversations",
    params(PageParams),
    responses((status = 200, description = "One page of the caller's inbox.", body = ConversationPage))
)]
async fn list_conversations(call: Call) -> Reply {
    let inbox = conversations::list(call.app(), &call.caller()?.user, &call.page()?).await?;
    let page = inbox.page;
    api::json(
        200,
        &ConversationPage {
            conversations: page.items,
            next_cursor: page.next_cursor,
            unread_total: inbox.unread_total,
        },
    )
}

/// Marks the conversation read up to a message: the caller's read horizon moves forward (never
/// back), their unread count becomes the messages from others after it, and a
/// `conversation.read` event tells their other devices and the other web members.
#[utoipa::path(
    put,
    path = "/api/conversations/{id}/read",
    tag = "conversations",
    params(ConversationPath),
    request_body = ReadRequest,
    responses((
        status = 200,
        description = "The caller's read state (unchanged when the message is not past the horizon).",
        body = ReadBody
    )),
    extensions(("x-errors" = json!(["validation_failed", "not_found", "concurrent_update"])))
)]
async fn mark_read(call: Call) -> Reply {
    let body: ReadRequest = call.json()?;
    let read = reading::mark_read(call.app(), &call.caller()?.user, call.id("id")?, body).await?;
    api::json(200, &ReadBody { read })
}

/// Starts (or returns) the direct conversation with another web user.
#[utoipa::path(
    post,
    path = "/api/conversations/direct",
    tag = "conversations",
    request_body = DirectRequest,
    responses(
        (status = 201, description = "Started.", body = ConversationBody),
        (status = 200, description = "It existed: the same conversation.", body = ConversationBody)
    ),
    extensions(("x-errors" = json!(["validation_failed", "not_found", "concurrent_update"])))
)]
async fn start_direct(call: Call) -> Reply {
    let body: DirectRequest = call.json()?;
    let other = UserId::parse_or_not_found(&body.user_id)?;
    started(&call, conversations::start_direct(call.app(), &call.caller()?.user, other).await?)
}

/// Starts (or returns) the SMS conversation between the caller's virtual number and a phone.
#[utoipa::path(
    post,
    path = "/api/conversations/sms",
    tag = "conversations",
    request_body = SmsRequest,
    responses(
        (status = 201, description = "Started.", body = ConversationBody),
        (status = 200, description = "It existed: the same conversation.", body = ConversationBody)
    ),
    extensions(("x-errors" = json!(["validation_failed", "no_virtual_number", "route_taken", "concurrent_update"])))
)]
async fn start_sms(call: Call) -> Reply {
    started(&call, conversations::start_sms(call.app(), &call.caller()?.user, call.json()?).await?)
}

/// Creates a group of web users and phones; the caller is its admin.
///
/// Each phone is reached from a proxy number of the pool that it has no other conversation on.
#[utoipa::path(
    post,
    path = "/api/conversations/group",
    tag = "conversations",
    request_body = GroupRequest,
    responses((status = 201, description = "Created.", body = ConversationBody)),
    extensions(("x-errors" = json!(["validation_failed", "not_found", "no_proxy_number", "concurrent_update"])))
)]
async fn create_group(call: Call) -> Reply {
    let caller = &call.caller()?.user;
    let detail = conversations::create_group(call.app(), caller, call.json()?).await?;
    api::json(201, &ConversationBody { conversation: detail.view_for(caller.id) })
}

/// A conversation the caller is in, with its participants.
///
/// Each phone the caller has a contact for shows the contact's name (`displayName`, and the
/// `name` of a one-to-one SMS conversation; a group keeps its own name).
#[utoipa::path(
    get,
    path = "/api/conversations/{id}",
    tag = "conversations",
    params(ConversationPath),
    responses((status = 200, description = "The conversation.", body = ConversationBody)),
    extensions(("x-errors" = json!(["not_found"])))
)]
async fn get_conversation(call: Call) -> Reply {
    let caller = &call.caller()?.user;
    let detail = conversations::load_visible(call.app(), caller, call.id("id")?).await?;
    let detail = contacts::named_for(call.app(), caller.id, detail).await?;
    with_timers(&call, &detail)
}

/// The conversation as `caller` sees it, with its timers.
fn with_timers(call: &Call, detail: &ConversationDetail) -> Reply {
    let mut conversation = detail.view_for(call.caller()?.user.id);
    conversation.timers = Some(detail.conversation.timers(call.app().settings.idle_close_after));
    api::json(200, &ConversationBody { conversation })
}

/// Admins set the conversation's inactivity timer (Twilio Conversations' `Timers.Closed`).
///
/// An SMS or group conversation with no message for that long closes by itself, as `DELETE`
/// closes it: its phones' numbers are freed and its members get `conversation.closed`. The
/// conversation's own timer overrides the deployment's (`IDLE_CLOSE_AFTER`, off unless set);
/// `"off"` keeps it open whatever the deployment says; null follows the deployment again. Direct
/// conversations hold no number and never close by themselves.
#[utoipa::path(
    put,
    path = "/api/conversations/{id}/timers",
    tag = "conversations",
    params(ConversationPath),
    request_body = TimersRequest,
    responses((status = 200, description = "The conversation with its timers.", body = ConversationBody)),
    extensions(("x-errors" = json!([
        "validation_failed", "not_found", "forbidden", "conversation_closed", "no_idle_timer"
    ])))
)]
async fn set_timers(call: Call) -> Reply {
    let body = call.json()?;
    let detail = idle::set_timer(call.app(), &call.caller()?.user, call.id("id")?, body).await?;
    with_timers(&call, &detail)
}

/// Admins of the conversation close it: its routes are freed, its history stays.
#[utoipa::path(
    delete,
    path = "/api/conversations/{id}",
    tag = "conversations",
    params(ConversationPath),
    responses((status = 200, description = "The conversation, closed.", body = ConversationBody)),
    extensions(("x-errors" = json!(["not_found", "forbidden", "concurrent_update"])))
)]
async fn close_conversation(call: Call) -> Reply {
    let caller = &call.caller()?.user;
    let detail = conversations::close(call.app(), caller, call.id("id")?).await?;
    api::json(200, &ConversationBody { conversation: detail.view_for(caller.id) })
}

/// The participants of a conversation the caller is in.
#[utoipa::path(
    get,
    path = "/api/conversations/{id}/participants",
    tag = "conversations",
    params(ConversationPath),
    responses((status = 200, description = "Every participant.", body = ParticipantList)),
    extensions(("x-errors" = json!(["not_found"])))
)]
async fn list_participants(call: Call) -> Reply {
    let detail = conversations::load_visible(call.app(), &call.caller()?.user, call.id("id")?).await?;
    let participants: Vec<_> = detail.participants.iter().map(|p| p.view()).collect();
    api::json(200, &ParticipantList { participants })
}

/// Admins add a web user or a phone to a group.
#[utoipa::path(
    post,
    path = "/api/conversations/{id}/participants",
    tag = "conversations",
    params(ConversationPath),
    request_body = ParticipantRequest,
    responses((status = 201, description = "The new participant.", body = ParticipantBody)),
    extensions(("x-errors" = json!([
        "validation_failed", "not_found", "forbidden", "not_a_group", "conversation_closed",
        "already_participant", "group_full", "no_proxy_number", "concurrent_update"
    ])))
)]
async fn add_participant(call: Call) -> Reply {
    let body = call.json()?;
    let added =
        conversations::add_participant(call.app(), &call.caller()?.user, call.id("id")?, body).await?;
    api::json(201, &ParticipantBody { participant: added.view() })
}

/// Admins promote or demote a web member (SMS participants cannot be admins).
#[utoipa::path(
    patch,
    path = "/api/conversations/{id}/participants/{participantId}",
    tag = "conversations",
    params(ParticipantPath),
    request_body = RoleRequest,
    responses((status = 200, description = "The participant with its new role.", body = ParticipantBody)),
    extensions(("x-errors" = json!([
        "validation_failed", "not_found", "forbidden", "not_a_group", "conversation_closed", "last_admin",
        "concurrent_update"
    ])))
)]
async fn set_role(call: Call) -> Reply {
    let body = call.json()?;
    let (id, participant) = (call.id("id")?, call.id("participantId")?);
    let updated = conversations::set_role(call.app(), &call.caller()?.user, id, participant, body).await?;
    api::json(200, &ParticipantBody { participant: updated.view() })
}

/// Admins remove anyone; anyone leaves (their own participant id).
///
/// The last admin leaving promotes the longest-standing web member; the last web user leaving closes
/// the group.
#[utoipa::path(
    delete,
    path = "/api/conversations/{id}/participants/{participantId}",
    tag = "conversations",
    params(ParticipantPath),
    responses((status = 200, description = "Who was removed, and who was promoted.", body = ParticipantRemoved)),
    extensions(("x-errors" = json!([
        "not_found", "forbidden", "not_a_group", "conversation_closed", "last_admin", "concurrent_update"
    ])))
)]
async fn remove_participant(call: Call) -> Reply {
    let (id, participant) = (call.id("id")?, call.id("participantId")?);
    let promoted =
        conversations::remove_participant(call.app(), &call.caller()?.user, id, participant).await?;
    api::json(200, &ParticipantRemoved { removed: participant, promoted: promoted.map(|p| p.view()) })
}
