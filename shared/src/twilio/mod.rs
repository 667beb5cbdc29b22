//! Twilio: the Messages API client (the SMS port's adapter) and webhook signatures.

pub mod client;
pub mod signature;

pub use client::{TwilioClient, TwilioSettings};
