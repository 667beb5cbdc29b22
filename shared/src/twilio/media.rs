//! [`MediaSource`] over Twilio's media URLs: `GET` with the account's credentials (Twilio may
//! require them), following Twilio's redirect to its storage host; `DELETE …/Media/{Sid}.json`
//! once our copy is stored. Credentials go only to Twilio's API host (the configured base URL):
//! a media URL elsewhere is fetched without them, and reqwest drops `Authorization` when a
//! redirect leaves the host (tested in tests/tests/media_copy.rs).

use async_trait::async_trait;
use reqwest::StatusCode;
use switchboard_core::ports::media_copies::{FetchedMedia, MediaError};
use switchboard_core::ports::MediaSource;
use switchboard_core::Secret;

use super::TwilioSettings;

pub struct TwilioMedia {
    http: reqwest::Client,
    api_base: String,
    username: String,
    password: Secret,
}

impl TwilioMedia {
    pub fn new(settings: &TwilioSettings) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .build()?;
        Ok(Self {
            http,
            api_base: settings.base_url.trim_end_matches('/').to_string(),
            username: settings.username.clone(),
            password: settings.password.clone(),
        })
    }

    /// The request, with the credentials only for Twilio's API host.
    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, url);
        if url.starts_with(&format!("{}/", self.api_base)) {
            request.basic_auth(&self.username, Some(self.password.expose()))
        } else {
            request
        }
    }
}

fn failed(status: StatusCode) -> MediaError {
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        MediaError::Unavailable(format!("HTTP {status}"))
    } else {
        MediaError::Refused(format!("HTTP {status}"))
    }
}

#[async_trait]
impl MediaSource for TwilioMedia {
    async fn fetch(&self, url: &str, max_bytes: usize) -> Result<FetchedMedia, MediaError> {
        let unavailable = |e: reqwest::Error| MediaError::Unavailable(e.without_url().to_string());
        let mut response = self.request(reqwest::Method::GET, url).send().await.map_err(unavailable)?;
        if !response.status().is_success() {
            return Err(failed(response.status()));
        }
        let too_large = || MediaError::Refused(format!("larger than {max_bytes} bytes"));
        if response.content_length().is_some_and(|length| length > max_bytes as u64) {
            return Err(too_large());
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unavailable)? {
            if bytes.len() + chunk.len() > max_bytes {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(FetchedMedia { content_type, bytes })
    }

    async fn delete(&self, url: &str) -> Result<(), MediaError> {
        // The webhook's MediaUrlN is the resource without its `.json`; the API deletes it with.
        let url = if url.ends_with(".json") { url.to_string() } else { format!("{url}.json") };
        let response = self
            .request(reqwest::Method::DELETE, &url)
            .send()
            .await
            .map_err(|e| MediaError::Unavailable(e.without_url().to_string()))?;
        match response.status() {
            status if status.is_success() || status == StatusCode::NOT_FOUND => Ok(()),
            status => Err(failed(status)),
        }
    }
}
