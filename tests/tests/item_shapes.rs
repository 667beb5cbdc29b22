//! The shapes of the items the DynamoDB adapter writes, read back raw (GetItem, Scan, GSI1
//! Query) from a fresh table of the local server after each operation: every entity's keys, its
//! GSI1 attributes where docs/data-model.md puts it in the index (and their absence where it
//! does not), the TTL attribute `expiresAt` (a number, epoch seconds) on the items that expire,
//! the `entity` attribute, and no attribute outside the entity's list.
//!
//! Each entity's list below is what the adapter writes, and exactly that:
//! `no_item_carries_an_attribute_outside_its_entitys_list` fails on an attribute missing from a
//! list, and on a listed one that no item carries. `the_docs_name_every_attribute_of_every_entity`
//! then checks that docs/data-model.md names each of them in the entity's row, with the same
//! `entity` value, GSI1 keys and TTL: a new attribute fails a test until both lists say so.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Duration, Utc};
use switchboard::core::domain::contact::Contact;
use switchboard::core::domain::conversation::{
    Conversation, ConversationDetail, ConversationKind, ConversationStatus, IdleTimer, Member, Participant,
    ParticipantRole,
};
use switchboard::core::domain::ids::{
    ConnectionId, ContactId, ConversationId, DeliveryId, MessageId, ParticipantId, UserId,
};
use switchboard::core::domain::message::{
    segments, sms_body, Delivery, DeliveryStatus, Message, Sender, SenderKind,
};
use switchboard::core::domain::phone::E164;
use switchboard::core::domain::realtime::Connection;
use switchboard::core::domain::user::User;
use switchboard::core::ports::conversations::NewConversation;
use switchboard::core::ports::media_copies::CopyOutcome;
use switchboard::core::ports::messages::NewMessage;
use switchboard::core::ports::outbox::{AttemptOutcome, Claim, ClaimedDelivery};
use switchboard::core::ports::users::ProfileChanges;
use switchboard::core::ports::webhooks::{InboundWrite, OptChange, StatusUpdate};
use switchboard::core::ports::{
    ConnectionStore, ContactStore, ConversationStore, MediaCopyStore, MessageStore, NumberPool, OutboxStore,
    StoreError, UserStore, WebhookStore,
};
use switchboard::dynamo::items::sortable;
use switchboard::dynamo::DynamoStore;

type Item = HashMap<String, AttributeValue>;

// ---------------------------------------------------------------------------------------------
// What each entity holds (and docs/data-model.md says it holds).

struct Entity {
    /// The `entity` attribute.
    name: &'static str,
    /// Every attribute besides `PK`, `SK` and `entity` (GSI1 keys and TTL included where they
    /// apply), as the adapter writes them.
    attributes: &'static [&'static str],
    /// In GSI1 (at least in some states).
    indexed: bool,
    /// Carries the TTL attribute.
    expires: bool,
}

const KEYS: [&str; 3] = ["PK", "SK", "entity"];

const ENTITIES: &[Entity] = &[
    Entity {
        name: "user",
        attributes: &[
            "GSI1PK",
            "GSI1SK",
            "id",
            "username",
            "email",
            "passwordHash",
            "firstName",
            "lastName",
            "phoneNumber",
            "virtualNumber",
            "numberReleasing",
            "active",
            "tokenVersion",
            "createdAt",
            "updatedAt",
        ],
        indexed: true,
        expires: false,
    },
    Entity { name: "unique", attributes: &["userId"], indexed: false, expires: false },
    Entity {
        name: "number",
        attributes: &["GSI1PK", "GSI1SK", "number", "ownerId", "routeCount", "addedAt", "assignedAt"],
        indexed: true,
        expires: false,
    },
    Entity {
        name: "conversation",
        attributes: &[
            "GSI1PK",
            "GSI1SK",
            "idleCloseAfter",
            "id",
            "kind",
            "name",
            "description",
            "status",
            "createdBy",
            "createdAt",
            "lastMessageAt",
            "lastMessagePreview",
            "participantCount",
            "adminCount",
        ],
        indexed: true,
        expires: false,
    },
    Entity {
        name: "participant",
        attributes: &[
            "GSI1PK",
            "GSI1SK",
            "id",
            "conversationId",
            "userId",
            "phone",
            "proxyNumber",
            "displayName",
            "role",
            "joinedAt",
            "title",
            "counterpartPhone",
            "conversationKind",
            "status",
            "lastMessageAt",
            "lastMessagePreview",
            "lastReadMessageId",
            "unreadCount",
        ],
        indexed: true,
        expires: false,
    },
    Entity {
        name: "route",
        attributes: &["number", "phone", "conversationId", "participantId", "displayName", "inboxUserId"],
        indexed: false,
        expires: false,
    },
    Entity { name: "direct", attributes: &["conversationId"], indexed: false, expires: false },
    Entity {
        name: "message",
        attributes: &[
            // In the outbox while its relay is pending (an inbound group text).
            "GSI1PK",
            "GSI1SK",
            "id",
            "conversationId",
            "senderKind",
            "senderUserId",
            "senderPhone",
            "senderName",
            "content",
            "mediaUrls",
            "mediaContentTypes",
            "mediaKeys",
            "twilioSid",
            "createdAt",
            "editedAt",
            "deleted",
        ],
        indexed: true,
        expires: false,
    },
    Entity {
        name: "delivery",
        attributes: &[
            "GSI1PK",
            "GSI1SK",
            "conversationId",
            "messageId",
            "participantId",
            "to",
            "from",
            "body",
            "mediaUrls",
            "mediaKeys",
            "status",
            "rank",
            "attempts",
            "nextAttemptAt",
            "leaseUntil",
            "inFlight",
            "wasInFlight",
            "reconcileSince",
            "attemptStartedAt",
            "twilioSid",
            "errorCode",
            "errorMessage",
            "supersededSids",
            "segments",
            "encoding",
            "updatedAt",
        ],
        indexed: true,
        expires: false,
    },
    Entity {
        name: "message-pointer",
        attributes: &["GSI1PK", "GSI1SK", "conversationId", "mediaAttempts"],
        indexed: true,
        expires: false,
    },
    Entity {
        name: "idempotency",
        attributes: &["conversationId", "messageId", "expiresAt"],
        indexed: false,
        expires: true,
    },
    Entity { name: "opt-out", attributes: &["optedOutAt"], indexed: false, expires: false },
    Entity {
        name: "inbound",
        attributes: &["conversationId", "messageId", "expiresAt"],
        indexed: false,
        expires: true,
    },
    Entity {
        name: "connection",
        attributes: &["connectionId", "userId", "connectedAt", "expiresAt"],
        indexed: false,
        expires: true,
    },
    Entity {
        name: "contact",
        attributes: &[
            "GSI1PK",
            "GSI1SK",
            "id",
            "ownerId",
            "name",
            "phone",
            "notes",
            "createdAt",
            "updatedAt",
        ],
        indexed: true,
        expires: false,
    },
    Entity {
        name: "contact-phone",
        attributes: &["phone", "contactId", "name"],
        indexed: false,
        expires: false,
    },
];

fn entity(name: &str) -> &'static Entity {
    ENTITIES
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("an entity the lists do not know: {name}"))
}

/// The rows of docs/data-model.md's entity table, as (entity value, GSI1PK cell, whole row).
fn documented_rows() -> Vec<(String, String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/data-model.md");
    let doc = std::fs::read_to_string(path).expect("docs/data-model.md");
    let section = doc.split("## Entities and their keys").nth(1).expect("the entity table's section");
    let section = section.split("\n## ").next().unwrap_or_default();
    let rows: Vec<&str> = section.lines().filter(|l| l.starts_with('|')).collect();
    let cells = |row: &str| -> Vec<String> {
        row.trim_matches('|').split(" | ").map(|c| c.trim().to_string()).collect()
    };
    let header = cells(rows[0]);
    let column =
        |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"));
    let (entity_column, gsi1_column) = (column("`entity`"), column("GSI1PK"));
    rows.iter()
        .skip(2)
        .map(|row| {
            let cells = cells(row);
            (cells[entity_column].trim_matches('`').to_string(), cells[gsi1_column].clone(), row.to_string())
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The table, raw.

struct Table {
    client: Client,
    name: String,
    store: DynamoStore,
}

impl Table {
    async fn new() -> Self {
        assert!(
            std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok(),
            "AWS_ENDPOINT_URL_DYNAMODB is not set: start the local DynamoDB server (make test does)"
        );
        let sdk_config = aws_config::load_from_env().await;
        let (client, _) = DynamoStore::client_from_config(&sdk_config);
        let name = format!("shapes-{}", ulid::Ulid::new().to_string().to_lowercase());
        let spec = xtask::table::spec_from_template(&xtask::table::template_path()).expect("template.yaml");
        xtask::table::ensure_table(&client, &name, &spec).await.expect("create the table");
        let store = DynamoStore::new(client.clone(), name.clone());
        Self { client, name, store }
    }

    async fn get(&self, pk: impl Into<String>, sk: impl Into<String>) -> Option<Item> {
        self.client
            .get_item()
            .table_name(&self.name)
            .key("PK", AttributeValue::S(pk.into()))
            .key("SK", AttributeValue::S(sk.into()))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem")
            .item
    }

    /// The item, which must exist and have the shape of its entity.
    async fn item(&self, pk: impl Into<String>, sk: impl Into<String>) -> Item {
        let (pk, sk) = (pk.into(), sk.into());
        let item = self.get(&pk, &sk).await.unwrap_or_else(|| panic!("no item {pk} / {sk}"));
        assert_eq!((text(&item, "PK"), text(&item, "SK")), (pk.as_str(), sk.as_str()));
        check_entity(&item);
        item
    }

    async fn absent(&self, pk: impl Into<String>, sk: impl Into<String>) {
        let (pk, sk) = (pk.into(), sk.into());
        assert_eq!(self.get(&pk, &sk).await, None, "{pk} / {sk} should be gone");
    }

    async fn scan(&self) -> Vec<Item> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.name)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .expect("Scan");
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return items,
            }
        }
    }

    /// The items of GSI1 partition `pk`, as the index holds them.
    async fn index(&self, pk: &str) -> Vec<Item> {
        self.client
            .query()
            .table_name(&self.name)
            .index_name("GSI1")
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(pk.into()))
            .send()
            .await
            .expect("Query GSI1")
            .items
            .unwrap_or_default()
    }
}

fn text<'a>(item: &'a Item, name: &str) -> &'a str {
    match item.get(name) {
        Some(AttributeValue::S(value)) => value,
        other => panic!("{name} is not a string: {other:?} in {item:?}"),
    }
}

fn number_attr(item: &Item, name: &str) -> i64 {
    match item.get(name) {
        Some(AttributeValue::N(value)) => value.parse().unwrap_or_else(|_| panic!("{name} = {value}")),
        other => panic!("{name} is not a number: {other:?} in {item:?}"),
    }
}

fn time(item: &Item, name: &str) -> DateTime<Utc> {
    text(item, name).parse().unwrap_or_else(|e| panic!("{name} = {}: {e}", text(item, name)))
}

fn has(item: &Item, name: &str) -> bool {
    item.contains_key(name)
}

/// GSI1 keys as they are: both or neither.
fn gsi1(item: &Item) -> Option<(String, String)> {
    match (item.get("GSI1PK"), item.get("GSI1SK")) {
        (None, None) => None,
        (Some(_), Some(_)) => Some((text(item, "GSI1PK").to_string(), text(item, "GSI1SK").to_string())),
        _ => panic!("one GSI1 key without the other: {item:?}"),
    }
}

fn in_index(pk: &str, sk: &str) -> Option<(String, String)> {
    Some((pk.to_string(), sk.to_string()))
}

/// The item's attributes are its entity's; GSI1 keys only on indexed entities, `expiresAt` (a
/// number) exactly on those that expire.
fn check_entity(item: &Item) {
    let entity = entity(text(item, "entity"));
    let allowed: BTreeSet<&str> = KEYS.iter().chain(entity.attributes).copied().collect();
    let unknown: Vec<&String> = item.keys().filter(|k| !allowed.contains(k.as_str())).collect();
    assert!(unknown.is_empty(), "{} item with attributes {unknown:?}: {item:?}", entity.name);
    if !entity.indexed {
        assert_eq!(gsi1(item), None, "{} items are not in GSI1", entity.name);
    }
    assert_eq!(has(item, "expiresAt"), entity.expires, "expiresAt on a {} item", entity.name);
    if entity.expires {
        number_attr(item, "expiresAt");
    }
}

/// The item's attribute names.
fn names(item: &Item) -> BTreeSet<&str> {
    item.keys().map(String::as_str).collect()
}

fn flag(item: &Item, name: &str) -> bool {
    match item.get(name) {
        Some(AttributeValue::Bool(value)) => *value,
        other => panic!("{name} is not a boolean: {other:?} in {item:?}"),
    }
}

/// Timestamp attributes and the outbox's sort keys, as docs/data-model.md gives them: RFC 3339
/// in UTC with nanoseconds, always the same width.
fn stamp(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// The outbox partition of an entry, as docs/data-model.md gives it: the last character of the
/// delivery id (`<conversationId>-<messageId>-<participantId>`), or of the message id of a relay,
/// modulo the 4 shards.
fn outbox_pk(id: &str) -> String {
    format!("OUTBOX#{}", id.bytes().last().unwrap() % 4)
}

fn delivery_entry(due: &DateTime<Utc>, id: DeliveryId) -> Option<(String, String)> {
    in_index(&outbox_pk(&id.to_string()), &format!("{}#D#{id}", stamp(due)))
}

fn relay_entry(due: &DateTime<Utc>, message: &Message) -> Option<(String, String)> {
    let sk = format!("{}#R#{}#{}", stamp(due), message.conversation_id, message.id);
    in_index(&outbox_pk(&message.id.to_string()), &sk)
}

impl Table {
    /// Every outbox entry (the four shards' GSI1 partitions), as (GSI1PK, GSI1SK).
    async fn outbox(&self) -> BTreeSet<(String, String)> {
        let mut entries = BTreeSet::new();
        for shard in 0..4 {
            for item in self.index(&format!("OUTBOX#{shard}")).await {
                entries.insert(gsi1(&item).expect("an outbox entry has both keys"));
            }
        }
        entries
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures

fn phone(n: u32) -> E164 {
    E164::from_stored(format!("+1415555{n:04}"))
}

fn number(n: u32) -> E164 {
    E164::from_stored(format!("+1628555{n:04}"))
}

fn user(username: &str) -> User {
    let now = Utc::now();
    User {
        id: UserId::new(),
        username: username.to_string(),
        email: format!("{}@example.com", username.to_lowercase()),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
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

async fn registered(store: &DynamoStore, username: &str) -> User {
    let user = user(username);
    store.create_user(&user).await.unwrap();
    user
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

fn texter(phone: &E164, proxy: &E164) -> Participant {
    Participant {
        id: ParticipantId::new(),
        member: Member::Sms { phone: phone.clone(), proxy_number: proxy.clone() },
        display_name: format!("Phone {}", phone.as_str()),
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
            description: name.map(|n| format!("about {n}")),
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

fn message_at(detail: &ConversationDetail, author: &User, text: &str, at: DateTime<Utc>) -> Message {
    let id = MessageId::new();
    Message {
        id,
        conversation_id: detail.conversation.id,
        sender: Sender {
            kind: SenderKind::User,
            user_id: Some(author.id),
            phone_number: None,
            display_name: author.username.clone(),
        },
        content: text.to_string(),
        media_urls: vec!["https://example.com/a.png".into()],
        media_content_types: Vec::new(),
        // An attached upload, copied under the message (its deliveries keep the key too).
        media_keys: vec![format!("media/{}/{id}/0", detail.conversation.id)],
        twilio_sid: None,
        created_at: at,
        edited_at: None,
        deleted: false,
    }
}

fn inbound(detail: &ConversationDetail, from: &E164, sid: &str) -> Message {
    Message {
        id: MessageId::new(),
        conversation_id: detail.conversation.id,
        sender: Sender {
            kind: SenderKind::Sms,
            user_id: None,
            phone_number: Some(from.clone()),
            display_name: from.to_string(),
        },
        content: "hello".into(),
        media_urls: vec!["https://api.twilio.com/media/1".into()],
        media_content_types: vec!["image/jpeg".into()],
        media_keys: Vec::new(),
        twilio_sid: Some(sid.into()),
        created_at: Utc::now(),
        edited_at: None,
        deleted: false,
    }
}

/// A `pending` delivery of `message` to every phone of `detail`, as a send writes it ahead.
fn pending_deliveries(detail: &ConversationDetail, message: &Message) -> Vec<Delivery> {
    let body = sms_body(Some(&message.sender.display_name), &message.content);
    detail
        .participants
        .iter()
        .filter_map(|p| p.route().map(|(from, to)| (p.id, from, to)))
        .map(|(participant_id, from, to)| {
            Delivery::new(message, participant_id, from, to, &body, segments(&body), false)
        })
        .collect()
}

const LEASE: std::time::Duration = std::time::Duration::from_secs(120);

async fn claimed(store: &DynamoStore, delivery: &Delivery, now: DateTime<Utc>) -> ClaimedDelivery {
    match store.claim_delivery(delivery.id(), now, LEASE).await.unwrap() {
        Claim::Claimed(claimed) => *claimed,
        other => panic!("not claimed: {other:?}"),
    }
}

/// One attempt, claimed and recorded at `now`.
async fn attempt(store: &DynamoStore, delivery: &Delivery, outcome: &AttemptOutcome, now: DateTime<Utc>) {
    let claimed = claimed(store, delivery, now).await;
    let recorded = store.finish_attempt(&claimed.delivery, claimed.attempt, outcome, now).await.unwrap();
    assert!(recorded, "{outcome:?}");
}

fn status_update(delivery: &Delivery, status: DeliveryStatus, sid: &str, code: Option<i64>) -> StatusUpdate {
    StatusUpdate {
        delivery: delivery.id(),
        status,
        sid: Some(sid.into()),
        error_code: code,
        error_message: code.map(|c| format!("error {c}")),
    }
}

/// Stores `author`'s `text` in `grp` with a pending delivery to its (one) phone; returns the
/// delivery and the key of its item.
async fn send_to_group(
    store: &DynamoStore,
    grp: &ConversationDetail,
    author: &User,
    text: &str,
    at: DateTime<Utc>,
) -> (Delivery, (String, String)) {
    let msg = message_at(grp, author, text, at);
    let deliveries = pending_deliveries(grp, &msg);
    let new = NewMessage {
        detail: grp,
        message: &msg,
        deliveries: &deliveries,
        idempotency: None,
        preview: text.into(),
        idle_deadline: None,
    };
    store.create_message(&new).await.unwrap();
    let d = deliveries[0].clone();
    let key = (format!("MSGS#{}", d.conversation_id), format!("DLV#{}#{}", d.message_id, d.participant_id));
    (d, key)
}

/// Ada (holding number 1) in a group with Bob and a phone through proxy number 2, and her SMS
/// conversation with another phone.
struct World {
    ada: User,
    bob: User,
    grp: ConversationDetail,
    sms: ConversationDetail,
    pair: ConversationDetail,
}

async fn world(table: &Table) -> World {
    let store = &table.store;
    let ada = registered(store, "Ada").await;
    let bob = registered(store, "bob").await;
    for n in [1, 2, 3] {
        store.add_number(&number(n), Utc::now()).await.unwrap();
    }
    store.assign_number(ada.id, &number(1), Utc::now()).await.unwrap();
    let ada = store.get_user(ada.id).await.unwrap().unwrap();
    let grp = detail(
        ConversationKind::Group,
        &ada,
        Some("Crew"),
        vec![
            member(&ada, ParticipantRole::Admin),
            member(&bob, ParticipantRole::Member),
            texter(&phone(1), &number(2)),
        ],
    );
    store
        .create_conversation(NewConversation {
            detail: &grp,
            direct_pair: None,
            sms_owner: None,
            idle_deadline: None,
        })
        .await
        .unwrap();
    let sms = detail(
        ConversationKind::Sms,
        &ada,
        None,
        vec![member(&ada, ParticipantRole::Admin), texter(&phone(2), &number(1))],
    );
    let owner = Some((ada.id, &number(1)));
    store
        .create_conversation(NewConversation {
            detail: &sms,
            direct_pair: None,
            sms_owner: owner,
            idle_deadline: None,
        })
        .await
        .unwrap();
    let pair = detail(
        ConversationKind::Direct,
        &bob,
        None,
        vec![member(&bob, ParticipantRole::Admin), member(&ada, ParticipantRole::Admin)],
    );
    let direct = Some((bob.id, ada.id));
    store
        .create_conversation(NewConversation {
            detail: &pair,
            direct_pair: direct,
            sms_owner: None,
            idle_deadline: None,
        })
        .await
        .unwrap();
    World { ada, bob, grp, sms, pair }
}

#[tokio::test]
async fn an_idle_timer_is_the_meta_items_entry_in_the_idle_index_moved_by_sends_and_removed_by_the_close() {
    let table = Table::new().await;
    let store = &table.store;
    let World { ada, grp, .. } = world(&table).await;
    let cid = grp.conversation.id;
    let (pk, sk) = (format!("CONV#{cid}"), "#META");
    let shard = cid.to_string().bytes().last().unwrap() % 4;
    assert_eq!(gsi1(&table.item(&pk, sk).await), None, "created without a timer: not in the index");

    // Its own timer: idleCloseAfter in seconds, and the entry at its deadline.
    let deadline = grp.conversation.last_message_at + Duration::hours(2);
    store.set_idle_timer(cid, IdleTimer::After(7200), Some(deadline)).await.unwrap();
    let meta = table.item(&pk, sk).await;
    assert_eq!(number_attr(&meta, "idleCloseAfter"), 7200);
    assert_eq!(gsi1(&meta), in_index(&format!("IDLE#{shard}"), &format!("{}#{cid}", stamp(&deadline))));

    // A send moves the entry in its meta update.
    let msg = message_at(&grp, &ada, "hi", Utc::now());
    let later = msg.created_at + Duration::hours(2);
    let new = NewMessage {
        detail: &grp,
        message: &msg,
        deliveries: &[],
        idempotency: None,
        preview: "hi".into(),
        idle_deadline: Some(later),
    };
    store.create_message(&new).await.unwrap();
    assert_eq!(gsi1(&table.item(&pk, sk).await).unwrap().1, format!("{}#{cid}", stamp(&later)));
    assert_eq!(store.idle_due(later + Duration::seconds(1), 10).await.unwrap(), [cid]);
    assert!(store.idle_due(later, 10).await.unwrap().is_empty(), "due strictly after its deadline");

    // Off: 0, out of the index; the deployment's: no attribute.
    store.set_idle_timer(cid, IdleTimer::Off, None).await.unwrap();
    let meta = table.item(&pk, sk).await;
    assert_eq!((number_attr(&meta, "idleCloseAfter"), gsi1(&meta)), (0, None));
    store.set_idle_timer(cid, IdleTimer::Deployment, Some(later)).await.unwrap();
    let meta = table.item(&pk, sk).await;
    assert!(!has(&meta, "idleCloseAfter") && gsi1(&meta).is_some());

    // The idle close leaves the index (and needs the activity it saw).
    let read = store.get_conversation(cid).await.unwrap().unwrap();
    let stale = read.conversation.last_message_at - Duration::seconds(1);
    assert!(matches!(store.close_idle(&read, stale).await, Err(StoreError::Contention)));
    store.close_idle(&read, read.conversation.last_message_at).await.unwrap();
    let meta = table.item(&pk, sk).await;
    assert_eq!((text(&meta, "status"), gsi1(&meta)), ("closed", None));
}

// ---------------------------------------------------------------------------------------------
// Users

#[tokio::test]
async fn a_user_has_its_profile_item_in_the_directory_and_two_uniqueness_items() {
    let table = Table::new().await;
    let store = &table.store;
    let mut ada = user("  Ada_L ");
    ada.email = "ada@example.com".into();
    ada.first_name = Some("Ada".into());
    ada.phone_number = Some(phone(9));
    store.create_user(&ada).await.unwrap();

    let profile = table.item(format!("USER#{}", ada.id), "PROFILE").await;
    assert_eq!(text(&profile, "entity"), "user");
    assert_eq!(gsi1(&profile), in_index("USERS", "ada_l"), "lower-cased, trimmed username");
    assert_eq!(text(&profile, "passwordHash"), ada.password_hash);
    assert_eq!(number_attr(&profile, "tokenVersion"), 0);
    assert_eq!(profile.get("active"), Some(&AttributeValue::Bool(true)));
    assert_eq!((text(&profile, "username"), text(&profile, "phoneNumber")), ("  Ada_L ", "+14155550009"));
    for absent in ["virtualNumber", "lastName", "numberReleasing"] {
        assert!(!has(&profile, absent), "{absent}");
    }
    let email = table.item("EMAIL#ada@example.com", "UNIQUE").await;
    assert_eq!((text(&email, "entity"), text(&email, "userId")), ("unique", ada.id.to_string().as_str()));
    let username = table.item("USERNAME#ada_l", "UNIQUE").await;
    assert_eq!(
        (text(&username, "entity"), text(&username, "userId")),
        ("unique", ada.id.to_string().as_str())
    );
    assert_eq!(table.scan().await.len(), 3);
    assert_eq!(table.index("USERS").await.len(), 1);
}

#[tokio::test]
async fn an_email_change_moves_the_uniqueness_item_and_clearing_a_field_removes_its_attribute() {
    let table = Table::new().await;
    let store = &table.store;
    let mut ada = user("ada");
    ada.first_name = Some("Ada".into());
    store.create_user(&ada).await.unwrap();

    let changes = ProfileChanges {
        first_name: Some(None),
        last_name: Some(Some("Lovelace".into())),
        email: Some("countess@example.com".into()),
        ..Default::default()
    };
    store.update_profile(&ada, &changes).await.unwrap();

    table.absent("EMAIL#ada@example.com", "UNIQUE").await;
    let moved = table.item("EMAIL#countess@example.com", "UNIQUE").await;
    assert_eq!(text(&moved, "userId"), ada.id.to_string());
    let profile = table.item(format!("USER#{}", ada.id), "PROFILE").await;
    assert_eq!((text(&profile, "email"), text(&profile, "lastName")), ("countess@example.com", "Lovelace"));
    assert!(!has(&profile, "firstName"));
    assert_eq!(gsi1(&profile), in_index("USERS", "ada"));
}

#[tokio::test]
async fn a_deactivated_user_leaves_the_directory_and_gives_back_its_number() {
    let table = Table::new().await;
    let store = &table.store;
    let ada = registered(store, "ada").await;
    store.add_number(&number(1), Utc::now()).await.unwrap();
    store.assign_number(ada.id, &number(1), Utc::now()).await.unwrap();
    store.mark_number_releasing(ada.id, &number(1)).await.unwrap();
    let profile = table.item(format!("USER#{}", ada.id), "PROFILE").await;
    assert_eq!(
        (text(&profile, "virtualNumber"), text(&profile, "numberReleasing")),
        ("+16285550001", "+16285550001")
    );

    let ada = store.get_user(ada.id).await.unwrap().unwrap();
    store.set_active(&ada, false).await.unwrap();

    let profile = table.item(format!("USER#{}", ada.id), "PROFILE").await;
    assert_eq!(gsi1(&profile), None, "out of the directory");
    assert_eq!(profile.get("active"), Some(&AttributeValue::Bool(false)));
    assert_eq!(number_attr(&profile, "tokenVersion"), 1);
    assert!(!has(&profile, "virtualNumber") && !has(&profile, "numberReleasing"));
    assert!(table.index("USERS").await.is_empty());
    let freed = table.item("NUMBER#+16285550001", "NUMBER").await;
    assert_eq!(gsi1(&freed), in_index("POOL", "FREE#+16285550001"));
    assert!(!has(&freed, "ownerId") && !has(&freed, "assignedAt"));
    // The uniqueness items stay.
    table.item("EMAIL#ada@example.com", "UNIQUE").await;
    table.item("USERNAME#ada", "UNIQUE").await;

    store.set_active(&ada, true).await.unwrap();
    let profile = table.item(format!("USER#{}", ada.id), "PROFILE").await;
    assert_eq!(gsi1(&profile), in_index("USERS", "ada"));
    assert_eq!(number_attr(&profile, "tokenVersion"), 1);
}

// ---------------------------------------------------------------------------------------------
// Numbers

#[tokio::test]
async fn a_pool_number_moves_between_the_free_assigned_and_proxy_sections() {
    let table = Table::new().await;
    let store = &table.store;
    let added_at = Utc::now() - Duration::minutes(3);
    store.add_number(&number(1), added_at).await.unwrap();
    let (pk, sk) = ("NUMBER#+16285550001", "NUMBER");

    let free = table.item(pk, sk).await;
    assert_eq!(text(&free, "entity"), "number");
    assert_eq!(gsi1(&free), in_index("POOL", "FREE#+16285550001"));
    assert_eq!((text(&free, "number"), time(&free, "addedAt")), ("+16285550001", added_at));
    for absent in ["ownerId", "assignedAt", "routeCount"] {
        assert!(!has(&free, absent), "{absent}");
    }

    let ada = registered(store, "ada").await;
    let assigned_at = Utc::now();
    store.assign_number(ada.id, &number(1), assigned_at).await.unwrap();
    let assigned = table.item(pk, sk).await;
    assert_eq!(gsi1(&assigned), in_index("POOL", "ASSIGNED#+16285550001"));
    assert_eq!(
        (text(&assigned, "ownerId"), time(&assigned, "assignedAt")),
        (ada.id.to_string().as_str(), assigned_at)
    );
    let user = table.item(format!("USER#{}", ada.id), "PROFILE").await;
    assert_eq!(text(&user, "virtualNumber"), "+16285550001");

    store.release_number(ada.id, &number(1)).await.unwrap();
    let released = table.item(pk, sk).await;
    assert_eq!(gsi1(&released), in_index("POOL", "FREE#+16285550001"));
    assert!(!has(&released, "ownerId") && !has(&released, "assignedAt"));
    assert!(!has(&table.item(format!("USER#{}", ada.id), "PROFILE").await, "virtualNumber"));

    // Carrying a group route: a proxy, with its count; still listed as one with none.
    let grp = detail(
        ConversationKind::Group,
        &ada,
        Some("G"),
        vec![member(&ada, ParticipantRole::Admin), texter(&phone(1), &number(1))],
    );
    store
        .create_conversation(NewConversation {
            detail: &grp,
            direct_pair: None,
            sms_owner: None,
            idle_deadline: None,
        })
        .await
        .unwrap();
    let proxy = table.item(pk, sk).await;
    assert_eq!(gsi1(&proxy), in_index("POOL", "PROXY#+16285550001"));
    assert_eq!(number_attr(&proxy, "routeCount"), 1);
    store.close_conversation(&grp).await.unwrap();
    let former = table.item(pk, sk).await;
    assert_eq!(gsi1(&former), in_index("POOL", "PROXY#+16285550001"));
    assert_eq!(number_attr(&former, "routeCount"), 0);

    store.remove_number(&number(1)).await.unwrap();
    table.absent(pk, sk).await;
}

// ---------------------------------------------------------------------------------------------
// Conversations

#[tokio::test]
async fn a_conversation_is_a_meta_item_and_participant_items_with_routes_and_a_direct_pair() {
    let table = Table::new().await;
    let World { ada, bob, grp, sms, pair } = world(&table).await;
    let cid = grp.conversation.id;

    let meta = table.item(format!("CONV#{cid}"), "#META").await;
    assert_eq!(text(&meta, "entity"), "conversation");
    assert_eq!(
        (text(&meta, "kind"), text(&meta, "name"), text(&meta, "status")),
        ("group", "Crew", "active")
    );
    assert_eq!((number_attr(&meta, "participantCount"), number_attr(&meta, "adminCount")), (3, 1));
    assert_eq!(time(&meta, "lastMessageAt"), grp.conversation.last_message_at);
    assert!(!has(&meta, "lastMessagePreview"));

    // Web users: in their inbox, sorted by activity (milliseconds) then conversation.
    let inbox_sk = format!("{}#{cid}", sortable(&grp.conversation.last_message_at));
    for (user, role, title) in [(&ada, "admin", "Crew"), (&bob, "member", "Crew")] {
        let line = table.item(format!("CONV#{cid}"), format!("PART#USER#{}", user.id)).await;
        assert_eq!(text(&line, "entity"), "participant");
        assert_eq!(gsi1(&line), in_index(&format!("INBOX#{}", user.id), &inbox_sk));
        assert_eq!(
            (text(&line, "role"), text(&line, "title"), text(&line, "status")),
            (role, title, "active")
        );
        assert_eq!(
            (text(&line, "conversationKind"), text(&line, "userId")),
            ("group", user.id.to_string().as_str())
        );
        assert!(!has(&line, "proxyNumber") && !has(&line, "phone"));
    }
    // A phone: not in any inbox; its route.
    let texter = grp.participants.iter().find(|p| p.user_id().is_none()).unwrap();
    let phone_item = table.item(format!("CONV#{cid}"), "PART#SMS#+14155550001").await;
    assert_eq!(gsi1(&phone_item), None);
    assert_eq!(
        (text(&phone_item, "phone"), text(&phone_item, "proxyNumber")),
        ("+14155550001", "+16285550002")
    );
    assert_eq!(text(&phone_item, "id"), texter.id.to_string());
    assert!(!has(&phone_item, "title") && !has(&phone_item, "userId"));
    let route = table.item("ROUTE#+16285550002", "PHONE#+14155550001").await;
    assert_eq!(text(&route, "entity"), "route");
    assert_eq!(
        (text(&route, "conversationId"), text(&route, "participantId")),
        (cid.to_string().as_str(), texter.id.to_string().as_str())
    );
    assert!(!has(&route, "inboxUserId"), "a group route names no inbox");
    let sms_route = table.item("ROUTE#+16285550001", "PHONE#+14155550002").await;
    assert_eq!(text(&sms_route, "inboxUserId"), ada.id.to_string(), "an SMS route names its one web user");
    let sms_line = table.item(format!("CONV#{}", sms.conversation.id), format!("PART#USER#{}", ada.id)).await;
    assert_eq!(text(&sms_line, "title"), "Phone +14155550002");
    assert_eq!(text(&sms_line, "counterpartPhone"), "+14155550002", "the SMS line names its phone");
    let group_line = table.item(format!("CONV#{cid}"), format!("PART#USER#{}", ada.id)).await;
    assert!(!has(&group_line, "counterpartPhone"));

    // The direct pair, keyed low id first.
    let (low, high) = if ada.id < bob.id { (ada.id, bob.id) } else { (bob.id, ada.id) };
    let direct = table.item(format!("DIRECT#{low}#{high}"), "UNIQUE").await;
    assert_eq!(
        (text(&direct, "entity"), text(&direct, "conversationId")),
        ("direct", pair.conversation.id.to_string().as_str())
    );
    assert_eq!(table.index(&format!("INBOX#{}", ada.id)).await.len(), 3);
}

#[tokio::test]
async fn closing_removes_routes_and_the_direct_pair_and_marks_inbox_lines_where_they_are() {
    let table = Table::new().await;
    let World { ada, bob, grp, sms: _, pair } = world(&table).await;
    let store = &table.store;
    let before = table.item(format!("CONV#{}", pair.conversation.id), format!("PART#USER#{}", ada.id)).await;

    store.close_conversation(&grp).await.unwrap();
    store.close_conversation(&pair).await.unwrap();

    table.absent("ROUTE#+16285550002", "PHONE#+14155550001").await;
    let (low, high) = if ada.id < bob.id { (ada.id, bob.id) } else { (bob.id, ada.id) };
    table.absent(format!("DIRECT#{low}#{high}"), "UNIQUE").await;
    let meta = table.item(format!("CONV#{}", grp.conversation.id), "#META").await;
    assert_eq!(text(&meta, "status"), "closed");
    let line = table.item(format!("CONV#{}", pair.conversation.id), format!("PART#USER#{}", ada.id)).await;
    assert_eq!(text(&line, "status"), "closed");
    assert_eq!(gsi1(&line), gsi1(&before), "still in the inbox, where it was");
    let phone_item = table.item(format!("CONV#{}", grp.conversation.id), "PART#SMS#+14155550001").await;
    assert_eq!(text(&phone_item, "status"), "active", "a phone has no inbox line to mark");
    assert_eq!(number_attr(&table.item("NUMBER#+16285550002", "NUMBER").await, "routeCount"), 0);
}

#[tokio::test]
async fn a_removed_participant_takes_its_route_and_inbox_line_with_it() {
    let table = Table::new().await;
    let World { bob, grp, .. } = world(&table).await;
    let store = &table.store;
    let cid = grp.conversation.id;
    let texter = grp.participants.iter().find(|p| p.user_id().is_none()).unwrap().clone();

    store.remove_participant(&grp, grp.participant_for_user(bob.id).unwrap(), None).await.unwrap();
    store.remove_participant(&grp, &texter, None).await.unwrap();

    table.absent(format!("CONV#{cid}"), format!("PART#USER#{}", bob.id)).await;
    table.absent(format!("CONV#{cid}"), "PART#SMS#+14155550001").await;
    table.absent("ROUTE#+16285550002", "PHONE#+14155550001").await;
    assert!(table.index(&format!("INBOX#{}", bob.id)).await.len() == 1, "only the direct line is left");
    let meta = table.item(format!("CONV#{cid}"), "#META").await;
    assert_eq!((number_attr(&meta, "participantCount"), number_attr(&meta, "adminCount")), (1, 1));
}

// ---------------------------------------------------------------------------------------------
// Messages

#[tokio::test]
async fn a_send_writes_the_message_its_pointer_deliveries_idempotency_record_and_moves_inbox_lines() {
    let table = Table::new().await;
    let World { ada, bob, grp, .. } = world(&table).await;
    let store = &table.store;
    let cid = grp.conversation.id;
    let at = Utc::now() + Duration::seconds(2);
    let msg = message_at(&grp, &ada, "hello crew", at);
    let deliveries = pending_deliveries(&grp, &msg);
    let new = NewMessage {
        detail: &grp,
        message: &msg,
        deliveries: &deliveries,
        idempotency: Some((ada.id, "key-1")),
        preview: "hello crew".into(),
        idle_deadline: None,
    };

    store.create_message(&new).await.unwrap();

    let item = table.item(format!("MSGS#{cid}"), format!("MSG#{}", msg.id)).await;
    assert_eq!(text(&item, "entity"), "message");
    assert_eq!(
        (text(&item, "content"), text(&item, "senderKind"), text(&item, "senderUserId")),
        ("hello crew", "user", ada.id.to_string().as_str())
    );
    assert_eq!(
        item.get("mediaUrls"),
        Some(&AttributeValue::L(vec![AttributeValue::S("https://example.com/a.png".into())]))
    );
    assert_eq!(item.get("deleted"), Some(&AttributeValue::Bool(false)));
    assert_eq!(time(&item, "createdAt"), at);
    for absent in ["editedAt", "senderPhone", "twilioSid", "mediaContentTypes"] {
        assert!(!has(&item, absent), "{absent}");
    }
    let pointer = table.item(format!("MESSAGE#{}", msg.id), "MESSAGE").await;
    assert_eq!(
        (text(&pointer, "entity"), text(&pointer, "conversationId")),
        ("message-pointer", cid.to_string().as_str())
    );
    let d = &deliveries[0];
    let delivery = table.item(format!("MSGS#{cid}"), format!("DLV#{}#{}", msg.id, d.participant_id)).await;
    assert_eq!(text(&delivery, "entity"), "delivery");
    assert_eq!(gsi1(&delivery), delivery_entry(&at, d.id()), "written ahead into the outbox, due at once");
    assert_delivery_attributes(&delivery, "written ahead", &["GSI1PK", "GSI1SK", "nextAttemptAt"]);
    assert_eq!(
        (text(&delivery, "to"), text(&delivery, "from"), text(&delivery, "status")),
        ("+14155550001", "+16285550002", "pending")
    );
    assert_eq!(
        (
            number_attr(&delivery, "rank"),
            number_attr(&delivery, "segments"),
            number_attr(&delivery, "attempts")
        ),
        (0, 1, 0)
    );
    assert_eq!((text(&delivery, "encoding"), text(&delivery, "body")), ("gsm7", "Ada: hello crew"));
    assert_eq!(
        delivery.get("mediaUrls"),
        Some(&AttributeValue::L(vec![AttributeValue::S("https://example.com/a.png".into())]))
    );
    assert_eq!(text(&delivery, "nextAttemptAt"), stamp(&at));
    assert_eq!(table.outbox().await, BTreeSet::from([delivery_entry(&at, d.id()).unwrap()]));
    let record = table.item(format!("IDEMP#{}#key-1", ada.id), "IDEMP").await;
    assert_eq!(text(&record, "entity"), "idempotency");
    assert_eq!(
        (text(&record, "conversationId"), text(&record, "messageId")),
        (cid.to_string().as_str(), msg.id.to_string().as_str())
    );
    assert_eq!(
        number_attr(&record, "expiresAt"),
        at.timestamp() + 24 * 3600,
        "epoch seconds, a day after the send"
    );

    let meta = table.item(format!("CONV#{cid}"), "#META").await;
    assert_eq!((time(&meta, "lastMessageAt"), text(&meta, "lastMessagePreview")), (at, "hello crew"));
    let line = table.item(format!("CONV#{cid}"), format!("PART#USER#{}", ada.id)).await;
    assert_eq!(gsi1(&line), in_index(&format!("INBOX#{}", ada.id), &format!("{}#{cid}", sortable(&at))));
    assert_eq!((time(&line, "lastMessageAt"), text(&line, "lastMessagePreview")), (at, "hello crew"));
    // Every web member but the author has one more unread; no horizon moves by itself.
    assert_eq!(number_attr(&line, "unreadCount"), 0);
    let bobs = table.item(format!("CONV#{cid}"), format!("PART#USER#{}", bob.id)).await;
    assert!(!has(&line, "lastReadMessageId") && !has(&bobs, "lastReadMessageId"));
    assert_eq!(number_attr(&bobs, "unreadCount"), 1);
}

/// The attributes every delivery item has, whatever its stage: keys, identity, what it sends,
/// its status and its cost.
const DELIVERY_BASE: [&str; 17] = [
    "PK",
    "SK",
    "entity",
    "conversationId",
    "messageId",
    "participantId",
    "to",
    "from",
    "body",
    "mediaUrls",
    "mediaKeys",
    "status",
    "rank",
    "attempts",
    "segments",
    "encoding",
    "updatedAt",
];

/// The delivery item has exactly the base attributes and `extra`.
fn assert_delivery_attributes(item: &Item, stage: &str, extra: &[&str]) {
    let expected: BTreeSet<&str> = DELIVERY_BASE.iter().chain(extra).copied().collect();
    assert_eq!(names(item), expected, "the attributes of a delivery {stage}");
}

/// What a claim adds and keeps: its lease and in-flight mark, its start, and what it read of the
/// attempt before (`wasInFlight`, `reconcileSince`). The last three stay after the attempt ends.
const CLAIM_MARKS: [&str; 3] = ["wasInFlight", "reconcileSince", "attemptStartedAt"];

#[tokio::test]
async fn a_delivery_item_has_the_attributes_of_each_stage_of_the_pipeline() {
    let table = Table::new().await;
    let world = world(&table).await;
    let store = &table.store;
    let written = Utc::now();
    let (d, (pk, sk)) = send_to_group(store, &world.grp, &world.ada, "hi", written).await;
    let id = d.id();
    let with =
        |extra: &[&'static str]| -> Vec<&'static str> { CLAIM_MARKS.iter().chain(extra).copied().collect() };

    // Claimed: counted, leased (epoch milliseconds), in flight; the entry stays where it is.
    let first_at = written + Duration::seconds(1);
    let first = claimed(store, &d, first_at).await;
    let item = table.item(&pk, &sk).await;
    assert_delivery_attributes(
        &item,
        "claimed",
        &with(&["GSI1PK", "GSI1SK", "nextAttemptAt", "leaseUntil", "inFlight"]),
    );
    assert_eq!(gsi1(&item), delivery_entry(&written, id));
    assert_eq!((number_attr(&item, "attempts"), text(&item, "status")), (1, "pending"));
    assert_eq!(number_attr(&item, "leaseUntil"), (first_at + Duration::seconds(120)).timestamp_millis());
    assert!(flag(&item, "inFlight") && !flag(&item, "wasInFlight"), "nothing was in flight before");
    assert_eq!(text(&item, "attemptStartedAt"), stamp(&first_at));
    assert_eq!(text(&item, "reconcileSince"), stamp(&first_at), "no attempt before: its own start");

    // Retried after no answer: due again later (the entry re-dated), still in flight, no lease.
    let retry_at = first_at + Duration::seconds(30);
    let no_answer =
        AttemptOutcome::Retry { at: retry_at, code: None, message: "no answer".into(), ambiguous: true };
    assert!(store.finish_attempt(&first.delivery, 1, &no_answer, first_at).await.unwrap());
    let item = table.item(&pk, &sk).await;
    assert_delivery_attributes(
        &item,
        "retried after no answer",
        &with(&["GSI1PK", "GSI1SK", "nextAttemptAt", "inFlight", "errorMessage"]),
    );
    assert_eq!(gsi1(&item), delivery_entry(&retry_at, id));
    assert_eq!(table.outbox().await, BTreeSet::from([delivery_entry(&retry_at, id).unwrap()]));
    assert_eq!(
        (text(&item, "nextAttemptAt"), text(&item, "updatedAt")),
        (stamp(&retry_at).as_str(), stamp(&first_at).as_str())
    );
    assert!(flag(&item, "inFlight"), "it may have been sent");
    assert_eq!(text(&item, "errorMessage"), "no answer");

    // Claimed again: the previous attempt was in flight, its start is where to reconcile from.
    let second = claimed(store, &d, retry_at).await;
    assert_eq!(second.reconcile_since, Some(first_at));
    let item = table.item(&pk, &sk).await;
    assert_delivery_attributes(
        &item,
        "claimed again",
        &with(&["GSI1PK", "GSI1SK", "nextAttemptAt", "leaseUntil", "inFlight", "errorMessage"]),
    );
    assert!(flag(&item, "inFlight") && flag(&item, "wasInFlight"));
    assert_eq!(
        (text(&item, "reconcileSince"), text(&item, "attemptStartedAt")),
        (stamp(&first_at).as_str(), stamp(&retry_at).as_str())
    );

    // Retried when Twilio refused for now (throttled): certainly not sent, with Twilio's code.
    let throttled_at = retry_at + Duration::seconds(60);
    let throttled = AttemptOutcome::Retry {
        at: throttled_at,
        code: Some(20429),
        message: "slow down".into(),
        ambiguous: false,
    };
    assert!(store.finish_attempt(&second.delivery, 2, &throttled, retry_at).await.unwrap());
    let item = table.item(&pk, &sk).await;
    assert_delivery_attributes(
        &item,
        "retried when throttled",
        &with(&["GSI1PK", "GSI1SK", "nextAttemptAt", "inFlight", "errorCode", "errorMessage"]),
    );
    assert!(!flag(&item, "inFlight"));
    assert_eq!((number_attr(&item, "errorCode"), text(&item, "errorMessage")), (20429, "slow down"));
    assert_eq!(gsi1(&item), delivery_entry(&throttled_at, id));

    // Accepted: out of the outbox, under its SID; lease, in-flight mark, due time and error gone.
    let third = claimed(store, &d, throttled_at).await;
    assert_eq!(third.reconcile_since, None);
    let queued = AttemptOutcome::Accepted { sid: "SM1".into(), status: DeliveryStatus::Queued };
    assert!(store.finish_attempt(&third.delivery, 3, &queued, throttled_at).await.unwrap());
    let item = table.item(&pk, &sk).await;
    assert_delivery_attributes(&item, "accepted", &with(&["GSI1PK", "GSI1SK", "twilioSid"]));
    assert_eq!(gsi1(&item), in_index("SID#SM1", "DELIVERY"));
    assert_eq!(
        (
            text(&item, "status"),
            number_attr(&item, "rank"),
            number_attr(&item, "attempts"),
            text(&item, "twilioSid")
        ),
        ("queued", 2, 3, "SM1")
    );
    assert!(table.outbox().await.is_empty());
    assert_eq!(table.index("SID#SM1").await.len(), 1);

    // Failed, by its status callback: with the error.
    store.apply_status(&status_update(&d, DeliveryStatus::Failed, "SM1", Some(30003))).await.unwrap();
    let item = table.item(&pk, &sk).await;
    assert_delivery_attributes(
        &item,
        "failed by its callback",
        &with(&["GSI1PK", "GSI1SK", "twilioSid", "errorCode", "errorMessage"]),
    );
    assert_eq!(
        (text(&item, "status"), number_attr(&item, "rank"), number_attr(&item, "errorCode")),
        ("failed", 8, 30003)
    );

    // Redriven: back in the outbox from attempt zero, due now; its SID superseded and out of the index.
    let read_back = store.get_message(d.message_id).await.unwrap().unwrap().deliveries.remove(0);
    let redrive = throttled_at + Duration::seconds(10);
    assert!(store.reset_failed_delivery(&read_back, redrive).await.unwrap());
    let item = table.item(&pk, &sk).await;
    assert_delivery_attributes(
        &item,
        "reset",
        &with(&["GSI1PK", "GSI1SK", "nextAttemptAt", "supersededSids"]),
    );
    assert_eq!(gsi1(&item), delivery_entry(&redrive, id));
    assert_eq!(
        (text(&item, "status"), number_attr(&item, "rank"), number_attr(&item, "attempts")),
        ("pending", 0, 0)
    );
    assert_eq!(
        (text(&item, "nextAttemptAt"), text(&item, "updatedAt")),
        (stamp(&redrive).as_str(), stamp(&redrive).as_str())
    );
    assert_eq!(item.get("supersededSids"), Some(&AttributeValue::Ss(vec!["SM1".into()])));
    assert!(table.index("SID#SM1").await.is_empty());
    assert_eq!(table.outbox().await, BTreeSet::from([delivery_entry(&redrive, id).unwrap()]));

    // A status callback that overtakes the pipeline moves the entry from the outbox to its SID.
    let out = claimed(store, &d, redrive).await;
    store.apply_status(&status_update(&d, DeliveryStatus::Sent, "SM2", None)).await.unwrap();
    let item = table.item(&pk, &sk).await;
    assert_eq!(gsi1(&item), in_index("SID#SM2", "DELIVERY"));
    assert!(table.outbox().await.is_empty());
    assert_delivery_attributes(
        &item,
        "sent while its attempt was out",
        &with(&[
            "GSI1PK",
            "GSI1SK",
            "nextAttemptAt",
            "leaseUntil",
            "inFlight",
            "twilioSid",
            "supersededSids",
        ]),
    );
    let sid_only = AttemptOutcome::Accepted { sid: "SM2".into(), status: DeliveryStatus::Queued };
    assert!(store.finish_attempt(&out.delivery, 1, &sid_only, redrive).await.unwrap());
    let item = table.item(&pk, &sk).await;
    assert_delivery_attributes(
        &item,
        "then accepted",
        &with(&["GSI1PK", "GSI1SK", "twilioSid", "supersededSids"]),
    );
    assert_eq!((text(&item, "status"), gsi1(&item)), ("sent", in_index("SID#SM2", "DELIVERY")));
}

#[tokio::test]
async fn a_refused_or_abandoned_delivery_leaves_the_outbox_with_its_error() {
    let table = Table::new().await;
    let world = world(&table).await;
    let store = &table.store;
    let now = Utc::now();
    let refused = AttemptOutcome::Refused {
        status: DeliveryStatus::Failed,
        code: Some(21211),
        message: "invalid To".into(),
    };
    let stop = AttemptOutcome::Refused {
        status: DeliveryStatus::OptedOut,
        code: Some(21610),
        message: "STOP".into(),
    };
    let tentative = AttemptOutcome::GaveUp { code: None, message: "no answer".into(), tentative: true };
    let definite =
        AttemptOutcome::GaveUp { code: Some(20429), message: "throttled".into(), tentative: false };
    let cases = [
        (refused, "failed", 8, Some(21211)),
        (tentative, "failed", 1, None),
        (definite, "failed", 8, Some(20429)),
        (stop, "opted_out", 8, Some(21610)),
    ];

    for (outcome, status, rank, code) in cases {
        let (d, (pk, sk)) = send_to_group(store, &world.grp, &world.ada, "hi", now).await;
        attempt(store, &d, &outcome, now).await;

        let item = table.item(&pk, &sk).await;
        let mut extra = vec!["errorMessage"];
        extra.extend(CLAIM_MARKS);
        extra.extend(code.map(|_| "errorCode"));
        assert_delivery_attributes(&item, &format!("{outcome:?}"), &extra);
        assert_eq!(gsi1(&item), None, "{outcome:?}: in no index");
        assert_eq!((text(&item, "status"), number_attr(&item, "rank")), (status, rank), "{outcome:?}");
        assert_eq!(code.map(|_| number_attr(&item, "errorCode")), code);
    }

    assert!(table.outbox().await.is_empty());
    // The opt-out, written with the refusal.
    let opt_out = table.item("OPTOUT#+16285550002", "PHONE#+14155550001").await;
    assert_eq!(names(&opt_out), BTreeSet::from(["PK", "SK", "entity", "optedOutAt"]));
    time(&opt_out, "optedOutAt");
}

#[tokio::test]
async fn an_inbound_group_text_carries_its_relay_entry_until_it_is_fanned_out() {
    let table = Table::new().await;
    let World { ada, .. } = world(&table).await;
    let store = &table.store;
    let grp = detail(
        ConversationKind::Group,
        &ada,
        Some("Phones"),
        vec![
            member(&ada, ParticipantRole::Admin),
            texter(&phone(3), &number(3)),
            texter(&phone(4), &number(3)),
        ],
    );
    store
        .create_conversation(NewConversation {
            detail: &grp,
            direct_pair: None,
            sms_owner: None,
            idle_deadline: None,
        })
        .await
        .unwrap();
    // A text without media: its pointer carries no media-copy mark.
    let text_in = Message {
        media_urls: Vec::new(),
        media_content_types: Vec::new(),
        ..inbound(&grp, &phone(3), "SMg")
    };
    let write = InboundWrite {
        message_sid: "SMg",
        message: Some(&text_in),
        preview: "hello".into(),
        inbox_user_id: None,
        opt_change: None,
        relay: true,
    };

    store.record_inbound(&write).await.unwrap();

    let (pk, sk) = (format!("MSGS#{}", grp.conversation.id), format!("MSG#{}", text_in.id));
    let item = table.item(&pk, &sk).await;
    assert_eq!(gsi1(&item), relay_entry(&text_in.created_at, &text_in), "in the outbox, due at once");
    assert_eq!(table.outbox().await, BTreeSet::from([relay_entry(&text_in.created_at, &text_in).unwrap()]));

    let relays: Vec<_> =
        pending_deliveries(&grp, &text_in).into_iter().filter(|d| d.to == phone(4)).collect();
    assert!(store.fan_out_relays(&grp, &text_in, &relays, "relayed").await.unwrap());

    let item = table.item(&pk, &sk).await;
    assert_eq!(gsi1(&item), None, "out of the outbox");
    assert!(!has(&item, "GSI1PK") && !has(&item, "GSI1SK"));
    let relay = &relays[0];
    let delivery = table.item(&pk, format!("DLV#{}#{}", text_in.id, relay.participant_id)).await;
    assert_eq!(gsi1(&delivery), delivery_entry(&text_in.created_at, relay.id()));
    assert_eq!((text(&delivery, "from"), text(&delivery, "body")), ("+16285550003", "+14155550003: hello"));
    assert_eq!(
        table.outbox().await,
        BTreeSet::from([delivery_entry(&text_in.created_at, relay.id()).unwrap()])
    );
    let line = table.item(format!("CONV#{}", grp.conversation.id), format!("PART#USER#{}", ada.id)).await;
    assert_eq!(text(&line, "lastMessagePreview"), "relayed");
}

#[tokio::test]
async fn an_inbound_mms_pointer_carries_its_media_copy_mark_until_the_copy_lands() {
    let table = Table::new().await;
    let World { pair, .. } = world(&table).await;
    let store = &table.store;
    let mms = inbound(&pair, &phone(3), "MMs");
    let write = InboundWrite {
        message_sid: "MMs",
        message: Some(&mms),
        preview: "hello".into(),
        inbox_user_id: None,
        opt_change: None,
        relay: false,
    };
    store.record_inbound(&write).await.unwrap();
    let (cid, mid) = (mms.conversation_id, mms.id);
    let pointer_key = (format!("MESSAGE#{mid}"), "MESSAGE");
    let mark = |due: &DateTime<Utc>| {
        in_index(&outbox_pk(&mid.to_string()), &format!("{}#M#{cid}#{mid}", stamp(due)))
    };
    let pointer = table.item(&pointer_key.0, pointer_key.1).await;
    assert_eq!(gsi1(&pointer), mark(&mms.created_at), "in the outbox, due at once");
    assert!(!has(&pointer, "mediaAttempts"));

    let now = Utc::now();
    let lease = std::time::Duration::from_secs(120);
    assert_eq!(store.claim_media_copy(cid, mid, now, lease).await.unwrap(), Some(1));
    let pointer = table.item(&pointer_key.0, pointer_key.1).await;
    assert_eq!(gsi1(&pointer), mark(&(now + Duration::seconds(120))), "leased: due again after the lease");
    assert_eq!(pointer.get("mediaAttempts"), Some(&AttributeValue::N("1".into())));

    let keys = vec![format!("media/{cid}/{mid}/0")];
    assert!(store.finish_media_copy(cid, mid, 1, &CopyOutcome::Copied(keys.clone())).await.unwrap());
    let pointer = table.item(&pointer_key.0, pointer_key.1).await;
    assert!(!has(&pointer, "GSI1PK") && !has(&pointer, "GSI1SK"), "out of the outbox");
    let message = table.item(format!("MSGS#{cid}"), format!("MSG#{mid}")).await;
    assert_eq!(message.get("mediaKeys"), Some(&AttributeValue::L(vec![AttributeValue::S(keys[0].clone())])));
    assert_eq!(table.outbox().await, BTreeSet::new());
}

#[tokio::test]
async fn an_edit_and_a_delete_change_the_message_item_in_place() {
    let table = Table::new().await;
    let World { bob, pair, .. } = world(&table).await;
    let store = &table.store;
    let msg = message_at(&pair, &bob, "hi", Utc::now());
    let new = NewMessage {
        detail: &pair,
        message: &msg,
        deliveries: &[],
        idempotency: None,
        preview: "hi".into(),
        idle_deadline: None,
    };
    store.create_message(&new).await.unwrap();
    let (pk, sk) = (format!("MSGS#{}", pair.conversation.id), format!("MSG#{}", msg.id));

    let at = Utc::now();
    store
        .change_message(
            &msg,
            bob.id,
            switchboard::core::ports::messages::MessageChange::Edit { content: "hey".into(), at },
        )
        .await
        .unwrap();
    let edited = table.item(&pk, &sk).await;
    assert_eq!((text(&edited, "content"), time(&edited, "editedAt")), ("hey", at));

    store
        .change_message(&msg, bob.id, switchboard::core::ports::messages::MessageChange::Delete { at })
        .await
        .unwrap();
    let deleted = table.item(&pk, &sk).await;
    assert_eq!(deleted.get("deleted"), Some(&AttributeValue::Bool(true)));
    assert_eq!(text(&deleted, "content"), "");
    assert_eq!(deleted.get("mediaUrls"), Some(&AttributeValue::L(vec![])));
}

// ---------------------------------------------------------------------------------------------
// Webhooks and connections

#[tokio::test]
async fn an_inbound_text_leaves_a_record_that_expires_in_seven_days() {
    let table = Table::new().await;
    let World { ada, sms, .. } = world(&table).await;
    let store = &table.store;
    let text_in = inbound(&sms, &phone(2), "SMin1");
    let before = Utc::now().timestamp();

    let write = InboundWrite {
        message_sid: "SMin1",
        message: Some(&text_in),
        preview: "hello".into(),
        inbox_user_id: Some(ada.id),
        opt_change: None,
        relay: false,
    };
    store.record_inbound(&write).await.unwrap();

    let after = Utc::now().timestamp();
    let record = table.item("INBOUND#SMin1", "INBOUND").await;
    assert_eq!(text(&record, "entity"), "inbound");
    assert_eq!(
        (text(&record, "conversationId"), text(&record, "messageId")),
        (sms.conversation.id.to_string().as_str(), text_in.id.to_string().as_str())
    );
    let expires = number_attr(&record, "expiresAt");
    let week = 7 * 24 * 3600;
    assert!((before + week..=after + week).contains(&expires), "{expires}: epoch seconds, a week ahead");
    let item = table.item(format!("MSGS#{}", sms.conversation.id), format!("MSG#{}", text_in.id)).await;
    assert_eq!(
        (text(&item, "senderKind"), text(&item, "senderPhone"), text(&item, "twilioSid")),
        ("sms", "+14155550002", "SMin1")
    );
    assert_eq!(
        item.get("mediaContentTypes"),
        Some(&AttributeValue::L(vec![AttributeValue::S("image/jpeg".into())]))
    );
    assert!(!has(&item, "senderUserId"));
    assert_eq!(gsi1(&item), None, "a one-to-one text has no relay: in no index");
    table.item(format!("MESSAGE#{}", text_in.id), "MESSAGE").await;

    // A STOP without a message: the record names nothing; the opt-out item.
    let stop = InboundWrite {
        message_sid: "SMin2",
        message: None,
        preview: String::new(),
        inbox_user_id: None,
        opt_change: Some(OptChange { number: &number(1), phone: &phone(5), opted_out: true }),
        relay: false,
    };
    store.record_inbound(&stop).await.unwrap();
    let record = table.item("INBOUND#SMin2", "INBOUND").await;
    assert!(!has(&record, "conversationId") && !has(&record, "messageId"));
    let opt_out = table.item("OPTOUT#+16285550001", "PHONE#+14155550005").await;
    assert_eq!(text(&opt_out, "entity"), "opt-out");
    time(&opt_out, "optedOutAt");
    store.set_opt_out(&number(1), &phone(5), false).await.unwrap();
    table.absent("OPTOUT#+16285550001", "PHONE#+14155550005").await;
}

#[tokio::test]
async fn a_connection_is_two_items_that_expire_together() {
    let table = Table::new().await;
    let store = &table.store;
    let (ada, now) = (UserId::new(), Utc::now());
    let connection = Connection::new(ConnectionId::parse("L0SM9cOFvHcCIhw=").unwrap(), ada, now);

    store.put_connection(&connection).await.unwrap();

    let sides = [
        table.item(format!("USER#{ada}"), "CONN#L0SM9cOFvHcCIhw=").await,
        table.item("CONN#L0SM9cOFvHcCIhw=", "CONNECTION").await,
    ];
    for item in &sides {
        assert_eq!(text(item, "entity"), "connection");
        assert_eq!(
            (text(item, "connectionId"), text(item, "userId")),
            ("L0SM9cOFvHcCIhw=", ada.to_string().as_str())
        );
        assert_eq!(time(item, "connectedAt"), now);
        assert_eq!(
            number_attr(item, "expiresAt"),
            now.timestamp() + 3 * 3600,
            "epoch seconds, three hours on"
        );
    }
    assert_eq!(table.scan().await.len(), 2);

    store.delete_connection(ada, &connection.connection_id).await.unwrap();
    assert!(table.scan().await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Every item of a busy table

#[tokio::test]
async fn no_item_carries_an_attribute_outside_its_entitys_list() {
    let table = Table::new().await;
    let World { ada, bob, grp, sms, .. } = world(&table).await;
    let store = &table.store;
    // Every state an item can be in: profile fields, a releasing number, messages with
    // deliveries (written ahead, claimed, retried, accepted, failed, redriven), idempotency, an
    // inbound text, a group text waiting for its relay, a STOP, a connection, a closed
    // conversation.
    let changes = ProfileChanges {
        first_name: Some(Some("Bob".into())),
        last_name: Some(Some("B".into())),
        phone_number: Some(Some(phone(9))),
        email: None,
    };
    store.update_profile(&bob, &changes).await.unwrap();
    store.mark_number_releasing(ada.id, &number(1)).await.unwrap();
    let old = Utc::now() - Duration::hours(1);
    let now = Utc::now();
    let msg = message_at(&grp, &ada, "hi", old);
    let deliveries = pending_deliveries(&grp, &msg);
    let new = NewMessage {
        detail: &grp,
        message: &msg,
        deliveries: &deliveries,
        idempotency: Some((ada.id, "k")),
        preview: "hi".into(),
        idle_deadline: None,
    };
    store.create_message(&new).await.unwrap();
    // Accepted, failed by its callback, redriven: back in the outbox, its SID superseded.
    attempt(
        store,
        &deliveries[0],
        &AttemptOutcome::Accepted { sid: "SM1".into(), status: DeliveryStatus::Queued },
        now,
    )
    .await;
    store
        .apply_status(&status_update(&deliveries[0], DeliveryStatus::Failed, "SM1", Some(30003)))
        .await
        .unwrap();
    let failed = store.get_message(msg.id).await.unwrap().unwrap().deliveries.remove(0);
    assert!(store.reset_failed_delivery(&failed, now).await.unwrap());
    // Claimed, its attempt still out (leased, in flight).
    let (in_flight, _) = send_to_group(store, &grp, &ada, "again", old).await;
    claimed(store, &in_flight, now).await;
    // Retried when throttled, then accepted and undelivered (SID and error).
    let (undelivered, _) = send_to_group(store, &grp, &ada, "more", old).await;
    let throttled =
        AttemptOutcome::Retry { at: now, code: Some(20429), message: "slow".into(), ambiguous: false };
    attempt(store, &undelivered, &throttled, now).await;
    attempt(
        store,
        &undelivered,
        &AttemptOutcome::Accepted { sid: "SM2".into(), status: DeliveryStatus::Queued },
        now,
    )
    .await;
    store
        .apply_status(&status_update(&undelivered, DeliveryStatus::Undelivered, "SM2", Some(30005)))
        .await
        .unwrap();
    // An inbound one-to-one text, and a group text waiting for its relay (in the outbox).
    let text_in = inbound(&sms, &phone(2), "SMin");
    let write = InboundWrite {
        message_sid: "SMin",
        message: Some(&text_in),
        preview: "hello".into(),
        inbox_user_id: Some(ada.id),
        opt_change: None,
        relay: false,
    };
    store.record_inbound(&write).await.unwrap();
    // Ada reads it: her line of the one-to-one conversation gets its read horizon.
    let sms_now = store.get_conversation(sms.conversation.id).await.unwrap().unwrap();
    let reader = sms_now.participant_for_user(ada.id).unwrap();
    assert!(store.mark_read(&sms_now, reader, text_in.id).await.unwrap().unwrap().moved);
    let to_group = inbound(&grp, &phone(1), "SMgrp");
    store
        .record_inbound(&InboundWrite {
            message_sid: "SMgrp",
            message: Some(&to_group),
            relay: true,
            ..write
        })
        .await
        .unwrap();
    // The SMS text's media copied (its pointer out of the outbox, the message's `mediaKeys`);
    // the group text's copy still waiting.
    let lease = std::time::Duration::from_secs(120);
    let (cid, mid) = (text_in.conversation_id, text_in.id);
    assert_eq!(store.claim_media_copy(cid, mid, Utc::now(), lease).await.unwrap(), Some(1));
    let copied = CopyOutcome::Copied(vec![format!("media/{cid}/{mid}/0")]);
    assert!(store.finish_media_copy(cid, mid, 1, &copied).await.unwrap());
    store.set_opt_out(&number(1), &phone(2), true).await.unwrap();
    // The SMS conversation's own timer (and its idle entry).
    let deadline = Utc::now() + Duration::days(1);
    store.set_idle_timer(sms.conversation.id, IdleTimer::After(86_400), Some(deadline)).await.unwrap();
    store
        .put_connection(&Connection::new(ConnectionId::parse("c1").unwrap(), ada.id, Utc::now()))
        .await
        .unwrap();
    let closing = store.get_conversation(grp.conversation.id).await.unwrap().unwrap();
    store.close_conversation(&closing).await.unwrap();
    let grace = contact(&ada, "Grace", &phone(1), Some("notes"));
    store.create_contact(&grace).await.unwrap();

    let items = table.scan().await;

    let mut seen: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    for item in &items {
        check_entity(item);
        let entity = entity(text(item, "entity"));
        seen.entry(entity.name).or_default().extend(item.keys().cloned());
    }
    // Every entity was written, and every attribute listed for one was seen: the lists are what
    // the adapter writes, no more.
    let entities: Vec<&str> = seen.keys().copied().collect();
    let mut expected: Vec<&str> = ENTITIES.iter().map(|e| e.name).collect();
    expected.sort_unstable();
    assert_eq!(entities, expected);
    for entity in ENTITIES {
        let attributes = &seen[entity.name];
        // `editedAt` is the one attribute of these lists that only the edit scenario writes.
        let unseen: Vec<&&str> = entity
            .attributes
            .iter()
            .filter(|a| !attributes.contains(**a))
            .filter(|a| !(entity.name == "message" && **a == "editedAt"))
            .collect();
        assert!(unseen.is_empty(), "{}: listed but never written: {unseen:?}", entity.name);
    }
    // The outbox's entries: the redriven delivery, the claimed one (a claim leaves its entry),
    // and the group text's relay and media copy.
    let outbox: Vec<String> = table.outbox().await.into_iter().map(|(_, sk)| sk).collect();
    assert_eq!(outbox.len(), 4, "{outbox:?}");
    assert_eq!(outbox.iter().filter(|sk| sk.contains("#R#")).count(), 1, "{outbox:?}");
    assert_eq!(outbox.iter().filter(|sk| sk.contains("#M#")).count(), 1, "{outbox:?}");
}

fn contact(owner: &User, name: &str, phone: &E164, notes: Option<&str>) -> Contact {
    let now = Utc::now();
    Contact {
        id: ContactId::new(),
        owner: owner.id,
        name: name.into(),
        phone: phone.clone(),
        notes: notes.map(str::to_string),
        created_at: now,
        updated_at: now,
    }
}

#[tokio::test]
async fn a_contact_is_an_item_listed_by_name_and_a_phone_claim_that_follows_its_renames_and_moves() {
    let table = Table::new().await;
    let store = &table.store;
    let ada = registered(store, "ada").await;
    let grace = contact(&ada, " Grace Hopper", &phone(1), Some("COBOL"));
    store.create_contact(&grace).await.unwrap();
    let (pk, sk) = (format!("CONTACTS#{}", ada.id), format!("CONTACT#{}", grace.id));
    let item = table.item(&pk, &sk).await;
    assert_eq!(text(&item, "entity"), "contact");
    assert_eq!(gsi1(&item), in_index(&pk, &format!("grace hopper#{}", grace.id)), "by normalised name");
    assert_eq!((text(&item, "name"), text(&item, "phone")), (" Grace Hopper", "+14155550001"));
    assert_eq!((text(&item, "ownerId"), text(&item, "notes")), (ada.id.to_string().as_str(), "COBOL"));
    assert_eq!(time(&item, "createdAt"), grace.created_at);
    let claim = table.item(&pk, "PHONE#+14155550001").await;
    assert_eq!(text(&claim, "entity"), "contact-phone");
    assert_eq!(
        (text(&claim, "contactId"), text(&claim, "name")),
        (grace.id.to_string().as_str(), " Grace Hopper")
    );
    assert_eq!(gsi1(&claim), None, "a claim is not listed");

    // Renamed, moved to another phone, notes cleared: one transaction moves everything.
    let moved = Contact { name: "Admiral".into(), phone: phone(2), notes: None, ..grace.clone() };
    store.update_contact(&grace, &moved).await.unwrap();
    let item = table.item(&pk, &sk).await;
    assert_eq!(gsi1(&item), in_index(&pk, &format!("admiral#{}", grace.id)));
    assert!(!has(&item, "notes"));
    table.absent(&pk, "PHONE#+14155550001").await;
    assert_eq!(text(&table.item(&pk, "PHONE#+14155550002").await, "name"), "Admiral");
    assert_eq!(table.index(&pk).await.len(), 1);

    store.delete_contact(&moved).await.unwrap();
    table.absent(&pk, &sk).await;
    table.absent(&pk, "PHONE#+14155550002").await;
}

// ---------------------------------------------------------------------------------------------
// docs/data-model.md

#[test]
fn the_docs_name_every_attribute_of_every_entity() {
    let rows = documented_rows();
    let values: BTreeSet<&str> = rows.iter().map(|(value, _, _)| value.as_str()).collect();
    let names: BTreeSet<&str> = ENTITIES.iter().map(|e| e.name).collect();
    assert_eq!(values, names, "the `entity` column names every entity once or more, and no other");
    for entity in ENTITIES {
        let rows: Vec<_> = rows.iter().filter(|(value, _, _)| value == entity.name).collect();
        let text = rows.iter().map(|(_, _, row)| row.as_str()).collect::<Vec<_>>().join("\n");
        // The GSI1 keys have their columns (checked below); every other attribute is named.
        let unnamed: Vec<&&str> = entity
            .attributes
            .iter()
            .filter(|a| !a.starts_with("GSI1") && !text.contains(&format!("`{a}`")))
            .collect();
        assert!(unnamed.is_empty(), "docs/data-model.md does not name {unnamed:?} of `{}`", entity.name);
        let indexed = rows.iter().any(|(_, gsi1pk, _)| gsi1pk != "–");
        assert_eq!(indexed, entity.indexed, "GSI1 keys of `{}`", entity.name);
        assert_eq!(text.contains("`expiresAt`"), entity.expires, "TTL of `{}`", entity.name);
        // Nor does a row name a camelCase attribute the entity does not have.
        for word in text.split('`').skip(1).step_by(2) {
            let camel = word.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && word.chars().all(|c| c.is_ascii_alphanumeric())
                && word.chars().any(|c| c.is_ascii_uppercase());
            if camel {
                assert!(
                    entity.attributes.contains(&word),
                    "`{}` names `{word}`, which it does not write",
                    entity.name
                );
            }
        }
    }
}
