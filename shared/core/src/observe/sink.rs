//! The one place log lines and metric documents are written: stdout once
//! `switchboard::telemetry::init` ran (Lambda sends stdout to CloudWatch Logs), nowhere before that
//! (tests and benchmarks that did not ask for output), or, inside [`capture`], a buffer of the
//! current task, so a test sees exactly the lines its request wrote even with tests running in
//! parallel.

use std::cell::RefCell;
use std::future::Future;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

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

/// Writes formatted text (one or more lines): captured inside [`capture`], else to stdout once
/// enabled. The log subscriber's writer calls this with each event.
pub fn emit(text: &[u8]) {
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    if body.is_empty() {
        return;
    }
    let captured = CAPTURED.try_with(|lines| {
        let body = String::from_utf8_lossy(body);
        lines.borrow_mut().extend(body.lines().map(str::to_string));
    });
    if captured.is_err() && STDOUT.load(Ordering::Relaxed) {
        // The text and its newline in one write, under the lock: lines never interleave, and
        // stdout's line buffer does not send a line over its 1 KiB apart from its newline (two
        // syscalls). The log subscriber's text ends in its newline already; a metric document
        // does not.
        let mut out = io::stdout().lock();
        let _ = if body.len() < text.len() {
            out.write_all(text)
        } else {
            out.write_all(&[body, b"\n"].concat())
        };
    }
}
