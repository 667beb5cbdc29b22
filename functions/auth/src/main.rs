//! Lambda entry point: build configuration and clients once, then serve.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    switchboard::telemetry::init();
    let state = switchboard::AppState::from_env().await?;
    switchboard::api::run(state, switchboard_auth::routes()).await
}
