//! JSON logs for CloudWatch, one object per line. Level from `RUST_LOG` (default `info`).

use std::io::{self, Write};

use switchboard_core::observe::sink;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Logs (and the metric documents of `switchboard_core::observe`) go to stdout from now on.
pub fn init() {
    sink::write_to_stdout(true);
    let _ = subscriber().try_init();
}

/// The JSON subscriber, writing through [`Sink`] (tests and benchmarks install it without
/// stdout, to capture or discard what it writes).
pub fn subscriber() -> impl tracing::Subscriber + Send + Sync + 'static {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // CloudWatch stamps each line itself; the Lambda runtime adds the request id.
    tracing_subscriber::fmt()
        .json()
        .with_writer(Sink)
        .with_env_filter(filter)
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .finish()
}

/// The tracing writer: buffers one formatted event and hands it whole to [`sink::emit`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Sink;

pub struct LineWriter(Vec<u8>);

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        sink::emit(&self.0);
    }
}

impl<'a> MakeWriter<'a> for Sink {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter(Vec::with_capacity(512))
    }
}
