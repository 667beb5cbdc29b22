//! Real-time connections: two items per open WebSocket, written and deleted together:
//! `USER#<userId> / CONN#<connectionId>` (so a user's connections are one Query) and
//! `CONN#<connectionId> / CONNECTION` (so the user of a connection is one consistent GetItem:
//! `$default` and `$disconnect` know only the connection id, and may come right after `$connect`).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use switchboard_core::domain::ids::{ConnectionId, UserId};
use switchboard_core::domain::realtime::Connection;
use switchboard_core::ports::{ConnectionStore, StoreError};

use super::items::stamp;
use super::{built, key, keys, s, sdk_error, DynamoStore, Item, TxError};

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn text(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn connection_from(item: &Item) -> Option<Connection> {
    Some(Connection {
        connection_id: ConnectionId::parse(&text(item, "connectionId")?).ok()?,
        user_id: UserId::parse(&text(item, "userId")?).ok()?,
        connected_at: text(item, "connectedAt")?.parse::<DateTime<Utc>>().ok()?,
        expires_at: item.get("expiresAt").and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())?,
    })
}

/// The two keys of a connection: (the user's side, the connection's own).
fn connection_keys(user_id: UserId, connection_id: &ConnectionId) -> [Item; 2] {
    [
        key(keys::user_pk(user_id), &keys::connection_sk(connection_id)),
        key(keys::connection_pk(connection_id), keys::CONNECTION_SK),
    ]
}

fn no_conditions(result: Result<(), TxError>) -> Result<(), StoreError> {
    match result {
        Ok(()) => Ok(()),
        Err(TxError::Store(e)) => Err(e),
        Err(TxError::Cancelled(_)) => Err(StoreError::Contention),
    }
}

#[async_trait]
impl ConnectionStore for DynamoStore {
    /// One TransactWriteItems: both items.
    async fn put_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        let mut writes = Vec::with_capacity(2);
        for mut item in connection_keys(connection.user_id, &connection.connection_id) {
            item.insert("entity".into(), s("connection"));
            item.insert("connectionId".into(), s(connection.connection_id.as_str()));
            item.insert("userId".into(), s(connection.user_id.to_string()));
            item.insert("connectedAt".into(), s(stamp(&connection.connected_at)));
            item.insert("expiresAt".into(), n(connection.expires_at));
            let put = built(Put::builder().table_name(&self.table).set_item(Some(item)).build())?;
            writes.push(TransactWriteItem::builder().put(put).build());
        }
        no_conditions(self.transact(writes).await)
    }

    /// One consistent GetItem of the connection's own item.
    async fn connection_user(&self, connection_id: &ConnectionId) -> Result<Option<UserId>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::connection_pk(connection_id), keys::CONNECTION_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        let now = Utc::now();
        Ok(out.item().and_then(connection_from).filter(|c| c.is_live(now)).map(|c| c.user_id))
    }

    /// One TransactWriteItems deleting both items (idempotent).
    async fn delete_connection(
        &self,
        user_id: UserId,
        connection_id: &ConnectionId,
    ) -> Result<(), StoreError> {
        let mut writes = Vec::with_capacity(2);
        for item in connection_keys(user_id, connection_id) {
            let delete = built(Delete::builder().table_name(&self.table).set_key(Some(item)).build())?;
            writes.push(TransactWriteItem::builder().delete(delete).build());
        }
        no_conditions(self.transact(writes).await)
    }

    /// One Query per user (`begins_with(SK, CONN#)`), concurrently. Expired items the TTL has not
    /// swept yet are skipped.
    async fn connections_of(&self, user_ids: &[UserId]) -> Result<Vec<Connection>, StoreError> {
        let mut unique: Vec<UserId> = user_ids.to_vec();
        unique.sort();
        unique.dedup();
        let queries = unique.into_iter().map(|user_id| {
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                .expression_attribute_values(":pk", s(keys::user_pk(user_id)))
                .expression_attribute_values(":prefix", s(keys::CONNECTION_PREFIX))
                .send()
        });
        let now = Utc::now();
        let mut connections = Vec::new();
        for out in futures::future::join_all(queries).await {
            connections.extend(
                out.map_err(sdk_error)?.items().iter().filter_map(connection_from).filter(|c| c.is_live(now)),
            );
        }
        Ok(connections)
    }
}
