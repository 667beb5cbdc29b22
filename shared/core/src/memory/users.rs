//! [`UserStore`]: users and the uniqueness of their email and username.

use async_trait::async_trait;
use chrono::Utc;

use super::cursor::{Listing, Row};
use super::{MemoryStore, UserRecord};
use crate::domain::ids::UserId;
use crate::domain::user::{normalize_username, User};
use crate::ports::users::{LoginKey, ProfileChanges};
use crate::ports::{Page, PageRequest, StoreError, UniqueField, UserStore};

/// The directory's GSI1 partition.
const DIRECTORY: &str = "USERS";

#[async_trait]
impl UserStore for MemoryStore {
    /// The user, its email and its username, each only if absent (one transaction).
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let mut state = self.call()?;
        let username = normalize_username(&user.username);
        let (id_free, email_free, username_free) = (
            !state.users.contains_key(&user.id),
            !state.emails.contains_key(&user.email),
            !state.usernames.contains_key(&username),
        );
        // The adapter names the email first, then the username, then any other failure.
        match (id_free, email_free, username_free) {
            (_, false, _) => return Err(StoreError::Taken(UniqueField::Email)),
            (_, _, false) => return Err(StoreError::Taken(UniqueField::Username)),
            (false, _, _) => return Err(StoreError::Contention),
            _ => {}
        }
        state.emails.insert(user.email.clone(), user.id);
        state.usernames.insert(username, user.id);
        state.users.insert(user.id, UserRecord { user: user.clone(), number_releasing: None });
        Ok(())
    }

    async fn get_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(self.call()?.users.get(&id).map(|r| r.user.clone()))
    }

    /// Unknown ids are skipped; the order (and any repetition) follows `ids`.
    async fn get_users(&self, ids: &[UserId]) -> Result<Vec<User>, StoreError> {
        let state = self.call()?;
        Ok(ids.iter().filter_map(|id| state.users.get(id).map(|r| r.user.clone())).collect())
    }

    async fn find_user_id(&self, login: &LoginKey) -> Result<Option<UserId>, StoreError> {
        let state = self.call()?;
        Ok(match login {
            LoginKey::Email(email) => state.emails.get(&email.to_lowercase()).copied(),
            LoginKey::Username(username) => state.usernames.get(&normalize_username(username)).copied(),
        })
    }

    /// A changed email moves its uniqueness item in the same transaction: the old one must still
    /// be this user's (else `Contention`), the new one free (else `Taken(Email)`).
    async fn update_profile(&self, user: &User, changes: &ProfileChanges) -> Result<User, StoreError> {
        let mut state = self.call()?;
        let new_email = changes.email.as_ref().filter(|e| **e != user.email);
        let exists = state.users.contains_key(&user.id);
        if let Some(new_email) = new_email {
            if state.emails.contains_key(new_email) {
                return Err(StoreError::Taken(UniqueField::Email));
            }
            if !exists || state.emails.get(&user.email) != Some(&user.id) {
                return Err(StoreError::Contention);
            }
            state.emails.remove(&user.email);
            state.emails.insert(new_email.clone(), user.id);
        } else if !exists {
            return Err(StoreError::UserNotFound);
        }
        let stored = &mut state.users.get_mut(&user.id).expect("checked above").user;
        stored.updated_at = Utc::now();
        if let Some(first_name) = &changes.first_name {
            stored.first_name = first_name.clone();
        }
        if let Some(last_name) = &changes.last_name {
            stored.last_name = last_name.clone();
        }
        if let Some(phone) = &changes.phone_number {
            stored.phone_number = phone.clone();
        }
        if let Some(email) = new_email {
            stored.email = email.clone();
        }
        Ok(stored.clone())
    }

    /// Deactivating also bumps the token version, leaves the directory, forgets a release in
    /// progress and returns the number the caller saw to the pool, in one transaction: the
    /// stored number must still be that one and still be owned by the user (else `Contention`).
    /// Reactivating only needs the user to exist.
    async fn set_active(&self, user: &User, active: bool) -> Result<(), StoreError> {
        let mut state = self.call()?;
        let Some(stored) = state.users.get(&user.id) else {
            return Err(StoreError::Contention);
        };
        if active {
            state.users.get_mut(&user.id).expect("read above").user.active = true;
            return Ok(());
        }
        let number_unchanged = stored.user.virtual_number == user.virtual_number;
        let number_owned = match &user.virtual_number {
            Some(number) => state.numbers.get(number).is_some_and(|n| n.owner_id == Some(user.id)),
            None => true,
        };
        if !number_unchanged || !number_owned {
            return Err(StoreError::Contention);
        }
        let record = state.users.get_mut(&user.id).expect("read above");
        record.user.active = false;
        record.user.token_version += 1;
        record.user.virtual_number = None;
        record.number_releasing = None;
        if let Some(number) = &user.virtual_number {
            state.free_number(number);
        }
        Ok(())
    }

    /// Active users by normalized username (ascending), under `prefix` if given.
    async fn list_active_users(
        &self,
        prefix: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<User>, StoreError> {
        let state = self.call()?;
        let prefix = prefix.map(normalize_username).filter(|p| !p.is_empty());
        let rows = state
            .users
            .values()
            .filter(|r| r.user.active)
            .map(|r| {
                let user = &r.user;
                let (pk, sk) = (format!("USER#{}", user.id), "PROFILE".to_string());
                Row::gsi1(pk, sk, DIRECTORY.into(), normalize_username(&user.username), user.clone())
            })
            .collect();
        Listing::gsi1(DIRECTORY.into(), prefix, false).page(rows, page)
    }
}
