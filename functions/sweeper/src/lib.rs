//! `sweeper` function: run every minute by a schedule. It queues again each outbox entry (a
//! pending delivery, a pending group relay) overdue by more than `DELIVERY_SWEEP_GRACE_SECONDS`:
//! the job of a function that died after its write-ahead, a job the queue refused, a retry whose
//! worker died mid-attempt. Queuing twice is harmless: each attempt is claimed before it is made.
//! Then it closes the conversations idle past their timer (`service::idle`).

use chrono::Utc;
use switchboard::api;
use switchboard::core::service::{idle, pipeline};
use switchboard::{AppError, AppState};

/// One sweep; the event (EventBridge's scheduled event) carries nothing we need.
pub async fn handle(state: &AppState, _event: serde_json::Value) -> Result<serde_json::Value, AppError> {
    let work = async {
        let now = Utc::now();
        // The outbox first: a failing idle sweep must not hold back lost SMS.
        let queued = pipeline::sweep(&state.app, now).await;
        let idle = idle::sweep(&state.app, now).await;
        Ok::<_, AppError>((queued?, idle?))
    };
    let (queued, idle) = api::observed(state, "sweeper", "SCHEDULE", "sweep", work, |_| 200).await?;
    Ok(serde_json::json!({ "queued": queued, "closed": idle.closed, "rescheduled": idle.rescheduled }))
}
