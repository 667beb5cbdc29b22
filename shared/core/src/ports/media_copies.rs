//! Inbound MMS media copied into our bucket: where the media comes from (Twilio's media URLs,
//! behind the account's credentials), where the copies go (the media bucket), and the outbox
//! mark that keeps a copy job from being lost (`service::media_copy`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::ids::{ConversationId, MessageId};

/// Media as fetched: its declared type and its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedMedia {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// Worth another try later: no connection, no answer, 429, 5xx.
    #[error("media unavailable: {0}")]
    Unavailable(String),
    /// Never worth another try: gone (404), refused type, over the size limit.
    #[error("media refused: {0}")]
    Refused(String),
}

/// Fetches an inbound MMS's media from Twilio, and deletes Twilio's copy afterwards.
#[async_trait]
pub trait MediaSource: Send + Sync + 'static {
    /// The media at `url`, at most `max_bytes` of it (more is `Refused`).
    async fn fetch(&self, url: &str, max_bytes: usize) -> Result<FetchedMedia, MediaError>;
    /// Deletes the media resource at `url` (Twilio's `DELETE …/Media/{Sid}.json`).
    async fn delete(&self, url: &str) -> Result<(), MediaError>;
}

/// Our private media bucket (S3): the copies.
#[async_trait]
pub trait MediaCopies: Send + Sync + 'static {
    async fn put(&self, key: &str, content_type: &str, bytes: Vec<u8>) -> Result<(), MediaError>;
}

/// How a claimed copy attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CopyOutcome {
    /// Every item is in the bucket: the message's `media_keys` are set (once) and the mark goes.
    Copied(Vec<String>),
    /// Due again at the time given (the mark moves).
    Retry(DateTime<Utc>),
    /// No more attempts: the mark goes, the message keeps Twilio's URLs.
    GaveUp,
}

/// The media-copy mark of an inbound MMS (in the adapter, on the message's pointer item: its
/// GSI1 outbox entry `<due>#M#<conversationId>#<messageId>` and an attempt counter). Written
/// ahead by `WebhookStore::record_inbound` for an SMS message with media.
#[async_trait]
pub trait MediaCopyStore: Send + Sync + 'static {
    /// Claims the next attempt: one conditional update (the mark is there and due by `now`)
    /// that counts the attempt and moves the mark to `now + lease` (a worker that dies is
    /// retried by the sweeper after that). The attempt number, or None (done, or not due).
    async fn claim_media_copy(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        now: DateTime<Utc>,
        lease: std::time::Duration,
    ) -> Result<Option<u32>, StoreError>;
    /// Records how attempt `attempt` ended. False when the mark is gone or a later claim took
    /// over (nothing written).
    async fn finish_media_copy(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        attempt: u32,
        outcome: &CopyOutcome,
    ) -> Result<bool, StoreError>;
}

/// The media ports of a function that copies no media (it must never be asked to).
pub struct NoMedia;

#[async_trait]
impl MediaSource for NoMedia {
    async fn fetch(&self, _url: &str, _max_bytes: usize) -> Result<FetchedMedia, MediaError> {
        Err(MediaError::Unavailable("this function fetches no media".into()))
    }

    async fn delete(&self, _url: &str) -> Result<(), MediaError> {
        Err(MediaError::Unavailable("this function fetches no media".into()))
    }
}

#[async_trait]
impl MediaCopies for NoMedia {
    async fn put(&self, _key: &str, _content_type: &str, _bytes: Vec<u8>) -> Result<(), MediaError> {
        Err(MediaError::Unavailable("this function has no media bucket".into()))
    }
}
