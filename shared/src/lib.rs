//! Switchboard's adapters and HTTP edge, over `switchboard-core` (the domain, the ports and the
//! use cases, re-exported here as [`core`]).
//!
//! - [`dynamo`]: the storage ports over one DynamoDB table (keys in [`dynamo::keys`]).
//! - [`twilio`]: the SMS port over Twilio's Messages API, and webhook signatures.
//! - [`apigw`]: the WebSocket gateway port over API Gateway's management API.
//! - [`s3`]: the media bucket over S3 (presigned uploads and downloads, attachments, MMS copies).
//! - [`sqs`]: the delivery pipeline's queue over SQS.
//! - [`api`]: the HTTP edge: route tables, the caller, request parsing, the one error-to-HTTP
//!   mapping, the Twilio webhooks' forms, the request log line and metrics.
//! - [`config`], [`app`]: validated settings and the per-function state, built once per cold start.
//! - [`telemetry`]: JSON logs.

pub mod api;
pub mod apigw;
pub mod app;
pub mod config;
pub mod dynamo;
pub mod s3;
pub mod sqs;
pub mod telemetry;
pub mod twilio;

pub use app::AppState;
pub use config::Config;
pub use switchboard_core as core;
pub use switchboard_core::AppError;

#[doc(hidden)]
pub use pastey as __pastey;
