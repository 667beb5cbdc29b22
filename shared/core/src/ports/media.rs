//! The media bucket: presigned requests that let a browser upload and Twilio or a browser
//! download a file without the bucket ever being public. Its adapter is S3
//! (`switchboard::s3`); [`crate::memory::FakeMedia`] stands in for it in fast tests.

use std::time::Duration;

use async_trait::async_trait;

/// A request someone else makes (the browser's PUT, Twilio's GET), signed by us.
#[derive(Clone, Debug, PartialEq)]
pub struct Presigned {
    pub url: String,
    /// The headers the request must carry exactly as signed (`Content-Type`, `Content-Length`).
    pub headers: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum MediaError {
    #[error("media storage is not configured (no MEDIA_BUCKET)")]
    NotConfigured,
    #[error("media storage failed: {0}")]
    Backend(String),
}

#[async_trait]
pub trait MediaStore: Send + Sync {
    /// A PUT of `key` that the store accepts only with this content type and exact length.
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        lifetime: Duration,
    ) -> Result<Presigned, MediaError>;

    /// A GET of `key`, valid for `lifetime`.
    async fn presign_get(&self, key: &str, lifetime: Duration) -> Result<String, MediaError>;

    /// The stored object's size and type (HeadObject); None if nothing is stored at `key`.
    async fn head(&self, key: &str) -> Result<Option<StoredObject>, MediaError>;

    /// Copies the object at `from` to `to` inside the bucket (CopyObject: no bytes through us).
    async fn copy(&self, from: &str, to: &str) -> Result<(), MediaError>;
}

/// What HeadObject tells of a stored object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredObject {
    pub size: u64,
    pub content_type: String,
}

/// The media store of a function without a bucket: every call fails visibly.
pub struct NoMediaStore;

#[async_trait]
impl MediaStore for NoMediaStore {
    async fn presign_put(&self, _: &str, _: &str, _: u64, _: Duration) -> Result<Presigned, MediaError> {
        Err(MediaError::NotConfigured)
    }
    async fn presign_get(&self, _: &str, _: Duration) -> Result<String, MediaError> {
        Err(MediaError::NotConfigured)
    }
    async fn head(&self, _: &str) -> Result<Option<StoredObject>, MediaError> {
        Err(MediaError::NotConfigured)
    }
    async fn copy(&self, _: &str, _: &str) -> Result<(), MediaError> {
        Err(MediaError::NotConfigured)
    }
}
