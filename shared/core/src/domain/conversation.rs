//! Conversations and their participants.

use chrono::{DateTime, Utc};
use phonenumber::country;
use serde::{Deserialize, Serialize};

use super::ids::{ConversationId, MessageId, ParticipantId, UserId};
use super::phone::E164;
use super::user::{validate_name, validate_phone};
use crate::error::AppError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ConversationKind {
    /// Two web users; nothing goes over SMS.
    Direct,
    /// A web user and one phone, through the user's own virtual number.
    Sms,
    /// Any mix of web users and phones; each phone texts its own proxy number.
    Group,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ConversationStatus {
    Active,
    /// Routes freed; history readable by its participants; no sending, no membership changes.
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ParticipantRole {
    Admin,
    Member,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Conversation {
    pub id: ConversationId,
    pub kind: ConversationKind,
    pub name: Option<String>,
    pub description: Option<String>,
    pub status: ConversationStatus,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub last_message_at: DateTime<Utc>,
    pub last_message_preview: Option<String>,
    /// Its own inactivity timer, set by its admins over the deployment's.
    pub idle_timer: IdleTimer,
}

impl Conversation {
    /// Seconds without activity after which it closes by itself, if ever: its own timer, else
    /// the deployment's (`deployment`). A direct conversation never does: it holds no route
    /// and no number, so closing it would free nothing.
    pub fn idle_close_after(&self, deployment: Option<u32>) -> Option<u32> {
        if self.kind == ConversationKind::Direct || self.status == ConversationStatus::Closed {
            return None;
        }
        match self.idle_timer {
            IdleTimer::Deployment => deployment,
            IdleTimer::Off => None,
            IdleTimer::After(seconds) => Some(seconds),
        }
    }

    /// When it closes if nothing happens before: last activity plus its timer.
    pub fn idle_deadline(&self, deployment: Option<u32>) -> Option<DateTime<Utc>> {
        self.idle_close_after(deployment).map(|s| self.last_message_at + chrono::Duration::seconds(s.into()))
    }

    pub fn timers(&self, deployment: Option<u32>) -> TimersView {
        let close_after_seconds = self.idle_close_after(deployment);
        TimersView {
            close_after: close_after_seconds.map(iso_duration),
            close_after_seconds,
            own: self.idle_timer != IdleTimer::Deployment,
            closes_at: self.idle_deadline(deployment),
        }
    }
}

/// A conversation's inactivity timer (Twilio Conversations' `Timers.Closed`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IdleTimer {
    /// The deployment's setting (`IDLE_CLOSE_AFTER`, off unless set).
    #[default]
    Deployment,
    /// Never closes by itself, whatever the deployment says.
    Off,
    /// Closes after this many seconds without a message.
    After(u32),
}

/// Twilio's shortest `TimeToClosed`: a shorter timer would close conversations mid-exchange.
pub const IDLE_MIN_SECONDS: u32 = 600;
/// A year: longer is "never" for a phone number's lease.
pub const IDLE_MAX_SECONDS: u32 = 365 * 24 * 3600;

/// An ISO-8601 duration of days, hours, minutes and seconds (`P7D`, `PT2H30M`, `P1W`), as
/// Twilio takes `TimeToClosed`, or whole seconds (`7200`); within the bounds above.
pub fn parse_idle_duration(raw: &str) -> Result<u32, String> {
    let text = raw.trim().to_ascii_uppercase();
    let seconds = match text.parse::<u64>() {
        Ok(n) => n,
        Err(_) => iso_seconds(&text).ok_or_else(|| {
            format!("{raw:?} is neither whole seconds nor an ISO-8601 duration such as PT12H or P30D")
        })?,
    };
    if seconds < u64::from(IDLE_MIN_SECONDS) || seconds > u64::from(IDLE_MAX_SECONDS) {
        return Err(format!(
            "must be between {} and {} (10 minutes and 365 days)",
            iso_duration(IDLE_MIN_SECONDS),
            iso_duration(IDLE_MAX_SECONDS)
        ));
    }
    Ok(seconds as u32)
}

/// `P[nW][nD][T[nH][nM][nS]]` in seconds; None for anything else (years and months have no fixed
/// length, so they are not accepted).
fn iso_seconds(text: &str) -> Option<u64> {
    let rest = text.strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((date, time)) if !time.is_empty() => (date, Some(time)),
        Some(_) => return None,
        None => (rest, None),
    };
    let mut total: u64 = 0;
    let mut any = false;
    for (part, units) in [
        (date, &[('W', 604_800u64), ('D', 86_400)][..]),
        (time.unwrap_or(""), &[('H', 3600), ('M', 60), ('S', 1)][..]),
    ] {
        let mut rest = part;
        let mut unit_index = 0;
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit())?;
            if digits == 0 {
                return None;
            }
            let value: u64 = rest[..digits].parse().ok()?;
            let designator = rest[digits..].chars().next()?;
            let position = units[unit_index..].iter().position(|(d, _)| *d == designator)? + unit_index;
            total = total.checked_add(value.checked_mul(units[position].1)?)?;
            unit_index = position + 1;
            rest = &rest[digits + 1..];
            any = true;
        }
    }
    any.then_some(total)
}

/// Seconds as the shortest ISO-8601 duration (`PT2H`, `P30D`, `P1DT30M`).
pub fn iso_duration(seconds: u32) -> String {
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (hours, minutes, secs) = (rest / 3600, rest % 3600 / 60, rest % 60);
    let mut out = String::from("P");
    if days > 0 {
        out.push_str(&format!("{days}D"));
    }
    if rest > 0 || days == 0 {
        out.push('T');
        for (value, unit) in [(hours, 'H'), (minutes, 'M'), (secs, 'S')] {
            if value > 0 {
                out.push_str(&format!("{value}{unit}"));
            }
        }
        if rest == 0 {
            out.push_str("0S");
        }
    }
    out
}

/// A conversation's timers, as its settings show them.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimersView {
    /// After how long without a message it closes, as an ISO-8601 duration; null: never.
    pub close_after: Option<String>,
    /// The same in seconds.
    pub close_after_seconds: Option<u32>,
    /// True when the conversation's admins set it; false when it follows the deployment's setting.
    pub own: bool,
    /// When it closes if no message comes before (last activity plus the timer); null: never.
    pub closes_at: Option<DateTime<Utc>>,
}

/// `PUT /api/conversations/{id}/timers`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimersRequest {
    /// An ISO-8601 duration (`PT12H`, `P30D`; 10 minutes to 365 days), `"off"` (never closes by
    /// itself), or null to follow the deployment's setting again.
    #[serde(default)]
    pub close_after: Option<String>,
}

impl TimersRequest {
    pub fn validate(&self) -> Result<IdleTimer, AppError> {
        match self.close_after.as_deref().map(str::trim) {
            None => Ok(IdleTimer::Deployment),
            Some(off) if off.eq_ignore_ascii_case("off") => Ok(IdleTimer::Off),
            Some(raw) => parse_idle_duration(raw)
                .map(IdleTimer::After)
                .map_err(|reason| AppError::validation("closeAfter", reason)),
        }
    }
}

/// Who a participant is: a web user, or a phone bound to one of our numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Member {
    User { user_id: UserId },
    Sms { phone: E164, proxy_number: E164 },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Participant {
    pub id: ParticipantId,
    pub member: Member,
    pub display_name: String,
    pub role: ParticipantRole,
    pub joined_at: DateTime<Utc>,
    /// Web users only: how far they have read (phones have no read state).
    pub read: ReadState,
}

/// A web participant's read horizon (Twilio Conversations' `lastReadMessageIndex`) and how many
/// messages from others arrived after it. The message transactions keep the count (one more for
/// each web member but the author); marking read sets both, the count from what lies beyond the
/// new horizon. A message deleted unread stays counted until the next read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadState {
    pub last_read_message_id: Option<MessageId>,
    pub unread_count: u32,
}

impl ReadState {
    /// Whether marking `message_id` read moves this horizon: horizons only move forward.
    pub fn moves_to(&self, message_id: MessageId) -> bool {
        self.last_read_message_id.is_none_or(|last| message_id > last)
    }
}

impl Participant {
    pub fn user_id(&self) -> Option<UserId> {
        match &self.member {
            Member::User { user_id } => Some(*user_id),
            Member::Sms { .. } => None,
        }
    }

    pub fn phone(&self) -> Option<&E164> {
        match &self.member {
            Member::Sms { phone, .. } => Some(phone),
            Member::User { .. } => None,
        }
    }

    pub fn route(&self) -> Option<(E164, E164)> {
        match &self.member {
            Member::Sms { phone, proxy_number } => Some((proxy_number.clone(), phone.clone())),
            Member::User { .. } => None,
        }
    }

    pub fn view(&self) -> ParticipantView {
        let (kind, user_id, phone_number, proxy_number) = match &self.member {
            Member::User { user_id } => (MemberKind::User, Some(*user_id), None, None),
            Member::Sms { phone, proxy_number } => {
                (MemberKind::Sms, None, Some(phone.clone()), Some(proxy_number.clone()))
            }
        };
        ParticipantView {
            id: self.id,
            kind,
            user_id,
            phone_number,
            display_name: self.display_name.clone(),
            role: self.role,
            proxy_number,
            joined_at: self.joined_at,
            last_read_message_id: self.read.last_read_message_id,
        }
    }
}

/// A conversation with every current participant (one Query of its partition).
#[derive(Clone, Debug)]
pub struct ConversationDetail {
    pub conversation: Conversation,
    pub participants: Vec<Participant>,
}

impl ConversationDetail {
    pub fn participant_for_user(&self, user_id: UserId) -> Option<&Participant> {
        self.participants.iter().find(|p| p.user_id() == Some(user_id))
    }

    pub fn participant(&self, participant_id: ParticipantId) -> Option<&Participant> {
        self.participants.iter().find(|p| p.id == participant_id)
    }

    /// The web users of the conversation: who receives its events.
    pub fn user_ids(&self) -> Vec<UserId> {
        self.participants.iter().filter_map(Participant::user_id).collect()
    }

    pub fn user_participants(&self) -> impl Iterator<Item = &Participant> {
        self.participants.iter().filter(|p| p.user_id().is_some())
    }

    pub fn proxies(&self) -> Vec<E164> {
        self.participants.iter().filter_map(|p| p.route().map(|(number, _)| number)).collect()
    }

    /// The name this user sees: the group's name, or the other side of a direct or SMS chat.
    pub fn title_for(&self, user_id: UserId) -> String {
        if let Some(name) = &self.conversation.name {
            return name.clone();
        }
        self.participants
            .iter()
            .find(|p| p.user_id() != Some(user_id))
            .map(|p| p.display_name.clone())
            .unwrap_or_default()
    }

    /// The phone at the other end of a one-to-one SMS conversation: what its web user's inbox
    /// line carries, so a client can show its own name for the phone.
    pub fn sms_counterpart(&self) -> Option<&E164> {
        if self.conversation.kind != ConversationKind::Sms {
            return None;
        }
        self.participants.iter().find_map(Participant::phone)
    }

    /// The conversation as a user with these contact names (phone to name) sees it: each named
    /// phone shows its contact's name. A group keeps its own name; a one-to-one SMS conversation
    /// is titled by the contact (its stored name was only what its creator typed for the phone).
    pub fn named_by(&mut self, names: &std::collections::HashMap<E164, String>) {
        for participant in &mut self.participants {
            if let Some(name) = participant.phone().and_then(|phone| names.get(phone)) {
                participant.display_name = name.clone();
            }
        }
        if self.sms_counterpart().is_some_and(|phone| names.contains_key(phone)) {
            self.conversation.name = None;
        }
    }

    pub fn view_for(&self, user_id: UserId) -> ConversationView {
        let c = &self.conversation;
        ConversationView {
            id: c.id,
            kind: c.kind,
            name: self.title_for(user_id),
            description: c.description.clone(),
            status: c.status,
            created_at: c.created_at,
            last_message_at: c.last_message_at,
            last_message_preview: c.last_message_preview.clone(),
            unread_count: self.participant_for_user(user_id).map_or(0, |p| p.read.unread_count),
            participants: self.participants.iter().map(Participant::view).collect(),
            timers: None,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParticipantView {
    pub id: ParticipantId,
    pub kind: MemberKind,
    /// Web participants: the user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    /// SMS participants: the phone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<E164>,
    pub display_name: String,
    pub role: ParticipantRole,
    /// SMS participants: the number the phone texts (and receives the conversation's texts from).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_number: Option<E164>,
    pub joined_at: DateTime<Utc>,
    /// Web participants: the last message they have read (their read horizon), once they have
    /// read one. Members show it as "seen by".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_read_message_id: Option<MessageId>,
}

/// What a participant is: a web user, or a phone reached by SMS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum MemberKind {
    User,
    Sms,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationView {
    pub id: ConversationId,
    #[serde(rename = "type")]
    pub kind: ConversationKind,
    pub name: String,
    pub description: Option<String>,
    pub status: ConversationStatus,
    pub created_at: DateTime<Utc>,
    pub last_message_at: DateTime<Utc>,
    pub last_message_preview: Option<String>,
    /// Messages from others after the caller's read horizon.
    pub unread_count: u32,
    pub participants: Vec<ParticipantView>,
    /// Its inactivity timer (in the answers of GET and PUT …/timers on one conversation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timers: Option<TimersView>,
}

/// One line of "my conversations", read from the inbox index without touching the conversation.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InboxEntry {
    pub id: ConversationId,
    #[serde(rename = "type")]
    pub kind: ConversationKind,
    pub name: String,
    pub status: ConversationStatus,
    pub role: ParticipantRole,
    pub last_message_at: DateTime<Utc>,
    pub last_message_preview: Option<String>,
    /// Messages from others after the caller's read horizon.
    pub unread_count: u32,
    /// The caller's read horizon in this conversation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_read_message_id: Option<MessageId>,
    /// One-to-one SMS conversations: the phone at the other end, so a client can show its
    /// contact's name for it (absent on lines written before contacts existed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<E164>,
}

// --- requests ------------------------------------------------------------------------------

pub const CONVERSATION_NAME_MAX: usize = 100;
pub const DESCRIPTION_MAX: usize = 500;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectRequest {
    pub user_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SmsRequest {
    pub phone_number: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupRequest {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub participants: Vec<ParticipantRequest>,
}

/// `{userId}` or `{phoneNumber, displayName?}`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParticipantRequest {
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
}

/// `PUT /api/conversations/{id}/read`: the newest message the caller has seen.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReadRequest {
    /// A message of this conversation; the horizon only moves forward, so an older id changes
    /// nothing.
    pub message_id: String,
}

/// The caller's read state in a conversation after marking read.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReadView {
    pub conversation_id: ConversationId,
    pub participant_id: ParticipantId,
    pub last_read_message_id: Option<MessageId>,
    pub unread_count: u32,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoleRequest {
    pub role: ParticipantRole,
}

/// A participant request that passed validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NewMember {
    User { user_id: UserId },
    Sms { phone: E164, display_name: Option<String> },
}

impl ParticipantRequest {
    /// `prefix` is where this entry sits in the request (`participants[2].`, or "" for a body
    /// that is the participant itself), so errors name the exact field. A `userId` that is no id
    /// names no user: 404.
    pub fn validate(&self, prefix: &str, region: country::Id) -> Result<NewMember, AppError> {
        match (&self.user_id, &self.phone_number) {
            (Some(user_id), None) if !user_id.trim().is_empty() => {
                let user_id = UserId::parse(user_id)
                    .map_err(|_| AppError::NotFound(format!("{prefix}userId: user not found")))?;
                Ok(NewMember::User { user_id })
            }
            (None, Some(phone)) => Ok(NewMember::Sms {
                phone: validate_phone(&format!("{prefix}phoneNumber"), phone, region)?,
                display_name: validate_name(&format!("{prefix}displayName"), self.display_name.clone())?,
            }),
            _ => Err(AppError::validation(
                format!("{prefix}userId"),
                "give exactly one of userId or phoneNumber",
            )),
        }
    }
}

pub fn validate_conversation_name(raw: &str) -> Result<String, AppError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > CONVERSATION_NAME_MAX || name.chars().any(char::is_control) {
        return Err(AppError::validation(
            "name",
            format!("must be 1 to {CONVERSATION_NAME_MAX} printable characters"),
        ));
    }
    Ok(name.to_string())
}

pub fn validate_description(raw: Option<String>) -> Result<Option<String>, AppError> {
    let Some(text) = raw.map(|d| d.trim().to_string()).filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > DESCRIPTION_MAX {
        return Err(AppError::validation(
            "description",
            format!("must be at most {DESCRIPTION_MAX} characters"),
        ));
    }
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(kind: ConversationKind, name: Option<&str>, phones: &[(&str, &str)]) -> ConversationDetail {
        let now = Utc::now();
        let me = UserId::new();
        let mut participants = vec![Participant {
            id: ParticipantId::new(),
            member: Member::User { user_id: me },
            display_name: "Me".into(),
            role: ParticipantRole::Admin,
            joined_at: now,
            read: ReadState::default(),
        }];
        for (phone, display_name) in phones {
            participants.push(Participant {
                id: ParticipantId::new(),
                member: Member::Sms {
                    phone: E164::from_stored(phone.to_string()),
                    proxy_number: E164::from_stored("+16285550001".into()),
                },
                display_name: display_name.to_string(),
                role: ParticipantRole::Member,
                joined_at: now,
                read: ReadState::default(),
            });
        }
        let conversation = Conversation {
            id: ConversationId::new(),
            kind,
            name: name.map(str::to_string),
            description: None,
            status: ConversationStatus::Active,
            created_by: me,
            created_at: now,
            last_message_at: now,
            last_message_preview: None,
            idle_timer: IdleTimer::Deployment,
        };
        ConversationDetail { conversation, participants }
    }

    #[test]
    fn contact_names_name_phones_title_sms_conversations_and_leave_group_names() {
        let names =
            std::collections::HashMap::from([(E164::from_stored("+14155550001".into()), "Grace".into())]);
        let me = |d: &ConversationDetail| d.participants[0].user_id().unwrap();

        let mut sms = detail(ConversationKind::Sms, Some("typed"), &[("+14155550001", "typed")]);
        assert_eq!(sms.sms_counterpart().map(E164::as_str), Some("+14155550001"));
        sms.named_by(&names);
        let view = sms.view_for(me(&sms));
        assert_eq!((view.name.as_str(), view.participants[1].display_name.as_str()), ("Grace", "Grace"));

        let mut group =
            detail(ConversationKind::Group, Some("Crew"), &[("+14155550001", "G"), ("+14155550002", "Kim")]);
        assert_eq!(group.sms_counterpart(), None, "only one-to-one SMS lines carry a phone");
        group.named_by(&names);
        let view = group.view_for(me(&group));
        let shown: Vec<&str> = view.participants.iter().map(|p| p.display_name.as_str()).collect();
        assert_eq!((view.name.as_str(), shown), ("Crew", vec!["Me", "Grace", "Kim"]));

        let mut unnamed = detail(ConversationKind::Sms, Some("typed"), &[("+14155550009", "typed")]);
        unnamed.named_by(&names);
        assert_eq!(unnamed.view_for(me(&unnamed)).name, "typed", "no contact: its own name");
    }

    #[test]
    fn participant_requests_need_exactly_one_identity() {
        let region = country::Id::US;
        let both = ParticipantRequest {
            user_id: Some(UserId::new().to_string()),
            phone_number: Some("+14155550100".into()),
            display_name: None,
        };
        assert!(matches!(both.validate("participants[0].", region), Err(AppError::Validation { .. })));
        let neither = ParticipantRequest { user_id: None, phone_number: None, display_name: None };
        assert!(neither.validate("", region).is_err());
        let phone = ParticipantRequest {
            user_id: None,
            phone_number: Some("(415) 555-0100".into()),
            display_name: Some(" Bob ".into()),
        };
        assert_eq!(
            phone.validate("participants[0].", region).unwrap(),
            NewMember::Sms {
                phone: E164::from_stored("+14155550100".into()),
                display_name: Some("Bob".into())
            }
        );
        let bad = ParticipantRequest { user_id: None, phone_number: Some("12".into()), display_name: None };
        match bad.validate("participants[3].", region) {
            Err(AppError::Validation { field, .. }) => assert_eq!(field, "participants[3].phoneNumber"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn idle_timers_read_iso_durations_and_seconds_within_bounds() {
        assert_eq!(parse_idle_duration("PT2H"), Ok(7200));
        assert_eq!(parse_idle_duration("p1dt30m"), Ok(88_200));
        assert_eq!(parse_idle_duration("P1W"), Ok(604_800));
        assert_eq!(parse_idle_duration("3600"), Ok(3600));
        for bad in ["PT5M", "P400D", "P1M", "PT", "P", "2h", "PT1H2D", "PTH", ""] {
            assert!(parse_idle_duration(bad).is_err(), "{bad}");
        }
        for seconds in [600, 3600, 86_400, 88_200, 90_061, IDLE_MAX_SECONDS] {
            assert_eq!(parse_idle_duration(&iso_duration(seconds)), Ok(seconds), "{}", iso_duration(seconds));
        }
        assert_eq!(iso_duration(7200), "PT2H");
        assert_eq!(iso_duration(30 * 86_400), "P30D");
        let off = TimersRequest { close_after: Some(" Off ".into()) };
        assert_eq!(off.validate().unwrap(), IdleTimer::Off);
        assert_eq!(TimersRequest { close_after: None }.validate().unwrap(), IdleTimer::Deployment);
        assert!(TimersRequest { close_after: Some("PT1M".into()) }.validate().is_err());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(validate_conversation_name("  Book club ").unwrap(), "Book club");
        assert!(validate_conversation_name("   ").is_err());
        assert!(validate_conversation_name(&"x".repeat(101)).is_err());
        assert_eq!(validate_description(Some("  ".into())).unwrap(), None);
        assert!(validate_description(Some("x".repeat(501))).is_err());
    }
}
