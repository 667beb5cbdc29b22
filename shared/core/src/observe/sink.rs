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
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    if text.is_empty() {
        return;
    }
    let captured = CAPTURED.try_with(|lines| {
        let text = String::from_utf8_lossy(text);
        lines.borrow_mut().extend(text.lines().map(str::to_string));
    });
    if captured.is_err() && STDOUT.load(Ordering::Relaxed) {
        // The text and its newline in one write (one syscall; stdout's line buffer would send a
        // line longer than its 1 KiB apart from its newline), under the lock: lines never
        // interleave.
        let mut line = Vec::with_capacity(text.len() + 1);
        line.extend_from_slice(text);
        line.push(b'\n');
        let _ = io::stdout().lock().write_all(&line);
    }
}
