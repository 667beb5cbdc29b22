//! Lambda entry point of the WebSocket API's routes: build configuration and clients once, then serve.

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use lambda_runtime::{service_fn, LambdaEvent};

// A Lambda serves one request at a time: one thread, no hops between workers (docs/performance.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    switchboard::telemetry::init();
    let state = switchboard::AppState::from_env().await?.with_events();
    let state = &state;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| async move {
        Ok::<_, lambda_runtime::Error>(switchboard_realtime::handle(state, event.payload).await)
    }))
    .await
}
