//! Use cases, written against the ports. Each returns domain values or an [`AppError`]; the
//! HTTP edge turns those into responses. [`App`] carries what they need, built once per cold
//! start by the function's `main` (or by a test, over in-memory fakes).

pub mod accounts;
pub mod contacts;
pub mod conversations;
mod errors;
pub mod events;
pub mod export;
pub mod idle;
pub mod inbound;
pub mod media;
pub mod media_copy;
pub mod messages;
pub mod number_import;
pub mod numbers;
pub mod pipeline;
pub mod reading;
pub mod realtime;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use phonenumber::country;

use crate::auth::{Roles, TokenService};
use crate::error::AppError;
use crate::ports::media::NoMediaStore;
use crate::ports::media_copies::NoMedia;
use crate::ports::provider::NoProvider;
use crate::ports::queue::NoQueue;
use crate::ports::sms::NotConfigured;
use crate::ports::{
    ConnectionStore, ContactStore, ConversationStore, JobQueue, MediaCopies, MediaCopyStore, MediaSource,
    MediaStore, MessageStore, NumberPool, NumberProvider, OutboxStore, SmsSender, Stores, UserStore,
    WebhookStore,
};
pub use events::{Published, Publisher};

/// The settings the use cases read (see the README's configuration table).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Region used to read phone numbers written without a leading `+`.
    pub default_region: country::Id,
    /// Largest group conversation (2..=50).
    pub max_group_size: usize,
    /// Who is an admin (`ADMIN_EMAILS`).
    pub roles: Roles,
    /// Where Twilio posts delivery statuses; each send adds `?deliveryId=…`.
    pub status_callback_url: Option<String>,
    /// Where Twilio posts inbound SMS (the inbound webhook): what imported numbers are pointed at.
    pub inbound_webhook_url: Option<String>,
    /// How the delivery pipeline retries.
    pub delivery: DeliverySettings,
    /// What a phone texting HELP or INFO is answered (`HELP_REPLY`, or built from `OPERATOR_NAME`).
    pub help_reply: String,
    /// Seconds without a message after which an SMS or group conversation closes by itself,
    /// unless it has its own timer (`IDLE_CLOSE_AFTER`); None: never.
    pub idle_close_after: Option<u32>,
    /// Delete Twilio's copy of an inbound MMS's media once ours is stored (`DELETE_TWILIO_MEDIA`).
    pub delete_twilio_media: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            default_region: country::Id::US,
            max_group_size: 50,
            roles: Roles::default(),
            status_callback_url: None,
            inbound_webhook_url: None,
            delivery: DeliverySettings::default(),
            help_reply: inbound::default_help_reply("Switchboard"),
            idle_close_after: None,
            delete_twilio_media: false,
        }
    }
}

/// The delivery pipeline's retry rules (README: `DELIVERY_*` settings).
#[derive(Clone, Debug, PartialEq)]
pub struct DeliverySettings {
    /// Attempts per delivery, the first included, before it is given up (`failed`, dead-lettered).
    pub max_attempts: u32,
    /// The delay before the first retry; each later one triples, up to `retry_max`, jittered
    /// down to half.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// How long a claimed attempt belongs to its worker: longer than a worker can live (its
    /// function timeout), so a live worker is never overtaken.
    pub lease: Duration,
    /// How overdue an outbox entry must be before the sweeper queues it again (its own job is
    /// then presumed lost).
    pub sweep_grace: Duration,
}

impl DeliverySettings {
    /// The delay before retry number `retry` (1 for the first): `retry_base × 3^(retry-1)`,
    /// capped at `retry_max`, then jittered down to between half and all of it (`jitter` in
    /// [0, 1)), so phones throttled together do not retry together.
    pub fn retry_delay(&self, retry: u32, jitter: f64) -> Duration {
        let exponent = retry.saturating_sub(1).min(20);
        let full = self.retry_base.saturating_mul(3u32.saturating_pow(exponent)).min(self.retry_max);
        full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

/// SQS delays a message by at most 15 minutes; a longer wait is covered by the sweeper.
pub(crate) const MAX_QUEUE_DELAY: Duration = Duration::from_secs(900);

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            retry_base: Duration::from_secs(15),
            retry_max: Duration::from_secs(900),
            lease: Duration::from_secs(120),
            sweep_grace: Duration::from_secs(60),
        }
    }
}

/// The dependencies of the use cases: settings, tokens, one port per aggregate, the SMS sender
/// and the real-time publisher. Cheap to clone (everything is shared).
#[derive(Clone)]
pub struct App {
    pub settings: Arc<Settings>,
    pub tokens: Arc<TokenService>,
    pub users: Arc<dyn UserStore>,
    pub numbers: Arc<dyn NumberPool>,
    pub conversations: Arc<dyn ConversationStore>,
    pub messages: Arc<dyn MessageStore>,
    pub outbox: Arc<dyn OutboxStore>,
    pub connections: Arc<dyn ConnectionStore>,
    pub webhooks: Arc<dyn WebhookStore>,
    pub contacts: Arc<dyn ContactStore>,
    /// Fails every send unless [`App::with_sms`] gave it a sender: only the functions that send
    /// SMS build a Twilio client.
    pub sms: Arc<dyn SmsSender>,
    /// The Twilio account's numbers; fails every call unless [`App::with_provider`] gave it one.
    pub provider: Arc<dyn NumberProvider>,
    /// Disabled (no reads, no posts) unless [`App::with_events`] gave it a gateway.
    pub events: Publisher,
    /// The delivery pipeline's queue; refuses every job unless [`App::with_queue`] gave it one.
    pub queue: Arc<dyn JobQueue>,
    /// The media bucket; refuses every request unless [`App::with_media`] gave it one.
    pub media: Arc<dyn MediaStore>,
    /// The media-copy marks of inbound MMS (the outbox's `#M#` entries).
    pub media_marks: Arc<dyn MediaCopyStore>,
    /// Where inbound media is fetched from (Twilio) and copied to (the bucket); both refuse
    /// unless [`App::with_media`] gave them.
    pub media_source: Arc<dyn MediaSource>,
    pub media_copies: Arc<dyn MediaCopies>,
}

impl App {
    /// Every storage port served by one adapter (DynamoDB, or the in-memory fake).
    pub fn new<S: Stores>(settings: Settings, tokens: TokenService, stores: Arc<S>) -> Self {
        Self {
            settings: Arc::new(settings),
            tokens: Arc::new(tokens),
            users: stores.clone(),
            numbers: stores.clone(),
            conversations: stores.clone(),
            messages: stores.clone(),
            outbox: stores.clone(),
            connections: stores.clone(),
            webhooks: stores.clone(),
            media_marks: stores.clone(),
            contacts: stores,
            sms: Arc::new(NotConfigured),
            provider: Arc::new(NoProvider),
            events: Publisher::disabled(),
            queue: Arc::new(NoQueue),
            media: Arc::new(NoMediaStore),
            media_source: Arc::new(NoMedia),
            media_copies: Arc::new(NoMedia),
        }
    }

    pub fn with_queue(self, queue: Arc<dyn JobQueue>) -> Self {
        Self { queue, ..self }
    }

    pub fn with_media(self, media: Arc<dyn MediaStore>) -> Self {
        Self { media, ..self }
    }

    pub fn with_sms(self, sms: Arc<dyn SmsSender>) -> Self {
        Self { sms, ..self }
    }

    pub fn with_provider(self, provider: Arc<dyn NumberProvider>) -> Self {
        Self { provider, ..self }
    }

    pub fn with_media_copies(self, source: Arc<dyn MediaSource>, copies: Arc<dyn MediaCopies>) -> Self {
        Self { media_source: source, media_copies: copies, ..self }
    }

    pub fn with_events(self, events: Publisher) -> Self {
        Self { events, ..self }
    }

    /// Parses a phone number someone typed, in the default region; 422 naming `field` otherwise.
    pub fn parse_phone(&self, field: &str, raw: &str) -> Result<crate::domain::phone::E164, AppError> {
        crate::domain::user::validate_phone(field, raw, self.settings.default_region)
    }
}
