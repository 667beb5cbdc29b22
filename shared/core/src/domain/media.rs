//! Media attached to messages: which files Twilio carries as MMS, how large, and where an upload
//! lives in the media bucket.

use ulid::Ulid;

use crate::domain::ids::{ConversationId, MessageId, UserId};
use crate::error::AppError;

/// The content types Twilio fully supports for MMS (it resizes and formats them for carriers):
/// <https://www.twilio.com/docs/messaging/guides/accepted-mime-types>. Other types Twilio
/// "accepts" are passed through unformatted and often dropped by carriers, so they are refused.
pub const ACCEPTED_MEDIA_TYPES: [&str; 4] = ["image/jpeg", "image/jpg", "image/gif", "image/png"];

/// Twilio's limit on one MMS: 5 MB of media in total.
pub const MAX_MEDIA_BYTES: u64 = 5 * 1024 * 1024;

/// Twilio's limit on media per MMS.
pub const MAX_MEDIA_PER_MESSAGE: usize = 10;

/// A file someone is about to upload, validated: an accepted type, 1 byte to 5 MB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadSpec {
    pub content_type: String,
    pub size: u64,
}

impl UploadSpec {
    /// 422 naming `contentType` or `size` when Twilio would not carry the file.
    pub fn new(content_type: &str, size: u64) -> Result<Self, AppError> {
        let content_type = content_type.trim().to_ascii_lowercase();
        if !ACCEPTED_MEDIA_TYPES.contains(&content_type.as_str()) {
            return Err(AppError::validation(
                "contentType",
                format!("must be one of {}", ACCEPTED_MEDIA_TYPES.join(", ")),
            ));
        }
        if size == 0 || size > MAX_MEDIA_BYTES {
            return Err(AppError::validation("size", format!("must be 1 to {MAX_MEDIA_BYTES} bytes (5 MB)")));
        }
        Ok(Self { content_type, size })
    }
}

/// Where an upload lives: `uploads/<userId>/<uploadId>`. The key names its owner, so a send
/// can only name the caller's own uploads (the key is built from the caller, never taken from
/// the request).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UploadKey(String);

impl UploadKey {
    /// A fresh upload of `owner`, with its id.
    pub fn fresh(owner: UserId) -> (String, Self) {
        let id = Ulid::new().to_string();
        let key = Self::of(owner, &id).expect("a fresh ULID is a valid upload id");
        (id, key)
    }

    /// The key of `owner`'s upload `upload_id`; 422 if the id is not one we issue (a ULID).
    pub fn of(owner: UserId, upload_id: &str) -> Result<Self, AppError> {
        let id =
            Ulid::from_string(upload_id).map_err(|_| AppError::validation("media", "not an upload id"))?;
        Ok(Self(format!("uploads/{owner}/{id}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An upload a send attaches: the caller's own (its key names them), stored, of this type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub upload: UploadKey,
    pub content_type: String,
}

/// Where item `n` (0-based) of a message's media lives in the bucket, whether a web user
/// attached it or it is our copy of a phone's MMS.
pub fn media_key(conversation_id: ConversationId, message_id: MessageId, n: usize) -> String {
    format!("media/{conversation_id}/{message_id}/{n}")
}

/// `POST /api/uploads`: the file the browser is about to upload.
#[derive(Debug, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UploadRequest {
    /// One of Twilio's fully supported MMS types: image/jpeg, image/jpg, image/gif, image/png.
    #[cfg_attr(feature = "openapi", schema(example = "image/jpeg"))]
    pub content_type: String,
    /// The file's exact size in bytes, at most 5 MB (5,242,880).
    #[cfg_attr(feature = "openapi", schema(example = 482113))]
    pub size: u64,
}

/// Where and how to upload: PUT the file's bytes to `url` with exactly these headers before
/// `expiresAt`; then name `uploadId` in a send's `media`. The signature binds the type and
/// length: the bucket refuses any other.
#[derive(Debug, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UploadTicket {
    #[cfg_attr(feature = "openapi", schema(example = "01JDQ3K6W3N4VY8A1T2R5C7XZB"))]
    pub upload_id: String,
    pub url: String,
    /// Always `PUT`.
    #[cfg_attr(feature = "openapi", schema(example = "PUT"))]
    pub method: &'static str,
    /// `Content-Type` and `Content-Length`, to send as they are.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, String>))]
    pub headers: std::collections::BTreeMap<String, String>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_twilio_formatted_images_up_to_5_mb_are_accepted() {
        assert!(UploadSpec::new("image/png", 1).is_ok());
        assert!(UploadSpec::new("IMAGE/JPEG", MAX_MEDIA_BYTES).is_ok());
        assert_eq!(UploadSpec::new("video/mp4", 10).unwrap_err().field(), Some("contentType"));
        assert_eq!(UploadSpec::new("image/png", MAX_MEDIA_BYTES + 1).unwrap_err().field(), Some("size"));
        assert_eq!(UploadSpec::new("image/png", 0).unwrap_err().field(), Some("size"));
    }

    #[test]
    fn the_key_names_the_owner() {
        let owner = UserId::new();
        let (id, key) = UploadKey::fresh(owner);
        assert_eq!(key.as_str(), format!("uploads/{owner}/{id}"));
        assert_eq!(UploadKey::of(owner, &id).unwrap(), key);
        assert!(UploadKey::of(owner, "../other").is_err());
    }
}
