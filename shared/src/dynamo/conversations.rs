//! Conversations, participants, routes and the inbox.

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update,
};
use chrono::{DateTime, Utc};
use switchboard_core::domain::conversation::{
    ConversationDetail, ConversationKind, IdleTimer, Participant, ParticipantRole,
};
use switchboard_core::domain::ids::{ConversationId, MessageId, UserId};
use switchboard_core::domain::phone::E164;
use switchboard_core::domain::routing::Pair;
use switchboard_core::ports::conversations::{InboxPage, NewConversation, ReadMark};
use switchboard_core::ports::{ConversationStore, PageRequest, StoreError};

use super::items::{
    idle_close_after, idle_entry, participant_sk, stamp, ConversationItem, DirectItem, ParticipantItem,
    RouteItem,
};
use super::{built, from_item, key, keys, s, sdk_error, to_item, DynamoStore, Item, TxError};

/// What each item of a transaction is for, so a cancellation can be explained.
#[derive(Clone, Debug)]
pub(super) enum Slot {
    Meta,
    Participant,
    Route(Pair),
    Direct,
    Owner,
    Number(E164),
    Idempotency,
    Other,
}

/// Whether `chunk` writes `participant`'s item (used to know what a failed creation left).
fn chunk_writes(chunk: &[(TransactWriteItem, Slot)], participant: &Participant) -> bool {
    let sk = participant_sk(participant);
    chunk.iter().any(|(item, _)| {
        item.put().and_then(|p| p.item().get(keys::SK)).and_then(|v| v.as_s().ok()).is_some_and(|s| *s == sk)
    })
}

fn n(value: u32) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

#[async_trait]
impl ConversationStore for DynamoStore {
    async fn get_conversation(&self, id: ConversationId) -> Result<Option<ConversationDetail>, StoreError> {
        // A conversation is at most ~51 small items: one page, but every page is read regardless.
        let items = self.query_all(&keys::conversation_pk(id), None).await?;
        let mut conversation = None;
        let mut participants = Vec::new();
        for item in items {
            let sk = item.get(keys::SK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            if sk == keys::CONVERSATION_SK {
                conversation = Some(from_item::<ConversationItem>(item)?.into());
            } else if sk.starts_with(keys::PARTICIPANT_PREFIX) {
                participants.push(from_item::<ParticipantItem>(item)?.participant()?);
            }
        }
        participants.sort_by_key(|p| (p.joined_at, p.id));
        Ok(conversation.map(|conversation| ConversationDetail { conversation, participants }))
    }

    /// One transaction when it fits in 100 items (always, up to MAX_GROUP_SIZE = 50 with one
    /// proxy number). A group whose phones spread over many proxies can exceed that: then the
    /// conversation, its web users and the first phones go in the first transaction and the
    /// other phones in the next; if a later one fails, the conversation is closed again, which
    /// frees every route written so far, and the error is returned.
    async fn create_conversation(&self, new: NewConversation<'_>) -> Result<(), StoreError> {
        let NewConversation { detail, direct_pair, sms_owner: owner, .. } = new;
        let cid = detail.conversation.id;
        let counts_proxies = detail.conversation.kind == ConversationKind::Group;
        let one_to_one_user = match detail.conversation.kind {
            ConversationKind::Sms => detail.user_participants().find_map(Participant::user_id),
            _ => None,
        };
        let mut first = vec![(
            self.put_if_absent(to_item(&ConversationItem::new(detail, new.idle_deadline))?)?,
            Slot::Meta,
        )];
        for participant in detail.participants.iter().filter(|p| p.user_id().is_some()) {
            first.push((
                self.put_if_absent(to_item(&ParticipantItem::new(detail, participant))?)?,
                Slot::Participant,
            ));
        }
        if let Some((a, b)) = direct_pair {
            let item = DirectItem {
                pk: keys::direct_pk(a, b),
                sk: keys::UNIQUE_SK.into(),
                entity: "direct".into(),
                conversation_id: cid,
            };
            first.push((self.put_if_absent(to_item(&item)?)?, Slot::Direct));
        }
        if let Some((user_id, number)) = owner {
            let check = built(
                ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(keys::user_pk(user_id), keys::USER_SK)))
                    .condition_expression(
                        "virtualNumber = :n AND active = :true AND attribute_not_exists(numberReleasing)",
                    )
                    .expression_attribute_values(":n", s(number.as_str()))
                    .expression_attribute_values(":true", AttributeValue::Bool(true))
                    .build(),
            )?;
            first.push((TransactWriteItem::builder().condition_check(check).build(), Slot::Owner));
        }

        // Phones, grouped by proxy so a chunk updates each of its numbers once.
        let mut phones: Vec<&Participant> =
            detail.participants.iter().filter(|p| p.route().is_some()).collect();
        phones.sort_by_key(|p| p.route().map(|(number, _)| number));
        let mut chunks = Vec::new();
        let mut current = first;
        let mut per_number: BTreeMap<E164, i64> = BTreeMap::new();
        for participant in phones {
            let (number, _) = participant.route().expect("filtered on routes");
            let needs_update = counts_proxies && !per_number.contains_key(&number);
            if current.len() + per_number.len() + 2 + usize::from(needs_update) > super::TRANSACTION_LIMIT {
                self.append_route_counts(&mut current, std::mem::take(&mut per_number))?;
                chunks.push(std::mem::take(&mut current));
            }
            current.push((
                self.put_if_absent(to_item(&ParticipantItem::new(detail, participant))?)?,
                Slot::Participant,
            ));
            if let Some((put, pair)) = self.route_put(cid, participant, one_to_one_user)? {
                current.push((put, Slot::Route(pair)));
            }
            if counts_proxies {
                *per_number.entry(number).or_default() += 1;
            }
        }
        self.append_route_counts(&mut current, per_number)?;
        chunks.push(current);

        let mut committed: Vec<Participant> = Vec::new();
        for (i, chunk) in chunks.into_iter().enumerate() {
            let written: Vec<Participant> =
                detail.participants.iter().filter(|p| chunk_writes(&chunk, p)).cloned().collect();
            if let Err(err) = self.transact_slots(chunk).await {
                if i > 0 {
                    let partial = ConversationDetail {
                        conversation: detail.conversation.clone(),
                        participants: committed,
                    };
                    self.close_with_count(&partial, detail.participants.len(), None).await?;
                }
                return Err(err);
            }
            committed.extend(written);
        }
        Ok(())
    }

    async fn find_direct(&self, a: UserId, b: UserId) -> Result<Option<ConversationId>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::direct_pk(a, b), keys::UNIQUE_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(out.item.map(from_item::<DirectItem>).transpose()?.map(|d| d.conversation_id))
    }

    async fn route_conversation(
        &self,
        number: &E164,
        phone: &E164,
    ) -> Result<Option<ConversationId>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::route_pk(number), &keys::route_sk(phone))))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(out.item.map(from_item::<RouteItem>).transpose()?.map(|r| r.conversation_id))
    }

    async fn taken_routes(&self, pairs: &[Pair]) -> Result<HashSet<Pair>, StoreError> {
        let unique: HashSet<&Pair> = pairs.iter().collect();
        let keys = unique
            .into_iter()
            .map(|(number, phone)| key(keys::route_pk(number), &keys::route_sk(phone)))
            .collect();
        let mut taken = HashSet::new();
        for item in self.batch_get(keys).await? {
            let route: RouteItem = from_item(item)?;
            taken.insert((E164::from_stored(route.number), E164::from_stored(route.phone)));
        }
        Ok(taken)
    }

    async fn add_participant(
        &self,
        detail: &ConversationDetail,
        participant: &Participant,
        max_size: usize,
    ) -> Result<(), StoreError> {
        let cid = detail.conversation.id;
        let admins = i64::from(participant.role == ParticipantRole::Admin);
        let mut items = vec![
            (self.meta_update(cid, 1, admins, Some(max_size))?, Slot::Meta),
            (self.put_if_absent_sk(to_item(&ParticipantItem::new(detail, participant))?)?, Slot::Participant),
        ];
        if let Some((put, pair)) = self.route_put(cid, participant, None)? {
            items.push((put, Slot::Route(pair.clone())));
            if detail.conversation.kind == ConversationKind::Group {
                items.push((self.route_count_update(&pair.0, 1)?, Slot::Number(pair.0)));
            }
        }
        match self.transact_slots(items).await {
            // The meta condition covers "closed" and "full"; a concurrent add filled the group if
            // it was one short when read.
            Err(StoreError::ConversationInactive) if detail.participants.len() + 1 >= max_size => {
                Err(StoreError::GroupFull)
            }
            other => other,
        }
    }

    async fn remove_participant(
        &self,
        detail: &ConversationDetail,
        participant: &Participant,
        promote: Option<&Participant>,
    ) -> Result<(), StoreError> {
        let cid = detail.conversation.id;
        let admins_delta = match (participant.role, promote) {
            (ParticipantRole::Admin, None) => -1,
            _ => 0,
        };
        let delete = built(
            Delete::builder()
                .table_name(&self.table)
                .set_key(Some(self.participant_key(cid, participant)))
                .condition_expression("attribute_exists(SK) AND #role = :was")
                .expression_attribute_names("#role", "role")
                .expression_attribute_values(":was", s(role_str(participant.role)))
                .build(),
        )?;
        let mut items = vec![
            (self.meta_update(cid, -1, admins_delta, None)?, Slot::Meta),
            (TransactWriteItem::builder().delete(delete).build(), Slot::Other),
        ];
        if let Some(delete_route) = self.route_delete(cid, participant)? {
            items.push((delete_route, Slot::Other));
            if let (ConversationKind::Group, Some((number, _))) =
                (detail.conversation.kind, participant.route())
            {
                items.push((self.route_count_update(&number, -1)?, Slot::Other));
            }
        }
        if let Some(promoted) = promote {
            items.push((self.role_update(cid, promoted, ParticipantRole::Admin)?, Slot::Other));
        }
        self.transact_slots(items).await.map_err(|e| match e {
            StoreError::ConversationInactive if admins_delta < 0 => StoreError::LastAdmin,
            other => other,
        })
    }

    async fn set_role(
        &self,
        detail: &ConversationDetail,
        participant: &Participant,
        role: ParticipantRole,
    ) -> Result<(), StoreError> {
        let cid = detail.conversation.id;
        let admins_delta = match (participant.role, role) {
            (ParticipantRole::Admin, ParticipantRole::Member) => -1,
            (ParticipantRole::Member, ParticipantRole::Admin) => 1,
            _ => return Ok(()),
        };
        let items = vec![
            (self.meta_update(cid, 0, admins_delta, None)?, Slot::Meta),
            (self.role_update(cid, participant, role)?, Slot::Other),
        ];
        self.transact_slots(items).await.map_err(|e| match e {
            StoreError::ConversationInactive if admins_delta < 0 => StoreError::LastAdmin,
            other => other,
        })
    }

    async fn close_conversation(&self, detail: &ConversationDetail) -> Result<(), StoreError> {
        self.close_with_count(detail, detail.participants.len(), None).await
    }

    async fn close_idle(&self, detail: &ConversationDetail, seen: DateTime<Utc>) -> Result<(), StoreError> {
        self.close_with_count(detail, detail.participants.len(), Some(seen)).await
    }

    async fn set_idle_timer(
        &self,
        id: ConversationId,
        timer: IdleTimer,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let out = self
            .idle_update(id, deadline, Some(idle_close_after(timer)))
            .condition_expression("#status = :active")
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(StoreError::ConversationInactive),
            Err(e) => Err(sdk_error(e)),
        }
    }

    async fn idle_due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<ConversationId>, StoreError> {
        let shards = (0..keys::IDLE_SHARDS).map(keys::idle_pk);
        let due = self.gsi1_due(shards, &stamp(&now), limit).await?;
        Ok(due.iter().filter_map(|sk| sk.rsplit('#').next()?.parse().ok()).collect())
    }

    async fn reschedule_idle(
        &self,
        id: ConversationId,
        seen: DateTime<Utc>,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let out = self
            .idle_update(id, deadline, None)
            .condition_expression("#status = :active AND lastMessageAt = :seen")
            .expression_attribute_values(":seen", s(stamp(&seen)))
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(sdk_error(e)),
        }
    }

    async fn list_inbox(&self, user_id: UserId, page: &PageRequest) -> Result<InboxPage, StoreError> {
        self.inbox_page(user_id, page).await
    }

    async fn mark_read(
        &self,
        detail: &ConversationDetail,
        reader: &Participant,
        up_to: MessageId,
    ) -> Result<Option<ReadMark>, StoreError> {
        let Some(user_id) = reader.user_id() else { return Ok(None) };
        self.move_read_horizon(detail.conversation.id, user_id, reader.read, up_to).await
    }
}

fn is_condition_failure(err: &aws_sdk_dynamodb::error::SdkError<UpdateItemError>) -> bool {
    matches!(err.as_service_error(), Some(UpdateItemError::ConditionalCheckFailedException(_)))
}

impl DynamoStore {
    /// An UpdateItem of the meta item that moves its idle entry to `deadline` (or removes it)
    /// and, with `own`, sets its own timer (`Some(None)`: removes it); the caller adds the
    /// condition (`#status` and `:active` are bound).
    fn idle_update(
        &self,
        id: ConversationId,
        deadline: Option<DateTime<Utc>>,
        own: Option<Option<u32>>,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::conversation_pk(id), keys::CONVERSATION_SK)))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":active", s("active"));
        let (mut set, mut remove) = (Vec::new(), Vec::new());
        match deadline {
            Some(at) => {
                let (pk, sk) = idle_entry(id, &at);
                set.push("GSI1PK = :gpk, GSI1SK = :gsk");
                request = request
                    .expression_attribute_values(":gpk", s(pk))
                    .expression_attribute_values(":gsk", s(sk));
            }
            None => remove.push("GSI1PK, GSI1SK"),
        }
        match own {
            Some(Some(seconds)) => {
                set.push("idleCloseAfter = :own");
                request = request.expression_attribute_values(":own", n(seconds));
            }
            Some(None) => remove.push("idleCloseAfter"),
            None => {}
        }
        let mut expression = String::new();
        if !set.is_empty() {
            expression.push_str(&format!("SET {} ", set.join(", ")));
        }
        if !remove.is_empty() {
            expression.push_str(&format!("REMOVE {}", remove.join(", ")));
        }
        request.update_expression(expression.trim_end())
    }

    /// A transaction Put that only creates: the item must not exist yet.
    pub(super) fn put_if_absent(&self, item: Item) -> Result<TransactWriteItem, StoreError> {
        self.conditional_put(item, "attribute_not_exists(PK)")
    }

    fn conditional_put(&self, item: Item, condition: &str) -> Result<TransactWriteItem, StoreError> {
        let put = built(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression(condition)
                .build(),
        )?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn route_put(
        &self,
        conversation_id: ConversationId,
        participant: &Participant,
        inbox_user_id: Option<UserId>,
    ) -> Result<Option<(TransactWriteItem, Pair)>, StoreError> {
        let Some(route) = RouteItem::new(conversation_id, participant, inbox_user_id) else {
            return Ok(None);
        };
        let pair = participant.route().expect("an SMS participant has a route");
        Ok(Some((self.put_if_absent(to_item(&route)?)?, pair)))
    }

    fn route_delete(
        &self,
        conversation_id: ConversationId,
        participant: &Participant,
    ) -> Result<Option<TransactWriteItem>, StoreError> {
        let Some((number, phone)) = participant.route() else {
            return Ok(None);
        };
        // Only the route this conversation owns: never free a pair another conversation holds.
        let delete = built(
            Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(keys::route_pk(number), &keys::route_sk(phone))))
                .condition_expression("conversationId = :cid")
                .expression_attribute_values(":cid", s(conversation_id.to_string()))
                .build(),
        )?;
        Ok(Some(TransactWriteItem::builder().delete(delete).build()))
    }

    /// Runs `items` and turns a cancellation into the error of the first failed slot.
    pub(super) async fn transact_slots(
        &self,
        items: Vec<(TransactWriteItem, Slot)>,
    ) -> Result<(), StoreError> {
        let (writes, slots): (Vec<_>, Vec<_>) = items.into_iter().unzip();
        match self.transact(writes).await {
            Ok(()) => Ok(()),
            Err(TxError::Store(e)) => Err(e),
            Err(TxError::Cancelled(reasons)) => {
                let failed: Vec<&Slot> =
                    reasons.iter().zip(&slots).filter(|(r, _)| r.failed()).map(|(_, slot)| slot).collect();
                let routes: Vec<Pair> = failed
                    .iter()
                    .filter_map(|s| if let Slot::Route(p) = s { Some(p.clone()) } else { None })
                    .collect();
                if !routes.is_empty() {
                    return Err(StoreError::RouteTaken(routes));
                }
                if let Some(Slot::Number(number)) = failed.iter().find(|s| matches!(s, Slot::Number(_))) {
                    return Err(StoreError::ProxyUnavailable(number.clone()));
                }
                if failed.iter().any(|s| matches!(s, Slot::Idempotency)) {
                    return Err(StoreError::IdempotencyKeyUsed);
                }
                Err(match failed.first() {
                    Some(Slot::Participant) => StoreError::ParticipantExists,
                    Some(Slot::Direct) => StoreError::DirectExists,
                    Some(Slot::Owner) => StoreError::NumberChanged,
                    Some(Slot::Meta) => StoreError::ConversationInactive,
                    _ => StoreError::Contention,
                })
            }
        }
    }

    /// The `routeCount` updates of the proxy numbers a transaction adds routes to.
    fn append_route_counts(
        &self,
        items: &mut Vec<(TransactWriteItem, Slot)>,
        per_number: BTreeMap<E164, i64>,
    ) -> Result<(), StoreError> {
        for (number, count) in per_number {
            items.push((self.route_count_update(&number, count)?, Slot::Number(number)));
        }
        Ok(())
    }

    /// Keeps a proxy number's `routeCount`. Adding routes needs the number to be in the pool and
    /// in nobody's hands, and moves it to the PROXY# part of the pool index, where assignment
    /// never looks first and from which it cannot be assigned while it carries routes.
    fn route_count_update(&self, number: &E164, delta: i64) -> Result<TransactWriteItem, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::number_pk(number), keys::NUMBER_SK)))
            .expression_attribute_values(":d", AttributeValue::N(delta.to_string()));
        update = if delta > 0 {
            update
                .update_expression("SET GSI1SK = :sk ADD routeCount :d")
                .condition_expression("attribute_exists(PK) AND attribute_not_exists(ownerId)")
                .expression_attribute_values(":sk", s(keys::pool_sk(keys::PROXY_PREFIX, number)))
        } else {
            update.update_expression("ADD routeCount :d").condition_expression("attribute_exists(PK)")
        };
        Ok(TransactWriteItem::builder().update(built(update.build())?).build())
    }

    /// The meta update every membership change makes: keeps the counts, and fails (cancelling
    /// the transaction) when the conversation is not active or the change breaks a limit.
    fn meta_update(
        &self,
        conversation_id: ConversationId,
        participants_delta: i64,
        admins_delta: i64,
        max_size: Option<usize>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut condition = "#status = :active".to_string();
        let mut update = built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(keys::conversation_pk(conversation_id), keys::CONVERSATION_SK)))
                .update_expression("ADD participantCount :dp, adminCount :da")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":active", s("active"))
                .expression_attribute_values(":dp", AttributeValue::N(participants_delta.to_string()))
                .expression_attribute_values(":da", AttributeValue::N(admins_delta.to_string()))
                .build(),
        )?;
        if let Some(max) = max_size {
            condition.push_str(" AND participantCount < :max");
            update
                .expression_attribute_values
                .get_or_insert_with(HashMap::new)
                .insert(":max".into(), n(max as u32));
        }
        if admins_delta < 0 {
            // Never leave a conversation without an admin.
            condition.push_str(" AND adminCount > :one");
            update.expression_attribute_values.get_or_insert_with(HashMap::new).insert(":one".into(), n(1));
        }
        update.condition_expression = Some(condition);
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn participant_key(&self, conversation_id: ConversationId, participant: &Participant) -> Item {
        key(keys::conversation_pk(conversation_id), &participant_sk(participant))
    }

    /// Participant items share their partition with the conversation, so "absent" is on SK.
    fn put_if_absent_sk(&self, item: Item) -> Result<TransactWriteItem, StoreError> {
        self.conditional_put(item, "attribute_not_exists(SK)")
    }

    /// Changes a role, on condition that it is still the role read (so concurrent changes
    /// cannot make the admin count drift).
    fn role_update(
        &self,
        conversation_id: ConversationId,
        participant: &Participant,
        role: ParticipantRole,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(self.participant_key(conversation_id, participant)))
                .update_expression("SET #role = :role")
                .condition_expression("attribute_exists(SK) AND #role = :was")
                .expression_attribute_names("#role", "role")
                .expression_attribute_values(":role", s(role_str(role)))
                .expression_attribute_values(":was", s(role_str(participant.role)))
                .build(),
        )?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// One transaction: status closed, every route of `detail` freed (and its proxy numbers'
    /// counts), every inbox line marked, the direct pair freed. Conditioned on the conversation
    /// still having `expected` participants, so a participant added since `detail` was read
    /// cannot keep a route to a closed conversation: then `Contention`, and the caller re-reads.
    ///
    /// With `idle_since` (the idle sweep), also on condition that its last activity is still
    /// that: a message stored since it was read keeps it open (`Contention`). A closed
    /// conversation leaves the idle index.
    async fn close_with_count(
        &self,
        detail: &ConversationDetail,
        expected: usize,
        idle_since: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let cid = detail.conversation.id;
        let mut close = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::conversation_pk(cid), keys::CONVERSATION_SK)))
            .update_expression("SET #status = :closed REMOVE GSI1PK, GSI1SK")
            .condition_expression("#status = :active AND participantCount = :n")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":closed", s("closed"))
            .expression_attribute_values(":active", s("active"))
            .expression_attribute_values(":n", n(expected as u32))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(seen) = idle_since {
            close = close
                .condition_expression("#status = :active AND participantCount = :n AND lastMessageAt = :seen")
                .expression_attribute_values(":seen", s(stamp(&seen)));
        }
        let close = built(close.build())?;
        let mut items = vec![TransactWriteItem::builder().update(close).build()];
        let mut per_number: BTreeMap<E164, i64> = BTreeMap::new();
        for participant in &detail.participants {
            if let Some(delete_route) = self.route_delete(cid, participant)? {
                items.push(delete_route);
                if let (ConversationKind::Group, Some((number, _))) =
                    (detail.conversation.kind, participant.route())
                {
                    *per_number.entry(number).or_default() -= 1;
                }
            }
            if participant.user_id().is_some() {
                // The inbox line shows the conversation as closed.
                let update = built(
                    Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(self.participant_key(cid, participant)))
                        .update_expression("SET #status = :closed")
                        .condition_expression("attribute_exists(SK)")
                        .expression_attribute_names("#status", "status")
                        .expression_attribute_values(":closed", s("closed"))
                        .build(),
                )?;
                items.push(TransactWriteItem::builder().update(update).build());
            }
        }
        for (number, delta) in per_number {
            items.push(self.route_count_update(&number, delta)?);
        }
        let users: Vec<UserId> = detail.user_ids();
        if let (ConversationKind::Direct, [a, b]) = (detail.conversation.kind, users.as_slice()) {
            let delete = built(
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(keys::direct_pk(*a, *b), keys::UNIQUE_SK)))
                    .condition_expression("conversationId = :cid")
                    .expression_attribute_values(":cid", s(cid.to_string()))
                    .build(),
            )?;
            items.push(TransactWriteItem::builder().delete(delete).build());
        }
        debug_assert!(items.len() <= super::TRANSACTION_LIMIT);
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TxError::Store(e)) => Err(e),
            Err(TxError::Cancelled(reasons)) => {
                let closed = reasons
                    .first()
                    .and_then(|r| r.item.as_ref())
                    .and_then(|item| item.get("status"))
                    .and_then(|v| v.as_s().ok())
                    .is_some_and(|status| status == "closed");
                Err(if closed { StoreError::ConversationInactive } else { StoreError::Contention })
            }
        }
    }
}

fn role_str(role: ParticipantRole) -> &'static str {
    match role {
        ParticipantRole::Admin => "admin",
        ParticipantRole::Member => "member",
    }
}
