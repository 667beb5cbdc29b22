//! Media: presigned uploads, and the uploads a send names (checked to be the caller's, to exist
//! and to fit in one MMS).

use std::time::Duration;

use chrono::Utc;

use crate::domain::media::{UploadKey, UploadSpec, UploadTicket, MAX_MEDIA_BYTES, MAX_MEDIA_PER_MESSAGE};
use crate::domain::user::User;
use crate::error::AppError;
use crate::ports::media::MediaError;
use crate::service::App;

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

/// The keys of the uploads a send names: at most 10, each the caller's own and uploaded, 5 MB
/// in total. One HeadObject per upload, made concurrently.
pub async fn uploaded_media(
    app: &App,
    caller: &User,
    upload_ids: &[String],
) -> Result<Vec<UploadKey>, AppError> {
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
    let sizes = futures::future::try_join_all(keys.iter().map(|key| app.media.size_of(key.as_str()))).await?;
    let mut total = 0;
    for size in sizes {
        // Someone else's upload id gives a key under the caller's prefix, where nothing is stored.
        total += size.ok_or_else(|| {
            AppError::validation("media", "no such upload (not uploaded yet, or not yours)")
        })?;
    }
    if total > MAX_MEDIA_BYTES {
        return Err(AppError::validation("media", "the files exceed 5 MB in total"));
    }
    Ok(keys)
}
