//! Switchboard's core, shared by every Lambda function through the `switchboard` crate.
//!
//! Layers, lowest first; each module uses only the ones before it (tests/tests/layers.rs checks):
//! - [`error`], [`secret`], [`domain`]: entities, rules and typed ids. No AWS, no HTTP.
//! - [`observe`]: what a request did (counters, ids), for its one log line and metrics document.
//! - [`ports`]: what the use cases need from outside, one small trait per aggregate.
//! - [`auth`]: password hashing, tokens, and the session a token names.
//! - [`service`]: the use cases, written against the ports, and [`service::App`], their dependencies.
//! - [`memory`]: in-memory fakes of every port, for fast tests.
//!
//! The adapters (DynamoDB, Twilio, API Gateway) and the HTTP edge are in the `switchboard` crate,
//! which this one cannot see.

pub mod auth;
pub mod domain;
pub mod error;
pub mod memory;
pub mod observe;
pub mod ports;
pub mod secret;
pub mod service;

pub use error::AppError;
pub use secret::Secret;
pub use service::{App, Settings};
