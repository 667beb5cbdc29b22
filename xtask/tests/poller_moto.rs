//! The local event source mapping against moto's SQS (`make test` starts moto and sets
//! AWS_ENDPOINT_URL_DYNAMODB; moto serves SQS on the same port). Without an endpoint the test
//! says so and passes. The `delivery` function is played by a small invoke API that fails the jobs
//! it is told to.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use xtask::poller::{Poller, PollerConfig};
use xtask::queues::{ensure_queues, QueueSpec};

#[derive(Default)]
struct Invocations {
    /// Bodies of jobs to report as failed.
    fail: HashSet<String>,
    /// (function, event) of every invocation.
    seen: Vec<(String, Value)>,
}

async fn invoke(
    State(state): State<Arc<Mutex<Invocations>>>,
    Path(function): Path<String>,
    Json(event): Json<Value>,
) -> Json<Value> {
    let mut state = state.lock().unwrap();
    state.seen.push((function.clone(), event.clone()));
    if function == "sweeper" {
        return Json(json!({ "queued": 0 }));
    }
    let failures: Vec<Value> = event["Records"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| state.fail.contains(r["body"].as_str().unwrap_or("")))
        .map(|r| json!({ "itemIdentifier": r["messageId"] }))
        .collect();
    Json(json!({ "batchItemFailures": failures }))
}

fn endpoint() -> Option<String> {
    let get = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    get("AWS_ENDPOINT_URL_SQS").or_else(|| get("AWS_ENDPOINT_URL_DYNAMODB"))
}

#[tokio::test]
async fn batches_delete_what_is_done_and_redrive_what_keeps_failing() {
    let Some(endpoint) = endpoint() else {
        eprintln!("no AWS_ENDPOINT_URL_SQS or AWS_ENDPOINT_URL_DYNAMODB (moto): skipped");
        return;
    };
    let sdk = aws_config::from_env()
        .endpoint_url(&endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new("local", "local", None, None, "test"))
        .load()
        .await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let prefix = format!("poller-test-{}", ulid::Ulid::new().to_string().to_lowercase());
    // A short visibility timeout and two receives, so redrive happens within the test.
    let spec = QueueSpec { visibility_timeout: 1, max_receive_count: 2, ..QueueSpec::default() };
    let queues = ensure_queues(&sqs, &prefix, &spec).await.unwrap();
    let again = ensure_queues(&sqs, &prefix, &spec).await.unwrap();
    assert_eq!(
        (again.queue_url.as_str(), again.created),
        (queues.queue_url.as_str(), (false, false)),
        "idempotent"
    );

    let state = Arc::new(Mutex::new(Invocations::default()));
    state.lock().unwrap().fail.insert(r#"{"delivery":{"id":"bad"}}"#.to_string());
    let app = Router::new()
        .route("/2015-03-31/functions/{function}/invocations", post(invoke))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    for body in [r#"{"delivery":{"id":"good"}}"#, r#"{"delivery":{"id":"bad"}}"#, r#"{"relay":{"x":1}}"#] {
        sqs.send_message().queue_url(&queues.queue_url).message_body(body).send().await.unwrap();
    }
    let mut config = PollerConfig::new(&queues.queue_url, &base);
    config.wait_seconds = 0;
    let poller = Poller::new(&sdk, config).await.unwrap();

    let mut reports = Vec::new();
    for _ in 0..20 {
        if let Some(report) = poller.poll_once().await.unwrap() {
            reports.push(report);
        }
        if reports.iter().map(|r| r.received).sum::<usize>() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deleted: usize = reports.iter().map(|r| r.deleted).sum();
    let failed: usize = reports.iter().map(|r| r.failed.len()).sum();
    assert_eq!((deleted, failed), (2, 1), "{reports:?}");
    {
        let seen = &state.lock().unwrap().seen;
        let record = &seen[0].1["Records"][0];
        assert_eq!(seen[0].0, "delivery");
        assert_eq!(record["eventSource"], "aws:sqs");
        assert_eq!(record["eventSourceARN"], queues.queue_arn.as_str());
        assert_eq!(record["attributes"]["ApproximateReceiveCount"], "1");
        assert!(record["receiptHandle"].is_string() && record["messageId"].is_string());
    }

    // The failed job comes back after the visibility timeout, received a second time…
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let report = poller.poll_once().await.unwrap().expect("the failed job is back");
    assert_eq!((report.received, report.max_receive_count, report.failed.len()), (1, 2, 1));
    assert_eq!(report.dead_lettered, 1, "{}", report.line("delivery"));
    assert_eq!(poller.max_receive_count(), Some(2));
    // …and after maxReceiveCount receives it is in the dead-letter queue, not handed out again.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(poller.poll_once().await.unwrap(), None);
    let dead = sqs.receive_message().queue_url(&queues.dead_letter_url).send().await.unwrap();
    let bodies: Vec<&str> = dead.messages().iter().filter_map(|m| m.body()).collect();
    assert_eq!(bodies, [r#"{"delivery":{"id":"bad"}}"#]);

    // The sweeper's schedule.
    let answer = poller.sweep_once("sweeper").await.unwrap();
    assert_eq!(answer["queued"], 0);
    let last = state.lock().unwrap().seen.last().cloned().unwrap();
    assert_eq!(last.1["detail-type"], "Scheduled Event");

    for url in [&queues.queue_url, &queues.dead_letter_url] {
        let _ = sqs.delete_queue().queue_url(url).send().await;
    }
}
