//! Pagination cursors: DynamoDB's LastEvaluatedKey, string attributes only, as base64url JSON.
//! A cursor is checked against the partition it is used with, so a forged one cannot read
//! another partition; a broken one is a 400, never a 500.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use switchboard_core::ports::StoreError;

pub fn encode(key: &HashMap<String, AttributeValue>) -> Option<String> {
    let strings: BTreeMap<&str, &str> = key
        .iter()
        .filter_map(|(name, value)| value.as_s().ok().map(|s| (name.as_str(), s.as_str())))
        .collect();
    let json = serde_json::to_vec(&strings).ok()?;
    Some(URL_SAFE_NO_PAD.encode(json))
}

/// Longest key value a cursor may carry (DynamoDB's sort-key limit).
const MAX_VALUE_BYTES: usize = 1024;

/// Decodes `cursor` and checks it holds exactly `expected_names` (none empty or oversized), that
/// `partition_attr` equals `partition_value`, and, for a query with a `begins_with` condition,
/// that the sort key starts with that prefix: anything else would make DynamoDB reject the query.
pub fn decode(
    cursor: &str,
    expected_names: &[&str],
    partition_attr: &str,
    partition_value: &str,
    sort_prefix: Option<(&str, &str)>,
) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim()).map_err(|_| StoreError::InvalidCursor)?;
    let map: BTreeMap<String, String> =
        serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
    let names_match =
        map.len() == expected_names.len() && expected_names.iter().all(|name| map.contains_key(*name));
    if !names_match || map.get(partition_attr).map(String::as_str) != Some(partition_value) {
        return Err(StoreError::InvalidCursor);
    }
    if map.values().any(|v| v.is_empty() || v.len() > MAX_VALUE_BYTES) {
        return Err(StoreError::InvalidCursor);
    }
    if let Some((attr, prefix)) = sort_prefix {
        if !map.get(attr).is_some_and(|v| v.starts_with(prefix)) {
            return Err(StoreError::InvalidCursor);
        }
    }
    Ok(map.into_iter().map(|(k, v)| (k, AttributeValue::S(v))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_forgeries() {
        let key: HashMap<String, AttributeValue> = [("PK", "USER#1"), ("SK", "A"), ("GSI1PK", "USERS")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), AttributeValue::S(v.to_string())))
            .collect();
        let cursor = encode(&key).unwrap();
        let names = ["PK", "SK", "GSI1PK"];
        assert_eq!(decode(&cursor, &names, "GSI1PK", "USERS", None).unwrap(), key);
        assert!(decode(&cursor, &names, "GSI1PK", "USERS", Some(("SK", "A"))).is_ok());
        assert!(decode(&cursor, &names, "GSI1PK", "USERS", Some(("SK", "B"))).is_err());
        assert!(decode(&cursor, &names, "GSI1PK", "POOL", None).is_err());
        assert!(decode(&cursor, &["PK", "SK"], "PK", "USER#1", None).is_err());
        assert!(decode("!!!", &names, "GSI1PK", "USERS", None).is_err());
        assert!(decode(&URL_SAFE_NO_PAD.encode("[1,2]"), &names, "GSI1PK", "USERS", None).is_err());
        let long = HashMap::from([
            ("PK".to_string(), AttributeValue::S("x".repeat(2000))),
            ("SK".to_string(), AttributeValue::S("A".into())),
            ("GSI1PK".to_string(), AttributeValue::S("USERS".into())),
        ]);
        assert!(decode(&encode(&long).unwrap(), &names, "GSI1PK", "USERS", None).is_err());
    }
}
