//! The delivery pipeline's queue over SQS: jobs go to the delivery queue (`DELIVERY_QUEUE_URL`,
//! `SendMessageBatch`, ten per call, calls in parallel), given-up deliveries to its dead-letter
//! queue (`DELIVERY_DEAD_LETTER_QUEUE_URL`). Locally the same queues live in moto
//! (`AWS_ENDPOINT_URL_SQS`).

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use switchboard_core::ports::queue::{Job, JobQueue, QueueError};

/// SQS's limits: entries per batch, and the longest delay.
const BATCH: usize = 10;
const MAX_DELAY_SECONDS: u64 = 900;

pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    dead_letter_url: Option<String>,
}

impl SqsQueue {
    pub fn new(
        sdk_config: &aws_config::SdkConfig,
        queue_url: String,
        dead_letter_url: Option<String>,
    ) -> Self {
        Self { client: aws_sdk_sqs::Client::new(sdk_config), queue_url, dead_letter_url }
    }

    async fn send_batch(&self, chunk: &[Job], delay: i32) -> Result<(), QueueError> {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, job)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(job.to_body())
                    .delay_seconds(delay)
                    .build()
                    .map_err(|e| QueueError::Unavailable(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| QueueError::Unavailable(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        if !out.failed().is_empty() {
            let codes: Vec<&str> = out.failed().iter().map(|f| f.code()).collect();
            return Err(QueueError::Unavailable(format!(
                "{} of {} jobs refused: {codes:?}",
                codes.len(),
                chunk.len()
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl JobQueue for SqsQueue {
    async fn enqueue(&self, jobs: &[Job], delay: Duration) -> Result<(), QueueError> {
        let delay = delay.as_secs().min(MAX_DELAY_SECONDS) as i32;
        let calls = jobs.chunks(BATCH).map(|chunk| self.send_batch(chunk, delay));
        futures::future::try_join_all(calls).await.map(|_| ())
    }

    async fn dead_letter(&self, job: &Job, reason: &str) -> Result<(), QueueError> {
        let Some(url) = &self.dead_letter_url else {
            return Err(QueueError::Unavailable("no dead-letter queue configured".into()));
        };
        let reason = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(reason)
            .build()
            .map_err(|e| QueueError::Unavailable(e.to_string()))?;
        self.client
            .send_message()
            .queue_url(url)
            .message_body(job.to_body())
            .message_attributes("reason", reason)
            .send()
            .await
            .map_err(|e| QueueError::Unavailable(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}
