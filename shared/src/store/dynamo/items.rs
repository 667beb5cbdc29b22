//! Typed items: what each entity looks like in the table (mapped with serde_dynamo).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::keys;
use crate::domain::number::PoolNumber;
use crate::domain::phone::E164;
use crate::domain::user::{normalize_username, User};

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    #[serde(rename = "GSI1PK", default, skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    #[serde(rename = "GSI1SK", default, skip_serializing_if = "Option::is_none")]
    pub gsi1sk: Option<String>,
    pub entity: String,
    pub id: String,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_number: Option<String>,
    pub active: bool,
    pub token_version: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&User> for UserItem {
    fn from(user: &User) -> Self {
        let listed = user.active;
        Self {
            pk: keys::user_pk(&user.id),
            sk: keys::USER_SK.into(),
            gsi1pk: listed.then(|| keys::DIRECTORY_PK.into()),
            gsi1sk: listed.then(|| keys::directory_sk(&normalize_username(&user.username))),
            entity: "user".into(),
            id: user.id.clone(),
            username: user.username.clone(),
            email: user.email.clone(),
            password_hash: user.password_hash.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            phone_number: user.phone_number.as_ref().map(|p| p.to_string()),
            virtual_number: user.virtual_number.as_ref().map(|p| p.to_string()),
            active: user.active,
            token_version: user.token_version,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

impl From<UserItem> for User {
    fn from(item: UserItem) -> Self {
        Self {
            id: item.id,
            username: item.username,
            email: item.email,
            password_hash: item.password_hash,
            first_name: item.first_name,
            last_name: item.last_name,
            phone_number: item.phone_number.map(E164::from_stored),
            virtual_number: item.virtual_number.map(E164::from_stored),
            active: item.active,
            token_version: item.token_version,
            created_at: item.created_at,
            updated_at: item.updated_at,
        }
    }
}

/// Makes an email or username unique: exists while a user holds the value.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UniqueItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub user_id: String,
}

impl UniqueItem {
    pub fn new(pk: String, user_id: &str) -> Self {
        Self { pk, sk: keys::UNIQUE_SK.into(), entity: "unique".into(), user_id: user_id.into() }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NumberItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    #[serde(rename = "GSI1PK")]
    pub gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    pub gsi1sk: String,
    pub entity: String,
    pub number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    pub added_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_at: Option<DateTime<Utc>>,
}

impl NumberItem {
    pub fn free(number: &E164, added_at: DateTime<Utc>) -> Self {
        Self {
            pk: keys::number_pk(number.as_str()),
            sk: keys::NUMBER_SK.into(),
            gsi1pk: keys::POOL_PK.into(),
            gsi1sk: keys::pool_sk(number.as_str(), false),
            entity: "number".into(),
            number: number.to_string(),
            owner_id: None,
            added_at,
            assigned_at: None,
        }
    }
}

impl From<NumberItem> for PoolNumber {
    fn from(item: NumberItem) -> Self {
        Self {
            phone_number: E164::from_stored(item.number),
            owner_id: item.owner_id,
            added_at: item.added_at,
            assigned_at: item.assigned_at,
        }
    }
}
