//! `make dev` starts this: the local event source mapping of the delivery queue and the sweeper's
//! schedule (see xtask/src/poller.rs). Settings from the environment:
//! DELIVERY_QUEUE_URL (required), AWS_ENDPOINT_URL_SQS (the SDK reads it), LAMBDA_INVOKE_BASE_URL
//! (default http://127.0.0.1:$API_PORT, port 9000), SWEEP_INTERVAL_SECONDS (10; 0: no sweeps),
//! QUEUE_POLL_WAIT_SECONDS (ReceiveMessage's wait, 1), QUEUE_POLL_IDLE_MS (with a wait of 0, the
//! pause after an empty poll, 250), QUEUE_BATCH_SIZE (10). SIGTERM or Ctrl-C stops it.

use std::sync::Arc;
use std::time::Duration;

use xtask::poller::{Poller, PollerConfig};

fn setting(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn number<T: std::str::FromStr>(name: &str, default: T) -> T {
    match setting(name) {
        None => default,
        Some(raw) => raw.parse().unwrap_or_else(|_| {
            eprintln!("queue-poller: {name}={raw:?} is not a number");
            std::process::exit(2)
        }),
    }
}

#[tokio::main]
async fn main() {
    let Some(queue_url) = setting("DELIVERY_QUEUE_URL") else {
        eprintln!("queue-poller: DELIVERY_QUEUE_URL is required (xtask create-queues prints it)");
        std::process::exit(2)
    };
    let invoke_base_url = setting("LAMBDA_INVOKE_BASE_URL").unwrap_or_else(|| {
        let port = setting("API_PORT").unwrap_or_else(|| "9000".into());
        format!("http://127.0.0.1:{port}")
    });
    let mut config = PollerConfig::new(queue_url, invoke_base_url);
    let sweep: u64 = number("SWEEP_INTERVAL_SECONDS", 10);
    config.sweeper = (sweep > 0).then(|| ("sweeper".to_string(), Duration::from_secs(sweep)));
    config.wait_seconds = number("QUEUE_POLL_WAIT_SECONDS", 1);
    config.idle = Duration::from_millis(number("QUEUE_POLL_IDLE_MS", 250));
    config.batch_size = number("QUEUE_BATCH_SIZE", 10);

    let sdk_config = aws_config::load_from_env().await;
    let poller = match Poller::new(&sdk_config, config).await {
        Ok(poller) => Arc::new(poller),
        Err(e) => {
            eprintln!("queue-poller: {e}");
            std::process::exit(1)
        }
    };
    let config = poller.config().clone();
    let redrive = poller
        .max_receive_count()
        .map(|n| format!(", dead letters after {n} receives"))
        .unwrap_or_else(|| ", no redrive policy".into());
    println!(
        "queue-poller: {} -> {} (up to {} jobs, wait {} s{redrive}){}",
        config.queue_url,
        config.function,
        config.batch_size,
        config.wait_seconds,
        config
            .sweeper
            .as_ref()
            .map(|(f, every)| format!("; {f} every {} s", every.as_secs()))
            .unwrap_or_default()
    );

    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(poller.clone().run(stopping.clone()));
    if let Some((function, every)) = config.sweeper.clone() {
        tasks.spawn(poller.clone().run_sweeper(function, every, stopping.clone()));
    }
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("a SIGTERM handler");
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = tasks.join_next() => {
            eprintln!("queue-poller: a loop ended on its own");
        }
    }
    let _ = stop.send(true);
    // A second signal stops at once.
    tokio::select! {
        () = async { while tasks.join_next().await.is_some() {} } => {}
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    println!("queue-poller: stopped");
}
