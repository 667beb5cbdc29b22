//! The media copy of inbound MMS over the fakes: Twilio's media URLs and the bucket are a
//! [`FakeMediaCopies`], the pipeline's queue a [`FakeQueue`] run to the end as the worker would.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use switchboard_core::auth::{TokenService, TokenSettings};
use switchboard_core::domain::conversation::{GroupRequest, Member, ParticipantRequest};
use switchboard_core::domain::ids::{ConversationId, UserId};
use switchboard_core::domain::message::Message;
use switchboard_core::domain::phone::E164;
use switchboard_core::domain::user::User;
use switchboard_core::memory::{FakeMedia, FakeMediaCopies, FakeQueue, FakeSms, MemoryStore};
use switchboard_core::ports::media_copies::MediaError;
use switchboard_core::ports::queue::Job;
use switchboard_core::ports::{JobQueue, MessageStore, PageRequest};
use switchboard_core::service::inbound::{self, InboundSms, Outcome};
use switchboard_core::service::{conversations, pipeline, DeliverySettings};
use switchboard_core::{App, Secret, Settings};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\nnot really";

fn number() -> E164 {
    E164::from_stored("+14155550100".into())
}

fn phone() -> E164 {
    E164::from_stored("+14155550200".into())
}

fn media_url(n: u32) -> String {
    format!("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME{n}")
}

struct World {
    store: Arc<MemoryStore>,
    media: Arc<FakeMediaCopies>,
    queue: Arc<FakeQueue>,
    sms: Arc<FakeSms>,
    app: App,
    /// The user holding our number.
    holder: Option<User>,
}

impl World {
    async fn new(delete_twilio_media: bool) -> Self {
        let (store, media, queue) =
            (Arc::new(MemoryStore::new()), Arc::new(FakeMediaCopies::new()), Arc::new(FakeQueue::new()));
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
        let settings = Settings { delivery, delete_twilio_media, ..Settings::default() };
        let sms = Arc::new(FakeSms::new());
        let app = App::new(settings, tokens, store.clone())
            .with_queue(queue.clone())
            .with_sms(sms.clone())
            .with_media(Arc::new(FakeMedia::new()))
            .with_media_copies(media.clone(), media.clone());
        let world = Self { store, media, queue, sms, app, holder: None };
        let holder = world.holder().await;
        Self { holder: Some(holder), ..world }
    }

    /// A user holding our number: a phone's first text opens an SMS conversation.
    async fn holder(&self) -> User {
        let now = Utc::now();
        let user = User {
            id: UserId::new(),
            username: "ana".into(),
            email: "ana@example.com".into(),
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
        self.app.numbers.add_number(&number(), now).await.unwrap();
        self.app.numbers.assign_number(user.id, &number(), now).await.unwrap();
        self.app.users.get_user(user.id).await.unwrap().unwrap()
    }

    async fn mms(&self, sid: &str, urls: &[String]) -> Outcome {
        let sms = InboundSms {
            message_sid: sid.into(),
            from: phone(),
            to: number(),
            body: "look".into(),
            media: urls.iter().map(|u| (u.clone(), "image/png".to_string())).collect(),
        };
        inbound::receive(&self.app, &sms).await.unwrap()
    }

    /// Runs every queued job until the queue is empty (bounded).
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

    async fn only_message(&self, id: ConversationId) -> Message {
        let page = self.store.list_messages(id, &PageRequest::first(10)).await.unwrap();
        assert_eq!(page.items.len(), 1);
        page.items.into_iter().next().unwrap().message
    }
}

fn opened(outcome: Outcome) -> ConversationId {
    match outcome {
        Outcome::Opened { conversation_id } | Outcome::Routed { conversation_id, .. } => conversation_id,
        other => panic!("not stored: {other:?}"),
    }
}

#[tokio::test]
async fn given_a_fetch_that_fails_twice_then_the_third_attempt_copies_every_item_once() {
    let w = World::new(false).await;
    let urls = [media_url(1), media_url(2)];
    for url in &urls {
        w.media.serve(url, "image/png", PNG);
    }
    w.media.fail_next(&urls[0], MediaError::Unavailable("HTTP 503".into()));
    w.media.fail_next(&urls[0], MediaError::Unavailable("no connection".into()));
    let id = opened(w.mms("MM1", &urls).await);
    let before = w.only_message(id).await;
    assert!(before.media_keys.is_empty(), "no copy before the pipeline ran");

    w.run_pipeline().await;

    let message = w.only_message(id).await;
    let keys: Vec<String> = (0..2).map(|n| format!("media/{id}/{}/{n}", message.id)).collect();
    assert_eq!(message.media_keys, keys);
    assert_eq!(message.media_urls, urls, "Twilio's URLs stay for the record");
    let puts: Vec<String> = w.media.puts().into_iter().map(|(key, _, _)| key).collect();
    assert_eq!(puts, keys, "each item stored once, by the attempt that succeeded");
    assert_eq!(w.media.puts()[0].1, "image/png");
    assert_eq!(w.media.fetched().len(), 4, "two failed fetches, then one per item");
    assert!(w.media.deleted().is_empty(), "DELETE_TWILIO_MEDIA is off by default");
    // Nothing left for the sweeper.
    assert_eq!(pipeline::sweep(&w.app, Utc::now() + chrono::Duration::hours(1)).await.unwrap(), 0);
}

#[tokio::test]
async fn given_a_retried_webhook_then_the_media_is_copied_once() {
    let w = World::new(false).await;
    let urls = [media_url(1)];
    w.media.serve(&urls[0], "image/png", PNG);
    let id = opened(w.mms("MM1", &urls).await);
    assert_eq!(w.mms("MM1", &urls).await, Outcome::Duplicate);
    // And the copy job delivered twice.
    let message = w.only_message(id).await;
    w.queue.enqueue(&[Job::media_copy(id, message.id)], Duration::ZERO).await.unwrap();
    w.run_pipeline().await;
    assert_eq!(w.media.puts().len(), 1);
    assert_eq!(w.only_message(id).await.media_keys.len(), 1);
}

#[tokio::test]
async fn given_the_copy_job_was_lost_then_the_sweeper_queues_it_and_the_copy_lands() {
    let w = World::new(true).await;
    let urls = [media_url(1)];
    w.media.serve(&urls[0], "image/png", PNG);
    let id = opened(w.mms("MM1", &urls).await);
    assert_eq!(w.queue.take_all().len(), 1, "the copy job, then lost");
    assert!(w.media.puts().is_empty());

    assert_eq!(pipeline::sweep(&w.app, Utc::now() + chrono::Duration::seconds(1)).await.unwrap(), 1);
    w.run_pipeline().await;

    assert_eq!(w.only_message(id).await.media_keys.len(), 1);
    assert_eq!(w.media.deleted(), urls, "DELETE_TWILIO_MEDIA: Twilio's copy deleted after ours");
}

#[tokio::test]
async fn given_a_refused_type_or_the_last_attempt_failing_then_twilios_urls_are_kept_and_the_copy_stops() {
    let w = World::new(false).await;
    let exe = media_url(1);
    w.media.serve(&exe, "application/x-msdownload", b"MZ");
    let refused = opened(w.mms("MM1", std::slice::from_ref(&exe)).await);
    let down = media_url(2);
    w.media.serve(&down, "image/png", PNG);
    for _ in 0..DeliverySettings::default().max_attempts {
        w.media.fail_next(&down, MediaError::Unavailable("HTTP 503".into()));
    }
    w.run_pipeline().await;
    let first = w.only_message(refused).await;
    assert!(first.media_keys.is_empty());
    assert_eq!(first.media_urls, std::slice::from_ref(&exe));
    let second = w.mms("MM2", std::slice::from_ref(&down)).await;
    let second = opened(second);
    w.run_pipeline().await;
    let messages = w.store.list_messages(second, &PageRequest::first(10)).await.unwrap().items;
    assert!(messages.iter().all(|m| m.message.media_keys.is_empty()));
    assert!(w.media.puts().is_empty());
    assert_eq!(
        w.media.fetched().iter().filter(|u| **u == down).count(),
        DeliverySettings::default().max_attempts as usize,
        "retried up to the attempts cap, then given up"
    );
    assert_eq!(pipeline::sweep(&w.app, Utc::now() + chrono::Duration::hours(1)).await.unwrap(), 0);
}

/// A group of the holder and two phones; the proxy number `phone()` texts.
async fn group_with_two_phones(w: &World, holder: &User) -> E164 {
    w.app.numbers.add_number(&E164::from_stored("+14155550101".into()), Utc::now()).await.unwrap();
    let participants = [phone(), E164::from_stored("+14155550201".into())]
        .iter()
        .map(|p| ParticipantRequest { user_id: None, phone_number: Some(p.to_string()), display_name: None })
        .collect();
    let request = GroupRequest { name: "Picnic".into(), description: None, participants };
    let detail = conversations::create_group(&w.app, holder, request).await.unwrap();
    detail
        .participants
        .iter()
        .find_map(|p| match &p.member {
            Member::Sms { phone: from, proxy_number } if *from == phone() => Some(proxy_number.clone()),
            _ => None,
        })
        .expect("the phone's proxy number")
}

#[tokio::test]
async fn with_twilios_copies_deleted_a_group_relay_written_before_the_copy_sends_ours() {
    let w = World::new(true).await;
    let proxy = group_with_two_phones(&w, w.holder.as_ref().unwrap()).await;
    let url = media_url(1);
    w.media.serve(&url, "image/png", PNG);
    let sms = InboundSms {
        message_sid: "MMG1".into(),
        from: phone(),
        to: proxy,
        body: "look".into(),
        media: vec![(url.clone(), "image/png".to_string())],
    };
    inbound::receive(&w.app, &sms).await.unwrap();
    // The relay runs first (its delivery gets Twilio's URL), then the copy, which deletes
    // Twilio's media; only then does the relayed delivery's attempt run.
    let jobs = w.queue.take_all();
    let relay = jobs.iter().find(|j| matches!(j, Job::Relay(_))).expect("a relay job");
    let copy = jobs.iter().find(|j| matches!(j, Job::MediaCopy(_))).expect("a copy job");
    pipeline::run(&w.app, relay).await.unwrap();
    let deliveries = w.queue.take_all();
    pipeline::run(&w.app, copy).await.unwrap();
    assert_eq!(w.media.deleted(), vec![url.clone()]);
    for job in &deliveries {
        pipeline::run(&w.app, job).await.unwrap();
    }
    let sent = w.sms.sent();
    assert_eq!(sent.len(), 1, "relayed to the other phone");
    assert_eq!(sent[0].media_urls.len(), 1);
    assert!(
        sent[0].media_urls[0].contains("media/") && sent[0].media_urls[0] != url,
        "{:?}",
        sent[0].media_urls
    );
}
