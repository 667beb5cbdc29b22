//! Real-time connections: one item per open WebSocket, in its user's partition.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::{key, keys, s, DynamoStore, Item, StoreError};
use crate::realtime::Connection;

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn text(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn connection_from(item: &Item) -> Option<Connection> {
    Some(Connection {
        connection_id: text(item, "connectionId")?,
        user_id: text(item, "userId")?,
        connected_at: text(item, "connectedAt")?.parse::<DateTime<Utc>>().ok()?,
        expires_at: item.get("expiresAt").and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())?,
    })
}

impl DynamoStore {
    /// One PutItem.
    pub(super) async fn put_connection_item(&self, connection: &Connection) -> Result<(), StoreError> {
        let mut item =
            key(keys::user_pk(&connection.user_id), &keys::connection_sk(&connection.connection_id));
        item.insert(keys::GSI1PK.into(), s(keys::connection_gsi1pk(&connection.connection_id)));
        item.insert(keys::GSI1SK.into(), s(keys::CONNECTION_GSI1SK));
        item.insert("entity".into(), s("connection"));
        item.insert("connectionId".into(), s(&connection.connection_id));
        item.insert("userId".into(), s(&connection.user_id));
        item.insert("connectedAt".into(), s(connection.connected_at.to_rfc3339()));
        item.insert("expiresAt".into(), n(connection.expires_at));
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await?;
        Ok(())
    }

    /// One Query of GSI1.
    pub(super) async fn query_connection_user(
        &self,
        connection_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI1)
            .key_condition_expression("#pk = :pk AND #sk = :sk")
            .expression_attribute_names("#pk", keys::GSI1PK)
            .expression_attribute_names("#sk", keys::GSI1SK)
            .expression_attribute_values(":pk", s(keys::connection_gsi1pk(connection_id)))
            .expression_attribute_values(":sk", s(keys::CONNECTION_GSI1SK))
            .send()
            .await?;
        let now = Utc::now().timestamp();
        Ok(out.items().iter().filter_map(connection_from).find(|c| c.expires_at > now).map(|c| c.user_id))
    }

    /// One DeleteItem (idempotent).
    pub(super) async fn delete_connection_item(
        &self,
        user_id: &str,
        connection_id: &str,
    ) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::user_pk(user_id), &keys::connection_sk(connection_id))))
            .send()
            .await?;
        Ok(())
    }

    /// One Query per user (`begins_with(SK, CONN#)`), concurrently. Expired items the TTL has not
    /// swept yet are skipped.
    pub(super) async fn query_connections(&self, user_ids: &[String]) -> Result<Vec<Connection>, StoreError> {
        let mut unique: Vec<&String> = user_ids.iter().collect();
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
        let now = Utc::now().timestamp();
        let mut connections = Vec::new();
        for out in futures::future::join_all(queries).await {
            connections
                .extend(out?.items().iter().filter_map(connection_from).filter(|c| c.expires_at > now));
        }
        Ok(connections)
    }
}
