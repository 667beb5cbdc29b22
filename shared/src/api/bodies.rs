//! The JSON bodies the routes answer with: the core's views, wrapped as the API names them
//! (`{"user": …}`, `{"users": […], "nextCursor": …}`). Handlers serialise these types and the
//! OpenAPI description is derived from the same types, so the two cannot differ.

use serde::Serialize;
use switchboard_core::domain::contact::ContactView;
use switchboard_core::domain::conversation::{ConversationView, InboxEntry, ParticipantView, ReadView};
use switchboard_core::domain::ids::{ContactId, ConversationId, MessageId, ParticipantId};
use switchboard_core::domain::message::MessageView;
use switchboard_core::domain::phone::E164;
use switchboard_core::domain::user::{PublicUserView, UserView};
use switchboard_core::service::numbers::NumberView;
use utoipa::{IntoParams, ToSchema};

/// `{"user": …}`: a user as the caller may see them.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserBody {
    pub user: UserView,
}

/// One page of users (`?limit&cursor`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserPage {
    pub users: Vec<PublicUserView>,
    /// The `cursor` of the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// One page of the number pool.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NumberPage {
    pub numbers: Vec<NumberView>,
    /// The `cursor` of the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// `{"number": …}`: a number of the pool.
#[derive(Debug, Serialize, ToSchema)]
pub struct NumberBody {
    pub number: NumberView,
}

/// `{"deleted": "+14155550100"}`: the number removed from the pool.
#[derive(Debug, Serialize, ToSchema)]
pub struct NumberDeleted {
    pub deleted: E164,
}

/// One page of the caller's conversations, latest activity first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationPage {
    pub conversations: Vec<InboxEntry>,
    /// The `cursor` of the next page; `null` on the last one.
    pub next_cursor: Option<String>,
    /// Unread messages over all the caller's conversations (the sum of every line's
    /// `unreadCount`, not only this page's); on the first page only, `null` on later ones.
    pub unread_total: Option<u64>,
}

/// `{"read": …}`: the caller's read state after `PUT /api/conversations/{id}/read`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadBody {
    pub read: ReadView,
}

/// `{"conversation": …}`: a conversation with its participants.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationBody {
    pub conversation: ConversationView,
}

/// `{"participants": […]}`: every participant of a conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipantList {
    pub participants: Vec<ParticipantView>,
}

/// `{"participant": …}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipantBody {
    pub participant: ParticipantView,
}

/// Who was removed, and who was promoted to admin in their place (the last admin left).
#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipantRemoved {
    pub removed: ParticipantId,
    pub promoted: Option<ParticipantView>,
}

/// One page of a conversation's history, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessagePage {
    pub messages: Vec<MessageView>,
    /// The `cursor` of the next (older) page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// `{"message": …}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageBody {
    pub message: MessageView,
}

/// A message sent through a shortcut, and the conversation it went to (started if needed).
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationMessage {
    pub conversation: ConversationView,
    pub message: MessageView,
}

/// `?limit&cursor` of every listing.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page: 1 to 100 (larger values, up to 4294967295, are read as 100). Default 20.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 4294967295_u64, example = 20)]
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page of the same listing (opaque).
    pub cursor: Option<String>,
}

/// `?format&cursor` of an export.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// The file's format.
    #[param(inline)]
    pub format: ExportFormatName,
    /// The next part's cursor, from the previous part's `Link: <…>; rel="next"` header (or a JSON
    /// part's `nextCursor`): the id of the last message that part holds. Absent: the first part.
    #[param(value_type = Option<MessageId>)]
    pub cursor: Option<String>,
}

/// `json` or `csv`.
#[derive(Debug, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum ExportFormatName {
    Json,
    Csv,
}

/// One part of a conversation's export as JSON (`?format=json`): its messages, oldest first.
/// The parts of one export, in order, hold every message once.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportPage {
    pub conversation_id: ConversationId,
    pub messages: Vec<MessageView>,
    /// The `cursor` of the next part (also in the `Link` header); `null` on the last one.
    pub next_cursor: Option<String>,
}

/// The `Idempotency-Key` header of the sends.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKey {
    /// 1 to 128 printable ASCII characters: the same key from the same user within 24 hours
    /// answers with the first message and sends nothing again (400 otherwise-shaped keys).
    #[param(rename = "Idempotency-Key", pattern = "^[!-~]{1,128}$", example = "lunch-1")]
    pub key: Option<String>,
}

/// `{id}`: a conversation the caller is in.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ConversationPath {
    /// The conversation.
    pub id: ConversationId,
}

/// `{id}/participants/{participantId}`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ParticipantPath {
    /// The conversation (a group).
    pub id: ConversationId,
    /// The participant.
    #[param(rename = "participantId")]
    pub participant_id: ParticipantId,
}

/// `{"contact": …}`: one of the caller's contacts.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactBody {
    pub contact: ContactView,
}

/// One page of the caller's contacts, by name.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactPage {
    pub contacts: Vec<ContactView>,
    /// The `cursor` of the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// `{"deleted": "<contactId>"}`: the contact removed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactDeleted {
    pub deleted: ContactId,
}

/// `{contactId}`: one of the caller's contacts.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ContactPath {
    /// The contact (someone else's is not found).
    #[param(rename = "contactId")]
    pub contact_id: ContactId,
}
