//! Listings and their cursors. Like the adapter's, a cursor is the key of the last item of a
//! page (the attributes DynamoDB returns as LastEvaluatedKey, JSON, here hex-encoded), and it
//! is checked against the listing it is used with: same attributes, same partition, same
//! `begins_with` prefix. Resuming starts strictly after that key, whether or not its item
//! still exists, as DynamoDB's ExclusiveStartKey does.

use std::collections::BTreeMap;

use crate::ports::{Page, PageRequest, StoreError, MAX_PAGE_SIZE};

pub(super) const PK: &str = "PK";
pub(super) const SK: &str = "SK";
pub(super) const GSI1PK: &str = "GSI1PK";
pub(super) const GSI1SK: &str = "GSI1SK";

/// The attributes of a GSI1 listing's cursor (directory, pool, inbox).
const GSI1_NAMES: [&str; 4] = [PK, SK, GSI1PK, GSI1SK];
/// The attributes of a table Query's cursor (message history).
const TABLE_NAMES: [&str; 2] = [PK, SK];

/// Longest key value a cursor may carry (DynamoDB's sort-key limit).
const MAX_VALUE_BYTES: usize = 1024;

/// One Query: its partition, its optional `begins_with` prefix on the sort key, its direction.
pub(super) struct Listing {
    names: &'static [&'static str],
    partition_attr: &'static str,
    partition: String,
    sort_attr: &'static str,
    prefix: Option<String>,
    newest_first: bool,
}

impl Listing {
    /// A Query of GSI1 partition `partition` (sort key GSI1SK).
    pub(super) fn gsi1(partition: String, prefix: Option<String>, newest_first: bool) -> Self {
        Self {
            names: &GSI1_NAMES,
            partition_attr: GSI1PK,
            partition,
            sort_attr: GSI1SK,
            prefix,
            newest_first,
        }
    }

    /// A Query of table partition `partition` (sort key SK).
    pub(super) fn table(partition: String, prefix: Option<String>, newest_first: bool) -> Self {
        Self { names: &TABLE_NAMES, partition_attr: PK, partition, sort_attr: SK, prefix, newest_first }
    }

    /// One page of `rows` (the partition's items, in any order): those under the prefix, sorted,
    /// after the cursor, at most `limit`; a cursor only when more remain.
    pub(super) fn page<T>(&self, rows: Vec<Row<T>>, page: &PageRequest) -> Result<Page<T>, StoreError> {
        let after = page.cursor.as_deref().map(|c| self.decode(c)).transpose()?;
        let mut rows: Vec<Row<T>> = rows
            .into_iter()
            .filter(|r| self.prefix.as_deref().is_none_or(|p| self.sort_value(&r.key).starts_with(p)))
            .collect();
        rows.sort_by(|a, b| self.position(&a.key).cmp(&self.position(&b.key)));
        if self.newest_first {
            rows.reverse();
        }
        if let Some(after) = &after {
            let start = self.position(after);
            rows.retain(|r| {
                let here = self.position(&r.key);
                if self.newest_first {
                    here < start
                } else {
                    here > start
                }
            });
        }
        let limit = page.limit.clamp(1, MAX_PAGE_SIZE) as usize;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if more { rows.last().map(|r| encode(&r.key)) } else { None };
        Ok(Page { items: rows.into_iter().map(|r| r.item).collect(), next_cursor })
    }

    fn sort_value<'k>(&self, key: &'k Key) -> &'k str {
        key.get(self.sort_attr).map(String::as_str).unwrap_or_default()
    }

    /// Where an item sorts: its sort key, then its table key (what orders equal GSI keys).
    fn position<'k>(&self, key: &'k Key) -> (&'k str, &'k str, &'k str) {
        let get = |name: &str| key.get(name).map(String::as_str).unwrap_or_default();
        (self.sort_value(key), get(PK), get(SK))
    }

    /// The key a cursor names, if it is one this listing could have produced.
    fn decode(&self, cursor: &str) -> Result<Key, StoreError> {
        let bytes = from_hex(cursor.trim()).ok_or(StoreError::InvalidCursor)?;
        let key: Key = serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
        let names_match = key.len() == self.names.len() && self.names.iter().all(|n| key.contains_key(*n));
        if !names_match || key.get(self.partition_attr) != Some(&self.partition) {
            return Err(StoreError::InvalidCursor);
        }
        if key.values().any(|v| v.is_empty() || v.len() > MAX_VALUE_BYTES) {
            return Err(StoreError::InvalidCursor);
        }
        if self.prefix.as_deref().is_some_and(|p| !self.sort_value(&key).starts_with(p)) {
            return Err(StoreError::InvalidCursor);
        }
        Ok(key)
    }
}

/// An item's key attributes, by name.
pub(super) type Key = BTreeMap<String, String>;

/// One item of a listing: its key (what it sorts by and what a cursor after it holds).
pub(super) struct Row<T> {
    pub key: Key,
    pub item: T,
}

impl<T> Row<T> {
    /// An item of a GSI1 listing: its table key and its GSI1 key.
    pub(super) fn gsi1(pk: String, sk: String, gsi1pk: String, gsi1sk: String, item: T) -> Self {
        let key = [(PK, pk), (SK, sk), (GSI1PK, gsi1pk), (GSI1SK, gsi1sk)];
        Self { key: key.into_iter().map(|(k, v)| (k.to_string(), v)).collect(), item }
    }

    /// An item of a table Query.
    pub(super) fn table(pk: String, sk: String, item: T) -> Self {
        Self { key: [(PK.to_string(), pk), (SK.to_string(), sk)].into_iter().collect(), item }
    }
}

fn encode(key: &Key) -> String {
    let json = serde_json::to_vec(key).expect("a map of strings serialises");
    json.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || !text.is_ascii() {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize) -> Vec<Row<usize>> {
        (0..n)
            .map(|i| Row::gsi1(format!("N#{i}"), "N".into(), "POOL".into(), format!("FREE#{i:03}"), i))
            .collect()
    }

    #[test]
    fn pages_resume_after_the_cursor_and_end_without_one() {
        let listing = Listing::gsi1("POOL".into(), None, false);
        let first = listing.page(rows(5), &PageRequest::first(2)).unwrap();
        assert_eq!(first.items, [0, 1]);
        let second =
            listing.page(rows(5), &PageRequest { limit: 2, cursor: first.next_cursor.clone() }).unwrap();
        assert_eq!(second.items, [2, 3]);
        let last = listing.page(rows(5), &PageRequest { limit: 2, cursor: second.next_cursor }).unwrap();
        assert_eq!((last.items, last.next_cursor), (vec![4], None));
        // Exactly full: nothing remains, so no cursor.
        assert_eq!(listing.page(rows(2), &PageRequest::first(2)).unwrap().next_cursor, None);
    }

    #[test]
    fn a_cursor_must_come_from_the_same_partition_and_prefix() {
        let free = Listing::gsi1("POOL".into(), Some("FREE#".into()), false);
        let cursor = free.page(rows(3), &PageRequest::first(1)).unwrap().next_cursor;
        let resume = PageRequest { limit: 1, cursor };
        assert!(Listing::gsi1("POOL".into(), None, false).page(rows(3), &resume).is_ok());
        let proxies = Listing::gsi1("POOL".into(), Some("PROXY#".into()), false);
        assert!(matches!(proxies.page(rows(3), &resume), Err(StoreError::InvalidCursor)));
        let users = Listing::gsi1("USERS".into(), None, false);
        assert!(matches!(users.page(rows(3), &resume), Err(StoreError::InvalidCursor)));
        let history = Listing::table("POOL".into(), None, true);
        assert!(matches!(history.page(rows(3), &resume), Err(StoreError::InvalidCursor)));
        for garbage in ["", "zz", "abc", "7b7d"] {
            let bad = PageRequest { limit: 1, cursor: Some(garbage.into()) };
            assert!(matches!(free.page(rows(3), &bad), Err(StoreError::InvalidCursor)), "{garbage}");
        }
    }
}
