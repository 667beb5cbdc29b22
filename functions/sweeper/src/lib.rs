//! `sweeper` function: run every minute by a schedule. It queues again each outbox entry (a
//! pending delivery, a pending group relay) overdue by more than `DELIVERY_SWEEP_GRACE_SECONDS`:
//! the job of a function that died after its write-ahead, a job the queue refused, a retry whose
//! worker died mid-attempt. Queuing twice is harmless: each attempt is claimed before it is made.

use chrono::Utc;
use switchboard::api;
use switchboard::core::service::pipeline;
use switchboard::{AppError, AppState};

/// One sweep; the event (EventBridge's scheduled event) carries nothing we need.
pub async fn handle(state: &AppState, _event: serde_json::Value) -> Result<serde_json::Value, AppError> {
    let work = async { pipeline::sweep(&state.app, Utc::now()).await };
    let queued = api::observed(state, "sweeper", "SCHEDULE", "sweep", work, |_| 200).await?;
    Ok(serde_json::json!({ "queued": queued }))
}
