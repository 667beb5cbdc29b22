//! [`ContactStore`]: each contact is two items in its owner's partition, the contact (listed by
//! name in GSI1) and the claim of its phone (unique by its key). Every write changes both in one
//! transaction, so the claim always carries the contact's current name.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use switchboard_core::domain::contact::Contact;
use switchboard_core::domain::ids::{ContactId, UserId};
use switchboard_core::domain::phone::E164;
use switchboard_core::ports::contacts::NamedPhone;
use switchboard_core::ports::{ContactStore, Page, PageRequest, StoreError};

use super::items::{ContactItem, ContactPhoneItem};
use super::{built, from_item, key, keys, s, sdk_error, to_item, CancelReason, DynamoStore, TxError};

impl DynamoStore {
    fn put_contact(
        &self,
        contact: &Contact,
        condition: &str,
        old_phone: Option<&E164>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(&ContactItem::from(contact))?))
            .condition_expression(condition)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(phone) = old_phone {
            put = put.expression_attribute_values(":phone", s(phone.to_string()));
        }
        Ok(TransactWriteItem::builder().put(built(put.build())?).build())
    }

    /// The phone's claim: a new one only if absent, else only while it is this contact's.
    fn put_claim(&self, contact: &Contact, new: bool) -> Result<TransactWriteItem, StoreError> {
        let mut put =
            Put::builder().table_name(&self.table).set_item(Some(to_item(&ContactPhoneItem::from(contact))?));
        put = match new {
            true => put.condition_expression("attribute_not_exists(PK)"),
            false => put
                .condition_expression("contactId = :id")
                .expression_attribute_values(":id", s(contact.id.to_string())),
        };
        Ok(TransactWriteItem::builder().put(built(put.build())?).build())
    }

    fn release_claim(
        &self,
        owner: UserId,
        phone: &E164,
        id: ContactId,
    ) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::contacts_pk(owner), &keys::contact_phone_sk(phone))))
            .condition_expression("contactId = :id")
            .expression_attribute_values(":id", s(id.to_string()));
        Ok(TransactWriteItem::builder().delete(built(delete.build())?).build())
    }
}

/// The contact's own item failed its condition: gone, or its phone changed meanwhile.
fn contact_failed(reason: &CancelReason) -> StoreError {
    match reason.item {
        None => StoreError::ContactNotFound,
        Some(_) => StoreError::Contention,
    }
}

#[async_trait]
impl ContactStore for DynamoStore {
    /// One transaction: the contact and its phone's claim, each only if absent.
    async fn create_contact(&self, contact: &Contact) -> Result<(), StoreError> {
        let items = vec![
            self.put_contact(contact, "attribute_not_exists(PK)", None)?,
            self.put_claim(contact, true)?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TxError::Cancelled(reasons)) if reasons.get(1).is_some_and(|r| r.failed()) => {
                Err(StoreError::ContactExists)
            }
            Err(TxError::Cancelled(_)) => Err(StoreError::Contention),
            Err(TxError::Store(e)) => Err(e),
        }
    }

    async fn get_contact(&self, owner: UserId, id: ContactId) -> Result<Option<Contact>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::contacts_pk(owner), &keys::contact_sk(id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        out.item.map(|item| from_item::<ContactItem>(item).map(Contact::from)).transpose()
    }

    /// One transaction: the contact (its name index with it) while its phone is still the one
    /// read, and the phone's claim renamed, or moved to the new phone.
    async fn update_contact(&self, before: &Contact, after: &Contact) -> Result<(), StoreError> {
        let condition = "attribute_exists(PK) AND phone = :phone";
        let mut items = vec![self.put_contact(after, condition, Some(&before.phone))?];
        let moved = after.phone != before.phone;
        if moved {
            items.push(self.release_claim(before.owner, &before.phone, before.id)?);
        }
        items.push(self.put_claim(after, moved)?);
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TxError::Cancelled(reasons)) => Err(match reasons.as_slice() {
                [contact, ..] if contact.failed() => contact_failed(contact),
                [_, _, claim] if claim.failed() => StoreError::ContactExists,
                _ => StoreError::Contention,
            }),
            Err(TxError::Store(e)) => Err(e),
        }
    }

    /// One transaction: the contact (while its phone is the one read) and its phone's claim.
    async fn delete_contact(&self, contact: &Contact) -> Result<(), StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::contacts_pk(contact.owner), &keys::contact_sk(contact.id))))
            .condition_expression("attribute_exists(PK) AND phone = :phone")
            .expression_attribute_values(":phone", s(contact.phone.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let items = vec![
            TransactWriteItem::builder().delete(built(delete.build())?).build(),
            self.release_claim(contact.owner, &contact.phone, contact.id)?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TxError::Cancelled(reasons)) => Err(match reasons.first() {
                Some(first) if first.failed() => contact_failed(first),
                _ => StoreError::Contention,
            }),
            Err(TxError::Store(e)) => Err(e),
        }
    }

    /// One Query of the owner's GSI1 partition per page, `begins_with` the normalised prefix.
    async fn list_contacts(
        &self,
        owner: UserId,
        prefix: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Contact>, StoreError> {
        let prefix = prefix.filter(|p| !p.is_empty());
        let contacts = self.gsi1_page::<ContactItem>(&keys::contacts_pk(owner), prefix, false, page).await?;
        Ok(contacts.map(Contact::from))
    }

    /// One BatchGetItem of the phones' claims (per 100 phones).
    async fn contact_names(
        &self,
        owner: UserId,
        phones: &[E164],
    ) -> Result<HashMap<E164, NamedPhone>, StoreError> {
        let mut unique: Vec<&E164> = phones.iter().collect();
        unique.sort();
        unique.dedup();
        let keys = unique.iter().map(|p| key(keys::contacts_pk(owner), &keys::contact_phone_sk(p))).collect();
        let mut names = HashMap::new();
        for item in self.batch_get(keys).await? {
            let claim = from_item::<ContactPhoneItem>(item)?;
            names.insert(
                E164::from_stored(claim.phone),
                NamedPhone { contact_id: claim.contact_id, name: claim.name },
            );
        }
        Ok(names)
    }
}
