//! The number pool, and assigning a number to a user.

use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use chrono::{DateTime, Utc};

use super::items::NumberItem;
use super::{key, keys, s, to_item, DynamoStore, TxError};
use crate::domain::number::{NumberStatus, PoolNumber};
use crate::domain::phone::E164;
use crate::store::{Page, PageRequest, StoreError};

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

impl DynamoStore {
    pub(super) async fn put_pool_number(
        &self,
        number: &E164,
        at: DateTime<Utc>,
    ) -> Result<PoolNumber, StoreError> {
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
                _ => StoreError::from(e),
            })?;
        Ok(item.into())
    }

    pub(super) async fn delete_pool_number(&self, number: &E164) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::number_pk(number.as_str()), keys::NUMBER_SK)))
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
                _ => StoreError::from(e),
            })?;
        Ok(())
    }

    pub(super) async fn query_pool(
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
    pub(super) async fn assign_number_tx(
        &self,
        user_id: &str,
        number: &E164,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let take_number = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::number_pk(number.as_str()), keys::NUMBER_SK)))
            .update_expression("SET ownerId = :uid, assignedAt = :at, GSI1SK = :sk")
            .condition_expression(format!(
                "attribute_exists(PK) AND attribute_not_exists(ownerId) AND {NO_ROUTES}"
            ))
            .expression_attribute_values(":uid", s(user_id))
            .expression_attribute_values(":at", s(at.to_rfc3339()))
            .expression_attribute_values(":sk", s(keys::pool_sk(keys::ASSIGNED_PREFIX, number.as_str())))
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
            .expression_attribute_values(":at", s(at.to_rfc3339()))
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

    pub(super) async fn mark_releasing(&self, user_id: &str, number: &E164) -> Result<(), StoreError> {
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
                _ => StoreError::from(e),
            })?;
        Ok(())
    }

    pub(super) async fn release_number_tx(&self, user_id: &str, number: &E164) -> Result<(), StoreError> {
        let user_update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::user_pk(user_id), keys::USER_SK)))
            .update_expression("SET updatedAt = :at REMOVE virtualNumber, numberReleasing")
            .condition_expression("virtualNumber = :n")
            .expression_attribute_values(":n", s(number.as_str()))
            .expression_attribute_values(":at", s(Utc::now().to_rfc3339()))
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

    /// The transaction item that returns `number` from `user_id` to the free pool.
    pub(super) fn free_number_update(
        &self,
        user_id: &str,
        number: &E164,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::number_pk(number.as_str()), keys::NUMBER_SK)))
            .update_expression("SET GSI1SK = :sk REMOVE ownerId, assignedAt")
            .condition_expression("ownerId = :uid")
            .expression_attribute_values(":uid", s(user_id))
            .expression_attribute_values(":sk", s(keys::pool_sk(keys::FREE_PREFIX, number.as_str())))
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}
