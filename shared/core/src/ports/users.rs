//! Users, and the uniqueness of their email and username.

use async_trait::async_trait;

use super::{Page, PageRequest, StoreError};
use crate::domain::ids::UserId;
use crate::domain::phone::E164;
use crate::domain::user::User;

/// How a user logs in: by email or by username.
#[derive(Clone, Debug)]
pub enum LoginKey {
    Email(String),
    Username(String),
}

/// Fields a user may change on their profile. `None` leaves a field as it is;
/// `Some(None)` clears it.
#[derive(Clone, Debug, Default)]
pub struct ProfileChanges {
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub phone_number: Option<Option<E164>>,
    /// A new (lower-cased) email; the store moves its uniqueness item in the same transaction.
    pub email: Option<String>,
}

#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Creates the user with its unique email and username, atomically (`Taken` otherwise).
    async fn create_user(&self, user: &User) -> Result<(), StoreError>;
    async fn get_user(&self, id: UserId) -> Result<Option<User>, StoreError>;
    /// Many users by id in batched reads; unknown ids are skipped; order follows `ids`.
    async fn get_users(&self, ids: &[UserId]) -> Result<Vec<User>, StoreError>;
    async fn find_user_id(&self, login: &LoginKey) -> Result<Option<UserId>, StoreError>;
    /// Applies profile changes; returns the user as stored afterwards.
    async fn update_profile(&self, user: &User, changes: &ProfileChanges) -> Result<User, StoreError>;
    /// Deactivating also returns the user's virtual number to the pool, leaves the directory
    /// and invalidates their tokens (one transaction).
    async fn set_active(&self, user: &User, active: bool) -> Result<(), StoreError>;
    /// Active users ordered by username, optionally those whose username starts with `prefix`.
    async fn list_active_users(
        &self,
        prefix: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<User>, StoreError>;
}
