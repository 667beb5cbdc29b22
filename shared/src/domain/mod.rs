//! Entities and rules. Nothing here knows about Lambda, HTTP or DynamoDB.

pub mod number;
pub mod phone;
pub mod user;
