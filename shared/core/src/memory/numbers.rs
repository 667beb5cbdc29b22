//! [`NumberPool`]: the pool of numbers, and giving a user one of them.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::cursor::{Listing, Row};
use super::{MemoryStore, NumberRecord, PoolSection};
use crate::domain::ids::UserId;
use crate::domain::number::{NumberStatus, PoolNumber};
use crate::domain::phone::E164;
use crate::ports::{NumberPool, Page, PageRequest, StoreError};

/// The pool's GSI1 partition.
const POOL: &str = "POOL";

/// Why a number is not "in the pool, unowned, carrying no route" (the adapter's
/// `why_unavailable`, from the item's old image).
fn why_unavailable(number: Option<&NumberRecord>) -> StoreError {
    match number {
        None => StoreError::NumberNotInPool,
        Some(n) if n.owner_id.is_some() => StoreError::NumberTaken,
        Some(_) => StoreError::NumberInUse,
    }
}

#[async_trait]
impl NumberPool for MemoryStore {
    async fn add_number(&self, number: &E164, at: DateTime<Utc>) -> Result<PoolNumber, StoreError> {
        let mut state = self.call()?;
        if state.numbers.contains_key(number) {
            return Err(StoreError::NumberInPool);
        }
        let record = NumberRecord {
            number: number.clone(),
            owner_id: None,
            added_at: at,
            assigned_at: None,
            route_count: 0,
            section: PoolSection::Free,
        };
        let added = record.pool_number()?;
        state.numbers.insert(number.clone(), record);
        Ok(added)
    }

    async fn remove_number(&self, number: &E164) -> Result<(), StoreError> {
        let mut state = self.call()?;
        match state.numbers.get(number) {
            Some(n) if n.is_free() => {
                state.numbers.remove(number);
                Ok(())
            }
            other => Err(match why_unavailable(other) {
                StoreError::NumberTaken => StoreError::NumberAssigned,
                error => error,
            }),
        }
    }

    /// By section (FREE#, ASSIGNED#, PROXY#: a former proxy stays listed as a proxy), then by
    /// number; all sections in that order when `status` is `None`.
    async fn list_numbers(
        &self,
        status: Option<NumberStatus>,
        page: &PageRequest,
    ) -> Result<Page<PoolNumber>, StoreError> {
        let state = self.call()?;
        let prefix = status.map(|status| match status {
            NumberStatus::Free => PoolSection::Free,
            NumberStatus::Assigned => PoolSection::Assigned,
            NumberStatus::Proxy => PoolSection::Proxy,
        });
        let rows = state
            .numbers
            .values()
            .map(|n| {
                let (pk, sort) =
                    (format!("NUMBER#{}", n.number), format!("{}{}", n.section.prefix(), n.number));
                Ok(Row::gsi1(pk, "NUMBER".into(), POOL.into(), sort, n.pool_number()?))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Listing::gsi1(POOL.into(), prefix.map(|p| p.prefix().to_string()), false).page(rows, page)
    }

    /// Both conditional: the number in the pool, unowned and carrying no route; the user
    /// existing, active and without a number. The user's failure is named first.
    async fn assign_number(
        &self,
        user_id: UserId,
        number: &E164,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut state = self.call()?;
        let user = state.users.get(&user_id);
        if !user.is_some_and(|u| u.user.active && u.user.virtual_number.is_none()) {
            return Err(match user {
                Some(u) if u.user.virtual_number.is_some() => StoreError::UserHasNumber,
                _ => StoreError::UserNotFound,
            });
        }
        let record = state.numbers.get(number);
        if !record.is_some_and(NumberRecord::is_free) {
            return Err(why_unavailable(record));
        }
        let record = state.numbers.get_mut(number).expect("checked above");
        record.owner_id = Some(user_id);
        record.assigned_at = Some(at);
        record.section = PoolSection::Assigned;
        let user = &mut state.users.get_mut(&user_id).expect("checked above").user;
        user.virtual_number = Some(number.clone());
        user.updated_at = at;
        Ok(())
    }

    /// Both conditional: the user holds the number and the number is owned by the user;
    /// otherwise `UserHasNoNumber`.
    async fn release_number(&self, user_id: UserId, number: &E164) -> Result<(), StoreError> {
        let mut state = self.call()?;
        let holds = state.users.get(&user_id).is_some_and(|u| u.user.virtual_number.as_ref() == Some(number));
        let owned = state.numbers.get(number).is_some_and(|n| n.owner_id == Some(user_id));
        if !holds || !owned {
            return Err(StoreError::UserHasNoNumber);
        }
        let record = state.users.get_mut(&user_id).expect("checked above");
        record.user.virtual_number = None;
        record.user.updated_at = Utc::now();
        record.number_releasing = None;
        state.free_number(number);
        Ok(())
    }

    async fn mark_number_releasing(&self, user_id: UserId, number: &E164) -> Result<(), StoreError> {
        let mut state = self.call()?;
        match state.users.get_mut(&user_id) {
            Some(record) if record.user.virtual_number.as_ref() == Some(number) => {
                record.number_releasing = Some(number.clone());
                Ok(())
            }
            _ => Err(StoreError::UserHasNoNumber),
        }
    }

    async fn numbers_in_pool(&self, numbers: &[E164]) -> Result<HashSet<E164>, StoreError> {
        let state = self.call()?;
        Ok(numbers.iter().filter(|n| state.numbers.contains_key(*n)).cloned().collect())
    }
}
