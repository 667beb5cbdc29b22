//! Lambda entry point of the delivery pipeline's sweeper: build configuration and clients once
//! (DynamoDB, the queue), then sweep on each scheduled event.

use lambda_runtime::{service_fn, LambdaEvent};

// A Lambda serves one request at a time: one thread, no hops between workers (docs/performance.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    switchboard::telemetry::init();
    // Events: an idle conversation's close tells its members (`conversation.closed`).
    let state = switchboard::AppState::from_env().await?.with_events().with_queue()?;
    let state = &state;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        switchboard_sweeper::handle(state, event.payload).await.map_err(lambda_runtime::Error::from)
    }))
    .await
}
