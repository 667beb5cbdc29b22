//! A conversation's history as a file: the rows of an export (CSV or JSON), written one message
//! at a time into the part being built (see `service::export`, which reads and bounds the parts).

use std::fmt::Write as _;

use super::ids::{ConversationId, MessageId};
use super::message::{Delivery, Message, MessageView, SenderKind};
use crate::error::AppError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    Json,
    Csv,
}

impl ExportFormat {
    /// `json` or `csv` (any case); anything else, or nothing, is a 400 naming `format`.
    pub fn parse(raw: Option<&str>) -> Result<Self, AppError> {
        match raw.map(|f| f.trim().to_ascii_lowercase()).as_deref() {
            Some("json") => Ok(Self::Json),
            Some("csv") => Ok(Self::Csv),
            _ => Err(AppError::bad_request(Some("format".into()), "format must be json or csv")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Csv => "csv",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// The CSV columns, the header of the first part only (the parts concatenate to one file).
pub const CSV_HEADER: &str = "id,createdAt,senderKind,senderName,senderUserId,senderPhone,content,mediaUrls,editedAt,deleted,status,deliveries\r\n";

/// One part of an export being written: its text grows message by message, and no message is
/// kept once written.
pub struct PartWriter {
    format: ExportFormat,
    out: String,
    first_message: bool,
}

impl PartWriter {
    /// A part of `conversation_id`'s export; `first` (no cursor) carries the CSV header.
    pub fn new(format: ExportFormat, conversation_id: ConversationId, first: bool) -> Self {
        let mut out = String::new();
        match format {
            ExportFormat::Json => {
                let _ = write!(out, r#"{{"conversationId":"{conversation_id}","messages":["#);
            }
            ExportFormat::Csv if first => out.push_str(CSV_HEADER),
            ExportFormat::Csv => {}
        }
        Self { format, out, first_message: true }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    pub fn push(&mut self, message: &Message, deliveries: &[Delivery]) -> Result<(), AppError> {
        self.push_view(&message.view(deliveries))
    }

    /// Writes a message as its participants see it (media URLs already presigned).
    pub fn push_view(&mut self, view: &MessageView) -> Result<(), AppError> {
        match self.format {
            ExportFormat::Json => {
                if !self.first_message {
                    self.out.push(',');
                }
                self.out.push_str(&serde_json::to_string(view).map_err(AppError::internal)?);
            }
            ExportFormat::Csv => csv_row(&mut self.out, view),
        }
        self.first_message = false;
        Ok(())
    }

    /// The part's text; `next` (the last message written, when more follow) closes a JSON part.
    pub fn finish(mut self, next: Option<MessageId>) -> String {
        if self.format == ExportFormat::Json {
            match next {
                Some(id) => {
                    let _ = write!(self.out, r#"],"nextCursor":"{id}"}}"#);
                }
                None => self.out.push_str(r#"],"nextCursor":null}"#),
            }
        }
        self.out
    }
}

fn csv_row(out: &mut String, m: &MessageView) {
    let kind = match m.sender.kind {
        SenderKind::User => "user",
        SenderKind::Sms => "sms",
        SenderKind::System => "system",
    };
    let deliveries: Vec<String> = m
        .deliveries
        .iter()
        .map(|d| match d.error_code {
            Some(code) => format!("{} to {} ({code})", d.status.as_str(), d.phone_number),
            None => format!("{} to {}", d.status.as_str(), d.phone_number),
        })
        .collect();
    let fields = [
        m.id.to_string(),
        m.created_at.to_rfc3339(),
        kind.to_string(),
        m.sender.display_name.clone(),
        m.sender.user_id.map(|u| u.to_string()).unwrap_or_default(),
        m.sender.phone_number.as_ref().map(ToString::to_string).unwrap_or_default(),
        m.content.clone(),
        m.media_urls.join(" "),
        m.edited_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
        m.deleted.to_string(),
        m.status.as_str().to_string(),
        deliveries.join("; "),
    ];
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(out, field);
    }
    out.push_str("\r\n");
}

/// One CSV field (RFC 4180): quoted when it holds a comma, a quote, a line break or outer
/// spaces, quotes doubled. A field a spreadsheet would run as a formula (starting with `=`, `+`,
/// `-`, `@`, a tab or a carriage return) is neutralised with a leading `'` (OWASP's advice
/// against CSV injection), except a bare E.164 number (`+` and digits), which no spreadsheet runs
/// as anything but a number.
pub fn csv_field(out: &mut String, field: &str) {
    let formula = field.starts_with(['=', '+', '-', '@', '\t', '\r']) && !is_e164(field);
    let quote =
        formula || field.contains([',', '"', '\n', '\r']) || field.starts_with(' ') || field.ends_with(' ');
    if !quote {
        out.push_str(field);
        return;
    }
    out.push('"');
    if formula {
        out.push('\'');
    }
    for c in field.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}

fn is_e164(field: &str) -> bool {
    field
        .strip_prefix('+')
        .is_some_and(|digits| (1..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(text: &str) -> String {
        let mut out = String::new();
        csv_field(&mut out, text);
        out
    }

    #[test]
    fn csv_fields_are_quoted_escaped_and_never_run_as_formulas() {
        assert_eq!(field("plain text"), "plain text");
        assert_eq!(field("a, b"), "\"a, b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("+1+1"), "\"'+1+1\"");
        assert_eq!(field("-2"), "\"'-2\"");
        assert_eq!(field("@SUM(A1)"), "\"'@SUM(A1)\"");
        assert_eq!(field("\tx"), "\"'\tx\"");
        assert_eq!(field("+14155550177"), "+14155550177", "a phone number stays as it is");
        assert_eq!(field(""), "");
    }

    #[test]
    fn formats_are_json_or_csv_and_nothing_else() {
        assert_eq!(ExportFormat::parse(Some("CSV")).unwrap(), ExportFormat::Csv);
        assert_eq!(ExportFormat::parse(Some("json")).unwrap(), ExportFormat::Json);
        for bad in [None, Some(""), Some("xml")] {
            assert!(matches!(ExportFormat::parse(bad), Err(AppError::BadRequest { .. })), "{bad:?}");
        }
    }
}
