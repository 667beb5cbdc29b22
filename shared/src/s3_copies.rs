//! [`MediaCopies`] over S3: the copies of inbound MMS media in the private media bucket
//! (`MEDIA_BUCKET`), one PutObject each.

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use switchboard_core::ports::media_copies::MediaError;
use switchboard_core::ports::MediaCopies;

pub struct S3Copies {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Copies {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into() }
    }
}

#[async_trait]
impl MediaCopies for S3Copies {
    async fn put(&self, key: &str, content_type: &str, bytes: Vec<u8>) -> Result<(), MediaError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map(|_| ())
            // S3's answers (throttling, 5xx, no connection) are all worth another attempt.
            .map_err(|e| MediaError::Unavailable(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))
    }
}
