//! The adapter real-time events leave through: API Gateway's management API
//! (`POST /@connections/{id}`), at the endpoint of the WebSocket API's stage
//! (`WEBSOCKET_API_ENDPOINT`; `make dev` points it at the local WebSocket stand-in).

use async_trait::async_trait;
use aws_sdk_apigatewaymanagement::error::SdkError;
use aws_sdk_apigatewaymanagement::operation::post_to_connection::PostToConnectionError;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use switchboard_core::domain::ids::ConnectionId;
use switchboard_core::ports::{ConnectionGateway, GatewayError};

/// The management API client, built once per cold start.
pub struct ApiGatewayManagement {
    client: aws_sdk_apigatewaymanagement::Client,
}

impl ApiGatewayManagement {
    /// `endpoint` is `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`.
    pub fn new(sdk_config: &aws_config::SdkConfig, endpoint: &str) -> Self {
        let config =
            aws_sdk_apigatewaymanagement::config::Builder::from(sdk_config).endpoint_url(endpoint).build();
        Self { client: aws_sdk_apigatewaymanagement::Client::from_conf(config) }
    }
}

#[async_trait]
impl ConnectionGateway for ApiGatewayManagement {
    async fn post(&self, connection_id: &ConnectionId, data: Vec<u8>) -> Result<(), GatewayError> {
        let request = self.client.post_to_connection().connection_id(connection_id.as_str());
        match request.data(Blob::new(data)).send().await {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if matches!(e.err(), PostToConnectionError::GoneException(_)) => {
                Err(GatewayError::Gone)
            }
            Err(SdkError::ServiceError(e)) if e.raw().status().as_u16() == 410 => Err(GatewayError::Gone),
            Err(e) => Err(GatewayError::Other(
                aws_sdk_apigatewaymanagement::error::DisplayErrorContext(e).to_string(),
            )),
        }
    }
}
