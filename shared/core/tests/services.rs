//! Use cases straight on [`App`] over the in-memory fakes, for the rules best seen without HTTP:
//! how proxy numbers are chosen and reused (docs/routing.md), what happens when a concurrent
//! request wins a race for a pair or a number, the membership rules, the send's write-ahead and
//! its cost in port calls, the delivery pipeline behind it, and an operator's `redeliver`.
//!
//! Users are written to the store directly (no password hashing), so every test is quick. Races
//! are staged by [`Racing`], a conversation port that lets a competing request write just before
//! ours; store failures at a chosen step by [`Flaky`], a message port that fails on request, and
//! [`FlakyOutbox`], the same for the outbox port. The pipeline's jobs wait in a [`FakeQueue`]
//! until a test runs them ([`World::run_pipeline`]); its retries are immediate.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use switchboard_core::auth::{TokenService, TokenSettings};
use switchboard_core::domain::conversation::{
    Conversation, ConversationDetail, ConversationKind, ConversationStatus, GroupRequest, IdleTimer, Member,
    Participant, ParticipantRequest, ParticipantRole, TimersRequest,
};
use switchboard_core::domain::ids::{ConnectionId, ConversationId, MessageId, ParticipantId, UserId};
use switchboard_core::domain::message::{
    Delivery, DeliveryStatus, Message, NewContent, SendRequest, Sender, SenderKind,
};
use switchboard_core::domain::phone::E164;
use switchboard_core::domain::realtime::Connection;
use switchboard_core::domain::routing::Pair;
use switchboard_core::domain::user::User;
use switchboard_core::memory::{FakeGateway, FakeQueue, FakeSms, MemoryStore};
use switchboard_core::ports::conversations::{InboxPage, NewConversation, ReadMark};
use switchboard_core::ports::messages::{IdempotentSend, MessageChange, NewMessage, StoredMessage};
use switchboard_core::ports::outbox::{AttemptOutcome, Claim};
use switchboard_core::ports::queue::Job;
use switchboard_core::ports::sms::{Accepted, SendError};
use switchboard_core::ports::webhooks::InboundWrite;
use switchboard_core::ports::{
    ConversationStore, MessageStore, NumberPool, OutboxStore, Page, PageRequest, StoreError, WebhookStore,
};
use switchboard_core::service::inbound::{self, InboundSms, Outcome};
use switchboard_core::service::messages::{self, RedeliverOptions, Skipped};
use switchboard_core::service::status::{self, StatusCallback};
use switchboard_core::service::{conversations, idle, numbers, pipeline, DeliverySettings, Publisher};
use switchboard_core::{App, AppError, Secret, Settings};

const CALLBACK: &str = "https://switchboard.example.com/api/webhooks/twilio/status";

/// One of our pool numbers: +1 415 555 0101 and on.
fn number(n: u32) -> E164 {
    E164::from_stored(format!("+1415555{:04}", 100 + n))
}

/// A phone: +1 415 555 0201 and on.
fn phone(n: u32) -> E164 {
    E164::from_stored(format!("+1415555{:04}", 200 + n))
}

fn text(content: &str) -> SendRequest {
    SendRequest { content: Some(content.into()), media_urls: Vec::new(), media: Vec::new() }
}

fn rejected(code: i64) -> Result<Accepted, SendError> {
    Err(SendError::Rejected { code: Some(code), message: format!("Twilio error {code}") })
}

/// The store, the fakes, and the use cases' dependencies over them (events on).
struct World {
    store: Arc<MemoryStore>,
    sms: Arc<FakeSms>,
    gateway: Arc<FakeGateway>,
    queue: Arc<FakeQueue>,
    app: App,
}

impl World {
    fn new() -> Self {
        let (store, sms, gateway, queue) = (
            Arc::new(MemoryStore::new()),
            Arc::new(FakeSms::new()),
            Arc::new(FakeGateway::new()),
            Arc::new(FakeQueue::new()),
        );
        let tokens = TokenService::new(&TokenSettings {
            secret: Secret::new("s".repeat(32)),
            previous: None,
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(3600),
        });
        // Retries at once, and the sweeper takes whatever is due: no test waits for backoff.
        let delivery = DeliverySettings {
            retry_base: Duration::ZERO,
            retry_max: Duration::ZERO,
            sweep_grace: Duration::ZERO,
            ..DeliverySettings::default()
        };
        let settings =
            Settings { status_callback_url: Some(CALLBACK.into()), delivery, ..Settings::default() };
        let app = App::new(settings, tokens, store.clone())
            .with_sms(sms.clone())
            .with_events(Publisher::new(gateway.clone()))
            .with_queue(queue.clone());
        Self { store, sms, gateway, queue, app }
    }

    /// Runs every queued job, as the pipeline's worker would, until the queue is empty (each job
    /// must succeed; bounded, so a job that keeps queuing itself fails the test).
    async fn run_pipeline(&self) {
        for _ in 0..50 {
            let jobs = self.queue.take_all();
            if jobs.is_empty() {
                return;
            }
            for job in jobs {
                pipeline::run(&self.app, &job).await.unwrap_or_else(|e| panic!("{job:?}: {e}"));
            }
        }
        panic!("the pipeline did not settle: {:?}", self.queue.waiting());
    }

    /// With the deployment's idle timer set to `seconds`.
    fn idle_after(mut self, seconds: u32) -> Self {
        let settings = Settings { idle_close_after: Some(seconds), ..(*self.app.settings).clone() };
        self.app.settings = Arc::new(settings);
        self
    }

    /// With the outbox port replaced by a [`FlakyOutbox`] one.
    fn flaky_outbox(mut self) -> (Self, Arc<FlakyOutbox>) {
        let flaky = Arc::new(FlakyOutbox { inner: self.store.clone(), fail: Mutex::default() });
        self.app.outbox = flaky.clone();
        (self, flaky)
    }

    /// With the conversation port replaced by a [`Racing`] one.
    fn racing(mut self) -> (Self, Arc<Racing>) {
        let racing =
            Arc::new(Racing { inner: self.store.clone(), races: Mutex::default(), writes: Mutex::default() });
        self.app.conversations = racing.clone();
        (self, racing)
    }

    /// With the message port replaced by a [`Flaky`] one.
    fn flaky(mut self) -> (Self, Arc<Flaky>) {
        let flaky =
            Arc::new(Flaky { inner: self.store.clone(), fail: Mutex::default(), calls: Mutex::default() });
        self.app.messages = flaky.clone();
        (self, flaky)
    }

    /// A registered, active user (written directly: no password hashing).
    async fn user(&self, username: &str) -> User {
        let now = Utc::now();
        let user = User {
            id: UserId::new(),
            username: username.to_string(),
            email: format!("{username}@example.com"),
            password_hash: "not-a-hash".into(),
            first_name: None,
            last_name: None,
            phone_number: None,
            virtual_number: None,
            active: true,
            token_version: 0,
            created_at: now,
            updated_at: now,
        };
        self.app.users.create_user(&user).await.unwrap();
        user
    }

    async fn pool(&self, numbers: impl IntoIterator<Item = u32>) {
        for n in numbers {
            self.app.numbers.add_number(&number(n), Utc::now()).await.unwrap();
        }
    }

    /// A user holding pool number `n` (which must be in the pool).
    async fn holding(&self, username: &str, n: u32) -> User {
        let user = self.user(username).await;
        self.app.numbers.assign_number(user.id, &number(n), Utc::now()).await.unwrap();
        self.reread(&user).await
    }

    async fn reread(&self, user: &User) -> User {
        self.app.users.get_user(user.id).await.unwrap().expect("the user")
    }

    async fn group(
        &self,
        admin: &User,
        members: &[&User],
        phones: &[E164],
    ) -> Result<ConversationDetail, AppError> {
        let mut participants: Vec<ParticipantRequest> = members
            .iter()
            .map(|u| ParticipantRequest {
                user_id: Some(u.id.to_string()),
                phone_number: None,
                display_name: None,
            })
            .collect();
        participants.extend(phones.iter().map(|p| ParticipantRequest {
            user_id: None,
            phone_number: Some(p.to_string()),
            display_name: None,
        }));
        let request = GroupRequest { name: "Group".into(), description: None, participants };
        conversations::create_group(&self.app, admin, request).await
    }

    async fn add_phone(
        &self,
        admin: &User,
        id: ConversationId,
        phone: &E164,
    ) -> Result<Participant, AppError> {
        let request =
            ParticipantRequest { user_id: None, phone_number: Some(phone.to_string()), display_name: None };
        conversations::add_participant(&self.app, admin, id, request).await
    }

    async fn add_user(&self, admin: &User, id: ConversationId, user: &User) -> Participant {
        let request =
            ParticipantRequest { user_id: Some(user.id.to_string()), phone_number: None, display_name: None };
        conversations::add_participant(&self.app, admin, id, request).await.unwrap()
    }

    async fn conversation(&self, id: ConversationId) -> ConversationDetail {
        self.store.get_conversation(id).await.unwrap().expect("the conversation")
    }

    async fn route(&self, number: &E164, phone: &E164) -> Option<ConversationId> {
        self.store.route_conversation(number, phone).await.unwrap()
    }

    async fn connect(&self, id: &str, user: &User) -> ConnectionId {
        let connection = ConnectionId::parse(id).unwrap();
        let live = Connection::new(connection.clone(), user.id, Utc::now());
        self.app.connections.put_connection(&live).await.unwrap();
        connection
    }

    async fn inbound(&self, sid: &str, from: &E164, to: &E164, body: &str) -> Outcome {
        let sms = InboundSms {
            message_sid: sid.into(),
            from: from.clone(),
            to: to.clone(),
            body: body.into(),
            media: Vec::new(),
        };
        inbound::receive(&self.app, &sms).await.unwrap()
    }

    /// Only the write-ahead of a send, as if the function died before queuing its jobs, with the
    /// deliveries written (and due) at `written_at`; returns them.
    async fn write_ahead(
        &self,
        author: &User,
        id: ConversationId,
        words: &str,
        written_at: DateTime<Utc>,
    ) -> Vec<Delivery> {
        let detail = self.conversation(id).await;
        let content = NewContent { content: words.into(), media_urls: Vec::new(), attachments: Vec::new() };
        let (message, mut deliveries) =
            messages::prepare(&self.app, author, &detail, &content).await.unwrap();
        for delivery in &mut deliveries {
            delivery.updated_at = written_at;
            delivery.next_attempt_at = Some(written_at);
        }
        let new = NewMessage {
            detail: &detail,
            message: &message,
            deliveries: &deliveries,
            idempotency: None,
            preview: words.into(),
            idle_deadline: None,
        };
        self.store.create_message(&new).await.unwrap();
        deliveries
    }

    fn stored(&self, delivery: &Delivery) -> Delivery {
        self.store.delivery(&delivery.id()).expect("the delivery")
    }
}

/// The proxy number `phone` texts in `detail`.
fn proxy_of(detail: &ConversationDetail, phone: &E164) -> E164 {
    detail
        .participants
        .iter()
        .find_map(|p| match &p.member {
            Member::Sms { phone: q, proxy_number } if q == phone => Some(proxy_number.clone()),
            _ => None,
        })
        .expect("that phone is a participant")
}

fn participant_of(detail: &ConversationDetail, user: &User) -> Participant {
    detail.participant_for_user(user.id).cloned().expect("that user is a participant")
}

fn delivery_to<'a>(deliveries: &'a [Delivery], to: &E164) -> &'a Delivery {
    deliveries.iter().find(|d| d.to == *to).expect("a delivery to that phone")
}

/// The code of the error a use case answered with.
fn code<T>(result: Result<T, AppError>) -> &'static str {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(err) => err.code(),
    }
}

// === proxy numbers ===============================================================================

#[tokio::test]
async fn given_groups_that_share_no_phone_then_they_reuse_one_number_and_only_a_phone_whose_pair_is_taken_moves(
) {
    let w = World::new();
    w.pool(1..=3).await;
    let owner = w.user("owner").await;

    // GIVEN a group of two phones in no other group THEN both share the first free number
    let g1 = w.group(&owner, &[], &[phone(1), phone(2)]).await.unwrap();
    assert_eq!((proxy_of(&g1, &phone(1)), proxy_of(&g1, &phone(2))), (number(1), number(1)));
    // WHEN a group shares no phone with it THEN it uses the same number
    let g2 = w.group(&owner, &[], &[phone(3)]).await.unwrap();
    assert_eq!(proxy_of(&g2, &phone(3)), number(1));
    // WHEN a group shares a phone THEN only that phone moves to the next number
    let g3 = w.group(&owner, &[], &[phone(1), phone(4)]).await.unwrap();
    assert_eq!((proxy_of(&g3, &phone(1)), proxy_of(&g3, &phone(4))), (number(2), number(1)));

    // Each pair names its one conversation; the numbers count the routes they carry.
    assert_eq!(w.route(&number(1), &phone(1)).await, Some(g1.conversation.id));
    assert_eq!(w.route(&number(2), &phone(1)).await, Some(g3.conversation.id));
    assert_eq!(w.route(&number(1), &phone(4)).await, Some(g3.conversation.id));
    let counts: Vec<u32> = (1..=3).map(|n| w.store.pool_number(&number(n)).unwrap().route_count).collect();
    assert_eq!(counts, [4, 1, 0]);

    // Adding a phone prefers the group's own number, then the first number whose pair is free.
    let added = w.add_phone(&owner, g2.conversation.id, &phone(5)).await.unwrap();
    assert_eq!(added.route().unwrap().0, number(1));
    let added = w.add_phone(&owner, g2.conversation.id, &phone(1)).await.unwrap();
    assert_eq!(added.route().unwrap().0, number(3), "(1, p1) and (2, p1) are taken");
}

#[tokio::test]
async fn numbers_serving_as_proxies_come_before_free_ones_so_free_numbers_stay_for_users() {
    let w = World::new();
    w.pool(1..=2).await;
    let owner = w.user("owner").await;
    let ann = w.holding("ann", 1).await;
    // GIVEN number 1 is Ann's, so the first group goes to number 2
    let g1 = w.group(&owner, &[], &[phone(1)]).await.unwrap();
    assert_eq!(proxy_of(&g1, &phone(1)), number(2));
    // ...and Ann gives number 1 back: it is free, and sorts first
    numbers::release(&w.app, &ann).await.unwrap();

    // WHEN another group starts THEN it goes to the proxy number, not the free one
    let g2 = w.group(&owner, &[], &[phone(2)]).await.unwrap();
    assert_eq!(proxy_of(&g2, &phone(2)), number(2));
    // ...which the next user asking for any number gets.
    let bob = w.user("bob").await;
    let bob = numbers::assign(&w.app, &bob, Default::default()).await.unwrap();
    assert_eq!(bob.virtual_number, Some(number(1)));
}

#[tokio::test]
async fn a_users_own_number_never_carries_a_group_and_a_phone_that_talks_to_every_number_gets_no_group() {
    let w = World::new();
    w.pool(1..=3).await;
    let owner = w.holding("owner", 1).await;
    w.group(&owner, &[], &[phone(1)]).await.unwrap();
    w.group(&owner, &[], &[phone(1)]).await.unwrap();

    // WHEN a third group wants phone 1, which already talks to both numbers users do not hold
    let third = w.group(&owner, &[], &[phone(2), phone(1)]).await;

    // THEN it is refused, naming the phone (masked), and nothing is written
    let err = third.expect_err("no number left for phone 1");
    assert_eq!(err.code(), "no_proxy_number");
    assert!(err.to_string().contains("***0201") && !err.to_string().contains("+14155550201"), "{err}");
    assert_eq!(w.route(&number(2), &phone(2)).await, None);
    let counts: Vec<u32> = (1..=3).map(|n| w.store.pool_number(&number(n)).unwrap().route_count).collect();
    assert_eq!(counts, [0, 1, 1], "the user's number carries nothing");
    let inbox = w.store.list_inbox(owner.id, &PageRequest::first(10)).await.unwrap();
    assert_eq!(inbox.items.len(), 2);
}

// === races =======================================================================================

/// A competing request that writes just before our next conversation write.
#[derive(Clone, Debug)]
enum Race {
    /// Another group takes the pair (number, phone).
    TakePair(E164, E164),
    /// A user takes the number.
    TakeNumber(UserId, E164),
    /// Another first text from the phone opens the owner's SMS conversation on the number.
    OpenSms(UserId, E164, E164),
    /// A phone's text is stored in the conversation (an inbound SMS: it moves the activity, not
    /// the idle entry).
    Text(ConversationId, E164),
}

/// The conversation port, where each write (`create_conversation`, `add_participant`) first lets
/// the next queued [`Race`] happen, as if a concurrent request had been quicker.
struct Racing {
    inner: Arc<MemoryStore>,
    races: Mutex<VecDeque<Race>>,
    writes: Mutex<usize>,
}

impl Racing {
    fn stage(&self, races: impl IntoIterator<Item = Race>) {
        self.races.lock().unwrap().extend(races);
    }

    fn writes(&self) -> usize {
        *self.writes.lock().unwrap()
    }

    async fn before_write(&self) {
        *self.writes.lock().unwrap() += 1;
        let race = self.races.lock().unwrap().pop_front();
        match race {
            None => {}
            Some(Race::TakeNumber(user_id, number)) => {
                self.inner
                    .assign_number(user_id, &number, Utc::now())
                    .await
                    .expect("the competing assignment");
            }
            Some(Race::TakePair(number, phone)) => {
                let creator = UserId::new();
                let detail = detail_of(ConversationKind::Group, creator, &[(phone, number)]);
                let new = NewConversation {
                    detail: &detail,
                    direct_pair: None,
                    sms_owner: None,
                    idle_deadline: None,
                };
                self.inner.create_conversation(new).await.expect("the competing group");
            }
            Some(Race::OpenSms(owner, number, phone)) => {
                let detail = detail_of(ConversationKind::Sms, owner, &[(phone, number.clone())]);
                let new = NewConversation {
                    detail: &detail,
                    direct_pair: None,
                    sms_owner: Some((owner, &number)),
                    idle_deadline: None,
                };
                self.inner.create_conversation(new).await.expect("the competing first text");
            }
            Some(Race::Text(conversation_id, from)) => {
                let message = Message {
                    id: MessageId::new(),
                    conversation_id,
                    sender: Sender {
                        kind: SenderKind::Sms,
                        user_id: None,
                        phone_number: Some(from.clone()),
                        display_name: from.to_string(),
                    },
                    content: "still here".into(),
                    media_urls: Vec::new(),
                    media_content_types: Vec::new(),
                    media_keys: Vec::new(),
                    twilio_sid: Some("SMrace".into()),
                    created_at: Utc::now(),
                    edited_at: None,
                    deleted: false,
                };
                let write = InboundWrite {
                    message_sid: "SMrace",
                    message: Some(&message),
                    preview: message.content.clone(),
                    inbox_user_id: None,
                    opt_change: None,
                    relay: true,
                };
                self.inner.record_inbound(&write).await.expect("the competing text");
            }
        }
    }
}

/// What a competing request would have written: `creator` (admin) and these (phone, proxy).
fn detail_of(kind: ConversationKind, creator: UserId, phones: &[(E164, E164)]) -> ConversationDetail {
    let now = Utc::now();
    let mut participants = vec![Participant {
        id: ParticipantId::new(),
        member: Member::User { user_id: creator },
        display_name: "rival".into(),
        role: ParticipantRole::Admin,
        joined_at: now,
        read: Default::default(),
    }];
    participants.extend(phones.iter().map(|(phone, proxy)| Participant {
        id: ParticipantId::new(),
        member: Member::Sms { phone: phone.clone(), proxy_number: proxy.clone() },
        display_name: phone.to_string(),
        role: ParticipantRole::Member,
        joined_at: now,
        read: Default::default(),
    }));
    let conversation = Conversation {
        id: ConversationId::new(),
        kind,
        name: None,
        description: None,
        status: ConversationStatus::Active,
        created_by: creator,
        created_at: now,
        last_message_at: now,
        last_message_preview: None,
        idle_timer: Default::default(),
    };
    ConversationDetail { conversation, participants }
}

#[async_trait]
impl ConversationStore for Racing {
    async fn get_conversation(&self, id: ConversationId) -> Result<Option<ConversationDetail>, StoreError> {
        self.inner.get_conversation(id).await
    }
    async fn create_conversation(&self, new: NewConversation<'_>) -> Result<(), StoreError> {
        self.before_write().await;
        self.inner.create_conversation(new).await
    }
    async fn find_direct(&self, a: UserId, b: UserId) -> Result<Option<ConversationId>, StoreError> {
        self.inner.find_direct(a, b).await
    }
    async fn route_conversation(
        &self,
        number: &E164,
        phone: &E164,
    ) -> Result<Option<ConversationId>, StoreError> {
        self.inner.route_conversation(number, phone).await
    }
    async fn taken_routes(&self, pairs: &[Pair]) -> Result<HashSet<Pair>, StoreError> {
        self.inner.taken_routes(pairs).await
    }
    async fn add_participant(
        &self,
        detail: &ConversationDetail,
        participant: &Participant,
        max_size: usize,
    ) -> Result<(), StoreError> {
        self.before_write().await;
        self.inner.add_participant(detail, participant, max_size).await
    }
    async fn remove_participant(
        &self,
        detail: &ConversationDetail,
        participant: &Participant,
        promote: Option<&Participant>,
    ) -> Result<(), StoreError> {
        self.inner.remove_participant(detail, participant, promote).await
    }
    async fn set_role(
        &self,
        detail: &ConversationDetail,
        participant: &Participant,
        role: ParticipantRole,
    ) -> Result<(), StoreError> {
        self.inner.set_role(detail, participant, role).await
    }
    async fn close_conversation(&self, detail: &ConversationDetail) -> Result<(), StoreError> {
        self.inner.close_conversation(detail).await
    }
    async fn close_idle(&self, detail: &ConversationDetail, seen: DateTime<Utc>) -> Result<(), StoreError> {
        self.before_write().await;
        self.inner.close_idle(detail, seen).await
    }
    async fn set_idle_timer(
        &self,
        id: ConversationId,
        timer: IdleTimer,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        self.inner.set_idle_timer(id, timer, deadline).await
    }
    async fn idle_due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<ConversationId>, StoreError> {
        self.inner.idle_due(now, limit).await
    }
    async fn reschedule_idle(
        &self,
        id: ConversationId,
        seen: DateTime<Utc>,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        self.inner.reschedule_idle(id, seen, deadline).await
    }
    async fn list_inbox(&self, user_id: UserId, page: &PageRequest) -> Result<InboxPage, StoreError> {
        self.inner.list_inbox(user_id, page).await
    }
    async fn mark_read(
        &self,
        detail: &ConversationDetail,
        reader: &Participant,
        up_to: MessageId,
    ) -> Result<Option<ReadMark>, StoreError> {
        self.inner.mark_read(detail, reader, up_to).await
    }
}

#[tokio::test]
async fn given_a_concurrent_group_takes_the_chosen_pair_before_our_write_then_the_creation_retries_on_the_next_number(
) {
    let (w, racing) = World::new().racing();
    w.pool(1..=2).await;
    let owner = w.user("owner").await;
    racing.stage([Race::TakePair(number(1), phone(1))]);

    let group = w.group(&owner, &[], &[phone(1), phone(2)]).await.unwrap();

    assert_eq!(racing.writes(), 2, "one lost attempt, one retry");
    assert_eq!((proxy_of(&group, &phone(1)), proxy_of(&group, &phone(2))), (number(2), number(1)));
    assert_ne!(w.route(&number(1), &phone(1)).await, Some(group.conversation.id), "the rival keeps its pair");
    assert_eq!(w.route(&number(2), &phone(1)).await, Some(group.conversation.id));
}

#[tokio::test]
async fn given_a_user_takes_the_chosen_proxy_before_our_write_then_the_creation_retries_without_that_number()
{
    let (w, racing) = World::new().racing();
    w.pool(1..=2).await;
    let (owner, ann) = (w.user("owner").await, w.user("ann").await);
    racing.stage([Race::TakeNumber(ann.id, number(1))]);

    let group = w.group(&owner, &[], &[phone(1)]).await.unwrap();

    assert_eq!(racing.writes(), 2);
    assert_eq!(proxy_of(&group, &phone(1)), number(2));
    let taken = w.store.pool_number(&number(1)).unwrap();
    assert_eq!((taken.owner_id, taken.route_count), (Some(ann.id), 0), "a user's number carries no group");
}

#[tokio::test]
async fn given_every_attempt_loses_its_race_then_the_request_ends_in_a_409_after_four_attempts_and_writes_nothing(
) {
    let (w, racing) = World::new().racing();
    w.pool(1..=5).await;
    let owner = w.user("owner").await;
    racing.stage((1..=4).map(|n| Race::TakePair(number(n), phone(1))));

    let lost = w.group(&owner, &[], &[phone(1)]).await;

    assert_eq!(code(lost), "concurrent_update");
    assert_eq!(racing.writes(), 4);
    assert!(w.store.list_inbox(owner.id, &PageRequest::first(10)).await.unwrap().items.is_empty());
    assert_eq!(w.route(&number(5), &phone(1)).await, None, "the fifth number was never tried");
}

#[tokio::test]
async fn given_a_concurrent_group_takes_the_pair_of_a_phone_being_added_then_the_add_retries_on_the_next_number(
) {
    let (w, racing) = World::new().racing();
    w.pool(1..=2).await;
    let owner = w.user("owner").await;
    let group = w.group(&owner, &[], &[phone(2)]).await.unwrap();
    racing.stage([Race::TakePair(number(1), phone(1))]);

    let added = w.add_phone(&owner, group.conversation.id, &phone(1)).await.unwrap();

    assert_eq!(added.route().unwrap().0, number(2));
    assert_eq!(w.store.member_counts(group.conversation.id), Some((3, 1)));
}

#[tokio::test]
async fn given_two_first_texts_from_one_phone_race_then_one_sms_conversation_holds_the_text_once() {
    let (w, racing) = World::new().racing();
    w.pool([1]).await;
    let ann = w.holding("ann", 1).await;
    // GIVEN another first text from the phone opens Ann's conversation just before this one does
    racing.stage([Race::OpenSms(ann.id, number(1), phone(1))]);

    let outcome = w.inbound("SM1", &phone(1), &number(1), "hello?").await;

    // THEN this text lands in that conversation (routed, not opened twice)
    let Outcome::Routed { conversation_id, relayed: false } = outcome else { panic!("{outcome:?}") };
    assert_eq!(w.route(&number(1), &phone(1)).await, Some(conversation_id));
    let inbox = w.store.list_inbox(ann.id, &PageRequest::first(10)).await.unwrap();
    assert_eq!(inbox.items.len(), 1);
    let history = w.store.list_messages(conversation_id, &PageRequest::first(10)).await.unwrap();
    assert_eq!(history.items.len(), 1);
    assert_eq!(history.items[0].message.content, "hello?");
}

// === membership ==================================================================================

#[tokio::test]
async fn given_the_last_admin_leaves_then_the_longest_standing_web_member_is_promoted_whoever_sorts_first() {
    let w = World::new();
    w.pool([1]).await;
    // Created in this order, so Bea's id sorts before Cal's...
    let (ada, bea, cal) = (w.user("ada").await, w.user("bea").await, w.user("cal").await);
    let group = w.group(&ada, &[], &[phone(1)]).await.unwrap();
    let id = group.conversation.id;
    // ...but Cal joins first.
    w.add_user(&ada, id, &cal).await;
    w.add_user(&ada, id, &bea).await;
    let before = w.conversation(id).await;

    // WHEN Ada, the only admin, leaves
    let promoted =
        conversations::remove_participant(&w.app, &ada, id, participant_of(&before, &ada).id).await.unwrap();

    // THEN Cal, the longest-standing web member, is promoted (never the phone)
    assert_eq!(promoted.and_then(|p| p.user_id()), Some(cal.id));
    let after = w.conversation(id).await;
    assert_eq!(participant_of(&after, &cal).role, ParticipantRole::Admin);
    assert_eq!(participant_of(&after, &bea).role, ParticipantRole::Member);
    assert!(after.participant_for_user(ada.id).is_none());
    assert_eq!(w.store.member_counts(id), Some((3, 1)));

    // A member leaving promotes nobody; a member removing someone else is refused.
    let bea_p = participant_of(&after, &bea).id;
    let cal_p = participant_of(&after, &cal).id;
    assert_eq!(code(conversations::remove_participant(&w.app, &bea, id, cal_p).await), "forbidden");
    assert!(conversations::remove_participant(&w.app, &bea, id, bea_p).await.unwrap().is_none());
    assert_eq!(w.store.member_counts(id), Some((2, 1)));
    assert_eq!(w.conversation(id).await.conversation.status, ConversationStatus::Active);
}

#[tokio::test]
async fn given_the_last_web_user_leaves_a_group_then_it_closes_frees_its_routes_and_their_texts_route_nowhere(
) {
    let w = World::new();
    w.pool([1]).await;
    let ada = w.user("ada").await;
    let group = w.group(&ada, &[], &[phone(1), phone(2)]).await.unwrap();
    let id = group.conversation.id;
    let laptop = w.connect("ada-laptop", &ada).await;

    // WHEN Ada, the only web user, leaves
    let promoted =
        conversations::remove_participant(&w.app, &ada, id, participant_of(&group, &ada).id).await.unwrap();

    // THEN nobody is promoted and the group is closed, its history still Ada's to read
    assert!(promoted.is_none());
    assert_closed_and_freed(&w, &ada, id, &laptop).await;
}

/// The group `id` (phones 1 and 2 through number 1) is closed as a close closes it: its member
/// told, its routes free and its number carrying nothing; a text to the old route stores nothing
/// (a first text to a number nobody holds), and the pair serves a new group.
async fn assert_closed_and_freed(w: &World, admin: &User, id: ConversationId, laptop: &ConnectionId) {
    assert_eq!(w.conversation(id).await.conversation.status, ConversationStatus::Closed);
    let frames = w.gateway.frames_to(laptop);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0]["type"], "conversation.closed");
    let pairs = [(number(1), phone(1)), (number(1), phone(2))];
    assert!(w.store.taken_routes(&pairs).await.unwrap().is_empty());
    assert_eq!(w.store.pool_number(&number(1)).unwrap().route_count, 0);
    assert_eq!(w.inbound("SM1", &phone(1), &number(1), "anyone?").await, Outcome::Unroutable);
    assert!(!w.store.inbound_recorded("SM1"));
    let again = w.group(admin, &[], &[phone(1)]).await.unwrap();
    assert_eq!(proxy_of(&again, &phone(1)), number(1));
}

// === idle conversations ==========================================================================

const HOUR: u32 = 3600;

fn hours(n: i64) -> chrono::Duration {
    chrono::Duration::hours(n)
}

#[tokio::test]
async fn given_an_idle_group_when_its_timer_runs_out_then_the_sweep_closes_it_frees_its_pairs_and_tells_its_members(
) {
    let w = World::new().idle_after(HOUR);
    w.pool([1]).await;
    let ada = w.user("ada").await;
    let group = w.group(&ada, &[], &[phone(1), phone(2)]).await.unwrap();
    let id = group.conversation.id;
    let laptop = w.connect("ada-laptop", &ada).await;
    assert_eq!(w.store.idle_entry(id), Some(group.conversation.created_at + hours(1)));

    // WHEN the sweeper runs before the hour is out, nothing closes
    let early = idle::sweep(&w.app, Utc::now() + chrono::Duration::minutes(59)).await.unwrap();
    assert_eq!(early, idle::IdleSweep::default());
    // ...and when it runs after
    let swept = idle::sweep(&w.app, Utc::now() + hours(1)).await.unwrap();

    // THEN the group is closed, as its admin's close would have closed it
    assert_eq!(swept.closed, 1);
    assert_eq!(w.store.idle_entry(id), None, "a closed conversation leaves the idle index");
    assert_closed_and_freed(&w, &ada, id, &laptop).await;
}

#[tokio::test]
async fn given_an_idle_sms_conversation_closed_by_its_timer_then_the_phones_next_text_opens_a_new_one() {
    let w = World::new().idle_after(HOUR);
    w.pool([1]).await;
    let ann = w.holding("ann", 1).await;
    let first = match w.inbound("SM1", &phone(1), &number(1), "hello").await {
        Outcome::Opened { conversation_id } => conversation_id,
        other => panic!("{other:?}"),
    };

    assert_eq!(idle::sweep(&w.app, Utc::now() + hours(2)).await.unwrap().closed, 1);

    assert_eq!(w.conversation(first).await.conversation.status, ConversationStatus::Closed);
    match w.inbound("SM2", &phone(1), &number(1), "me again").await {
        Outcome::Opened { conversation_id } => assert_ne!(conversation_id, first),
        other => panic!("a first text opens a new conversation: {other:?}"),
    }
    assert!(w.route(&number(1), &phone(1)).await.is_some_and(|id| id != first));
    let _ = ann;
}

#[tokio::test]
async fn given_messages_before_the_deadline_then_the_sweep_moves_the_entry_and_the_conversation_stays_open() {
    let w = World::new().idle_after(HOUR);
    w.pool([1]).await;
    let ada = w.user("ada").await;
    let group = w.group(&ada, &[], &[phone(1)]).await.unwrap();
    let id = group.conversation.id;

    // A send moves the entry with the message (no request of its own).
    messages::send(&w.app, &ada, id, text("still on?"), None).await.unwrap();
    let sent = w.conversation(id).await.conversation.last_message_at;
    assert_eq!(w.store.idle_entry(id), Some(sent + hours(1)));
    // A phone's text moves only the activity: the entry comes due early...
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(matches!(w.inbound("SM1", &phone(1), &number(1), "yes").await, Outcome::Routed { .. }));
    let texted = w.conversation(id).await.conversation.last_message_at;
    assert_eq!(w.store.idle_entry(id), Some(sent + hours(1)));

    // ...so the sweep at the send's deadline keeps it open and moves the entry to the text's.
    let swept = idle::sweep(&w.app, sent + hours(1) + chrono::Duration::milliseconds(1)).await.unwrap();
    assert_eq!(swept, idle::IdleSweep { closed: 0, rescheduled: 1 });
    assert_eq!(w.conversation(id).await.conversation.status, ConversationStatus::Active);
    assert_eq!(w.store.idle_entry(id), Some(texted + hours(1)));
    assert_eq!(
        idle::sweep(&w.app, texted + hours(1) + chrono::Duration::milliseconds(1)).await.unwrap().closed,
        1
    );
}

#[tokio::test]
async fn given_a_text_lands_between_the_sweeps_read_and_its_close_then_the_conversation_stays_open_with_it() {
    let (w, racing) = World::new().idle_after(HOUR).racing();
    w.pool([1]).await;
    let ada = w.user("ada").await;
    let group = w.group(&ada, &[], &[phone(1)]).await.unwrap();
    let id = group.conversation.id;

    // WHEN a phone's text is stored just before the sweep's close
    tokio::time::sleep(Duration::from_millis(5)).await;
    racing.stage([Race::Text(id, phone(1))]);
    let swept = idle::sweep(&w.app, Utc::now() + hours(2)).await.unwrap();

    // THEN the close is refused (its last activity changed): open, the text in it, the route kept
    assert_eq!(swept.closed, 0);
    let detail = w.conversation(id).await;
    assert_eq!(detail.conversation.status, ConversationStatus::Active);
    assert_eq!(detail.conversation.last_message_preview.as_deref(), Some("still here"));
    assert_eq!(w.route(&number(1), &phone(1)).await, Some(id));
    // ...and the next sweep, past the old deadline, moves it to the text's rather than closing it.
    let past_old = group.conversation.created_at + hours(1) + chrono::Duration::milliseconds(1);
    assert!(past_old < detail.conversation.last_message_at + hours(1));
    let next = idle::sweep(&w.app, past_old).await;
    assert_eq!(next.unwrap(), idle::IdleSweep { closed: 0, rescheduled: 1 });
    assert_eq!(w.store.idle_entry(id), Some(detail.conversation.last_message_at + hours(1)));
}

#[tokio::test]
async fn admins_set_turn_off_or_reset_a_conversations_own_timer_within_bounds() {
    let w = World::new().idle_after(HOUR);
    w.pool([1]).await;
    let ada = w.user("ada").await;
    let bob = w.user("bob").await;
    let group = w.group(&ada, &[&bob], &[phone(1)]).await.unwrap();
    let id = group.conversation.id;
    let set = |who: User, value: Option<&str>| {
        let request = TimersRequest { close_after: value.map(str::to_string) };
        let app = w.app.clone();
        async move { idle::set_timer(&app, &who, id, request).await }
    };

    assert_eq!(code(set(bob.clone(), Some("P1D")).await), "forbidden");
    assert_eq!(code(set(ada.clone(), Some("PT1M")).await), "validation_failed");
    let day = set(ada.clone(), Some("P1D")).await.unwrap();
    assert_eq!(day.conversation.idle_timer, IdleTimer::After(86_400));
    assert_eq!(w.store.idle_entry(id), Some(group.conversation.created_at + hours(24)));
    // The deployment's hour no longer applies: two hours idle, still open.
    assert_eq!(idle::sweep(&w.app, Utc::now() + hours(2)).await.unwrap().closed, 0);

    set(ada.clone(), Some("off")).await.unwrap();
    assert_eq!(w.store.idle_entry(id), None);
    assert_eq!(w.conversation(id).await.conversation.idle_timer, IdleTimer::Off);
    assert_eq!(idle::sweep(&w.app, Utc::now() + hours(24 * 400)).await.unwrap().closed, 0);

    // Back to the deployment's hour.
    set(ada.clone(), None).await.unwrap();
    assert_eq!(w.store.idle_entry(id), Some(group.conversation.created_at + hours(1)));
    assert_eq!(idle::sweep(&w.app, Utc::now() + hours(2)).await.unwrap().closed, 1);
    assert_eq!(code(set(ada.clone(), Some("P1D")).await), "conversation_closed");

    // Direct conversations never close by themselves.
    let direct = conversations::start_direct(&w.app, &ada, bob.id).await.unwrap().detail;
    let request = TimersRequest { close_after: Some("P1D".into()) };
    assert_eq!(code(idle::set_timer(&w.app, &ada, direct.conversation.id, request).await), "no_idle_timer");
    assert_eq!(w.store.idle_entry(direct.conversation.id), None);
}

// === sending =====================================================================================

/// The message port, failing a named method once on request, and recording the methods called.
struct Flaky {
    inner: Arc<MemoryStore>,
    fail: Mutex<HashMap<&'static str, StoreError>>,
    calls: Mutex<Vec<&'static str>>,
}

impl Flaky {
    fn fail_once(&self, method: &'static str, error: StoreError) {
        self.fail.lock().unwrap().insert(method, error);
    }

    fn calls(&self) -> Vec<&'static str> {
        self.calls.lock().unwrap().clone()
    }

    fn enter(&self, method: &'static str) -> Result<(), StoreError> {
        self.calls.lock().unwrap().push(method);
        match self.fail.lock().unwrap().remove(method) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl MessageStore for Flaky {
    async fn create_message(&self, new: &NewMessage<'_>) -> Result<(), StoreError> {
        self.enter("create_message")?;
        self.inner.create_message(new).await
    }
    async fn get_message(&self, message_id: MessageId) -> Result<Option<StoredMessage>, StoreError> {
        self.enter("get_message")?;
        self.inner.get_message(message_id).await
    }
    async fn list_messages(
        &self,
        conversation_id: ConversationId,
        page: &PageRequest,
    ) -> Result<Page<StoredMessage>, StoreError> {
        self.enter("list_messages")?;
        self.inner.list_messages(conversation_id, page).await
    }
    async fn list_messages_after(
        &self,
        conversation_id: ConversationId,
        after: Option<MessageId>,
        limit: u32,
    ) -> Result<Page<StoredMessage>, StoreError> {
        self.enter("list_messages_after")?;
        self.inner.list_messages_after(conversation_id, after, limit).await
    }
    async fn change_message(
        &self,
        message: &Message,
        author_id: UserId,
        change: MessageChange,
    ) -> Result<Message, StoreError> {
        self.enter("change_message")?;
        self.inner.change_message(message, author_id, change).await
    }
    async fn find_idempotent(
        &self,
        user_id: UserId,
        key: &str,
    ) -> Result<Option<IdempotentSend>, StoreError> {
        self.enter("find_idempotent")?;
        self.inner.find_idempotent(user_id, key).await
    }
    async fn opted_out(&self, pairs: &[Pair]) -> Result<HashSet<Pair>, StoreError> {
        self.enter("opted_out")?;
        self.inner.opted_out(pairs).await
    }
    async fn set_opt_out(&self, number: &E164, phone: &E164, opted_out: bool) -> Result<(), StoreError> {
        self.enter("set_opt_out")?;
        self.inner.set_opt_out(number, phone, opted_out).await
    }
}

#[tokio::test]
async fn given_the_store_fails_before_or_at_the_write_ahead_then_the_send_fails_and_nothing_is_sent_stored_or_published(
) {
    let (w, flaky) = World::new().flaky();
    w.pool([1]).await;
    let (ada, bob) = (w.user("ada").await, w.user("bob").await);
    let group = w.group(&ada, &[&bob], &[phone(1), phone(2)]).await.unwrap();
    let id = group.conversation.id;
    let bob_socket = w.connect("bob-1", &bob).await;

    // The conversation read (any port), the opt-out read, the write-ahead itself, and the
    // Idempotency-Key lookup of a keyed send.
    for step in ["get_conversation", "opted_out", "create_message", "find_idempotent"] {
        match step {
            // The first port call of a send, on the conversation port (the store itself).
            "get_conversation" => w.store.fail_next(StoreError::Throttled),
            method => flaky.fail_once(method, StoreError::Throttled),
        }
        let key = (step == "find_idempotent").then_some("key-1");
        let result = messages::send(&w.app, &ada, id, text("hi"), key).await;
        assert_eq!(code(result), "throttled", "{step}");
        assert!(w.sms.sent().is_empty(), "{step}: nothing sent");
        assert!(w.queue.calls().is_empty(), "{step}: nothing queued");
        assert!(w.gateway.frames_to(&bob_socket).is_empty(), "{step}: nothing published");
        let history = w.store.list_messages(id, &PageRequest::first(10)).await.unwrap();
        assert!(history.items.is_empty(), "{step}: nothing stored");
    }
    // The same send once the store is well again goes out once (through the pipeline).
    messages::send(&w.app, &ada, id, text("hi"), Some("key-1")).await.unwrap();
    w.run_pipeline().await;
    assert_eq!(w.sms.sent().len(), 2);
}

/// The outbox port, failing a named method once on request.
struct FlakyOutbox {
    inner: Arc<MemoryStore>,
    fail: Mutex<HashMap<&'static str, StoreError>>,
}

impl FlakyOutbox {
    fn fail_once(&self, method: &'static str, error: StoreError) {
        self.fail.lock().unwrap().insert(method, error);
    }

    fn enter(&self, method: &'static str) -> Result<(), StoreError> {
        match self.fail.lock().unwrap().remove(method) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl OutboxStore for FlakyOutbox {
    async fn claim_delivery(
        &self,
        id: switchboard_core::domain::ids::DeliveryId,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        self.enter("claim_delivery")?;
        self.inner.claim_delivery(id, now, lease).await
    }
    async fn finish_attempt(
        &self,
        delivery: &Delivery,
        attempt: u32,
        outcome: &AttemptOutcome,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.enter("finish_attempt")?;
        self.inner.finish_attempt(delivery, attempt, outcome, now).await
    }
    async fn due_jobs(&self, before: DateTime<Utc>, limit: usize) -> Result<Vec<Job>, StoreError> {
        self.enter("due_jobs")?;
        self.inner.due_jobs(before, limit).await
    }
    async fn reset_failed_delivery(
        &self,
        delivery: &Delivery,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.enter("reset_failed_delivery")?;
        self.inner.reset_failed_delivery(delivery, now).await
    }
}

// Changed by design: Twilio is called by the pipeline, not by the send. An attempt whose outcome
// cannot be written fails its job (the queue delivers it again) and leaves the delivery in the
// outbox, in flight; what comes next (Twilio's callback, or the next attempt, which first looks
// for the SMS at Twilio) finds the SMS Twilio took: never a second one.
#[tokio::test]
async fn given_an_attempts_outcome_cannot_be_recorded_after_twilio_took_it_then_a_callback_still_lands_and_no_second_sms_goes(
) {
    let (mut w, flaky) = World::new().flaky_outbox();
    // A lease of a millisecond: the job delivered again may attempt at once.
    let delivery = DeliverySettings { lease: Duration::from_millis(1), ..w.app.settings.delivery.clone() };
    w.app.settings = Arc::new(Settings { delivery, ..(*w.app.settings).clone() });
    w.pool([1]).await;
    let ada = w.user("ada").await;
    let group = w.group(&ada, &[], &[phone(1), phone(2)]).await.unwrap();
    let sent = messages::send(&w.app, &ada, group.conversation.id, text("hi"), None).await.unwrap();
    let jobs = w.queue.take_all();

    // WHEN Twilio takes each SMS but the attempt's outcome cannot be written
    for job in &jobs {
        flaky.fail_once("finish_attempt", StoreError::Throttled);
        assert_eq!(code(pipeline::run(&w.app, job).await), "throttled", "the job fails: it comes again");
    }

    // THEN the deliveries stay pending, visible, with no SID
    assert_eq!(w.sms.sent().len(), 2);
    for delivery in &sent.deliveries {
        let stored = w.stored(delivery);
        assert_eq!((stored.status, stored.twilio_sid, stored.attempts), (DeliveryStatus::Pending, None, 1));
    }
    // ...until Twilio's callback, which names our delivery id, moves one on with its SID
    let first = delivery_to(&sent.deliveries, &phone(1));
    let sid = w.sms.taken_by(&phone(1))[0].1.clone();
    let callback = StatusCallback {
        delivery_id: Some(first.id()),
        status_name: "delivered".into(),
        message_sid: Some(sid.clone()),
        error_code: None,
        error_message: None,
    };
    status::apply(&w.app, &callback).await.unwrap();
    let stored = w.stored(first);
    assert_eq!((stored.status, stored.twilio_sid), (DeliveryStatus::Delivered, Some(sid)));
    // ...and when the jobs come again, the other's next attempt finds its SMS at Twilio and adopts
    // its SID; the one the callback moved on is done.
    tokio::time::sleep(Duration::from_millis(5)).await;
    for job in &jobs {
        pipeline::run(&w.app, job).await.unwrap();
    }
    w.run_pipeline().await;
    assert_eq!(w.sms.sent().len(), 2, "no second SMS");
    let second = w.stored(delivery_to(&sent.deliveries, &phone(2)));
    let taken = w.sms.taken_by(&phone(2))[0].1.clone();
    assert_eq!((second.status, second.twilio_sid, second.attempts), (DeliveryStatus::Queued, Some(taken), 2));
    assert_eq!(w.sms.find_queries().len(), 1);
    assert_eq!(w.stored(first).status, DeliveryStatus::Delivered);
}

#[tokio::test]
async fn port_calls_per_send_are_the_same_whatever_the_number_of_phones_web_users_and_their_devices() {
    let mut costs = Vec::new();
    for (phones, web_users, devices) in [(1, 1, 1), (20, 10, 3)] {
        let (w, flaky) = World::new().flaky();
        w.pool([1]).await;
        let ada = w.user("ada").await;
        let mut members = Vec::new();
        for i in 0..web_users {
            let user = w.user(&format!("user{i}")).await;
            for d in 0..devices {
                w.connect(&format!("user{i}-{d}"), &user).await;
            }
            members.push(user);
        }
        let members: Vec<&User> = members.iter().collect();
        let phones: Vec<E164> = (1..=phones).map(phone).collect();
        let group = w.group(&ada, &members, &phones).await.unwrap();
        let (requests, calls) = (w.store.requests(), flaky.calls().len());

        messages::send(&w.app, &ada, group.conversation.id, text("hi"), None).await.unwrap();

        // The send itself calls no Twilio: it queues one job per SMS, in one call.
        assert!(w.sms.sent().is_empty());
        let queued: Vec<usize> = w.queue.calls().iter().map(|(jobs, _)| jobs.len()).collect();
        assert_eq!(queued, [phones.len()]);
        assert_eq!(w.gateway.posts().len(), web_users * devices, "one frame per device");
        let message_calls = flaky.calls()[calls..].to_vec();
        assert_eq!(message_calls, ["opted_out", "create_message"]);
        costs.push(w.store.requests() - requests);
        w.run_pipeline().await;
        assert_eq!(w.sms.sent().len(), phones.len());
    }
    // The conversation, the opt-outs (one batch), the write-ahead, and the connections of every
    // member (one read for all of them). (Changed by design: the outcomes are no longer the
    // send's write but each delivery job's.)
    assert_eq!(costs, [4, 4]);
}

// === redeliver ===================================================================================
//
// Changed by design: a redrive puts `failed` deliveries back in the outbox and queues them (the
// pipeline sends them); `pending` ones are the pipeline's (`Skipped::InOutbox`: the sweeper
// queues them again if their job was lost).

#[tokio::test]
async fn redeliver_requeues_failed_deliveries_once_under_the_same_ids_and_leaves_pending_ones_to_the_sweeper()
{
    let w = World::new();
    w.pool([1]).await;
    let ada = w.user("ada").await;
    let group = w.group(&ada, &[], &[phone(1), phone(2), phone(3)]).await.unwrap();
    let id = group.conversation.id;
    w.sms.script(&phone(2), rejected(21211));
    let sent = messages::send(&w.app, &ada, id, text("retry me"), None).await.unwrap();
    w.run_pipeline().await;
    let failed = delivery_to(&sent.deliveries, &phone(2)).clone();
    assert_eq!(w.stored(&failed).status, DeliveryStatus::Failed);
    w.sms.clear_sent();

    // WHEN the operator redrives the message THEN only the failed delivery is queued, same id
    let report = messages::redeliver(&w.app, id, sent.message.id, RedeliverOptions::default()).await.unwrap();
    assert!(report.skipped.is_empty());
    assert_eq!(report.requeued.iter().map(Delivery::id).collect::<Vec<_>>(), [failed.id()]);
    let waiting: Vec<Job> = w.queue.waiting().into_iter().map(|(_, job)| job).collect();
    assert_eq!(waiting, [Job::delivery(failed.id())]);
    assert_eq!((w.stored(&failed).status, w.stored(&failed).attempts), (DeliveryStatus::Pending, 0));
    w.run_pipeline().await;
    let resent = w.sms.sent();
    assert_eq!(resent.len(), 1);
    assert_eq!((resent[0].to.clone(), resent[0].body.as_str()), (phone(2), "ada: retry me"));
    assert_eq!(resent[0].status_callback, Some(format!("{CALLBACK}?deliveryId={}", failed.id())));
    let now = w.stored(&failed);
    assert_eq!((now.status, now.error_code), (DeliveryStatus::Queued, None));
    assert!(now.twilio_sid.is_some());
    // ...and a second redrive finds nothing left to send.
    let again = messages::redeliver(&w.app, id, sent.message.id, RedeliverOptions::default()).await.unwrap();
    assert!(again.requeued.is_empty() && again.skipped.is_empty());
    assert!(w.queue.waiting().is_empty());

    // GIVEN a send that died after its write-ahead, before queuing its jobs, an hour ago
    let abandoned = w.write_ahead(&ada, id, "lost?", Utc::now() - chrono::Duration::hours(1)).await;
    // THEN a redrive leaves it to the pipeline...
    let report =
        messages::redeliver(&w.app, id, abandoned[0].message_id, RedeliverOptions::default()).await.unwrap();
    assert!(report.requeued.is_empty());
    let skipped: Vec<Skipped> = report.skipped.iter().map(|(_, why)| *why).collect();
    assert_eq!(skipped, [Skipped::InOutbox; 3]);
    // ...whose sweeper queues it, and it is sent
    assert_eq!(pipeline::sweep(&w.app, Utc::now()).await.unwrap(), 3);
    w.run_pipeline().await;
    assert!(abandoned.iter().all(|d| w.stored(d).status == DeliveryStatus::Queued));
    assert_eq!(w.sms.sent().len(), 4);
}

#[tokio::test]
async fn redeliver_leaves_alone_pending_deliveries_tentative_failures_and_who_left_and_opt_outs_get_no_sms() {
    let w = World::new();
    w.pool([1]).await;
    let ada = w.user("ada").await;
    let group = w.group(&ada, &[], &[phone(1), phone(2), phone(3)]).await.unwrap();
    let id = group.conversation.id;

    // In the outbox: the pipeline's to send, not the redrive's.
    let fresh = w.write_ahead(&ada, id, "in flight?", Utc::now()).await;
    let report =
        messages::redeliver(&w.app, id, fresh[0].message_id, RedeliverOptions::default()).await.unwrap();
    assert!(report.requeued.is_empty());
    assert!(report.skipped.iter().all(|(_, why)| *why == Skipped::InOutbox) && report.skipped.len() == 3);
    assert!(w.sms.sent().is_empty() && w.queue.waiting().is_empty());
    pipeline::sweep(&w.app, Utc::now()).await.unwrap();
    w.run_pipeline().await;
    w.sms.clear_sent();

    // A failure concluded without Twilio's word (no answer, to the last attempt too) is only sent
    // again when forced.
    w.sms.always(&phone(1), Err(SendError::Timeout));
    let sent = messages::send(&w.app, &ada, id, text("maybe sent"), None).await.unwrap();
    w.run_pipeline().await;
    assert!(w.stored(delivery_to(&sent.deliveries, &phone(1))).tentative);
    w.sms.clear_sent();
    let report = messages::redeliver(&w.app, id, sent.message.id, RedeliverOptions::default()).await.unwrap();
    assert_eq!(report.skipped.iter().map(|(_, why)| *why).collect::<Vec<_>>(), [Skipped::Tentative]);
    assert!(w.queue.waiting().is_empty());
    w.sms.always(&phone(1), FakeSms::accepted(DeliveryStatus::Queued));
    let forced = RedeliverOptions { force: true };
    let report = messages::redeliver(&w.app, id, sent.message.id, forced).await.unwrap();
    assert_eq!(report.requeued.len(), 1);
    w.run_pipeline().await;
    assert_eq!(w.sms.sent().len(), 1);

    // Every phone refused; then phone 1 left and phone 2 opted out of the number: only phone 3
    // gets an SMS, phone 2's delivery is recorded opted out without one.
    for p in 1..=3 {
        w.sms.script(&phone(p), rejected(21211));
    }
    let refused = messages::send(&w.app, &ada, id, text("lost?"), None).await.unwrap();
    w.run_pipeline().await;
    w.sms.clear_sent();
    let p1 = group.participants.iter().find(|p| p.route() == Some((number(1), phone(1)))).unwrap().id;
    conversations::remove_participant(&w.app, &ada, id, p1).await.unwrap();
    w.app.messages.set_opt_out(&number(1), &phone(2), true).await.unwrap();
    let report =
        messages::redeliver(&w.app, id, refused.message.id, RedeliverOptions::default()).await.unwrap();
    let skipped: Vec<(E164, Skipped)> = report.skipped.iter().map(|(d, why)| (d.to.clone(), *why)).collect();
    assert_eq!(skipped, [(phone(1), Skipped::NotAParticipant)]);
    assert_eq!(report.requeued.len(), 2);
    w.run_pipeline().await;
    assert_eq!(w.sms.sent().iter().map(|s| s.to.clone()).collect::<Vec<_>>(), [phone(3)]);
    let stored = |p: u32| w.stored(delivery_to(&refused.deliveries, &phone(p))).status;
    assert_eq!(
        [stored(1), stored(2), stored(3)],
        [DeliveryStatus::Failed, DeliveryStatus::OptedOut, DeliveryStatus::Queued]
    );
}

#[tokio::test]
async fn redeliver_refuses_a_closed_conversation_a_deleted_message_and_another_conversations_id() {
    let w = World::new();
    w.pool([1]).await;
    let ada = w.user("ada").await;
    let group = w.group(&ada, &[], &[phone(1)]).await.unwrap();
    let id = group.conversation.id;
    let old = Utc::now() - chrono::Duration::hours(1);
    let deleted = w.write_ahead(&ada, id, "oops", old).await[0].message_id;
    messages::change(&w.app, &ada, deleted, None).await.unwrap();
    let lost = w.write_ahead(&ada, id, "lost", old).await[0].message_id;
    let options = RedeliverOptions::default();

    let elsewhere = messages::redeliver(&w.app, ConversationId::new(), lost, options).await;
    assert_eq!(code(elsewhere), "not_found");
    assert_eq!(code(messages::redeliver(&w.app, id, MessageId::new(), options).await), "not_found");
    assert_eq!(code(messages::redeliver(&w.app, id, deleted, options).await), "message_deleted");
    conversations::close(&w.app, &ada, id).await.unwrap();
    assert_eq!(code(messages::redeliver(&w.app, id, lost, options).await), "conversation_closed");
    assert!(w.sms.sent().is_empty() && w.queue.waiting().is_empty());
}

#[tokio::test]
async fn two_redrives_at_once_queue_each_failed_delivery_once_between_them() {
    let w = World::new();
    w.pool([1]).await;
    let ada = w.user("ada").await;
    let group = w.group(&ada, &[], &[phone(1), phone(2)]).await.unwrap();
    let id = group.conversation.id;
    w.sms.script(&phone(1), rejected(21211)).script(&phone(2), rejected(21211));
    let refused = messages::send(&w.app, &ada, id, text("refused"), None).await.unwrap().message.id;
    w.run_pipeline().await;
    w.sms.clear_sent();

    let options = RedeliverOptions::default();
    let (a, b) = tokio::join!(
        messages::redeliver(&w.app, id, refused, options),
        messages::redeliver(&w.app, id, refused, options)
    );

    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.requeued.len() + b.requeued.len(), 2, "each delivery reset by one redrive");
    // The other found it reset under it (Moved), or read it already back in the outbox.
    assert!(a
        .skipped
        .iter()
        .chain(&b.skipped)
        .all(|(_, why)| matches!(why, Skipped::Moved | Skipped::InOutbox)));
    assert_eq!(a.skipped.len() + b.skipped.len(), 2, "and skipped by the other");
    assert_eq!(w.queue.waiting().len(), 2);
    w.run_pipeline().await;
    assert_eq!(w.sms.sent().len(), 2);
    let stored = w.store.get_message(refused).await.unwrap().unwrap();
    assert!(stored.deliveries.iter().all(|d| d.status == DeliveryStatus::Queued));
}

// === time ========================================================================================

// Changed by design: the send no longer calls Twilio (nor waits for it, whatever its concurrency
// was): it answers at once with its deliveries pending, and the pipeline sends them.
#[tokio::test(start_paused = true)]
async fn a_send_answers_without_waiting_for_twilio_however_slow_it_is() {
    let w = World::new();
    w.pool([1]).await;
    let ada = w.user("ada").await;
    let phones: Vec<E164> = (1..=6).map(phone).collect();
    let group = w.group(&ada, &[], &phones).await.unwrap();
    w.sms.set_latency(Duration::from_secs(1));
    let started = tokio::time::Instant::now();

    let sent = messages::send(&w.app, &ada, group.conversation.id, text("hi"), None).await.unwrap();

    assert_eq!(started.elapsed(), Duration::ZERO);
    assert!(sent.deliveries.iter().all(|d| d.status == DeliveryStatus::Pending));
    assert_eq!(w.queue.waiting().len(), 6);
    w.run_pipeline().await;
    assert_eq!(w.sms.sent().len(), 6);
}

// === inbound relays ==============================================================================

// Un-ignored: the relay is in the outbox now. The webhook stores the text as a pending relay in
// the transaction that records its MessageSid, and only queues the relay job; a fan-out that
// fails is run again by the queue (or found again by the sweeper), whatever the webhook's retry
// does.
#[tokio::test]
async fn given_the_fan_out_fails_after_a_group_text_is_stored_when_the_webhook_is_retried_then_the_other_phones_still_get_it(
) {
    let (w, flaky) = World::new().flaky();
    w.pool([1]).await;
    let ada = w.user("ada").await;
    let group = w.group(&ada, &[], &[phone(1), phone(2)]).await.unwrap();
    let sms = InboundSms {
        message_sid: "SM1".into(),
        from: phone(1),
        to: number(1),
        body: "for everyone".into(),
        media: Vec::new(),
    };
    let first = inbound::receive(&w.app, &sms).await.unwrap();
    assert!(matches!(first, Outcome::Routed { relayed: true, .. }), "{first:?}");
    // GIVEN the store throttles the relay step (its opt-out read), after the text itself was stored
    flaky.fail_once("opted_out", StoreError::Throttled);
    let jobs = w.queue.take_all();
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        code(pipeline::run(&w.app, &jobs[0]).await),
        "throttled",
        "the relay job fails: it comes again"
    );

    // WHEN the webhook is retried
    let retry = inbound::receive(&w.app, &sms).await.unwrap();
    assert_eq!(retry, Outcome::Duplicate);
    // ...and the relay job comes again (here its queue message was lost: the sweeper finds it)
    assert_eq!(pipeline::sweep(&w.app, Utc::now()).await.unwrap(), 1);
    w.run_pipeline().await;

    // THEN the text is stored once and phone 2 gets it once
    let history = w.store.list_messages(group.conversation.id, &PageRequest::first(10)).await.unwrap();
    assert_eq!(history.items.len(), 1);
    assert_eq!(w.sms.sent_to(&phone(2)).len(), 1);
    assert_eq!(w.sms.sent_to(&phone(2))[0].body, format!("{}: for everyone", phone(1)));
    assert!(w.sms.sent_to(&phone(1)).is_empty(), "not back to its sender");
    let relay = delivery_to(&history.items[0].deliveries, &phone(2));
    assert_eq!(relay.status, DeliveryStatus::Queued);
    // ...and the web members' inbox shows it, as it does for a text whose fan-out went well.
    let inbox = w.store.list_inbox(ada.id, &PageRequest::first(10)).await.unwrap();
    assert_eq!(inbox.items[0].last_message_preview.as_deref(), Some("for everyone"));
    // A late copy of the relay job changes nothing.
    pipeline::run(&w.app, &jobs[0]).await.unwrap();
    w.run_pipeline().await;
    assert_eq!(w.sms.sent_to(&phone(2)).len(), 1);
}
