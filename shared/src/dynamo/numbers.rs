//! [`NumberPool`]: the number pool, and assigning a number to a user.

use std::collections::HashSet;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use chrono::{DateTime, Utc};
use switchboard_core::domain::ids::UserId;
use switchboard_core::domain::number::{NumberStatus, PoolNumber};
use switchboard_core::domain::phone::E164;
use switchboard_core::ports::{NumberPool, Page, PageRequest, StoreError};

use super::items::{stamp, NumberItem};
use super::{from_item, key, keys, s, sdk_error, to_item, DynamoStore, TxError};

/// A number carries no group route (never did, or no longer does).
const NO_ROUTES: &str = "(attribute_not_exists(routeCount) OR routeCount = :zero)";

/// Why a number item failed "in the pool, unowned, carrying no route", from its old image.
fn why_unavailable(item: Option<&super::Item>) -> StoreError {
    match item {
        None => StoreError::NumberNotInPool,
        Some(item) if item.contains_key("ownerId") => StoreError::NumberTaken,
        Some(_) => StoreError::NumberInUse,
    }
}

#[async_trait]
impl NumberPool for DynamoStore {
    async fn add_number(&self, number: &E164, at: DateTime<Utc>) -> Result<PoolNumber, StoreError> {
        let item = NumberItem::free(number, at);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&item)?))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(err) if err.is_conditional_check_failed_exception() => StoreError::NumberInPool,
                _ => sdk_error(e),
            })?;
        Ok(item.into())
    }

    async fn remove_number(&self, number: &E164) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::number_pk(number), keys::NUMBER_SK)))
            .condition_expression(format!("attribute_exists(PK) AND attribute_not_exists(ownerId) AND {NO_ROUTES}"))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::delete_item::DeleteItemError::ConditionalCheckFailedException(
                    failed,
                                )) => match why_unavailable(failed.item()) {
                    StoreError::NumberTaken => StoreError::NumberAssigned,
                    other => other,
                },
                _ => sdk_error(e),
            })?;
        Ok(())
    }

    async fn list_numbers(
        &self,
        status: Option<NumberStatus>,
        page: &PageRequest,
    ) -> Result<Page<PoolNumber>, StoreError> {
        let prefix = status.map(|status| match status {
            NumberStatus::Free => keys::FREE_PREFIX,
            NumberStatus::Assigned => keys::ASSIGNED_PREFIX,
            NumberStatus::Proxy => keys::PROXY_PREFIX,
        });
        Ok(self.gsi1_page::<NumberItem>(keys::POOL_PK, prefix, false, page).await?.map(PoolNumber::from))
    }

    /// One transaction of two conditional updates: the number must be in the pool and free,
    /// the user must exist, be active and have no number. The store, not the caller, decides
    /// who wins a race.
    async fn assign_number(
        &self,
        user_id: UserId,
        number: &E164,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let take_number = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::number_pk(number), keys::NUMBER_SK)))
            .update_expression("SET ownerId = :uid, assignedAt = :at, GSI1SK = :sk")
            .condition_expression(format!(
                "attribute_exists(PK) AND attribute_not_exists(ownerId) AND {NO_ROUTES}"
            ))
            .expression_attribute_values(":uid", s(user_id.to_string()))
            .expression_attribute_values(":at", s(stamp(&at)))
            .expression_attribute_values(":sk", s(keys::pool_sk(keys::ASSIGNED_PREFIX, number)))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let give_user = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::user_pk(user_id), keys::USER_SK)))
            .update_expression("SET virtualNumber = :n, updatedAt = :at")
            .condition_expression(
                "attribute_exists(PK) AND active = :true AND attribute_not_exists(virtualNumber)",
            )
            .expression_attribute_values(":n", s(number.as_str()))
            .expression_attribute_values(":at", s(stamp(&at)))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let items = vec![
            TransactWriteItem::builder().update(take_number).build(),
            TransactWriteItem::builder().update(give_user).build(),
        ];
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TxError::Cancelled(reasons)) => {
                if let Some(user) = reasons.get(1).filter(|r| r.failed()) {
                    return Err(match &user.item {
                        Some(item) if item.contains_key("virtualNumber") => StoreError::UserHasNumber,
                        _ => StoreError::UserNotFound,
                    });
                }
                match reasons.first().filter(|r| r.failed()) {
                    Some(n) => Err(why_unavailable(n.item.as_ref())),
                    None => Err(StoreError::Contention),
                }
            }
            Err(TxError::Store(e)) => Err(e),
        }
    }

    async fn mark_number_releasing(&self, user_id: UserId, number: &E164) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::user_pk(user_id), keys::USER_SK)))
            .update_expression("SET numberReleasing = :n")
            .condition_expression("virtualNumber = :n")
            .expression_attribute_values(":n", s(number.as_str()))
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(err) if err.is_conditional_check_failed_exception() => StoreError::UserHasNoNumber,
                _ => sdk_error(e),
            })?;
        Ok(())
    }

    async fn release_number(&self, user_id: UserId, number: &E164) -> Result<(), StoreError> {
        let user_update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::user_pk(user_id), keys::USER_SK)))
            .update_expression("SET updatedAt = :at REMOVE virtualNumber, numberReleasing")
            .condition_expression("virtualNumber = :n")
            .expression_attribute_values(":n", s(number.as_str()))
            .expression_attribute_values(":at", s(stamp(&Utc::now())))
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let items = vec![
            TransactWriteItem::builder().update(user_update).build(),
            self.free_number_update(user_id, number)?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TxError::Cancelled(_)) => Err(StoreError::UserHasNoNumber),
            Err(TxError::Store(e)) => Err(e),
        }
    }

    /// Which of `numbers` are in the pool: batched reads.
    async fn numbers_in_pool(&self, numbers: &[E164]) -> Result<HashSet<E164>, StoreError> {
        let unique: HashSet<&E164> = numbers.iter().collect();
        let keys = unique.into_iter().map(|n| key(keys::number_pk(n), keys::NUMBER_SK)).collect();
        let mut found = HashSet::new();
        for item in self.batch_get(keys).await? {
            let number: NumberItem = from_item(item)?;
            found.insert(E164::from_stored(number.number));
        }
        Ok(found)
    }
}

impl DynamoStore {
    /// The transaction item that returns `number` from `user_id` to the free pool.
    pub(super) fn free_number_update(
        &self,
        user_id: UserId,
        number: &E164,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::number_pk(number), keys::NUMBER_SK)))
            .update_expression("SET GSI1SK = :sk REMOVE ownerId, assignedAt")
            .condition_expression("ownerId = :uid")
            .expression_attribute_values(":uid", s(user_id.to_string()))
            .expression_attribute_values(":sk", s(keys::pool_sk(keys::FREE_PREFIX, number)))
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}
