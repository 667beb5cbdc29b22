//! The delivery pipeline's queue: jobs that take the outbox (pending deliveries, pending group
//! relays) to Twilio. Its adapter is SQS (`switchboard::sqs`); the table stays the source of
//! truth (a job only names what to do, and a sweeper re-enqueues what a lost job left), so a job
//! delivered twice, or never, changes nothing.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::ids::{ConversationId, DeliveryId, MessageId};

/// One unit of the pipeline's work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Job {
    /// Send one pending delivery (an SMS to one phone for one message).
    Delivery(DeliveryJob),
    /// Fan out an inbound group text: the relays to the other phones and the web members' inbox
    /// lines.
    Relay(RelayJob),
    /// Copy an inbound MMS's media into our bucket (`service::media_copy`).
    MediaCopy(RelayJob),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryJob {
    pub id: DeliveryId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RelayJob {
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
}

impl Job {
    pub fn delivery(id: DeliveryId) -> Self {
        Self::Delivery(DeliveryJob { id })
    }

    pub fn relay(conversation_id: ConversationId, message_id: MessageId) -> Self {
        Self::Relay(RelayJob { conversation_id, message_id })
    }

    pub fn media_copy(conversation_id: ConversationId, message_id: MessageId) -> Self {
        Self::MediaCopy(RelayJob { conversation_id, message_id })
    }

    /// The job as a queue message body: `{"delivery":{"id":"…"}}`, `{"relay":{…}}`.
    pub fn to_body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_body(body: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(body)
    }

    /// What the job is about, for logs and deduplication.
    pub fn key(&self) -> String {
        match self {
            Self::Delivery(job) => format!("delivery:{}", job.id),
            Self::Relay(job) => format!("relay:{}", job.message_id),
            Self::MediaCopy(job) => format!("media:{}", job.message_id),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the queue refused or did not answer: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait JobQueue: Send + Sync + 'static {
    /// Queues jobs, each visible after `delay` (at most 15 minutes).
    async fn enqueue(&self, jobs: &[Job], delay: Duration) -> Result<(), QueueError>;
    /// Parks a job nobody will retry (a delivery that used its last attempt) where operators
    /// look: the dead-letter queue, with the reason.
    async fn dead_letter(&self, job: &Job, reason: &str) -> Result<(), QueueError>;
}

/// The queue of a function that queues nothing (it must never be asked to).
pub struct NoQueue;

#[async_trait]
impl JobQueue for NoQueue {
    async fn enqueue(&self, jobs: &[Job], _delay: Duration) -> Result<(), QueueError> {
        Err(QueueError::Unavailable(format!("this function has no delivery queue ({} jobs)", jobs.len())))
    }

    async fn dead_letter(&self, job: &Job, _reason: &str) -> Result<(), QueueError> {
        Err(QueueError::Unavailable(format!("this function has no dead-letter queue ({})", job.key())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_round_trip_as_small_json_bodies() {
        let id = DeliveryId {
            conversation_id: ConversationId::new(),
            message_id: MessageId::new(),
            participant_id: crate::domain::ids::ParticipantId::new(),
        };
        for job in [
            Job::delivery(id),
            Job::relay(id.conversation_id, id.message_id),
            Job::media_copy(id.conversation_id, id.message_id),
        ] {
            assert_eq!(Job::from_body(&job.to_body()).unwrap(), job);
        }
        assert_eq!(Job::delivery(id).to_body(), format!(r#"{{"delivery":{{"id":"{id}"}}}}"#));
        assert!(Job::from_body(r#"{"delivery":{"id":"nope"}}"#).is_err());
    }
}
