//! [`FakeMedia`]: the media bucket in memory. Presigned URLs are `memory://` URLs that name the
//! key, its signed type and length; a test "uploads" with [`FakeMedia::put`], as a browser
//! would through the URL.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::ports::media::{MediaError, MediaStore, Presigned, StoredObject};

#[derive(Default)]
pub struct FakeMedia {
    /// The stored objects by key.
    objects: Mutex<HashMap<String, StoredObject>>,
}

impl FakeMedia {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores a PNG of `size` bytes at `key` (what the browser's PUT does).
    pub fn put(&self, key: &str, size: u64) {
        let object = StoredObject { size, content_type: "image/png".into() };
        self.objects.lock().unwrap_or_else(|p| p.into_inner()).insert(key.to_string(), object);
    }

    /// Removes the object at `key` (the lifecycle's expiry).
    pub fn remove(&self, key: &str) {
        self.objects.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }

    /// The stored object at `key`, if any.
    pub fn get(&self, key: &str) -> Option<StoredObject> {
        self.objects.lock().unwrap_or_else(|p| p.into_inner()).get(key).cloned()
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

    async fn head(&self, key: &str) -> Result<Option<StoredObject>, MediaError> {
        Ok(self.get(key))
    }

    async fn copy(&self, from: &str, to: &str) -> Result<(), MediaError> {
        let mut objects = self.objects.lock().unwrap_or_else(|p| p.into_inner());
        let object =
            objects.get(from).cloned().ok_or_else(|| MediaError::Backend(format!("no object {from}")))?;
        objects.insert(to.to_string(), object);
        Ok(())
    }
}
