//! Lambda entry point of the delivery pipeline's worker: build configuration and clients once
//! (DynamoDB, the queue, Twilio, the WebSocket publisher), then take SQS batches.

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{service_fn, LambdaEvent};

// A Lambda serves one request at a time: one thread, no hops between workers (docs/performance.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    switchboard::telemetry::init();
    let state = switchboard::AppState::from_env()
        .await?
        .with_events()
        .with_queue()?
        .with_twilio()?
        .with_media_copies()?;
    let state = &state;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(switchboard_delivery::handle(state, event.payload).await)
    }))
    .await
}
