//! Real-time events for web users over a WebSocket API (API Gateway's, or the local stand-in of
//! `make dev`).
//!
//! - A web client connects with its token; `$connect` stores a [`Connection`] under the user.
//! - Whatever changes a conversation builds [`Event`]s and hands them to the [`Publisher`] with
//!   the conversation's web users: one Query per user finds their connections (several devices
//!   each), and every (connection, event) is posted concurrently through the [`ConnectionGateway`]
//!   port. A connection the gateway says is gone (410) is deleted.
//! - Recipients are read when the event is published, so a user removed from a conversation
//!   receives nothing of it from then on.
//!
//! The event format is in docs/realtime.md.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;

use crate::domain::ids::UserId;
use crate::domain::realtime::{Connection, Event};
use crate::ports::{ConnectionGateway, ConnectionStore, GatewayError};

/// Posts in flight at once for one publication.
const POST_CONCURRENCY: usize = 32;
/// API Gateway answers 410 to posts for a connection whose `$connect` has not returned yet; a
/// connection younger than this is kept on a 410 (it is still opening, not gone).
const OPENING_GRACE_SECONDS: i64 = 10;
/// A publication never holds a request longer than this (the events are a convenience: a client
/// that misses one catches up through the REST API).
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);

/// What one publication did (for logs, tests and benchmarks).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Published {
    pub connections: usize,
    pub delivered: usize,
    pub gone: usize,
    pub failed: usize,
}

/// Sends events to users' open connections. Disabled (no WebSocket API configured) it does
/// nothing at all: no reads, no calls.
#[derive(Clone, Default)]
pub struct Publisher {
    gateway: Option<Arc<dyn ConnectionGateway>>,
}

impl Publisher {
    pub fn new(gateway: Arc<dyn ConnectionGateway>) -> Self {
        Self { gateway: Some(gateway) }
    }

    pub fn disabled() -> Self {
        Self { gateway: None }
    }

    pub fn is_enabled(&self) -> bool {
        self.gateway.is_some()
    }

    /// Posts every event to every connection of `user_ids`. Never fails the caller: a failure is
    /// logged, a gone connection deleted.
    pub async fn publish(
        &self,
        store: &dyn ConnectionStore,
        user_ids: &[UserId],
        events: &[Event],
    ) -> Published {
        let Some(gateway) = &self.gateway else { return Published::default() };
        if user_ids.is_empty() || events.is_empty() {
            return Published::default();
        }
        match tokio::time::timeout(PUBLISH_TIMEOUT, publish_to(gateway.as_ref(), store, user_ids, events))
            .await
        {
            Ok(published) => published,
            Err(_) => {
                tracing::warn!(
                    users = user_ids.len(),
                    events = events.len(),
                    "real-time publication timed out"
                );
                Published::default()
            }
        }
    }

    /// Posts one frame to one connection (answers on the default route, e.g. `pong`).
    pub async fn reply(
        &self,
        connection_id: &crate::domain::ids::ConnectionId,
        frame: &serde_json::Value,
    ) -> Result<(), GatewayError> {
        match &self.gateway {
            Some(gateway) => gateway.post(connection_id, frame.to_string().into_bytes()).await,
            None => Ok(()),
        }
    }
}

async fn publish_to(
    gateway: &dyn ConnectionGateway,
    store: &dyn ConnectionStore,
    user_ids: &[UserId],
    events: &[Event],
) -> Published {
    let connections = match store.connections_of(user_ids).await {
        Ok(connections) => connections,
        Err(err) => {
            tracing::error!(error = %err, "could not read connections to publish to");
            return Published::default();
        }
    };
    let frames: Vec<Vec<u8>> =
        events.iter().map(|e| serde_json::to_vec(e).expect("events serialise")).collect();
    // Owned pairs, so the futures borrow nothing from iterator closures (they must be Send).
    let mut posts: Vec<(usize, Vec<u8>)> = Vec::with_capacity(connections.len() * frames.len());
    for index in 0..connections.len() {
        posts.extend(frames.iter().map(|frame| (index, frame.clone())));
    }
    let outcomes: Vec<(usize, Result<(), GatewayError>)> = futures::stream::iter(posts)
        .map(|(index, frame)| {
            let connection_id = connections[index].connection_id.clone();
            async move { (index, gateway.post(&connection_id, frame).await) }
        })
        .buffer_unordered(POST_CONCURRENCY)
        .collect()
        .await;
    let mut published = Published { connections: connections.len(), ..Default::default() };
    let mut gone: Vec<&Connection> = Vec::new();
    for (index, outcome) in outcomes {
        let connection = &connections[index];
        match outcome {
            Ok(()) => published.delivered += 1,
            Err(GatewayError::Gone) => {
                let opening = (Utc::now() - connection.connected_at).num_seconds() < OPENING_GRACE_SECONDS;
                if !opening && !gone.iter().any(|c| c.connection_id == connection.connection_id) {
                    gone.push(connection);
                }
            }
            Err(GatewayError::Other(reason)) => {
                published.failed += 1;
                tracing::warn!(connectionId = %connection.connection_id, reason, "real-time post failed");
            }
        }
    }
    published.gone = gone.len();
    for connection in gone {
        if let Err(err) = store.delete_connection(connection.user_id, &connection.connection_id).await {
            tracing::warn!(error = %err, "could not delete a gone connection");
        }
    }
    published
}
