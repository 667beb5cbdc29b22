//! `/api/contacts`: the caller's own address book (served by `users`: docs/decisions.md).

use switchboard::api::bodies::{ContactBody, ContactDeleted, ContactPage, ContactPath, PageParams};
use switchboard::api::{self, Call, Reply};
use switchboard::core::domain::contact::{
    Contact, ContactPatch, ImportReport, ImportRequest, NewContactRequest,
};
use switchboard::core::service::contacts;

fn contact_reply(status: u16, contact: &Contact) -> Reply {
    api::json(status, &ContactBody { contact: contact.view() })
}

/// The caller's contacts by name (case-insensitive), optionally those starting with `q`.
#[utoipa::path(
    get,
    path = "/api/contacts",
    tag = "contacts",
    params(
        ("q" = Option<String>, Query, description = "Only names starting with this (case-insensitive)."),
        PageParams
    ),
    responses((status = 200, description = "One page of the caller's contacts, by name.", body = ContactPage))
)]
pub async fn list_contacts(call: Call) -> Reply {
    let owner = call.caller()?.user.id;
    let page = contacts::list(call.app(), owner, call.query("q").as_deref(), &call.page()?).await?;
    let contacts = page.items.iter().map(Contact::view).collect();
    api::json(200, &ContactPage { contacts, next_cursor: page.next_cursor })
}

/// Adds a contact: a name for a phone, shown in the caller's conversations with it.
#[utoipa::path(
    post,
    path = "/api/contacts",
    tag = "contacts",
    request_body = NewContactRequest,
    responses((status = 201, description = "Created.", body = ContactBody)),
    extensions(("x-errors" = json!(["validation_failed", "contact_exists", "concurrent_update"])))
)]
pub async fn create_contact(call: Call) -> Reply {
    let contact = contacts::create(call.app(), call.caller()?.user.id, call.json()?).await?;
    contact_reply(201, &contact)
}

/// One of the caller's contacts.
#[utoipa::path(
    get,
    path = "/api/contacts/{contactId}",
    tag = "contacts",
    params(ContactPath),
    responses((status = 200, description = "The contact.", body = ContactBody)),
    extensions(("x-errors" = json!(["not_found"])))
)]
pub async fn get_contact(call: Call) -> Reply {
    let contact = contacts::get(call.app(), call.caller()?.user.id, call.id("contactId")?).await?;
    contact_reply(200, &contact)
}

/// Changes a contact's name, phone or notes; an absent field stays as it is.
#[utoipa::path(
    patch,
    path = "/api/contacts/{contactId}",
    tag = "contacts",
    params(ContactPath),
    request_body = ContactPatch,
    responses((status = 200, description = "The contact after the change.", body = ContactBody)),
    extensions(("x-errors" = json!(["validation_failed", "not_found", "contact_exists", "concurrent_update"])))
)]
pub async fn update_contact(call: Call) -> Reply {
    // The body is read before the id: a malformed request is a 400 whatever it names.
    let patch: ContactPatch = call.json()?;
    let contact = contacts::update(call.app(), call.caller()?.user.id, call.id("contactId")?, patch).await?;
    contact_reply(200, &contact)
}

/// Deletes a contact (the phone shows its conversation's own name again).
#[utoipa::path(
    delete,
    path = "/api/contacts/{contactId}",
    tag = "contacts",
    params(ContactPath),
    responses((status = 200, description = "The contact's id.", body = ContactDeleted)),
    extensions(("x-errors" = json!(["not_found", "concurrent_update"])))
)]
pub async fn delete_contact(call: Call) -> Reply {
    let contact = contacts::delete(call.app(), call.caller()?.user.id, call.id("contactId")?).await?;
    api::json(200, &ContactDeleted { deleted: contact.id })
}

/// Imports the cards of a vCard (`.vcf`) file, sent as JSON text: `{"vcard": "BEGIN:VCARD…"}`.
///
/// Each card's `FN` (or `N`) and first `TEL` that is a phone number (a `PREF` one first) make
/// a contact. The answer says per card what happened: `imported`, `duplicate` (the caller
/// already has that phone, or an earlier card had it) or `invalid` (with a reason). At most 500
/// cards and 64 KB; a file with no complete card is a 422.
#[utoipa::path(
    post,
    path = "/api/contacts/import",
    tag = "contacts",
    request_body = ImportRequest,
    responses((status = 200, description = "What each card became.", body = ImportReport)),
    extensions(("x-errors" = json!(["validation_failed"])))
)]
pub async fn import_contacts(call: Call) -> Reply {
    let request: ImportRequest = call.json()?;
    let report = contacts::import(call.app(), call.caller()?.user.id, &request.vcard).await?;
    api::json(200, &report)
}
