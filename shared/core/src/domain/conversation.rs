//! Conversations and their participants.

use chrono::{DateTime, Utc};
use phonenumber::country;
use serde::{Deserialize, Serialize};

use super::ids::{ConversationId, ParticipantId, UserId};
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
            participants: self.participants.iter().map(Participant::view).collect(),
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
    pub participants: Vec<ParticipantView>,
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
    fn names_are_trimmed_and_bounded() {
        assert_eq!(validate_conversation_name("  Book club ").unwrap(), "Book club");
        assert!(validate_conversation_name("   ").is_err());
        assert!(validate_conversation_name(&"x".repeat(101)).is_err());
        assert_eq!(validate_description(Some("  ".into())).unwrap(), None);
        assert!(validate_description(Some("x".repeat(501))).is_err());
    }
}
