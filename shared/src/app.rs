//! Application state: configuration and clients, built once per cold start and shared by
//! every invocation of the function.

use std::sync::Arc;

use crate::auth::tokens::TokenService;
use crate::config::{Config, ConfigError};
use crate::realtime::gateway::ApiGatewayManagement;
use crate::realtime::Publisher;
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
    /// Real-time events to web users' WebSockets (disabled without WEBSOCKET_API_ENDPOINT).
    pub events: Publisher,
}

impl AppState {
    /// Reads the environment and builds the DynamoDB client. Call once, in `main`.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let sdk_config = aws_config::load_from_env().await;
        let (client, round_trips) = DynamoStore::client_from_config(&sdk_config);
        let endpoint = config.websocket_api_endpoint.clone();
        let state = Self::new(config, client, round_trips)?;
        Ok(match endpoint {
            Some(endpoint) => {
                state.with_events(Publisher::new(Arc::new(ApiGatewayManagement::new(&sdk_config, &endpoint))))
            }
            None => state,
        })
    }

    /// The same state, publishing real-time events through `events`.
    pub fn with_events(self, events: Publisher) -> Self {
        Self { events, ..self }
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
            events: Publisher::disabled(),
        })
    }
}
