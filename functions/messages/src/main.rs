//! Lambda entry point: build configuration and clients once, then serve.

// A Lambda serves one request at a time: one thread, no hops between workers (docs/performance.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    switchboard::telemetry::init();
    let state = switchboard::AppState::from_env().await?.with_events().with_queue()?.with_media()?;
    switchboard::api::run(state, switchboard_messages::routes()).await
}
