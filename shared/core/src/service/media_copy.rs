//! The media copy of an inbound MMS: each `MediaUrlN` fetched from Twilio (with the account's
//! credentials, following its redirect to the storage host), checked (type, size) and stored in
//! our bucket as `media/<conversationId>/<messageId>/<n>`; then the message's `media_keys` name
//! the copies, once. Written ahead: `record_inbound` stores the message with its media-copy mark
//! (an outbox entry), so a lost job is queued again by the sweeper. A failed attempt keeps
//! Twilio's URLs and is retried like a delivery (same backoff, same attempt cap); the last one
//! gives up and the message keeps Twilio's URLs for good.

use chrono::Utc;

use super::{App, MAX_QUEUE_DELAY};
use crate::domain::ids::{ConversationId, MessageId};
use crate::domain::message::SenderKind;
use crate::domain::realtime::{Event, EventKind};
use crate::error::AppError;
use crate::observe;
use crate::ports::media_copies::{CopyOutcome, MediaError};
use crate::ports::messages::StoredMessage;
use crate::ports::queue::Job;

/// Largest media item copied (Twilio's limit for one MMS is 5 MB).
pub const MEDIA_BYTES_MAX: usize = 5 * 1024 * 1024;

/// The content types Twilio accepts for MMS (its "accepted content types" list); anything else
/// is not copied.
pub const ACCEPTED_TYPES: [&str; 22] = [
    "image/jpeg",
    "image/jpg",
    "image/gif",
    "image/png",
    "image/bmp",
    "image/tiff",
    "image/webp",
    "audio/mpeg",
    "audio/mp4",
    "audio/ogg",
    "audio/amr",
    "audio/wav",
    "video/mpeg",
    "video/mp4",
    "video/quicktime",
    "video/3gpp",
    "text/vcard",
    "text/x-vcard",
    "text/calendar",
    "text/csv",
    "text/plain",
    "application/pdf",
];

/// Whether a content type (parameters ignored, any case) is one Twilio accepts for MMS.
pub fn accepted_type(content_type: &str) -> bool {
    let bare = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    ACCEPTED_TYPES.contains(&bare.as_str())
}

/// The bucket key of item `n` (0-based) of a message's media.
pub use crate::domain::media::media_key as copy_key;

/// Whether an inbound message gets a media copy (a phone's text with media).
pub fn wants_copy(message: &crate::domain::message::Message) -> bool {
    message.sender.kind == SenderKind::Sms && !message.media_urls.is_empty()
}

/// One attempt at the media copy of one message. `Ok` unless the store failed (then the queue
/// delivers the job again).
pub async fn copy(app: &App, conversation_id: ConversationId, message_id: MessageId) -> Result<(), AppError> {
    observe::conversation(&conversation_id);
    let settings = &app.settings.delivery;
    let Some(attempt) =
        app.media_marks.claim_media_copy(conversation_id, message_id, Utc::now(), settings.lease).await?
    else {
        tracing::info!(messageId = %message_id, "media copy job with nothing to do");
        observe::outcome("nothing_to_do");
        return Ok(());
    };
    let Some(StoredMessage { message, deliveries }) = app.messages.get_message(message_id).await? else {
        tracing::warn!(messageId = %message_id, "media copy for a message that is gone");
        app.media_marks.finish_media_copy(conversation_id, message_id, attempt, &CopyOutcome::GaveUp).await?;
        return Ok(());
    };
    let outcome = match copy_all(app, &message).await {
        Ok(keys) => CopyOutcome::Copied(keys),
        Err(MediaError::Unavailable(reason)) if attempt < settings.max_attempts => {
            let delay = settings.retry_delay(attempt, fastrand::f64());
            tracing::info!(messageId = %message_id, attempt, %reason, delayMs = delay.as_millis() as u64, "media copy failed; retrying");
            let at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
            app.media_marks
                .finish_media_copy(conversation_id, message_id, attempt, &CopyOutcome::Retry(at))
                .await?;
            let job = Job::media_copy(conversation_id, message_id);
            if let Err(err) = app.queue.enqueue(&[job], delay.min(MAX_QUEUE_DELAY)).await {
                tracing::warn!(error = %err, "media copy retry not queued: the sweeper will queue it");
            }
            observe::outcome("retry");
            return Ok(());
        }
        Err(err) => {
            tracing::error!(messageId = %message_id, attempt, error = %err, "media copy given up: Twilio's URLs are kept");
            CopyOutcome::GaveUp
        }
    };
    let recorded = app.media_marks.finish_media_copy(conversation_id, message_id, attempt, &outcome).await?;
    observe::outcome(match (&outcome, recorded) {
        (_, false) => "superseded",
        (CopyOutcome::Copied(_), true) => "copied",
        _ => "gave_up",
    });
    if let (true, CopyOutcome::Copied(keys)) = (recorded, &outcome) {
        // The copy is recorded: a failed event only delays what a reload shows.
        if let Err(err) = announce(app, &message, &deliveries, keys).await {
            tracing::warn!(messageId = %message_id, error = %err, "media copy not announced");
        }
    }
    if recorded && matches!(outcome, CopyOutcome::Copied(_)) && app.settings.delete_twilio_media {
        for url in &message.media_urls {
            // Ours is stored: a Twilio copy left behind is only a privacy matter, logged.
            if let Err(err) = app.media_source.delete(url).await {
                tracing::warn!(messageId = %message_id, error = %err, "Twilio's media not deleted");
            }
        }
    }
    Ok(())
}

/// Tells the conversation's web members that the message's media are ours now
/// (`message.updated`, with presigned URLs of the copies): one Query for the members.
async fn announce(
    app: &App,
    message: &crate::domain::message::Message,
    deliveries: &[crate::domain::message::Delivery],
    keys: &[String],
) -> Result<(), AppError> {
    let Some(detail) = app.conversations.get_conversation(message.conversation_id).await? else {
        return Ok(());
    };
    let copied = crate::domain::message::Message { media_keys: keys.to_vec(), ..message.clone() };
    let view = super::media::present(app, &copied, copied.view(deliveries)).await;
    let event = Event::new(EventKind::MessageUpdated, message.conversation_id, view);
    super::realtime::to_members(app, &detail, vec![event]).await;
    Ok(())
}

/// Fetches, checks and stores every item; the keys, in order.
async fn copy_all(app: &App, message: &crate::domain::message::Message) -> Result<Vec<String>, MediaError> {
    let mut keys = Vec::with_capacity(message.media_urls.len());
    for (n, url) in message.media_urls.iter().enumerate() {
        let media = app.media_source.fetch(url, MEDIA_BYTES_MAX).await?;
        if !accepted_type(&media.content_type) {
            return Err(MediaError::Refused(format!("content type {} is not accepted", media.content_type)));
        }
        if media.bytes.len() > MEDIA_BYTES_MAX {
            return Err(MediaError::Refused(format!("{} bytes is over the limit", media.bytes.len())));
        }
        let key = copy_key(message.conversation_id, message.id, n);
        app.media_copies.put(&key, &media.content_type, media.bytes).await?;
        keys.push(key);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilios_accepted_types_pass_and_others_do_not() {
        assert!(accepted_type("image/png"));
        assert!(accepted_type("IMAGE/JPEG; charset=binary"));
        assert!(!accepted_type("application/x-msdownload"));
        assert!(!accepted_type(""));
    }
}
