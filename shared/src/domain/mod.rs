//! Entities and rules. Nothing here knows about Lambda, HTTP or DynamoDB.

pub mod conversation;
pub mod message;
pub mod number;
pub mod phone;
pub mod routing;
pub mod user;
