//! `realtime` function: the three routes of the WebSocket API (API Gateway, or `make dev`'s
//! local stand-in). `$connect` authenticates the access token and stores the connection,
//! `$disconnect` forgets it, `$default` takes client frames (`ping`, `typing`). Events reach the
//! sockets from the functions that change conversations (`switchboard::realtime`).

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue};
use serde_json::json;
use switchboard::api::{self, response};
use switchboard::core::domain::ids::ConnectionId;
use switchboard::core::service::realtime;
use switchboard::{AppError, AppState};

/// The subprotocol a browser offers along with its token: `new WebSocket(url, ["bearer", token])`.
const TOKEN_PROTOCOL: &str = "bearer";

/// The WebSocket API's route keys this function serves (template.yaml's routes; checked by
/// tests/tests/routes.rs). Any other key is a client frame, as on `$default`.
pub const ROUTE_KEYS: [&str; 3] = ["$connect", "$disconnect", "$default"];

/// One invocation, logged and measured like every HTTP request (`api::observed`); errors become
/// the JSON answer API Gateway hands back (a refused `$connect` refuses the handshake).
pub async fn handle(state: &AppState, event: ApiGatewayWebsocketProxyRequest) -> ApiGatewayProxyResponse {
    let route = event.request_context.route_key.clone().unwrap_or_default();
    let connection_id = event.request_context.connection_id.clone().unwrap_or_default();
    let work = async {
        let connection_id = ConnectionId::parse(&connection_id)
            .map_err(|_| AppError::bad_request(None, "no connection id"))?;
        match route.as_str() {
            "$connect" => connect(state, &event, &connection_id).await,
            "$disconnect" => realtime::disconnect(&state.app, &connection_id).await.map(|()| ok(None)),
            _ => frame(state, &event, &connection_id).await,
        }
    };
    let result = api::observed(state, "realtime", "WEBSOCKET", &route, work, |r| r.status_code as u16).await;
    result.unwrap_or_else(|err| {
        let body = json!(response::error_body(&err)).to_string();
        response(i64::from(response::status_of(&err)), None, Some(body))
    })
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
    connection_id: &ConnectionId,
) -> Result<ApiGatewayProxyResponse, AppError> {
    let (token, by_protocol) = token_of(event);
    let user = realtime::connect(&state.app, connection_id, token.as_deref()).await?;
    tracing::info!(userId = %user.id, connectionId = %connection_id, "websocket connected");
    Ok(ok(by_protocol.then_some(TOKEN_PROTOCOL)))
}

/// A client frame. Its errors go back on the socket as `{"type":"error","error":{…}}` (a route
/// without a route response cannot answer otherwise) and the invocation still succeeds.
async fn frame(
    state: &AppState,
    event: &ApiGatewayWebsocketProxyRequest,
    connection_id: &ConnectionId,
) -> Result<ApiGatewayProxyResponse, AppError> {
    let body = event.body.as_deref().unwrap_or("");
    match realtime::client_frame(&state.app, connection_id, body).await {
        Ok(_) => Ok(ok(None)),
        Err(err) if response::status_of(&err) < 500 => {
            let frame = json!({ "type": "error", "error": response::error_body(&err).error });
            if let Err(e) = state.app.events.reply(connection_id, &frame).await {
                tracing::info!(error = %e, "error frame not delivered");
            }
            Err(err)
        }
        Err(err) => Err(err),
    }
}
