//! Media: presigned uploads, the uploads a send names (checked to be the caller's, to exist
//! and to fit in one MMS, then copied under the message), and the short-lived presigned GETs
//! through which web members and Twilio read a message's media.
//!
//! A message's media live at `media/<conversationId>/<messageId>/<n>` (`media_copy::copy_key`),
//! whether a web user attached them or they are our copies of a phone's MMS. Uploads are a
//! staging area the bucket's lifecycle empties; nothing there is ever shown.

use std::time::Duration;

use chrono::Utc;

use crate::domain::media::{
    Attachment, UploadKey, UploadSpec, UploadTicket, MAX_MEDIA_BYTES, MAX_MEDIA_PER_MESSAGE,
};
use crate::domain::message::{Message, MessageView};
use crate::domain::user::User;
use crate::error::AppError;
use crate::ports::media::MediaError;
use crate::service::App;

/// How long a media URL in a message view works: a page of history is read and shown within
/// it; a client that keeps a view longer reads the message again.
pub const VIEW_URL_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// How long the media URL handed to Twilio works: Twilio fetches it when it sends, which a
/// Messaging Service's queue may hold up to its default validity period of 4 hours. Each
/// delivery attempt signs a fresh one.
pub const TWILIO_URL_LIFETIME: Duration = Duration::from_secs(4 * 60 * 60);

/// How long the browser has to start its PUT: enough for a slow phone connection to begin a
/// 5 MB upload, short enough that a leaked URL is soon useless.
pub const UPLOAD_URL_LIFETIME: Duration = Duration::from_secs(15 * 60);

impl From<MediaError> for AppError {
    fn from(err: MediaError) -> Self {
        match err {
            MediaError::NotConfigured => AppError::Internal(err.to_string()),
            MediaError::Backend(_) => AppError::Upstream(err.to_string()),
        }
    }
}

/// `POST /api/uploads`: a presigned PUT of a fresh key under the caller's prefix.
pub async fn create_upload(app: &App, caller: &User, spec: UploadSpec) -> Result<UploadTicket, AppError> {
    let (upload_id, key) = UploadKey::fresh(caller.id);
    let expires_at = Utc::now() + UPLOAD_URL_LIFETIME;
    let signed =
        app.media.presign_put(key.as_str(), &spec.content_type, spec.size, UPLOAD_URL_LIFETIME).await?;
    Ok(UploadTicket {
        upload_id,
        url: signed.url,
        method: "PUT",
        headers: signed.headers.into_iter().collect(),
        expires_at,
    })
}

/// The keys of the uploads a send names, checked without any request: at most 10, each an
/// upload id we issue, none twice.
pub fn upload_keys(caller: &User, upload_ids: &[String]) -> Result<Vec<UploadKey>, AppError> {
    if upload_ids.len() > MAX_MEDIA_PER_MESSAGE {
        return Err(AppError::validation(
            "media",
            format!("at most {MAX_MEDIA_PER_MESSAGE} files per message"),
        ));
    }
    let keys = upload_ids.iter().map(|id| UploadKey::of(caller.id, id)).collect::<Result<Vec<_>, _>>()?;
    if keys.iter().collect::<std::collections::HashSet<_>>().len() != keys.len() {
        return Err(AppError::validation("media", "an upload is named twice"));
    }
    Ok(keys)
}

/// The keys of the uploads a send names: at most 10, each the caller's own and uploaded, 5 MB
/// in total. One HeadObject per upload, made concurrently.
pub async fn uploaded_media(
    app: &App,
    caller: &User,
    upload_ids: &[String],
) -> Result<Vec<Attachment>, AppError> {
    let keys = upload_keys(caller, upload_ids)?;
    let heads = futures::future::try_join_all(keys.iter().map(|key| app.media.head(key.as_str()))).await?;
    let mut total = 0;
    let mut uploads = Vec::with_capacity(keys.len());
    for (key, head) in keys.into_iter().zip(heads) {
        // Someone else's upload id gives a key under the caller's prefix, where nothing is stored.
        let head = head.ok_or_else(|| {
            AppError::validation("media", "no such upload (not uploaded yet, or not yours)")
        })?;
        total += head.size;
        uploads.push(Attachment { upload: key, content_type: head.content_type });
    }
    if total > MAX_MEDIA_BYTES {
        return Err(AppError::validation("media", "the files exceed 5 MB in total"));
    }
    Ok(uploads)
}

/// Copies a send's uploads to the message's own keys (`message.media_keys`, same order),
/// concurrently, before the message is stored: a stored message never names media that are not
/// there. A send that then fails leaves copies nobody sees.
pub async fn attach(app: &App, attachments: &[Attachment], message: &Message) -> Result<(), AppError> {
    futures::future::try_join_all(
        attachments.iter().zip(&message.media_keys).map(|(a, key)| app.media.copy(a.upload.as_str(), key)),
    )
    .await?;
    Ok(())
}

/// Presigned GETs of `keys`, valid for `lifetime` (signing is local: no request).
pub async fn signed_urls(app: &App, keys: &[String], lifetime: Duration) -> Result<Vec<String>, MediaError> {
    futures::future::try_join_all(keys.iter().map(|key| app.media.presign_get(key, lifetime))).await
}

/// A message's view as a web member sees it: where our copies exist (`media_keys`), its media
/// URLs are short-lived presigned GETs of them, never the bucket's keys or Twilio's URLs (which
/// need the account's credentials). A function without the bucket keeps the stored URLs.
pub async fn present(app: &App, message: &Message, mut view: MessageView) -> MessageView {
    if message.deleted || message.media_keys.is_empty() {
        return view;
    }
    match signed_urls(app, &message.media_keys, VIEW_URL_LIFETIME).await {
        Ok(urls) => view.media_urls = urls,
        Err(err) => tracing::warn!(messageId = %message.id, error = %err, "media URLs not signed"),
    }
    view
}
