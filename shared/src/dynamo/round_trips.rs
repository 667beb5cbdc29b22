//! Counts every HTTP request the DynamoDB client sends (retries included), in total and per
//! operation, so tests and benchmarks can state what an operation costs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;

#[derive(Clone, Debug, Default)]
pub struct RoundTrips {
    total: Arc<AtomicU64>,
    by_operation: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl RoundTrips {
    pub fn get(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Requests per operation name (`Query`, `TransactWriteItems`, …) so far.
    pub fn by_operation(&self) -> BTreeMap<String, u64> {
        self.by_operation.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

impl Intercept for RoundTrips {
    fn name(&self) -> &'static str {
        "RoundTrips"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.total.fetch_add(1, Ordering::Relaxed);
        switchboard_core::observe::db_round_trip();
        // DynamoDB's JSON protocol names the operation in X-Amz-Target: "DynamoDB_20120810.Query".
        let operation = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("unknown");
        // Allocates a name only the first time an operation is seen (this runs on every call).
        if let Ok(mut map) = self.by_operation.lock() {
            match map.get_mut(operation) {
                Some(count) => *count += 1,
                None => {
                    map.insert(operation.to_string(), 1);
                }
            }
        }
        Ok(())
    }
}
