//! The DynamoDB adapter of every storage port: one table, keys in [`keys`], items in [`items`].
//! Each port is implemented directly in its own file: [`UserStore`](switchboard_core::ports::UserStore)
//! in `users.rs`, [`NumberPool`](switchboard_core::ports::NumberPool) in `numbers.rs`, and so on
//! for conversations, messages, connections and webhooks.
//!
//! Rules this adapter keeps, because the local server does not enforce them:
//! at most 25 items per BatchWriteItem, 100 keys per BatchGetItem and 100 items per
//! transaction; every listing is a paginated Query (never a Scan).

mod connections;
mod contacts;
mod conversations;
pub mod cursor;
mod inbox;
pub mod items;
pub mod keys;
mod media_copies;
mod messages;
mod numbers;
mod outbox;
pub mod round_trips;
mod users;
mod webhooks;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use chrono::Utc;
use switchboard_core::domain::ids::DeliveryId;
use switchboard_core::ports::{Page, PageRequest, StoreError, MAX_PAGE_SIZE};

pub use round_trips::RoundTrips;

/// DynamoDB's limit on keys per BatchGetItem.
pub const BATCH_GET_LIMIT: usize = 100;
/// DynamoDB's limit on items per TransactWriteItems.
pub const TRANSACTION_LIMIT: usize = 100;
/// Attempts for a transaction that lost a race (`TransactionConflict`) before giving up.
const TRANSACTION_ATTEMPTS: u32 = 4;

pub type Item = HashMap<String, AttributeValue>;

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    /// A client from the standard AWS configuration (AWS_REGION, AWS_ENDPOINT_URL_DYNAMODB,
    /// credentials chain), with a round-trip counter attached.
    pub fn client_from_config(sdk_config: &aws_config::SdkConfig) -> (Client, RoundTrips) {
        let round_trips = RoundTrips::default();
        let config =
            aws_sdk_dynamodb::config::Builder::from(sdk_config).interceptor(round_trips.clone()).build();
        (Client::from_conf(config), round_trips)
    }

    /// Runs a transaction, retrying only when it lost a race with another transaction
    /// (DynamoDB's `TransactionConflict`), which says nothing about the conditions.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), TxError> {
        debug_assert!(items.len() <= TRANSACTION_LIMIT);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result =
                self.client.transact_write_items().set_transact_items(Some(items.clone())).send().await;
            let err = match result {
                Ok(_) => return Ok(()),
                Err(err) => err,
            };
            let reasons = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled
                    .cancellation_reasons()
                    .iter()
                    .map(|r| CancelReason {
                        code: r.code().unwrap_or("None").to_string(),
                        item: r.item().cloned(),
                    })
                    .collect::<Vec<_>>(),
                _ => return Err(TxError::Store(sdk_error(err))),
            };
            // Throttling, validation (an item over 400 KB) and the like are faults, not outcomes.
            if let Some(other) = reasons.iter().find(|r| {
                !matches!(r.code.as_str(), "None" | "ConditionalCheckFailed" | "TransactionConflict")
            }) {
                return Err(TxError::Store(
                    if other.code.contains("Throttl") || other.code.contains("ThroughputExceeded") {
                        StoreError::Throttled
                    } else {
                        StoreError::Backend(format!("transaction cancelled: {}", other.code))
                    },
                ));
            }
            let lost_race = reasons.iter().any(|r| r.code == "TransactionConflict");
            let condition_failed = reasons.iter().any(|r| r.code == "ConditionalCheckFailed");
            if lost_race && !condition_failed {
                if attempt < TRANSACTION_ATTEMPTS {
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                return Err(TxError::Store(StoreError::Contention));
            }
            return Err(TxError::Cancelled(reasons));
        }
    }
}

fn backoff(attempt: u32) -> Duration {
    // 20, 40, 80 ms plus up to 20 ms of jitter taken from the clock.
    let jitter = u64::from(Utc::now().timestamp_subsec_micros() % 20_000) / 1000;
    Duration::from_millis(10 * 2u64.pow(attempt) + jitter)
}

/// Why a transaction was cancelled, item by item (same order as the request).
#[derive(Debug)]
struct CancelReason {
    code: String,
    /// The item as it was, when the request asked for ALL_OLD on condition failure.
    item: Option<Item>,
}

impl CancelReason {
    fn failed(&self) -> bool {
        self.code == "ConditionalCheckFailed"
    }
}

#[derive(Debug)]
enum TxError {
    Cancelled(Vec<CancelReason>),
    Store(StoreError),
}

/// A failed SDK call as a store error: throttling is `Throttled` (a 429 for the caller); anything
/// else is a fault of ours (`Backend`, a 500 whose details stay in the logs).
fn sdk_error<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match err.code() {
        Some("ProvisionedThroughputExceededException" | "ThrottlingException" | "RequestLimitExceeded") => {
            StoreError::Throttled
        }
        _ => StoreError::Backend(DisplayErrorContext(&err).to_string()),
    }
}

impl DynamoStore {
    /// BatchGetItem of `keys` (any number: 100 per call), consistent, re-requesting unprocessed
    /// keys with backoff. Returns the items found, in no particular order.
    async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        for chunk in keys.chunks(BATCH_GET_LIMIT) {
            let mut pending: Vec<Item> = chunk.to_vec();
            let mut attempt = 0;
            while !pending.is_empty() {
                attempt += 1;
                if attempt > BATCH_ATTEMPTS {
                    return Err(StoreError::Throttled);
                }
                if attempt > 1 {
                    tokio::time::sleep(backoff(attempt - 1)).await;
                }
                let request = aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::Backend(e.to_string()))?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(sdk_error)?;
                found.extend(out.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default());
                if let Some(rest) = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)) {
                    pending = rest.keys;
                }
            }
        }
        Ok(found)
    }
}

impl DynamoStore {
    /// Every item of partition `pk` (optionally with SK in [from, to]), following pages: for reads
    /// that must see the whole set (a conversation's participants, a page's deliveries).
    async fn query_all(&self, pk: &str, sk_between: Option<(&str, &str)>) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .expression_attribute_values(":pk", s(pk))
                .consistent_read(true)
                .set_exclusive_start_key(start.take());
            query = match sk_between {
                Some((from, to)) => query
                    .key_condition_expression("PK = :pk AND SK BETWEEN :from AND :to")
                    .expression_attribute_values(":from", s(from))
                    .expression_attribute_values(":to", s(to)),
                None => query.key_condition_expression("PK = :pk"),
            };
            let out = query.send().await.map_err(sdk_error)?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return Ok(items),
            }
        }
    }
}

impl DynamoStore {
    /// The GSI1 sort keys below `cutoff` in each partition of `partitions` (the outbox's and the
    /// idle index's shards), in order, pages of 100, at most `limit`: what a sweep finds due.
    /// Only the sort key is read: it names the work.
    async fn gsi1_due(
        &self,
        partitions: impl IntoIterator<Item = String>,
        cutoff: &str,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let mut due = Vec::new();
        for pk in partitions {
            let mut start: Option<Item> = None;
            loop {
                let out = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(keys::GSI1)
                    .key_condition_expression("GSI1PK = :pk AND GSI1SK < :cutoff")
                    .expression_attribute_values(":pk", s(pk.clone()))
                    .expression_attribute_values(":cutoff", s(cutoff))
                    .projection_expression("GSI1SK")
                    .limit(100)
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(sdk_error)?;
                due.extend(
                    out.items()
                        .iter()
                        .filter_map(|item| item.get(keys::GSI1SK).and_then(|v| v.as_s().ok()).cloned()),
                );
                if due.len() >= limit {
                    due.truncate(limit);
                    return Ok(due);
                }
                match out.last_evaluated_key {
                    Some(key) => start = Some(key),
                    None => break,
                }
            }
        }
        Ok(due)
    }

    /// One page of the GSI1 partition `pk` (only sort keys starting with `prefix`, if given):
    /// every listing (directory, pool, inbox) is one of these. The cursor must come from the same
    /// listing (partition and prefix), or it is a 400.
    async fn gsi1_page<T: serde::de::DeserializeOwned>(
        &self,
        pk: &str,
        prefix: Option<&str>,
        newest_first: bool,
        page: &PageRequest,
    ) -> Result<Page<T>, StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI1)
            .expression_attribute_names("#pk", keys::GSI1PK)
            .expression_attribute_values(":pk", s(pk))
            .scan_index_forward(!newest_first)
            .limit(page_limit(page));
        query = match prefix {
            Some(prefix) => query
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#sk", keys::GSI1SK)
                .expression_attribute_values(":prefix", s(prefix)),
            None => query.key_condition_expression("#pk = :pk"),
        };
        if let Some(c) = &page.cursor {
            let sort = prefix.map(|p| (keys::GSI1SK, p));
            query = query.set_exclusive_start_key(Some(cursor::decode(
                c,
                &GSI1_CURSOR_NAMES,
                keys::GSI1PK,
                pk,
                sort,
            )?));
        }
        let out = query.send().await.map_err(|e| query_error(e, page.cursor.is_some()))?;
        let items =
            out.items.unwrap_or_default().into_iter().map(from_item::<T>).collect::<Result<Vec<_>, _>>()?;
        Ok(Page { items, next_cursor: out.last_evaluated_key.as_ref().and_then(cursor::encode) })
    }
}

/// Attempts to collect a batch's unprocessed keys before reporting throttling.
const BATCH_ATTEMPTS: u32 = 5;

/// A Query that DynamoDB refuses while resuming from a cursor: the cursor was not one this
/// listing produced (a 400, not a 500).
fn query_error<E, R>(err: SdkError<E, R>, with_cursor: bool) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    if with_cursor && err.code() == Some("ValidationException") {
        StoreError::InvalidCursor
    } else {
        sdk_error(err)
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn to_item<T: serde::Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Backend(format!("serialize: {e}")))
}

fn from_item<T: serde::de::DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Backend(format!("deserialize: {e}")))
}

/// The key of a delivery.
fn delivery_key(id: &DeliveryId) -> Item {
    key(keys::messages_pk(id.conversation_id), &keys::delivery_sk(id.message_id, id.participant_id))
}

/// An SDK builder's error (a missing required field) as a store error.
fn built<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::Backend(e.to_string()))
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([(keys::PK.to_string(), s(pk)), (keys::SK.to_string(), s(sk))])
}

fn page_limit(page: &PageRequest) -> i32 {
    page.limit.clamp(1, MAX_PAGE_SIZE) as i32
}

/// Names of the attributes in a GSI1 query's LastEvaluatedKey.
const GSI1_CURSOR_NAMES: [&str; 4] = [keys::PK, keys::SK, keys::GSI1PK, keys::GSI1SK];
