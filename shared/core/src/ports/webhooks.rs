//! What Twilio's webhooks read and write: the route of an inbound text, the once-per-MessageSid
//! record, relays, and status callbacks.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::conversation::ConversationDetail;
use crate::domain::ids::{ConversationId, DeliveryId, ParticipantId, UserId};
use crate::domain::message::{Delivery, DeliveryStatus, Message};
use crate::domain::phone::E164;

/// Where a route sends an inbound text.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteTarget {
    pub conversation_id: ConversationId,
    pub participant_id: ParticipantId,
    pub display_name: String,
    /// The one web user of a one-to-one (sms) conversation.
    pub inbox_user_id: Option<UserId>,
}

/// Everything an inbound text needs to know before it is stored: one batched read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InboundLookup {
    pub route: Option<RouteTarget>,
    pub in_pool: bool,
    pub owner_id: Option<UserId>,
    /// The phone is opted out of this number.
    pub opted_out: bool,
}

/// An opt-out change an inbound STOP or START makes.
#[derive(Clone, Copy, Debug)]
pub struct OptChange<'a> {
    pub number: &'a E164,
    pub phone: &'a E164,
    pub opted_out: bool,
}

pub struct InboundWrite<'a> {
    pub message_sid: &'a str,
    pub message: Option<&'a Message>,
    pub preview: String,
    /// A web user whose inbox line moves in the same transaction.
    pub inbox_user_id: Option<UserId>,
    pub opt_change: Option<OptChange<'a>>,
    /// A group text: the message enters the outbox as a pending relay (the pipeline's relay job
    /// fans it out), so the webhook answers without reading the group.
    pub relay: bool,
}

#[derive(Clone, Debug)]
pub struct StatusUpdate {
    pub delivery: DeliveryId,
    pub status: DeliveryStatus,
    pub sid: Option<String>,
    pub error_code: Option<i64>,
    pub error_message: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusOutcome {
    Applied,
    /// The delivery already has this status or a later one.
    Stale,
    /// No such delivery: nothing is created.
    Unknown,
}

#[async_trait]
pub trait WebhookStore: Send + Sync + 'static {
    /// The route of (to, from), who holds `to` and whether `from` opted out of it: one batched read.
    async fn inbound_lookup(&self, to: &E164, from: &E164) -> Result<InboundLookup, StoreError>;
    /// Once per MessageSid, one transaction: the inbound record, and the message with its
    /// pointer and the conversation's activity, and/or an opt-out change.
    /// `Duplicate` when the MessageSid was stored before; `ConversationInactive` when closed.
    async fn record_inbound(&self, write: &InboundWrite<'_>) -> Result<(), StoreError>;
    /// The relay job of an inbound group text, one transaction: the relays' deliveries (into the
    /// outbox), the web participants' inbox lines, and the message out of the outbox. False when
    /// it was done before (a job delivered twice); `Contention` when a participant left since
    /// `detail` was read (read it again and retry).
    async fn fan_out_relays(
        &self,
        detail: &ConversationDetail,
        message: &Message,
        deliveries: &[Delivery],
        preview: &str,
    ) -> Result<bool, StoreError>;
    /// A status callback: one conditional update that only moves the status forward.
    async fn apply_status(&self, update: &StatusUpdate) -> Result<StatusOutcome, StoreError>;
    /// The delivery that carries this Twilio SID.
    async fn delivery_by_sid(&self, sid: &str) -> Result<Option<DeliveryId>, StoreError>;
}
