//! A user's contacts: create, read, edit, delete, search by name, import a vCard file, and the
//! names a conversation shows for its phones. Every operation is scoped to the caller: the store
//! keys contacts by their owner, so another user's contact id finds nothing (404).

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use futures::stream::{self, StreamExt};

use super::App;
use crate::domain::contact::{
    normalize_contact_name, parse_vcards, validate_contact_name, validate_notes, Card, CardResult, Contact,
    ContactPatch, ImportOutcome, ImportReport, NewContactRequest, CONTACT_NAME_MAX,
};
use crate::domain::conversation::ConversationDetail;
use crate::domain::ids::{ContactId, UserId};
use crate::domain::phone::E164;
use crate::error::AppError;
use crate::ports::{Page, PageRequest, StoreError};

/// Creations an import has in flight at once: enough to finish 500 cards in about a second,
/// few enough not to be throttled by a table that is not yet scaled for them.
const IMPORT_CONCURRENCY: usize = 8;

/// One transaction: the contact and the claim of its phone.
pub async fn create(app: &App, owner: UserId, request: NewContactRequest) -> Result<Contact, AppError> {
    let now = Utc::now();
    let contact = Contact {
        id: ContactId::new(),
        owner,
        name: validate_contact_name("name", &request.name)?,
        phone: app.parse_phone("phoneNumber", &request.phone_number)?,
        notes: validate_notes(request.notes)?,
        created_at: now,
        updated_at: now,
    };
    app.contacts.create_contact(&contact).await?;
    Ok(contact)
}

/// One read, keyed by the caller: someone else's contact is "not found".
pub async fn get(app: &App, owner: UserId, id: ContactId) -> Result<Contact, AppError> {
    app.contacts.get_contact(owner, id).await?.ok_or_else(|| StoreError::ContactNotFound.into())
}

/// A read, then one transaction (contact, the phone's name, and the phone's claim when it moves).
pub async fn update(
    app: &App,
    owner: UserId,
    id: ContactId,
    patch: ContactPatch,
) -> Result<Contact, AppError> {
    let name = patch.name.as_deref().map(|n| validate_contact_name("name", n)).transpose()?;
    let phone = patch.phone_number.as_deref().map(|p| app.parse_phone("phoneNumber", p)).transpose()?;
    let notes = patch.notes.map(validate_notes).transpose()?;
    let before = get(app, owner, id).await?;
    let after = Contact {
        name: name.unwrap_or_else(|| before.name.clone()),
        phone: phone.unwrap_or_else(|| before.phone.clone()),
        notes: notes.unwrap_or_else(|| before.notes.clone()),
        updated_at: Utc::now(),
        ..before.clone()
    };
    if after.name == before.name && after.phone == before.phone && after.notes == before.notes {
        return Ok(before);
    }
    app.contacts.update_contact(&before, &after).await?;
    Ok(after)
}

/// A read, then one transaction (the contact and its phone's claim).
pub async fn delete(app: &App, owner: UserId, id: ContactId) -> Result<Contact, AppError> {
    let contact = get(app, owner, id).await?;
    app.contacts.delete_contact(&contact).await?;
    Ok(contact)
}

/// The caller's contacts by name, optionally those whose name starts with `prefix`
/// (case-insensitive): one Query per page.
pub async fn list(
    app: &App,
    owner: UserId,
    prefix: Option<&str>,
    page: &PageRequest,
) -> Result<Page<Contact>, AppError> {
    // No name is longer than CONTACT_NAME_MAX; a longer prefix matches nothing.
    let prefix =
        prefix.map(|q| normalize_contact_name(&q.chars().take(CONTACT_NAME_MAX + 1).collect::<String>()));
    Ok(app.contacts.list_contacts(owner, prefix.as_deref().filter(|p| !p.is_empty()), page).await?)
}

/// Imports every card that has a name and a phone: one batched read of the phones already
/// claimed, then one transaction per new contact. A card whose phone is taken (by an existing
/// contact, an earlier card, or a concurrent request) is a duplicate; one without a usable name
/// or phone is invalid. Nothing is refused as a whole but a malformed or oversized file.
pub async fn import(app: &App, owner: UserId, vcard: &str) -> Result<ImportReport, AppError> {
    let cards = parse_vcards(vcard)?;
    let mut results: Vec<CardResult> = Vec::with_capacity(cards.len());
    let mut new: Vec<(usize, Contact)> = Vec::new();
    let mut seen: HashSet<E164> = HashSet::new();
    for (i, card) in cards.iter().enumerate() {
        let mut result = CardResult {
            card: i + 1,
            outcome: ImportOutcome::Invalid,
            name: card.name.clone(),
            phone_number: card.phones.first().cloned(),
            contact_id: None,
            reason: None,
        };
        match contact_of(app, owner, card) {
            Err(reason) => result.reason = Some(reason),
            Ok(contact) => {
                result.phone_number = Some(contact.phone.to_string());
                if seen.insert(contact.phone.clone()) {
                    result.outcome = ImportOutcome::Imported;
                    result.contact_id = Some(contact.id);
                    new.push((i, contact));
                } else {
                    result.outcome = ImportOutcome::Duplicate;
                }
            }
        }
        results.push(result);
    }
    let phones: Vec<E164> = new.iter().map(|(_, c)| c.phone.clone()).collect();
    let existing = app.contacts.contact_names(owner, &phones).await?;
    new.retain(|(i, contact)| match existing.get(&contact.phone) {
        Some(named) => {
            let result = &mut results[*i];
            (result.outcome, result.contact_id) = (ImportOutcome::Duplicate, Some(named.contact_id));
            false
        }
        None => true,
    });
    let created: Vec<(usize, Result<(), StoreError>)> = stream::iter(new)
        .map(|(i, contact)| async move { (i, app.contacts.create_contact(&contact).await) })
        .buffer_unordered(IMPORT_CONCURRENCY)
        .collect()
        .await;
    for (i, outcome) in created {
        match outcome {
            Ok(()) => {}
            Err(StoreError::ContactExists) => {
                (results[i].outcome, results[i].contact_id) = (ImportOutcome::Duplicate, None);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(ImportReport::new(results))
}

/// A card as a contact: its name, and the first of its phones that parses.
fn contact_of(app: &App, owner: UserId, card: &Card) -> Result<Contact, String> {
    let name = card.name.as_deref().ok_or("no name (FN or N)")?;
    let name = validate_contact_name("name", name).map_err(|e| format!("name {e}"))?;
    if card.phones.is_empty() {
        return Err("no phone number (TEL)".into());
    }
    let phone = card
        .phones
        .iter()
        .find_map(|raw| app.parse_phone("phoneNumber", raw).ok())
        .ok_or_else(|| format!("{} is not a phone number", card.phones[0]))?;
    let now = Utc::now();
    Ok(Contact { id: ContactId::new(), owner, name, phone, notes: None, created_at: now, updated_at: now })
}

/// The conversation as `viewer` sees it: each phone they have a contact for shows the contact's
/// name. One batched read, none when the conversation has no phone.
pub async fn named_for(
    app: &App,
    viewer: UserId,
    mut detail: ConversationDetail,
) -> Result<ConversationDetail, AppError> {
    let phones: Vec<E164> = detail.participants.iter().filter_map(|p| p.phone().cloned()).collect();
    if phones.is_empty() {
        return Ok(detail);
    }
    let names: HashMap<E164, String> =
        app.contacts.contact_names(viewer, &phones).await?.into_iter().map(|(p, n)| (p, n.name)).collect();
    detail.named_by(&names);
    Ok(detail)
}
