//! The local event source mapping of `make dev` (a development tool; in AWS, Lambda's SQS event
//! source mapping and an EventBridge schedule do this).
//!
//! - Polls the delivery queue (ReceiveMessage, up to 10 jobs) and invokes the `delivery` function
//!   through `cargo lambda watch`'s Lambda invoke API with the SQS event Lambda would build; then
//!   deletes the jobs the answer does not list in `batchItemFailures`. The failed ones stay in the
//!   queue: SQS hands them out again after the visibility timeout, and moves them to the
//!   dead-letter queue after the redrive policy's `maxReceiveCount` receives, as in AWS. An
//!   answer that is not a batch response (the function failed, or named a job not in the batch)
//!   fails the whole batch, as Lambda does.
//! - Every `sweep_interval` invokes the `sweeper` function with an EventBridge scheduled event.
//! - Stops gracefully: the batch in flight is finished (for a while), nothing new is received.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    MessageSystemAttributeName, QueueAttributeName,
};
use chrono::{SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use tokio::sync::watch;

#[derive(Clone, Debug)]
pub struct PollerConfig {
    pub queue_url: String,
    /// The invoke API's base: `http://127.0.0.1:9000` (`cargo lambda watch --invoke-port`).
    pub invoke_base_url: String,
    /// The worker: `delivery`.
    pub function: String,
    /// The sweeper (`sweeper`) and how often it runs; `None`: never.
    pub sweeper: Option<(String, Duration)>,
    /// Jobs per batch (1 to 10).
    pub batch_size: i32,
    /// ReceiveMessage's WaitTimeSeconds (0 to 20). 0 polls without waiting, then `idle` passes
    /// before the next poll when the queue was empty.
    pub wait_seconds: i32,
    pub idle: Duration,
    /// How long one invocation may take (the first one waits for `cargo lambda watch` to compile).
    pub invoke_timeout: Duration,
    /// After a stop is asked, how long the batch in flight may still take.
    pub stop_grace: Duration,
}

impl PollerConfig {
    pub fn new(queue_url: impl Into<String>, invoke_base_url: impl Into<String>) -> Self {
        Self {
            queue_url: queue_url.into(),
            invoke_base_url: invoke_base_url.into(),
            function: "delivery".into(),
            sweeper: Some(("sweeper".into(), Duration::from_secs(10))),
            batch_size: 10,
            wait_seconds: 1,
            idle: Duration::from_millis(250),
            invoke_timeout: Duration::from_secs(300),
            stop_grace: Duration::from_secs(15),
        }
    }

    fn invoke_url(&self, function: &str) -> String {
        format!("{}/2015-03-31/functions/{function}/invocations", self.invoke_base_url.trim_end_matches('/'))
    }
}

/// What became of one batch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchReport {
    pub received: usize,
    /// Jobs by kind (`delivery`, `relay`, or `other`), for the log line.
    pub kinds: Vec<(String, usize)>,
    /// The highest ApproximateReceiveCount of the batch (2 or more: a job came back).
    pub max_receive_count: u32,
    pub deleted: usize,
    /// Message ids the function reported as failed (they come back after the visibility timeout).
    pub failed: Vec<String>,
    /// Why the whole batch failed, if it did.
    pub batch_failed: Option<String>,
    /// Failed jobs received `maxReceiveCount` times: SQS moves them to the dead-letter queue
    /// instead of handing them out again.
    pub dead_lettered: usize,
    /// The invoke API could not be reached: the jobs were made visible again at once.
    pub unreachable: bool,
    pub took: Duration,
}

impl BatchReport {
    /// One log line.
    pub fn line(&self, function: &str) -> String {
        let kinds: Vec<String> = self.kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let again = if self.max_receive_count > 1 {
            format!(", received up to {} times", self.max_receive_count)
        } else {
            String::new()
        };
        let dead = match self.dead_lettered {
            0 => String::new(),
            n => format!("; {n} of them received maxReceiveCount times: to the dead-letter queue"),
        };
        let outcome = if self.unreachable {
            "invoke API unreachable: jobs made visible again".to_string()
        } else if let Some(why) = &self.batch_failed {
            format!("whole batch failed ({why}): back after the visibility timeout{dead}")
        } else if self.failed.is_empty() {
            format!("{} done", self.deleted)
        } else {
            format!(
                "{} done, {} failed: back after the visibility timeout{dead}",
                self.deleted,
                self.failed.len()
            )
        };
        format!(
            "batch of {} ({}{again}) -> {function} in {} ms: {outcome}",
            self.received,
            kinds.join(", "),
            self.took.as_millis()
        )
    }
}

pub struct Poller {
    sqs: aws_sdk_sqs::Client,
    http: reqwest::Client,
    config: PollerConfig,
    queue_arn: String,
    region: String,
    /// The queue's redrive policy's `maxReceiveCount`, if it has one.
    max_receive_count: Option<u32>,
}

/// What an invocation came to.
enum Invocation {
    /// The function answered; the message ids it reported as failed.
    Answered(HashSet<String>),
    /// The function failed, or answered something that is not a batch response.
    BatchFailed(String),
    /// Nothing listens on the invoke API.
    Unreachable(String),
}

impl Poller {
    /// Reads the queue's ARN (for the events' `eventSourceARN`) and its redrive policy.
    pub async fn new(sdk_config: &aws_config::SdkConfig, config: PollerConfig) -> Result<Self, String> {
        let sqs = aws_sdk_sqs::Client::new(sdk_config);
        let out = sqs
            .get_queue_attributes()
            .queue_url(&config.queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .attribute_names(QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "GetQueueAttributes {}: {}",
                    config.queue_url,
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                )
            })?;
        let attribute = |name: &QueueAttributeName| out.attributes().and_then(|a| a.get(name)).cloned();
        let queue_arn = attribute(&QueueAttributeName::QueueArn).ok_or("the queue has no QueueArn")?;
        let max_receive_count = attribute(&QueueAttributeName::RedrivePolicy)
            .and_then(|p| serde_json::from_str::<Value>(&p).ok())
            .and_then(|p| match &p["maxReceiveCount"] {
                Value::Number(n) => n.as_u64().map(|n| n as u32),
                Value::String(s) => s.parse().ok(),
                _ => None,
            });
        let region =
            queue_arn.split(':').nth(3).filter(|r| !r.is_empty()).map(str::to_string).unwrap_or_else(|| {
                sdk_config.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".to_string())
            });
        let http = reqwest::Client::builder()
            .timeout(config.invoke_timeout)
            .connect_timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { sqs, http, config, queue_arn, region, max_receive_count })
    }

    pub fn config(&self) -> &PollerConfig {
        &self.config
    }

    /// The queue's redrive policy's `maxReceiveCount`, if it has one.
    pub fn max_receive_count(&self) -> Option<u32> {
        self.max_receive_count
    }

    /// Whether something accepts connections on the invoke API's address.
    pub async fn invoke_api_is_up(&self) -> bool {
        let Ok(url) = reqwest::Url::parse(&self.config.invoke_base_url) else {
            return false;
        };
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return false;
        };
        let connect = tokio::net::TcpStream::connect((host, port));
        matches!(tokio::time::timeout(Duration::from_secs(2), connect).await, Ok(Ok(_)))
    }

    /// One ReceiveMessage; `None` when no job came.
    async fn receive(&self) -> Result<Vec<Message>, String> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.config.queue_url)
            .max_number_of_messages(self.config.batch_size.clamp(1, 10))
            .wait_time_seconds(self.config.wait_seconds.clamp(0, 20))
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| format!("ReceiveMessage: {}", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        Ok(out.messages.unwrap_or_default())
    }

    /// Receives one batch and runs it through the function; `None` when the queue was empty.
    pub async fn poll_once(&self) -> Result<Option<BatchReport>, String> {
        let messages = self.receive().await?;
        if messages.is_empty() {
            return Ok(None);
        }
        let started = Instant::now();
        let mut report = BatchReport {
            received: messages.len(),
            kinds: kinds(&messages),
            max_receive_count: messages.iter().map(receive_count).max().unwrap_or(0),
            ..BatchReport::default()
        };
        let event = sqs_event(&messages, &self.queue_arn, &self.region);
        let ids: Vec<String> = messages.iter().filter_map(|m| m.message_id.clone()).collect();
        let to_delete: Vec<&Message> = match self.invoke_worker(&event, &ids).await {
            Invocation::Answered(failed) => {
                report.failed = ids.iter().filter(|id| failed.contains(*id)).cloned().collect();
                messages
                    .iter()
                    .filter(|m| !m.message_id.as_ref().is_some_and(|id| failed.contains(id)))
                    .collect()
            }
            Invocation::BatchFailed(why) => {
                report.batch_failed = Some(why);
                Vec::new()
            }
            Invocation::Unreachable(why) => {
                report.unreachable = true;
                report.batch_failed = Some(why);
                self.release(&messages).await?;
                Vec::new()
            }
        };
        report.deleted = self.delete(&to_delete).await?;
        if let (Some(max), false) = (self.max_receive_count, report.unreachable) {
            let failed = |m: &&Message| {
                report.batch_failed.is_some()
                    || m.message_id.as_ref().is_some_and(|id| report.failed.contains(id))
            };
            report.dead_lettered = messages.iter().filter(failed).filter(|m| receive_count(m) >= max).count();
        }
        report.took = started.elapsed();
        Ok(Some(report))
    }

    /// Invokes the worker with the batch's event and reads its answer.
    async fn invoke_worker(&self, event: &Value, ids: &[String]) -> Invocation {
        let response =
            match self.http.post(self.config.invoke_url(&self.config.function)).json(event).send().await {
                Ok(response) => response,
                Err(e) if e.is_connect() => return Invocation::Unreachable(e.to_string()),
                Err(e) => return Invocation::BatchFailed(format!("invocation: {e}")),
            };
        let status = response.status();
        let function_error =
            response.headers().get("x-amz-function-error").map(|v| v.to_str().unwrap_or("").to_string());
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() || function_error.is_some() {
            let kind = function_error.unwrap_or_default();
            return Invocation::BatchFailed(format!("HTTP {} {kind}: {}", status.as_u16(), clip(&text)));
        }
        let answer: Value = match serde_json::from_str(&text) {
            Ok(answer) => answer,
            Err(e) => return Invocation::BatchFailed(format!("answer is not JSON ({e}): {}", clip(&text))),
        };
        match failed_ids(&answer, ids) {
            Ok(failed) => Invocation::Answered(failed),
            Err(why) => Invocation::BatchFailed(why),
        }
    }

    /// Deletes the jobs that are done (DeleteMessageBatch, ten at most, as received).
    async fn delete(&self, messages: &[&Message]) -> Result<usize, String> {
        if messages.is_empty() {
            return Ok(0);
        }
        let entries = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                    .build()
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .sqs
            .delete_message_batch()
            .queue_url(&self.config.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| format!("DeleteMessageBatch: {}", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        for failed in out.failed() {
            eprintln!(
                "queue-poller: could not delete a job: {} {}",
                failed.code(),
                failed.message().unwrap_or("")
            );
        }
        Ok(out.successful().len())
    }

    /// Makes jobs visible again at once (the function was not reached: nothing was tried).
    async fn release(&self, messages: &[Message]) -> Result<(), String> {
        let entries = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                    .visibility_timeout(0)
                    .build()
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.sqs
            .change_message_visibility_batch()
            .queue_url(&self.config.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| {
                format!("ChangeMessageVisibilityBatch: {}", aws_sdk_sqs::error::DisplayErrorContext(e))
            })?;
        Ok(())
    }

    /// One sweep: invokes the sweeper with a scheduled event; its answer (`{"queued": n, "closed": n, …}`:
    /// the outbox's lost jobs queued again, the idle conversations closed).
    pub async fn sweep_once(&self, function: &str) -> Result<Value, String> {
        let event = scheduled_event(&self.region, &self.queue_arn, function);
        let response = self
            .http
            .post(self.config.invoke_url(function))
            .json(&event)
            .send()
            .await
            .map_err(|e| format!("invoking {function}: {e}"))?;
        let status = response.status();
        let failed = response.headers().contains_key("x-amz-function-error");
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() || failed {
            return Err(format!("{function} failed: HTTP {}: {}", status.as_u16(), clip(&text)));
        }
        serde_json::from_str(&text)
            .map_err(|e| format!("{function} answered something that is not JSON ({e})"))
    }

    /// Polls until `stop` turns true: one log line per batch; errors back off (1 s doubling to
    /// 30 s). The batch in flight when a stop comes may take `stop_grace` more; past that it is
    /// left (its jobs come back after the visibility timeout: running a job twice changes nothing).
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut backoff = Duration::from_secs(1);
        let mut waiting_logged = false;
        while !*stop.borrow() {
            if !self.invoke_api_is_up().await {
                if !waiting_logged {
                    println!(
                        "queue-poller: waiting for the Lambda invoke API at {}",
                        self.config.invoke_base_url
                    );
                    waiting_logged = true;
                }
                pause(&mut stop, Duration::from_secs(1)).await;
                continue;
            }
            waiting_logged = false;
            let batch = tokio::spawn({
                let poller = self.clone();
                async move { poller.poll_once().await }
            });
            let outcome = tokio::select! {
                outcome = batch => outcome.map_err(|e| e.to_string()).and_then(|r| r),
                () = stopped_then(&mut stop, self.config.stop_grace) => {
                    println!("queue-poller: stopping with a batch in flight: its jobs come back after the visibility timeout");
                    return;
                }
            };
            match outcome {
                Ok(Some(report)) => {
                    backoff = Duration::from_secs(1);
                    println!("queue-poller: {}", report.line(&self.config.function));
                    if report.unreachable {
                        pause(&mut stop, Duration::from_secs(1)).await;
                    }
                }
                Ok(None) => {
                    backoff = Duration::from_secs(1);
                    if self.config.wait_seconds == 0 {
                        pause(&mut stop, self.config.idle).await;
                    }
                }
                Err(e) => {
                    eprintln!("queue-poller: {e}; again in {} s", backoff.as_secs());
                    pause(&mut stop, backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    /// Sweeps every interval until `stop` turns true; a line when a sweep queued something or
    /// failed (and for the first one).
    pub async fn run_sweeper(
        self: Arc<Self>,
        function: String,
        interval: Duration,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut first = true;
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = stopped(&mut stop) => return,
            }
            if !self.invoke_api_is_up().await {
                continue;
            }
            let started = Instant::now();
            let outcome = tokio::select! {
                outcome = self.sweep_once(&function) => outcome,
                () = stopped(&mut stop) => return,
            };
            let took = started.elapsed().as_millis();
            match outcome {
                Ok(answer) => {
                    let queued = answer["queued"].as_u64().unwrap_or(0);
                    let closed = answer["closed"].as_u64().unwrap_or(0);
                    if queued > 0 || closed > 0 || first {
                        let jobs = if queued == 1 { "job" } else { "jobs" };
                        println!("queue-poller: sweep -> {function} in {took} ms: {queued} overdue {jobs} queued again, {closed} idle conversations closed");
                    }
                    first = false;
                }
                Err(e) => eprintln!("queue-poller: sweep failed in {took} ms: {e}"),
            }
        }
    }
}

/// Waits until `stop` turns true (forever if its sender is gone without saying so).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Waits for a stop, then `grace` more.
async fn stopped_then(stop: &mut watch::Receiver<bool>, grace: Duration) {
    stopped(stop).await;
    tokio::time::sleep(grace).await;
}

/// Sleeps, or less if a stop comes.
async fn pause(stop: &mut watch::Receiver<bool>, duration: Duration) {
    tokio::select! {
        () = tokio::time::sleep(duration) => {}
        () = stopped(stop) => {}
    }
}

fn clip(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

fn receive_count(message: &Message) -> u32 {
    message
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

/// Counts the batch's jobs by kind: the top-level key of the body (`delivery`, `relay`).
fn kinds(messages: &[Message]) -> Vec<(String, usize)> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for message in messages {
        let body: Option<Value> = message.body.as_deref().and_then(|b| serde_json::from_str(b).ok());
        let kind = body
            .as_ref()
            .and_then(Value::as_object)
            .filter(|o| o.len() == 1)
            .and_then(|o| o.keys().next().cloned())
            .unwrap_or_else(|| "other".into());
        match counts.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => counts.push((kind, 1)),
        }
    }
    counts
}

/// The SQS event Lambda's event source mapping builds from received messages.
pub fn sqs_event(messages: &[Message], queue_arn: &str, region: &str) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes: Map<String, Value> = m
                .attributes()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.as_str().to_string(), Value::String(v.clone())))
                .collect();
            let message_attributes: Map<String, Value> = m
                .message_attributes()
                .into_iter()
                .flatten()
                .map(|(name, value)| {
                    let attribute = json!({
                        "stringValue": value.string_value(),
                        "binaryValue": value.binary_value().map(|b| base64_of(b.as_ref())),
                        "stringListValues": value.string_list_values(),
                        "binaryListValues": value.binary_list_values().iter().map(|b| base64_of(b.as_ref())).collect::<Vec<_>>(),
                        "dataType": value.data_type(),
                    });
                    (name.clone(), attribute)
                })
                .collect();
            json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": attributes,
                "messageAttributes": message_attributes,
                "md5OfBody": m.md5_of_body(),
                "md5OfMessageAttributes": m.md5_of_message_attributes(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            })
        })
        .collect();
    json!({ "Records": records })
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The message ids an `SqsBatchResponse` reports as failed. As Lambda reads it: an empty or
/// null `batchItemFailures` means every job is done; an entry whose `itemIdentifier` is missing,
/// empty or not in the batch fails the whole batch (`Err`).
pub fn failed_ids(answer: &Value, batch: &[String]) -> Result<HashSet<String>, String> {
    if !answer.is_object() {
        return Err(format!("the answer is not a batch response: {}", clip(&answer.to_string())));
    }
    if answer.get("errorType").is_some() || answer.get("errorMessage").is_some() {
        return Err(format!("the function failed: {}", clip(&answer.to_string())));
    }
    let failures = match &answer["batchItemFailures"] {
        Value::Null => return Ok(HashSet::new()),
        Value::Array(failures) => failures,
        other => return Err(format!("batchItemFailures is not a list: {other}")),
    };
    failures
        .iter()
        .map(|f| {
            let id = f["itemIdentifier"].as_str().unwrap_or("");
            if batch.iter().any(|b| b == id) {
                Ok(id.to_string())
            } else {
                Err(format!("batchItemFailures names {id:?}, which is not in the batch"))
            }
        })
        .collect()
}

/// The event an EventBridge schedule sends (`detail-type` "Scheduled Event").
pub fn scheduled_event(region: &str, queue_arn: &str, function: &str) -> Value {
    let account = queue_arn.split(':').nth(4).filter(|a| !a.is_empty()).unwrap_or("123456789012");
    json!({
        "version": "0",
        "id": ulid::Ulid::new().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        "region": region,
        "resources": [format!("arn:aws:events:{region}:{account}:rule/local-{function}-schedule")],
        "detail": {},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sqs::types::MessageAttributeValue;

    fn message(id: &str, body: &str, receives: &str) -> Message {
        Message::builder()
            .message_id(id)
            .receipt_handle(format!("handle-{id}"))
            .body(body)
            .md5_of_body("md5")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, receives)
            .attributes(MessageSystemAttributeName::SentTimestamp, "1700000000000")
            .message_attributes(
                "reason",
                MessageAttributeValue::builder().data_type("String").string_value("why").build().unwrap(),
            )
            .build()
    }

    #[test]
    fn the_event_is_the_one_lambda_builds_and_the_worker_reads() {
        let arn = "arn:aws:sqs:us-east-1:123456789012:switchboard-delivery";
        let messages =
            [message("m-1", r#"{"delivery":{"id":"x"}}"#, "1"), message("m-2", r#"{"relay":{}}"#, "3")];
        let event = sqs_event(&messages, arn, "us-east-1");
        let record = &event["Records"][1];
        assert_eq!(record["messageId"], "m-2");
        assert_eq!(record["receiptHandle"], "handle-m-2");
        assert_eq!(record["eventSource"], "aws:sqs");
        assert_eq!(record["eventSourceARN"], arn);
        assert_eq!(record["attributes"]["ApproximateReceiveCount"], "3");
        assert_eq!(record["messageAttributes"]["reason"]["stringValue"], "why");
        // The worker's own event type reads it.
        let parsed: aws_lambda_events_shape::SqsEvent = serde_json::from_value(event).unwrap();
        assert_eq!(parsed.records.len(), 2);
        assert_eq!(parsed.records[0].body.as_deref(), Some(r#"{"delivery":{"id":"x"}}"#));
        assert_eq!(kinds(&messages), [("delivery".to_string(), 1), ("relay".to_string(), 1)]);
        assert_eq!(messages.iter().map(receive_count).max(), Some(3));
    }

    /// The fields of aws_lambda_events' SqsEvent the worker reads (xtask does not depend on it).
    mod aws_lambda_events_shape {
        #[derive(serde::Deserialize)]
        pub struct SqsEvent {
            #[serde(rename = "Records")]
            pub records: Vec<SqsMessage>,
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub struct SqsMessage {
            #[allow(dead_code)]
            pub message_id: Option<String>,
            pub body: Option<String>,
        }
    }

    #[test]
    fn batch_item_failures_are_read_as_lambda_reads_them() {
        let batch = ["a".to_string(), "b".to_string()];
        assert!(failed_ids(&json!({ "batchItemFailures": [] }), &batch).unwrap().is_empty());
        assert!(failed_ids(&json!({}), &batch).unwrap().is_empty());
        let failed =
            failed_ids(&json!({ "batchItemFailures": [{ "itemIdentifier": "b" }] }), &batch).unwrap();
        assert_eq!(failed, HashSet::from(["b".to_string()]));
        assert!(failed_ids(&json!({ "batchItemFailures": [{ "itemIdentifier": "" }] }), &batch).is_err());
        assert!(failed_ids(&json!({ "batchItemFailures": [{ "itemIdentifier": "zzz" }] }), &batch).is_err());
        assert!(failed_ids(&json!({ "errorType": "Panic", "errorMessage": "boom" }), &batch).is_err());
        assert!(failed_ids(&json!("nope"), &batch).is_err());
    }

    #[test]
    fn the_schedule_event_is_eventbridges() {
        let event = scheduled_event("us-east-1", "arn:aws:sqs:us-east-1:000000000000:q", "sweeper");
        assert_eq!(event["detail-type"], "Scheduled Event");
        assert_eq!(event["source"], "aws.events");
        assert_eq!(event["account"], "000000000000");
        assert!(event["resources"][0]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:events:us-east-1:000000000000:rule/"));
    }

    #[test]
    fn the_log_line_says_what_happened() {
        let report = BatchReport {
            received: 3,
            kinds: vec![("delivery".into(), 2), ("relay".into(), 1)],
            max_receive_count: 2,
            deleted: 2,
            failed: vec!["x".into()],
            took: Duration::from_millis(42),
            ..BatchReport::default()
        };
        assert_eq!(
            report.line("delivery"),
            "batch of 3 (2 delivery, 1 relay, received up to 2 times) -> delivery in 42 ms: 2 done, 1 failed: back \
             after the visibility timeout"
        );
    }
}
