//! Typed items: what each entity looks like in the table (mapped with serde_dynamo).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use switchboard_core::domain::contact::{normalize_contact_name, Contact};
use switchboard_core::domain::conversation::{
    Conversation, ConversationDetail, ConversationKind, ConversationStatus, IdleTimer, InboxEntry, Member,
    Participant, ParticipantRole, ReadState,
};
use switchboard_core::domain::ids::{ContactId, ConversationId, MessageId, ParticipantId, UserId};
use switchboard_core::domain::message::{
    Delivery, DeliveryStatus, Encoding, Message, Segments, Sender, SenderKind, TENTATIVE_FAILURE_RANK,
};
use switchboard_core::domain::number::PoolNumber;
use switchboard_core::domain::phone::E164;
use switchboard_core::domain::user::{normalize_username, User};
use switchboard_core::ports::StoreError;

use super::keys;

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    #[serde(rename = "GSI1PK", default, skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    #[serde(rename = "GSI1SK", default, skip_serializing_if = "Option::is_none")]
    pub gsi1sk: Option<String>,
    pub entity: String,
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_number: Option<String>,
    pub active: bool,
    pub token_version: u32,
    #[serde(with = "stamped")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "stamped")]
    pub updated_at: DateTime<Utc>,
}

impl From<&User> for UserItem {
    fn from(user: &User) -> Self {
        let listed = user.active;
        Self {
            pk: keys::user_pk(user.id),
            sk: keys::USER_SK.into(),
            gsi1pk: listed.then(|| keys::DIRECTORY_PK.into()),
            gsi1sk: listed.then(|| keys::directory_sk(&normalize_username(&user.username))),
            entity: "user".into(),
            id: user.id,
            username: user.username.clone(),
            email: user.email.clone(),
            password_hash: user.password_hash.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            phone_number: user.phone_number.as_ref().map(|p| p.to_string()),
            virtual_number: user.virtual_number.as_ref().map(|p| p.to_string()),
            active: user.active,
            token_version: user.token_version,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

impl From<UserItem> for User {
    fn from(item: UserItem) -> Self {
        Self {
            id: item.id,
            username: item.username,
            email: item.email,
            password_hash: item.password_hash,
            first_name: item.first_name,
            last_name: item.last_name,
            phone_number: item.phone_number.map(E164::from_stored),
            virtual_number: item.virtual_number.map(E164::from_stored),
            active: item.active,
            token_version: item.token_version,
            created_at: item.created_at,
            updated_at: item.updated_at,
        }
    }
}

/// Makes an email or username unique: exists while a user holds the value.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UniqueItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub user_id: UserId,
}

impl UniqueItem {
    pub fn new(pk: String, user_id: UserId) -> Self {
        Self { pk, sk: keys::UNIQUE_SK.into(), entity: "unique".into(), user_id }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NumberItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    #[serde(rename = "GSI1PK")]
    pub gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    pub gsi1sk: String,
    pub entity: String,
    pub number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<UserId>,
    #[serde(with = "stamped")]
    pub added_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(with = "stamped::option")]
    pub assigned_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_count: Option<u32>,
}

impl NumberItem {
    pub fn free(number: &E164, added_at: DateTime<Utc>) -> Self {
        Self {
            pk: keys::number_pk(number),
            sk: keys::NUMBER_SK.into(),
            gsi1pk: keys::POOL_PK.into(),
            gsi1sk: keys::pool_sk(keys::FREE_PREFIX, number),
            entity: "number".into(),
            number: number.to_string(),
            owner_id: None,
            added_at,
            assigned_at: None,
            route_count: None,
        }
    }
}

impl From<NumberItem> for PoolNumber {
    fn from(item: NumberItem) -> Self {
        Self {
            phone_number: E164::from_stored(item.number),
            owner_id: item.owner_id,
            added_at: item.added_at,
            assigned_at: item.assigned_at,
            route_count: item.route_count.unwrap_or(0),
        }
    }
}

/// Sortable timestamps (fixed width, UTC, milliseconds) for sort keys.
pub fn sortable(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Every timestamp attribute the table holds: RFC 3339 in UTC with nanoseconds, always the
/// same width, whether written with a whole item or by an update expression, so that string
/// comparisons in conditions (`updatedAt < :cutoff`) order instants correctly.
pub fn stamp(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// `#[serde(with = "stamped")]`: a `DateTime<Utc>` attribute in the [`stamp`] form.
pub mod stamped {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::stamp(at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
        DateTime::<Utc>::deserialize(deserializer)
    }

    /// The same for an optional attribute.
    pub mod option {
        use chrono::{DateTime, Utc};
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(
            at: &Option<DateTime<Utc>>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match at {
                Some(at) => serializer.serialize_some(&super::super::stamp(at)),
                None => serializer.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            Option::<DateTime<Utc>>::deserialize(deserializer)
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    /// Its idle entry (`IDLE#<shard>` / `<deadline>#<id>`) while it has an inactivity timer.
    #[serde(rename = "GSI1PK", default, skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    #[serde(rename = "GSI1SK", default, skip_serializing_if = "Option::is_none")]
    pub gsi1sk: Option<String>,
    pub entity: String,
    pub id: ConversationId,
    pub kind: ConversationKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub status: ConversationStatus,
    pub created_by: UserId,
    #[serde(with = "stamped")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "stamped")]
    pub last_message_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message_preview: Option<String>,
    /// Kept in step by every membership transaction, so limits hold under concurrency.
    pub participant_count: u32,
    pub admin_count: u32,
    /// Its own inactivity timer in seconds, 0 for off; absent: the deployment's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_close_after: Option<u32>,
}

/// A conversation's own timer as stored (`idleCloseAfter`).
pub fn idle_close_after(timer: IdleTimer) -> Option<u32> {
    match timer {
        IdleTimer::Deployment => None,
        IdleTimer::Off => Some(0),
        IdleTimer::After(seconds) => Some(seconds),
    }
}

/// The idle index entry of a conversation due at `deadline`.
pub fn idle_entry(conversation_id: ConversationId, deadline: &DateTime<Utc>) -> (String, String) {
    (keys::idle_pk(keys::idle_shard(conversation_id)), keys::idle_sk(&stamp(deadline), conversation_id))
}

impl ConversationItem {
    pub fn new(detail: &ConversationDetail, idle_deadline: Option<DateTime<Utc>>) -> Self {
        let c = &detail.conversation;
        let (gsi1pk, gsi1sk) = idle_deadline.map(|at| idle_entry(c.id, &at)).unzip();
        Self {
            pk: keys::conversation_pk(c.id),
            sk: keys::CONVERSATION_SK.into(),
            gsi1pk,
            gsi1sk,
            entity: "conversation".into(),
            id: c.id,
            kind: c.kind,
            name: c.name.clone(),
            description: c.description.clone(),
            status: c.status,
            created_by: c.created_by,
            created_at: c.created_at,
            last_message_at: c.last_message_at,
            last_message_preview: c.last_message_preview.clone(),
            participant_count: detail.participants.len() as u32,
            admin_count: detail.participants.iter().filter(|p| p.role == ParticipantRole::Admin).count()
                as u32,
            idle_close_after: idle_close_after(c.idle_timer),
        }
    }
}

impl From<ConversationItem> for Conversation {
    fn from(item: ConversationItem) -> Self {
        Self {
            id: item.id,
            kind: item.kind,
            name: item.name,
            description: item.description,
            status: item.status,
            created_by: item.created_by,
            created_at: item.created_at,
            last_message_at: item.last_message_at,
            last_message_preview: item.last_message_preview,
            idle_timer: match item.idle_close_after {
                None => IdleTimer::Deployment,
                Some(0) => IdleTimer::Off,
                Some(seconds) => IdleTimer::After(seconds),
            },
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    #[serde(rename = "GSI1PK", default, skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    #[serde(rename = "GSI1SK", default, skip_serializing_if = "Option::is_none")]
    pub gsi1sk: Option<String>,
    pub entity: String,
    pub id: ParticipantId,
    pub conversation_id: ConversationId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_number: Option<String>,
    pub display_name: String,
    pub role: ParticipantRole,
    #[serde(with = "stamped")]
    pub joined_at: DateTime<Utc>,
    // The inbox line of a user participant: what "my conversations" shows without a second read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The web user's line of a one-to-one SMS conversation: the phone at the other end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterpart_phone: Option<String>,
    pub conversation_kind: ConversationKind,
    pub status: ConversationStatus,
    #[serde(with = "stamped")]
    pub last_message_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message_preview: Option<String>,
    // A web user's read state: the message transactions ADD to `unreadCount` (or, for the
    // author, SET both); marking read SETs both conditioned on the values it read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_read_message_id: Option<MessageId>,
    #[serde(default)]
    pub unread_count: u32,
}

pub fn participant_sk(participant: &Participant) -> String {
    match &participant.member {
        Member::User { user_id } => keys::user_participant_sk(user_id),
        Member::Sms { phone, .. } => keys::sms_participant_sk(phone),
    }
}

impl ParticipantItem {
    pub fn new(detail: &ConversationDetail, participant: &Participant) -> Self {
        let c = &detail.conversation;
        let (user_id, phone, proxy_number) = match &participant.member {
            Member::User { user_id } => (Some(*user_id), None, None),
            Member::Sms { phone, proxy_number } => {
                (None, Some(phone.to_string()), Some(proxy_number.to_string()))
            }
        };
        let inbox = user_id.map(|uid| {
            (keys::inbox_pk(uid), keys::inbox_sk(sortable(&c.last_message_at), c.id), detail.title_for(uid))
        });
        Self {
            pk: keys::conversation_pk(c.id),
            sk: participant_sk(participant),
            gsi1pk: inbox.as_ref().map(|i| i.0.clone()),
            gsi1sk: inbox.as_ref().map(|i| i.1.clone()),
            entity: "participant".into(),
            id: participant.id,
            conversation_id: c.id,
            user_id,
            phone,
            proxy_number,
            display_name: participant.display_name.clone(),
            role: participant.role,
            joined_at: participant.joined_at,
            title: inbox.map(|i| i.2),
            counterpart_phone: user_id.and(detail.sms_counterpart().map(E164::to_string)),
            conversation_kind: c.kind,
            status: c.status,
            last_message_at: c.last_message_at,
            last_message_preview: c.last_message_preview.clone(),
            last_read_message_id: participant.read.last_read_message_id,
            unread_count: participant.read.unread_count,
        }
    }

    /// The participant; a stored item that is neither a user nor a phone is corrupt.
    pub fn participant(&self) -> Result<Participant, StoreError> {
        let member = match (&self.user_id, &self.phone, &self.proxy_number) {
            (Some(user_id), _, _) => Member::User { user_id: *user_id },
            (None, Some(phone), Some(proxy)) => Member::Sms {
                phone: E164::from_stored(phone.clone()),
                proxy_number: E164::from_stored(proxy.clone()),
            },
            _ => return Err(StoreError::Backend(format!("participant {} has no user or phone", self.id))),
        };
        Ok(Participant {
            id: self.id,
            member,
            display_name: self.display_name.clone(),
            role: self.role,
            joined_at: self.joined_at,
            read: self.read_state(),
        })
    }

    pub fn inbox_entry(&self) -> InboxEntry {
        InboxEntry {
            id: self.conversation_id,
            kind: self.conversation_kind,
            name: self.title.clone().unwrap_or_default(),
            status: self.status,
            role: self.role,
            last_message_at: self.last_message_at,
            last_message_preview: self.last_message_preview.clone(),
            unread_count: self.unread_count,
            last_read_message_id: self.last_read_message_id,
            phone_number: self.counterpart_phone.clone().map(E164::from_stored),
        }
    }

    pub fn read_state(&self) -> ReadState {
        ReadState { last_read_message_id: self.last_read_message_id, unread_count: self.unread_count }
    }
}

/// (our number, their phone) → the one conversation replies go to.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub number: String,
    pub phone: String,
    pub conversation_id: ConversationId,
    pub participant_id: ParticipantId,
    /// The phone's name in that conversation: what an inbound text is signed with.
    #[serde(default)]
    pub display_name: String,
    /// In a one-to-one (sms) conversation, its one web user: an inbound text moves their inbox
    /// line in the same transaction that stores it, with no read of the conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbox_user_id: Option<UserId>,
}

impl RouteItem {
    pub fn new(
        conversation_id: ConversationId,
        participant: &Participant,
        inbox_user_id: Option<UserId>,
    ) -> Option<Self> {
        let (number, phone) = participant.route()?;
        Some(Self {
            pk: keys::route_pk(&number),
            sk: keys::route_sk(&phone),
            entity: "route".into(),
            number: number.to_string(),
            phone: phone.to_string(),
            conversation_id,
            participant_id: participant.id,
            display_name: participant.display_name.clone(),
            inbox_user_id,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub conversation_id: ConversationId,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    /// An inbound group text in the outbox until its relay job fanned it out.
    #[serde(rename = "GSI1PK", default, skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    #[serde(rename = "GSI1SK", default, skip_serializing_if = "Option::is_none")]
    pub gsi1sk: Option<String>,
    pub entity: String,
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub sender_kind: SenderKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_user_id: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_phone: Option<String>,
    pub sender_name: String,
    pub content: String,
    #[serde(default)]
    pub media_urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media_content_types: Vec<String>,
    /// Our copies of an inbound MMS's media, set once by the pipeline's media copy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media_keys: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twilio_sid: Option<String>,
    #[serde(with = "stamped")]
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(with = "stamped::option")]
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted: bool,
}

impl From<&Message> for MessageItem {
    fn from(m: &Message) -> Self {
        Self {
            pk: keys::messages_pk(m.conversation_id),
            sk: keys::message_sk(m.id),
            gsi1pk: None,
            gsi1sk: None,
            entity: "message".into(),
            id: m.id,
            conversation_id: m.conversation_id,
            sender_kind: m.sender.kind,
            sender_user_id: m.sender.user_id,
            sender_phone: m.sender.phone_number.as_ref().map(|p| p.to_string()),
            sender_name: m.sender.display_name.clone(),
            content: m.content.clone(),
            media_urls: m.media_urls.clone(),
            media_content_types: m.media_content_types.clone(),
            media_keys: m.media_keys.clone(),
            twilio_sid: m.twilio_sid.clone(),
            created_at: m.created_at,
            edited_at: m.edited_at,
            deleted: m.deleted,
        }
    }
}

impl MessageItem {
    /// The item of an inbound group text whose relay is pending: in the outbox, due now.
    pub fn pending_relay(message: &Message) -> Self {
        let due = stamp(&message.created_at);
        Self {
            gsi1pk: Some(keys::outbox_pk(keys::outbox_shard(message.id))),
            gsi1sk: Some(keys::outbox_relay_sk(&due, message.conversation_id, message.id)),
            ..Self::from(message)
        }
    }
}

impl From<MessageItem> for Message {
    fn from(item: MessageItem) -> Self {
        Self {
            id: item.id,
            conversation_id: item.conversation_id,
            sender: Sender {
                kind: item.sender_kind,
                user_id: item.sender_user_id,
                phone_number: item.sender_phone.map(E164::from_stored),
                display_name: item.sender_name,
            },
            content: item.content,
            media_urls: item.media_urls,
            media_content_types: item.media_content_types,
            media_keys: item.media_keys,
            twilio_sid: item.twilio_sid,
            created_at: item.created_at,
            edited_at: item.edited_at,
            deleted: item.deleted,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    #[serde(rename = "GSI1PK", default, skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    #[serde(rename = "GSI1SK", default, skip_serializing_if = "Option::is_none")]
    pub gsi1sk: Option<String>,
    pub entity: String,
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
    pub participant_id: ParticipantId,
    pub to: String,
    pub from: String,
    /// The SMS text and media, fixed when the message was stored: what the pipeline sends.
    #[serde(default)]
    pub body: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media_urls: Vec<String>,
    /// The message's media in our bucket (each attempt presigns them for Twilio).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media_keys: Vec<String>,
    pub status: DeliveryStatus,
    /// `status.rank()`, stored so a conditional update can refuse to move backwards.
    pub rank: u8,
    /// Attempts claimed so far (each claim adds one; see `claim_delivery`).
    #[serde(default)]
    pub attempts: u32,
    /// While pending: when the pipeline (next) sends it; also the outbox entry's sort key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(with = "stamped::option")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twilio_sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    pub segments: u32,
    pub encoding: Encoding,
    #[serde(with = "stamped")]
    pub updated_at: DateTime<Utc>,
}

/// A delivery's GSI1 entry: in the outbox while pending, then under its Twilio SID.
fn delivery_index(d: &Delivery) -> (Option<String>, Option<String>) {
    if d.status == DeliveryStatus::Pending {
        let due = stamp(&d.next_attempt_at.unwrap_or(d.updated_at));
        let id = d.id();
        (Some(keys::outbox_pk(keys::outbox_shard(id))), Some(keys::outbox_delivery_sk(&due, id)))
    } else {
        (d.twilio_sid.as_deref().map(keys::sid_pk), d.twilio_sid.as_ref().map(|_| keys::SID_SK.to_string()))
    }
}

impl From<&Delivery> for DeliveryItem {
    fn from(d: &Delivery) -> Self {
        let (gsi1pk, gsi1sk) = delivery_index(d);
        Self {
            pk: keys::messages_pk(d.conversation_id),
            sk: keys::delivery_sk(d.message_id, d.participant_id),
            gsi1pk,
            gsi1sk,
            entity: "delivery".into(),
            conversation_id: d.conversation_id,
            message_id: d.message_id,
            participant_id: d.participant_id,
            to: d.to.to_string(),
            from: d.from.to_string(),
            body: d.body.clone(),
            media_urls: d.media_urls.clone(),
            media_keys: d.media_keys.clone(),
            status: d.status,
            rank: d.rank(),
            attempts: d.attempts,
            next_attempt_at: (d.status == DeliveryStatus::Pending).then_some(d.next_attempt_at).flatten(),
            twilio_sid: d.twilio_sid.clone(),
            error_code: d.error_code,
            error_message: d.error_message.clone(),
            segments: d.segments.count,
            encoding: d.segments.encoding,
            updated_at: d.updated_at,
        }
    }
}

impl From<DeliveryItem> for Delivery {
    fn from(item: DeliveryItem) -> Self {
        Self {
            conversation_id: item.conversation_id,
            message_id: item.message_id,
            participant_id: item.participant_id,
            to: E164::from_stored(item.to),
            from: E164::from_stored(item.from),
            body: item.body,
            media_urls: item.media_urls,
            media_keys: item.media_keys,
            status: item.status,
            attempts: item.attempts,
            next_attempt_at: item.next_attempt_at,
            twilio_sid: item.twilio_sid,
            error_code: item.error_code,
            error_message: item.error_message,
            segments: Segments { count: item.segments, encoding: item.encoding },
            updated_at: item.updated_at,
            tentative: item.status == DeliveryStatus::Failed && item.rank == TENTATIVE_FAILURE_RANK,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessagePointerItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    /// An inbound MMS in the outbox until its media copy is done or given up (the media-copy
    /// mark, `<due>#M#<conversationId>#<messageId>`; `mediaAttempts` counts its claims).
    #[serde(rename = "GSI1PK", default, skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    #[serde(rename = "GSI1SK", default, skip_serializing_if = "Option::is_none")]
    pub gsi1sk: Option<String>,
    pub entity: String,
    pub conversation_id: ConversationId,
}

impl MessagePointerItem {
    /// The pointer of a new message; an inbound MMS's carries its media-copy mark, due now.
    pub fn of(message: &Message) -> Self {
        let mark = switchboard_core::service::media_copy::wants_copy(message).then(|| {
            let due = stamp(&message.created_at);
            (
                keys::outbox_pk(keys::outbox_shard(message.id)),
                keys::outbox_media_sk(&due, message.conversation_id, message.id),
            )
        });
        let (gsi1pk, gsi1sk) = mark.unzip();
        Self {
            pk: keys::message_pointer_pk(message.id),
            sk: keys::MESSAGE_POINTER_SK.into(),
            gsi1pk,
            gsi1sk,
            entity: "message-pointer".into(),
            conversation_id: message.conversation_id,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdempotencyItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
    /// Epoch seconds; the table's TTL attribute.
    pub expires_at: i64,
}

/// A contact (`CONTACTS#<owner>` / `CONTACT#<id>`), listed by name in GSI1.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    #[serde(rename = "GSI1PK")]
    pub gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    pub gsi1sk: String,
    pub entity: String,
    pub id: ContactId,
    pub owner_id: UserId,
    pub name: String,
    pub phone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(with = "stamped")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "stamped")]
    pub updated_at: DateTime<Utc>,
}

impl From<&Contact> for ContactItem {
    fn from(c: &Contact) -> Self {
        Self {
            pk: keys::contacts_pk(c.owner),
            sk: keys::contact_sk(c.id),
            gsi1pk: keys::contacts_pk(c.owner),
            gsi1sk: keys::contact_name_sk(&normalize_contact_name(&c.name), c.id),
            entity: "contact".into(),
            id: c.id,
            owner_id: c.owner,
            name: c.name.clone(),
            phone: c.phone.to_string(),
            notes: c.notes.clone(),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

impl From<ContactItem> for Contact {
    fn from(item: ContactItem) -> Self {
        Self {
            id: item.id,
            owner: item.owner_id,
            name: item.name,
            phone: E164::from_stored(item.phone),
            notes: item.notes,
            created_at: item.created_at,
            updated_at: item.updated_at,
        }
    }
}

/// The claim of a phone by one of its owner's contacts (`CONTACTS#<owner>` / `PHONE#<e164>`):
/// exists while a contact has the phone; its `name` is what conversations show for the phone.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactPhoneItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub phone: String,
    pub contact_id: ContactId,
    pub name: String,
}

impl From<&Contact> for ContactPhoneItem {
    fn from(c: &Contact) -> Self {
        Self {
            pk: keys::contacts_pk(c.owner),
            sk: keys::contact_phone_sk(&c.phone),
            entity: "contact-phone".into(),
            phone: c.phone.to_string(),
            contact_id: c.id,
            name: c.name.clone(),
        }
    }
}
