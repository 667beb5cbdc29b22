//! The one place log lines and metric documents are written: stdout once
//! [`crate::telemetry::init`] ran (Lambda sends stdout to CloudWatch Logs), nowhere before that
//! (tests and benchmarks that did not ask for output), or, inside [`capture`], a buffer of the
//! current task, so a test sees exactly the lines its request wrote even with tests running in
//! parallel.

use std::cell::RefCell;
use std::future::Future;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use tracing_subscriber::fmt::MakeWriter;

static STDOUT: AtomicBool = AtomicBool::new(false);

tokio::task_local! {
    static CAPTURED: RefCell<Vec<String>>;
}

/// From now on, write to stdout (outside [`capture`]).
pub fn write_to_stdout(on: bool) {
    STDOUT.store(on, Ordering::Relaxed);
}

/// Runs `future` and returns every line it wrote, instead of writing them.
pub async fn capture<F: Future>(future: F) -> (F::Output, Vec<String>) {
    CAPTURED
        .scope(RefCell::new(Vec::new()), async move {
            let output = future.await;
            (output, CAPTURED.with(RefCell::take))
        })
        .await
}

/// Writes one line (without its newline).
pub fn write_line(line: &str) {
    emit(line.as_bytes());
}

fn emit(text: &[u8]) {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    if text.is_empty() {
        return;
    }
    let captured = CAPTURED.try_with(|lines| {
        let text = String::from_utf8_lossy(text);
        lines.borrow_mut().extend(text.lines().map(str::to_string));
    });
    if captured.is_err() && STDOUT.load(Ordering::Relaxed) {
        // One write per line under the lock: concurrent lines never interleave.
        let mut out = io::stdout().lock();
        let _ = out.write_all(text).and_then(|()| out.write_all(b"\n"));
    }
}

/// The tracing writer: buffers one formatted event and emits it whole when dropped.
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
        emit(&self.0);
    }
}

impl<'a> MakeWriter<'a> for Sink {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter(Vec::with_capacity(512))
    }
}
