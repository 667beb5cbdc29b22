//! `realtime` function: the three routes of the WebSocket API (API Gateway, or `make dev`'s
//! local stand-in). `$connect` authenticates the access token and stores the connection,
//! `$disconnect` forgets it, `$default` takes client frames (`ping`, `typing`). Events reach the
//! sockets from the functions that change conversations (`switchboard::realtime`).

use std::time::Instant;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue};
use serde_json::json;
use switchboard::service::realtime;
use switchboard::{AppError, AppState};

/// The subprotocol a browser offers along with its token: `new WebSocket(url, ["bearer", token])`.
const TOKEN_PROTOCOL: &str = "bearer";

pub async fn handle(state: &AppState, event: ApiGatewayWebsocketProxyRequest) -> ApiGatewayProxyResponse {
    let started = Instant::now();
    let before = state.round_trips.get();
    let context = &event.request_context;
    let route = context.route_key.clone().unwrap_or_default();
    let connection_id = context.connection_id.clone().unwrap_or_default();
    let result = if connection_id.is_empty() {
        Err(AppError::bad_request(None, "no connection id"))
    } else {
        match route.as_str() {
            "$connect" => connect(state, &event, &connection_id).await,
            "$disconnect" => realtime::disconnect(state, &connection_id).await.map(|()| ok(None)),
            _ => frame(state, &event, &connection_id).await,
        }
    };
    let latency_ms = started.elapsed().as_millis() as u64;
    let db_round_trips = state.round_trips.get().saturating_sub(before);
    match result {
        Ok(response) => {
            tracing::info!(function = "realtime", route = %route, status = response.status_code, latency_ms, db_round_trips, outcome = "ok", "request");
            response
        }
        Err(err) => {
            let status = err.status();
            if status >= 500 {
                tracing::error!(function = "realtime", route = %route, status, latency_ms, db_round_trips, outcome = "error", error = %err, "request");
            } else {
                tracing::info!(function = "realtime", route = %route, status, latency_ms, db_round_trips, outcome = "rejected", code = err.code(), "request");
            }
            response(status as i64, None, Some(json!({ "error": err.body() }).to_string()))
        }
    }
}

fn response(status: i64, protocol: Option<&str>, body: Option<String>) -> ApiGatewayProxyResponse {
    let mut headers = HeaderMap::new();
    if let Some(value) = protocol.and_then(|p| HeaderValue::from_str(p).ok()) {
        headers.insert("sec-websocket-protocol", value);
    }
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = status;
    response.headers = headers;
    response.body = body.map(Body::Text);
    response
}

fn ok(protocol: Option<&str>) -> ApiGatewayProxyResponse {
    response(200, protocol, None)
}

/// The token from `?token=` or from `Sec-WebSocket-Protocol: bearer, <token>` (then the
/// `bearer` subprotocol is accepted in the answer, as browsers require).
fn token_of(event: &ApiGatewayWebsocketProxyRequest) -> (Option<String>, bool) {
    if let Some(token) = event.query_string_parameters.first("token") {
        return (Some(token.to_string()), false);
    }
    let offered = event.headers.get("sec-websocket-protocol").and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut protocols = offered.split(',').map(str::trim);
    match (protocols.next(), protocols.next()) {
        (Some(TOKEN_PROTOCOL), Some(token)) => (Some(token.to_string()), true),
        _ => (None, false),
    }
}

async fn connect(
    state: &AppState,
    event: &ApiGatewayWebsocketProxyRequest,
    connection_id: &str,
) -> Result<ApiGatewayProxyResponse, AppError> {
    let (token, by_protocol) = token_of(event);
    let user = realtime::connect(state, connection_id, token.as_deref()).await?;
    tracing::info!(user_id = %user.id, connection_id, "websocket connected");
    Ok(ok(by_protocol.then_some(TOKEN_PROTOCOL)))
}

/// A client frame. Its errors go back on the socket as `{"type":"error","error":{…}}` (a route
/// without a route response cannot answer otherwise) and the invocation still succeeds.
async fn frame(
    state: &AppState,
    event: &ApiGatewayWebsocketProxyRequest,
    connection_id: &str,
) -> Result<ApiGatewayProxyResponse, AppError> {
    let body = event.body.as_deref().unwrap_or("");
    match realtime::client_frame(state, connection_id, body).await {
        Ok(_) => Ok(ok(None)),
        Err(err) if err.status() < 500 => {
            let frame = json!({ "type": "error", "error": err.body() });
            if let Err(e) = state.events.reply(connection_id, &frame).await {
                tracing::info!(error = %e, "error frame not delivered");
            }
            Err(err)
        }
        Err(err) => Err(err),
    }
}
