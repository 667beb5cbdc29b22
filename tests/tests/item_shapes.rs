//! The shapes of the items the DynamoDB adapter writes, read back raw (GetItem, Scan) from a fresh
//! table of the local server after each operation: every entity's keys, its GSI1 attributes
//! where docs/data-model.md puts it in the index (and their absence where it does not), the TTL
//! attribute `expiresAt` (a number, epoch seconds) on the items that expire, the `entity`
//! attribute, and no attribute outside the entity's list.
//!
//! Each entity's list is in two parts: the attributes docs/data-model.md names, and those the
//! adapter writes that the docs do not name (a disagreement of docs and code, reported, not
//! hidden: `no_item_carries_an_attribute_outside_its_entitys_list` fails when either part is
//! wrong, so the lists are exactly what is written).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Duration, Utc};
use switchboard::core::domain::conversation::{
    Conversation, ConversationDetail, ConversationKind, ConversationStatus, Member, Participant,
    ParticipantRole,
};
use switchboard::core::domain::ids::{ConnectionId, ConversationId, MessageId, ParticipantId, UserId};
use switchboard::core::domain::message::{segments, Delivery, DeliveryStatus, Message, Sender, SenderKind};
use switchboard::core::domain::phone::E164;
use switchboard::core::domain::realtime::Connection;
use switchboard::core::domain::user::User;
use switchboard::core::ports::conversations::NewConversation;
use switchboard::core::ports::messages::NewMessage;
use switchboard::core::ports::users::ProfileChanges;
use switchboard::core::ports::webhooks::{InboundWrite, OptChange, StatusUpdate};
use switchboard::core::ports::{
    ConnectionStore, ConversationStore, MessageStore, NumberPool, UserStore, WebhookStore,
};
use switchboard::dynamo::items::sortable;
use switchboard::dynamo::DynamoStore;

type Item = HashMap<String, AttributeValue>;

// ---------------------------------------------------------------------------------------------
// What docs/data-model.md says each entity holds.

struct Entity {
    /// The `entity` attribute.
    name: &'static str,
    /// Attributes the docs name for it (keys, GSI1 keys and TTL included where they apply).
    documented: &'static [&'static str],
    /// Attributes the adapter writes that the docs do not name (reported as a disagreement).
    not_in_docs: &'static [&'static str],
    /// In GSI1 (at least in some states), per the docs.
    indexed: bool,
    /// Carries the TTL attribute, per the docs.
    expires: bool,
}

const KEYS: [&str; 3] = ["PK", "SK", "entity"];

const ENTITIES: &[Entity] = &[
    Entity {
        name: "user",
        documented: &["GSI1PK", "GSI1SK", "passwordHash", "tokenVersion", "virtualNumber"],
        not_in_docs: &[
            "id",
            "username",
            "email",
            "firstName",
            "lastName",
            "phoneNumber",
            "active",
            "createdAt",
            "updatedAt",
            "numberReleasing",
        ],
        indexed: true,
        expires: false,
    },
    Entity { name: "unique", documented: &["userId"], not_in_docs: &[], indexed: false, expires: false },
    Entity {
        name: "number",
        documented: &["GSI1PK", "GSI1SK", "ownerId", "routeCount", "addedAt", "assignedAt"],
        not_in_docs: &["number"],
        indexed: true,
        expires: false,
    },
    Entity {
        name: "conversation",
        documented: &["kind", "name", "status", "lastMessageAt", "participantCount", "adminCount"],
        not_in_docs: &["id", "description", "createdBy", "createdAt", "lastMessagePreview"],
        indexed: false,
        expires: false,
    },
    Entity {
        name: "participant",
        documented: &[
            "GSI1PK",
            "GSI1SK",
            "id",
            "role",
            "displayName",
            "proxyNumber",
            "title",
            "conversationKind",
            "status",
            "lastMessageAt",
            "lastMessagePreview",
        ],
        not_in_docs: &["conversationId", "userId", "phone", "joinedAt"],
        indexed: true,
        expires: false,
    },
    Entity {
        name: "route",
        documented: &["conversationId", "participantId"],
        not_in_docs: &["number", "phone", "displayName", "inboxUserId"],
        indexed: false,
        expires: false,
    },
    Entity {
        name: "direct",
        documented: &["conversationId"],
        not_in_docs: &[],
        indexed: false,
        expires: false,
    },
    Entity {
        name: "message",
        // The docs say "sender"; the attributes are senderKind, senderUserId, senderPhone, senderName.
        documented: &["content", "mediaUrls", "createdAt", "editedAt", "deleted"],
        not_in_docs: &[
            "id",
            "conversationId",
            "senderKind",
            "senderUserId",
            "senderPhone",
            "senderName",
            "mediaContentTypes",
            "twilioSid",
        ],
        indexed: false,
        expires: false,
    },
    Entity {
        name: "delivery",
        documented: &[
            "GSI1PK",
            "GSI1SK",
            "to",
            "from",
            "status",
            "rank",
            "twilioSid",
            "errorCode",
            "errorMessage",
            "segments",
            "encoding",
        ],
        not_in_docs: &[
            "conversationId",
            "messageId",
            "participantId",
            "updatedAt",
            "supersededSids",
            "redeliveryAt",
        ],
        indexed: true,
        expires: false,
    },
    Entity {
        name: "message-pointer",
        documented: &["conversationId"],
        not_in_docs: &[],
        indexed: false,
        expires: false,
    },
    Entity {
        name: "idempotency",
        documented: &["conversationId", "messageId", "expiresAt"],
        not_in_docs: &[],
        indexed: false,
        expires: true,
    },
    // The docs name no attribute of an opt-out item.
    Entity { name: "opt-out", documented: &[], not_in_docs: &["optedOutAt"], indexed: false, expires: false },
    Entity {
        name: "inbound",
        documented: &["conversationId", "messageId", "expiresAt"],
        not_in_docs: &[],
        indexed: false,
        expires: true,
    },
    Entity {
        name: "connection",
        documented: &["connectionId", "userId", "connectedAt", "expiresAt"],
        not_in_docs: &[],
        indexed: false,
        expires: true,
    },
];

/// The `entity` values docs/data-model.md lists ("item type (`user`, `unique`, `number`)").
const DOCUMENTED_ENTITY_VALUES: [&str; 3] = ["user", "unique", "number"];

fn entity(name: &str) -> &'static Entity {
    ENTITIES
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("an entity the docs do not list: {name}"))
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
    let allowed: BTreeSet<&str> =
        KEYS.iter().chain(entity.documented).chain(entity.not_in_docs).copied().collect();
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
    }
}

fn texter(phone: &E164, proxy: &E164) -> Participant {
    Participant {
        id: ParticipantId::new(),
        member: Member::Sms { phone: phone.clone(), proxy_number: proxy.clone() },
        display_name: format!("Phone {}", phone.as_str()),
        role: ParticipantRole::Member,
        joined_at: Utc::now(),
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
        },
        participants,
    }
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
        media_urls: vec!["https://example.com/a.png".into()],
        media_content_types: Vec::new(),
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
        twilio_sid: Some(sid.into()),
        created_at: Utc::now(),
        edited_at: None,
        deleted: false,
    }
}

fn pending_deliveries(detail: &ConversationDetail, message: &Message) -> Vec<Delivery> {
    detail
        .participants
        .iter()
        .filter_map(|p| p.route().map(|(from, to)| (p.id, from, to)))
        .map(|(participant_id, from, to)| Delivery {
            conversation_id: detail.conversation.id,
            message_id: message.id,
            participant_id,
            to,
            from,
            status: DeliveryStatus::Pending,
            twilio_sid: None,
            error_code: None,
            error_message: None,
            segments: segments(&message.content),
            updated_at: message.created_at,
            tentative: false,
        })
        .collect()
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
        .create_conversation(NewConversation { detail: &grp, direct_pair: None, sms_owner: None })
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
        .create_conversation(NewConversation { detail: &sms, direct_pair: None, sms_owner: owner })
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
        .create_conversation(NewConversation { detail: &pair, direct_pair: direct, sms_owner: None })
        .await
        .unwrap();
    World { ada, bob, grp, sms, pair }
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
        .create_conversation(NewConversation { detail: &grp, direct_pair: None, sms_owner: None })
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
    let World { ada, grp, .. } = world(&table).await;
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
    assert_eq!(gsi1(&delivery), None, "no SID yet: not in the index");
    assert_eq!(
        (text(&delivery, "to"), text(&delivery, "from"), text(&delivery, "status")),
        ("+14155550001", "+16285550002", "pending")
    );
    assert_eq!((number_attr(&delivery, "rank"), number_attr(&delivery, "segments")), (0, 1));
    assert_eq!(text(&delivery, "encoding"), "gsm7");
    for absent in ["twilioSid", "errorCode", "errorMessage", "supersededSids", "redeliveryAt"] {
        assert!(!has(&delivery, absent), "{absent}");
    }
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
}

#[tokio::test]
async fn a_delivery_enters_the_index_with_its_sid_and_leaves_it_when_reset() {
    let table = Table::new().await;
    let World { ada, grp, .. } = world(&table).await;
    let store = &table.store;
    let msg = message_at(&grp, &ada, "hi", Utc::now());
    let deliveries = pending_deliveries(&grp, &msg);
    let new = NewMessage {
        detail: &grp,
        message: &msg,
        deliveries: &deliveries,
        idempotency: None,
        preview: "hi".into(),
    };
    store.create_message(&new).await.unwrap();
    let d = deliveries[0].clone();
    let (pk, sk) = (format!("MSGS#{}", grp.conversation.id), format!("DLV#{}#{}", msg.id, d.participant_id));

    let queued = Delivery {
        status: DeliveryStatus::Queued,
        twilio_sid: Some("SM1".into()),
        updated_at: Utc::now(),
        ..d.clone()
    };
    store.record_deliveries(&[queued]).await.unwrap();
    let item = table.item(&pk, &sk).await;
    assert_eq!(gsi1(&item), in_index("SID#SM1", "DELIVERY"));
    assert_eq!(
        (text(&item, "twilioSid"), text(&item, "status"), number_attr(&item, "rank")),
        ("SM1", "queued", 2)
    );
    assert_eq!(table.index("SID#SM1").await.len(), 1);

    let failure = StatusUpdate {
        delivery: d.id(),
        status: DeliveryStatus::Failed,
        sid: Some("SM1".into()),
        error_code: Some(30003),
        error_message: Some("unreachable".into()),
    };
    store.apply_status(&failure).await.unwrap();
    let failed = table.item(&pk, &sk).await;
    assert_eq!((number_attr(&failed, "errorCode"), text(&failed, "errorMessage")), (30003, "unreachable"));
    let read_back = store.get_message(msg.id).await.unwrap().unwrap().deliveries.remove(0);

    assert!(store.reset_failed_delivery(&read_back).await.unwrap());

    let reset = table.item(&pk, &sk).await;
    assert_eq!(gsi1(&reset), None, "out of the index");
    assert!(table.index("SID#SM1").await.is_empty());
    assert_eq!((text(&reset, "status"), number_attr(&reset, "rank")), ("pending", 0));
    for absent in ["twilioSid", "errorCode", "errorMessage"] {
        assert!(!has(&reset, absent), "{absent}");
    }
    assert_eq!(reset.get("supersededSids"), Some(&AttributeValue::Ss(vec!["SM1".into()])));
    time(&reset, "redeliveryAt");

    let sent = StatusUpdate {
        status: DeliveryStatus::Sent,
        sid: Some("SM2".into()),
        error_code: None,
        error_message: None,
        ..failure
    };
    store.apply_status(&sent).await.unwrap();
    let resent = table.item(&pk, &sk).await;
    assert_eq!(gsi1(&resent), in_index("SID#SM2", "DELIVERY"));
}

#[tokio::test]
async fn an_edit_and_a_delete_change_the_message_item_in_place() {
    let table = Table::new().await;
    let World { bob, pair, .. } = world(&table).await;
    let store = &table.store;
    let msg = message_at(&pair, &bob, "hi", Utc::now());
    let new =
        NewMessage { detail: &pair, message: &msg, deliveries: &[], idempotency: None, preview: "hi".into() };
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
    table.item(format!("MESSAGE#{}", text_in.id), "MESSAGE").await;

    // A STOP without a message: the record names nothing; the opt-out item.
    let stop = InboundWrite {
        message_sid: "SMin2",
        message: None,
        preview: String::new(),
        inbox_user_id: None,
        opt_change: Some(OptChange { number: &number(1), phone: &phone(5), opted_out: true }),
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
    // deliveries (recorded, failed, reset, claimed), idempotency, an inbound text, a STOP, a
    // connection, a closed conversation.
    let changes = ProfileChanges {
        first_name: Some(Some("Bob".into())),
        last_name: Some(Some("B".into())),
        phone_number: Some(Some(phone(9))),
        email: None,
    };
    store.update_profile(&bob, &changes).await.unwrap();
    store.mark_number_releasing(ada.id, &number(1)).await.unwrap();
    let old = Utc::now() - Duration::hours(1);
    let msg = message_at(&grp, &ada, "hi", old);
    let deliveries = pending_deliveries(&grp, &msg);
    let new = NewMessage {
        detail: &grp,
        message: &msg,
        deliveries: &deliveries,
        idempotency: Some((ada.id, "k")),
        preview: "hi".into(),
    };
    store.create_message(&new).await.unwrap();
    let failed = Delivery {
        status: DeliveryStatus::Failed,
        twilio_sid: Some("SM1".into()),
        error_code: Some(21211),
        error_message: Some("invalid".into()),
        updated_at: old,
        ..deliveries[0].clone()
    };
    store.record_deliveries(std::slice::from_ref(&failed)).await.unwrap();
    assert!(store.reset_failed_delivery(&failed).await.unwrap());
    let second = message_at(&grp, &ada, "again", old);
    let pending = pending_deliveries(&grp, &second);
    let new = NewMessage {
        detail: &grp,
        message: &second,
        deliveries: &pending,
        idempotency: None,
        preview: "again".into(),
    };
    store.create_message(&new).await.unwrap();
    assert!(store.claim_pending_delivery(&pending[0], Utc::now()).await.unwrap());
    let undelivered = StatusUpdate {
        delivery: pending[0].id(),
        status: DeliveryStatus::Undelivered,
        sid: Some("SM2".into()),
        error_code: Some(30003),
        error_message: Some("unreachable".into()),
    };
    store.apply_status(&undelivered).await.unwrap();
    let text_in = inbound(&sms, &phone(2), "SMin");
    let write = InboundWrite {
        message_sid: "SMin",
        message: Some(&text_in),
        preview: "hello".into(),
        inbox_user_id: Some(ada.id),
        opt_change: None,
    };
    store.record_inbound(&write).await.unwrap();
    store.set_opt_out(&number(1), &phone(2), true).await.unwrap();
    store
        .put_connection(&Connection::new(ConnectionId::parse("c1").unwrap(), ada.id, Utc::now()))
        .await
        .unwrap();
    let closing = store.get_conversation(grp.conversation.id).await.unwrap().unwrap();
    store.close_conversation(&closing).await.unwrap();

    let items = table.scan().await;

    let mut seen: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    for item in &items {
        check_entity(item);
        let entity = entity(text(item, "entity"));
        seen.entry(entity.name).or_default().extend(item.keys().cloned());
    }
    // Every entity was written, and every attribute listed for one (documented or not) was seen:
    // the lists are what the adapter writes, no more.
    let entities: Vec<&str> = seen.keys().copied().collect();
    let mut expected: Vec<&str> = ENTITIES.iter().map(|e| e.name).collect();
    expected.sort_unstable();
    assert_eq!(entities, expected);
    for entity in ENTITIES {
        let attributes = &seen[entity.name];
        let unseen: Vec<&&str> = entity
            .documented
            .iter()
            .chain(entity.not_in_docs)
            .filter(|a| !attributes.contains(**a))
            .collect();
        // Direct and SMS-only attributes of a message are covered by the inbound text; a
        // conversation's description by the group; `editedAt` is the one attribute of this
        // list that only the edit scenario writes.
        let unseen: Vec<&&str> =
            unseen.into_iter().filter(|a| !(entity.name == "message" && **a == "editedAt")).collect();
        assert!(unseen.is_empty(), "{}: listed but never written: {unseen:?}", entity.name);
    }
    // The `entity` values beyond the three the docs list.
    let undocumented: Vec<&str> =
        expected.iter().copied().filter(|e| !DOCUMENTED_ENTITY_VALUES.contains(e)).collect();
    assert_eq!(
        undocumented,
        [
            "connection",
            "conversation",
            "delivery",
            "direct",
            "idempotency",
            "inbound",
            "message",
            "message-pointer",
            "opt-out",
            "participant",
            "route"
        ]
    );
}
