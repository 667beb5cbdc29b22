//! A function's state: the use cases' dependencies ([`App`]) over the DynamoDB store, the
//! configuration, and the DynamoDB request counter. Built once per cold start in `main`, with
//! only the clients that function uses:
//!
//! ```ignore
//! let state = AppState::from_env().await?;                          // DynamoDB only (auth, numbers)
//! let state = AppState::from_env().await?.with_events();            // + real-time events
//! let state = AppState::from_env().await?.with_events().with_queue()?; // + the delivery queue (messages)
//! let state = AppState::from_env().await?.with_events().with_queue()?.with_twilio()?; // + SMS (delivery)
//! ```
//!
//! A function that never calls `with_twilio` links no Twilio client at all; only the delivery
//! pipeline's worker talks to Twilio.

use std::sync::Arc;

use switchboard_core::auth::TokenService;
use switchboard_core::memory::MemoryStore;
use switchboard_core::ports::provider::NoProvider;
use switchboard_core::ports::sms::NotConfigured;
use switchboard_core::ports::{JobQueue, MediaStore, NumberProvider, SmsSender};
use switchboard_core::service::Publisher;
use switchboard_core::App;

use crate::apigw::ApiGatewayManagement;
use crate::config::{Config, ConfigError};
use crate::dynamo::{DynamoStore, RoundTrips};
use crate::s3::S3Media;
use crate::sqs::SqsQueue;
use crate::twilio::{TwilioClient, TwilioMedia, TwilioSettings};

#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub config: Arc<Config>,
    /// DynamoDB requests sent by this instance's client (for logs, tests and benchmarks).
    pub round_trips: RoundTrips,
    /// The AWS configuration the clients were built from (none over the in-memory store).
    aws: Option<Arc<aws_config::SdkConfig>>,
}

impl AppState {
    /// Reads and validates the environment, builds the DynamoDB client. Call once, in `main`.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let aws = aws_config::load_from_env().await;
        let (client, round_trips) = DynamoStore::client_from_config(&aws);
        let mut state = Self::with_dynamo(config, client, round_trips);
        state.aws = Some(Arc::new(aws));
        Ok(state)
    }

    /// Over a DynamoDB client built elsewhere (tests, tools).
    pub fn with_dynamo(config: Config, client: aws_sdk_dynamodb::Client, round_trips: RoundTrips) -> Self {
        let store = Arc::new(DynamoStore::new(client, config.table_name.clone()));
        let app = App::new(config.settings(), TokenService::new(&config.token_settings()), store);
        Self { app, config: Arc::new(config), round_trips, aws: None }
    }

    /// Over the in-memory store (fast tests): no AWS at all, same handlers.
    pub fn in_memory(config: Config, store: Arc<MemoryStore>) -> Self {
        let app = App::new(config.settings(), TokenService::new(&config.token_settings()), store);
        Self { app, config: Arc::new(config), round_trips: RoundTrips::default(), aws: None }
    }

    /// Publishes real-time events through the WebSocket API's management endpoint
    /// (`WEBSOCKET_API_ENDPOINT`); without one, or without AWS configuration, events stay off.
    pub fn with_events(self) -> Self {
        match (&self.aws, &self.config.websocket_api_endpoint) {
            (Some(aws), Some(endpoint)) => {
                let gateway = Arc::new(ApiGatewayManagement::new(aws, endpoint));
                self.with_publisher(Publisher::new(gateway))
            }
            _ => self,
        }
    }

    pub fn with_publisher(mut self, events: Publisher) -> Self {
        self.app = self.app.with_events(events);
        self
    }

    /// Sends SMS through Twilio when an account is configured; otherwise every send fails
    /// visibly (`NotConfigured`), never silently.
    pub fn with_twilio(self) -> Result<Self, ConfigError> {
        let sms: Arc<dyn SmsSender> = match self.twilio_client()? {
            Some(client) => client,
            None => Arc::new(NotConfigured),
        };
        Ok(self.with_sms(sms))
    }

    /// Lists and wires the account's numbers through Twilio when an account is configured
    /// (the `numbers` function); otherwise every call fails visibly.
    pub fn with_twilio_numbers(self) -> Result<Self, ConfigError> {
        let provider: Arc<dyn NumberProvider> = match self.twilio_client()? {
            Some(client) => client,
            None => Arc::new(NoProvider),
        };
        Ok(self.with_provider(provider))
    }

    fn twilio_client(&self) -> Result<Option<Arc<TwilioClient>>, ConfigError> {
        let Some(settings) = TwilioSettings::from_config(&self.config)? else {
            return Ok(None);
        };
        let client = TwilioClient::new(settings)
            .map_err(|e| ConfigError::Invalid { name: "TWILIO_API_BASE_URL", reason: e.to_string() })?;
        Ok(Some(Arc::new(client)))
    }

    pub fn with_provider(mut self, provider: Arc<dyn NumberProvider>) -> Self {
        self.app = self.app.with_provider(provider);
        self
    }

    /// The delivery pipeline's media: presigned GETs for Twilio and web members, and the copies
    /// of inbound MMS media fetched from Twilio with the account's credentials, through one S3
    /// client (`MEDIA_BUCKET`, required). Without a Twilio account nothing is copied (the copy
    /// jobs give up and messages keep Twilio's URLs).
    pub fn with_media_copies(mut self) -> Result<Self, ConfigError> {
        let bucket = self.media_bucket()?;
        self.app = self.app.with_media(bucket.clone());
        if let Some(twilio) = TwilioSettings::from_config(&self.config)? {
            let source =
                Arc::new(TwilioMedia::new(&twilio).map_err(|e| ConfigError::Invalid {
                    name: "TWILIO_API_BASE_URL",
                    reason: e.to_string(),
                })?);
            self.app = self.app.with_media_copies(source, bucket);
        }
        Ok(self)
    }

    pub fn with_sms(mut self, sms: Arc<dyn SmsSender>) -> Self {
        self.app = self.app.with_sms(sms);
        self
    }

    /// Queues the delivery pipeline's jobs on SQS (`DELIVERY_QUEUE_URL`, required; dead letters to
    /// `DELIVERY_DEAD_LETTER_QUEUE_URL`).
    pub fn with_queue(self) -> Result<Self, ConfigError> {
        let url = self.config.delivery_queue_url.clone().ok_or(ConfigError::Missing("DELIVERY_QUEUE_URL"))?;
        let aws = self.aws.clone().ok_or(ConfigError::Missing("AWS configuration"))?;
        let dead_letters = self.config.delivery_dead_letter_queue_url.clone();
        Ok(self.with_job_queue(Arc::new(SqsQueue::new(&aws, url, dead_letters))))
    }

    /// Presigns uploads and downloads in the media bucket (`MEDIA_BUCKET`, required).
    pub fn with_media(self) -> Result<Self, ConfigError> {
        let bucket = self.media_bucket()?;
        Ok(self.with_media_store(bucket))
    }

    fn media_bucket(&self) -> Result<Arc<S3Media>, ConfigError> {
        let bucket = self.config.media_bucket.clone().ok_or(ConfigError::Missing("MEDIA_BUCKET"))?;
        let aws = self.aws.clone().ok_or(ConfigError::Missing("AWS configuration"))?;
        Ok(Arc::new(S3Media::new(&aws, bucket)))
    }

    pub fn with_media_store(mut self, media: Arc<dyn MediaStore>) -> Self {
        self.app = self.app.with_media(media);
        self
    }

    pub fn with_job_queue(mut self, queue: Arc<dyn JobQueue>) -> Self {
        self.app = self.app.with_queue(queue);
        self
    }
}
