//! Switchboard's domain crate, shared by every Lambda function.
//!
//! Layout (hexagonal):
//! - [`domain`]: entities and rules (users, phone numbers, pool numbers). No AWS, no HTTP.
//! - [`auth`]: password hashing and tokens.
//! - [`store`]: the storage port ([`store::Store`]) and its DynamoDB adapter ([`store::dynamo`]).
//! - [`service`]: use cases (accounts, numbers) written against the port.
//! - [`api`]: the Lambda/HTTP edge: request parsing, authentication, mapping results to JSON responses.
//! - [`realtime`]: real-time events to web users' WebSockets (the publisher and its gateway port).
//! - [`app`]: [`app::AppState`], built once per cold start from [`config::Config`].

pub mod api;
pub mod app;
pub mod auth;
pub mod config;
pub mod domain;
pub mod error;
pub mod observe;
pub mod realtime;
pub mod service;
pub mod sms;
pub mod store;
pub mod telemetry;

pub use app::AppState;
pub use config::Config;
pub use error::AppError;
