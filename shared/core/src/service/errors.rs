//! What a store failure means to a caller: the user-facing wording lives here, in the service
//! layer, not in the port. Use cases map the failures whose meaning depends on them first.

use crate::error::AppError;
use crate::ports::{StoreError, UniqueField};

/// The default meaning of each store failure for a caller. Services map the failures whose
/// meaning depends on the use case before this applies.
impl From<StoreError> for AppError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Taken(UniqueField::Email) => {
                AppError::conflict("email_taken", "that email is already registered")
            }
            StoreError::Taken(UniqueField::Username) => {
                AppError::conflict("username_taken", "that username is already taken")
            }
            StoreError::UserNotFound => AppError::not_found("user not found"),
            StoreError::NumberInPool => {
                AppError::conflict("number_exists", "that number is already in the pool")
            }
            StoreError::NumberNotInPool => AppError::not_found("that number is not in the pool"),
            StoreError::NumberTaken => {
                AppError::conflict("number_taken", "that number is assigned to another user")
            }
            StoreError::NumberAssigned => AppError::conflict(
                "number_assigned",
                "that number is assigned to a user; it must be released first",
            ),
            StoreError::UserHasNumber => AppError::conflict(
                "already_has_number",
                "you already have a virtual number; release it first",
            ),
            StoreError::UserHasNoNumber => AppError::not_found("you have no virtual number"),
            StoreError::NumberInUse => AppError::conflict(
                "number_in_use",
                "that number carries group conversations as their proxy number",
            ),
            StoreError::ProxyUnavailable(_) => StoreError::Contention.into(),
            StoreError::RouteTaken(_) => AppError::conflict(
                "route_taken",
                "that phone already talks to that number in another conversation",
            ),
            StoreError::ParticipantExists => {
                AppError::conflict("already_participant", "already a participant of this conversation")
            }
            StoreError::DirectExists => AppError::conflict("conversation_exists", "that conversation exists"),
            StoreError::ConversationInactive => {
                AppError::conflict("conversation_closed", "the conversation is closed")
            }
            StoreError::GroupFull => {
                AppError::conflict("group_full", "the group has reached its maximum size")
            }
            StoreError::LastAdmin => {
                AppError::conflict("last_admin", "a conversation needs an admin; promote someone first")
            }
            StoreError::NumberChanged => {
                AppError::conflict("no_virtual_number", "your virtual number changed; retry the request")
            }
            StoreError::Duplicate => AppError::conflict("duplicate", "this message was received already"),
            StoreError::IdempotencyKeyUsed => AppError::conflict(
                "idempotency_key_used",
                "that Idempotency-Key was used for another message",
            ),
            StoreError::MessageNotFound => AppError::not_found("message not found"),
            StoreError::NotAuthor => AppError::Forbidden("only the author can change a message".into()),
            StoreError::Contention => AppError::conflict(
                "concurrent_update",
                "the resource changed concurrently; retry the request",
            ),
            StoreError::ContactExists => {
                AppError::conflict("contact_exists", "you already have a contact with that phone number")
            }
            StoreError::ContactNotFound => AppError::not_found("contact not found"),
            StoreError::InvalidCursor => AppError::bad_request(Some("cursor".to_string()), "invalid cursor"),
            StoreError::Throttled => AppError::Throttled("the database is busy; retry shortly".into()),
            StoreError::Backend(detail) => AppError::Internal(detail),
        }
    }
}
