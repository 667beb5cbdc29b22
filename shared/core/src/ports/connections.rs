//! Users' open WebSockets.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::ids::{ConnectionId, UserId};
use crate::domain::realtime::Connection;

#[async_trait]
pub trait ConnectionStore: Send + Sync + 'static {
    /// Stores an open WebSocket of a user (with its TTL).
    async fn put_connection(&self, connection: &Connection) -> Result<(), StoreError>;
    /// The user of a live connection (consistent read); none when unknown or expired.
    async fn connection_user(&self, connection_id: &ConnectionId) -> Result<Option<UserId>, StoreError>;
    /// Forgets a connection (idempotent).
    async fn delete_connection(
        &self,
        user_id: UserId,
        connection_id: &ConnectionId,
    ) -> Result<(), StoreError>;
    /// The live connections of these users.
    async fn connections_of(&self, user_ids: &[UserId]) -> Result<Vec<Connection>, StoreError>;
}
