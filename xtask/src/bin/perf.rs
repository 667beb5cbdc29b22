//! The driver of `make perf` (scripts/perf.sh starts the stack and runs it): CPU per request,
//! peak RSS, DynamoDB requests and latency per operation, for each function's own process.
//!
//! PERF_API_URL, PERF_STANDIN_URL, PERF_STACK_LOG (the stack's log file), TWILIO_AUTH_TOKEN and
//! PUBLIC_BASE_URL (as the stack has them: webhooks are signed), PERF_SCALE (multiplies every
//! operation's request count; 1 by default).

use std::path::PathBuf;

use xtask::perf::{resident_sizes, table, Driver, PerfConfig};

#[tokio::main]
async fn main() {
    let setting = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let config = PerfConfig {
        api: setting("PERF_API_URL"),
        standin: setting("PERF_STANDIN_URL"),
        log: PathBuf::from(setting("PERF_STACK_LOG")),
        auth_token: setting("TWILIO_AUTH_TOKEN"),
        public_base_url: setting("PUBLIC_BASE_URL"),
        scale: std::env::var("PERF_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0),
    };
    let figures = Driver::new(config).run().await;
    println!("{}", table(&figures));
    println!("Peak RSS of every function process (MiB):");
    let binaries = [
        "auth",
        "users",
        "numbers",
        "conversations",
        "messages",
        "twilio-inbound",
        "twilio-status",
        "realtime",
        "delivery",
        "sweeper",
    ];
    for (binary, mib) in resident_sizes(&binaries) {
        println!("  {binary:<15} {mib:.1}");
    }
}
