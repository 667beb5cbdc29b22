//! The delivery pipeline: what takes the outbox to Twilio. Sends and inbound group texts write
//! their deliveries (or the pending relay) into the table first, in the same transaction that
//! stores the message; that write is the outbox. Then a job is queued (`JobQueue`), and the
//! worker (`functions/delivery`) runs it here:
//!
//! - [`deliver`]: claim the next attempt (a conditional write: attempt number and lease), send,
//!   record the outcome. Twilio's answer decides what follows: accepted; refused for good (4xx,
//!   21610 an opt-out); or retried later with exponential backoff and jitter (429, 5xx, no
//!   connection, no answer), until the last attempt gives it up (`failed`, dead-lettered).
//!   An attempt whose answer never came may have been sent: the next one first looks for it in
//!   Twilio's Messages list and adopts its SID.
//! - [`relay`]: fan an inbound group text out to the group's other phones and web members.
//! - [`sweep`]: queue again what the outbox holds overdue (a job lost with a dying function, a
//!   queue that refused): nothing written ahead is lost.
//!
//! A job delivered twice, two workers at once, a worker that dies mid-call: the claim makes
//! each of them send a delivery at most once, the lease and the sweeper make it sent at least
//! once. See docs/messaging.md.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{realtime, App, DeliverySettings, MAX_QUEUE_DELAY};
use crate::domain::conversation::{ConversationKind, Member};
use crate::domain::ids::{ConversationId, DeliveryId, MessageId};
use crate::domain::message::{segments, sms_body, Delivery, DeliveryStatus, SenderKind};
use crate::domain::realtime::{Event, EventKind};
use crate::error::AppError;
use crate::observe::{self, Metric};
use crate::ports::messages::StoredMessage;
use crate::ports::outbox::{AttemptOutcome, Claim};
use crate::ports::queue::Job;
use crate::ports::sms::{OutboundSms, SendError, SentQuery};
use crate::ports::StoreError;

/// Twilio's error for a recipient who unsubscribed from the sender number.
const OPTED_OUT_AT_TWILIO: i64 = 21610;
/// How long a relay job waits before reading the group again after a participant left under it.
const RELAY_CONTENTION_DELAY: Duration = Duration::from_secs(1);

/// Runs one job. An error means "not done": the queue delivers the job again later (and
/// dead-letters it after too many tries); everything else (sent, refused, retry scheduled,
/// given up, done before) is `Ok`.
pub async fn run(app: &App, job: &Job) -> Result<(), AppError> {
    match job {
        Job::Delivery(job) => deliver(app, job.id).await,
        Job::Relay(job) => relay(app, job.conversation_id, job.message_id).await,
        Job::MediaCopy(job) => super::media_copy::copy(app, job.conversation_id, job.message_id).await,
    }
}

/// Queues jobs now; a queue that refuses loses nothing (the outbox keeps them and the sweeper
/// queues them again), so it is logged, not failed.
pub async fn enqueue(app: &App, jobs: &[Job]) {
    if jobs.is_empty() {
        return;
    }
    if let Err(err) = app.queue.enqueue(jobs, Duration::ZERO).await {
        tracing::warn!(jobs = jobs.len(), error = %err, "jobs not queued: the sweeper will queue them");
    }
}

/// The delay before retry number `retry` (see [`DeliverySettings::retry_delay`]).
pub fn retry_delay(settings: &DeliverySettings, retry: u32, jitter: f64) -> Duration {
    settings.retry_delay(retry, jitter)
}

/// The bucket keys of a delivery's media. A relay of a phone's MMS is written before the media
/// copy lands, with Twilio's URLs only; when Twilio's copies are deleted once ours are stored
/// (`DELETE_TWILIO_MEDIA`), such a delivery reads the message (only then, and only an MMS) so
/// that a retry or a late attempt sends our copies rather than deleted URLs.
async fn relay_media_keys(app: &App, delivery: &Delivery) -> Result<Vec<String>, AppError> {
    if !delivery.media_keys.is_empty() || delivery.media_urls.is_empty() || !app.settings.delete_twilio_media
    {
        return Ok(delivery.media_keys.clone());
    }
    let stored = app.messages.get_message(delivery.message_id).await?;
    Ok(stored.map(|s| s.message.media_keys).unwrap_or_default())
}

/// One attempt at one delivery.
pub async fn deliver(app: &App, id: DeliveryId) -> Result<(), AppError> {
    observe::conversation(&id.conversation_id);
    observe::delivery(&id);
    let settings = &app.settings.delivery;
    let now = Utc::now();
    let claimed = match app.outbox.claim_delivery(id, now, settings.lease).await? {
        Claim::Claimed(claimed) => *claimed,
        other => {
            // Done, or someone else's to do: the holder of a lease finishes it, or the sweeper
            // queues it again once the lease ran out; an early duplicate is followed by its own
            // job at the due time.
            tracing::info!(deliveryId = %id, claim = ?other, "delivery job with nothing to do");
            observe::outcome("nothing_to_do");
            return Ok(());
        }
    };
    let delivery = &claimed.delivery;
    // Our bucket's media, where the message has them, through fresh presigned GETs that outlive
    // Twilio's fetch; otherwise the URLs the message was sent with.
    let media_keys = relay_media_keys(app, delivery).await?;
    let media_urls = if media_keys.is_empty() {
        delivery.media_urls.clone()
    } else {
        super::media::signed_urls(app, &media_keys, super::media::TWILIO_URL_LIFETIME).await?
    };
    let sms = OutboundSms {
        to: delivery.to.clone(),
        from: delivery.from.clone(),
        body: delivery.body.clone(),
        media_urls,
        status_callback: app
            .settings
            .status_callback_url
            .as_ref()
            .map(|url| format!("{url}?deliveryId={id}")),
    };
    // A STOP may have come in since the message was stored (or since the last attempt).
    let pair = (delivery.from.clone(), delivery.to.clone());
    let outcome = if app.messages.opted_out(std::slice::from_ref(&pair)).await?.contains(&pair) {
        let message = "the phone opted out of this number: not sent".to_string();
        AttemptOutcome::Refused { status: DeliveryStatus::OptedOut, code: None, message }
    } else {
        let answer = match claimed.reconcile_since {
            Some(since) => reconcile_then_send(app, &sms, since).await,
            None => app.sms.send(&sms).await,
        };
        outcome_of(settings, claimed.attempt, answer, Utc::now())
    };
    let recorded = app.outbox.finish_attempt(delivery, claimed.attempt, &outcome, Utc::now()).await?;
    if !recorded {
        // A later claim took over (our lease ran out): its worker records, not us.
        tracing::warn!(deliveryId = %id, attempt = claimed.attempt, "attempt superseded before it was recorded");
        observe::outcome("superseded");
        return Ok(());
    }
    let job = Job::delivery(id);
    match &outcome {
        AttemptOutcome::Accepted { .. } => {
            observe::count(Metric::SmsQueued);
            observe::outcome("accepted");
        }
        AttemptOutcome::Refused { status, code, .. } => {
            let opted_out = *status == DeliveryStatus::OptedOut;
            observe::count(if opted_out { Metric::SmsOptedOut } else { Metric::SmsFailed });
            observe::outcome(if opted_out { "opted_out" } else { "refused" });
            tracing::warn!(deliveryId = %id, to = %delivery.to.masked(), errorCode = ?code, "sms refused");
        }
        AttemptOutcome::Retry { at, code, ambiguous, .. } => {
            observe::count(Metric::DeliveryRetries);
            observe::outcome("retry");
            let delay = (*at - Utc::now()).to_std().unwrap_or_default().min(MAX_QUEUE_DELAY);
            tracing::info!(deliveryId = %id, attempt = claimed.attempt, errorCode = ?code, ambiguous, delayMs = delay.as_millis() as u64, "sms attempt failed; retrying");
            if let Err(err) = app.queue.enqueue(&[job], delay).await {
                tracing::warn!(deliveryId = %id, error = %err, "retry not queued: the sweeper will queue it");
            }
        }
        AttemptOutcome::GaveUp { code, .. } => {
            observe::count(Metric::SmsFailed);
            observe::count(Metric::DeliveriesDead);
            observe::outcome("gave_up");
            tracing::error!(deliveryId = %id, attempts = claimed.attempt, errorCode = ?code, "sms given up after its last attempt");
            // Twilio's text can quote the phone number: the reason names the code only.
            let reason = match code {
                Some(code) => format!("gave up after {} attempts: Twilio error {code}", claimed.attempt),
                None => format!("gave up after {} attempts: no answer or no connection", claimed.attempt),
            };
            if let Err(err) = app.queue.dead_letter(&job, &reason).await {
                tracing::error!(deliveryId = %id, error = %err, "could not dead-letter a given-up delivery");
            }
        }
    }
    publish(app, id, &outcome, claimed.attempt).await;
    Ok(())
}

/// The previous attempt may have been sent: adopt the message Twilio has, if any; otherwise
/// send. If Twilio cannot be asked, the attempt fails as ambiguously as the last one.
async fn reconcile_then_send(
    app: &App,
    sms: &OutboundSms,
    since: DateTime<Utc>,
) -> Result<crate::ports::sms::Accepted, SendError> {
    let query = SentQuery { to: sms.to.clone(), from: sms.from.clone(), body: sms.body.clone(), since };
    match app.sms.find_sent(&query).await {
        Ok(Some(found)) => {
            observe::count(Metric::DeliveriesReconciled);
            tracing::info!(to = %sms.to.masked(), "an unanswered attempt had been sent: its SID is adopted");
            Ok(found)
        }
        Ok(None) => app.sms.send(sms).await,
        Err(err) if err.is_retryable() => Err(SendError::Timeout),
        Err(err) => Err(err),
    }
}

/// What Twilio's answer to attempt `attempt` means for the delivery.
fn outcome_of(
    settings: &DeliverySettings,
    attempt: u32,
    answer: Result<crate::ports::sms::Accepted, SendError>,
    now: DateTime<Utc>,
) -> AttemptOutcome {
    let err = match answer {
        Ok(accepted) => return AttemptOutcome::Accepted { sid: accepted.sid, status: accepted.status },
        Err(err) => err,
    };
    // Twilio's texts can quote the phone number: only the kind and the code are logged.
    let message = err.to_string();
    let code = err.code();
    if code == Some(OPTED_OUT_AT_TWILIO) {
        return AttemptOutcome::Refused { status: DeliveryStatus::OptedOut, code, message };
    }
    if !err.is_retryable() {
        return AttemptOutcome::Refused { status: DeliveryStatus::Failed, code, message };
    }
    if attempt >= settings.max_attempts {
        return AttemptOutcome::GaveUp { code, message, tentative: err.is_ambiguous() };
    }
    let delay = retry_delay(settings, attempt, fastrand::f64());
    AttemptOutcome::Retry {
        at: now + chrono::Duration::from_std(delay).unwrap_or_default(),
        code,
        message,
        ambiguous: err.is_ambiguous(),
    }
}

/// `delivery.updated` to the conversation's web users, as the attempt left the delivery.
async fn publish(app: &App, id: DeliveryId, outcome: &AttemptOutcome, attempt: u32) {
    let (status, sid, code) = match outcome {
        AttemptOutcome::Accepted { sid, status } => (*status, Some(sid.as_str()), None),
        AttemptOutcome::Refused { status, code, .. } => (*status, None, *code),
        AttemptOutcome::Retry { code, .. } => (DeliveryStatus::Pending, None, *code),
        AttemptOutcome::GaveUp { code, .. } => (DeliveryStatus::Failed, None, *code),
    };
    let mut update = realtime::delivery_update(id, status, sid, code);
    if let AttemptOutcome::Retry { at, .. } = outcome {
        update.attempts = Some(attempt);
        update.next_attempt_at = Some(*at);
    }
    let event = Event::new(EventKind::DeliveryUpdated, id.conversation_id, update);
    realtime::to_conversation(app, id.conversation_id, vec![event]).await;
}

/// The relay job of an inbound group text: the group's other phones each get "Name: text" from
/// their own proxy number, through the outbox; the web members' inbox lines move and they hear
/// of the message. Done at most once (the store clears the message's relay mark in the same
/// transaction).
pub async fn relay(
    app: &App,
    conversation_id: ConversationId,
    message_id: MessageId,
) -> Result<(), AppError> {
    observe::conversation(&conversation_id);
    let (stored, detail) = futures::try_join!(
        async { app.messages.get_message(message_id).await.map_err(AppError::from) },
        async { app.conversations.get_conversation(conversation_id).await.map_err(AppError::from) },
    )?;
    let (Some(StoredMessage { message, .. }), Some(detail)) = (stored, detail) else {
        tracing::warn!(messageId = %message_id, "relay job for a message or conversation that is gone");
        return Ok(());
    };
    // Texts are relayed to the other phones of a group; STOP/START notes (system) are not.
    let relayed =
        detail.conversation.kind == ConversationKind::Group && message.sender.kind == SenderKind::Sms;
    let recipients: Vec<_> = detail
        .participants
        .iter()
        .filter_map(|p| match &p.member {
            Member::Sms { phone, proxy_number }
                if relayed && Some(phone) != message.sender.phone_number.as_ref() =>
            {
                Some((p.id, proxy_number.clone(), phone.clone()))
            }
            _ => None,
        })
        .collect();
    let opted_out = if recipients.is_empty() {
        Default::default()
    } else {
        let pairs: Vec<_> =
            recipients.iter().map(|(_, proxy, phone)| (proxy.clone(), phone.clone())).collect();
        app.messages.opted_out(&pairs).await?
    };
    let body = sms_body(Some(&message.sender.display_name), &message.content);
    let cost = segments(&body);
    let deliveries: Vec<Delivery> = recipients
        .into_iter()
        .map(|(participant_id, proxy, phone)| {
            let opted = opted_out.contains(&(proxy.clone(), phone.clone()));
            Delivery::new(&message, participant_id, proxy, phone, &body, cost, opted)
        })
        .collect();
    let preview = crate::domain::message::preview_of(&message.content, !message.media_urls.is_empty());
    match app.webhooks.fan_out_relays(&detail, &message, &deliveries, &preview).await {
        Ok(true) => {}
        Ok(false) => {
            observe::outcome("done_before");
            return Ok(());
        }
        Err(StoreError::Contention) => {
            // A participant left between the read and the write: read the group again shortly.
            tracing::info!(messageId = %message_id, "relay raced a membership change; retrying");
            if let Err(err) =
                app.queue.enqueue(&[Job::relay(conversation_id, message_id)], RELAY_CONTENTION_DELAY).await
            {
                tracing::warn!(error = %err, "relay retry not queued: the sweeper will queue it");
            }
            return Ok(());
        }
        Err(err) => return Err(err.into()),
    }
    let jobs: Vec<Job> = deliveries
        .iter()
        .filter(|d| d.status == DeliveryStatus::Pending)
        .map(|d| Job::delivery(d.id()))
        .collect();
    observe::add(Metric::RelaysSent, jobs.len());
    observe::outcome("relayed");
    let view = super::media::present(app, &message, message.view(&deliveries)).await;
    let created = Event::new(EventKind::MessageCreated, message.conversation_id, view);
    tokio::join!(enqueue(app, &jobs), realtime::to_members(app, &detail, vec![created]));
    Ok(())
}

/// Queues again every outbox entry overdue by more than `sweep_grace`: jobs lost with a function
/// that died, or refused by the queue. Returns how many were queued.
pub async fn sweep(app: &App, now: DateTime<Utc>) -> Result<usize, AppError> {
    let grace = chrono::Duration::from_std(app.settings.delivery.sweep_grace).unwrap_or_default();
    let jobs = app.outbox.due_jobs(now - grace, SWEEP_LIMIT).await?;
    if !jobs.is_empty() {
        // Queued in chunks so one refusal does not keep the rest back; a refused chunk is
        // found again by the next sweep.
        for chunk in jobs.chunks(SWEEP_CHUNK) {
            if let Err(err) = app.queue.enqueue(chunk, Duration::ZERO).await {
                tracing::error!(jobs = chunk.len(), error = %err, "sweep could not queue jobs");
                return Err(AppError::Upstream(format!("the delivery queue refused jobs: {err}")));
            }
        }
        tracing::warn!(jobs = jobs.len(), "sweep queued overdue outbox entries");
    }
    observe::add(Metric::DeliveriesSwept, jobs.len());
    Ok(jobs.len())
}

/// Outbox entries one sweep takes (the next sweep takes the rest).
const SWEEP_LIMIT: usize = 1000;
/// Jobs per enqueue call of a sweep.
const SWEEP_CHUNK: usize = 100;

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> DeliverySettings {
        DeliverySettings::default()
    }

    #[test]
    fn the_first_retry_comes_within_30_seconds_and_later_ones_back_off_to_the_cap() {
        let s = settings();
        assert!(retry_delay(&s, 1, 0.999) <= Duration::from_secs(30));
        assert!(retry_delay(&s, 1, 0.0) >= Duration::from_secs(7));
        let full: Vec<u64> = (1..=6).map(|n| retry_delay(&s, n, 1.0).as_secs()).collect();
        assert_eq!(full, [15, 45, 135, 405, 900, 900]);
        // Jitter spreads a retry over [half, all] of its delay.
        assert_eq!(retry_delay(&s, 3, 0.0).as_secs(), 67);
    }

    #[test]
    fn six_attempts_span_about_a_quarter_of_an_hour() {
        let s = settings();
        let longest: u64 = (1..s.max_attempts).map(|n| retry_delay(&s, n, 1.0).as_secs()).sum();
        let shortest: u64 = (1..s.max_attempts).map(|n| retry_delay(&s, n, 0.0).as_secs()).sum();
        assert_eq!(s.max_attempts, 6);
        assert!((600..=1500).contains(&shortest) && (900..=1500).contains(&longest), "{shortest}..{longest}");
    }

    #[test]
    fn twilios_answer_decides_what_follows() {
        let s = settings();
        let now = Utc::now();
        let throttled = SendError::Throttled { code: Some(20429), message: "slow down".into() };
        assert!(matches!(
            outcome_of(&s, 1, Err(throttled.clone()), now),
            AttemptOutcome::Retry { ambiguous: false, .. }
        ));
        assert!(matches!(
            outcome_of(&s, 1, Err(SendError::Timeout), now),
            AttemptOutcome::Retry { ambiguous: true, .. }
        ));
        let invalid = SendError::Rejected { code: Some(21211), message: "invalid To".into() };
        assert!(matches!(
            outcome_of(&s, 1, Err(invalid), now),
            AttemptOutcome::Refused { status: DeliveryStatus::Failed, code: Some(21211), .. }
        ));
        let stop = SendError::Rejected { code: Some(21610), message: "unsubscribed".into() };
        assert!(matches!(
            outcome_of(&s, 1, Err(stop), now),
            AttemptOutcome::Refused { status: DeliveryStatus::OptedOut, .. }
        ));
        assert!(matches!(
            outcome_of(&s, 6, Err(throttled), now),
            AttemptOutcome::GaveUp { tentative: false, .. }
        ));
        assert!(matches!(
            outcome_of(&s, 6, Err(SendError::Timeout), now),
            AttemptOutcome::GaveUp { tentative: true, .. }
        ));
    }
}
