//! [`MediaCopyStore`] over the memory state, and [`FakeMediaCopies`]: Twilio's media URLs and our
//! bucket, scripted.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::MemoryStore;
use crate::domain::ids::{ConversationId, MessageId};
use crate::ports::media_copies::{CopyOutcome, FetchedMedia, MediaError};
use crate::ports::{MediaCopies, MediaCopyStore, MediaSource, StoreError};

/// An early job (its due time not reached) is still accepted this close to it: clocks differ.
const DUE_SLACK: chrono::Duration = chrono::Duration::seconds(2);

#[async_trait]
impl MediaCopyStore for MemoryStore {
    /// Only while the mark is there and due by `now` (plus slack): counts the attempt and moves
    /// the mark to `now + lease`.
    async fn claim_media_copy(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Option<u32>, StoreError> {
        let mut state = self.call()?;
        let Some((due, attempts)) = state.media_marks.get_mut(&(conversation_id, message_id)) else {
            return Ok(None);
        };
        if *due > now + DUE_SLACK {
            return Ok(None);
        }
        *attempts += 1;
        *due = now + chrono::Duration::from_std(lease).unwrap_or_default();
        Ok(Some(*attempts))
    }

    /// Only while the mark is there with `attempt` attempts: Copied sets the message's media
    /// keys (only if it has none) and drops the mark, in one transaction; Retry moves the mark;
    /// GaveUp drops it.
    async fn finish_media_copy(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        attempt: u32,
        outcome: &CopyOutcome,
    ) -> Result<bool, StoreError> {
        let mut state = self.call()?;
        let mark = (conversation_id, message_id);
        if state.media_marks.get(&mark).is_none_or(|(_, attempts)| *attempts != attempt) {
            return Ok(false);
        }
        match outcome {
            CopyOutcome::Copied(keys) => {
                let Some(message) = state.messages.get_mut(&mark).filter(|m| m.media_keys.is_empty()) else {
                    return Ok(false);
                };
                message.media_keys = keys.clone();
                state.media_marks.remove(&mark);
            }
            CopyOutcome::Retry(at) => {
                if let Some((due, _)) = state.media_marks.get_mut(&mark) {
                    *due = *at;
                }
            }
            CopyOutcome::GaveUp => {
                state.media_marks.remove(&mark);
            }
        }
        Ok(true)
    }
}

/// Twilio's media URLs (each answers with the next scripted result, else the standing media)
/// and our bucket (what was put, in order). Every fetch, delete and put is recorded.
#[derive(Default)]
pub struct FakeMediaCopies {
    state: Mutex<MediaState>,
}

#[derive(Default)]
struct MediaState {
    media: HashMap<String, FetchedMedia>,
    scripted: HashMap<String, VecDeque<MediaError>>,
    fetched: Vec<String>,
    deleted: Vec<String>,
    puts: Vec<(String, String, Vec<u8>)>,
}

impl FakeMediaCopies {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, MediaState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What `url` serves.
    pub fn serve(&self, url: &str, content_type: &str, bytes: &[u8]) {
        let media = FetchedMedia { content_type: content_type.into(), bytes: bytes.to_vec() };
        self.lock().media.insert(url.into(), media);
    }

    /// The next fetch of `url` fails with `error` (once per call).
    pub fn fail_next(&self, url: &str, error: MediaError) {
        self.lock().scripted.entry(url.into()).or_default().push_back(error);
    }

    /// The URLs fetched, in order (failed fetches too).
    pub fn fetched(&self) -> Vec<String> {
        self.lock().fetched.clone()
    }

    pub fn deleted(&self) -> Vec<String> {
        self.lock().deleted.clone()
    }

    /// (key, content type, bytes) of every put, in order.
    pub fn puts(&self) -> Vec<(String, String, Vec<u8>)> {
        self.lock().puts.clone()
    }
}

#[async_trait]
impl MediaSource for FakeMediaCopies {
    async fn fetch(&self, url: &str, max_bytes: usize) -> Result<FetchedMedia, MediaError> {
        let mut state = self.lock();
        state.fetched.push(url.into());
        if let Some(error) = state.scripted.get_mut(url).and_then(VecDeque::pop_front) {
            return Err(error);
        }
        match state.media.get(url) {
            Some(media) if media.bytes.len() > max_bytes => Err(MediaError::Refused("too large".into())),
            Some(media) => Ok(media.clone()),
            None => Err(MediaError::Refused("404".into())),
        }
    }

    async fn delete(&self, url: &str) -> Result<(), MediaError> {
        self.lock().deleted.push(url.into());
        Ok(())
    }
}

#[async_trait]
impl MediaCopies for FakeMediaCopies {
    async fn put(&self, key: &str, content_type: &str, bytes: Vec<u8>) -> Result<(), MediaError> {
        self.lock().puts.push((key.into(), content_type.into(), bytes));
        Ok(())
    }
}
