//! The media bucket over S3 (`MEDIA_BUCKET`): SigV4-presigned PUTs and GETs, HeadObject,
//! CopyObject (a send's attachments), and PutObject (the copies of inbound MMS media): one
//! client per function for all of it. Locally the bucket lives in moto (`AWS_ENDPOINT_URL_S3`,
//! path-style addressing).

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::config::RequestChecksumCalculation;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};
use aws_sdk_s3::primitives::ByteStream;
use switchboard_core::ports::media::{MediaError, MediaStore, Presigned, StoredObject};
use switchboard_core::ports::media_copies::MediaError as CopyError;
use switchboard_core::ports::MediaCopies;

pub struct S3Media {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Media {
    /// Path-style addressing when an endpoint is overridden (`AWS_ENDPOINT_URL_S3` or a shared
    /// one): the local server serves no bucket subdomains.
    /// Checksums only when required: a presigned PUT must not sign the checksum of an empty
    /// body, which the browser's upload would then contradict.
    pub fn new(sdk_config: &aws_config::SdkConfig, bucket: String) -> Self {
        let local = sdk_config.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        let config = aws_sdk_s3::config::Builder::from(sdk_config)
            .force_path_style(local)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .build();
        Self { client: aws_sdk_s3::Client::from_conf(config), bucket }
    }
}

fn backend(err: impl std::error::Error + Send + Sync + 'static) -> MediaError {
    MediaError::Backend(DisplayErrorContext(err).to_string())
}

fn presigning(lifetime: Duration) -> Result<PresigningConfig, MediaError> {
    PresigningConfig::expires_in(lifetime).map_err(backend)
}

/// The headers the signature covers (`X-Amz-SignedHeaders`), besides `host`, for the caller to
/// send as they are. Only those: the SDK also sets headers it does not sign (`x-amzn-trace-id`
/// under X-Ray), which a browser would send as well and the bucket's CORS rule would refuse.
fn signed_headers(request: &PresignedRequest) -> Vec<(String, String)> {
    let uri = request.uri();
    let signed: Vec<String> = uri
        .split_once('?')
        .map(|(_, query)| query)
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("X-Amz-SignedHeaders="))
        .map(|list| list.replace("%3B", ";").to_ascii_lowercase())
        .unwrap_or_default()
        .split(';')
        .map(str::to_string)
        .collect();
    request
        .headers()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("host") && signed.contains(&name.to_ascii_lowercase()))
        .map(|(name, value)| (canonical_header_name(name), value.to_string()))
        .collect()
}

fn canonical_header_name(name: &str) -> String {
    match name.to_ascii_lowercase().as_str() {
        "content-type" => "Content-Type".into(),
        "content-length" => "Content-Length".into(),
        _ => name.to_string(),
    }
}

#[async_trait]
impl MediaStore for S3Media {
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        lifetime: Duration,
    ) -> Result<Presigned, MediaError> {
        let length = i64::try_from(content_length).map_err(|e| MediaError::Backend(e.to_string()))?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(length)
            .presigned(presigning(lifetime)?)
            .await
            .map_err(backend)?;
        Ok(Presigned { url: request.uri().to_string(), headers: signed_headers(&request) })
    }

    async fn presign_get(&self, key: &str, lifetime: Duration) -> Result<String, MediaError> {
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(presigning(lifetime)?)
            .await
            .map_err(backend)?;
        Ok(request.uri().to_string())
    }

    async fn head(&self, key: &str) -> Result<Option<StoredObject>, MediaError> {
        match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(head) => Ok(Some(StoredObject {
                size: head.content_length().unwrap_or(0).max(0) as u64,
                content_type: head.content_type().unwrap_or_default().to_string(),
            })),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            // Without s3:ListBucket (least privilege: the functions never list), S3 answers a
            // HEAD of a missing key with 403, not 404: the upload is not there.
            Err(err) if err.raw_response().is_some_and(|r| r.status().as_u16() == 403) => Ok(None),
            Err(err) => Err(backend(err)),
        }
    }

    async fn copy(&self, from: &str, to: &str) -> Result<(), MediaError> {
        // Keys are ours (`uploads/<ulid>/<ulid>`, `media/<ulid>/<ulid>/<n>`): nothing to escape.
        let source = format!("{}/{from}", self.bucket);
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .key(to)
            .copy_source(source)
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl MediaCopies for S3Media {
    async fn put(&self, key: &str, content_type: &str, bytes: Vec<u8>) -> Result<(), CopyError> {
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
            .map_err(|e| CopyError::Unavailable(DisplayErrorContext(e).to_string()))
    }
}
