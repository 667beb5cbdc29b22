//! Twilio: the Messages API client (the SMS port's adapter) and webhook signatures.

pub mod client;
mod numbers;
pub mod signature;

pub use client::{TwilioClient, TwilioSettings};
