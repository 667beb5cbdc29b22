//! JSON logs for CloudWatch, one object per line. Level from `RUST_LOG` (default `info`).

use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::observe::sink;

/// Logs (and the metric documents of [`crate::observe`]) go to stdout from now on.
pub fn init() {
    sink::write_to_stdout(true);
    let _ = subscriber().try_init();
}

/// The JSON subscriber, writing through [`sink::Sink`] (tests and benchmarks install it without
/// stdout, to capture or discard what it writes).
pub fn subscriber() -> impl tracing::Subscriber + Send + Sync + 'static {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // CloudWatch stamps each line itself; the Lambda runtime adds the request id.
    tracing_subscriber::fmt()
        .json()
        .with_writer(sink::Sink)
        .with_env_filter(filter)
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .finish()
}
