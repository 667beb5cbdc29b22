//! [`FakeMedia`]: the media bucket in memory. Presigned URLs are `memory://` URLs that name the
//! key, its signed type and length; a test "uploads" with [`FakeMedia::put`], as a browser
//! would through the URL.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::ports::media::{MediaError, MediaStore, Presigned};

#[derive(Default)]
pub struct FakeMedia {
    /// Key to size of the stored objects.
    objects: Mutex<HashMap<String, u64>>,
}

impl FakeMedia {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores an object of `size` bytes at `key` (what the browser's PUT does).
    pub fn put(&self, key: &str, size: u64) {
        self.objects.lock().unwrap_or_else(|p| p.into_inner()).insert(key.to_string(), size);
    }
}

#[async_trait]
impl MediaStore for FakeMedia {
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        lifetime: Duration,
    ) -> Result<Presigned, MediaError> {
        Ok(Presigned {
            url: format!("memory://media/{key}?put&expires={}", lifetime.as_secs()),
            headers: vec![
                ("Content-Type".into(), content_type.into()),
                ("Content-Length".into(), content_length.to_string()),
            ],
        })
    }

    async fn presign_get(&self, key: &str, lifetime: Duration) -> Result<String, MediaError> {
        Ok(format!("memory://media/{key}?get&expires={}", lifetime.as_secs()))
    }

    async fn size_of(&self, key: &str) -> Result<Option<u64>, MediaError> {
        Ok(self.objects.lock().unwrap_or_else(|p| p.into_inner()).get(key).copied())
    }
}
