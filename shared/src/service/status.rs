//! Twilio status callbacks: one conditional update of one delivery; statuses only move forward.

use super::realtime;
use crate::api::webhook::param;
use crate::app::AppState;
use crate::domain::message::{parse_delivery_id, DeliveryStatus};
use crate::error::AppError;
use crate::store::{StatusOutcome, StatusUpdate};

/// Applies a callback. The delivery is named by `deliveryId` in the callback URL (our own id, known
/// before Twilio answered the send), or else found by MessageSid. Unknown deliveries change nothing.
pub async fn apply(
    state: &AppState,
    delivery_id: Option<&str>,
    params: &[(String, String)],
) -> Result<StatusOutcome, AppError> {
    let status_name = param(params, "MessageStatus").or_else(|| param(params, "SmsStatus")).unwrap_or("");
    // Statuses we do not track (partially_delivered, receiving, received…): acknowledged, ignored.
    let Some(status) = DeliveryStatus::from_twilio(status_name) else {
        tracing::info!(status = status_name, "status callback with an untracked status ignored");
        return Ok(StatusOutcome::Stale);
    };
    let sid = param(params, "MessageSid").filter(|s| !s.is_empty()).map(str::to_string);
    let target = match delivery_id.and_then(parse_delivery_id) {
        Some(ids) => Some(ids),
        None => match &sid {
            Some(sid) => state.store.delivery_by_sid(sid).await?,
            None => None,
        },
    };
    let Some((conversation_id, message_id, participant_id)) = target else {
        tracing::warn!(message_sid = ?sid, delivery_id = ?delivery_id, "status callback for an unknown delivery");
        return Ok(StatusOutcome::Unknown);
    };
    crate::observe::conversation(&conversation_id);
    let update = StatusUpdate {
        conversation_id,
        message_id,
        participant_id,
        status,
        sid: sid.clone(),
        error_code: param(params, "ErrorCode").and_then(|c| c.parse().ok()),
        error_message: param(params, "ErrorMessage").filter(|m| !m.is_empty()).map(str::to_string),
    };
    let outcome = state.store.apply_status(&update).await?;
    if outcome == StatusOutcome::Applied {
        publish_delivery(state, &update).await;
    }
    match outcome {
        StatusOutcome::Unknown => {
            tracing::warn!(message_sid = ?sid, "status callback for an unknown delivery")
        }
        _ => {
            tracing::info!(message_sid = ?sid, status = status.as_str(), outcome = ?outcome, "status callback")
        }
    }
    Ok(outcome)
}

/// `delivery.updated` to the conversation's web users (read now: one Query, only when publishing).
async fn publish_delivery(state: &AppState, update: &StatusUpdate) {
    let event = realtime::delivery_event(
        &update.conversation_id,
        &update.message_id,
        &update.participant_id,
        update.status,
        update.sid.as_deref(),
        update.error_code,
    );
    realtime::to_conversation(state, &update.conversation_id, vec![event]).await;
}
