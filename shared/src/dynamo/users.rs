//! [`UserStore`]: users and their uniqueness items.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem, Update};
use switchboard_core::domain::ids::UserId;
use switchboard_core::domain::user::{normalize_username, User};
use switchboard_core::ports::users::{LoginKey, ProfileChanges};
use switchboard_core::ports::{Page, PageRequest, StoreError, UniqueField, UserStore};

use super::items::{stamp, UniqueItem, UserItem};
use super::{from_item, key, keys, s, sdk_error, to_item, DynamoStore, Item, TxError};

#[async_trait]
impl UserStore for DynamoStore {
    /// One transaction: the user, its email item and its username item, each only if absent.
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let put_new = |item: Item| -> Result<TransactWriteItem, StoreError> {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(PK)")
                .build()
                .map_err(|e| StoreError::Backend(e.to_string()))?;
            Ok(TransactWriteItem::builder().put(put).build())
        };
        let items = vec![
            put_new(to_item(&UserItem::from(user))?)?,
            put_new(to_item(&UniqueItem::new(keys::email_pk(&user.email), user.id))?)?,
            put_new(to_item(&UniqueItem::new(
                keys::username_pk(normalize_username(&user.username)),
                user.id,
            ))?)?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TxError::Cancelled(reasons)) => Err(if reasons.get(1).is_some_and(|r| r.failed()) {
                StoreError::Taken(UniqueField::Email)
            } else if reasons.get(2).is_some_and(|r| r.failed()) {
                StoreError::Taken(UniqueField::Username)
            } else {
                StoreError::Contention
            }),
            Err(TxError::Store(e)) => Err(e),
        }
    }

    async fn get_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::user_pk(id), keys::USER_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        out.item.map(|item| from_item::<UserItem>(item).map(User::from)).transpose()
    }

    /// Batched reads (see [`DynamoStore::batch_get`]), returned in the order of `ids`.
    async fn get_users(&self, ids: &[UserId]) -> Result<Vec<User>, StoreError> {
        let mut unique: Vec<UserId> = ids.to_vec();
        unique.sort();
        unique.dedup();
        let keys = unique.iter().map(|id| key(keys::user_pk(id), keys::USER_SK)).collect();
        let mut found: HashMap<UserId, User> = HashMap::new();
        for item in self.batch_get(keys).await? {
            let user = User::from(from_item::<UserItem>(item)?);
            found.insert(user.id, user);
        }
        Ok(ids.iter().filter_map(|id| found.get(id).cloned()).collect())
    }

    async fn find_user_id(&self, login: &LoginKey) -> Result<Option<UserId>, StoreError> {
        let pk = match login {
            LoginKey::Email(email) => keys::email_pk(email.to_lowercase()),
            LoginKey::Username(username) => keys::username_pk(normalize_username(username)),
        };
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, keys::UNIQUE_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(out.item.map(from_item::<UniqueItem>).transpose()?.map(|u| u.user_id))
    }

    /// A plain conditional update; when the email changes, a transaction that also moves the
    /// email's uniqueness item.
    async fn update_profile(&self, user: &User, changes: &ProfileChanges) -> Result<User, StoreError> {
        let mut set = vec!["#updatedAt = :updatedAt".to_string()];
        let mut remove = Vec::new();
        let mut names = HashMap::from([("#updatedAt".to_string(), "updatedAt".to_string())]);
        let mut values = HashMap::from([(":updatedAt".to_string(), s(stamp(&chrono::Utc::now())))]);
        let mut field = |attr: &str, value: &Option<Option<String>>| match value {
            None => {}
            Some(Some(v)) => {
                names.insert(format!("#{attr}"), attr.to_string());
                values.insert(format!(":{attr}"), s(v.clone()));
                set.push(format!("#{attr} = :{attr}"));
            }
            Some(None) => {
                names.insert(format!("#{attr}"), attr.to_string());
                remove.push(format!("#{attr}"));
            }
        };
        field("firstName", &changes.first_name);
        field("lastName", &changes.last_name);
        field("phoneNumber", &changes.phone_number.as_ref().map(|p| p.as_ref().map(|n| n.to_string())));
        let new_email = changes.email.as_ref().filter(|e| **e != user.email);
        field("email", &new_email.map(|e| Some(e.clone())));
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        names.insert("#id".into(), "id".into());
        values.insert(":id".into(), s(user.id.to_string()));
        let condition = "attribute_exists(PK) AND #id = :id";

        let Some(new_email) = new_email else {
            let out = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(keys::user_pk(user.id), keys::USER_SK)))
                .update_expression(expression)
                .condition_expression(condition)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .return_values(ReturnValue::AllNew)
                .send()
                .await
                .map_err(|e| match e.as_service_error() {
                    Some(err) if err.is_conditional_check_failed_exception() => StoreError::UserNotFound,
                    _ => sdk_error(e),
                })?;
            let item = out.attributes.ok_or_else(|| StoreError::Backend("update returned no item".into()))?;
            return Ok(from_item::<UserItem>(item)?.into());
        };

        let update_user = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::user_pk(user.id), keys::USER_SK)))
            .update_expression(expression)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let release_old = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::email_pk(&user.email), keys::UNIQUE_SK)))
            .condition_expression("userId = :id")
            .expression_attribute_values(":id", s(user.id.to_string()))
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let claim_new = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(&UniqueItem::new(keys::email_pk(new_email), user.id))?))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let items = vec![
            TransactWriteItem::builder().update(update_user).build(),
            TransactWriteItem::builder().delete(release_old).build(),
            TransactWriteItem::builder().put(claim_new).build(),
        ];
        match self.transact(items).await {
            Ok(()) => {}
            Err(TxError::Cancelled(reasons)) if reasons.get(2).is_some_and(|r| r.failed()) => {
                return Err(StoreError::Taken(UniqueField::Email))
            }
            Err(TxError::Cancelled(_)) => return Err(StoreError::Contention),
            Err(TxError::Store(e)) => return Err(e),
        }
        self.get_user(user.id).await?.ok_or(StoreError::UserNotFound)
    }

    /// Deactivation leaves the directory, bumps the token version (ending every session) and
    /// returns the user's number to the pool, all in one transaction.
    async fn set_active(&self, user: &User, active: bool) -> Result<(), StoreError> {
        let user_key = key(keys::user_pk(user.id), keys::USER_SK);
        let mut names = HashMap::from([("#active".to_string(), "active".to_string())]);
        let mut values = HashMap::from([(":active".to_string(), AttributeValue::Bool(active))]);
        let (expression, condition) = if active {
            names.insert("#gpk".into(), keys::GSI1PK.into());
            names.insert("#gsk".into(), keys::GSI1SK.into());
            values.insert(":gpk".into(), s(keys::DIRECTORY_PK));
            values.insert(":gsk".into(), s(keys::directory_sk(&normalize_username(&user.username))));
            (
                "SET #active = :active, #gpk = :gpk, #gsk = :gsk".to_string(),
                "attribute_exists(PK)".to_string(),
            )
        } else {
            names.insert("#gpk".into(), keys::GSI1PK.into());
            names.insert("#gsk".into(), keys::GSI1SK.into());
            names.insert("#ver".into(), "tokenVersion".into());
            names.insert("#vn".into(), "virtualNumber".into());
            values.insert(":one".into(), AttributeValue::N("1".into()));
            let condition = match &user.virtual_number {
                Some(number) => {
                    values.insert(":vn".into(), s(number.to_string()));
                    "attribute_exists(PK) AND #vn = :vn"
                }
                None => "attribute_exists(PK) AND attribute_not_exists(#vn)",
            };
            (
                "SET #active = :active, #ver = #ver + :one REMOVE #gpk, #gsk, #vn, numberReleasing"
                    .to_string(),
                condition.to_string(),
            )
        };
        let update_user = Update::builder()
            .table_name(&self.table)
            .set_key(Some(user_key))
            .update_expression(expression)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let mut items = vec![TransactWriteItem::builder().update(update_user).build()];
        if let (false, Some(number)) = (active, &user.virtual_number) {
            items.push(self.free_number_update(user.id, number)?);
        }
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TxError::Cancelled(_)) => Err(StoreError::Contention),
            Err(TxError::Store(e)) => Err(e),
        }
    }

    async fn list_active_users(
        &self,
        prefix: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<User>, StoreError> {
        let prefix = prefix.map(normalize_username).filter(|p| !p.is_empty());
        let users = self.gsi1_page::<UserItem>(keys::DIRECTORY_PK, prefix.as_deref(), false, page).await?;
        Ok(users.map(User::from))
    }
}
