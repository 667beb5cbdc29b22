//! `delivery` function: the delivery pipeline's worker. SQS invokes it with up to ten jobs of the
//! delivery queue; each job (send one delivery, or fan out a group text) runs through
//! `switchboard::core::service::pipeline`, concurrently, each with its own log line and metrics
//! document. A job that fails is reported back (`batchItemFailures`): SQS delivers it again after
//! the queue's visibility timeout, and moves it to the dead-letter queue after too many tries.
//! Deliveries that Twilio throttles or fails are not failures here: the pipeline schedules their
//! retry itself.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use switchboard::api;
use switchboard::core::ports::queue::Job;
use switchboard::core::service::pipeline;
use switchboard::{AppError, AppState};

/// Runs every job of the batch; answers which ones to deliver again.
pub async fn handle(state: &AppState, event: SqsEvent) -> SqsBatchResponse {
    let outcomes = join_all(event.records.iter().map(|record| run(state, record))).await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = event
        .records
        .iter()
        .zip(outcomes)
        .filter(|(_, ok)| !ok)
        .map(|(record, _)| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = record.message_id.clone().unwrap_or_default();
            failure
        })
        .collect();
    response
}

/// One job: true when done (or nothing to do), false when it should come back.
async fn run(state: &AppState, record: &SqsMessage) -> bool {
    let Some(job) = record.body.as_deref().and_then(|body| Job::from_body(body).ok()) else {
        // Not a job of ours: delivering it again would not change that.
        tracing::error!(messageId = ?record.message_id, "delivery queue message that is no job dropped");
        return true;
    };
    let route = match job {
        Job::Delivery(_) => "delivery",
        Job::Relay(_) => "relay",
        Job::MediaCopy(_) => "media_copy",
    };
    let work = async { pipeline::run(&state.app, &job).await.map(|()| 200u16) };
    let result: Result<u16, AppError> =
        api::observed(state, "delivery", "SQS", route, work, |status| *status).await;
    result.is_ok()
}
