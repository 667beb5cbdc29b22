//! The pool of Twilio numbers that admins manage and users are given.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ids::UserId;
use super::phone::E164;

/// One Twilio number in the pool. `owner_id` is set while it is some user's virtual number;
/// `route_count` counts the group routes it carries as a proxy number.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolNumber {
    pub phone_number: E164,
    pub owner_id: Option<UserId>,
    pub added_at: DateTime<Utc>,
    pub assigned_at: Option<DateTime<Utc>>,
    pub route_count: u32,
}

impl PoolNumber {
    pub fn status(&self) -> NumberStatus {
        if self.owner_id.is_some() {
            NumberStatus::Assigned
        } else if self.route_count > 0 {
            NumberStatus::Proxy
        } else {
            NumberStatus::Free
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum NumberStatus {
    /// In nobody's hands and carrying no group.
    Free,
    /// A user's virtual number.
    Assigned,
    /// Carries group routes as a proxy number; cannot be assigned or removed until it carries none.
    Proxy,
}
