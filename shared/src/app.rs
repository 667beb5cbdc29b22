//! Application state: configuration and clients, built once per cold start and shared by
//! every invocation of the function.

use std::sync::Arc;

use crate::auth::tokens::TokenService;
use crate::config::{Config, ConfigError};
use crate::store::dynamo::{DynamoStore, RoundTrips};
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub tokens: Arc<TokenService>,
    /// DynamoDB requests sent by this instance's client (for logs, tests and benchmarks).
    pub round_trips: RoundTrips,
}

impl AppState {
    /// Reads the environment and builds the DynamoDB client. Call once, in `main`.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let (client, round_trips) = DynamoStore::client_from_env().await;
        Ok(Self::new(config, client, round_trips))
    }

    pub fn new(config: Config, client: aws_sdk_dynamodb::Client, round_trips: RoundTrips) -> Self {
        let store = DynamoStore::new(client, config.table_name.clone());
        Self {
            tokens: Arc::new(TokenService::new(&config)),
            config: Arc::new(config),
            store: Arc::new(store),
            round_trips,
        }
    }
}
