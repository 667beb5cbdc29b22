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
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let db_round_trips = state.round_trips.get().saturating_sub(before);
    match result {
        Ok(response) => {
            tracing::info!(function = "realtime", route = %route, status = response.status_code, outcome = "ok", latencyMs = latency_ms, dbRoundTrips = db_round_trips, connectionId = %connection_id, "request");
            response
        }
        Err(err) => {
            let status = err.status();
            if status >= 500 {
                tracing::error!(function = "realtime", route = %route, status, outcome = "error", latencyMs = latency_ms, dbRoundTrips = db_round_trips, connectionId = %connection_id, error = %err, "request");
            } else {
                tracing::info!(function = "realtime", route = %route, status, outcome = "rejected", latencyMs = latency_ms, dbRoundTrips = db_round_trips, connectionId = %connection_id, code = err.code(), "request");
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

/// The token, from `?token=` or from `Sec-WebSocket-Protocol: bearer, <token>`; and whether the
/// client offered the `bearer` subprotocol, which the answer must then accept (browsers fail a
/// handshake whose answer names none of the offered subprotocols).
fn token_of(event: &ApiGatewayWebsocketProxyRequest) -> (Option<String>, bool) {
    let offered = event.headers.get("sec-websocket-protocol").and_then(|v| v.to_str().ok()).unwrap_or("");
    let protocols: Vec<&str> = offered.split(',').map(str::trim).collect();
    let bearer = protocols.first() == Some(&TOKEN_PROTOCOL);
    if let Some(token) = event.query_string_parameters.first("token") {
        return (Some(token.to_string()), bearer);
    }
    match (bearer, protocols.get(1)) {
        (true, Some(token)) => (Some(token.to_string()), true),
        _ => (None, bearer),
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
