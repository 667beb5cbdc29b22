//! [`ConnectionStore`]: open WebSockets, as two items each (the user's and the connection's
//! own), written and deleted together without conditions, as the adapter does.

use async_trait::async_trait;
use chrono::Utc;

use super::MemoryStore;
use crate::domain::ids::{ConnectionId, UserId};
use crate::domain::realtime::Connection;
use crate::ports::{ConnectionStore, StoreError};

#[async_trait]
impl ConnectionStore for MemoryStore {
    /// Overwrites both items. The same connection id put for another user moves its own item
    /// to that user, and leaves the first user's item in place (it expires).
    async fn put_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        let mut state = self.call()?;
        let of_user = state.user_connections.entry(connection.user_id).or_default();
        of_user.insert(connection.connection_id.clone(), connection.clone());
        state.connections.insert(connection.connection_id.clone(), connection.clone());
        Ok(())
    }

    /// Expired connections are not live, whether or not they are still stored.
    async fn connection_user(&self, connection_id: &ConnectionId) -> Result<Option<UserId>, StoreError> {
        let state = self.call()?;
        let now = Utc::now();
        Ok(state.connections.get(connection_id).filter(|c| c.is_live(now)).map(|c| c.user_id))
    }

    /// Deletes both keys, whatever they hold.
    async fn delete_connection(
        &self,
        user_id: UserId,
        connection_id: &ConnectionId,
    ) -> Result<(), StoreError> {
        let mut state = self.call()?;
        if let Some(of_user) = state.user_connections.get_mut(&user_id) {
            of_user.remove(connection_id);
        }
        state.connections.remove(connection_id);
        Ok(())
    }

    /// The live connections of each user (each once), by user id then connection id.
    async fn connections_of(&self, user_ids: &[UserId]) -> Result<Vec<Connection>, StoreError> {
        let state = self.call()?;
        let mut users = user_ids.to_vec();
        users.sort();
        users.dedup();
        let now = Utc::now();
        Ok(users
            .into_iter()
            .filter_map(|user_id| state.user_connections.get(&user_id))
            .flat_map(|of_user| of_user.values())
            .filter(|c| c.is_live(now))
            .cloned()
            .collect())
    }
}
