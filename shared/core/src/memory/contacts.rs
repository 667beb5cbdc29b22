//! [`ContactStore`]: contacts and the claim of each owner's phones.

use std::collections::HashMap;

use async_trait::async_trait;

use super::cursor::{Listing, Row};
use super::MemoryStore;
use crate::domain::contact::{normalize_contact_name, Contact};
use crate::domain::ids::{ContactId, UserId};
use crate::domain::phone::E164;
use crate::ports::contacts::NamedPhone;
use crate::ports::{ContactStore, Page, PageRequest, StoreError};

#[async_trait]
impl ContactStore for MemoryStore {
    async fn create_contact(&self, contact: &Contact) -> Result<(), StoreError> {
        let mut state = self.call()?;
        let phone_key = (contact.owner, contact.phone.clone());
        if state.contact_phones.contains_key(&phone_key) {
            return Err(StoreError::ContactExists);
        }
        if state.contacts.contains_key(&(contact.owner, contact.id)) {
            return Err(StoreError::Contention);
        }
        state.contact_phones.insert(phone_key, contact.id);
        state.contacts.insert((contact.owner, contact.id), contact.clone());
        Ok(())
    }

    async fn get_contact(&self, owner: UserId, id: ContactId) -> Result<Option<Contact>, StoreError> {
        Ok(self.call()?.contacts.get(&(owner, id)).cloned())
    }

    async fn update_contact(&self, before: &Contact, after: &Contact) -> Result<(), StoreError> {
        let mut state = self.call()?;
        let key = (before.owner, before.id);
        match state.contacts.get(&key) {
            None => return Err(StoreError::ContactNotFound),
            Some(stored) if stored.phone != before.phone => return Err(StoreError::Contention),
            Some(_) => {}
        }
        if after.phone != before.phone {
            if state.contact_phones.contains_key(&(after.owner, after.phone.clone())) {
                return Err(StoreError::ContactExists);
            }
            state.contact_phones.remove(&(before.owner, before.phone.clone()));
            state.contact_phones.insert((after.owner, after.phone.clone()), after.id);
        }
        state.contacts.insert(key, after.clone());
        Ok(())
    }

    async fn delete_contact(&self, contact: &Contact) -> Result<(), StoreError> {
        let mut state = self.call()?;
        let key = (contact.owner, contact.id);
        match state.contacts.get(&key) {
            None => return Err(StoreError::ContactNotFound),
            Some(stored) if stored.phone != contact.phone => return Err(StoreError::Contention),
            Some(_) => {}
        }
        state.contacts.remove(&key);
        state.contact_phones.remove(&(contact.owner, contact.phone.clone()));
        Ok(())
    }

    /// By normalised name, then id, as the adapter's GSI1 sort key orders them.
    async fn list_contacts(
        &self,
        owner: UserId,
        prefix: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Contact>, StoreError> {
        let state = self.call()?;
        let partition = format!("CONTACTS#{owner}");
        let rows = state
            .contacts
            .range((owner, ContactId::from(ulid::Ulid::nil()))..)
            .take_while(|((o, _), _)| *o == owner)
            .map(|(_, c)| {
                let (pk, sk) = (partition.clone(), format!("CONTACT#{}", c.id));
                let sort = format!("{}#{}", normalize_contact_name(&c.name), c.id);
                Row::gsi1(pk, sk, partition.clone(), sort, c.clone())
            })
            .collect();
        let prefix = prefix.filter(|p| !p.is_empty()).map(str::to_string);
        Listing::gsi1(partition.clone(), prefix, false).page(rows, page)
    }

    async fn contact_names(
        &self,
        owner: UserId,
        phones: &[E164],
    ) -> Result<HashMap<E164, NamedPhone>, StoreError> {
        let state = self.call()?;
        Ok(phones
            .iter()
            .filter_map(|phone| {
                let id = state.contact_phones.get(&(owner, phone.clone()))?;
                let contact = state.contacts.get(&(owner, *id))?;
                Some((phone.clone(), NamedPhone { contact_id: *id, name: contact.name.clone() }))
            })
            .collect())
    }
}
