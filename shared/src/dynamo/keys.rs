//! The key layout of the single table. Every entity's keys are built here and nowhere else;
//! `docs/data-model.md` lists them with the access pattern each serves.

use std::fmt::Display;

use switchboard_core::domain::ids::UserId;

/// Partition and sort key attribute names of the table and of its one GSI.
pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1: &str = "GSI1";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";

// User: PK=USER#<id> SK=PROFILE; in the directory (GSI1) while active.
pub fn user_pk(id: impl Display) -> String {
    format!("USER#{id}")
}
pub const USER_SK: &str = "PROFILE";
pub const DIRECTORY_PK: &str = "USERS";
pub fn directory_sk(username_normalized: &str) -> String {
    username_normalized.to_string()
}

// Uniqueness items: one per email and per username, written with the user in one transaction.
pub fn email_pk(email: impl Display) -> String {
    format!("EMAIL#{email}")
}
pub fn username_pk(username_normalized: impl Display) -> String {
    format!("USERNAME#{username_normalized}")
}
pub const UNIQUE_SK: &str = "UNIQUE";

// Pool number: PK=NUMBER#<e164> SK=NUMBER; GSI1PK=POOL, GSI1SK=FREE#<e164> | ASSIGNED#<e164> |
// PROXY#<e164>. A number moves to PROXY# when it first carries a group route and stays there
// (preferred for later groups); its `routeCount` says whether it carries any now.
pub fn number_pk(number: impl Display) -> String {
    format!("NUMBER#{number}")
}
pub const NUMBER_SK: &str = "NUMBER";
pub const POOL_PK: &str = "POOL";
pub const FREE_PREFIX: &str = "FREE#";
pub const ASSIGNED_PREFIX: &str = "ASSIGNED#";
pub const PROXY_PREFIX: &str = "PROXY#";
pub fn pool_sk(prefix: &str, number: impl Display) -> String {
    format!("{prefix}{number}")
}

// Conversation: PK=CONV#<id>; SK=#META for the conversation ('#' sorts before 'P'), and
// PART#USER#<userId> | PART#SMS#<phone> per participant (deterministic, so a member cannot be
// added twice). User participants are also in the inbox: GSI1PK=INBOX#<userId>,
// GSI1SK=<lastMessageAt>#<conversationId>.
pub fn conversation_pk(id: impl Display) -> String {
    format!("CONV#{id}")
}
pub const CONVERSATION_SK: &str = "#META";
pub const PARTICIPANT_PREFIX: &str = "PART#";
pub fn user_participant_sk(user_id: impl Display) -> String {
    format!("PART#USER#{user_id}")
}
pub fn sms_participant_sk(phone: impl Display) -> String {
    format!("PART#SMS#{phone}")
}
pub fn inbox_pk(user_id: impl Display) -> String {
    format!("INBOX#{user_id}")
}
pub fn inbox_sk(last_activity: impl Display, conversation_id: impl Display) -> String {
    format!("{last_activity}#{conversation_id}")
}

// The idle index: an SMS or group conversation's meta item, while it has an inactivity timer,
// carries GSI1PK=IDLE#<shard>, GSI1SK=<deadline>#<conversationId> (deadline in the `stamp` form):
// the sweeper finds the conversations due with one Query per shard. Sends move the entry
// forward in the meta update that records their activity; closing removes it.
pub const IDLE_SHARDS: u32 = 4;
pub fn idle_pk(shard: u32) -> String {
    format!("IDLE#{shard}")
}
pub fn idle_shard(conversation_id: impl Display) -> u32 {
    shard_of(conversation_id, IDLE_SHARDS)
}
pub fn idle_sk(deadline: &str, conversation_id: impl Display) -> String {
    format!("{deadline}#{conversation_id}")
}

// Route: PK=ROUTE#<our number>, SK=PHONE#<their phone>. Partitioned by number so "does any
// route use this number" is a one-item Query.
pub fn route_pk(number: impl Display) -> String {
    format!("ROUTE#{number}")
}
pub fn route_sk(phone: impl Display) -> String {
    format!("PHONE#{phone}")
}

// Direct pair: one per unordered pair of users.
pub fn direct_pk(a: UserId, b: UserId) -> String {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    format!("DIRECT#{low}#{high}")
}

// Messages of a conversation: PK=MSGS#<conversationId>, SK=MSG#<ulid> (newest first by reversing
// the Query); its SMS deliveries beside it: SK=DLV#<messageId>#<participantId>, so the deliveries
// of a page of messages are one contiguous range. Kept out of the CONV# partition so reading a
// conversation with its participants stays one small Query.
pub fn messages_pk(conversation_id: impl Display) -> String {
    format!("MSGS#{conversation_id}")
}
pub const MESSAGE_PREFIX: &str = "MSG#";
pub fn message_sk(message_id: impl Display) -> String {
    format!("MSG#{message_id}")
}
/// Past the last message key: `$` sorts right after `#`, so `MSG#<id>` .. `MSG$` is every
/// message from `<id>` on, and no delivery (`DLV#` sorts before).
pub const MESSAGES_END: &str = "MSG$";
pub const DELIVERY_PREFIX: &str = "DLV#";
pub fn delivery_sk(message_id: impl Display, participant_id: impl Display) -> String {
    format!("DLV#{message_id}#{participant_id}")
}
/// A delivery is found by Twilio's SID through GSI1 once the SID is known.
pub fn sid_pk(sid: impl Display) -> String {
    format!("SID#{sid}")
}
pub const SID_SK: &str = "DELIVERY";

// The outbox: while a delivery is pending (or a group text's relay is), its GSI1 entry is
// GSI1PK=OUTBOX#<shard>, GSI1SK=<due>#D#<deliveryId> (or <due>#R#<conversationId>#<messageId>,
// or an inbound MMS's media copy <due>#M#<conversationId>#<messageId> on its pointer item),
// so the sweeper finds what is overdue with one Query per shard. Leaving the outbox removes the
// entry (a delivery's GSI1 then names its SID). Sharded so the outbox's writes spread over
// several index partitions.
pub const OUTBOX_SHARDS: u32 = 4;
pub const OUTBOX_PREFIX: &str = "OUTBOX#";
pub fn outbox_pk(shard: u32) -> String {
    format!("{OUTBOX_PREFIX}{shard}")
}
/// The shard of an outbox entry: from the random tail of its id, so entries spread evenly.
pub fn outbox_shard(id: impl Display) -> u32 {
    shard_of(id, OUTBOX_SHARDS)
}

/// The byte value of the id's last character (random in a ULID) modulo `shards`.
fn shard_of(id: impl Display, shards: u32) -> u32 {
    id.to_string().bytes().last().map_or(0, |b| u32::from(b) % shards)
}
pub fn outbox_delivery_sk(due: &str, delivery_id: impl Display) -> String {
    format!("{due}#D#{delivery_id}")
}
pub fn outbox_relay_sk(due: &str, conversation_id: impl Display, message_id: impl Display) -> String {
    format!("{due}#R#{conversation_id}#{message_id}")
}

/// The media-copy mark of an inbound MMS (on its message pointer item, which has no other
/// GSI1 entry: a group MMS carries its relay mark on the message item at the same time).
pub fn outbox_media_sk(due: &str, conversation_id: impl Display, message_id: impl Display) -> String {
    format!("{due}#M#{conversation_id}#{message_id}")
}

// Message by id alone (edit, delete): a pointer to its conversation.
pub fn message_pointer_pk(message_id: impl Display) -> String {
    format!("MESSAGE#{message_id}")
}
pub const MESSAGE_POINTER_SK: &str = "MESSAGE";

// Idempotency of a send: one per (user, Idempotency-Key), expiring after 24 hours (TTL).
pub fn idempotency_pk(user_id: impl Display, key: impl Display) -> String {
    format!("IDEMP#{user_id}#{key}")
}
pub const IDEMPOTENCY_SK: &str = "IDEMP";

// Inbound idempotency: one per Twilio MessageSid, written with the message (TTL 7 days).
pub fn inbound_pk(message_sid: impl Display) -> String {
    format!("INBOUND#{message_sid}")
}
pub const INBOUND_SK: &str = "INBOUND";

// Opt-out of a phone from one of our numbers (STOP / START).
pub fn opt_out_pk(sender: impl Display) -> String {
    format!("OPTOUT#{sender}")
}
pub fn opt_out_sk(phone: impl Display) -> String {
    format!("PHONE#{phone}")
}

// Connection (an open WebSocket), two items written together: PK=USER#<userId>
// SK=CONN#<connectionId>, so "the connections of user U" is one Query; and PK=CONN#<connectionId>
// SK=CONNECTION, so the user of a connection is one consistent GetItem ($disconnect and the
// default route only know the connection id). TTL on expiresAt.
pub const CONNECTION_PREFIX: &str = "CONN#";
pub fn connection_sk(connection_id: impl Display) -> String {
    format!("{CONNECTION_PREFIX}{connection_id}")
}
pub fn connection_pk(connection_id: impl Display) -> String {
    format!("{CONNECTION_PREFIX}{connection_id}")
}
pub const CONNECTION_SK: &str = "CONNECTION";

// Contacts: one partition per owner, PK=CONTACTS#<userId>. The contact: SK=CONTACT#<contactId>,
// listed by name in GSI1 (GSI1PK=CONTACTS#<userId>, GSI1SK=<normalised name>#<contactId>: a
// prefix search is a key condition). The claim of its phone: SK=PHONE#<e164> (unique per owner
// by its key; carries the name a conversation shows for the phone).
pub fn contacts_pk(owner: impl Display) -> String {
    format!("CONTACTS#{owner}")
}
pub fn contact_sk(id: impl Display) -> String {
    format!("CONTACT#{id}")
}
pub fn contact_phone_sk(phone: impl Display) -> String {
    format!("PHONE#{phone}")
}
pub fn contact_name_sk(name_normalized: &str, id: impl Display) -> String {
    format!("{name_normalized}#{id}")
}
