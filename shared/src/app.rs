//! Application state: configuration and clients, built once per cold start and shared by
//! every invocation of the function.

use std::sync::Arc;

use crate::auth::tokens::TokenService;
use crate::config::{Config, ConfigError};
use crate::sms::twilio::TwilioClient;
use crate::sms::{NotConfigured, SmsSender};
use crate::store::dynamo::{DynamoStore, RoundTrips};
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub tokens: Arc<TokenService>,
    /// DynamoDB requests sent by this instance's client (for logs, tests and benchmarks).
    pub round_trips: RoundTrips,
    pub sms: Arc<dyn SmsSender>,
}

impl AppState {
    /// Reads the environment and builds the DynamoDB client. Call once, in `main`.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let (client, round_trips) = DynamoStore::client_from_env().await;
        Self::new(config, client, round_trips)
    }

    /// Builds every client once. The SMS sender is Twilio when an account is configured, and
    /// otherwise one that fails every send visibly.
    pub fn new(
        config: Config,
        client: aws_sdk_dynamodb::Client,
        round_trips: RoundTrips,
    ) -> Result<Self, ConfigError> {
        let sms: Arc<dyn SmsSender> =
            match config.twilio()? {
                Some(settings) => Arc::new(TwilioClient::new(settings).map_err(|e| {
                    ConfigError::Invalid { name: "TWILIO_API_BASE_URL", reason: e.to_string() }
                })?),
                None => Arc::new(NotConfigured),
            };
        let store = DynamoStore::new(client, config.table_name.clone());
        Ok(Self {
            tokens: Arc::new(TokenService::new(&config)),
            config: Arc::new(config),
            store: Arc::new(store),
            round_trips,
            sms,
        })
    }
}
