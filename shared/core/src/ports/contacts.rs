//! A user's contacts. Each contact is unique per (owner, phone): the store refuses a second one
//! with `ContactExists`, whatever the race.

use std::collections::HashMap;

use async_trait::async_trait;

use super::{Page, PageRequest, StoreError};
use crate::domain::contact::Contact;
use crate::domain::ids::{ContactId, UserId};
use crate::domain::phone::E164;

#[async_trait]
pub trait ContactStore: Send + Sync + 'static {
    /// Creates the contact and claims its phone for its owner, atomically (`ContactExists`
    /// when the owner has a contact with that phone).
    async fn create_contact(&self, contact: &Contact) -> Result<(), StoreError>;
    /// Only the owner's: another user's contact id finds nothing.
    async fn get_contact(&self, owner: UserId, id: ContactId) -> Result<Option<Contact>, StoreError>;
    /// Writes `after` over `before` (as read) atomically with the name the phone is shown by and,
    /// when the phone changed, moves the phone's claim: `ContactNotFound` if it is gone,
    /// `ContactExists` if the new phone is another contact's, `Contention` if its phone changed
    /// meanwhile.
    async fn update_contact(&self, before: &Contact, after: &Contact) -> Result<(), StoreError>;
    /// Deletes the contact and frees its phone (`ContactNotFound` if it is gone).
    async fn delete_contact(&self, contact: &Contact) -> Result<(), StoreError>;
    /// The owner's contacts by name (case-insensitive), only names starting with `prefix` when
    /// given (already normalised).
    async fn list_contacts(
        &self,
        owner: UserId,
        prefix: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Contact>, StoreError>;
    /// The owner's names for these phones (phones without a contact are absent), in one batched
    /// read: what a conversation shows for its phones.
    async fn contact_names(
        &self,
        owner: UserId,
        phones: &[E164],
    ) -> Result<HashMap<E164, NamedPhone>, StoreError>;
}

/// The owner's contact for a phone, as its phone's claim records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedPhone {
    pub contact_id: ContactId,
    pub name: String,
}
