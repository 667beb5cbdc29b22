//! Exporting a 5,000-message SMS conversation (a delivery per message) part by part through the
//! real handler: first over the in-memory store (the handler's own time: reading the store costs
//! nothing there), then against the local DynamoDB server (time per part and in all, bytes and
//! DynamoDB requests per part). For each, the process's peak RSS while exporting (reset before,
//! read after: /proc/self/clear_refs and VmHWM). Figures only; it asserts nothing about them.
//! Run with `scripts/bench.sh --bench export` (or `make bench`).

use std::time::Instant;

use serde_json::json;
use switchboard_tests::fast::FastApp;
use switchboard_tests::{us_number, TestApp};

const MESSAGES: usize = 5000;

/// Exports every part of `$id`, each fetched by `$get` (a path to the reply and a note of its
/// DynamoDB requests), printing each part's time, size and requests, then the totals and the
/// peak RSS.
macro_rules! export_all {
    ($store:expr, $get:expr, $id:expr, $format:expr) => {{
        let format = $format;
        let _ = std::fs::write("/proc/self/clear_refs", "5"); // resets VmHWM to the current RSS
        let rss_before = status_kb("VmRSS:").unwrap_or(0);
        let started = Instant::now();
        let mut next = Some(format!("/api/conversations/{}/export?format={format}", $id));
        let (mut parts, mut bytes, mut largest) = (0, 0usize, 0usize);
        while let Some(path) = next.take() {
            let part_started = Instant::now();
            let (reply, requests): (switchboard_tests::Reply, String) = ($get)(path).await;
            assert_eq!(reply.status, 200, "{:?}", reply.body);
            let size = match &reply.body {
                serde_json::Value::String(text) => text.len(),
                other => other.to_string().len(),
            };
            parts += 1;
            bytes += size;
            largest = largest.max(size);
            println!(
                "  {} {format} part {parts}: {:>8.1} ms  {:>8} bytes  {requests}",
                $store,
                part_started.elapsed().as_secs_f64() * 1000.0,
                size
            );
            next = switchboard_tests::next_link(&reply);
        }
        let peak = status_kb("VmHWM:").unwrap_or(0);
        println!(
            "{} {format}: {MESSAGES} messages in {parts} parts, {:.2} s in all, {bytes} bytes (largest part \
             {largest}); process RSS {rss_before} kB before, peak {peak} kB while exporting (+{} kB)",
            $store,
            started.elapsed().as_secs_f64(),
            peak.saturating_sub(rss_before)
        );
    }};
}

/// A text of ordinary length, with what CSV must escape.
fn text(i: usize) -> String {
    format!("Message {i}: running 10 minutes late, \"sorry\" — see you at the usual place?")
}

/// A line of /proc/self/status, in kB.
fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::main]
async fn main() {
    // The handler's own work: the same export over the in-memory store.
    let fast = FastApp::new();
    let admin = fast.admin().await;
    fast.add_numbers(&admin, &[us_number(1)]).await;
    let ada = fast.register("ada").await;
    fast.give_number(&ada).await;
    let conversation = fast.start_sms(&ada, "+14155550177", None).await;
    let fast_id = conversation["id"].as_str().unwrap().to_string();
    for i in 0..MESSAGES {
        fast.send_text(&ada, &fast_id, &text(i)).await;
    }
    println!("switchboard export bench: {MESSAGES} messages, handler in-process (release build)");
    for format in ["csv", "json"] {
        let (fast, token) = (&fast, ada.token.as_str());
        let get = |path: String| async move { (fast.get(&path, token).await, String::new()) };
        export_all!("memory", get, fast_id, format);
    }

    let app = TestApp::new().await;
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1)]).await;
    let ann = app.register("ann").await;
    app.give_number(&ann).await;
    let sms =
        app.post("/api/conversations/sms", json!({"phoneNumber": "+14155550177"}), Some(&ann.token)).await;
    let id = sms.body["conversation"]["id"].as_str().unwrap().to_string();
    // Texts of ordinary length, some with what CSV must escape.
    let texts: Vec<String> = (0..MESSAGES).map(text).collect();
    let seeding = Instant::now();
    app.write_ahead_many(&ann.user_id, &id, &texts).await;
    println!("local moto: {MESSAGES} messages seeded in {:.1} s", seeding.elapsed().as_secs_f64());

    for format in ["csv", "json"] {
        let (app, token) = (&app, ann.token.as_str());
        let get = |path: String| async move {
            let (reply, ops) = app.count_operations(|| app.get(&path, token)).await;
            let shape: Vec<String> = ops.iter().map(|(op, n)| format!("{op}×{n}")).collect();
            (reply, format!("DynamoDB requests {} ({})", ops.values().sum::<u64>(), shape.join(" ")))
        };
        export_all!("moto", get, id, format);
    }
}
