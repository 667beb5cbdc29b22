//! Twilio status callbacks: one conditional update of one delivery; statuses only move forward.

use super::{realtime, App};
use crate::domain::ids::DeliveryId;
use crate::domain::message::DeliveryStatus;
use crate::error::AppError;
use crate::ports::webhooks::{StatusOutcome, StatusUpdate};

/// A status callback as the webhook edge read it from Twilio's form.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusCallback {
    /// Our id, from the `deliveryId` of the callback URL (known before Twilio answered the send).
    pub delivery_id: Option<DeliveryId>,
    /// `MessageStatus` (or `SmsStatus`) as Twilio named it.
    pub status_name: String,
    pub message_sid: Option<String>,
    pub error_code: Option<i64>,
    pub error_message: Option<String>,
}

/// Applies a callback. The delivery is named by `deliveryId`, or else found by MessageSid.
/// Unknown deliveries change nothing.
pub async fn apply(app: &App, callback: &StatusCallback) -> Result<StatusOutcome, AppError> {
    // Statuses we do not track (partially_delivered, receiving, received…): acknowledged, ignored.
    let Some(status) = DeliveryStatus::from_twilio(&callback.status_name) else {
        tracing::info!(status = %callback.status_name, "status callback with an untracked status ignored");
        return Ok(StatusOutcome::Stale);
    };
    let sid = callback.message_sid.clone();
    let target = match callback.delivery_id {
        Some(id) => Some(id),
        None => match &sid {
            Some(sid) => app.webhooks.delivery_by_sid(sid).await?,
            None => None,
        },
    };
    let Some(delivery) = target else {
        tracing::warn!(messageSid = ?sid, "status callback for an unknown delivery");
        return Ok(StatusOutcome::Unknown);
    };
    crate::observe::conversation(&delivery.conversation_id);
    let update = StatusUpdate {
        delivery,
        status,
        sid,
        error_code: callback.error_code,
        error_message: callback.error_message.clone(),
    };
    let outcome = app.webhooks.apply_status(&update).await?;
    match outcome {
        StatusOutcome::Applied => {
            let event = realtime::delivery_event(delivery, status, update.sid.as_deref(), update.error_code);
            realtime::to_conversation(app, delivery.conversation_id, vec![event]).await;
            tracing::info!(messageSid = ?update.sid, status = status.as_str(), outcome = "applied", "status callback");
        }
        StatusOutcome::Stale => {
            tracing::info!(messageSid = ?update.sid, status = status.as_str(), outcome = "stale", "status callback")
        }
        StatusOutcome::Unknown => {
            tracing::warn!(messageSid = ?update.sid, "status callback for an unknown delivery")
        }
    }
    Ok(outcome)
}
