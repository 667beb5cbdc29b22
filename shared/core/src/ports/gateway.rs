//! The port real-time events leave through: posting a frame to one open WebSocket (its adapter
//! is API Gateway's management API, `switchboard::apigw`).

use async_trait::async_trait;

use crate::domain::ids::ConnectionId;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The client is no longer connected (410): its connection item should go.
    #[error("connection gone")]
    Gone,
    #[error("{0}")]
    Other(String),
}

#[async_trait]
pub trait ConnectionGateway: Send + Sync {
    async fn post(&self, connection_id: &ConnectionId, data: Vec<u8>) -> Result<(), GatewayError>;
}
