//! What one request did, for operators: counters, Twilio calls and the ids it touched, gathered
//! by one-liners in the service code (`observe::count(Metric::InboundRouted)`) into a context
//! that the HTTP edge (`switchboard::api::observed`) opens per request in a `tokio::task_local!`.
//! At the end it writes one JSON log line and one CloudWatch Embedded Metric Format document
//! ([`emf`]) through [`sink`]. Outside a request (xtask, unit tests) the one-liners do nothing.
//!
//! Log field names are camelCase everywhere (`conversationId`, `deliveryId`), like the API's
//! JSON; tests/tests/observability.rs holds every line to that.
//!
//! Futures polled inside the request's task (`buffer_unordered`, `join!`) see the context;
//! `tokio::spawn`ed tasks would not (the handlers spawn none).

pub mod emf;
pub mod sink;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::domain::phone::E164;

/// The counters of docs/operations.md (the template's alarms and dashboard use these names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    InboundReceived,
    InboundRouted,
    InboundNewConversation,
    InboundUnroutable,
    InboundDuplicate,
    SignatureRejected,
    RelaysSent,
    StatusCallbacks,
    StatusQueued,
    StatusSent,
    StatusDelivered,
    StatusUndelivered,
    StatusFailed,
    StatusOther,
    StatusUnknownDelivery,
    SmsQueued,
    SmsFailed,
    SmsOptedOut,
    TwilioApiError,
    /// Delivery attempts that failed and were scheduled again.
    DeliveryRetries,
    /// Deliveries given up after their last attempt (dead-lettered).
    DeliveriesDead,
    /// Unanswered attempts found sent at Twilio (their SID adopted, not sent twice).
    DeliveriesReconciled,
    /// Outbox entries the sweeper queued again (their own job was lost).
    DeliveriesSwept,
    /// Conversations the sweeper closed because they were idle past their timer.
    ConversationsIdleClosed,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Self::InboundReceived => "InboundReceived",
            Self::InboundRouted => "InboundRouted",
            Self::InboundNewConversation => "InboundNewConversation",
            Self::InboundUnroutable => "InboundUnroutable",
            Self::InboundDuplicate => "InboundDuplicate",
            Self::SignatureRejected => "SignatureRejected",
            Self::RelaysSent => "RelaysSent",
            Self::StatusCallbacks => "StatusCallbacks",
            Self::StatusQueued => "StatusQueued",
            Self::StatusSent => "StatusSent",
            Self::StatusDelivered => "StatusDelivered",
            Self::StatusUndelivered => "StatusUndelivered",
            Self::StatusFailed => "StatusFailed",
            Self::StatusOther => "StatusOther",
            Self::StatusUnknownDelivery => "StatusUnknownDelivery",
            Self::SmsQueued => "SmsQueued",
            Self::SmsFailed => "SmsFailed",
            Self::SmsOptedOut => "SmsOptedOut",
            Self::TwilioApiError => "TwilioApiError",
            Self::DeliveryRetries => "DeliveryRetries",
            Self::DeliveriesDead => "DeliveriesDead",
            Self::DeliveriesReconciled => "DeliveriesReconciled",
            Self::DeliveriesSwept => "DeliveriesSwept",
            Self::ConversationsIdleClosed => "ConversationsIdleClosed",
        }
    }

    /// The counter of a status callback's `MessageStatus`; every other status is `StatusOther`.
    pub fn for_status(twilio_status: &str) -> Self {
        match twilio_status {
            "queued" => Self::StatusQueued,
            "sent" => Self::StatusSent,
            "delivered" => Self::StatusDelivered,
            "undelivered" => Self::StatusUndelivered,
            "failed" => Self::StatusFailed,
            _ => Self::StatusOther,
        }
    }
}

/// A function's own flow: published (as 0 when nothing happened) on every request of that
/// function, so sums and rates cover every request. Other functions' counters are left out.
fn flow(function: &str) -> &'static [Metric] {
    use Metric::*;
    match function {
        "twilio-inbound" => &[
            InboundReceived,
            InboundRouted,
            InboundNewConversation,
            InboundUnroutable,
            InboundDuplicate,
            SignatureRejected,
        ],
        // The delivery pipeline's worker: one job per invocation record.
        "delivery" => &[
            SmsQueued,
            SmsFailed,
            SmsOptedOut,
            TwilioApiError,
            DeliveryRetries,
            DeliveriesDead,
            DeliveriesReconciled,
            RelaysSent,
        ],
        "sweeper" => &[DeliveriesSwept, ConversationsIdleClosed],
        "twilio-status" => &[
            StatusCallbacks,
            StatusQueued,
            StatusSent,
            StatusDelivered,
            StatusUndelivered,
            StatusFailed,
            StatusOther,
            StatusUnknownDelivery,
            SignatureRejected,
        ],
        _ => &[],
    }
}

/// Published together once a request attempted a send (messages, group relays).
const SENDING: [Metric; 4] =
    [Metric::SmsQueued, Metric::SmsFailed, Metric::SmsOptedOut, Metric::TwilioApiError];

/// What one request did, as the one-liners recorded it.
#[derive(Debug, Default)]
pub struct RequestContext {
    counts: BTreeMap<Metric, u64>,
    twilio_latencies_ms: Vec<f64>,
    /// Failed Twilio calls by Twilio's error code (or the failure's kind when Twilio gave none).
    twilio_errors: BTreeMap<String, u64>,
    pub conversation_id: Option<String>,
    pub message_sid: Option<String>,
    pub delivery_id: Option<String>,
    /// Masked (`***0177`).
    pub from: Option<String>,
    pub to: Option<String>,
    outcome: Option<&'static str>,
    db_round_trips: u64,
}

tokio::task_local! {
    static REQUEST: RefCell<RequestContext>;
}

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns request lines and metrics off (benchmarks compare with and without them).
pub fn set_enabled(enabled: bool) {
    ENABLED.store(enabled, Ordering::Relaxed);
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Runs `request` with a fresh context and returns what it recorded.
pub async fn scope<F: Future>(request: F) -> (F::Output, RequestContext) {
    REQUEST
        .scope(RefCell::new(RequestContext::default()), async move {
            let output = request.await;
            (output, REQUEST.with(RefCell::take))
        })
        .await
}

fn record(f: impl FnOnce(&mut RequestContext)) {
    let _ = REQUEST.try_with(|context| {
        if let Ok(mut context) = context.try_borrow_mut() {
            f(&mut context);
        }
    });
}

pub fn count(metric: Metric) {
    add(metric, 1);
}

pub fn add(metric: Metric, n: usize) {
    record(|c| *c.counts.entry(metric).or_default() += n as u64);
}

/// The request's outcome on its log line (`routed`, `duplicate`, `signature_rejected`…).
pub fn outcome(outcome: &'static str) {
    record(|c| c.outcome = Some(outcome));
}

/// The conversation the request is about (the first one named).
pub fn conversation(id: &impl std::fmt::Display) {
    record(|c| {
        c.conversation_id.get_or_insert_with(|| id.to_string());
    });
}

pub fn message_sid(sid: &str) {
    record(|c| c.message_sid = Some(sid.to_string()));
}

pub fn delivery(id: &impl std::fmt::Display) {
    record(|c| c.delivery_id = Some(id.to_string()));
}

/// An inbound SMS's numbers, masked to their last four digits.
pub fn phones(from: &E164, to: &E164) {
    record(|c| {
        c.from = Some(from.masked());
        c.to = Some(to.masked());
    });
}

/// One request sent to DynamoDB (the adapter's client counts each, retries included). Counted
/// per request context, so jobs run concurrently in one process each count their own.
pub fn db_round_trip() {
    record(|c| c.db_round_trips += 1);
}

/// One call to Twilio's API, how long it took and, if it failed, Twilio's error code (or the
/// failure's kind when Twilio gave none: `timeout`, `unavailable`).
pub fn twilio_call(elapsed: Duration, failure: Option<String>) {
    record(|c| {
        c.twilio_latencies_ms.push(elapsed.as_secs_f64() * 1000.0);
        if let Some(code) = failure {
            *c.twilio_errors.entry(code).or_default() += 1;
            *c.counts.entry(Metric::TwilioApiError).or_default() += 1;
        }
    });
}

impl RequestContext {
    pub fn count_of(&self, metric: Metric) -> u64 {
        self.counts.get(&metric).copied().unwrap_or(0)
    }

    pub fn twilio_calls(&self) -> usize {
        self.twilio_latencies_ms.len()
    }

    /// DynamoDB requests this request sent ([`db_round_trip`]).
    pub fn db_round_trips(&self) -> u64 {
        self.db_round_trips
    }

    /// The log line's outcome: `error` for any 5xx, else what the service said, else by status.
    pub fn outcome_for(&self, status: u16) -> &'static str {
        match (status, self.outcome) {
            (500.., _) => "error",
            (_, Some(outcome)) => outcome,
            (400..=499, None) => "rejected",
            _ => "ok",
        }
    }

    /// The metric documents of this request: one under [Function], one more per Twilio error code
    /// under [Function, TwilioErrorCode].
    pub fn metric_documents(&self, request: &emf::RequestFigures<'_>) -> Vec<String> {
        use emf::{Datum, Unit};
        let mut data = vec![
            Datum::count("Requests", 1),
            Datum::count("ServerErrors", u64::from(request.status >= 500)),
            Datum::new("HandlerLatency", Unit::Milliseconds, request.latency_ms),
            Datum::count("DynamoDbRoundTrips", request.db_round_trips),
        ];
        let sent =
            !self.twilio_latencies_ms.is_empty() || SENDING.iter().any(|m| self.counts.contains_key(m));
        let mut metrics: Vec<Metric> = flow(request.function).to_vec();
        if sent {
            metrics.extend(SENDING);
        }
        metrics.extend(self.counts.keys().copied());
        metrics.sort();
        metrics.dedup();
        data.extend(metrics.into_iter().map(|m| Datum::count(m.name(), self.count_of(m))));
        // Only with a value: an empty array is no sample (sends that never reached Twilio).
        if !self.twilio_latencies_ms.is_empty() {
            data.push(Datum::values("TwilioApiLatency", Unit::Milliseconds, &self.twilio_latencies_ms));
        }
        let function = [("Function", request.function)];
        let mut documents = vec![emf::document(request.namespace, &function, &data, request.timestamp_ms)];
        for (code, n) in &self.twilio_errors {
            let dimensions = [("Function", request.function), ("TwilioErrorCode", code.as_str())];
            let data = [Datum::count("TwilioApiError", *n)];
            documents.push(emf::document(request.namespace, &dimensions, &data, request.timestamp_ms));
        }
        documents
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_liners_fill_the_scoped_context_and_do_nothing_outside_it() {
        count(Metric::InboundRouted);
        let ((), context) = scope(async {
            count(Metric::InboundRouted);
            conversation(&"first");
            conversation(&"second");
            twilio_call(Duration::from_millis(5), Some("timeout".to_string()));
        })
        .await;
        assert_eq!(context.count_of(Metric::InboundRouted), 1);
        assert_eq!(context.conversation_id.as_deref(), Some("first"));
        assert_eq!(context.twilio_calls(), 1);
        assert_eq!(context.twilio_errors.get("timeout"), Some(&1));
        assert_eq!(context.outcome_for(200), "ok");
        assert_eq!(context.outcome_for(503), "error");
    }
}
