//! `make dev` starts this: the local stand-in of API Gateway's WebSocket API (see
//! xtask/src/websocket.rs). WEBSOCKET_PORT (9001) and LAMBDA_INVOKE_URL (the `realtime`
//! function under `cargo lambda watch`: http://127.0.0.1:$API_PORT/2015-03-31/functions/realtime/invocations).

use xtask::websocket::{router, GatewayConfig};

#[tokio::main]
async fn main() {
    let setting = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let port: u16 = setting("WEBSOCKET_PORT").and_then(|p| p.parse().ok()).unwrap_or(9001);
    let invoke_url = setting("LAMBDA_INVOKE_URL").unwrap_or_else(|| {
        let api_port = setting("API_PORT").unwrap_or_else(|| "9000".into());
        format!("http://127.0.0.1:{api_port}/2015-03-31/functions/realtime/invocations")
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap_or_else(|e| {
        eprintln!("websocket-gateway: cannot listen on 127.0.0.1:{port}: {e}");
        std::process::exit(1)
    });
    println!(
        "websocket-gateway: ws://127.0.0.1:{port}/?token=… and the @connections API; routes to {invoke_url}"
    );
    if let Err(e) = axum::serve(listener, router(GatewayConfig { invoke_url })).await {
        eprintln!("websocket-gateway: {e}");
        std::process::exit(1);
    }
}
