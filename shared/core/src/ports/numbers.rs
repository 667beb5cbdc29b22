//! The pool of Twilio numbers, and giving a user one of them.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Page, PageRequest, StoreError};
use crate::domain::ids::UserId;
use crate::domain::number::{NumberStatus, PoolNumber};
use crate::domain::phone::E164;

#[async_trait]
pub trait NumberPool: Send + Sync + 'static {
    /// `NumberInPool` when it is there already.
    async fn add_number(&self, number: &E164, at: DateTime<Utc>) -> Result<PoolNumber, StoreError>;
    /// Removes a free number: `NumberAssigned` while a user holds it, `NumberInUse` while it
    /// carries group routes, `NumberNotInPool` when unknown.
    async fn remove_number(&self, number: &E164) -> Result<(), StoreError>;
    async fn list_numbers(
        &self,
        status: Option<NumberStatus>,
        page: &PageRequest,
    ) -> Result<Page<PoolNumber>, StoreError>;
    /// One transaction: the number gets its owner, the user gets the number; both conditional
    /// (the number free and carrying no route, the user active and without a number).
    async fn assign_number(
        &self,
        user_id: UserId,
        number: &E164,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// One transaction: the reverse of [`NumberPool::assign_number`].
    async fn release_number(&self, user_id: UserId, number: &E164) -> Result<(), StoreError>;
    /// Marks the user's number as being released: from then on no SMS conversation can start on
    /// it. Cleared by [`NumberPool::release_number`] and by deactivation.
    async fn mark_number_releasing(&self, user_id: UserId, number: &E164) -> Result<(), StoreError>;
    /// Which of `numbers` are in the pool (batched reads).
    async fn numbers_in_pool(&self, numbers: &[E164]) -> Result<HashSet<E164>, StoreError>;
}
