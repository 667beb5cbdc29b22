//! Tests of the in-memory fakes: the conditions, errors and orderings the DynamoDB adapter
//! has, port by port, and the scriptable SMS and gateway fakes. Fixtures are below.

mod app;
mod connections;
mod conversations;
mod fakes;
mod messages;
mod numbers;
mod outbox;
mod pagination;
mod users;
mod webhooks;

use chrono::{DateTime, Utc};

use super::MemoryStore;
use crate::domain::conversation::{
    Conversation, ConversationDetail, ConversationKind, ConversationStatus, Member, Participant,
    ParticipantRole,
};
use crate::domain::ids::{ConversationId, MessageId, ParticipantId, UserId};
use crate::domain::message::{segments, Delivery, DeliveryStatus, Message, Sender, SenderKind};
use crate::domain::phone::E164;
use crate::domain::user::User;
use crate::ports::conversations::NewConversation;
use crate::ports::messages::NewMessage;
use crate::ports::{ConversationStore, MessageStore, NumberPool, UserStore};

/// A phone (`+14155550000` + n).
fn phone(n: u32) -> E164 {
    E164::from_stored(format!("+1415555{n:04}"))
}

/// One of our Twilio numbers (`+16285550000` + n).
fn number(n: u32) -> E164 {
    E164::from_stored(format!("+1628555{n:04}"))
}

fn user(username: &str) -> User {
    let now = Utc::now();
    User {
        id: UserId::new(),
        username: username.to_string(),
        email: format!("{}@example.com", username.to_lowercase()),
        password_hash: "hash".into(),
        first_name: None,
        last_name: None,
        phone_number: None,
        virtual_number: None,
        active: true,
        token_version: 0,
        created_at: now,
        updated_at: now,
    }
}

async fn registered(store: &MemoryStore, username: &str) -> User {
    let user = user(username);
    store.create_user(&user).await.unwrap();
    user
}

/// A registered user holding pool number `n`.
async fn with_number(store: &MemoryStore, username: &str, n: u32) -> User {
    let user = registered(store, username).await;
    store.add_number(&number(n), Utc::now()).await.unwrap();
    store.assign_number(user.id, &number(n), Utc::now()).await.unwrap();
    store.get_user(user.id).await.unwrap().unwrap()
}

async fn pool(store: &MemoryStore, numbers: impl IntoIterator<Item = u32>) {
    for n in numbers {
        store.add_number(&number(n), Utc::now()).await.unwrap();
    }
}

fn member(user: &User, role: ParticipantRole) -> Participant {
    Participant {
        id: ParticipantId::new(),
        member: Member::User { user_id: user.id },
        display_name: user.username.clone(),
        role,
        joined_at: Utc::now(),
        read: Default::default(),
    }
}

/// A phone texting through `proxy`.
fn texter(phone: &E164, proxy: &E164) -> Participant {
    Participant {
        id: ParticipantId::new(),
        member: Member::Sms { phone: phone.clone(), proxy_number: proxy.clone() },
        display_name: phone.to_string(),
        role: ParticipantRole::Member,
        joined_at: Utc::now(),
        read: Default::default(),
    }
}

fn detail(
    kind: ConversationKind,
    creator: &User,
    name: Option<&str>,
    participants: Vec<Participant>,
) -> ConversationDetail {
    let now = Utc::now();
    ConversationDetail {
        conversation: Conversation {
            id: ConversationId::new(),
            kind,
            name: name.map(str::to_string),
            description: None,
            status: ConversationStatus::Active,
            created_by: creator.id,
            created_at: now,
            last_message_at: now,
            last_message_preview: None,
            idle_timer: Default::default(),
        },
        participants,
    }
}

/// A group created by `admin` (its admin) with `members` and `phones` (phone, proxy).
async fn group(
    store: &MemoryStore,
    admin: &User,
    members: &[&User],
    phones: &[(E164, E164)],
) -> ConversationDetail {
    let mut participants = vec![member(admin, ParticipantRole::Admin)];
    participants.extend(members.iter().map(|u| member(u, ParticipantRole::Member)));
    participants.extend(phones.iter().map(|(p, proxy)| texter(p, proxy)));
    let detail = detail(ConversationKind::Group, admin, Some("Group"), participants);
    store
        .create_conversation(NewConversation {
            detail: &detail,
            direct_pair: None,
            sms_owner: None,
            idle_deadline: None,
        })
        .await
        .unwrap();
    detail
}

/// `owner`'s SMS conversation with `phone` through the owner's number.
fn sms_detail(owner: &User, phone: &E164) -> ConversationDetail {
    let number = owner.virtual_number.clone().expect("the owner holds a number");
    let participants = vec![member(owner, ParticipantRole::Admin), texter(phone, &number)];
    detail(ConversationKind::Sms, owner, None, participants)
}

async fn sms_conversation(store: &MemoryStore, owner: &User, phone: &E164) -> ConversationDetail {
    let detail = sms_detail(owner, phone);
    let number = owner.virtual_number.as_ref().unwrap();
    let new = NewConversation {
        detail: &detail,
        direct_pair: None,
        sms_owner: Some((owner.id, number)),
        idle_deadline: None,
    };
    store.create_conversation(new).await.unwrap();
    detail
}

async fn direct(store: &MemoryStore, a: &User, b: &User) -> ConversationDetail {
    let detail = detail(
        ConversationKind::Direct,
        a,
        None,
        vec![member(a, ParticipantRole::Admin), member(b, ParticipantRole::Admin)],
    );
    store
        .create_conversation(NewConversation {
            detail: &detail,
            direct_pair: Some((a.id, b.id)),
            sms_owner: None,
            idle_deadline: None,
        })
        .await
        .unwrap();
    detail
}

fn message_at(detail: &ConversationDetail, author: &User, text: &str, at: DateTime<Utc>) -> Message {
    Message {
        id: MessageId::new(),
        conversation_id: detail.conversation.id,
        sender: Sender {
            kind: SenderKind::User,
            user_id: Some(author.id),
            phone_number: None,
            display_name: author.username.clone(),
        },
        content: text.to_string(),
        media_urls: Vec::new(),
        media_content_types: Vec::new(),
        media_keys: Vec::new(),
        twilio_sid: None,
        created_at: at,
        edited_at: None,
        deleted: false,
    }
}

fn message(detail: &ConversationDetail, author: &User, text: &str) -> Message {
    message_at(detail, author, text, Utc::now())
}

/// A `pending` delivery of `message` to every phone of `detail`.
fn pending_deliveries(detail: &ConversationDetail, message: &Message) -> Vec<Delivery> {
    detail
        .participants
        .iter()
        .filter_map(|p| p.route().map(|(from, to)| (p.id, from, to)))
        .map(|(participant_id, from, to)| {
            Delivery::new(
                message,
                participant_id,
                from,
                to,
                &message.content,
                segments(&message.content),
                false,
            )
        })
        .collect()
}

/// Stores `message` with a pending delivery per phone; returns the deliveries.
async fn send(store: &MemoryStore, detail: &ConversationDetail, message: &Message) -> Vec<Delivery> {
    let deliveries = pending_deliveries(detail, message);
    let new = NewMessage {
        detail,
        message,
        deliveries: &deliveries,
        idempotency: None,
        preview: message.content.clone(),
        idle_deadline: None,
    };
    store.create_message(&new).await.unwrap();
    deliveries
}

/// The participant of `detail` that is this phone.
fn participant_of(detail: &ConversationDetail, phone: &E164) -> Participant {
    detail
        .participants
        .iter()
        .find(|p| matches!(&p.member, Member::Sms { phone: q, .. } if q == phone))
        .cloned()
        .expect("a participant with that phone")
}
