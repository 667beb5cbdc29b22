//! Exporting a conversation's history, part by part (docs/decisions.md, "Export"). A Lambda
//! behind an HTTP API answers at most 6 MB and cannot stream, so one call writes one bounded
//! part: oldest first, from the message after the cursor, page by page (each page serialised as
//! it is read and dropped), until the history ends or the part reaches [`ExportLimits`]; the
//! caller asks for the next part with the id of the last message written.

use super::{conversations, App};
use crate::domain::export::{ExportFormat, PartWriter};
use crate::domain::ids::{ConversationId, MessageId};
use crate::domain::user::User;
use crate::error::AppError;
use crate::ports::MAX_PAGE_SIZE;

/// How big one part may grow.
#[derive(Clone, Copy, Debug)]
pub struct ExportLimits {
    /// Messages per part.
    pub messages: usize,
    /// A part stops after the message that takes its text to this many bytes. One message adds
    /// at most about 60 KB (1,600 characters escaped, 10 media URLs, 49 deliveries), so a part
    /// stays far under Lambda's 6 MB answer.
    pub bytes: usize,
    /// Messages per store read (each read is one Query of messages and one of their deliveries).
    pub page: u32,
}

impl Default for ExportLimits {
    fn default() -> Self {
        Self { messages: 1000, bytes: 1024 * 1024, page: MAX_PAGE_SIZE }
    }
}

/// One part of an export.
#[derive(Debug)]
pub struct ExportPart {
    pub text: String,
    /// The cursor of the next part (the last message written); `None` on the last part.
    pub next: Option<MessageId>,
    pub messages: usize,
}

/// The part after `after` (from the first message when `None`). Participants only: anyone else,
/// a removed participant included, gets the history's 404.
pub async fn export_part(
    app: &App,
    caller: &User,
    conversation_id: ConversationId,
    format: ExportFormat,
    after: Option<MessageId>,
    limits: ExportLimits,
) -> Result<ExportPart, AppError> {
    let cid = conversations::load_visible(app, caller, conversation_id).await?.conversation.id;
    let mut part = PartWriter::new(format, cid, after.is_none());
    let (mut cursor, mut written) = (after, 0usize);
    loop {
        let want = (limits.messages - written).min(limits.page as usize) as u32;
        let page = app.messages.list_messages_after(cid, cursor, want).await?;
        let more_pages = page.next_cursor.is_some();
        let count = page.items.len();
        for (i, stored) in page.items.into_iter().enumerate() {
            // Media in our bucket as presigned GETs (1 hour), as every view shows them.
            let view =
                super::media::present(app, &stored.message, stored.message.view(&stored.deliveries)).await;
            part.push_view(&view)?;
            (cursor, written) = (Some(stored.message.id), written + 1);
            let last_of_history = i + 1 == count && !more_pages;
            if part.len() >= limits.bytes && !last_of_history {
                return Ok(ExportPart { text: part.finish(cursor), next: cursor, messages: written });
            }
        }
        if !more_pages {
            return Ok(ExportPart { text: part.finish(None), next: None, messages: written });
        }
        if written >= limits.messages {
            return Ok(ExportPart { text: part.finish(cursor), next: cursor, messages: written });
        }
    }
}
