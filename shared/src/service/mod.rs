//! Use cases, written against the [`crate::store::Store`] port. Each returns domain values or
//! an [`crate::error::AppError`]; the function crates turn those into HTTP.

pub mod accounts;
pub mod conversations;
pub mod inbound;
pub mod messages;
pub mod numbers;
pub mod realtime;
pub mod status;
