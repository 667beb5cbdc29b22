//! Entities, rules and typed ids. Nothing here knows about Lambda, HTTP or DynamoDB, nor about
//! the ports and services above it.

pub mod contact;
pub mod conversation;
pub mod export;
pub mod ids;
pub mod media;
pub mod message;
pub mod number;
pub mod phone;
pub mod realtime;
pub mod routing;
pub mod user;

pub use ids::{
    ConnectionId, ContactId, ConversationId, DeliveryId, InvalidId, MessageId, ParticipantId, UserId,
};
