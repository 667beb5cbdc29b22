//! The local stand-in of API Gateway's WebSocket API, for `make dev` (development only).
//!
//! Like API Gateway, it invokes the `realtime` function (through `cargo lambda watch`'s Lambda
//! Invoke API) with the WebSocket proxy events: `$connect` before accepting a socket (a non-200
//! answer refuses it), `$default` for each text frame, `$disconnect` when the socket closes. And it
//! serves the management API the publisher calls: `POST`/`GET`/`DELETE /@connections/{id}`,
//! answering 410 GoneException for a connection that is not open.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;

#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// `http://host:port/2015-03-31/functions/realtime/invocations`.
    pub invoke_url: String,
}

struct Open {
    outbox: mpsc::UnboundedSender<Message>,
    connected_at: chrono::DateTime<Utc>,
}

struct Gateway {
    config: GatewayConfig,
    http: reqwest::Client,
    open: Mutex<HashMap<String, Open>>,
}

pub fn router(config: GatewayConfig) -> Router {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(300)) // the first invocation waits for a compile
        .build()
        .expect("an HTTP client");
    let gateway = Arc::new(Gateway { config, http, open: Mutex::new(HashMap::new()) });
    Router::new()
        .route("/", get(upgrade))
        .route("/@connections/{id}", post(post_to_connection).get(get_connection).delete(delete_connection))
        .with_state(gateway)
}

fn gone() -> Response {
    let mut response = (StatusCode::GONE, Json(json!({ "message": null }))).into_response();
    response.headers_mut().insert("x-amzn-errortype", "GoneException".parse().unwrap());
    response
}

impl Gateway {
    /// Invokes the function with a WebSocket proxy event; returns its (statusCode, headers).
    async fn invoke(
        &self,
        route: &str,
        connection_id: &str,
        extra: Value,
    ) -> Result<(u16, HashMap<String, String>), String> {
        let now = Utc::now();
        let event_type = match route {
            "$connect" => "CONNECT",
            "$disconnect" => "DISCONNECT",
            _ => "MESSAGE",
        };
        let mut event = json!({
            "requestContext": {
                "routeKey": route,
                "eventType": event_type,
                "messageDirection": "IN",
                "stage": "local",
                "apiId": "local",
                "domainName": "127.0.0.1",
                "connectionId": connection_id,
                "requestId": ulid::Ulid::new().to_string(),
                "messageId": ulid::Ulid::new().to_string(),
                "requestTimeEpoch": now.timestamp_millis(),
                "connectedAt": now.timestamp_millis(),
                "identity": { "sourceIp": "127.0.0.1" },
            },
            "isBase64Encoded": false,
        });
        if let (Some(event), Some(extra)) = (event.as_object_mut(), extra.as_object()) {
            event.extend(extra.clone());
        }
        let reply: Value = self
            .http
            .post(&self.config.invoke_url)
            .json(&event)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let status = reply["statusCode"].as_u64().unwrap_or(502) as u16;
        let headers = reply["headers"]
            .as_object()
            .map(|h| {
                h.iter().filter_map(|(k, v)| Some((k.to_lowercase(), v.as_str()?.to_string()))).collect()
            })
            .unwrap_or_default();
        Ok((status, headers))
    }
}

async fn upgrade(
    State(gateway): State<Arc<Gateway>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let connection_id = ulid::Ulid::new().to_string();
    let header_map: HashMap<String, String> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let extra = json!({
        "headers": header_map,
        "queryStringParameters": if query.is_empty() { Value::Null } else { json!(query) },
    });
    let (status, reply_headers) = match gateway.invoke("$connect", &connection_id, extra).await {
        Ok(reply) => reply,
        Err(e) => return (StatusCode::BAD_GATEWAY, e).into_response(),
    };
    if status != 200 {
        println!("websocket: connection refused by $connect ({status})");
        return StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN).into_response();
    }
    let ws = match reply_headers.get("sec-websocket-protocol") {
        Some(protocol) => ws.protocols([protocol.clone()]),
        None => ws,
    };
    ws.on_upgrade(move |socket| serve_socket(gateway, connection_id, socket))
}

async fn serve_socket(gateway: Arc<Gateway>, connection_id: String, socket: WebSocket) {
    // Open for posts only now, as with API Gateway: until the handshake completes, a post for
    // this connection answers 410.
    let (outbox, mut inbox) = mpsc::unbounded_channel();
    gateway.open.lock().unwrap().insert(connection_id.clone(), Open { outbox, connected_at: Utc::now() });
    let (mut sink, mut stream) = socket.split();
    let writer = tokio::spawn(async move {
        while let Some(message) = inbox.recv().await {
            let closing = matches!(message, Message::Close(_));
            if sink.send(message).await.is_err() || closing {
                break;
            }
        }
    });
    while let Some(Ok(message)) = stream.next().await {
        match message {
            Message::Text(text) => {
                let extra = json!({ "body": text.as_str() });
                if let Err(e) = gateway.invoke("$default", &connection_id, extra).await {
                    eprintln!("websocket: $default failed: {e}");
                }
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    gateway.open.lock().unwrap().remove(&connection_id);
    writer.abort();
    if let Err(e) = gateway.invoke("$disconnect", &connection_id, json!({})).await {
        eprintln!("websocket: $disconnect failed: {e}");
    }
}

async fn post_to_connection(
    State(gateway): State<Arc<Gateway>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let open = gateway.open.lock().unwrap();
    let Some(connection) = open.get(&id) else { return gone() };
    let text = String::from_utf8_lossy(&body).into_owned();
    match connection.outbox.send(Message::Text(text.into())) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(_) => gone(),
    }
}

async fn get_connection(State(gateway): State<Arc<Gateway>>, Path(id): Path<String>) -> Response {
    match gateway.open.lock().unwrap().get(&id) {
        Some(open) => Json(json!({
            "connectedAt": open.connected_at.to_rfc3339(),
            "identity": { "sourceIp": "127.0.0.1" },
            "lastActiveAt": Utc::now().to_rfc3339(),
        }))
        .into_response(),
        None => gone(),
    }
}

async fn delete_connection(State(gateway): State<Arc<Gateway>>, Path(id): Path<String>) -> Response {
    match gateway.open.lock().unwrap().remove(&id) {
        Some(open) => {
            let _ = open.outbox.send(Message::Close(None));
            StatusCode::NO_CONTENT.into_response()
        }
        None => gone(),
    }
}
