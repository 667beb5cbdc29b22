//! Conversations and their participants: starting them, managing who is in them, closing them.
//! The routing invariant (each (our number, phone) pair names at most one conversation) is kept
//! by the store's conditional writes; this module chooses proxy numbers and retries when a race
//! takes a pair first. See docs/routing.md.

use std::collections::HashSet;

use chrono::Utc;

use super::{realtime, App};
use crate::domain::conversation::{
    validate_conversation_name, validate_description, Conversation, ConversationDetail, ConversationKind,
    ConversationStatus, GroupRequest, IdleTimer, Member, NewMember, Participant, ParticipantRequest,
    ParticipantRole, RoleRequest, SmsRequest,
};
use crate::domain::ids::{ConversationId, ParticipantId, UserId};
use crate::domain::number::NumberStatus;
use crate::domain::phone::E164;
use crate::domain::realtime::{Closed, Event, EventKind, ParticipantLeft};
use crate::domain::routing::{candidate_order, choose_proxies, Choice, Pair};
use crate::domain::user::User;
use crate::error::AppError;
use crate::ports::conversations::{InboxPage, NewConversation};
use crate::ports::{PageRequest, StoreError};

/// Free pool numbers considered as proxies (one page of the pool index).
const PROXY_CANDIDATES: u32 = 100;
/// Transactions attempted when concurrent requests keep taking the chosen pairs first.
const ROUTE_ATTEMPTS: usize = 4;

/// The outcome of a "start" request: the conversation, and whether this request created it.
pub struct Started {
    pub detail: ConversationDetail,
    pub created: bool,
}

fn new_conversation(
    kind: ConversationKind,
    creator: &User,
    name: Option<String>,
    description: Option<String>,
) -> Conversation {
    let now = Utc::now();
    Conversation {
        id: ConversationId::new(),
        kind,
        name,
        description,
        status: ConversationStatus::Active,
        created_by: creator.id,
        created_at: now,
        last_message_at: now,
        last_message_preview: None,
        idle_timer: IdleTimer::Deployment,
    }
}

/// What a new conversation must hold, its idle deadline from the deployment's timer.
fn creation<'a>(
    app: &App,
    detail: &'a ConversationDetail,
    direct_pair: Option<(UserId, UserId)>,
    sms_owner: Option<(UserId, &'a E164)>,
) -> NewConversation<'a> {
    let idle_deadline = detail.conversation.idle_deadline(app.settings.idle_close_after);
    NewConversation { detail, direct_pair, sms_owner, idle_deadline }
}

fn user_participant(user: &User, role: ParticipantRole) -> Participant {
    Participant {
        id: ParticipantId::new(),
        member: Member::User { user_id: user.id },
        display_name: user.display_name(),
        role,
        joined_at: Utc::now(),
        read: Default::default(),
    }
}

fn sms_participant(phone: &E164, proxy: &E164, display_name: Option<String>) -> Participant {
    Participant {
        id: ParticipantId::new(),
        member: Member::Sms { phone: phone.clone(), proxy_number: proxy.clone() },
        display_name: display_name.unwrap_or_else(|| phone.to_string()),
        role: ParticipantRole::Member,
        joined_at: Utc::now(),
        read: Default::default(),
    }
}

/// The conversation if `user` is one of its participants; otherwise "not found", so outsiders
/// cannot even learn that it exists.
pub async fn load_visible(
    app: &App,
    user: &User,
    conversation_id: ConversationId,
) -> Result<ConversationDetail, AppError> {
    crate::observe::conversation(&conversation_id);
    match app.conversations.get_conversation(conversation_id).await? {
        Some(detail) if detail.participant_for_user(user.id).is_some() => Ok(detail),
        _ => Err(AppError::not_found("conversation not found")),
    }
}

pub(super) fn require_admin(detail: &ConversationDetail, user: &User) -> Result<(), AppError> {
    match detail.participant_for_user(user.id) {
        Some(p) if p.role == ParticipantRole::Admin => Ok(()),
        _ => Err(AppError::Forbidden("only the conversation's admins can do that".into())),
    }
}

fn require_active_group(detail: &ConversationDetail) -> Result<(), AppError> {
    if detail.conversation.status == ConversationStatus::Closed {
        return Err(StoreError::ConversationInactive.into());
    }
    if detail.conversation.kind != ConversationKind::Group {
        return Err(AppError::conflict(
            "not_a_group",
            "only group conversations change membership; start a group instead",
        ));
    }
    Ok(())
}

async fn reject_pool_numbers(app: &App, phones: &[(String, E164)]) -> Result<(), AppError> {
    if phones.is_empty() {
        return Ok(());
    }
    let numbers: Vec<E164> = phones.iter().map(|(_, p)| p.clone()).collect();
    let ours = app.numbers.numbers_in_pool(&numbers).await?;
    match phones.iter().find(|(_, p)| ours.contains(p)) {
        Some((field, _)) => Err(AppError::validation(field.clone(), "is one of Switchboard's own numbers")),
        None => Ok(()),
    }
}

// --- direct --------------------------------------------------------------------------------

pub async fn start_direct(app: &App, caller: &User, other_id: UserId) -> Result<Started, AppError> {
    if other_id == caller.id {
        return Err(AppError::validation("userId", "you cannot start a conversation with yourself"));
    }
    let (existing, other) =
        futures::try_join!(app.conversations.find_direct(caller.id, other_id), app.users.get_user(other_id))?;
    if let Some(detail) = existing_direct(app, existing).await? {
        return Ok(Started { detail, created: false });
    }
    let other = other.filter(|u| u.active).ok_or_else(|| AppError::not_found("user not found"))?;
    let detail = ConversationDetail {
        conversation: new_conversation(ConversationKind::Direct, caller, None, None),
        participants: vec![
            user_participant(caller, ParticipantRole::Admin),
            user_participant(&other, ParticipantRole::Admin),
        ],
    };
    let new = creation(app, &detail, Some((caller.id, other.id)), None);
    match app.conversations.create_conversation(new).await {
        Ok(()) => Ok(Started { detail, created: true }),
        // Both users started it at once: the other request won; answer with its conversation.
        Err(StoreError::DirectExists) => {
            let existing = app.conversations.find_direct(caller.id, other.id).await?;
            let detail = existing_direct(app, existing).await?.ok_or(StoreError::Contention)?;
            Ok(Started { detail, created: false })
        }
        Err(e) => Err(e.into()),
    }
}

async fn existing_direct(
    app: &App,
    id: Option<ConversationId>,
) -> Result<Option<ConversationDetail>, AppError> {
    let Some(id) = id else { return Ok(None) };
    Ok(app
        .conversations
        .get_conversation(id)
        .await?
        .filter(|d| d.conversation.status == ConversationStatus::Active))
}

// --- sms -----------------------------------------------------------------------------------

/// A conversation between the caller's virtual number and one phone: route (number, phone).
pub async fn start_sms(app: &App, caller: &User, request: SmsRequest) -> Result<Started, AppError> {
    let number = caller.virtual_number.clone().ok_or_else(|| {
        AppError::conflict(
            "no_virtual_number",
            "you need a virtual number first: POST /api/users/virtual-number",
        )
    })?;
    let phone = app.parse_phone("phoneNumber", &request.phone_number)?;
    let name = request.name.as_deref().map(validate_conversation_name).transpose()?;
    if phone == number {
        return Err(AppError::validation("phoneNumber", "is your own virtual number"));
    }
    reject_pool_numbers(app, &[("phoneNumber".into(), phone.clone())]).await?;

    if let Some(detail) = existing_sms(app, caller, &number, &phone).await? {
        return Ok(Started { detail, created: false });
    }
    let detail = ConversationDetail {
        conversation: new_conversation(ConversationKind::Sms, caller, name.clone(), None),
        participants: vec![
            user_participant(caller, ParticipantRole::Admin),
            sms_participant(&phone, &number, name),
        ],
    };
    let new = creation(app, &detail, None, Some((caller.id, &number)));
    match app.conversations.create_conversation(new).await {
        Ok(()) => Ok(Started { detail, created: true }),
        Err(StoreError::RouteTaken(_)) => match existing_sms(app, caller, &number, &phone).await? {
            Some(detail) => Ok(Started { detail, created: false }),
            None => Err(StoreError::RouteTaken(vec![(number, phone)]).into()),
        },
        Err(e) => Err(e.into()),
    }
}

/// The active conversation the route (number, phone) names, if the caller is in it. A route
/// held by a conversation the caller is not in is a conflict, never a way in.
async fn existing_sms(
    app: &App,
    caller: &User,
    number: &E164,
    phone: &E164,
) -> Result<Option<ConversationDetail>, AppError> {
    let Some(id) = app.conversations.route_conversation(number, phone).await? else {
        return Ok(None);
    };
    match app.conversations.get_conversation(id).await? {
        Some(detail) if detail.participant_for_user(caller.id).is_some() => Ok(Some(detail)),
        _ => Err(StoreError::RouteTaken(vec![(number.clone(), phone.clone())]).into()),
    }
}

// --- groups --------------------------------------------------------------------------------

pub async fn create_group(
    app: &App,
    caller: &User,
    request: GroupRequest,
) -> Result<ConversationDetail, AppError> {
    let name = validate_conversation_name(&request.name)?;
    let description = validate_description(request.description)?;
    let max = app.settings.max_group_size;
    if request.participants.len() + 1 > max {
        return Err(AppError::validation(
            "participants",
            format!("a group has at most {max} participants, you included"),
        ));
    }
    let region = app.settings.default_region;
    let mut user_ids: Vec<(String, UserId)> = Vec::new();
    let mut phones: Vec<(String, E164, Option<String>)> = Vec::new();
    let mut seen = HashSet::new();
    for (i, entry) in request.participants.iter().enumerate() {
        let prefix = format!("participants[{i}].");
        match entry.validate(&prefix, region)? {
            NewMember::User { user_id: id } => {
                if id == caller.id {
                    continue; // the creator is always in, as admin
                }
                if !seen.insert(format!("user:{id}")) {
                    return Err(AppError::validation(format!("{prefix}userId"), "appears twice"));
                }
                user_ids.push((format!("{prefix}userId"), id));
            }
            NewMember::Sms { phone, display_name } => {
                if !seen.insert(format!("sms:{phone}")) {
                    return Err(AppError::validation(format!("{prefix}phoneNumber"), "appears twice"));
                }
                phones.push((format!("{prefix}phoneNumber"), phone, display_name));
            }
        }
    }
    let ids: Vec<UserId> = user_ids.iter().map(|(_, id)| *id).collect();
    let phone_fields: Vec<(String, E164)> = phones.iter().map(|(f, p, _)| (f.clone(), p.clone())).collect();
    let (users, ()) = futures::try_join!(
        async {
            if ids.is_empty() {
                Ok(Vec::new())
            } else {
                app.users.get_users(&ids).await.map_err(AppError::from)
            }
        },
        reject_pool_numbers(app, &phone_fields),
    )?;
    for (field, id) in &user_ids {
        if !users.iter().any(|u| u.id == *id && u.active) {
            return Err(AppError::NotFound(format!("{field}: user not found")));
        }
    }

    let conversation = new_conversation(ConversationKind::Group, caller, Some(name), description);
    let mut participants = vec![user_participant(caller, ParticipantRole::Admin)];
    participants.extend(users.iter().map(|u| user_participant(u, ParticipantRole::Member)));
    let wanted: Vec<E164> = phones.iter().map(|(_, p, _)| p.clone()).collect();
    let mut taken: HashSet<Pair> = HashSet::new();
    let mut unavailable: HashSet<E164> = HashSet::new();
    for _ in 0..ROUTE_ATTEMPTS {
        let proxies = choose_routes(app, &[], &wanted, &mut taken, &unavailable).await?;
        let mut all = participants.clone();
        for ((_, phone, display_name), (_, proxy)) in phones.iter().zip(&proxies) {
            all.push(sms_participant(phone, proxy, display_name.clone()));
        }
        let detail = ConversationDetail { conversation: conversation.clone(), participants: all };
        let new = creation(app, &detail, None, None);
        match app.conversations.create_conversation(new).await {
            Ok(()) => return Ok(detail),
            // Another request took a chosen pair, or a chosen number went to a user, between our
            // reads and our write: choose again without it.
            Err(StoreError::RouteTaken(pairs)) => taken.extend(pairs),
            Err(StoreError::ProxyUnavailable(number)) => {
                unavailable.insert(number);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Contention.into())
}

/// Chooses a proxy for each phone: the group's own proxies first, then the numbers already
/// serving as proxies, then free ones; the pairs in use are read in batches. `taken` carries pairs
/// known to be in use between attempts, `unavailable` numbers that went to a user meanwhile.
async fn choose_routes(
    app: &App,
    group_proxies: &[E164],
    phones: &[E164],
    taken: &mut HashSet<Pair>,
    unavailable: &HashSet<E164>,
) -> Result<Vec<(E164, E164)>, AppError> {
    if phones.is_empty() {
        return Ok(Vec::new());
    }
    let page = PageRequest { limit: PROXY_CANDIDATES, cursor: None };
    let (proxies, free) = futures::try_join!(
        app.numbers.list_numbers(Some(NumberStatus::Proxy), &page),
        app.numbers.list_numbers(Some(NumberStatus::Free), &page),
    )?;
    // Owned numbers never carry groups (a user may have taken a former proxy number).
    let pool: Vec<E164> = proxies
        .items
        .into_iter()
        .chain(free.items)
        .filter(|n| n.owner_id.is_none())
        .map(|n| n.phone_number)
        .collect();
    let mut candidates = candidate_order(group_proxies, &pool);
    candidates.retain(|n| !unavailable.contains(n));
    let mut checked: HashSet<Pair> = taken.clone();
    loop {
        match choose_proxies(phones, &candidates, &checked, taken) {
            Choice::Done(chosen) => return Ok(chosen),
            Choice::Exhausted(phone) => {
                return Err(AppError::conflict(
                    "no_proxy_number",
                    format!(
                        "no pool number is free to reach {}: it already talks to every one of them; ask an administrator to add numbers",
                        phone.masked()
                    ),
                ))
            }
            Choice::Check(pairs) => {
                let in_use = app.conversations.taken_routes(&pairs).await?;
                taken.extend(in_use);
                checked.extend(pairs);
            }
        }
    }
}

// --- membership ----------------------------------------------------------------------------

pub async fn add_participant(
    app: &App,
    caller: &User,
    conversation_id: ConversationId,
    request: ParticipantRequest,
) -> Result<Participant, AppError> {
    let detail = load_visible(app, caller, conversation_id).await?;
    require_admin(&detail, caller)?;
    require_active_group(&detail)?;
    let max = app.settings.max_group_size;
    // "Already in" says more than "full", so it is checked first.
    let member = request.validate("", app.settings.default_region)?;
    let already = match &member {
        NewMember::User { user_id } => detail.participant_for_user(*user_id).is_some(),
        NewMember::Sms { phone, .. } => detail
            .participants
            .iter()
            .any(|p| matches!(&p.member, Member::Sms { phone: q, .. } if q == phone)),
    };
    if already {
        return Err(StoreError::ParticipantExists.into());
    }
    if detail.participants.len() >= max {
        return Err(StoreError::GroupFull.into());
    }
    match member {
        NewMember::User { user_id } => {
            let user = app
                .users
                .get_user(user_id)
                .await?
                .filter(|u| u.active)
                .ok_or_else(|| AppError::not_found("user not found"))?;
            let participant = user_participant(&user, ParticipantRole::Member);
            app.conversations.add_participant(&detail, &participant, max).await?;
            publish_joined(app, &detail, &participant).await;
            Ok(participant)
        }
        NewMember::Sms { phone, display_name } => {
            reject_pool_numbers(app, &[("phoneNumber".into(), phone.clone())]).await?;
            let mut taken = HashSet::new();
            let mut unavailable = HashSet::new();
            for _ in 0..ROUTE_ATTEMPTS {
                let phones = std::slice::from_ref(&phone);
                let proxies = choose_routes(app, &detail.proxies(), phones, &mut taken, &unavailable).await?;
                let participant = sms_participant(&phone, &proxies[0].1, display_name.clone());
                match app.conversations.add_participant(&detail, &participant, max).await {
                    Ok(()) => {
                        publish_joined(app, &detail, &participant).await;
                        return Ok(participant);
                    }
                    Err(StoreError::RouteTaken(pairs)) => taken.extend(pairs),
                    Err(StoreError::ProxyUnavailable(number)) => {
                        unavailable.insert(number);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Err(StoreError::Contention.into())
        }
    }
}

/// Admins remove anyone; anyone removes themselves (leaving). The last admin leaving hands the
/// role to the longest-standing web member; the last web user leaving closes the group.
pub async fn remove_participant(
    app: &App,
    caller: &User,
    conversation_id: ConversationId,
    participant_id: ParticipantId,
) -> Result<Option<Participant>, AppError> {
    let detail = load_visible(app, caller, conversation_id).await?;
    let target = detail
        .participant(participant_id)
        .cloned()
        .ok_or_else(|| AppError::not_found("participant not found"))?;
    let leaving = target.user_id() == Some(caller.id);
    if !leaving {
        require_admin(&detail, caller)?;
    }
    require_active_group(&detail)?;
    let other_users: Vec<&Participant> = detail.user_participants().filter(|p| p.id != target.id).collect();
    if target.user_id().is_some() && other_users.is_empty() {
        close_current(app, detail).await?;
        return Ok(None);
    }
    let promote = if target.role == ParticipantRole::Admin
        && !other_users.iter().any(|p| p.role == ParticipantRole::Admin)
    {
        other_users.iter().min_by_key(|p| (p.joined_at, p.id)).map(|p| (*p).clone())
    } else {
        None
    };
    app.conversations.remove_participant(&detail, &target, promote.as_ref()).await?;
    // To everyone who was in, the removed user too (their client drops the conversation); from
    // now on they are not a recipient.
    let payload =
        ParticipantLeft { participant: target.view(), promoted: promote.as_ref().map(Participant::view) };
    realtime::to_members(
        app,
        &detail,
        vec![Event::new(EventKind::ParticipantLeft, detail.conversation.id, payload)],
    )
    .await;
    Ok(promote)
}

/// `participant.joined` to the members before the add and the newcomer.
async fn publish_joined(app: &App, detail: &ConversationDetail, participant: &Participant) {
    let mut users = detail.user_ids();
    users.extend(participant.user_id());
    let event = Event::new(EventKind::ParticipantJoined, detail.conversation.id, participant.view());
    realtime::to_users(app, &users, vec![event]).await;
}

pub async fn set_role(
    app: &App,
    caller: &User,
    conversation_id: ConversationId,
    participant_id: ParticipantId,
    request: RoleRequest,
) -> Result<Participant, AppError> {
    let detail = load_visible(app, caller, conversation_id).await?;
    require_admin(&detail, caller)?;
    require_active_group(&detail)?;
    let target = detail
        .participant(participant_id)
        .cloned()
        .ok_or_else(|| AppError::not_found("participant not found"))?;
    if target.user_id().is_none() && request.role == ParticipantRole::Admin {
        return Err(AppError::validation("role", "SMS participants cannot be admins"));
    }
    app.conversations.set_role(&detail, &target, request.role).await?;
    Ok(Participant { role: request.role, ..target })
}

/// Admins close a conversation: its routes are freed, its history stays readable.
pub async fn close(
    app: &App,
    caller: &User,
    conversation_id: ConversationId,
) -> Result<ConversationDetail, AppError> {
    let detail = load_visible(app, caller, conversation_id).await?;
    require_admin(&detail, caller)?;
    close_current(app, detail).await
}

/// Closes the conversation as it is now: when a participant joined since `detail` was read, the
/// store refuses the close (that participant's route would be left behind), so re-read and retry.
async fn close_current(app: &App, mut detail: ConversationDetail) -> Result<ConversationDetail, AppError> {
    for _ in 0..ROUTE_ATTEMPTS {
        if detail.conversation.status == ConversationStatus::Closed {
            return Ok(detail);
        }
        match app.conversations.close_conversation(&detail).await {
            Ok(()) => {
                detail.conversation.status = ConversationStatus::Closed;
                announce_closed(app, &detail).await;
                return Ok(detail);
            }
            Err(StoreError::ConversationInactive) => {
                detail.conversation.status = ConversationStatus::Closed;
                return Ok(detail);
            }
            Err(StoreError::Contention) => {
                detail = app
                    .conversations
                    .get_conversation(detail.conversation.id)
                    .await?
                    .ok_or_else(|| AppError::not_found("conversation not found"))?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Contention.into())
}

/// `conversation.closed` to its members.
pub(super) async fn announce_closed(app: &App, detail: &ConversationDetail) {
    let event = Event::new(EventKind::ConversationClosed, detail.conversation.id, Closed {});
    realtime::to_members(app, detail, vec![event]).await;
}

pub async fn list(app: &App, caller: &User, page: &PageRequest) -> Result<InboxPage, AppError> {
    Ok(app.conversations.list_inbox(caller.id, page).await?)
}

/// Closes the user's active SMS conversations carried by `number`, before the number is released,
/// so no route keeps pointing a phone at a conversation nobody can answer. The caller has marked
/// the number as being released, so no new SMS conversation can start on it meanwhile.
pub async fn close_sms_conversations_on(app: &App, user: &User, number: &E164) -> Result<usize, AppError> {
    let mut closed = 0;
    let mut page = PageRequest::first(crate::ports::MAX_PAGE_SIZE);
    loop {
        let inbox = app.conversations.list_inbox(user.id, &page).await?;
        for entry in inbox
            .items
            .iter()
            .filter(|e| e.kind == ConversationKind::Sms && e.status == ConversationStatus::Active)
        {
            let Some(detail) = app.conversations.get_conversation(entry.id).await? else { continue };
            let uses_number =
                detail.participants.iter().any(|p| p.route().is_some_and(|(n, _)| n == *number));
            if uses_number && detail.conversation.status == ConversationStatus::Active {
                close_current(app, detail).await?;
                closed += 1;
            }
        }
        match inbox.page.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => return Ok(closed),
        }
    }
}

/// A first text from an unknown phone to `owner`'s number opens an SMS conversation for them.
/// `None` when a concurrent request opened it first (the route exists now).
pub async fn open_for_inbound(
    app: &App,
    owner: &User,
    number: &E164,
    phone: &E164,
) -> Result<Option<ConversationDetail>, AppError> {
    let detail = ConversationDetail {
        conversation: new_conversation(ConversationKind::Sms, owner, None, None),
        participants: vec![
            user_participant(owner, ParticipantRole::Admin),
            sms_participant(phone, number, None),
        ],
    };
    let new = creation(app, &detail, None, Some((owner.id, number)));
    match app.conversations.create_conversation(new).await {
        Ok(()) => Ok(Some(detail)),
        Err(StoreError::RouteTaken(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
