//! [`ConversationStore`]: conversations, participants, routes, direct pairs and the inbox.

use std::collections::{BTreeMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::cursor::{Listing, Row};
use super::{
    direct_key, distinct_items, present, Conditions, ConversationRecord, MemoryStore, ParticipantKey,
    ParticipantRecord, PoolSection, RouteRecord, Slot, State, TRANSACTION_LIMIT,
};
use crate::domain::conversation::{
    ConversationDetail, ConversationKind, ConversationStatus, IdleTimer, InboxEntry, Participant,
    ParticipantRole, ReadState,
};
use crate::domain::ids::{ConversationId, MessageId, UserId};
use crate::domain::phone::E164;
use crate::domain::routing::Pair;
use crate::ports::conversations::{InboxPage, NewConversation, ReadMark};
use crate::ports::{ConversationStore, PageRequest, StoreError};

#[async_trait]
impl ConversationStore for MemoryStore {
    /// The conversation and its participants, in the order they joined.
    async fn get_conversation(&self, id: ConversationId) -> Result<Option<ConversationDetail>, StoreError> {
        let state = self.call()?;
        Ok(state.conversations.get(&id).map(|record| {
            let mut participants: Vec<Participant> =
                record.participants.values().map(|p| p.participant.clone()).collect();
            participants.sort_by_key(|p| (p.joined_at, p.id));
            ConversationDetail { conversation: record.conversation.clone(), participants }
        }))
    }

    /// One transaction, split as the adapter splits one that exceeds DynamoDB's 100 items (a
    /// group whose phones spread over many proxies): the conversation, its web users and the
    /// first phones, then the other phones; when a later part fails, the conversation is
    /// closed again (freeing the routes written so far) and the error returned.
    async fn create_conversation(&self, new: NewConversation<'_>) -> Result<(), StoreError> {
        let mut state = self.call()?;
        let detail = new.detail;
        let mut committed: Vec<Participant> = Vec::new();
        for (i, phones) in creation_parts(&new).iter().enumerate() {
            let first = i == 0;
            // The participant items this part writes (what a rollback must close over).
            let written: HashSet<ParticipantKey> = detail
                .participants
                .iter()
                .filter(|p| first && p.user_id().is_some())
                .chain(phones.iter().copied())
                .map(ParticipantKey::of)
                .collect();
            if let Err(error) = state.create_part(&new, first, phones) {
                if !first {
                    let partial = ConversationDetail {
                        conversation: detail.conversation.clone(),
                        participants: committed,
                    };
                    state.close(&partial, detail.participants.len())?;
                }
                return Err(error);
            }
            committed.extend(
                detail.participants.iter().filter(|p| written.contains(&ParticipantKey::of(p))).cloned(),
            );
        }
        Ok(())
    }

    async fn find_direct(&self, a: UserId, b: UserId) -> Result<Option<ConversationId>, StoreError> {
        Ok(self.call()?.directs.get(&direct_key(a, b)).copied())
    }

    async fn route_conversation(
        &self,
        number: &E164,
        phone: &E164,
    ) -> Result<Option<ConversationId>, StoreError> {
        let state = self.call()?;
        Ok(state.routes.get(&(number.clone(), phone.clone())).map(|r| r.conversation_id))
    }

    async fn taken_routes(&self, pairs: &[Pair]) -> Result<HashSet<Pair>, StoreError> {
        let state = self.call()?;
        Ok(present(|p| state.routes.contains_key(p), pairs))
    }

    /// The meta item's condition (active and below `max_size`) fails as `ConversationInactive`,
    /// told apart as `GroupFull` when `detail` was one short of the limit.
    async fn add_participant(
        &self,
        detail: &ConversationDetail,
        participant: &Participant,
        max_size: usize,
    ) -> Result<(), StoreError> {
        let mut state = self.call()?;
        let cid = detail.conversation.id;
        let key = ParticipantKey::of(participant);
        let route = participant.route();
        let counts_proxy = detail.conversation.kind == ConversationKind::Group;
        let record = state.conversations.get(&cid);
        let mut tx = Conditions::default();
        tx.check(Slot::Meta, record.is_some_and(|c| c.is_active() && c.participant_count < max_size as i64));
        tx.check(Slot::Participant, !record.is_some_and(|c| c.participants.contains_key(&key)));
        if let Some(pair) = &route {
            tx.check(Slot::Route(pair.clone()), !state.routes.contains_key(pair));
            if counts_proxy {
                tx.check(Slot::Number(pair.0.clone()), state.can_carry_routes(&pair.0));
            }
        }
        match tx.verdict() {
            Err(StoreError::ConversationInactive) if detail.participants.len() + 1 >= max_size => {
                return Err(StoreError::GroupFull)
            }
            other => other?,
        }
        let record = state.conversations.get_mut(&cid).expect("checked above");
        record.participant_count += 1;
        record.admin_count += i64::from(participant.role == ParticipantRole::Admin);
        record.participants.insert(key, ParticipantRecord::new(detail, participant));
        if let Some(pair) = route {
            state.routes.insert(pair.clone(), route_record(cid, participant, None));
            if counts_proxy {
                state.add_routes(&pair.0, 1);
            }
        }
        Ok(())
    }

    /// The participant must still be there with the role read; `promote` becomes admin. Removing
    /// an admin without promoting anyone needs another admin (`LastAdmin`).
    async fn remove_participant(
        &self,
        detail: &ConversationDetail,
        participant: &Participant,
        promote: Option<&Participant>,
    ) -> Result<(), StoreError> {
        let mut state = self.call()?;
        let cid = detail.conversation.id;
        let key = ParticipantKey::of(participant);
        let admins_delta: i64 = match (participant.role, promote) {
            (ParticipantRole::Admin, None) => -1,
            _ => 0,
        };
        distinct_items(std::iter::once(key.clone()).chain(promote.map(ParticipantKey::of)))?;
        let route = participant.route();
        let counts_proxy = detail.conversation.kind == ConversationKind::Group;
        let record = state.conversations.get(&cid);
        let mut tx = Conditions::default();
        tx.check(
            Slot::Meta,
            record.is_some_and(|c| c.is_active() && (admins_delta == 0 || c.admin_count > 1)),
        );
        tx.check(Slot::Other, state.has_role(cid, participant));
        if let Some(pair) = &route {
            tx.check(Slot::Other, state.routes.get(pair).is_some_and(|r| r.conversation_id == cid));
            if counts_proxy {
                tx.check(Slot::Other, state.numbers.contains_key(&pair.0));
            }
        }
        if let Some(promoted) = promote {
            tx.check(Slot::Other, state.has_role(cid, promoted));
        }
        tx.verdict().map_err(|e| match e {
            StoreError::ConversationInactive if admins_delta < 0 => StoreError::LastAdmin,
            other => other,
        })?;
        let record = state.conversations.get_mut(&cid).expect("checked above");
        record.participant_count -= 1;
        record.admin_count += admins_delta;
        record.participants.remove(&key);
        if let Some(promoted) = promote {
            let line = record.participants.get_mut(&ParticipantKey::of(promoted)).expect("checked above");
            line.participant.role = ParticipantRole::Admin;
        }
        if let Some(pair) = route {
            state.routes.remove(&pair);
            if counts_proxy {
                state.add_routes(&pair.0, -1);
            }
        }
        Ok(())
    }

    /// The participant must still have the role read; demoting needs another admin.
    async fn set_role(
        &self,
        detail: &ConversationDetail,
        participant: &Participant,
        role: ParticipantRole,
    ) -> Result<(), StoreError> {
        let mut state = self.call()?;
        let cid = detail.conversation.id;
        let admins_delta: i64 = match (participant.role, role) {
            (ParticipantRole::Admin, ParticipantRole::Member) => -1,
            (ParticipantRole::Member, ParticipantRole::Admin) => 1,
            _ => return Ok(()),
        };
        let record = state.conversations.get(&cid);
        let mut tx = Conditions::default();
        tx.check(
            Slot::Meta,
            record.is_some_and(|c| c.is_active() && (admins_delta > 0 || c.admin_count > 1)),
        );
        tx.check(Slot::Other, state.has_role(cid, participant));
        tx.verdict().map_err(|e| match e {
            StoreError::ConversationInactive if admins_delta < 0 => StoreError::LastAdmin,
            other => other,
        })?;
        let record = state.conversations.get_mut(&cid).expect("checked above");
        record.admin_count += admins_delta;
        let line = record.participants.get_mut(&ParticipantKey::of(participant)).expect("checked above");
        line.participant.role = role;
        Ok(())
    }

    async fn close_conversation(&self, detail: &ConversationDetail) -> Result<(), StoreError> {
        self.call()?.close(detail, detail.participants.len())
    }

    /// As `close_conversation`, and only while its last activity is still `seen`.
    async fn close_idle(&self, detail: &ConversationDetail, seen: DateTime<Utc>) -> Result<(), StoreError> {
        let mut state = self.call()?;
        let record = state.conversations.get(&detail.conversation.id);
        if record.is_some_and(|c| c.is_active() && c.conversation.last_message_at != seen) {
            return Err(StoreError::Contention);
        }
        state.close(detail, detail.participants.len())
    }

    async fn set_idle_timer(
        &self,
        id: ConversationId,
        timer: IdleTimer,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let mut state = self.call()?;
        let record = state.conversations.get_mut(&id).filter(|c| c.is_active());
        let record = record.ok_or(StoreError::ConversationInactive)?;
        record.conversation.idle_timer = timer;
        record.idle_entry = deadline;
        Ok(())
    }

    /// The idle index, as the adapter reads it: shard by shard, each by deadline.
    async fn idle_due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<ConversationId>, StoreError> {
        let state = self.call()?;
        let mut due: Vec<(u32, DateTime<Utc>, ConversationId)> = state
            .conversations
            .iter()
            .filter_map(|(id, c)| c.idle_entry.filter(|at| *at < now).map(|at| (idle_shard(id), at, *id)))
            .collect();
        due.sort();
        Ok(due.into_iter().take(limit).map(|(_, _, id)| id).collect())
    }

    async fn reschedule_idle(
        &self,
        id: ConversationId,
        seen: DateTime<Utc>,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let mut state = self.call()?;
        match state.conversations.get_mut(&id) {
            Some(record) if record.is_active() && record.conversation.last_message_at == seen => {
                record.idle_entry = deadline;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// The user's inbox lines, latest activity first (then by conversation id, descending).
    async fn list_inbox(&self, user_id: UserId, page: &PageRequest) -> Result<InboxPage, StoreError> {
        let state = self.call()?;
        let key = ParticipantKey::User(user_id);
        let partition = format!("INBOX#{user_id}");
        let rows: Vec<_> = state
            .conversations
            .iter()
            .filter_map(|(cid, record)| record.participants.get(&key).map(|line| (cid, line)))
            .map(|(cid, line)| {
                let entry = InboxEntry {
                    id: *cid,
                    kind: line.kind,
                    name: line.title.clone().unwrap_or_default(),
                    status: line.status,
                    role: line.participant.role,
                    last_message_at: line.last_message_at,
                    last_message_preview: line.last_message_preview.clone(),
                    unread_count: line.participant.read.unread_count,
                    last_read_message_id: line.participant.read.last_read_message_id,
                    phone_number: line.counterpart_phone.clone(),
                };
                let (pk, sk) = (format!("CONV#{cid}"), format!("PART#USER#{user_id}"));
                Row::gsi1(pk, sk, partition.clone(), inbox_sort_key(line, *cid), entry)
            })
            .collect();
        let unread_total =
            page.cursor.is_none().then(|| rows.iter().map(|r| u64::from(r.item.unread_count)).sum());
        Ok(InboxPage { page: Listing::gsi1(partition, None, true).page(rows, page)?, unread_total })
    }

    /// As the adapter: a horizon that would not move writes nothing (checked first); otherwise
    /// the count is of the undeleted messages from others after `up_to`.
    async fn mark_read(
        &self,
        detail: &ConversationDetail,
        reader: &Participant,
        up_to: MessageId,
    ) -> Result<Option<ReadMark>, StoreError> {
        let mut state = self.call()?;
        let cid = detail.conversation.id;
        let Some(user_id) = reader.user_id() else { return Ok(None) };
        let current = state
            .conversations
            .get(&cid)
            .and_then(|c| c.participants.get(&ParticipantKey::User(user_id)))
            .map(|line| line.participant.read);
        let Some(current) = current else { return Ok(None) };
        if !current.moves_to(up_to) {
            return Ok(Some(ReadMark { state: current, moved: false }));
        }
        if !state.messages.contains_key(&(cid, up_to)) {
            return Err(StoreError::MessageNotFound);
        }
        let unread = state
            .messages
            .range((cid, up_to)..)
            .take_while(|((c, _), _)| *c == cid)
            .filter(|((_, id), m)| *id > up_to && !m.deleted && m.sender.user_id != Some(user_id))
            .count();
        let read = ReadState { last_read_message_id: Some(up_to), unread_count: unread as u32 };
        if let Some(line) = state
            .conversations
            .get_mut(&cid)
            .and_then(|c| c.participants.get_mut(&ParticipantKey::User(user_id)))
        {
            line.participant.read = read;
        }
        Ok(Some(ReadMark { state: read, moved: true }))
    }
}

/// The phones each part of a creation writes: one part unless it would exceed DynamoDB's 100
/// items per transaction. Counted as the adapter counts: the conversation, its web users, the
/// direct pair and the owner's check first; two items per phone (participant and route); one
/// route-count update per proxy number of the part (groups only); phones sorted by proxy.
fn creation_parts<'a>(new: &NewConversation<'a>) -> Vec<Vec<&'a Participant>> {
    let detail = new.detail;
    let counts_proxies = detail.conversation.kind == ConversationKind::Group;
    let mut phones: Vec<&Participant> = detail.participants.iter().filter(|p| p.route().is_some()).collect();
    phones.sort_by_key(|p| p.route().map(|(number, _)| number));
    let mut len = 1
        + detail.participants.iter().filter(|p| p.user_id().is_some()).count()
        + usize::from(new.direct_pair.is_some())
        + usize::from(new.sms_owner.is_some());
    let mut parts = Vec::new();
    let mut current = Vec::new();
    let mut numbers: HashSet<E164> = HashSet::new();
    for phone in phones {
        let (number, _) = phone.route().expect("filtered on routes");
        let needs_update = counts_proxies && !numbers.contains(&number);
        if len + numbers.len() + 2 + usize::from(needs_update) > TRANSACTION_LIMIT {
            parts.push(std::mem::take(&mut current));
            numbers.clear();
            len = 0;
        }
        current.push(phone);
        len += 2;
        if counts_proxies {
            numbers.insert(number);
        }
    }
    parts.push(current);
    parts
}

/// The idle index's shard of a conversation, as the adapter spreads it (the byte value of the
/// id's last character, modulo 4).
fn idle_shard(id: &ConversationId) -> u32 {
    id.to_string().bytes().last().map_or(0, |b| u32::from(b) % 4)
}

/// The inbox index's sort key: the line's activity (millisecond, sortable), then the
/// conversation id, as the adapter writes GSI1SK.
fn inbox_sort_key(line: &ParticipantRecord, cid: ConversationId) -> String {
    let at = line.last_message_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    format!("{at}#{cid}")
}

fn route_record(
    cid: ConversationId,
    participant: &Participant,
    inbox_user_id: Option<UserId>,
) -> RouteRecord {
    RouteRecord {
        conversation_id: cid,
        participant_id: participant.id,
        display_name: participant.display_name.clone(),
        inbox_user_id,
    }
}

impl State {
    /// One transaction of a creation: with `first`, the conversation, its web users, the direct
    /// pair and the owner's hold on the number; then `phones` with their routes and their
    /// proxies' route counts.
    fn create_part(
        &mut self,
        new: &NewConversation<'_>,
        first: bool,
        phones: &[&Participant],
    ) -> Result<(), StoreError> {
        let detail = new.detail;
        let cid = detail.conversation.id;
        let users: Vec<&Participant> = if first {
            detail.participants.iter().filter(|p| p.user_id().is_some()).collect()
        } else {
            Vec::new()
        };
        distinct_items(users.iter().chain(phones).map(|p| ParticipantKey::of(p)))?;
        let counts_proxies = detail.conversation.kind == ConversationKind::Group;
        let one_to_one_user = match detail.conversation.kind {
            ConversationKind::Sms => detail.participants.iter().find_map(Participant::user_id),
            _ => None,
        };
        let record = self.conversations.get(&cid);
        let exists =
            |p: &Participant| record.is_some_and(|c| c.participants.contains_key(&ParticipantKey::of(p)));
        let mut tx = Conditions::default();
        if first {
            tx.check(Slot::Meta, record.is_none());
            for user in &users {
                tx.check(Slot::Participant, !exists(user));
            }
            if let Some((a, b)) = new.direct_pair {
                tx.check(Slot::Direct, !self.directs.contains_key(&direct_key(a, b)));
            }
            if let Some((user_id, number)) = new.sms_owner {
                let holds = self.users.get(&user_id).is_some_and(|u| {
                    u.user.virtual_number.as_ref() == Some(number)
                        && u.user.active
                        && u.number_releasing.is_none()
                });
                tx.check(Slot::Owner, holds);
            }
        }
        let mut per_number: BTreeMap<E164, i64> = BTreeMap::new();
        for phone in phones {
            let pair = phone.route().expect("phones have routes");
            tx.check(Slot::Participant, !exists(phone));
            tx.check(Slot::Route(pair.clone()), !self.routes.contains_key(&pair));
            if counts_proxies {
                *per_number.entry(pair.0).or_default() += 1;
            }
        }
        for number in per_number.keys() {
            tx.check(Slot::Number(number.clone()), self.can_carry_routes(number));
        }
        tx.verdict()?;

        if first {
            let c = &detail.conversation;
            let record = ConversationRecord {
                conversation: c.clone(),
                participant_count: detail.participants.len() as i64,
                admin_count: detail.participants.iter().filter(|p| p.role == ParticipantRole::Admin).count()
                    as i64,
                participants: BTreeMap::new(),
                idle_entry: new.idle_deadline,
            };
            self.conversations.insert(cid, record);
            if let Some((a, b)) = new.direct_pair {
                self.directs.insert(direct_key(a, b), cid);
            }
        }
        let record = self.conversations.get_mut(&cid).expect("written by the first part");
        for participant in users.iter().chain(phones) {
            record
                .participants
                .insert(ParticipantKey::of(participant), ParticipantRecord::new(detail, participant));
        }
        for phone in phones {
            let pair = phone.route().expect("phones have routes");
            self.routes.insert(pair, route_record(cid, phone, one_to_one_user));
        }
        for (number, count) in per_number {
            self.add_routes(&number, count);
        }
        Ok(())
    }

    /// Closes the conversation as `detail` has it, if it still has `expected` participants:
    /// status closed, its routes freed (and their proxies' counts), its inbox lines marked, its
    /// direct pair freed. `ConversationInactive` when it is closed already; `Contention` for
    /// anything else that changed (a participant joined or left, a route is gone).
    pub(super) fn close(&mut self, detail: &ConversationDetail, expected: usize) -> Result<(), StoreError> {
        let cid = detail.conversation.id;
        let record = self.conversations.get(&cid);
        if record.is_some_and(|c| c.conversation.status == ConversationStatus::Closed) {
            return Err(StoreError::ConversationInactive);
        }
        let mut holds = record.is_some_and(|c| c.is_active() && c.participant_count == expected as i64);
        let mut per_number: BTreeMap<E164, i64> = BTreeMap::new();
        for participant in &detail.participants {
            if let Some(pair) = participant.route() {
                holds &= self.routes.get(&pair).is_some_and(|r| r.conversation_id == cid);
                if detail.conversation.kind == ConversationKind::Group {
                    *per_number.entry(pair.0).or_default() -= 1;
                }
            }
            if participant.user_id().is_some() {
                holds &=
                    record.is_some_and(|c| c.participants.contains_key(&ParticipantKey::of(participant)));
            }
        }
        holds &= per_number.keys().all(|n| self.numbers.contains_key(n));
        let direct = match (detail.conversation.kind, detail.user_ids().as_slice()) {
            (ConversationKind::Direct, [a, b]) => Some(direct_key(*a, *b)),
            _ => None,
        };
        if let Some(pair) = &direct {
            holds &= self.directs.get(pair) == Some(&cid);
        }
        if !holds {
            return Err(StoreError::Contention);
        }

        let record = self.conversations.get_mut(&cid).expect("checked above");
        record.conversation.status = ConversationStatus::Closed;
        record.idle_entry = None;
        for participant in &detail.participants {
            if participant.user_id().is_some() {
                let line =
                    record.participants.get_mut(&ParticipantKey::of(participant)).expect("checked above");
                line.status = ConversationStatus::Closed;
            }
        }
        for pair in detail.participants.iter().filter_map(Participant::route) {
            self.routes.remove(&pair);
        }
        for (number, delta) in per_number {
            self.add_routes(&number, delta);
        }
        if let Some(pair) = direct {
            self.directs.remove(&pair);
        }
        Ok(())
    }

    /// Whether a number may take group routes: in the pool and in nobody's hands.
    fn can_carry_routes(&self, number: &E164) -> bool {
        self.numbers.get(number).is_some_and(|n| n.owner_id.is_none())
    }

    /// A proxy number's route count moves; taking routes lists it as a proxy from then on.
    fn add_routes(&mut self, number: &E164, delta: i64) {
        if let Some(record) = self.numbers.get_mut(number) {
            record.route_count += delta;
            if delta > 0 {
                record.section = PoolSection::Proxy;
            }
        }
    }

    /// The participant is still in the conversation with the role the caller read.
    fn has_role(&self, cid: ConversationId, participant: &Participant) -> bool {
        self.conversations
            .get(&cid)
            .and_then(|c| c.participants.get(&ParticipantKey::of(participant)))
            .is_some_and(|p| p.participant.role == participant.role)
    }
}
