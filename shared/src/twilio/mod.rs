//! Twilio: the Messages API client (the SMS port's adapter) and webhook signatures.

pub mod client;
pub mod media;
mod numbers;
pub mod signature;

pub use client::{TwilioClient, TwilioSettings};
pub use media::TwilioMedia;
