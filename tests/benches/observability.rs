//! What the request log line and the EMF metric documents cost: handler CPU time per inbound
//! SMS with them on and off (interleaved, same process, same table), the DynamoDB and Twilio
//! requests in both cases, and one line + document built and written in isolation. Run with
//! `make bench`. CPU time is this thread's (`/proc/thread-self/schedstat`, Linux): the runtime is
//! single-threaded, so it covers the handler, the SDK and the HTTP client, not moto.

use std::time::{Duration, Instant};

use serde_json::json;
use switchboard::core::observe::{self, emf, Metric};
use switchboard_tests::twilio_mock::TwilioMock;
use switchboard_tests::{message_sid, us_number, TestApp};
use tracing::instrument::WithSubscriber;

const REQUESTS: u32 = 1000;
const ISOLATED: u32 = 20_000;

/// CPU time this thread has used, or None off Linux.
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok().map(Duration::from_nanos)
}

struct Samples {
    name: &'static str,
    cpu_us: Vec<f64>,
    wall_ms: Vec<f64>,
    round_trips: u64,
}

impl Samples {
    fn new(name: &'static str) -> Self {
        Self { name, cpu_us: Vec::new(), wall_ms: Vec::new(), round_trips: 0 }
    }

    fn print(&mut self) {
        self.cpu_us.sort_by(f64::total_cmp);
        self.wall_ms.sort_by(f64::total_cmp);
        let mean = self.cpu_us.iter().sum::<f64>() / self.cpu_us.len().max(1) as f64;
        let median = |v: &[f64]| v.get(v.len() / 2).copied().unwrap_or(f64::NAN);
        println!(
            "{:<40} n={:<5} CPU mean={:>7.1} µs median={:>7.1} µs  wall p50={:>6.2} ms  DynamoDB requests={}",
            self.name,
            self.wall_ms.len(),
            mean,
            median(&self.cpu_us),
            median(&self.wall_ms),
            self.round_trips,
        );
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mock = TwilioMock::start().await;
    let app = TestApp::with_twilio(&mock, &[]).await;
    let admin = app.admin().await;
    app.add_numbers(&admin, &[us_number(1)]).await;
    let ada = app.register("ada").await;
    let number = app.give_number(&ada).await;
    let phone = "+14155550501";
    app.post("/api/conversations/sms", json!({"phoneNumber": phone}), Some(&ada.token)).await;
    // The functions' subscriber; the sink is not on stdout here, so lines are formatted and dropped.
    let logs = tracing::Dispatch::new(switchboard::telemetry::subscriber());
    let twilio_before = mock.request_count().await;

    let mut on = Samples::new("inbound SMS, logs + metrics on");
    let mut off = Samples::new("inbound SMS, logs + metrics off");
    for i in 0..2 * REQUESTS {
        let enabled = i % 2 == 0;
        observe::set_enabled(enabled);
        let sid = message_sid(i);
        let trips = app.round_trips();
        let (cpu, started) = (thread_cpu(), Instant::now());
        let reply = if enabled {
            app.inbound_sms(&sid, phone, &number, "on my way").with_subscriber(logs.clone()).await
        } else {
            app.inbound_sms(&sid, phone, &number, "on my way").await
        };
        let wall = started.elapsed();
        let cpu = cpu.zip(thread_cpu()).map(|(a, b)| b.saturating_sub(a));
        assert_eq!(reply.status, 200);
        let samples = if enabled { &mut on } else { &mut off };
        samples.wall_ms.push(wall.as_secs_f64() * 1000.0);
        samples.cpu_us.extend(cpu.map(|c| c.as_secs_f64() * 1e6));
        samples.round_trips += app.round_trips() - trips;
    }
    observe::set_enabled(true);
    let twilio_calls = mock.request_count().await - twilio_before;

    // One request's line and documents, built and written alone (the sink drops the bytes).
    let started = (thread_cpu(), Instant::now());
    for i in 0..ISOLATED {
        let ((), context) = observe::scope(async {
            observe::count(Metric::InboundReceived);
            observe::count(Metric::InboundRouted);
            observe::conversation(&"01J9Z8Q4T5V6W7X8Y9Z0A1B2C3");
            observe::message_sid("SM0123456789abcdef0123456789abcdef");
        })
        .await;
        let figures = emf::RequestFigures {
            namespace: "Switchboard",
            function: "twilio-inbound",
            status: 200,
            latency_ms: 12.5,
            db_round_trips: 2,
            timestamp_ms: emf::now_ms(),
        };
        tracing::dispatcher::with_default(&logs, || {
            tracing::info!(
                function = "twilio-inbound",
                method = "POST",
                route = "/api/webhooks/twilio/incoming",
                status = 200,
                outcome = context.outcome_for(200),
                latencyMs = 12.5,
                dbRoundTrips = 2,
                twilioCalls = context.twilio_calls(),
                conversationId = context.conversation_id.as_deref(),
                messageSid = context.message_sid.as_deref(),
                from = "***0501",
                to = "***0101",
                i,
                "request"
            );
        });
        for document in context.metric_documents(&figures) {
            observe::sink::write_line(&document);
        }
    }
    let isolated_wall = started.1.elapsed() / ISOLATED;
    let isolated_cpu = started.0.zip(thread_cpu()).map(|(a, b)| b.saturating_sub(a) / ISOLATED);

    // What the Lambda runtime's stdout write adds: ~1 KB to /dev/null per request.
    let mut null = std::fs::OpenOptions::new().write(true).open("/dev/null").unwrap();
    let line = vec![b'x'; 1024];
    let started = Instant::now();
    for _ in 0..ISOLATED {
        std::io::Write::write_all(&mut null, &line).unwrap();
    }
    let write = started.elapsed() / ISOLATED;

    println!("switchboard observability bench: local moto, handlers in-process, one thread");
    on.print();
    off.print();
    println!(
        "{:<40} Twilio requests={twilio_calls} (both cases: 1:1 inbound SMS make none)",
        "network calls beyond DynamoDB"
    );
    println!(
        "{:<40} wall={:>5.1} µs  CPU={} per request",
        "one request line + EMF document alone",
        isolated_wall.as_secs_f64() * 1e6,
        isolated_cpu.map_or("n/a".to_string(), |c| format!("{:.1} µs", c.as_secs_f64() * 1e6)),
    );
    println!(
        "{:<40} {:>5.1} µs per 1 KB write (the stdout write the sink makes in Lambda)",
        "write to /dev/null",
        write.as_secs_f64() * 1e6
    );
}
