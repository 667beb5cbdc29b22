//! A user's own address book: names for phones, private to their owner. A contact's name is what
//! its owner sees for that phone in their SMS conversations and groups (see
//! [`super::conversation::ConversationDetail::named_by`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::ids::{ContactId, UserId};
use super::phone::E164;
use crate::error::AppError;

/// Longest contact name, in characters.
pub const CONTACT_NAME_MAX: usize = 100;
/// Longest note, in characters.
pub const NOTES_MAX: usize = 1000;
/// Most cards one import reads (the body is bounded too: 64 KB).
pub const IMPORT_CARDS_MAX: usize = 500;

#[derive(Clone, Debug, PartialEq)]
pub struct Contact {
    pub id: ContactId,
    pub owner: UserId,
    pub name: String,
    pub phone: E164,
    pub notes: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Contact {
    pub fn view(&self) -> ContactView {
        ContactView {
            id: self.id,
            name: self.name.clone(),
            phone_number: self.phone.clone(),
            notes: self.notes.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// A contact as its owner sees it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContactView {
    pub id: ContactId,
    pub name: String,
    pub phone_number: E164,
    pub notes: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The order and search key of a name: trimmed, lower-cased (the prefix search is
/// case-insensitive).
pub fn normalize_contact_name(name: &str) -> String {
    name.trim().to_lowercase()
}

pub fn validate_contact_name(field: &str, raw: &str) -> Result<String, AppError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > CONTACT_NAME_MAX || name.chars().any(char::is_control) {
        return Err(AppError::validation(
            field,
            format!("must be 1 to {CONTACT_NAME_MAX} printable characters"),
        ));
    }
    Ok(name.to_string())
}

/// Blank notes are no notes.
pub fn validate_notes(raw: Option<String>) -> Result<Option<String>, AppError> {
    let Some(notes) = raw.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if notes.chars().count() > NOTES_MAX {
        return Err(AppError::validation("notes", format!("must be at most {NOTES_MAX} characters")));
    }
    Ok(Some(notes))
}

/// `POST /api/contacts`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewContactRequest {
    /// 1 to 100 characters.
    pub name: String,
    /// Any form a person types (`(415) 555-0177`, `+44 20 7946 0958`); stored in E.164.
    pub phone_number: String,
    /// Up to 1,000 characters.
    #[serde(default)]
    pub notes: Option<String>,
}

/// `PATCH /api/contacts/{contactId}`: an absent field stays as it is; `notes: null` or `""`
/// clears the notes.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContactPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub phone_number: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub notes: Option<Option<String>>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// `POST /api/contacts/import`: the text of a `.vcf` file (vCard 2.1, 3.0 or 4.0).
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportRequest {
    /// One or more `BEGIN:VCARD` … `END:VCARD` cards; each gives `FN` (or `N`) and `TEL`.
    pub vcard: String,
}

// --- vCard ---------------------------------------------------------------------------------------

/// What one card of a vCard file says: its formatted name and its phone numbers, as written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Card {
    pub name: Option<String>,
    pub phones: Vec<String>,
}

/// Reads the cards of a vCard file: folded lines joined, property names and parameters
/// case-insensitive, `FN` (else `N` as "Given Family"), every `TEL` (a preferred one first).
/// A file without a single complete card, or with more than [`IMPORT_CARDS_MAX`], is refused.
pub fn parse_vcards(text: &str) -> Result<Vec<Card>, AppError> {
    let malformed = |message: String| AppError::validation("vcard", message);
    let mut cards = Vec::new();
    let mut current: Option<(Card, Option<String>, bool)> = None;
    for line in unfold(text) {
        let Some((head, value)) = line.split_once(':') else { continue };
        let mut params = head.split(';');
        let property = params.next().unwrap_or_default();
        // `item1.TEL`: a group prefix names nothing we need.
        let property = property.rsplit('.').next().unwrap_or_default().trim().to_ascii_uppercase();
        let params: Vec<String> = params.map(str::to_ascii_lowercase).collect();
        match (property.as_str(), current.as_mut()) {
            ("BEGIN", _) if value.trim().eq_ignore_ascii_case("vcard") => {
                if current.is_some() {
                    return Err(malformed(format!("card {} has no END:VCARD", cards.len() + 1)));
                }
                current = Some((Card::default(), None, false));
            }
            ("END", Some(_)) if value.trim().eq_ignore_ascii_case("vcard") => {
                let (mut card, structured, _) = current.take().expect("matched Some");
                if card.name.is_none() {
                    card.name = structured;
                }
                cards.push(card);
                if cards.len() > IMPORT_CARDS_MAX {
                    return Err(malformed(format!("at most {IMPORT_CARDS_MAX} cards per import")));
                }
            }
            ("FN", Some((card, _, _))) => card.name = Some(unescape(value)).filter(|n| !n.trim().is_empty()),
            ("N", Some((_, structured, _))) => *structured = structured_name(value),
            ("TEL", Some((card, _, has_preferred))) => {
                let phone = value.trim().trim_start_matches("tel:").to_string();
                let preferred = params.iter().any(|p| p.contains("pref"));
                if preferred && !*has_preferred {
                    card.phones.insert(0, phone);
                    *has_preferred = true;
                } else {
                    card.phones.push(phone);
                }
            }
            _ => {}
        }
    }
    if current.is_some() {
        return Err(malformed(format!("card {} has no END:VCARD", cards.len() + 1)));
    }
    if cards.is_empty() {
        return Err(malformed("no vCard found (BEGIN:VCARD … END:VCARD)".into()));
    }
    Ok(cards)
}

/// RFC 6350 §3.2: a line starting with a space or a tab continues the previous one.
fn unfold(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for raw in text.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        match (raw.strip_prefix([' ', '\t']), lines.last_mut()) {
            (Some(rest), Some(last)) => last.push_str(rest),
            _ => lines.push(raw.to_string()),
        }
    }
    lines
}

fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.trim().chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n' | 'N') => out.push(' '),
                Some(other) => out.push(other),
                None => {}
            },
            (c, false) => out.push(c),
        }
    }
    out
}

/// `N:Family;Given;Additional;Prefix;Suffix` as "Given Family".
fn structured_name(value: &str) -> Option<String> {
    let parts: Vec<String> = value.split(';').map(unescape).collect();
    let given = parts.get(1).map(String::as_str).unwrap_or_default();
    let family = parts.first().map(String::as_str).unwrap_or_default();
    let name = format!("{given} {family}").trim().to_string();
    (!name.is_empty()).then_some(name)
}

/// What an import did with one card.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ImportOutcome {
    /// A new contact.
    Imported,
    /// You have a contact with that phone already (or an earlier card of the file named it).
    Duplicate,
    /// No usable name or phone: `reason` says which.
    Invalid,
}

/// One card of an import, in file order (`card` counts from 1).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CardResult {
    pub card: usize,
    pub outcome: ImportOutcome,
    pub name: Option<String>,
    /// In E.164 when it parsed, else as the card wrote it.
    pub phone_number: Option<String>,
    /// The new contact (`imported`) or the one that has the phone (`duplicate`, when known).
    pub contact_id: Option<ContactId>,
    /// Why an `invalid` card was skipped.
    pub reason: Option<String>,
}

/// What an import did: totals, and every card.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportReport {
    pub imported: usize,
    pub duplicates: usize,
    pub invalid: usize,
    pub cards: Vec<CardResult>,
}

impl ImportReport {
    pub fn new(cards: Vec<CardResult>) -> Self {
        let count = |o: ImportOutcome| cards.iter().filter(|c| c.outcome == o).count();
        Self {
            imported: count(ImportOutcome::Imported),
            duplicates: count(ImportOutcome::Duplicate),
            invalid: count(ImportOutcome::Invalid),
            cards,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_are_read_with_folding_groups_parameters_escapes_and_a_preferred_phone() {
        let text =
            "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Grace\\, the\r\n  Admiral\r\nTEL;TYPE=home:+1 415 555 0100\r\n\
                    item1.TEL;TYPE=CELL,PREF:(415) 555-0177\r\nEND:VCARD\r\n\
                    begin:vcard\nN:Lovelace;Ada;;;\ntel;value=uri:tel:+44-20-7946-0958\nend:vcard\n";
        let cards = parse_vcards(text).unwrap();
        assert_eq!(cards[0].name.as_deref(), Some("Grace, the Admiral"));
        assert_eq!(cards[0].phones, ["(415) 555-0177", "+1 415 555 0100"]);
        assert_eq!(
            cards[1],
            Card { name: Some("Ada Lovelace".into()), phones: vec!["+44-20-7946-0958".into()] }
        );
    }

    #[test]
    fn a_file_without_complete_cards_is_refused_naming_the_field() {
        for text in ["", "hello", "BEGIN:VCARD\nFN:Ada\n", "BEGIN:VCARD\nBEGIN:VCARD\nEND:VCARD"] {
            let err = parse_vcards(text).unwrap_err();
            assert_eq!((err.code(), err.field()), ("validation_failed", Some("vcard")), "{text:?}");
        }
        let many = "BEGIN:VCARD\nFN:A\nTEL:+14155550100\nEND:VCARD\n".repeat(IMPORT_CARDS_MAX + 1);
        assert!(parse_vcards(&many).unwrap_err().to_string().contains("at most"));
    }

    #[test]
    fn names_are_searched_trimmed_and_lower_cased() {
        assert_eq!(normalize_contact_name("  Ada LOVELACE "), "ada lovelace");
        assert!(validate_contact_name("name", "  ").is_err());
        assert!(validate_contact_name("name", &"x".repeat(CONTACT_NAME_MAX + 1)).is_err());
        assert_eq!(validate_notes(Some("  ".into())).unwrap(), None);
    }
}
