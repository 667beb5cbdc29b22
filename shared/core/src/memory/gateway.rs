//! [`FakeGateway`]: a [`ConnectionGateway`] that records the frames posted to each connection.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use serde_json::Value;

use crate::domain::ids::ConnectionId;
use crate::ports::{ConnectionGateway, GatewayError};

/// One post the gateway was asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct Post {
    pub connection_id: ConnectionId,
    /// The frame as JSON (a frame that is not JSON is kept as a string).
    pub frame: Value,
    /// False when the connection was marked gone or failing.
    pub delivered: bool,
}

/// Accepts every post, except to connections marked gone (410: `GatewayError::Gone`) or failing
/// (`GatewayError::Other`), and records them all.
#[derive(Default)]
pub struct FakeGateway {
    state: Mutex<GatewayState>,
}

#[derive(Default)]
struct GatewayState {
    posts: Vec<Post>,
    gone: HashSet<ConnectionId>,
    failing: HashMap<ConnectionId, String>,
}

impl FakeGateway {
    pub fn new() -> Self {
        Self::default()
    }

    /// Posts to this connection answer `Gone` (the client disconnected).
    pub fn mark_gone(&self, connection_id: &ConnectionId) {
        self.lock().gone.insert(connection_id.clone());
    }

    /// Posts to this connection fail with `Other(reason)`.
    pub fn mark_failing(&self, connection_id: &ConnectionId, reason: &str) {
        self.lock().failing.insert(connection_id.clone(), reason.to_string());
    }

    /// Posts to this connection succeed again.
    pub fn restore(&self, connection_id: &ConnectionId) {
        let mut state = self.lock();
        state.gone.remove(connection_id);
        state.failing.remove(connection_id);
    }

    /// Every post asked for, delivered or not, in order.
    pub fn attempts(&self) -> Vec<Post> {
        self.lock().posts.clone()
    }

    /// The (connection, frame) of every delivered post, in order.
    pub fn posts(&self) -> Vec<(ConnectionId, Value)> {
        self.lock()
            .posts
            .iter()
            .filter(|p| p.delivered)
            .map(|p| (p.connection_id.clone(), p.frame.clone()))
            .collect()
    }

    /// The frames delivered to one connection, in order.
    pub fn frames_to(&self, connection_id: &ConnectionId) -> Vec<Value> {
        let state = self.lock();
        state
            .posts
            .iter()
            .filter(|p| p.delivered && p.connection_id == *connection_id)
            .map(|p| p.frame.clone())
            .collect()
    }

    /// Forgets the posts (the gone and failing marks stay).
    pub fn clear(&self) {
        self.lock().posts.clear();
    }

    fn lock(&self) -> MutexGuard<'_, GatewayState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl ConnectionGateway for FakeGateway {
    async fn post(&self, connection_id: &ConnectionId, data: Vec<u8>) -> Result<(), GatewayError> {
        let frame = serde_json::from_slice(&data)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&data).into_owned()));
        let mut state = self.lock();
        let outcome = if state.gone.contains(connection_id) {
            Err(GatewayError::Gone)
        } else if let Some(reason) = state.failing.get(connection_id) {
            Err(GatewayError::Other(reason.clone()))
        } else {
            Ok(())
        };
        state.posts.push(Post { connection_id: connection_id.clone(), frame, delivered: outcome.is_ok() });
        outcome
    }
}
