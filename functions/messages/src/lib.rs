//! `messages` function: sending (web participants in the app, SMS participants through Twilio),
//! history, edit and delete. Sends honour an `Idempotency-Key` header.

use serde::Deserialize;
use switchboard::api::bodies::{
    ConversationMessage, ConversationPath, ExportPage, ExportParams, IdempotencyKey, MessageBody,
    MessagePage, PageParams,
};
use switchboard::api::{self, Access, Call, Reply, Routes};
use switchboard::core::domain::export::ExportFormat;
use switchboard::core::domain::ids::{ConversationId, MessageId, UserId};
use switchboard::core::domain::media::{UploadRequest, UploadSpec, UploadTicket};
use switchboard::core::domain::message::{EditRequest, MessageView, SendRequest};
use switchboard::core::ports::messages::StoredMessage;
use switchboard::core::service::export::{self, ExportLimits};
use switchboard::core::service::media;
use switchboard::core::service::messages::{self, Sent};
use switchboard::core::AppError;
use switchboard::route;

pub fn routes() -> Routes {
    Routes::new(
        "messages",
        [
            route!(Access::User, send),
            route!(Access::User, history),
            route!(Access::User, send_legacy),
            route!(Access::User, history_legacy),
            route!(Access::User, export_conversation),
            route!(Access::User, edit),
            route!(Access::User, delete),
            route!(Access::User, send_to_user),
            route!(Access::User, send_to_phone),
            route!(Access::User, create_upload),
        ],
    )
}

/// `POST /api/users/sms/internal/{userId}`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct InternalRequest {
    /// The text: 1 to 1,600 characters.
    #[schema(example = "Lunch at noon?")]
    message: String,
}

/// `POST /api/users/sms/external`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ExternalRequest {
    /// The phone, in any common notation.
    #[schema(example = "+1 415 555 0177")]
    phone_number: String,
    /// The text: 1 to 1,600 characters.
    #[schema(example = "Hi Grace, lunch at noon?")]
    message: String,
}

/// A message as a web member sees it: media through short-lived presigned GETs.
async fn message_view(app: &switchboard::core::App, stored: &StoredMessage) -> MessageView {
    media::present(app, &stored.message, stored.message.view(&stored.deliveries)).await
}

/// The `Idempotency-Key` header; one that is not text is kept as an invalid key (a 400), not
/// ignored.
fn idempotency_key(call: &Call) -> Option<String> {
    call.req.headers().get("idempotency-key").map(|v| v.to_str().unwrap_or("\u{0}").to_string())
}

/// 201 with the message (and, for the user and phone shortcuts, its conversation).
async fn sent(call: &Call, sent: Sent, with_conversation: bool) -> Reply {
    let message = media::present(call.app(), &sent.message, sent.message.view(&sent.deliveries)).await;
    if with_conversation {
        let conversation = sent.detail.view_for(call.caller()?.user.id);
        api::json(201, &ConversationMessage { conversation, message })
    } else {
        api::json(201, &MessageBody { message })
    }
}

async fn send_in(call: Call) -> Reply {
    let body = call.json()?;
    let id = call.id("id")?;
    let key = idempotency_key(&call);
    let done = messages::send(call.app(), &call.caller()?.user, id, body, key.as_deref()).await?;
    sent(&call, done, false).await
}

async fn history_of(call: Call) -> Reply {
    let page = messages::history(call.app(), &call.caller()?.user, call.id("id")?, &call.page()?).await?;
    let mut messages = Vec::with_capacity(page.items.len());
    for stored in &page.items {
        messages.push(message_view(call.app(), stored).await);
    }
    api::json(200, &MessagePage { messages, next_cursor: page.next_cursor })
}

/// Sends a message: in the app to web members, by SMS to phones (each phone gets a
/// delivery, sent by the delivery pipeline).
///
/// A repeated `Idempotency-Key` answers with the first message and sends nothing again.
#[utoipa::path(
    post,
    path = "/api/conversations/{id}/messages",
    tag = "messages",
    params(ConversationPath, IdempotencyKey),
    request_body = SendRequest,
    responses((status = 201, description = "The message, with a `pending` delivery per phone.", body = MessageBody)),
    extensions(("x-errors" = json!([
        "validation_failed", "not_found", "conversation_closed", "no_virtual_number", "idempotency_key_used",
        "concurrent_update"
    ])))
)]
async fn send(call: Call) -> Reply {
    send_in(call).await
}

/// The conversation's history, newest first.
#[utoipa::path(
    get,
    path = "/api/conversations/{id}/messages",
    tag = "messages",
    params(ConversationPath, PageParams),
    responses((status = 200, description = "One page of messages, newest first.", body = MessagePage)),
    extensions(("x-errors" = json!(["not_found"])))
)]
async fn history(call: Call) -> Reply {
    history_of(call).await
}

/// Sends a message (the old app's path; `id` is the conversation). As
/// `POST /api/conversations/{id}/messages`.
#[utoipa::path(
    post,
    path = "/api/messages/{id}",
    tag = "messages",
    params(ConversationPath, IdempotencyKey),
    request_body = SendRequest,
    responses((status = 201, description = "The message, with a `pending` delivery per phone.", body = MessageBody)),
    extensions(("x-errors" = json!([
        "validation_failed", "not_found", "conversation_closed", "no_virtual_number", "idempotency_key_used",
        "concurrent_update"
    ])))
)]
async fn send_legacy(call: Call) -> Reply {
    send_in(call).await
}

/// History, newest first (the old app's path; `id` is the conversation).
#[utoipa::path(
    get,
    path = "/api/messages/{id}",
    tag = "messages",
    params(ConversationPath, PageParams),
    responses((status = 200, description = "One page of messages, newest first.", body = MessagePage)),
    extensions(("x-errors" = json!(["not_found"])))
)]
async fn history_legacy(call: Call) -> Reply {
    history_of(call).await
}

/// The author edits a message (the new text is not sent again by SMS).
#[utoipa::path(
    put,
    path = "/api/messages/{id}",
    tag = "messages",
    params(("id" = MessageId, Path, description = "The message.")),
    request_body = EditRequest,
    responses((status = 200, description = "The message, edited.", body = MessageBody)),
    extensions(("x-errors" = json!(["validation_failed", "not_found", "forbidden", "concurrent_update"])))
)]
async fn edit(call: Call) -> Reply {
    let edit = call.json()?;
    let changed = messages::change(call.app(), &call.caller()?.user, call.id("id")?, Some(edit)).await?;
    api::json(200, &MessageBody { message: message_view(call.app(), &changed).await })
}

/// The author deletes a message: it keeps its place in history without its words.
#[utoipa::path(
    delete,
    path = "/api/messages/{id}",
    tag = "messages",
    params(("id" = MessageId, Path, description = "The message.")),
    responses((status = 200, description = "The message, deleted.", body = MessageBody)),
    extensions(("x-errors" = json!(["not_found", "forbidden", "concurrent_update"])))
)]
async fn delete(call: Call) -> Reply {
    let changed = messages::change(call.app(), &call.caller()?.user, call.id("id")?, None).await?;
    api::json(200, &MessageBody { message: message_view(call.app(), &changed).await })
}

/// Sends to a web user: in the direct conversation with them, started if needed.
#[utoipa::path(
    post,
    path = "/api/users/sms/internal/{userId}",
    tag = "messages",
    params(("userId" = UserId, Path, description = "The recipient."), IdempotencyKey),
    request_body = InternalRequest,
    responses((status = 201, description = "The message and its conversation.", body = ConversationMessage)),
    extensions(("x-errors" = json!([
        "validation_failed", "not_found", "conversation_closed", "idempotency_key_used", "concurrent_update"
    ])))
)]
async fn send_to_user(call: Call) -> Reply {
    let body: InternalRequest = call.json()?;
    let user: UserId = call.id("userId")?;
    let key = idempotency_key(&call);
    let done =
        messages::send_to_user(call.app(), &call.caller()?.user, user, &body.message, key.as_deref()).await?;
    sent(&call, done, true).await
}

/// Sends to a phone: in the SMS conversation with it, started if needed.
#[utoipa::path(
    post,
    path = "/api/users/sms/external",
    tag = "messages",
    params(IdempotencyKey),
    request_body = ExternalRequest,
    responses((status = 201, description = "The message and its conversation.", body = ConversationMessage)),
    extensions(("x-errors" = json!([
        "validation_failed", "not_found", "conversation_closed", "no_virtual_number", "route_taken",
        "idempotency_key_used", "concurrent_update"
    ])))
)]
async fn send_to_phone(call: Call) -> Reply {
    let body: ExternalRequest = call.json()?;
    let key = idempotency_key(&call);
    let caller = &call.caller()?.user;
    let done = messages::send_to_phone(call.app(), caller, &body.phone_number, &body.message, key.as_deref())
        .await?;
    sent(&call, done, true).await
}

/// Downloads a conversation (participants only): every message, oldest first, with its sender,
/// time, text, media and delivery statuses, as JSON or CSV.
///
/// A long history comes in parts (a part holds at most 1,000 messages and stops after the
/// message that takes it past 1 MB): while there is more, the answer has a
/// `Link: <…>; rel="next"` header (JSON parts also `nextCursor`); fetch it until there is none.
/// CSV parts concatenate to one file (only the first has the header row); JSON parts each hold
/// their `messages`. CSV fields that a spreadsheet would run as a formula start with `'`.
#[utoipa::path(
    get,
    path = "/api/conversations/{id}/export",
    tag = "messages",
    params(ConversationPath, ExportParams),
    responses((
        status = 200,
        description = "One part of the export.",
        headers(
            ("Content-Disposition" = String, description = "`attachment; filename=\"conversation-<id>.csv\"` (or `.json`)."),
            ("Link" = String, description = "`<…/export?format=…&cursor=…>; rel=\"next\"` while more parts follow.")
        ),
        content(
            (ExportPage = "application/json"),
            (String = "text/csv; charset=utf-8", example = json!(switchboard::core::domain::export::CSV_HEADER))
        )
    )),
    extensions(("x-errors" = json!(["invalid_request", "not_found"])))
)]
async fn export_conversation(call: Call) -> Reply {
    let format = ExportFormat::parse(call.query("format").as_deref())?;
    let after = match call.query("cursor").filter(|c| !c.is_empty()) {
        Some(raw) => Some(
            MessageId::parse(&raw)
                .map_err(|_| AppError::bad_request(Some("cursor".into()), "not a cursor of this export"))?,
        ),
        None => None,
    };
    let id: ConversationId = call.id("id")?;
    let part =
        export::export_part(call.app(), &call.caller()?.user, id, format, after, ExportLimits::default())
            .await?;
    let next = part
        .next
        .map(|cursor| format!("/api/conversations/{id}/export?format={}&cursor={cursor}", format.as_str()));
    let filename = format!("conversation-{id}.{}", format.as_str());
    api::response::download(format.content_type(), &filename, next.as_deref(), part.text)
}

/// Starts an upload of a picture to attach to a message: answers a presigned PUT that the
/// browser sends the file's bytes to, straight to the media bucket, within 15 minutes.
///
/// Only Twilio's fully supported MMS types (image/jpeg, image/jpg, image/gif, image/png), at most
/// 5 MB. The signature binds the declared type and exact size: the bucket refuses a PUT of any
/// other. Then name the `uploadId` in a send's `media`.
#[utoipa::path(
    post,
    path = "/api/uploads",
    tag = "messages",
    request_body = UploadRequest,
    responses((status = 201, description = "Where and how to PUT the file.", body = UploadTicket)),
    extensions(("x-errors" = json!(["invalid_request", "validation_failed"])))
)]
async fn create_upload(call: Call) -> Reply {
    let body: UploadRequest = call.json()?;
    let spec = UploadSpec::new(&body.content_type, body.size)?;
    let ticket = media::create_upload(call.app(), &call.caller()?.user, spec).await?;
    api::json(201, &ticket)
}
