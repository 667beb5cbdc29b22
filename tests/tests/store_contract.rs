//! The storage contract: every scenario below is written once against the ports
//! (`switchboard_core::ports::Stores`) and run twice by [`contract!`]: over the in-memory fake
//! (`memory::<scenario>`) and over the DynamoDB adapter on a fresh table of the local server
//! (`dynamo::<scenario>`). The fake is what the use-case tests run on; these runs are what make
//! it trustworthy.
//!
//! Known differences of the two that the scenarios deliberately do not assert (noted by the
//! fake's author, and true of real DynamoDB rather than of the local server):
//!
//! * (a) DynamoDB may return a cursor for an exactly-full last page, which then leads to an
//!   empty page; the fake never does. The local server does the same whenever the Query saw an
//!   item after the page that the key condition then refused (a `begins_with` listing). So the
//!   scenarios follow cursors until there is none and accept one empty last page, and never
//!   assert "no cursor" on a page that is exactly full.
//! * (b) GSI reads (directory, pool, inbox, `delivery_by_sid`, the outbox's `due_jobs`) are
//!   eventually consistent in DynamoDB; the local server and the fake answer them immediately.
//!   The scenarios read those listings right after writing: on real DynamoDB that is not
//!   guaranteed. Likewise (not in the fake's notes) `connections_of` is a base-table Query
//!   without `ConsistentRead`.
//!
//! Every other difference makes a scenario fail; such a scenario asserts what the port's
//! documentation promises and is ignored on the side that breaks it, with the reason.

use std::collections::HashSet;
use std::future::Future;
use std::sync::OnceLock;

use chrono::{DateTime, Duration, DurationRound, Utc};
use switchboard::core::domain::contact::{normalize_contact_name, Contact};
use switchboard::core::domain::conversation::{
    Conversation, ConversationDetail, ConversationKind, ConversationStatus, IdleTimer, Member, Participant,
    ParticipantRole, ReadState,
};
use switchboard::core::domain::ids::{
    ConnectionId, ContactId, ConversationId, MessageId, ParticipantId, UserId,
};
use switchboard::core::domain::message::{
    segments, sms_body, Delivery, DeliveryStatus, Message, Sender, SenderKind, TENTATIVE_FAILURE_RANK,
};
use switchboard::core::domain::number::{NumberStatus, PoolNumber};
use switchboard::core::domain::phone::E164;
use switchboard::core::domain::realtime::Connection;
use switchboard::core::domain::user::User;
use switchboard::core::ports::conversations::{NewConversation, ReadMark};
use switchboard::core::ports::media_copies::CopyOutcome;
use switchboard::core::ports::messages::{IdempotentSend, MessageChange, NewMessage};
use switchboard::core::ports::outbox::{AttemptOutcome, Claim, ClaimedDelivery};
use switchboard::core::ports::queue::Job;
use switchboard::core::ports::users::{LoginKey, ProfileChanges};
use switchboard::core::ports::webhooks::{InboundWrite, OptChange, StatusOutcome, StatusUpdate};
use switchboard::core::ports::{Page, PageRequest, StoreError, Stores, UniqueField, MAX_PAGE_SIZE};
use switchboard::dynamo::DynamoStore;

/// Runs each scenario over both stores. An optional `dynamo: #[ignore = "..."]` (or `memory:`)
/// marks the run of one side only.
macro_rules! contract {
    ($($name:ident $([memory: #[$mem:meta]])? $([dynamo: #[$dyn:meta]])?;)*) => {
        mod memory {
            $(
                $(#[$mem])?
                #[tokio::test]
                async fn $name() {
                    super::$name(&switchboard::core::memory::MemoryStore::new()).await;
                }
            )*
        }
        mod dynamo {
            $(
                $(#[$dyn])?
                #[tokio::test]
                async fn $name() {
                    super::$name(&super::dynamo_store().await).await;
                }
            )*
        }
    };
}

contract! {
    // Users
    email_and_username_are_unique_and_usernames_case_insensitive;
    users_are_read_back_as_written_and_in_the_order_asked;
    a_profile_email_change_moves_the_uniqueness_record;
    deactivation_frees_the_number_leaves_the_directory_and_ends_sessions;
    // Number pool
    the_pool_adds_removes_and_lists_numbers_by_status;
    assignment_takes_only_a_free_number_for_an_active_user_without_one;
    release_returns_the_number_to_the_free_pool;
    marking_a_number_releasing_blocks_new_sms_conversations_on_it;
    // Conversations
    a_route_in_use_is_route_taken_naming_every_taken_pair;
    a_direct_pair_has_one_conversation_in_either_order;
    a_proxy_number_that_went_to_a_user_is_proxy_unavailable;
    adding_a_participant_checks_membership_size_and_status;
    removing_a_participant_promotes_and_never_leaves_no_admin;
    set_role_changes_only_the_role_that_was_read;
    closing_frees_routes_direct_pair_and_route_counts;
    closing_after_a_concurrent_add_is_contention_until_read_again;
    closing_a_closed_conversation_is_inactive_and_an_unknown_one_contention;
    the_idle_index_holds_deadlines_and_the_idle_close_needs_the_activity_it_read;
    the_inbox_lists_latest_activity_first_after_messages;
    read_state_counts_messages_from_others_after_a_horizon_that_only_moves_forward;
    the_inbox_sums_every_lines_unread_on_its_first_page_only;
    a_group_too_big_for_one_transaction_is_written_whole_in_parts;
    a_group_whose_later_part_fails_is_left_closed_with_its_routes_freed;
    // Messages
    an_idempotency_key_is_used_once_per_sender_and_expires;
    a_message_needs_an_active_conversation_and_every_inbox_line;
    a_send_writes_each_delivery_ahead_into_the_outbox_with_its_text;
    only_the_author_changes_a_message_and_a_deleted_one_is_gone;
    history_is_newest_first_with_each_messages_deliveries;
    history_forwards_resumes_after_any_message_with_each_messages_deliveries;
    opt_outs_are_per_number_and_phone;
    // Outbox: claims
    a_claim_counts_the_attempt_and_leases_it_so_a_second_claim_finds_it_leased;
    after_the_lease_a_claim_reconciles_the_attempt_still_in_flight;
    a_retry_is_reconciled_only_when_its_attempt_was_ambiguous;
    a_retry_waits_in_the_outbox_until_its_due_time;
    a_claim_compares_due_instants_whatever_digits_their_text_has;
    a_delivery_out_of_the_outbox_is_done_and_an_unknown_one_unknown;
    // Outbox: recording attempts
    a_superseded_attempt_records_nothing;
    an_accepted_attempt_leaves_the_outbox_with_its_sid_and_without_the_last_error;
    an_accepted_attempt_after_a_callback_keeps_the_later_status_and_adds_the_sid;
    an_accepted_attempt_after_a_callback_of_another_sid_keeps_that_sid;
    a_refusal_records_status_and_error_out_of_the_outbox_only_while_pending;
    an_opted_out_refusal_records_the_opt_out_in_the_same_write;
    a_tentative_give_up_is_overruled_by_any_callback;
    a_definite_give_up_is_a_final_failure;
    // Outbox: the sweeper's reads, an operator's redrive
    due_jobs_are_the_outbox_entries_due_strictly_before_the_cutoff_at_most_limit;
    outbox_entries_leave_on_accept_refuse_give_up_and_an_overtaking_callback;
    a_callback_takes_a_delivery_out_of_the_outbox_and_one_naming_its_sid_indexes_it;
    a_redrive_resets_only_the_failure_that_was_read_and_supersedes_its_sid;
    // Webhooks
    the_inbound_lookup_names_route_owner_and_opt_out;
    an_inbound_message_sid_is_stored_once;
    an_inbound_text_to_a_closed_conversation_is_inactive_and_not_remembered;
    a_group_text_waits_in_the_outbox_as_a_relay_and_fans_out_once;
    an_inbound_mms_waits_in_the_outbox_for_its_media_copy_which_lands_once;
    fanning_out_after_a_participant_left_is_contention_with_nothing_written;
    statuses_only_move_forward_in_every_order;
    read_comes_after_delivered_and_never_over_a_failure;
    a_callback_adds_its_sid_once_and_delivery_by_sid_finds_it;
    a_callback_for_an_unknown_delivery_is_unknown;
    // Connections
    connections_are_put_read_expired_and_deleted;
    // Pagination
    directory_pages_follow_cursors_under_a_prefix;
    pool_pages_honour_limits_and_return_every_number_once;
    inbox_and_history_pages_return_every_item_once_in_order;
    a_cursor_only_resumes_the_listing_that_made_it;
    a_cursor_whose_item_is_gone_resumes_after_its_place;
    // Contacts
    a_contact_phone_is_unique_per_owner_even_under_concurrent_creates;
    contacts_are_private_to_their_owner;
    a_rename_moves_the_contact_in_the_name_listing_and_renames_its_phone;
    a_phone_change_moves_the_claim_and_a_stale_or_gone_contact_is_refused;
    deleting_a_contact_frees_its_phone;
    contact_pages_follow_cursors_by_name_under_a_prefix;
}

// ---------------------------------------------------------------------------------------------
// The DynamoDB side: a fresh table per test on the local server.

async fn dynamo_store() -> DynamoStore {
    static SPEC: OnceLock<xtask::table::TableSpec> = OnceLock::new();
    assert!(
        std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok(),
        "AWS_ENDPOINT_URL_DYNAMODB is not set: start the local DynamoDB server (make test does)"
    );
    let spec = SPEC.get_or_init(|| {
        xtask::table::spec_from_template(&xtask::table::template_path()).expect("template.yaml")
    });
    let sdk_config = aws_config::load_from_env().await;
    let (client, _) = DynamoStore::client_from_config(&sdk_config);
    let table = format!("contract-{}", ulid::Ulid::new().to_string().to_lowercase());
    xtask::table::ensure_table(&client, &table, spec).await.expect("create the contract table");
    DynamoStore::new(client, table)
}

// ---------------------------------------------------------------------------------------------
// Fixtures (as the fake's own tests have them, over any store).

/// A phone (`+14155550000` + n).
fn phone(n: u32) -> E164 {
    E164::from_stored(format!("+1415555{n:04}"))
}

/// One of our Twilio numbers (`+16285550000` + n).
fn number(n: u32) -> E164 {
    E164::from_stored(format!("+1628555{n:04}"))
}

fn user(username: &str) -> User {
    let now = Utc::now();
    User {
        id: UserId::new(),
        username: username.to_string(),
        email: format!("{}@example.com", username.trim().to_lowercase()),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        first_name: None,
        last_name: None,
        phone_number: None,
        virtual_number: None,
        active: true,
        token_version: 0,
        created_at: now,
        updated_at: now,
    }
}

async fn registered<S: Stores>(store: &S, username: &str) -> User {
    let user = user(username);
    store.create_user(&user).await.unwrap();
    user
}

/// A registered user holding pool number `n` (as stored afterwards).
async fn with_number<S: Stores>(store: &S, username: &str, n: u32) -> User {
    let user = registered(store, username).await;
    store.add_number(&number(n), Utc::now()).await.unwrap();
    store.assign_number(user.id, &number(n), Utc::now()).await.unwrap();
    store.get_user(user.id).await.unwrap().unwrap()
}

async fn pool<S: Stores>(store: &S, numbers: impl IntoIterator<Item = u32>) {
    for n in numbers {
        store.add_number(&number(n), Utc::now()).await.unwrap();
    }
}

fn member(user: &User, role: ParticipantRole) -> Participant {
    Participant {
        id: ParticipantId::new(),
        member: Member::User { user_id: user.id },
        display_name: user.username.clone(),
        role,
        joined_at: Utc::now(),
        read: Default::default(),
    }
}

/// A phone texting through `proxy`.
fn texter(phone: &E164, proxy: &E164) -> Participant {
    Participant {
        id: ParticipantId::new(),
        member: Member::Sms { phone: phone.clone(), proxy_number: proxy.clone() },
        display_name: phone.to_string(),
        role: ParticipantRole::Member,
        joined_at: Utc::now(),
        read: Default::default(),
    }
}

fn detail(
    kind: ConversationKind,
    creator: &User,
    name: Option<&str>,
    participants: Vec<Participant>,
) -> ConversationDetail {
    let now = Utc::now();
    ConversationDetail {
        conversation: Conversation {
            id: ConversationId::new(),
            kind,
            name: name.map(str::to_string),
            description: None,
            status: ConversationStatus::Active,
            created_by: creator.id,
            created_at: now,
            last_message_at: now,
            last_message_preview: None,
            idle_timer: Default::default(),
        },
        participants,
    }
}

fn group_detail(admin: &User, members: &[&User], phones: &[(E164, E164)]) -> ConversationDetail {
    let mut participants = vec![member(admin, ParticipantRole::Admin)];
    participants.extend(members.iter().map(|u| member(u, ParticipantRole::Member)));
    participants.extend(phones.iter().map(|(p, proxy)| texter(p, proxy)));
    detail(ConversationKind::Group, admin, Some("Group"), participants)
}

fn plain(detail: &ConversationDetail) -> NewConversation<'_> {
    NewConversation { detail, direct_pair: None, sms_owner: None, idle_deadline: None }
}

/// A group created by `admin` (its admin) with `members` and `phones` (phone, proxy).
async fn group<S: Stores>(
    store: &S,
    admin: &User,
    members: &[&User],
    phones: &[(E164, E164)],
) -> ConversationDetail {
    let detail = group_detail(admin, members, phones);
    store.create_conversation(plain(&detail)).await.unwrap();
    detail
}

/// `owner`'s SMS conversation with `phone` through the owner's number.
fn sms_detail(owner: &User, phone: &E164) -> ConversationDetail {
    let number = owner.virtual_number.clone().expect("the owner holds a number");
    let participants = vec![member(owner, ParticipantRole::Admin), texter(phone, &number)];
    detail(ConversationKind::Sms, owner, None, participants)
}

async fn sms_conversation<S: Stores>(store: &S, owner: &User, phone: &E164) -> ConversationDetail {
    let detail = sms_detail(owner, phone);
    let number = owner.virtual_number.as_ref().unwrap();
    let new = NewConversation {
        detail: &detail,
        direct_pair: None,
        sms_owner: Some((owner.id, number)),
        idle_deadline: None,
    };
    store.create_conversation(new).await.unwrap();
    detail
}

fn direct_detail(a: &User, b: &User) -> ConversationDetail {
    let participants = vec![member(a, ParticipantRole::Admin), member(b, ParticipantRole::Admin)];
    detail(ConversationKind::Direct, a, None, participants)
}

async fn direct<S: Stores>(store: &S, a: &User, b: &User) -> ConversationDetail {
    let detail = direct_detail(a, b);
    let new = NewConversation {
        detail: &detail,
        direct_pair: Some((a.id, b.id)),
        sms_owner: None,
        idle_deadline: None,
    };
    store.create_conversation(new).await.unwrap();
    detail
}

fn message_at(detail: &ConversationDetail, author: &User, text: &str, at: DateTime<Utc>) -> Message {
    Message {
        id: MessageId::new(),
        conversation_id: detail.conversation.id,
        sender: Sender {
            kind: SenderKind::User,
            user_id: Some(author.id),
            phone_number: None,
            display_name: author.username.clone(),
        },
        content: text.to_string(),
        media_urls: Vec::new(),
        media_content_types: Vec::new(),
        media_keys: Vec::new(),
        twilio_sid: None,
        created_at: at,
        edited_at: None,
        deleted: false,
    }
}

fn message(detail: &ConversationDetail, author: &User, text: &str) -> Message {
    message_at(detail, author, text, Utc::now())
}

/// A text from `from` that Twilio delivered to us with MessageSid `sid`.
fn inbound(detail: &ConversationDetail, from: &E164, sid: &str) -> Message {
    Message {
        id: MessageId::new(),
        conversation_id: detail.conversation.id,
        sender: Sender {
            kind: SenderKind::Sms,
            user_id: None,
            phone_number: Some(from.clone()),
            display_name: from.to_string(),
        },
        content: "hello".into(),
        media_urls: Vec::new(),
        media_content_types: Vec::new(),
        media_keys: Vec::new(),
        twilio_sid: Some(sid.into()),
        created_at: Utc::now(),
        edited_at: None,
        deleted: false,
    }
}

fn inbound_write<'a>(
    sid: &'a str,
    message: Option<&'a Message>,
    inbox_user_id: Option<UserId>,
) -> InboundWrite<'a> {
    InboundWrite {
        message_sid: sid,
        message,
        preview: "hello".into(),
        inbox_user_id,
        opt_change: None,
        relay: false,
    }
}

/// A `pending` delivery of `message` to every phone of `detail`, written ahead as a send writes
/// it (`Delivery::new`: the group's "Name: text", due at the message's creation).
fn pending_deliveries(detail: &ConversationDetail, message: &Message) -> Vec<Delivery> {
    let body = sms_body(Some(&message.sender.display_name), &message.content);
    detail
        .participants
        .iter()
        .filter_map(|p| p.route().map(|(from, to)| (p.id, from, to)))
        .map(|(participant_id, from, to)| {
            Delivery::new(message, participant_id, from, to, &body, segments(&body), false)
        })
        .collect()
}

fn new_message<'a>(
    detail: &'a ConversationDetail,
    message: &'a Message,
    deliveries: &'a [Delivery],
) -> NewMessage<'a> {
    NewMessage {
        detail,
        message,
        deliveries,
        idempotency: None,
        preview: message.content.clone(),
        idle_deadline: None,
    }
}

/// Stores `message` with a pending delivery per phone; returns the deliveries.
async fn send<S: Stores>(store: &S, detail: &ConversationDetail, message: &Message) -> Vec<Delivery> {
    let deliveries = pending_deliveries(detail, message);
    store.create_message(&new_message(detail, message, &deliveries)).await.unwrap();
    deliveries
}

/// The participant of `detail` that is this phone.
fn participant_of(detail: &ConversationDetail, phone: &E164) -> Participant {
    detail
        .participants
        .iter()
        .find(|p| matches!(&p.member, Member::Sms { phone: q, .. } if q == phone))
        .cloned()
        .expect("a participant with that phone")
}

/// A group with one phone (through pool number 1) and one message to it: its pending delivery.
async fn one_delivery<S: Stores>(store: &S) -> (ConversationDetail, User, Delivery) {
    pool(store, [1]).await;
    let ada = registered(store, "ada").await;
    let detail = group(store, &ada, &[], &[(phone(1), number(1))]).await;
    let delivery = send(store, &detail, &message(&detail, &ada, "hi")).await.remove(0);
    (detail, ada, delivery)
}

/// The delivery as stored, read through its message.
async fn stored_delivery<S: Stores>(store: &S, delivery: &Delivery) -> Delivery {
    let stored = store.get_message(delivery.message_id).await.unwrap().expect("the message is stored");
    stored
        .deliveries
        .into_iter()
        .find(|d| d.participant_id == delivery.participant_id)
        .expect("the delivery is stored")
}

fn callback(delivery: &Delivery, status: DeliveryStatus, sid: Option<&str>) -> StatusUpdate {
    StatusUpdate {
        delivery: delivery.id(),
        status,
        sid: sid.map(str::to_string),
        error_code: None,
        error_message: None,
    }
}

// The outbox.

/// The lease every claim of the scenarios takes.
const LEASE: std::time::Duration = std::time::Duration::from_secs(120);

async fn claim<S: Stores>(store: &S, delivery: &Delivery, now: DateTime<Utc>) -> Claim {
    store.claim_delivery(delivery.id(), now, LEASE).await.unwrap()
}

async fn claimed<S: Stores>(store: &S, delivery: &Delivery, now: DateTime<Utc>) -> ClaimedDelivery {
    match claim(store, delivery, now).await {
        Claim::Claimed(claimed) => *claimed,
        other => panic!("not claimed at {now:?}: {other:?}"),
    }
}

/// Records how the claimed attempt ended; whether it was recorded.
async fn finish<S: Stores>(
    store: &S,
    claimed: &ClaimedDelivery,
    outcome: &AttemptOutcome,
    now: DateTime<Utc>,
) -> bool {
    store.finish_attempt(&claimed.delivery, claimed.attempt, outcome, now).await.unwrap()
}

/// One attempt, claimed and recorded now.
async fn attempt<S: Stores>(store: &S, delivery: &Delivery, outcome: &AttemptOutcome) -> ClaimedDelivery {
    let now = Utc::now();
    let claimed = claimed(store, delivery, now).await;
    assert!(finish(store, &claimed, outcome, now).await, "{outcome:?} recorded");
    claimed
}

fn accepted(sid: &str) -> AttemptOutcome {
    AttemptOutcome::Accepted { sid: sid.into(), status: DeliveryStatus::Queued }
}

fn retry(at: DateTime<Utc>, ambiguous: bool) -> AttemptOutcome {
    let message = if ambiguous { "no answer" } else { "503" };
    AttemptOutcome::Retry { at, code: None, message: message.into(), ambiguous }
}

fn invalid_to() -> AttemptOutcome {
    AttemptOutcome::Refused {
        status: DeliveryStatus::Failed,
        code: Some(21211),
        message: "invalid To".into(),
    }
}

fn stop() -> AttemptOutcome {
    AttemptOutcome::Refused { status: DeliveryStatus::OptedOut, code: Some(21610), message: "STOP".into() }
}

fn gave_up(tentative: bool) -> AttemptOutcome {
    let (code, message) = if tentative { (None, "no answer") } else { (Some(20429), "throttled") };
    AttemptOutcome::GaveUp { code, message: message.into(), tentative }
}

/// The outbox's jobs due before `before`, every one (the stores list at most a few here).
async fn due<S: Stores>(store: &S, before: DateTime<Utc>) -> Vec<Job> {
    store.due_jobs(before, 100).await.unwrap()
}

/// The same, as a set (the order is by shard, then due time).
async fn due_set<S: Stores>(store: &S, before: DateTime<Utc>) -> HashSet<Job> {
    let jobs = due(store, before).await;
    let set: HashSet<Job> = jobs.iter().copied().collect();
    assert_eq!(set.len(), jobs.len(), "each job once: {jobs:?}");
    set
}

/// Far enough ahead that every outbox entry of a scenario is due before it.
fn whenever() -> DateTime<Utc> {
    Utc::now() + Duration::days(1)
}

/// The pool number as listed (every section).
async fn pool_number<S: Stores>(store: &S, n: &E164) -> Option<PoolNumber> {
    let all = all_pages(100, |page| async move { store.list_numbers(None, &page).await }).await;
    all.into_iter().find(|p| p.phone_number == *n)
}

async fn listed<S: Stores>(store: &S, status: NumberStatus) -> Vec<E164> {
    let page = store.list_numbers(Some(status), &PageRequest::first(100)).await.unwrap();
    page.items.into_iter().map(|n| n.phone_number).collect()
}

async fn directory<S: Stores>(store: &S) -> Vec<String> {
    let all = all_pages(100, |page| async move { store.list_active_users(None, &page).await }).await;
    all.into_iter().map(|u| u.username).collect()
}

fn error<T: std::fmt::Debug>(result: Result<T, StoreError>) -> StoreError {
    result.expect_err("the store refused")
}

/// Every item of a listing, following its cursors: each page at most `limit` items, every page
/// before the last full, and (known difference (a)) at most one empty page, the last.
async fn all_pages<T, F, Fut>(limit: u32, mut list: F) -> Vec<T>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = Result<Page<T>, StoreError>>,
{
    let mut items = Vec::new();
    let mut request = PageRequest::first(limit);
    for _ in 0..1000 {
        let page = list(request.clone()).await.expect("a page");
        assert!(page.items.len() <= limit as usize, "{} items for a limit of {limit}", page.items.len());
        let done = page.next_cursor.is_none();
        if !done {
            assert_eq!(page.items.len(), limit as usize, "a page before the last is full");
        }
        if page.items.is_empty() {
            assert!(done, "an empty page is the last");
        }
        items.extend(page.items);
        match page.next_cursor {
            Some(cursor) => request = PageRequest { limit, cursor: Some(cursor) },
            None => return items,
        }
    }
    panic!("a listing that never ends");
}

fn resume<T>(page: &Page<T>, limit: u32) -> PageRequest {
    PageRequest { limit, cursor: page.next_cursor.clone() }
}

fn invalid_cursor<T>(listed: Result<Page<T>, StoreError>) -> bool {
    matches!(listed, Err(StoreError::InvalidCursor))
}

// ---------------------------------------------------------------------------------------------
// Users

async fn email_and_username_are_unique_and_usernames_case_insensitive<S: Stores>(store: &S) {
    let ada = registered(store, "Ada").await;

    let same_email = User { email: ada.email.clone(), ..user("someone") };
    assert!(matches!(error(store.create_user(&same_email).await), StoreError::Taken(UniqueField::Email)));
    let same_username = User { email: "other@example.com".into(), ..user(" ADA ") };
    assert!(matches!(
        error(store.create_user(&same_username).await),
        StoreError::Taken(UniqueField::Username)
    ));
    // Both taken: the email is named.
    let both = User { id: UserId::new(), ..ada.clone() };
    assert!(matches!(error(store.create_user(&both).await), StoreError::Taken(UniqueField::Email)));
    // The same id again with fresh values: nothing to name but a conflict.
    let same_id = User { id: ada.id, ..user("fresh") };
    assert!(matches!(error(store.create_user(&same_id).await), StoreError::Contention));

    for loser in [&same_email, &same_username, &both] {
        assert_eq!(store.get_user(loser.id).await.unwrap(), None, "{}", loser.username);
    }
    assert_eq!(store.get_user(ada.id).await.unwrap(), Some(ada.clone()));
    assert_eq!(store.find_user_id(&LoginKey::Username("aDa".into())).await.unwrap(), Some(ada.id));
    assert_eq!(store.find_user_id(&LoginKey::Email("ADA@Example.com".into())).await.unwrap(), Some(ada.id));
    assert_eq!(store.find_user_id(&LoginKey::Username("fresh".into())).await.unwrap(), None);
    assert_eq!(store.find_user_id(&LoginKey::Email("other@example.com".into())).await.unwrap(), None);
    assert_eq!(directory(store).await, ["Ada"]);
}

async fn users_are_read_back_as_written_and_in_the_order_asked<S: Stores>(store: &S) {
    let mut ada = user("ada");
    ada.first_name = Some("Ada".into());
    ada.last_name = Some("Lovelace".into());
    ada.phone_number = Some(phone(7));
    store.create_user(&ada).await.unwrap();
    let bob = registered(store, "bob").await;

    assert_eq!(store.get_user(ada.id).await.unwrap().as_ref(), Some(&ada));
    assert_eq!(store.get_user(UserId::new()).await.unwrap(), None);
    let users = store.get_users(&[bob.id, UserId::new(), ada.id, bob.id]).await.unwrap();
    assert_eq!(users, [bob.clone(), ada.clone(), bob.clone()], "unknown ids skipped, order and repeats kept");
    assert!(store.get_users(&[]).await.unwrap().is_empty());
}

async fn a_profile_email_change_moves_the_uniqueness_record<S: Stores>(store: &S) {
    let ada = registered(store, "ada").await;
    let bob = registered(store, "bob").await;

    let changes = ProfileChanges {
        first_name: Some(Some("Ada".into())),
        phone_number: Some(Some(phone(1))),
        email: Some("ada@new.example.com".into()),
        ..Default::default()
    };
    let updated = store.update_profile(&ada, &changes).await.unwrap();

    assert_eq!(
        (updated.email.as_str(), updated.first_name.as_deref(), updated.phone_number.clone()),
        ("ada@new.example.com", Some("Ada"), Some(phone(1)))
    );
    assert_eq!(store.get_user(ada.id).await.unwrap(), Some(updated.clone()));
    let by_email = |e: &str| LoginKey::Email(e.to_string());
    assert_eq!(store.find_user_id(&by_email("ada@new.example.com")).await.unwrap(), Some(ada.id));
    assert_eq!(store.find_user_id(&by_email("ada@example.com")).await.unwrap(), None);
    // The old address is free again.
    let newcomer = User { email: "ada@example.com".into(), ..user("newcomer") };
    store.create_user(&newcomer).await.unwrap();

    // A taken address: refused, nothing changes.
    let taken =
        ProfileChanges { email: Some(bob.email.clone()), first_name: Some(None), ..Default::default() };
    assert!(matches!(
        error(store.update_profile(&updated, &taken).await),
        StoreError::Taken(UniqueField::Email)
    ));
    assert_eq!(store.get_user(ada.id).await.unwrap(), Some(updated.clone()));
    // From a stale read (the old address is no longer this user's): contention.
    let stale = ProfileChanges { email: Some("ada@third.example.com".into()), ..Default::default() };
    assert!(matches!(error(store.update_profile(&ada, &stale).await), StoreError::Contention));
    assert_eq!(store.find_user_id(&by_email("ada@third.example.com")).await.unwrap(), None);
    // Clearing a field; the same email is no change.
    let clear =
        ProfileChanges { first_name: Some(None), email: Some(updated.email.clone()), ..Default::default() };
    let cleared = store.update_profile(&updated, &clear).await.unwrap();
    assert_eq!((cleared.first_name, cleared.email), (None, updated.email.clone()));
    // An unknown user.
    let ghost = user("ghost");
    let rename = ProfileChanges { last_name: Some(Some("G".into())), ..Default::default() };
    assert!(matches!(error(store.update_profile(&ghost, &rename).await), StoreError::UserNotFound));
}

async fn deactivation_frees_the_number_leaves_the_directory_and_ends_sessions<S: Stores>(store: &S) {
    let ada = with_number(store, "ada", 1).await;
    registered(store, "bob").await;
    store.mark_number_releasing(ada.id, &number(1)).await.unwrap();
    assert_eq!(directory(store).await, ["ada", "bob"]);

    // From a read that missed the number: refused, nothing changes.
    let stale = User { virtual_number: None, ..ada.clone() };
    assert!(matches!(error(store.set_active(&stale, false).await), StoreError::Contention));
    assert!(store.get_user(ada.id).await.unwrap().unwrap().active);

    store.set_active(&ada, false).await.unwrap();

    let stored = store.get_user(ada.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.active, stored.token_version, stored.virtual_number.clone()),
        (false, ada.token_version + 1, None)
    );
    assert_eq!(directory(store).await, ["bob"]);
    let freed = pool_number(store, &number(1)).await.unwrap();
    assert_eq!((freed.owner_id, freed.assigned_at, freed.status()), (None, None, NumberStatus::Free));
    assert_eq!(listed(store, NumberStatus::Free).await, [number(1)]);
    // An inactive user gets no number; the login names still belong to them.
    assert!(matches!(
        error(store.assign_number(ada.id, &number(1), Utc::now()).await),
        StoreError::UserNotFound
    ));
    assert_eq!(store.find_user_id(&LoginKey::Username("ada".into())).await.unwrap(), Some(ada.id));

    // Reactivation: back in the directory, sessions stay ended, and the release mark is gone.
    store.set_active(&stored, true).await.unwrap();
    let back = store.get_user(ada.id).await.unwrap().unwrap();
    assert_eq!((back.active, back.token_version), (true, ada.token_version + 1));
    assert_eq!(directory(store).await, ["ada", "bob"]);
    store.assign_number(ada.id, &number(1), Utc::now()).await.unwrap();
    let ada = store.get_user(ada.id).await.unwrap().unwrap();
    sms_conversation(store, &ada, &phone(1)).await;
    // An unknown user.
    assert!(matches!(error(store.set_active(&user("ghost"), false).await), StoreError::Contention));
    assert!(matches!(error(store.set_active(&user("ghost"), true).await), StoreError::Contention));
}

// ---------------------------------------------------------------------------------------------
// Number pool

async fn the_pool_adds_removes_and_lists_numbers_by_status<S: Stores>(store: &S) {
    let at = Utc::now() - Duration::minutes(5);
    let added = store.add_number(&number(1), at).await.unwrap();
    assert_eq!(
        added,
        PoolNumber {
            phone_number: number(1),
            owner_id: None,
            added_at: at,
            assigned_at: None,
            route_count: 0
        }
    );
    pool(store, [2, 3, 4]).await;
    assert!(matches!(error(store.add_number(&number(1), Utc::now()).await), StoreError::NumberInPool));
    let ada = registered(store, "ada").await;
    store.assign_number(ada.id, &number(3), at).await.unwrap();
    group(store, &ada, &[], &[(phone(1), number(2)), (phone(2), number(2))]).await;

    assert_eq!(listed(store, NumberStatus::Free).await, [number(1), number(4)]);
    assert_eq!(listed(store, NumberStatus::Assigned).await, [number(3)]);
    assert_eq!(listed(store, NumberStatus::Proxy).await, [number(2)]);
    let all = store.list_numbers(None, &PageRequest::first(10)).await.unwrap();
    let order: Vec<_> = all.items.iter().map(|n| n.phone_number.clone()).collect();
    assert_eq!(order, [number(3), number(1), number(4), number(2)], "ASSIGNED#, FREE#, PROXY#");
    assert_eq!(all.next_cursor, None);
    let assigned = &all.items[0];
    assert_eq!((assigned.owner_id, assigned.assigned_at, assigned.route_count), (Some(ada.id), Some(at), 0));
    assert_eq!((all.items[3].route_count, all.items[3].status()), (2, NumberStatus::Proxy));

    assert!(matches!(error(store.remove_number(&number(3)).await), StoreError::NumberAssigned));
    assert!(matches!(error(store.remove_number(&number(2)).await), StoreError::NumberInUse));
    assert!(matches!(error(store.remove_number(&number(9)).await), StoreError::NumberNotInPool));
    store.remove_number(&number(4)).await.unwrap();
    assert!(matches!(error(store.remove_number(&number(4)).await), StoreError::NumberNotInPool));
    assert_eq!(listed(store, NumberStatus::Free).await, [number(1)]);
    let in_pool = store.numbers_in_pool(&[number(1), number(4), number(9), number(1)]).await.unwrap();
    assert_eq!(in_pool, HashSet::from([number(1)]));
    assert!(store.numbers_in_pool(&[]).await.unwrap().is_empty());
}

async fn assignment_takes_only_a_free_number_for_an_active_user_without_one<S: Stores>(store: &S) {
    pool(store, [1, 2, 3]).await;
    let (ada, bob, cy) =
        (registered(store, "ada").await, registered(store, "bob").await, registered(store, "cy").await);
    let at = Utc::now() - Duration::minutes(1);

    store.assign_number(ada.id, &number(1), at).await.unwrap();
    let stored = store.get_user(ada.id).await.unwrap().unwrap();
    assert_eq!((stored.virtual_number.clone(), stored.updated_at), (Some(number(1)), at));
    let assigned = pool_number(store, &number(1)).await.unwrap();
    assert_eq!((assigned.owner_id, assigned.assigned_at), (Some(ada.id), Some(at)));

    // A taken number.
    assert!(matches!(
        error(store.assign_number(bob.id, &number(1), Utc::now()).await),
        StoreError::NumberTaken
    ));
    // A user who has one already (named first, even when the number is taken too).
    assert!(matches!(
        error(store.assign_number(ada.id, &number(2), Utc::now()).await),
        StoreError::UserHasNumber
    ));
    assert!(matches!(
        error(store.assign_number(ada.id, &number(1), Utc::now()).await),
        StoreError::UserHasNumber
    ));
    // A removed (or never added) number.
    store.remove_number(&number(3)).await.unwrap();
    assert!(matches!(
        error(store.assign_number(bob.id, &number(3), Utc::now()).await),
        StoreError::NumberNotInPool
    ));
    // A number carrying group routes.
    group(store, &cy, &[], &[(phone(1), number(2))]).await;
    assert!(matches!(
        error(store.assign_number(bob.id, &number(2), Utc::now()).await),
        StoreError::NumberInUse
    ));
    // An unknown user.
    assert!(matches!(
        error(store.assign_number(UserId::new(), &number(2), Utc::now()).await),
        StoreError::UserNotFound
    ));
    // Nothing of that changed Bob or the pool.
    assert_eq!(store.get_user(bob.id).await.unwrap().unwrap().virtual_number, None);
    assert_eq!(listed(store, NumberStatus::Assigned).await, [number(1)]);
    assert_eq!(listed(store, NumberStatus::Proxy).await, [number(2)]);
}

async fn release_returns_the_number_to_the_free_pool<S: Stores>(store: &S) {
    let ada = with_number(store, "ada", 1).await;
    let bob = registered(store, "bob").await;

    assert!(matches!(error(store.release_number(bob.id, &number(1)).await), StoreError::UserHasNoNumber));
    assert!(matches!(error(store.release_number(ada.id, &number(2)).await), StoreError::UserHasNoNumber));
    assert!(matches!(
        error(store.mark_number_releasing(bob.id, &number(1)).await),
        StoreError::UserHasNoNumber
    ));
    assert!(matches!(
        error(store.mark_number_releasing(UserId::new(), &number(1)).await),
        StoreError::UserHasNoNumber
    ));

    store.release_number(ada.id, &number(1)).await.unwrap();

    assert_eq!(store.get_user(ada.id).await.unwrap().unwrap().virtual_number, None);
    let freed = pool_number(store, &number(1)).await.unwrap();
    assert_eq!((freed.owner_id, freed.assigned_at), (None, None));
    assert_eq!(listed(store, NumberStatus::Free).await, [number(1)]);
    assert!(listed(store, NumberStatus::Assigned).await.is_empty());
    assert!(matches!(error(store.release_number(ada.id, &number(1)).await), StoreError::UserHasNoNumber));
    // Free for anyone now.
    store.assign_number(bob.id, &number(1), Utc::now()).await.unwrap();
}

async fn marking_a_number_releasing_blocks_new_sms_conversations_on_it<S: Stores>(store: &S) {
    let ada = with_number(store, "ada", 1).await;
    let bob = with_number(store, "bob", 2).await;
    sms_conversation(store, &ada, &phone(1)).await;

    store.mark_number_releasing(ada.id, &number(1)).await.unwrap();

    let blocked = sms_detail(&ada, &phone(2));
    let new = NewConversation {
        detail: &blocked,
        direct_pair: None,
        sms_owner: Some((ada.id, &number(1))),
        idle_deadline: None,
    };
    assert!(matches!(error(store.create_conversation(new).await), StoreError::NumberChanged));
    assert!(store.get_conversation(blocked.conversation.id).await.unwrap().is_none());
    assert_eq!(store.route_conversation(&number(1), &phone(2)).await.unwrap(), None);
    // Someone else's number is no hold either.
    let borrowed = sms_detail(&bob, &phone(3));
    let new = NewConversation {
        detail: &borrowed,
        direct_pair: None,
        sms_owner: Some((ada.id, &number(2))),
        idle_deadline: None,
    };
    assert!(matches!(error(store.create_conversation(new).await), StoreError::NumberChanged));
    assert!(store.get_conversation(borrowed.conversation.id).await.unwrap().is_none());

    // Releasing clears the mark: the next holder starts conversations on it.
    store.release_number(ada.id, &number(1)).await.unwrap();
    let cy = registered(store, "cy").await;
    store.assign_number(cy.id, &number(1), Utc::now()).await.unwrap();
    let cy = store.get_user(cy.id).await.unwrap().unwrap();
    sms_conversation(store, &cy, &phone(2)).await;
}

// ---------------------------------------------------------------------------------------------
// Conversations

async fn a_route_in_use_is_route_taken_naming_every_taken_pair<S: Stores>(store: &S) {
    let ada = with_number(store, "ada", 1).await;
    pool(store, [2]).await;
    let first = sms_conversation(store, &ada, &phone(1)).await;
    let grp = group(store, &ada, &[], &[(phone(1), number(2)), (phone(2), number(2))]).await;

    // The same (number, phone) for another SMS conversation.
    let second = sms_detail(&ada, &phone(1));
    let new = NewConversation {
        detail: &second,
        direct_pair: None,
        sms_owner: Some((ada.id, &number(1))),
        idle_deadline: None,
    };
    match error(store.create_conversation(new).await) {
        StoreError::RouteTaken(pairs) => assert_eq!(pairs, [(number(1), phone(1))]),
        other => panic!("{other:?}"),
    }
    // A group whose phones are partly taken: every taken pair is named.
    let overlapping =
        group_detail(&ada, &[], &[(phone(3), number(2)), (phone(2), number(2)), (phone(1), number(2))]);
    match error(store.create_conversation(plain(&overlapping)).await) {
        StoreError::RouteTaken(pairs) => {
            let named: HashSet<_> = pairs.into_iter().collect();
            assert_eq!(named, HashSet::from([(number(2), phone(1)), (number(2), phone(2))]));
        }
        other => panic!("{other:?}"),
    }

    // Nothing of either was written.
    for refused in [&second, &overlapping] {
        assert!(store.get_conversation(refused.conversation.id).await.unwrap().is_none());
    }
    assert_eq!(store.route_conversation(&number(2), &phone(3)).await.unwrap(), None);
    assert_eq!(store.route_conversation(&number(1), &phone(1)).await.unwrap(), Some(first.conversation.id));
    assert_eq!(store.route_conversation(&number(2), &phone(1)).await.unwrap(), Some(grp.conversation.id));
    assert_eq!(pool_number(store, &number(2)).await.unwrap().route_count, 2);
    let taken = store
        .taken_routes(&[
            (number(1), phone(1)),
            (number(1), phone(2)),
            (number(2), phone(2)),
            (number(2), phone(2)),
        ])
        .await
        .unwrap();
    assert_eq!(taken, HashSet::from([(number(1), phone(1)), (number(2), phone(2))]));
    assert!(store.taken_routes(&[]).await.unwrap().is_empty());
    let inbox = store.list_inbox(ada.id, &PageRequest::first(10)).await.unwrap();
    assert_eq!(inbox.items.len(), 2);
}

async fn a_direct_pair_has_one_conversation_in_either_order<S: Stores>(store: &S) {
    let (ada, bob, cy) =
        (registered(store, "ada").await, registered(store, "bob").await, registered(store, "cy").await);
    let first = direct(store, &ada, &bob).await;

    let again = direct_detail(&bob, &ada);
    let new = NewConversation {
        detail: &again,
        direct_pair: Some((bob.id, ada.id)),
        sms_owner: None,
        idle_deadline: None,
    };
    assert!(matches!(error(store.create_conversation(new).await), StoreError::DirectExists));

    assert!(store.get_conversation(again.conversation.id).await.unwrap().is_none());
    assert_eq!(store.find_direct(bob.id, ada.id).await.unwrap(), Some(first.conversation.id));
    assert_eq!(store.find_direct(ada.id, bob.id).await.unwrap(), Some(first.conversation.id));
    assert_eq!(store.find_direct(ada.id, cy.id).await.unwrap(), None);
    assert_eq!(store.list_inbox(bob.id, &PageRequest::first(10)).await.unwrap().items.len(), 1);

    let stored = store.get_conversation(first.conversation.id).await.unwrap().unwrap();
    assert_eq!(stored.conversation, first.conversation);
    assert_eq!(stored.participants, first.participants);
}

async fn a_proxy_number_that_went_to_a_user_is_proxy_unavailable<S: Stores>(store: &S) {
    let ada = with_number(store, "ada", 1).await;
    pool(store, [2]).await;

    let refused = group_detail(&ada, &[], &[(phone(1), number(1)), (phone(2), number(2))]);
    match error(store.create_conversation(plain(&refused)).await) {
        StoreError::ProxyUnavailable(n) => assert_eq!(n, number(1)),
        other => panic!("{other:?}"),
    }
    // A proxy that is not in the pool at all.
    let unknown = group_detail(&ada, &[], &[(phone(1), number(9))]);
    match error(store.create_conversation(plain(&unknown)).await) {
        StoreError::ProxyUnavailable(n) => assert_eq!(n, number(9)),
        other => panic!("{other:?}"),
    }

    assert!(store.get_conversation(refused.conversation.id).await.unwrap().is_none());
    assert!(store.taken_routes(&[(number(2), phone(2)), (number(1), phone(1))]).await.unwrap().is_empty());
    assert_eq!(pool_number(store, &number(2)).await.unwrap().route_count, 0);
    assert_eq!(listed(store, NumberStatus::Free).await, [number(2)]);
    // Joining later through it is refused the same way.
    let grp = group(store, &ada, &[], &[]).await;
    match error(store.add_participant(&grp, &texter(&phone(3), &number(1)), 50).await) {
        StoreError::ProxyUnavailable(n) => assert_eq!(n, number(1)),
        other => panic!("{other:?}"),
    }
}

async fn adding_a_participant_checks_membership_size_and_status<S: Stores>(store: &S) {
    pool(store, [1]).await;
    let (ada, bob, cy, dee) = (
        registered(store, "ada").await,
        registered(store, "bob").await,
        registered(store, "cy").await,
        registered(store, "dee").await,
    );
    let read = group(store, &ada, &[&bob], &[]).await;

    assert!(matches!(
        error(store.add_participant(&read, &member(&bob, ParticipantRole::Member), 50).await),
        StoreError::ParticipantExists
    ));
    assert!(matches!(
        error(store.add_participant(&read, &member(&cy, ParticipantRole::Member), 2).await),
        StoreError::GroupFull
    ));

    // A phone joins: its route and its proxy's count follow.
    let phone_one = texter(&phone(1), &number(1));
    store.add_participant(&read, &phone_one, 3).await.unwrap();
    assert_eq!(store.route_conversation(&number(1), &phone(1)).await.unwrap(), Some(read.conversation.id));
    assert_eq!(pool_number(store, &number(1)).await.unwrap().route_count, 1);
    assert_eq!(listed(store, NumberStatus::Proxy).await, [number(1)]);
    let route = store.inbound_lookup(&number(1), &phone(1)).await.unwrap().route.unwrap();
    assert_eq!((route.participant_id, route.inbox_user_id), (phone_one.id, None));
    // The same phone again: its route is the one taken (named before the participant).
    let again = texter(&phone(1), &number(1));
    match error(store.add_participant(&read, &again, 50).await) {
        StoreError::RouteTaken(pairs) => assert_eq!(pairs, [(number(1), phone(1))]),
        other => panic!("{other:?}"),
    }

    // A concurrent add filled the group since `read`: full, though `read` had room.
    assert!(matches!(
        error(store.add_participant(&read, &member(&cy, ParticipantRole::Member), 3).await),
        StoreError::GroupFull
    ));
    // Room again; the new member's inbox line copies the conversation as read.
    store.add_participant(&read, &member(&cy, ParticipantRole::Member), 4).await.unwrap();
    let line = &store.list_inbox(cy.id, &PageRequest::first(10)).await.unwrap().items[0];
    assert_eq!(
        (line.id, line.name.as_str(), line.role),
        (read.conversation.id, "Group", ParticipantRole::Member)
    );
    let stored = store.get_conversation(read.conversation.id).await.unwrap().unwrap();
    assert_eq!(stored.participants.len(), 4);

    let fresh = store.get_conversation(read.conversation.id).await.unwrap().unwrap();
    store.close_conversation(&fresh).await.unwrap();
    assert!(matches!(
        error(store.add_participant(&fresh, &member(&dee, ParticipantRole::Member), 50).await),
        StoreError::ConversationInactive
    ));
    let unknown = group_detail(&ada, &[], &[]);
    assert!(matches!(
        error(store.add_participant(&unknown, &member(&dee, ParticipantRole::Member), 50).await),
        StoreError::ConversationInactive
    ));
    assert!(store.list_inbox(dee.id, &PageRequest::first(10)).await.unwrap().items.is_empty());
}

async fn removing_a_participant_promotes_and_never_leaves_no_admin<S: Stores>(store: &S) {
    pool(store, [1]).await;
    let (ada, bob) = (registered(store, "ada").await, registered(store, "bob").await);
    let detail = group(store, &ada, &[&bob], &[(phone(1), number(1))]).await;
    let admin = detail.participant_for_user(ada.id).unwrap().clone();
    let successor = detail.participant_for_user(bob.id).unwrap().clone();

    assert!(matches!(error(store.remove_participant(&detail, &admin, None).await), StoreError::LastAdmin));

    // A phone leaves: its route and its proxy's count go.
    store.remove_participant(&detail, &participant_of(&detail, &phone(1)), None).await.unwrap();
    assert_eq!(store.route_conversation(&number(1), &phone(1)).await.unwrap(), None);
    assert_eq!(pool_number(store, &number(1)).await.unwrap().route_count, 0);
    // Removing it again: it is gone (a conflict with the read).
    assert!(matches!(
        error(store.remove_participant(&detail, &participant_of(&detail, &phone(1)), None).await),
        StoreError::Contention
    ));

    // The admin leaves, promoting Bob.
    store.remove_participant(&detail, &admin, Some(&successor)).await.unwrap();
    let after = store.get_conversation(detail.conversation.id).await.unwrap().unwrap();
    assert_eq!(after.participants.len(), 1);
    assert_eq!(
        (after.participants[0].id, after.participants[0].role),
        (successor.id, ParticipantRole::Admin)
    );
    assert!(store.list_inbox(ada.id, &PageRequest::first(10)).await.unwrap().items.is_empty());
    let line = &store.list_inbox(bob.id, &PageRequest::first(10)).await.unwrap().items[0];
    assert_eq!(line.role, ParticipantRole::Admin);
    // Bob is the one admin now: he cannot leave without a successor, nor step down.
    let bob_admin = after.participants[0].clone();
    assert!(matches!(error(store.remove_participant(&after, &bob_admin, None).await), StoreError::LastAdmin));
    assert!(matches!(
        error(store.set_role(&after, &bob_admin, ParticipantRole::Member).await),
        StoreError::LastAdmin
    ));
}

async fn set_role_changes_only_the_role_that_was_read<S: Stores>(store: &S) {
    let (ada, bob) = (registered(store, "ada").await, registered(store, "bob").await);
    let detail = group(store, &ada, &[&bob], &[]).await;
    let admin = detail.participant_for_user(ada.id).unwrap().clone();
    let bob_member = detail.participant_for_user(bob.id).unwrap().clone();

    assert!(matches!(
        error(store.set_role(&detail, &admin, ParticipantRole::Member).await),
        StoreError::LastAdmin
    ));
    store.set_role(&detail, &admin, ParticipantRole::Admin).await.unwrap();
    store.set_role(&detail, &bob_member, ParticipantRole::Admin).await.unwrap();
    // From the old read Bob is a member: promoting him again would count a second admin.
    assert!(matches!(
        error(store.set_role(&detail, &bob_member, ParticipantRole::Admin).await),
        StoreError::Contention
    ));
    assert_eq!(
        store.list_inbox(bob.id, &PageRequest::first(10)).await.unwrap().items[0].role,
        ParticipantRole::Admin
    );

    // Two admins: one may step down, then the other may not.
    store.set_role(&detail, &admin, ParticipantRole::Member).await.unwrap();
    let bob_admin = Participant { role: ParticipantRole::Admin, ..bob_member.clone() };
    assert!(matches!(
        error(store.set_role(&detail, &bob_admin, ParticipantRole::Member).await),
        StoreError::LastAdmin
    ));
    let stored = store.get_conversation(detail.conversation.id).await.unwrap().unwrap();
    let roles: Vec<_> = stored.participants.iter().map(|p| (p.id, p.role)).collect();
    assert_eq!(roles, [(admin.id, ParticipantRole::Member), (bob_member.id, ParticipantRole::Admin)]);

    store.close_conversation(&stored).await.unwrap();
    let ada_member = Participant { role: ParticipantRole::Member, ..admin };
    assert!(matches!(
        error(store.set_role(&stored, &ada_member, ParticipantRole::Admin).await),
        StoreError::ConversationInactive
    ));
}

async fn closing_frees_routes_direct_pair_and_route_counts<S: Stores>(store: &S) {
    pool(store, [1, 2]).await;
    let (ada, bob) = (registered(store, "ada").await, registered(store, "bob").await);
    let carol = with_number(store, "carol", 3).await;
    let phones = [(phone(1), number(1)), (phone(2), number(2)), (phone(3), number(1))];
    let grp = group(store, &ada, &[&bob], &phones).await;
    let pair = direct(store, &ada, &bob).await;
    let sms = sms_conversation(store, &carol, &phone(1)).await;
    assert_eq!(pool_number(store, &number(1)).await.unwrap().route_count, 2);

    store.close_conversation(&grp).await.unwrap();
    store.close_conversation(&pair).await.unwrap();
    store.close_conversation(&sms).await.unwrap();

    let pairs = [(number(1), phone(1)), (number(2), phone(2)), (number(1), phone(3)), (number(3), phone(1))];
    assert!(store.taken_routes(&pairs).await.unwrap().is_empty());
    for n in [1, 2] {
        let proxy = pool_number(store, &number(n)).await.unwrap();
        assert_eq!((proxy.route_count, proxy.status()), (0, NumberStatus::Free), "{n}");
    }
    assert_eq!(listed(store, NumberStatus::Proxy).await, [number(1), number(2)], "listed as proxies still");
    assert_eq!(store.find_direct(ada.id, bob.id).await.unwrap(), None);
    let stored = store.get_conversation(grp.conversation.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.conversation.status, stored.participants.len()),
        (ConversationStatus::Closed, 5),
        "history keeps its members"
    );
    let inbox = store.list_inbox(bob.id, &PageRequest::first(10)).await.unwrap();
    assert_eq!(inbox.items.len(), 2);
    assert!(inbox.items.iter().all(|e| e.status == ConversationStatus::Closed));

    // Freed: the pair and the routes can be taken again, and a former proxy can be assigned.
    direct(store, &bob, &ada).await;
    group(store, &bob, &[], &[(phone(2), number(2))]).await;
    sms_conversation(store, &carol, &phone(1)).await;
    store.assign_number(ada.id, &number(1), Utc::now()).await.unwrap();
    assert_eq!(listed(store, NumberStatus::Assigned).await, [number(1), number(3)]);
}

async fn closing_after_a_concurrent_add_is_contention_until_read_again<S: Stores>(store: &S) {
    pool(store, [1]).await;
    let ada = registered(store, "ada").await;
    let read = group(store, &ada, &[], &[]).await;
    store.add_participant(&read, &texter(&phone(1), &number(1)), 50).await.unwrap();

    assert!(matches!(error(store.close_conversation(&read).await), StoreError::Contention));
    assert_eq!(store.route_conversation(&number(1), &phone(1)).await.unwrap(), Some(read.conversation.id));
    let still = store.get_conversation(read.conversation.id).await.unwrap().unwrap();
    assert_eq!(still.conversation.status, ConversationStatus::Active);
    assert_eq!(pool_number(store, &number(1)).await.unwrap().route_count, 1);

    store.close_conversation(&still).await.unwrap();
    assert_eq!(store.route_conversation(&number(1), &phone(1)).await.unwrap(), None);
    assert_eq!(pool_number(store, &number(1)).await.unwrap().route_count, 0);
}

async fn the_idle_index_holds_deadlines_and_the_idle_close_needs_the_activity_it_read<S: Stores>(store: &S) {
    pool(store, [1]).await;
    let ada = registered(store, "ada").await;
    let soon = group_detail(&ada, &[], &[(phone(1), number(1))]);
    let later = group_detail(&ada, &[], &[(phone(2), number(1))]);
    let start = soon.conversation.last_message_at;
    for (detail, hours) in [(&soon, 1), (&later, 3)] {
        let new = NewConversation { idle_deadline: Some(start + Duration::hours(hours)), ..plain(detail) };
        store.create_conversation(new).await.unwrap();
    }
    let untimed = group(store, &ada, &[], &[]).await;
    let (soon_id, later_id) = (soon.conversation.id, later.conversation.id);

    // Due strictly after the deadline, and only those with an entry.
    assert!(store.idle_due(start + Duration::hours(1), 10).await.unwrap().is_empty());
    assert_eq!(store.idle_due(start + Duration::hours(2), 10).await.unwrap(), [soon_id]);
    let both: HashSet<ConversationId> =
        store.idle_due(start + Duration::hours(4), 10).await.unwrap().into_iter().collect();
    assert_eq!(both, HashSet::from([soon_id, later_id]));
    assert_eq!(store.idle_due(start + Duration::hours(4), 1).await.unwrap().len(), 1, "at most `limit`");

    // A send moves the entry with its activity.
    let hello = message_at(&soon, &ada, "hello", start + Duration::minutes(30));
    let new = NewMessage {
        idle_deadline: Some(hello.created_at + Duration::hours(1)),
        ..new_message(&soon, &hello, &[])
    };
    store.create_message(&new).await.unwrap();
    assert!(store.idle_due(start + Duration::hours(1) + Duration::minutes(20), 10).await.unwrap().is_empty());

    // Moving the entry needs the activity read; an inbound text changes it (and not the entry).
    let read = store.get_conversation(soon_id).await.unwrap().unwrap();
    assert_eq!(read.conversation.last_message_at, hello.created_at);
    assert!(
        !store.reschedule_idle(soon_id, start, Some(start)).await.unwrap(),
        "stale activity: nothing moves"
    );
    let text = inbound(&soon, &phone(1), "SMidle");
    let write = InboundWrite {
        message_sid: "SMidle",
        message: Some(&text),
        preview: "hi".into(),
        inbox_user_id: None,
        opt_change: None,
        relay: true,
    };
    store.record_inbound(&write).await.unwrap();
    assert!(matches!(
        error(store.close_idle(&read, read.conversation.last_message_at).await),
        StoreError::Contention
    ));
    let read = store.get_conversation(soon_id).await.unwrap().unwrap();
    assert_eq!(read.conversation.status, ConversationStatus::Active);
    let seen = read.conversation.last_message_at;
    assert!(store.reschedule_idle(soon_id, seen, Some(seen + Duration::hours(1))).await.unwrap());
    assert!(!store.idle_due(seen + Duration::minutes(59), 10).await.unwrap().contains(&soon_id));

    // The close with the activity read frees the routes and leaves the index; the timer of a
    // closed conversation cannot change.
    store.close_idle(&read, seen).await.unwrap();
    assert_eq!(store.route_conversation(&number(1), &phone(1)).await.unwrap(), None);
    assert!(!store.idle_due(seen + Duration::days(1), 10).await.unwrap().contains(&soon_id));
    assert!(matches!(error(store.close_idle(&read, seen).await), StoreError::ConversationInactive));
    assert!(matches!(
        error(store.set_idle_timer(soon_id, IdleTimer::Off, None).await),
        StoreError::ConversationInactive
    ));
    assert!(!store.reschedule_idle(soon_id, seen, Some(seen)).await.unwrap());

    // Own timers: read back; "off" leaves the index.
    store.set_idle_timer(untimed.conversation.id, IdleTimer::After(600), Some(start)).await.unwrap();
    let stored = store.get_conversation(untimed.conversation.id).await.unwrap().unwrap();
    assert_eq!(stored.conversation.idle_timer, IdleTimer::After(600));
    assert!(store
        .idle_due(start + Duration::seconds(1), 10)
        .await
        .unwrap()
        .contains(&untimed.conversation.id));
    store.set_idle_timer(later_id, IdleTimer::Off, None).await.unwrap();
    assert_eq!(
        store.get_conversation(later_id).await.unwrap().unwrap().conversation.idle_timer,
        IdleTimer::Off
    );
    assert!(!store.idle_due(start + Duration::days(1), 10).await.unwrap().contains(&later_id));
}

async fn closing_a_closed_conversation_is_inactive_and_an_unknown_one_contention<S: Stores>(store: &S) {
    let ada = registered(store, "ada").await;
    let detail = group(store, &ada, &[], &[]).await;
    store.close_conversation(&detail).await.unwrap();

    assert!(matches!(error(store.close_conversation(&detail).await), StoreError::ConversationInactive));
    let unknown = group_detail(&ada, &[], &[]);
    assert!(matches!(error(store.close_conversation(&unknown).await), StoreError::Contention));
    // A direct conversation created without its pair: the pair is not its to free.
    let bob = registered(store, "bob").await;
    let unpaired = direct_detail(&ada, &bob);
    store.create_conversation(plain(&unpaired)).await.unwrap();
    assert!(matches!(error(store.close_conversation(&unpaired).await), StoreError::Contention));
}

async fn the_inbox_lists_latest_activity_first_after_messages<S: Stores>(store: &S) {
    let (ada, bob, cy) =
        (registered(store, "ada").await, registered(store, "bob").await, registered(store, "cy").await);
    let grp = group(store, &ada, &[&bob], &[]).await;
    let with_bob = direct(store, &ada, &bob).await;
    let with_cy = direct(store, &ada, &cy).await;
    let at = |seconds| Utc::now() + Duration::seconds(seconds);
    let (one, two, three) = (at(1), at(2), at(3));
    send(store, &with_bob, &message_at(&with_bob, &bob, "hi", one)).await;
    send(store, &with_cy, &message_at(&with_cy, &cy, "hi", two)).await;
    send(store, &grp, &message_at(&grp, &bob, "hello group", three)).await;

    let inbox = store.list_inbox(ada.id, &PageRequest::first(10)).await.unwrap();

    let ids: Vec<_> = inbox.items.iter().map(|e| e.id).collect();
    assert_eq!(ids, [grp.conversation.id, with_cy.conversation.id, with_bob.conversation.id]);
    let names: Vec<_> = inbox.items.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["Group", "cy", "bob"], "a direct line is titled with the other user");
    let times: Vec<_> = inbox.items.iter().map(|e| e.last_message_at).collect();
    assert_eq!(times, [three, two, one]);
    assert_eq!(inbox.items[0].last_message_preview.as_deref(), Some("hello group"));
    assert_eq!((inbox.items[0].role, inbox.items[0].kind), (ParticipantRole::Admin, ConversationKind::Group));
    let bobs = store.list_inbox(bob.id, &PageRequest::first(10)).await.unwrap();
    assert_eq!((bobs.items[0].role, bobs.items[1].name.as_str()), (ParticipantRole::Member, "ada"));
    // An older message moves nothing up.
    send(store, &with_bob, &message_at(&with_bob, &ada, "late", one - Duration::seconds(10))).await;
    let again = store.list_inbox(ada.id, &PageRequest::first(1)).await.unwrap();
    assert_eq!(again.items[0].id, grp.conversation.id);
    let stored = store.get_conversation(grp.conversation.id).await.unwrap().unwrap().conversation;
    assert_eq!(
        (stored.last_message_at, stored.last_message_preview.as_deref()),
        (three, Some("hello group"))
    );
}

/// `user`'s participant in the conversation as stored now (their read state with it).
async fn stored_participant<S: Stores>(store: &S, cid: ConversationId, user: &User) -> Participant {
    let detail = store.get_conversation(cid).await.unwrap().unwrap();
    detail.participant_for_user(user.id).cloned().expect("a participant")
}

fn read_state(last: &Message, unread_count: u32) -> ReadState {
    ReadState { last_read_message_id: Some(last.id), unread_count }
}

async fn read_state_counts_messages_from_others_after_a_horizon_that_only_moves_forward<S: Stores>(
    store: &S,
) {
    let (ada, bob) = (registered(store, "ada").await, registered(store, "bob").await);
    let grp = group(store, &ada, &[&bob], &[]).await;
    let cid = grp.conversation.id;
    let mut sent = Vec::new();
    for (author, text) in [(&ada, "one"), (&ada, "two"), (&bob, "three"), (&ada, "four")] {
        let m = message(&grp, author, text);
        send(store, &grp, &m).await;
        sent.push(m);
    }
    // Every web member but the author counts one more; no horizon moves by itself.
    let bobs = stored_participant(store, cid, &bob).await;
    assert_eq!(bobs.read, ReadState { last_read_message_id: None, unread_count: 3 });
    assert_eq!(stored_participant(store, cid, &ada).await.read.unread_count, 1);

    let mark = store.mark_read(&grp, &bobs, sent[1].id).await.unwrap().unwrap();
    assert_eq!(mark, ReadMark { state: read_state(&sent[1], 1), moved: true }, "\"four\" is left");
    // Behind the horizon: nothing moves.
    let bobs = stored_participant(store, cid, &bob).await;
    let mark = store.mark_read(&grp, &bobs, sent[0].id).await.unwrap().unwrap();
    assert_eq!(mark, ReadMark { state: read_state(&sent[1], 1), moved: false });
    let mark = store.mark_read(&grp, &bobs, sent[3].id).await.unwrap().unwrap();
    assert_eq!(mark, ReadMark { state: read_state(&sent[3], 0), moved: true });

    // Deleted messages and the reader's own do not count; a state read before a send is
    // counted again from what the store holds.
    let stale = stored_participant(store, cid, &bob).await;
    let later: Vec<Message> = [(&ada, "five"), (&ada, "six"), (&bob, "seven"), (&ada, "eight")]
        .into_iter()
        .map(|(author, text)| message(&grp, author, text))
        .collect();
    for m in &later {
        send(store, &grp, m).await;
    }
    store.change_message(&later[1], ada.id, MessageChange::Delete { at: Utc::now() }).await.unwrap();
    assert_eq!(stored_participant(store, cid, &bob).await.read, read_state(&sent[3], 3));
    // From "five": "six" is deleted, "seven" is his own, "eight" is unread.
    let mark = store.mark_read(&grp, &stale, later[0].id).await.unwrap().unwrap();
    assert_eq!(mark, ReadMark { state: read_state(&later[0], 1), moved: true });
    let (ninth, tenth) = (message(&grp, &ada, "nine"), message(&grp, &ada, "ten"));
    let before = stored_participant(store, cid, &bob).await;
    send(store, &grp, &ninth).await;
    send(store, &grp, &tenth).await;
    store.change_message(&ninth, ada.id, MessageChange::Delete { at: Utc::now() }).await.unwrap();
    assert_eq!(
        stored_participant(store, cid, &bob).await.read,
        read_state(&later[0], 3),
        "a delete is counted at the next read"
    );
    let mark = store.mark_read(&grp, &before, ninth.id).await.unwrap().unwrap();
    assert_eq!(mark, ReadMark { state: read_state(&ninth, 1), moved: true });
    assert_eq!(stored_participant(store, cid, &bob).await.read, read_state(&ninth, 1));

    // A message that is not the conversation's, and a reader who left.
    let elsewhere = direct(store, &ada, &bob).await;
    let foreign = message(&elsewhere, &ada, "elsewhere");
    send(store, &elsewhere, &foreign).await;
    let now = stored_participant(store, cid, &bob).await;
    assert!(matches!(error(store.mark_read(&grp, &now, foreign.id).await), StoreError::MessageNotFound));
    assert!(matches!(
        error(store.mark_read(&grp, &now, MessageId::new()).await),
        StoreError::MessageNotFound
    ));
    let current = store.get_conversation(cid).await.unwrap().unwrap();
    store.remove_participant(&current, &now, None).await.unwrap();
    assert_eq!(store.mark_read(&grp, &now, tenth.id).await.unwrap(), None);
}

async fn the_inbox_sums_every_lines_unread_on_its_first_page_only<S: Stores>(store: &S) {
    let (ada, bob, cy) =
        (registered(store, "ada").await, registered(store, "bob").await, registered(store, "cy").await);
    let grp = group(store, &ada, &[&bob, &cy], &[]).await;
    let with_ada = direct(store, &ada, &bob).await;
    let with_cy = direct(store, &cy, &bob).await;
    for (detail, author, count) in
        [(&grp, &ada, 2), (&grp, &cy, 1), (&with_ada, &ada, 3), (&with_cy, &bob, 2)]
    {
        for n in 0..count {
            send(store, detail, &message(detail, author, &format!("{n}"))).await;
        }
    }

    let first = store.list_inbox(bob.id, &PageRequest::first(1)).await.unwrap();
    assert_eq!(first.unread_total, Some(6), "3 in the group, 3 from Ada, none he wrote");
    assert_eq!(first.items.len(), 1);
    let mut lines = first.page.items.clone();
    let mut cursor = first.page.next_cursor.clone();
    while let Some(c) = cursor {
        let next = store.list_inbox(bob.id, &PageRequest { limit: 1, cursor: Some(c) }).await.unwrap();
        assert_eq!(next.unread_total, None, "later pages do not sum");
        lines.extend(next.page.items.clone());
        cursor = next.page.next_cursor.clone();
    }
    let counts: Vec<(ConversationId, u32)> = lines.iter().map(|l| (l.id, l.unread_count)).collect();
    assert_eq!(
        counts,
        [(with_cy.conversation.id, 0), (with_ada.conversation.id, 3), (grp.conversation.id, 3)]
    );
    let whole = store.list_inbox(bob.id, &PageRequest::first(10)).await.unwrap();
    assert_eq!((whole.unread_total, whole.items.len(), whole.next_cursor.clone()), (Some(6), 3, None));
    assert_eq!(store.list_inbox(ada.id, &PageRequest::first(10)).await.unwrap().unread_total, Some(1));
}

/// 40 phones on 40 proxies: 3 items each, over DynamoDB's 100 items per transaction.
fn big_group(admin: &User) -> (ConversationDetail, Vec<(E164, E164)>) {
    let phones: Vec<(E164, E164)> = (1..=40).map(|n| (phone(n), number(n))).collect();
    (group_detail(admin, &[], &phones), phones)
}

async fn a_group_too_big_for_one_transaction_is_written_whole_in_parts<S: Stores>(store: &S) {
    pool(store, 1..=40).await;
    let (ada, bob) = (registered(store, "ada").await, registered(store, "bob").await);
    let (detail, phones) = big_group(&ada);

    store.create_conversation(plain(&detail)).await.unwrap();

    let stored = store.get_conversation(detail.conversation.id).await.unwrap().unwrap();
    assert_eq!(stored.participants, detail.participants);
    let pairs: Vec<_> = phones.iter().map(|(p, n)| (n.clone(), p.clone())).collect();
    assert_eq!(store.taken_routes(&pairs).await.unwrap().len(), 40);
    let proxies =
        all_pages(100, |page| async move { store.list_numbers(Some(NumberStatus::Proxy), &page).await })
            .await;
    assert_eq!(proxies.len(), 40);
    assert!(proxies.iter().all(|n| n.route_count == 1));
    // Its stored counts are whole: a 42nd member is the limit.
    store.add_participant(&stored, &member(&bob, ParticipantRole::Member), 42).await.unwrap();
    let cy = registered(store, "cy").await;
    assert!(matches!(
        error(store.add_participant(&stored, &member(&cy, ParticipantRole::Member), 42).await),
        StoreError::GroupFull
    ));
    let fresh = store.get_conversation(detail.conversation.id).await.unwrap().unwrap();
    store.close_conversation(&fresh).await.unwrap();
    assert!(store.taken_routes(&pairs).await.unwrap().is_empty());
}

async fn a_group_whose_later_part_fails_is_left_closed_with_its_routes_freed<S: Stores>(store: &S) {
    pool(store, 1..=40).await;
    let ada = registered(store, "ada").await;
    // The last proxy's pair (written in the second part) is taken by another group.
    let other = group(store, &ada, &[], &[(phone(40), number(40))]).await;
    let (big, phones) = big_group(&ada);

    match error(store.create_conversation(plain(&big)).await) {
        StoreError::RouteTaken(pairs) => assert_eq!(pairs, [(number(40), phone(40))]),
        other => panic!("{other:?}"),
    }

    let stored = store.get_conversation(big.conversation.id).await.unwrap().expect("the first part stays");
    assert_eq!(stored.conversation.status, ConversationStatus::Closed);
    assert!(stored.participants.len() > 1 && stored.participants.len() < 41, "{}", stored.participants.len());
    let pairs: Vec<_> = phones[..39].iter().map(|(p, n)| (n.clone(), p.clone())).collect();
    assert!(store.taken_routes(&pairs).await.unwrap().is_empty());
    for n in 1..40 {
        assert_eq!(pool_number(store, &number(n)).await.unwrap().route_count, 0, "{n}");
    }
    assert_eq!(pool_number(store, &number(40)).await.unwrap().route_count, 1);
    assert_eq!(store.route_conversation(&number(40), &phone(40)).await.unwrap(), Some(other.conversation.id));
    let line = &store.list_inbox(ada.id, &PageRequest::first(10)).await.unwrap().items;
    let closed: Vec<_> =
        line.iter().filter(|e| e.status == ConversationStatus::Closed).map(|e| e.id).collect();
    assert_eq!(closed, [big.conversation.id]);
}

// ---------------------------------------------------------------------------------------------
// Messages

fn keyed<'a>(
    detail: &'a ConversationDetail,
    message: &'a Message,
    sender: &User,
    key: &'a str,
) -> NewMessage<'a> {
    NewMessage {
        detail,
        message,
        deliveries: &[],
        idempotency: Some((sender.id, key)),
        preview: "p".into(),
        idle_deadline: None,
    }
}

async fn an_idempotency_key_is_used_once_per_sender_and_expires<S: Stores>(store: &S) {
    let (ada, bob) = (registered(store, "ada").await, registered(store, "bob").await);
    let detail = direct(store, &ada, &bob).await;
    let first = message(&detail, &ada, "one");
    store.create_message(&keyed(&detail, &first, &ada, "k1")).await.unwrap();

    let second = message(&detail, &ada, "two");
    assert!(matches!(
        error(store.create_message(&keyed(&detail, &second, &ada, "k1")).await),
        StoreError::IdempotencyKeyUsed
    ));
    assert!(store.get_message(second.id).await.unwrap().is_none());
    let history = store.list_messages(detail.conversation.id, &PageRequest::first(10)).await.unwrap();
    assert_eq!(history.items.len(), 1);
    assert_eq!(
        store.find_idempotent(ada.id, "k1").await.unwrap(),
        Some(IdempotentSend { conversation_id: detail.conversation.id, message_id: first.id })
    );
    assert_eq!(store.find_idempotent(bob.id, "k1").await.unwrap(), None);
    assert_eq!(store.find_idempotent(ada.id, "k2").await.unwrap(), None);
    // Keys are per sender.
    store.create_message(&keyed(&detail, &second, &bob, "k1")).await.unwrap();

    // An expired key does not hold.
    let old = message_at(&detail, &ada, "old", Utc::now() - Duration::hours(25));
    store.create_message(&keyed(&detail, &old, &ada, "k3")).await.unwrap();
    assert_eq!(store.find_idempotent(ada.id, "k3").await.unwrap(), None);
    let renewed = message(&detail, &ada, "new");
    store.create_message(&keyed(&detail, &renewed, &ada, "k3")).await.unwrap();
    assert_eq!(store.find_idempotent(ada.id, "k3").await.unwrap().map(|s| s.message_id), Some(renewed.id));

    // Closed: a used key is still named before the closed conversation.
    store.close_conversation(&detail).await.unwrap();
    let late = message(&detail, &ada, "late");
    assert!(matches!(
        error(store.create_message(&keyed(&detail, &late, &ada, "k1")).await),
        StoreError::IdempotencyKeyUsed
    ));
    assert!(matches!(
        error(store.create_message(&keyed(&detail, &late, &ada, "k4")).await),
        StoreError::ConversationInactive
    ));
    assert_eq!(store.find_idempotent(ada.id, "k4").await.unwrap(), None);
}

async fn a_message_needs_an_active_conversation_and_every_inbox_line<S: Stores>(store: &S) {
    pool(store, [1]).await;
    let (ada, bob) = (registered(store, "ada").await, registered(store, "bob").await);
    let read = group(store, &ada, &[&bob], &[(phone(1), number(1))]).await;
    let mut msg = message(&read, &ada, "hello");
    msg.media_urls = vec!["https://example.com/a.png".into()];
    let deliveries = send(store, &read, &msg).await;

    let stored = store.get_message(msg.id).await.unwrap().unwrap();
    assert_eq!(stored.message, msg);
    assert_eq!(stored.deliveries, deliveries);
    // The same message twice: its items exist.
    assert!(matches!(
        error(store.create_message(&new_message(&read, &msg, &deliveries)).await),
        StoreError::Contention
    ));

    // Bob left since the read: his inbox line is gone.
    store.remove_participant(&read, read.participant_for_user(bob.id).unwrap(), None).await.unwrap();
    let stale = message(&read, &ada, "stale");
    let stale_deliveries = pending_deliveries(&read, &stale);
    assert!(matches!(
        error(store.create_message(&new_message(&read, &stale, &stale_deliveries)).await),
        StoreError::Contention
    ));
    assert!(store.get_message(stale.id).await.unwrap().is_none());

    let fresh = store.get_conversation(read.conversation.id).await.unwrap().unwrap();
    store.close_conversation(&fresh).await.unwrap();
    let closed = message(&fresh, &ada, "closed");
    assert!(matches!(
        error(store.create_message(&new_message(&fresh, &closed, &[])).await),
        StoreError::ConversationInactive
    ));
    assert!(store.get_message(closed.id).await.unwrap().is_none());
    assert!(store.get_message(MessageId::new()).await.unwrap().is_none());
}

async fn a_send_writes_each_delivery_ahead_into_the_outbox_with_its_text<S: Stores>(store: &S) {
    pool(store, [1]).await;
    let ada = registered(store, "ada").await;
    let detail = group(store, &ada, &[], &[(phone(1), number(1)), (phone(2), number(1))]).await;
    let msg =
        Message { media_urls: vec!["https://example.com/a.png".into()], ..message(&detail, &ada, "hi") };
    let mut deliveries = pending_deliveries(&detail, &msg);
    let opted = deliveries.iter().position(|d| d.to == phone(2)).unwrap();
    let participant_id = deliveries[opted].participant_id;
    deliveries[opted] =
        Delivery::new(&msg, participant_id, number(1), phone(2), "ada: hi", segments("ada: hi"), true);

    store.create_message(&new_message(&detail, &msg, &deliveries)).await.unwrap();

    let pending = deliveries.iter().find(|d| d.to == phone(1)).unwrap();
    let stored = stored_delivery(store, pending).await;
    assert_eq!(stored, *pending, "read back as written");
    assert_eq!(
        (stored.status, stored.body.as_str(), &stored.media_urls, stored.attempts, stored.next_attempt_at),
        (DeliveryStatus::Pending, "ada: hi", &msg.media_urls, 0, Some(msg.created_at))
    );
    let opted = &deliveries[opted];
    let stored = stored_delivery(store, opted).await;
    assert_eq!(stored, *opted);
    assert_eq!((stored.status, stored.next_attempt_at), (DeliveryStatus::OptedOut, None));
    // Only the pending one is in the outbox, due from its message's creation.
    assert_eq!(due(store, msg.created_at).await, [], "not due before its time");
    assert_eq!(due(store, whenever()).await, [Job::delivery(pending.id())]);
    assert_eq!(claim(store, opted, Utc::now()).await, Claim::Done, "no SMS to send");
}

async fn only_the_author_changes_a_message_and_a_deleted_one_is_gone<S: Stores>(store: &S) {
    let (ada, bob) = (registered(store, "ada").await, registered(store, "bob").await);
    let detail = direct(store, &ada, &bob).await;
    let msg = Message {
        media_urls: vec!["https://example.com/a.png".into()],
        media_content_types: vec!["image/png".into()],
        media_keys: Vec::new(),
        ..message(&detail, &ada, "hi")
    };
    send(store, &detail, &msg).await;
    let now = Utc::now();

    let edited = store
        .change_message(&msg, ada.id, MessageChange::Edit { content: "hey".into(), at: now })
        .await
        .unwrap();
    assert_eq!(edited, Message { content: "hey".into(), edited_at: Some(now), ..msg.clone() });
    assert_eq!(store.get_message(msg.id).await.unwrap().unwrap().message, edited);
    assert!(matches!(
        error(store.change_message(&msg, bob.id, MessageChange::Delete { at: now }).await),
        StoreError::NotAuthor
    ));

    let later = now + Duration::seconds(1);
    let deleted = store.change_message(&msg, ada.id, MessageChange::Delete { at: later }).await.unwrap();
    assert_eq!(
        (deleted.deleted, deleted.content.as_str(), deleted.media_urls.len(), deleted.edited_at),
        (true, "", 0, Some(later))
    );
    assert_eq!(store.get_message(msg.id).await.unwrap().unwrap().message, deleted);
    let history = store.list_messages(detail.conversation.id, &PageRequest::first(10)).await.unwrap();
    assert_eq!(history.items[0].message, deleted, "a deleted message stays in history, emptied");
    for change in [MessageChange::Delete { at: now }, MessageChange::Edit { content: "x".into(), at: now }] {
        assert!(matches!(
            error(store.change_message(&msg, ada.id, change.clone()).await),
            StoreError::MessageNotFound
        ));
        assert!(matches!(error(store.change_message(&msg, bob.id, change).await), StoreError::NotAuthor));
    }
    let unknown = message(&detail, &ada, "never stored");
    assert!(matches!(
        error(store.change_message(&unknown, ada.id, MessageChange::Delete { at: now }).await),
        StoreError::MessageNotFound
    ));
    // A text from a phone has no author among the users.
    let carol = with_number(store, "carol", 1).await;
    let sms = sms_conversation(store, &carol, &phone(1)).await;
    let text = inbound(&sms, &phone(1), "SM1");
    store.record_inbound(&inbound_write("SM1", Some(&text), Some(carol.id))).await.unwrap();
    let edit = MessageChange::Edit { content: "forged".into(), at: now };
    assert!(matches!(error(store.change_message(&text, carol.id, edit).await), StoreError::MessageNotFound));
    assert_eq!(store.get_message(text.id).await.unwrap().unwrap().message, text);
}

async fn history_is_newest_first_with_each_messages_deliveries<S: Stores>(store: &S) {
    pool(store, [1]).await;
    let ada = registered(store, "ada").await;
    let detail = group(store, &ada, &[], &[(phone(1), number(1)), (phone(2), number(1))]).await;
    let mut sent = Vec::new();
    for text in ["a", "b", "c"] {
        let msg = message(&detail, &ada, text);
        let deliveries = send(store, &detail, &msg).await;
        sent.push((msg, deliveries));
    }
    // One delivery moved on since.
    attempt(store, &sent[1].1[0], &accepted("SM1")).await;
    let queued = stored_delivery(store, &sent[1].1[0]).await;
    assert_eq!((queued.status, queued.attempts), (DeliveryStatus::Queued, 1));

    let page = store.list_messages(detail.conversation.id, &PageRequest::first(2)).await.unwrap();
    let rest = store.list_messages(detail.conversation.id, &resume(&page, 2)).await.unwrap();

    let mut expected = sent.clone();
    expected.sort_by_key(|(m, _)| std::cmp::Reverse(m.id));
    let listed: Vec<_> = page.items.iter().chain(&rest.items).collect();
    assert_eq!(listed.len(), 3);
    assert_eq!(rest.next_cursor, None);
    for (stored, (msg, deliveries)) in listed.iter().zip(&expected) {
        assert_eq!(stored.message, *msg);
        let mut deliveries: Vec<Delivery> = deliveries
            .iter()
            .map(|d| {
                if d.participant_id == queued.participant_id && d.message_id == queued.message_id {
                    queued.clone()
                } else {
                    d.clone()
                }
            })
            .collect();
        deliveries.sort_by_key(|d| d.participant_id);
        assert_eq!(stored.deliveries, deliveries, "by participant id");
    }
    let one = store.get_message(sent[1].0.id).await.unwrap().unwrap();
    assert_eq!((one.message.content.as_str(), one.deliveries.len()), ("b", 2));
    let empty = store.list_messages(ConversationId::new(), &PageRequest::first(10)).await.unwrap();
    assert!(empty.items.is_empty() && empty.next_cursor.is_none());
}

/// The export's read: oldest first, after any message, every message once, each with its own
/// deliveries (their range is the page's, read forwards).
async fn history_forwards_resumes_after_any_message_with_each_messages_deliveries<S: Stores>(store: &S) {
    pool(store, [1]).await;
    let ada = registered(store, "ada").await;
    let detail = group(store, &ada, &[], &[(phone(1), number(1)), (phone(2), number(1))]).await;
    let cid = detail.conversation.id;
    let mut sent = Vec::new();
    for i in 0..7 {
        let msg = message(&detail, &ada, &format!("m{i}"));
        let mut deliveries = send(store, &detail, &msg).await;
        deliveries.sort_by_key(|d| d.participant_id);
        sent.push((msg, deliveries));
    }
    for limit in [1, 3, 7, 100] {
        let (mut after, mut listed, mut reads) = (None, Vec::new(), 0);
        loop {
            let page = store.list_messages_after(cid, after, limit).await.unwrap();
            assert!(page.items.len() <= limit as usize);
            reads += 1;
            listed.extend(page.items);
            match page.next_cursor {
                // (a): a full last page may name a next one, which is then empty.
                Some(cursor) => after = Some(cursor.parse::<MessageId>().unwrap()),
                None => break,
            }
            assert!(reads <= 8, "limit {limit}: the reads never end");
        }
        let got: Vec<_> = listed.iter().map(|s| (s.message.clone(), s.deliveries.clone())).collect();
        assert_eq!(got, sent, "limit {limit}");
    }
    let rest = store.list_messages_after(cid, Some(sent[4].0.id), 100).await.unwrap();
    let ids: Vec<_> = rest.items.iter().map(|s| s.message.id).collect();
    assert_eq!((ids, rest.next_cursor), (vec![sent[5].0.id, sent[6].0.id], None));
    let empty = store.list_messages_after(ConversationId::new(), None, 10).await.unwrap();
    assert!(empty.items.is_empty() && empty.next_cursor.is_none());
}

async fn opt_outs_are_per_number_and_phone<S: Stores>(store: &S) {
    store.set_opt_out(&number(1), &phone(1), true).await.unwrap();
    store.set_opt_out(&number(1), &phone(1), true).await.unwrap();

    let pairs = [(number(1), phone(1)), (number(2), phone(1)), (number(1), phone(2)), (number(1), phone(1))];
    assert_eq!(store.opted_out(&pairs).await.unwrap(), HashSet::from([(number(1), phone(1))]));
    assert!(store.inbound_lookup(&number(1), &phone(1)).await.unwrap().opted_out);
    store.set_opt_out(&number(1), &phone(1), false).await.unwrap();
    store.set_opt_out(&number(1), &phone(1), false).await.unwrap();
    assert!(store.opted_out(&pairs).await.unwrap().is_empty());
    assert!(store.opted_out(&[]).await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Outbox: claims

async fn a_claim_counts_the_attempt_and_leases_it_so_a_second_claim_finds_it_leased<S: Stores>(store: &S) {
    let (_, _, delivery) = one_delivery(store).await;
    let now = Utc::now();

    let first = claimed(store, &delivery, now).await;

    assert_eq!((first.attempt, first.reconcile_since), (1, None));
    assert_eq!(first.delivery, Delivery { attempts: 1, ..delivery.clone() }, "as stored after the claim");
    assert_eq!(stored_delivery(store, &delivery).await, first.delivery);
    // The lease holds up to its last millisecond (`leaseUntil < now`, both in epoch ms).
    for again in [now, now + Duration::seconds(119), now + Duration::seconds(120)] {
        assert_eq!(claim(store, &delivery, again).await, Claim::Leased, "{again:?}");
    }
    assert_eq!(stored_delivery(store, &delivery).await.attempts, 1, "a refused claim counts nothing");
    let second = claimed(store, &delivery, now + Duration::seconds(120) + Duration::milliseconds(1)).await;
    assert_eq!((second.attempt, second.delivery.attempts), (2, 2));
}

async fn after_the_lease_a_claim_reconciles_the_attempt_still_in_flight<S: Stores>(store: &S) {
    let (_, _, delivery) = one_delivery(store).await;
    let started = Utc::now();
    claimed(store, &delivery, started).await;

    // Its worker never recorded an outcome: the next claim may only come after the lease, and
    // must look for what the first one may have sent.
    let later = started + Duration::seconds(121);
    let second = claimed(store, &delivery, later).await;

    assert_eq!((second.attempt, second.reconcile_since), (2, Some(started)));
    // The next one reconciles from the attempt it supersedes.
    let third = claimed(store, &delivery, later + Duration::seconds(121)).await;
    assert_eq!((third.attempt, third.reconcile_since), (3, Some(later)));
    let stored = stored_delivery(store, &delivery).await;
    assert_eq!((stored.status, stored.attempts), (DeliveryStatus::Pending, 3));
}

async fn a_retry_is_reconciled_only_when_its_attempt_was_ambiguous<S: Stores>(store: &S) {
    let (_, _, delivery) = one_delivery(store).await;
    let now = Utc::now();
    let first = claimed(store, &delivery, now).await;
    assert!(finish(store, &first, &retry(now, false), now).await);

    let second = claimed(store, &delivery, now).await;
    assert_eq!((second.attempt, second.reconcile_since), (2, None), "a 5xx: Twilio took nothing");
    let stored = stored_delivery(store, &delivery).await;
    assert_eq!(
        (stored.status, stored.error_code, stored.error_message.as_deref()),
        (DeliveryStatus::Pending, None, Some("503"))
    );

    let at = now + Duration::milliseconds(5);
    assert!(finish(store, &second, &retry(at, true), at).await);
    let third = claimed(store, &delivery, at).await;
    assert_eq!((third.attempt, third.reconcile_since), (3, Some(now)), "a timeout: look before sending");
    // A definite outcome ends the doubt: the attempt after a plain retry reconciles nothing.
    assert!(finish(store, &third, &retry(at, false), at).await);
    let fourth = claimed(store, &delivery, at).await;
    assert_eq!((fourth.attempt, fourth.reconcile_since), (4, None));
}

async fn a_retry_waits_in_the_outbox_until_its_due_time<S: Stores>(store: &S) {
    let (_, _, delivery) = one_delivery(store).await;
    let now = Utc::now();
    let first = claimed(store, &delivery, now).await;
    let at = now + Duration::seconds(60);
    let throttled =
        AttemptOutcome::Retry { at, code: Some(20429), message: "slow down".into(), ambiguous: false };

    assert!(finish(store, &first, &throttled, now).await);

    let stored = stored_delivery(store, &delivery).await;
    assert_eq!(
        stored,
        Delivery {
            attempts: 1,
            next_attempt_at: Some(at),
            error_code: Some(20429),
            error_message: Some("slow down".into()),
            updated_at: now,
            ..delivery.clone()
        },
        "still pending, due again at its retry"
    );
    assert_eq!(claim(store, &delivery, now).await, Claim::NotDue(at));
    // Its outbox entry moved to the retry's due time.
    assert_eq!(due(store, now + Duration::seconds(1)).await, []);
    assert_eq!(due(store, at).await, [], "due at the cutoff is not before it");
    assert_eq!(due(store, at + Duration::milliseconds(1)).await, [Job::delivery(delivery.id())]);
    // Both stores take a job up to two seconds early as on time (clocks differ).
    let early = at - Duration::seconds(2);
    assert_eq!(claim(store, &delivery, early - Duration::milliseconds(1)).await, Claim::NotDue(at));
    assert_eq!(claimed(store, &delivery, early).await.attempt, 2);
}

/// The due time is compared as an instant, whatever digits its text has: a retry due at a whole
/// second is due for a claim one millisecond after it (less the two seconds of slack).
async fn a_claim_compares_due_instants_whatever_digits_their_text_has<S: Stores>(store: &S) {
    let (_, _, delivery) = one_delivery(store).await;
    let now = Utc::now();
    let first = claimed(store, &delivery, now).await;
    let at = (now + Duration::seconds(60)).duration_trunc(Duration::seconds(1)).unwrap();
    assert!(finish(store, &first, &retry(at, false), now).await);

    let slack = Duration::seconds(2);
    assert_eq!(claim(store, &delivery, at - slack - Duration::milliseconds(1)).await, Claim::NotDue(at));
    let second = claimed(store, &delivery, at - slack + Duration::milliseconds(1)).await;

    assert_eq!(second.attempt, 2, "due {at:?}, claimed one millisecond after it");
}

async fn a_delivery_out_of_the_outbox_is_done_and_an_unknown_one_unknown<S: Stores>(store: &S) {
    let (_, _, delivery) = one_delivery(store).await;
    attempt(store, &delivery, &accepted("SM1")).await;
    let now = Utc::now();

    assert_eq!(claim(store, &delivery, now).await, Claim::Done);
    assert_eq!(claim(store, &delivery, now + Duration::hours(1)).await, Claim::Done);
    let unknown = Delivery { participant_id: ParticipantId::new(), ..delivery.clone() };
    assert_eq!(claim(store, &unknown, now).await, Claim::Unknown);
    // Recording an attempt at a delivery that does not exist records (and creates) nothing.
    for outcome in [accepted("SM2"), invalid_to(), stop(), retry(now, true), gave_up(false)] {
        let recorded = store.finish_attempt(&unknown, 1, &outcome, now).await.unwrap();
        assert!(!recorded, "{outcome:?}");
    }
    assert_eq!(claim(store, &unknown, now).await, Claim::Unknown);
    assert!(store.opted_out(&[(number(1), phone(1))]).await.unwrap().is_empty());
    let stored = store.get_message(delivery.message_id).await.unwrap().unwrap();
    assert_eq!(stored.deliveries.len(), 1);
    assert_eq!(stored.deliveries[0].twilio_sid.as_deref(), Some("SM1"));
}

// ---------------------------------------------------------------------------------------------
// Outbox: recording attempts

async fn a_superseded_attempt_records_nothing<S: Stores>(store: &S) {
    let (_, _, delivery) = one_delivery(store).await;
    let now = Utc::now();
    let first = claimed(store, &delivery, now).await;
    let later = now + Duration::seconds(121);
    let second = claimed(store, &delivery, later).await;

    for outcome in [accepted("SM1"), invalid_to(), stop(), retry(later, true), gave_up(false), gave_up(true)]
    {
        assert!(!finish(store, &first, &outcome, later).await, "{outcome:?}");
    }

    let stored = stored_delivery(store, &delivery).await;
    assert_eq!(stored, Delivery { attempts: 2, ..delivery.clone() }, "as the second claim left it");
    assert!(store.opted_out(&[(number(1), phone(1))]).await.unwrap().is_empty(), "no opt-out either");
    assert_eq!(store.delivery_by_sid("SM1").await.unwrap(), None);
    assert_eq!(due(store, whenever()).await, [Job::delivery(delivery.id())], "still in the outbox");
    assert!(finish(store, &second, &accepted("SM2"), later).await);
    assert_eq!(stored_delivery(store, &delivery).await.twilio_sid.as_deref(), Some("SM2"));
}

async fn an_accepted_attempt_leaves_the_outbox_with_its_sid_and_without_the_last_error<S: Stores>(store: &S) {
    let (_, _, delivery) = one_delivery(store).await;
    let now = Utc::now();
    let first = claimed(store, &delivery, now).await;
    let throttled =
        AttemptOutcome::Retry { at: now, code: Some(20429), message: "slow down".into(), ambiguous: false };
    assert!(finish(store, &first, &throttled, now).await);
    let second = claimed(store, &delivery, now).await;

    let at = now + Duration::milliseconds(3);
    assert!(finish(store, &second, &accepted("SM1"), at).await);

    let stored = stored_delivery(store, &delivery).await;
    assert_eq!(
        stored,
        Delivery {
            status: DeliveryStatus::Queued,
            attempts: 2,
            next_attempt_at: None,
            twilio_sid: Some("SM1".into()),
            updated_at: at,
            ..delivery.clone()
        }
    );
    assert_eq!(store.delivery_by_sid("SM1").await.unwrap(), Some(delivery.id()));
    assert!(due(store, whenever()).await.is_empty());
    assert_eq!(claim(store, &delivery, at + Duration::hours(1)).await, Claim::Done);
    // Its callbacks take it from there.
    let sent = callback(&delivery, DeliveryStatus::Sent, Some("SM1"));
    assert_eq!(store.apply_status(&sent).await.unwrap(), StatusOutcome::Applied);
    assert_eq!(store.delivery_by_sid("SM1").await.unwrap(), Some(delivery.id()));
}

async fn an_accepted_attempt_after_a_callback_keeps_the_later_status_and_adds_the_sid<S: Stores>(store: &S) {
    let (_, _, pending) = one_delivery(store).await;
    let now = Utc::now();
    let first = claimed(store, &pending, now).await;
    // Twilio's callback overtook its answer (it names the delivery, not yet the SID).
    let delivered = callback(&pending, DeliveryStatus::Delivered, None);
    assert_eq!(store.apply_status(&delivered).await.unwrap(), StatusOutcome::Applied);

    assert!(finish(store, &first, &accepted("SM1"), now).await);

    let stored = stored_delivery(store, &pending).await;
    assert_eq!(
        (stored.status, stored.twilio_sid.as_deref(), stored.next_attempt_at),
        (DeliveryStatus::Delivered, Some("SM1"), None)
    );
    assert_eq!(store.delivery_by_sid("SM1").await.unwrap(), Some(pending.id()));
    assert!(due(store, whenever()).await.is_empty(), "out of the outbox");
    assert_eq!(claim(store, &pending, now + Duration::hours(1)).await, Claim::Done);
    // A later status callback of that SID moves it on, nothing moves it back.
    let read = callback(&pending, DeliveryStatus::Read, Some("SM1"));
    assert_eq!(store.apply_status(&read).await.unwrap(), StatusOutcome::Applied);
    assert!(finish(store, &first, &accepted("SM1"), now).await, "the same attempt, recorded again");
    assert_eq!(stored_delivery(store, &pending).await.status, DeliveryStatus::Read);
}

/// Attempt 1 timed out though Twilio had it (SM1); attempt 2 did not find it when reconciling and
/// sent again (SM2); SM1's callback came in between. The delivery keeps the SID a callback
/// recorded ("only the SID is added": there was one), and `delivery_by_sid` finds "the delivery
/// that carries this Twilio SID".
async fn an_accepted_attempt_after_a_callback_of_another_sid_keeps_that_sid<S: Stores>(store: &S) {
    let (_, _, delivery) = one_delivery(store).await;
    let now = Utc::now();
    let first = claimed(store, &delivery, now).await;
    assert!(finish(store, &first, &retry(now, true), now).await);
    let second = claimed(store, &delivery, now).await;
    let sent = callback(&delivery, DeliveryStatus::Sent, Some("SM1"));
    assert_eq!(store.apply_status(&sent).await.unwrap(), StatusOutcome::Applied);

    assert!(finish(store, &second, &accepted("SM2"), now).await);

    let stored = stored_delivery(store, &delivery).await;
    assert_eq!((stored.status, stored.twilio_sid.as_deref()), (DeliveryStatus::Sent, Some("SM1")));
    assert!(due(store, whenever()).await.is_empty());
    assert_eq!(store.delivery_by_sid("SM1").await.unwrap(), Some(delivery.id()));
    assert_eq!(store.delivery_by_sid("SM2").await.unwrap(), None, "the delivery does not carry SM2");
}

async fn a_refusal_records_status_and_error_out_of_the_outbox_only_while_pending<S: Stores>(store: &S) {
    let (detail, ada, delivery) = one_delivery(store).await;
    let now = Utc::now();
    let first = claimed(store, &delivery, now).await;

    assert!(finish(store, &first, &invalid_to(), now).await);

    let stored = stored_delivery(store, &delivery).await;
    assert_eq!(
        stored,
        Delivery {
            status: DeliveryStatus::Failed,
            attempts: 1,
            next_attempt_at: None,
            error_code: Some(21211),
            error_message: Some("invalid To".into()),
            updated_at: now,
            ..delivery.clone()
        }
    );
    assert_eq!((stored.tentative, stored.rank()), (false, DeliveryStatus::Failed.rank()));
    assert!(due(store, whenever()).await.is_empty());
    assert_eq!(claim(store, &delivery, now).await, Claim::Done);
    assert!(!finish(store, &first, &invalid_to(), now).await, "no longer pending");
    // Nor after a callback moved it on, while the attempt was still out.
    let other = send(store, &detail, &message(&detail, &ada, "again")).await.remove(0);
    let out = claimed(store, &other, Utc::now()).await;
    store.apply_status(&callback(&other, DeliveryStatus::Sent, Some("SM2"))).await.unwrap();
    assert!(!finish(store, &out, &invalid_to(), Utc::now()).await);
    let stored = stored_delivery(store, &other).await;
    assert_eq!((stored.status, stored.error_code), (DeliveryStatus::Sent, None));
}

async fn an_opted_out_refusal_records_the_opt_out_in_the_same_write<S: Stores>(store: &S) {
    pool(store, [1]).await;
    let ada = registered(store, "ada").await;
    let detail = group(store, &ada, &[], &[(phone(1), number(1)), (phone(2), number(1))]).await;
    let deliveries = send(store, &detail, &message(&detail, &ada, "hi")).await;
    let to = |p: E164| deliveries.iter().find(|d| d.to == p).unwrap().clone();
    let (one, two) = (to(phone(1)), to(phone(2)));
    let pairs = [(number(1), phone(1)), (number(1), phone(2))];
    let now = Utc::now();
    let first = claimed(store, &one, now).await;

    // Superseded: neither the status nor the opt-out is written.
    assert!(!store.finish_attempt(&first.delivery, 2, &stop(), now).await.unwrap());
    assert!(store.opted_out(&pairs).await.unwrap().is_empty());

    assert!(finish(store, &first, &stop(), now).await);
    let stored = stored_delivery(store, &one).await;
    assert_eq!(
        (stored.status, stored.error_code, stored.error_message.as_deref()),
        (DeliveryStatus::OptedOut, Some(21610), Some("STOP"))
    );
    assert_eq!(store.opted_out(&pairs).await.unwrap(), HashSet::from([(number(1), phone(1))]));
    assert!(store.inbound_lookup(&number(1), &phone(1)).await.unwrap().opted_out);

    // Not pending any more (a callback moved it on): no opt-out either.
    let out = claimed(store, &two, now).await;
    store.apply_status(&callback(&two, DeliveryStatus::Sent, Some("SM2"))).await.unwrap();
    assert!(!finish(store, &out, &stop(), now).await);
    assert_eq!(stored_delivery(store, &two).await.status, DeliveryStatus::Sent);
    assert_eq!(store.opted_out(&pairs).await.unwrap(), HashSet::from([(number(1), phone(1))]));
    assert!(due(store, whenever()).await.is_empty());
}

async fn a_tentative_give_up_is_overruled_by_any_callback<S: Stores>(store: &S) {
    let (_, _, pending) = one_delivery(store).await;
    attempt(store, &pending, &gave_up(true)).await;

    let stored = stored_delivery(store, &pending).await;
    assert!(stored.tentative && stored.rank() == TENTATIVE_FAILURE_RANK, "{stored:?}");
    assert_eq!(
        (stored.status, stored.error_code, stored.error_message.as_deref(), stored.next_attempt_at),
        (DeliveryStatus::Failed, None, Some("no answer"), None)
    );
    assert!(due(store, whenever()).await.is_empty(), "out of the outbox");
    assert_eq!(claim(store, &pending, Utc::now()).await, Claim::Done);

    let queued = callback(&pending, DeliveryStatus::Queued, Some("SM1"));
    assert_eq!(store.apply_status(&queued).await.unwrap(), StatusOutcome::Applied);

    let stored = stored_delivery(store, &pending).await;
    assert_eq!(
        (stored.status, stored.tentative, stored.twilio_sid.as_deref()),
        (DeliveryStatus::Queued, false, Some("SM1"))
    );
    assert_eq!(store.delivery_by_sid("SM1").await.unwrap(), Some(pending.id()));
    assert!(due(store, whenever()).await.is_empty());
}

async fn a_definite_give_up_is_a_final_failure<S: Stores>(store: &S) {
    let (_, _, pending) = one_delivery(store).await;
    attempt(store, &pending, &gave_up(false)).await;

    let stored = stored_delivery(store, &pending).await;
    assert_eq!(
        (stored.status, stored.tentative, stored.rank(), stored.error_code),
        (DeliveryStatus::Failed, false, DeliveryStatus::Failed.rank(), Some(20429))
    );
    assert!(due(store, whenever()).await.is_empty());
    for late in [DeliveryStatus::Queued, DeliveryStatus::Delivered, DeliveryStatus::Read] {
        let update = callback(&pending, late, Some("SM1"));
        assert_eq!(store.apply_status(&update).await.unwrap(), StatusOutcome::Stale, "{late:?}");
    }
    assert_eq!(stored_delivery(store, &pending).await, stored);
}

// ---------------------------------------------------------------------------------------------
// Outbox: the sweeper's reads, an operator's redrive

async fn due_jobs_are_the_outbox_entries_due_strictly_before_the_cutoff_at_most_limit<S: Stores>(store: &S) {
    pool(store, [1]).await;
    let ada = registered(store, "ada").await;
    let phones: Vec<_> = (1..=3).map(|n| (phone(n), number(1))).collect();
    let detail = group(store, &ada, &[], &phones).await;
    let then = Utc::now() - Duration::minutes(10);
    let deliveries = send(store, &detail, &message_at(&detail, &ada, "hi", then)).await;
    let [early, later, sent] = [&deliveries[0], &deliveries[1], &deliveries[2]];
    let c = claimed(store, later, then).await;
    assert!(finish(store, &c, &retry(then + Duration::minutes(5), false), then).await);
    let c = claimed(store, sent, then).await;
    assert!(finish(store, &c, &accepted("SM1"), then).await);
    // A group text waiting for its relay, due two minutes after `then`.
    let text = Message { created_at: then + Duration::minutes(2), ..inbound(&detail, &phone(1), "SMin") };
    store
        .record_inbound(&InboundWrite { relay: true, ..inbound_write("SMin", Some(&text), None) })
        .await
        .unwrap();
    let relay = Job::relay(detail.conversation.id, text.id);

    assert_eq!(due(store, then + Duration::minutes(1)).await, [Job::delivery(early.id())]);
    // Due exactly at the cutoff is not before it.
    assert_eq!(due(store, then).await, []);
    assert_eq!(due_set(store, text.created_at).await, HashSet::from([Job::delivery(early.id())]));
    let until_relay = text.created_at + Duration::nanoseconds(1);
    assert_eq!(due_set(store, until_relay).await, HashSet::from([Job::delivery(early.id()), relay]));
    let all = due_set(store, Utc::now()).await;
    assert_eq!(all, HashSet::from([Job::delivery(early.id()), Job::delivery(later.id()), relay]));
    // At most `limit`, from the same listing.
    for limit in [1, 2] {
        let some = store.due_jobs(Utc::now(), limit).await.unwrap();
        assert_eq!(some.len(), limit, "limit {limit}");
        assert!(some.iter().all(|job| all.contains(job)), "{some:?}");
    }
    assert!(store.due_jobs(Utc::now(), 0).await.unwrap().is_empty());
    assert_eq!(store.due_jobs(Utc::now(), 3).await.unwrap(), due(store, Utc::now()).await, "one order");
}

async fn outbox_entries_leave_on_accept_refuse_give_up_and_an_overtaking_callback<S: Stores>(store: &S) {
    pool(store, [1]).await;
    let ada = registered(store, "ada").await;
    let phones: Vec<_> = (1..=6).map(|n| (phone(n), number(1))).collect();
    let detail = group(store, &ada, &[], &phones).await;
    let deliveries = send(store, &detail, &message(&detail, &ada, "hi")).await;
    let [ok, refused, tentative, definite, overtaken, retried] =
        <[Delivery; 6]>::try_from(deliveries).unwrap();
    let everything: HashSet<Job> =
        [&ok, &refused, &tentative, &definite, &overtaken, &retried].map(|d| Job::delivery(d.id())).into();
    assert_eq!(due_set(store, whenever()).await, everything);

    attempt(store, &ok, &accepted("SM1")).await;
    attempt(store, &refused, &invalid_to()).await;
    attempt(store, &tentative, &gave_up(true)).await;
    attempt(store, &definite, &gave_up(false)).await;
    let now = Utc::now();
    let out = claimed(store, &overtaken, now).await;
    // The callback comes before the worker's record: the delivery leaves the outbox, for its SID.
    let sent = callback(&overtaken, DeliveryStatus::Sent, Some("SM5"));
    assert_eq!(store.apply_status(&sent).await.unwrap(), StatusOutcome::Applied);
    assert_eq!(store.delivery_by_sid("SM5").await.unwrap(), Some(overtaken.id()));
    let at = now + Duration::minutes(1);
    attempt(store, &retried, &retry(at, true)).await;

    assert_eq!(due(store, whenever()).await, [Job::delivery(retried.id())]);
    assert!(due(store, at).await.is_empty(), "re-dated to its retry");
    // The overtaken worker's records: no retry (no longer pending), an accept that adds nothing.
    assert!(!finish(store, &out, &retry(at, true), now).await, "no longer pending: nothing to retry");
    assert!(finish(store, &out, &accepted("SM5"), now).await);
    assert_eq!(due(store, whenever()).await, [Job::delivery(retried.id())]);
    assert_eq!(stored_delivery(store, &overtaken).await.status, DeliveryStatus::Sent);
    assert_eq!(store.delivery_by_sid("SM5").await.unwrap(), Some(overtaken.id()));
}

/// A callback without a SID (the port allows one) moves a pending delivery on but leaves its
/// outbox entry in both stores, where `claim_delivery` finds it done. One naming the SID then
/// takes it out: the delivery carries that SID, so `delivery_by_sid` finds it, and it is no
/// longer a pending delivery for `due_jobs`.
async fn a_callback_takes_a_delivery_out_of_the_outbox_and_one_naming_its_sid_indexes_it<S: Stores>(
    store: &S,
) {
    let (_, _, delivery) = one_delivery(store).await;
    let sent = callback(&delivery, DeliveryStatus::Sent, None);
    assert_eq!(store.apply_status(&sent).await.unwrap(), StatusOutcome::Applied);
    assert_eq!(claim(store, &delivery, Utc::now()).await, Claim::Done);
    assert!(due(store, whenever()).await.is_empty(), "Twilio has it: the sweeper leaves it alone");

    let delivered = callback(&delivery, DeliveryStatus::Delivered, Some("SM1"));
    assert_eq!(store.apply_status(&delivered).await.unwrap(), StatusOutcome::Applied);

    let stored = stored_delivery(store, &delivery).await;
    assert_eq!((stored.status, stored.twilio_sid.as_deref()), (DeliveryStatus::Delivered, Some("SM1")));
    assert_eq!(store.delivery_by_sid("SM1").await.unwrap(), Some(delivery.id()));
    assert!(due(store, whenever()).await.is_empty(), "{:?}", due(store, whenever()).await);
}

async fn a_redrive_resets_only_the_failure_that_was_read_and_supersedes_its_sid<S: Stores>(store: &S) {
    let (detail, ada, pending) = one_delivery(store).await;
    attempt(store, &pending, &accepted("SM1")).await;
    let failure = StatusUpdate {
        error_code: Some(30003),
        error_message: Some("unreachable".into()),
        ..callback(&pending, DeliveryStatus::Failed, Some("SM1"))
    };
    assert_eq!(store.apply_status(&failure).await.unwrap(), StatusOutcome::Applied);
    let failed = stored_delivery(store, &pending).await;
    assert_eq!((failed.status, failed.error_code, failed.attempts), (DeliveryStatus::Failed, Some(30003), 1));
    let at = Utc::now() + Duration::seconds(10);

    // Not the failure that was read (another SID, another rank), or no failure: refused.
    let other_sid = Delivery { twilio_sid: Some("SM0".into()), ..failed.clone() };
    assert!(!store.reset_failed_delivery(&other_sid, at).await.unwrap());
    let tentative = Delivery { tentative: true, ..failed.clone() };
    assert!(!store.reset_failed_delivery(&tentative, at).await.unwrap());
    assert_eq!(stored_delivery(store, &pending).await, failed);

    assert!(store.reset_failed_delivery(&failed, at).await.unwrap());

    let reset = stored_delivery(store, &pending).await;
    assert_eq!(
        reset,
        Delivery {
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: Some(at),
            twilio_sid: None,
            error_code: None,
            error_message: None,
            updated_at: at,
            ..failed.clone()
        }
    );
    assert_eq!(reset.rank(), 0);
    assert_eq!(due(store, at).await, [], "due at the redrive's time");
    assert_eq!(due(store, at + Duration::milliseconds(1)).await, [Job::delivery(pending.id())]);
    assert_eq!(store.delivery_by_sid("SM1").await.unwrap(), None);
    // Callbacks of the superseded attempt change nothing.
    for late in [DeliveryStatus::Delivered, DeliveryStatus::Read] {
        let late = callback(&pending, late, Some("SM1"));
        assert_eq!(store.apply_status(&late).await.unwrap(), StatusOutcome::Stale);
    }
    assert_eq!(stored_delivery(store, &pending).await, reset);
    assert!(!store.reset_failed_delivery(&failed, at).await.unwrap(), "the same failure is reset once");
    // A fresh first attempt: nothing in flight to reconcile. Its own callbacks count.
    let again = claimed(store, &pending, at).await;
    assert_eq!((again.attempt, again.reconcile_since), (1, None));
    assert!(finish(store, &again, &accepted("SM2"), at).await);
    let failed_again = callback(&pending, DeliveryStatus::Failed, Some("SM2"));
    assert_eq!(store.apply_status(&failed_again).await.unwrap(), StatusOutcome::Applied);
    assert_eq!(store.delivery_by_sid("SM2").await.unwrap(), Some(pending.id()));
    // Redriven again: both SIDs superseded.
    let second_failure = stored_delivery(store, &pending).await;
    assert!(store.reset_failed_delivery(&second_failure, at).await.unwrap());
    for sid in ["SM1", "SM2"] {
        let late = callback(&pending, DeliveryStatus::Sent, Some(sid));
        assert_eq!(store.apply_status(&late).await.unwrap(), StatusOutcome::Stale, "{sid}");
    }

    // A tentative failure (no SID) is reset as read, too; a refusal's; not an undelivered one,
    // nor an unknown delivery.
    let two = send(store, &detail, &message(&detail, &ada, "two")).await.remove(0);
    attempt(store, &two, &gave_up(true)).await;
    let tentative = stored_delivery(store, &two).await;
    assert!(store.reset_failed_delivery(&tentative, at).await.unwrap());
    assert_eq!(stored_delivery(store, &two).await.status, DeliveryStatus::Pending);
    let three = send(store, &detail, &message(&detail, &ada, "three")).await.remove(0);
    attempt(store, &three, &invalid_to()).await;
    assert!(store.reset_failed_delivery(&stored_delivery(store, &three).await, at).await.unwrap());
    let four = send(store, &detail, &message(&detail, &ada, "four")).await.remove(0);
    attempt(store, &four, &accepted("SM4")).await;
    store.apply_status(&callback(&four, DeliveryStatus::Undelivered, Some("SM4"))).await.unwrap();
    let undelivered = stored_delivery(store, &four).await;
    assert!(!store.reset_failed_delivery(&undelivered, at).await.unwrap());
    let unknown = Delivery { participant_id: ParticipantId::new(), ..failed };
    assert!(!store.reset_failed_delivery(&unknown, at).await.unwrap());
    let jobs = [&pending, &two, &three].map(|d| Job::delivery(d.id()));
    assert_eq!(due_set(store, whenever()).await, HashSet::from(jobs));
}

// ---------------------------------------------------------------------------------------------
// Webhooks

async fn the_inbound_lookup_names_route_owner_and_opt_out<S: Stores>(store: &S) {
    let ada = with_number(store, "ada", 1).await;
    pool(store, [2]).await;
    let detail = sms_conversation(store, &ada, &phone(1)).await;
    let grp = group(store, &ada, &[], &[(phone(2), number(2))]).await;
    store.set_opt_out(&number(1), &phone(3), true).await.unwrap();

    let lookup = store.inbound_lookup(&number(1), &phone(1)).await.unwrap();
    let route = lookup.route.clone().unwrap();
    let theirs = participant_of(&detail, &phone(1));
    assert_eq!(
        (route.conversation_id, route.participant_id, route.display_name.as_str(), route.inbox_user_id),
        (detail.conversation.id, theirs.id, theirs.display_name.as_str(), Some(ada.id))
    );
    assert_eq!((lookup.in_pool, lookup.owner_id, lookup.opted_out), (true, Some(ada.id), false));
    let grouped = store.inbound_lookup(&number(2), &phone(2)).await.unwrap();
    assert_eq!(
        grouped.route.map(|r| (r.conversation_id, r.inbox_user_id)),
        Some((grp.conversation.id, None))
    );
    assert_eq!((grouped.in_pool, grouped.owner_id), (true, None));
    let stranger = store.inbound_lookup(&number(1), &phone(3)).await.unwrap();
    assert!(stranger.route.is_none() && stranger.owner_id == Some(ada.id) && stranger.opted_out);
    assert_eq!(store.inbound_lookup(&number(9), &phone(1)).await.unwrap(), Default::default());
}

async fn an_inbound_message_sid_is_stored_once<S: Stores>(store: &S) {
    let ada = with_number(store, "ada", 1).await;
    let detail = sms_conversation(store, &ada, &phone(1)).await;
    let first = inbound(&detail, &phone(1), "SM1");
    store.record_inbound(&inbound_write("SM1", Some(&first), Some(ada.id))).await.unwrap();

    let retry = inbound(&detail, &phone(1), "SM1");
    assert!(matches!(
        error(store.record_inbound(&inbound_write("SM1", Some(&retry), Some(ada.id))).await),
        StoreError::Duplicate
    ));

    let history = store.list_messages(detail.conversation.id, &PageRequest::first(10)).await.unwrap();
    assert_eq!(history.items.iter().map(|m| &m.message).collect::<Vec<_>>(), [&first]);
    assert_eq!(store.get_message(first.id).await.unwrap().unwrap().message, first);
    let line = &store.list_inbox(ada.id, &PageRequest::first(1)).await.unwrap().items[0];
    assert_eq!(
        (line.last_message_at, line.last_message_preview.as_deref()),
        (first.created_at, Some("hello"))
    );
    let conversation = store.get_conversation(detail.conversation.id).await.unwrap().unwrap().conversation;
    assert_eq!(conversation.last_message_at, first.created_at);

    // A STOP without a conversation: the opt-out, once.
    let stop = InboundWrite {
        opt_change: Some(OptChange { number: &number(1), phone: &phone(2), opted_out: true }),
        ..inbound_write("SM2", None, None)
    };
    store.record_inbound(&stop).await.unwrap();
    assert!(store.inbound_lookup(&number(1), &phone(2)).await.unwrap().opted_out);
    assert!(matches!(error(store.record_inbound(&stop).await), StoreError::Duplicate));
    // A START with its message clears it.
    let start_text = inbound(&detail, &phone(1), "SM3");
    let start = InboundWrite {
        opt_change: Some(OptChange { number: &number(1), phone: &phone(2), opted_out: false }),
        ..inbound_write("SM3", Some(&start_text), Some(ada.id))
    };
    store.record_inbound(&start).await.unwrap();
    assert!(!store.inbound_lookup(&number(1), &phone(2)).await.unwrap().opted_out);
    // A MessageSid once used for a STOP is a duplicate even with a message.
    let reuse = inbound(&detail, &phone(1), "SM2");
    assert!(matches!(
        error(store.record_inbound(&inbound_write("SM2", Some(&reuse), Some(ada.id))).await),
        StoreError::Duplicate
    ));
    assert!(store.get_message(reuse.id).await.unwrap().is_none());
}

async fn an_inbound_text_to_a_closed_conversation_is_inactive_and_not_remembered<S: Stores>(store: &S) {
    let ada = with_number(store, "ada", 1).await;
    let detail = sms_conversation(store, &ada, &phone(1)).await;
    store.close_conversation(&detail).await.unwrap();

    let text = inbound(&detail, &phone(1), "SM1");
    assert!(matches!(
        error(store.record_inbound(&inbound_write("SM1", Some(&text), Some(ada.id))).await),
        StoreError::ConversationInactive
    ));
    assert!(store.get_message(text.id).await.unwrap().is_none());

    // Its MessageSid was not kept: the same SID stores once it has somewhere to go.
    let next = sms_conversation(store, &ada, &phone(1)).await;
    let retry = inbound(&next, &phone(1), "SM1");
    store.record_inbound(&inbound_write("SM1", Some(&retry), Some(ada.id))).await.unwrap();
    // A participant who left: contention.
    let (bob, cy) = (registered(store, "bob").await, registered(store, "cy").await);
    let grp = group(store, &bob, &[&cy], &[]).await;
    store.remove_participant(&grp, grp.participant_for_user(cy.id).unwrap(), None).await.unwrap();
    let to_group = inbound(&grp, &phone(5), "SM5");
    assert!(matches!(
        error(store.record_inbound(&inbound_write("SM5", Some(&to_group), Some(cy.id))).await),
        StoreError::Contention
    ));
}

/// An inbound group text from phone 1, stored as a pending relay (the webhook's write); the
/// relays to the group's other phone (what the relay job fans out).
async fn relayed_text<S: Stores>(store: &S) -> (User, User, ConversationDetail, Message, Vec<Delivery>) {
    pool(store, [1]).await;
    let (ada, bob) = (registered(store, "ada").await, registered(store, "bob").await);
    let detail = group(store, &ada, &[&bob], &[(phone(1), number(1)), (phone(2), number(1))]).await;
    let text = inbound(&detail, &phone(1), "SM1");
    let relays: Vec<_> =
        pending_deliveries(&detail, &text).into_iter().filter(|d| d.to == phone(2)).collect();
    let write = InboundWrite { relay: true, ..inbound_write("SM1", Some(&text), None) };
    store.record_inbound(&write).await.unwrap();
    (ada, bob, detail, text, relays)
}

async fn preview_of<S: Stores>(store: &S, user: &User) -> Option<String> {
    let page = store.list_inbox(user.id, &PageRequest::first(1)).await.unwrap();
    page.items[0].last_message_preview.clone()
}

async fn a_group_text_waits_in_the_outbox_as_a_relay_and_fans_out_once<S: Stores>(store: &S) {
    let (ada, bob, detail, text, relays) = relayed_text(store).await;
    let cid = detail.conversation.id;
    let stored = store.get_message(text.id).await.unwrap().unwrap();
    assert_eq!((stored.message, stored.deliveries), (text.clone(), vec![]), "stored as any inbound text");
    assert_eq!(due(store, text.created_at).await, []);
    assert_eq!(due(store, whenever()).await, [Job::relay(cid, text.id)], "due from its creation");

    assert!(store.fan_out_relays(&detail, &text, &relays, "relayed").await.unwrap());

    assert_eq!(store.get_message(text.id).await.unwrap().unwrap().deliveries, relays);
    assert_eq!(
        due(store, whenever()).await,
        [Job::delivery(relays[0].id())],
        "the relay out, its delivery in"
    );
    assert_eq!(claimed(store, &relays[0], Utc::now()).await.attempt, 1);
    for user in [&ada, &bob] {
        assert_eq!(preview_of(store, user).await.as_deref(), Some("relayed"), "{}", user.username);
    }
    // The job delivered twice: done before, nothing written (not even other relays, nor lines).
    let other = Delivery { participant_id: ParticipantId::new(), ..relays[0].clone() };
    assert!(!store.fan_out_relays(&detail, &text, std::slice::from_ref(&other), "again").await.unwrap());
    assert_eq!(store.get_message(text.id).await.unwrap().unwrap().deliveries.len(), 1);
    assert_eq!(preview_of(store, &ada).await.as_deref(), Some("relayed"));

    // A text stored without a relay (or never stored) has none to fan out.
    let plain = inbound(&detail, &phone(1), "SM2");
    store.record_inbound(&inbound_write("SM2", Some(&plain), None)).await.unwrap();
    let never = inbound(&detail, &phone(1), "SM3");
    for text in [&plain, &never] {
        let relays: Vec<_> =
            pending_deliveries(&detail, text).into_iter().filter(|d| d.to == phone(2)).collect();
        assert!(!store.fan_out_relays(&detail, text, &relays, "p").await.unwrap());
        assert_eq!(claim(store, &relays[0], Utc::now()).await, Claim::Unknown, "nothing written");
    }
    assert_eq!(preview_of(store, &bob).await.as_deref(), Some("relayed"));
    // A group of web users only: the lines move, the relay leaves the outbox.
    let (cy, dee) = (registered(store, "cy").await, registered(store, "dee").await);
    let web = group(store, &cy, &[&dee], &[]).await;
    let to_web = inbound(&web, &phone(3), "SM4");
    store
        .record_inbound(&InboundWrite { relay: true, ..inbound_write("SM4", Some(&to_web), None) })
        .await
        .unwrap();
    assert!(store.fan_out_relays(&web, &to_web, &[], "web").await.unwrap());
    assert_eq!(preview_of(store, &dee).await.as_deref(), Some("web"));
    assert_eq!(due(store, whenever()).await, [Job::delivery(relays[0].id())]);
}

async fn an_inbound_mms_waits_in_the_outbox_for_its_media_copy_which_lands_once<S: Stores>(store: &S) {
    let (_, _, detail, text, _) = relayed_text(store).await;
    let cid = detail.conversation.id;
    let mms = Message {
        media_urls: vec!["https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM9/Media/ME1".into()],
        media_content_types: vec!["image/png".into()],
        ..inbound(&detail, &phone(1), "MM9")
    };
    let write = InboundWrite { relay: true, ..inbound_write("MM9", Some(&mms), None) };
    store.record_inbound(&write).await.unwrap();
    // A group MMS: its relay and its media copy wait side by side (two items, two entries).
    let expected: HashSet<Job> =
        [Job::relay(cid, text.id), Job::relay(cid, mms.id), Job::media_copy(cid, mms.id)].into();
    assert_eq!(due_set(store, whenever()).await, expected);
    assert_eq!(due(store, mms.created_at).await, [Job::relay(cid, text.id)], "not due before its creation");

    let (now, lease) = (Utc::now(), std::time::Duration::from_secs(120));
    assert_eq!(store.claim_media_copy(cid, mms.id, now, lease).await.unwrap(), Some(1));
    assert_eq!(store.claim_media_copy(cid, mms.id, now, lease).await.unwrap(), None, "leased");
    assert!(store.finish_media_copy(cid, mms.id, 1, &CopyOutcome::Retry(now)).await.unwrap());
    let later = now + Duration::seconds(1);
    assert_eq!(store.claim_media_copy(cid, mms.id, later, lease).await.unwrap(), Some(2));
    let keys = vec![format!("media/{cid}/{}/0", mms.id)];
    assert!(
        !store.finish_media_copy(cid, mms.id, 1, &CopyOutcome::Copied(keys.clone())).await.unwrap(),
        "a superseded claim records nothing"
    );
    assert!(store.finish_media_copy(cid, mms.id, 2, &CopyOutcome::Copied(keys.clone())).await.unwrap());
    let stored = store.get_message(mms.id).await.unwrap().unwrap().message;
    assert_eq!((stored.media_keys, stored.media_urls), (keys, mms.media_urls.clone()));
    // Done: no more claims, nothing written again, out of the outbox (the relays stay).
    assert_eq!(store.claim_media_copy(cid, mms.id, whenever(), lease).await.unwrap(), None);
    let other = CopyOutcome::Copied(vec!["elsewhere".into()]);
    assert!(!store.finish_media_copy(cid, mms.id, 2, &other).await.unwrap());
    let relays: HashSet<Job> = [Job::relay(cid, text.id), Job::relay(cid, mms.id)].into();
    assert_eq!(due_set(store, whenever()).await, relays);
    // A text without media has no mark; a given-up copy leaves the outbox, Twilio's URLs kept.
    assert_eq!(store.claim_media_copy(cid, text.id, whenever(), lease).await.unwrap(), None);
    let second = Message { id: MessageId::new(), ..mms.clone() };
    store.record_inbound(&inbound_write("MM10", Some(&second), None)).await.unwrap();
    assert_eq!(store.claim_media_copy(cid, second.id, whenever(), lease).await.unwrap(), Some(1));
    assert!(store.finish_media_copy(cid, second.id, 1, &CopyOutcome::GaveUp).await.unwrap());
    assert_eq!(due_set(store, whenever()).await, relays);
    assert!(store.get_message(second.id).await.unwrap().unwrap().message.media_keys.is_empty());
}

async fn fanning_out_after_a_participant_left_is_contention_with_nothing_written<S: Stores>(store: &S) {
    let (ada, bob, read, text, relays) = relayed_text(store).await;
    store.remove_participant(&read, read.participant_for_user(bob.id).unwrap(), None).await.unwrap();
    let before = preview_of(store, &ada).await;

    let err = store.fan_out_relays(&read, &text, &relays, "relayed").await.unwrap_err();

    assert!(matches!(err, StoreError::Contention), "{err:?}");
    assert_eq!(store.get_message(text.id).await.unwrap().unwrap().deliveries, []);
    assert_eq!(claim(store, &relays[0], Utc::now()).await, Claim::Unknown);
    assert_eq!(preview_of(store, &ada).await, before);
    assert_eq!(
        due(store, whenever()).await,
        [Job::relay(read.conversation.id, text.id)],
        "still in the outbox: the job reads the group again"
    );
    let fresh = store.get_conversation(read.conversation.id).await.unwrap().unwrap();
    assert!(store.fan_out_relays(&fresh, &text, &relays, "relayed").await.unwrap());
    assert_eq!(preview_of(store, &ada).await.as_deref(), Some("relayed"));
    assert_eq!(due(store, whenever()).await, [Job::delivery(relays[0].id())]);
}

async fn statuses_only_move_forward_in_every_order<S: Stores>(store: &S) {
    use DeliveryStatus::{Delivered, Queued, Sent};
    let (detail, ada, _) = one_delivery(store).await;
    let orders = [
        [Queued, Sent, Delivered],
        [Queued, Delivered, Sent],
        [Sent, Queued, Delivered],
        [Sent, Delivered, Queued],
        [Delivered, Queued, Sent],
        [Delivered, Sent, Queued],
    ];
    for (i, order) in orders.into_iter().enumerate() {
        let sid = format!("SM{i}");
        let delivery = send(store, &detail, &message(&detail, &ada, "x")).await.remove(0);
        let mut highest = 0;
        for status in order {
            let expected =
                if status.rank() > highest { StatusOutcome::Applied } else { StatusOutcome::Stale };
            highest = highest.max(status.rank());
            let got = store.apply_status(&callback(&delivery, status, Some(&sid))).await.unwrap();
            assert_eq!(got, expected, "{status:?} in {order:?}");
        }
        let stored = stored_delivery(store, &delivery).await;
        assert_eq!(stored.status, Delivered, "{order:?}");
        for late in [Queued, Sent, Delivered, DeliveryStatus::Failed, DeliveryStatus::Undelivered] {
            let got = store.apply_status(&callback(&delivery, late, None)).await.unwrap();
            assert_eq!(got, StatusOutcome::Stale, "{late:?} after delivered");
        }
        assert_eq!(stored_delivery(store, &delivery).await.status, Delivered);
    }
}

async fn read_comes_after_delivered_and_never_over_a_failure<S: Stores>(store: &S) {
    use DeliveryStatus::{Delivered, Failed, OptedOut, Read, Sent, Undelivered};
    let (detail, ada, delivery) = one_delivery(store).await;
    let apply = |d: &Delivery, status| {
        let update = callback(d, status, None);
        async move { store.apply_status(&update).await }
    };

    // Read after delivered.
    assert_eq!(apply(&delivery, Delivered).await.unwrap(), StatusOutcome::Applied);
    assert_eq!(apply(&delivery, Read).await.unwrap(), StatusOutcome::Applied);
    assert_eq!(apply(&delivery, Delivered).await.unwrap(), StatusOutcome::Stale);
    assert_eq!(apply(&delivery, Read).await.unwrap(), StatusOutcome::Stale);
    assert_eq!(apply(&delivery, Failed).await.unwrap(), StatusOutcome::Stale);
    assert_eq!(stored_delivery(store, &delivery).await.status, Read);

    // Read early (over sent) stands for delivered: a late delivered is stale.
    let early = send(store, &detail, &message(&detail, &ada, "early")).await.remove(0);
    assert_eq!(apply(&early, Sent).await.unwrap(), StatusOutcome::Applied);
    assert_eq!(apply(&early, Read).await.unwrap(), StatusOutcome::Applied);
    assert_eq!(apply(&early, Delivered).await.unwrap(), StatusOutcome::Stale);
    assert_eq!(stored_delivery(store, &early).await.status, Read);

    // Never over a failure of any kind (a callback's, a refusal, an opt-out, a give-up),
    // tentative included.
    let undelivered = send(store, &detail, &message(&detail, &ada, "u")).await.remove(0);
    assert_eq!(apply(&undelivered, Undelivered).await.unwrap(), StatusOutcome::Applied);
    let mut failures = vec![(undelivered, Undelivered)];
    for (outcome, failure) in [(invalid_to(), Failed), (stop(), OptedOut), (gave_up(false), Failed)] {
        let failed = send(store, &detail, &message(&detail, &ada, "f")).await.remove(0);
        attempt(store, &failed, &outcome).await;
        failures.push((failed, failure));
    }
    for (failed, failure) in failures {
        assert_eq!(apply(&failed, Read).await.unwrap(), StatusOutcome::Stale, "{failure:?}");
        assert_eq!(stored_delivery(store, &failed).await.status, failure);
    }
    let tentative = send(store, &detail, &message(&detail, &ada, "t")).await.remove(0);
    attempt(store, &tentative, &gave_up(true)).await;
    assert_eq!(apply(&tentative, Read).await.unwrap(), StatusOutcome::Stale);
    assert_eq!(apply(&tentative, Delivered).await.unwrap(), StatusOutcome::Applied);
}

async fn a_callback_adds_its_sid_once_and_delivery_by_sid_finds_it<S: Stores>(store: &S) {
    let (_, _, delivery) = one_delivery(store).await;
    let sent = StatusUpdate {
        sid: Some("SM1".into()),
        error_code: Some(30003),
        error_message: Some("unreachable".into()),
        ..callback(&delivery, DeliveryStatus::Sent, None)
    };
    assert_eq!(store.delivery_by_sid("SM1").await.unwrap(), None);
    assert_eq!(store.apply_status(&sent).await.unwrap(), StatusOutcome::Applied);
    assert_eq!(store.delivery_by_sid("SM1").await.unwrap(), Some(delivery.id()));

    let other_sid =
        StatusUpdate { sid: Some("SM2".into()), ..callback(&delivery, DeliveryStatus::Undelivered, None) };
    assert_eq!(store.apply_status(&other_sid).await.unwrap(), StatusOutcome::Applied);

    let stored = stored_delivery(store, &delivery).await;
    assert_eq!(
        (stored.status, stored.twilio_sid.as_deref(), stored.error_code, stored.error_message.as_deref()),
        (DeliveryStatus::Undelivered, Some("SM1"), Some(30003), Some("unreachable"))
    );
    assert_eq!(store.delivery_by_sid("SM1").await.unwrap(), Some(delivery.id()));
    assert_eq!(store.delivery_by_sid("SM2").await.unwrap(), None);
    assert_eq!(store.delivery_by_sid("SM3").await.unwrap(), None);
}

async fn a_callback_for_an_unknown_delivery_is_unknown<S: Stores>(store: &S) {
    let (_, _, delivery) = one_delivery(store).await;
    let unknown = Delivery { participant_id: ParticipantId::new(), ..delivery.clone() };

    for status in [DeliveryStatus::Sent, DeliveryStatus::Read, DeliveryStatus::Failed] {
        let update = callback(&unknown, status, Some("SM1"));
        assert_eq!(store.apply_status(&update).await.unwrap(), StatusOutcome::Unknown, "{status:?}");
    }
    assert_eq!(store.delivery_by_sid("SM1").await.unwrap(), None);
    let stored = store.get_message(delivery.message_id).await.unwrap().unwrap();
    assert_eq!(stored.deliveries, [delivery], "nothing was created");
}

// ---------------------------------------------------------------------------------------------
// Connections

async fn connections_are_put_read_expired_and_deleted<S: Stores>(store: &S) {
    let (ada, bob, cy) = (UserId::new(), UserId::new(), UserId::new());
    let now = Utc::now().duration_trunc(Duration::seconds(1)).unwrap();
    let id = |s: &str| ConnectionId::parse(s).unwrap();
    let ada_one = Connection::new(id("conn-a1="), ada, now);
    let ada_two = Connection::new(id("conn-a2="), ada, now);
    let bob_one = Connection::new(id("conn-b1="), bob, now);
    let expired = Connection { expires_at: now.timestamp() - 1, ..Connection::new(id("conn-x="), cy, now) };
    for c in [&ada_two, &bob_one, &ada_one, &expired] {
        store.put_connection(c).await.unwrap();
    }

    assert_eq!(store.connection_user(&ada_one.connection_id).await.unwrap(), Some(ada));
    assert_eq!(store.connection_user(&expired.connection_id).await.unwrap(), None, "expired");
    assert_eq!(store.connection_user(&id("unknown")).await.unwrap(), None);
    let mut users = [bob, ada, cy, ada];
    let of = store.connections_of(&users).await.unwrap();
    let mut expected = vec![ada_one.clone(), ada_two.clone(), bob_one.clone()];
    expected.sort_by_key(|c| (c.user_id, c.connection_id.clone()));
    assert_eq!(of, expected, "live ones, each once, by user then connection id");
    users.reverse();
    assert_eq!(store.connections_of(&users).await.unwrap(), expected);
    assert!(store.connections_of(&[]).await.unwrap().is_empty());

    // Put again: overwritten (a fresh expiry).
    let renewed = Connection { expires_at: now.timestamp() + 60, ..ada_one.clone() };
    store.put_connection(&renewed).await.unwrap();
    assert_eq!(store.connections_of(&[ada]).await.unwrap(), [renewed.clone(), ada_two.clone()]);

    store.delete_connection(ada, &ada_one.connection_id).await.unwrap();
    store.delete_connection(ada, &ada_one.connection_id).await.unwrap();
    store.delete_connection(cy, &id("never")).await.unwrap();
    assert_eq!(store.connection_user(&ada_one.connection_id).await.unwrap(), None);
    assert_eq!(store.connections_of(&[ada]).await.unwrap(), std::slice::from_ref(&ada_two));
    assert_eq!(store.connection_user(&bob_one.connection_id).await.unwrap(), Some(bob));

    // The same connection id put for another user: its own item moves to that user; the first
    // user's item stays (until it expires or is deleted).
    let moved = Connection { user_id: cy, ..bob_one.clone() };
    store.put_connection(&moved).await.unwrap();
    assert_eq!(store.connection_user(&bob_one.connection_id).await.unwrap(), Some(cy));
    assert_eq!(store.connections_of(&[bob]).await.unwrap(), std::slice::from_ref(&bob_one));
    assert_eq!(store.connections_of(&[cy]).await.unwrap(), [moved]);
    store.delete_connection(cy, &bob_one.connection_id).await.unwrap();
    assert_eq!(store.connection_user(&bob_one.connection_id).await.unwrap(), None);
    assert_eq!(store.connections_of(&[bob, cy]).await.unwrap(), [bob_one]);
}

// ---------------------------------------------------------------------------------------------
// Pagination

async fn directory_pages_follow_cursors_under_a_prefix<S: Stores>(store: &S) {
    for name in ["bob", "Alba", "alan", "Al", "zed", "ALFIE", "alto"] {
        registered(store, name).await;
    }
    let gone = registered(store, "alex").await;
    store.set_active(&gone, false).await.unwrap();

    let first = store.list_active_users(Some(" AL"), &PageRequest::first(2)).await.unwrap();
    assert_eq!(first.items.len(), 2);
    let under_al = all_pages(2, |page| async move { store.list_active_users(Some("al"), &page).await }).await;
    let names: Vec<_> = under_al.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, ["Al", "alan", "Alba", "ALFIE", "alto"]);
    let resumed = store.list_active_users(Some("aL"), &resume(&first, 10)).await.unwrap();
    let names: Vec<_> = first.items.iter().chain(&resumed.items).map(|u| u.username.as_str()).collect();
    assert_eq!(names, ["Al", "alan", "Alba", "ALFIE", "alto"], "the prefix is normalised both times");

    for limit in [1, 3, 7, 8] {
        let all = all_pages(limit, |page| async move { store.list_active_users(None, &page).await }).await;
        let names: Vec<_> = all.iter().map(|u| u.username.as_str()).collect();
        assert_eq!(names, ["Al", "alan", "Alba", "ALFIE", "alto", "bob", "zed"], "limit {limit}");
    }
    let blank = store.list_active_users(Some("  "), &PageRequest::first(10)).await.unwrap();
    assert_eq!((blank.items.len(), blank.next_cursor), (7, None), "a blank prefix is no prefix");
    let none = store.list_active_users(Some("q"), &PageRequest::first(10)).await.unwrap();
    assert!(none.items.is_empty() && none.next_cursor.is_none());
}

async fn pool_pages_honour_limits_and_return_every_number_once<S: Stores>(store: &S) {
    pool(store, 1..=105).await;
    let ada = registered(store, "ada").await;
    store.assign_number(ada.id, &number(50), Utc::now()).await.unwrap();

    let clamped_low = store.list_numbers(None, &PageRequest::first(0)).await.unwrap();
    assert_eq!(clamped_low.items.len(), 1);
    assert!(clamped_low.next_cursor.is_some());
    let clamped_high = store.list_numbers(None, &PageRequest::first(10_000)).await.unwrap();
    assert_eq!(clamped_high.items.len(), MAX_PAGE_SIZE as usize);
    assert!(clamped_high.next_cursor.is_some());

    let mut expected = vec![number(50)];
    expected.extend((1..=105).filter(|n| *n != 50).map(number));
    for limit in [7, 52, 100] {
        let all = all_pages(limit, |page| async move { store.list_numbers(None, &page).await }).await;
        let got: Vec<_> = all.into_iter().map(|n| n.phone_number).collect();
        assert_eq!(got, expected, "limit {limit}");
    }
    let free =
        all_pages(13, |page| async move { store.list_numbers(Some(NumberStatus::Free), &page).await }).await;
    assert_eq!(free.len(), 104);
    assert!(free.iter().all(|n| n.owner_id.is_none()));
    let assigned =
        all_pages(13, |page| async move { store.list_numbers(Some(NumberStatus::Assigned), &page).await })
            .await;
    assert_eq!(assigned.into_iter().map(|n| n.phone_number).collect::<Vec<_>>(), [number(50)]);
    // A short last page has no cursor.
    let tail = store.list_numbers(Some(NumberStatus::Free), &PageRequest::first(100)).await.unwrap();
    let last = store.list_numbers(Some(NumberStatus::Free), &resume(&tail, 100)).await.unwrap();
    assert_eq!((last.items.len(), last.next_cursor), (4, None));
}

async fn inbox_and_history_pages_return_every_item_once_in_order<S: Stores>(store: &S) {
    let ada = registered(store, "ada").await;
    let base = Utc::now();
    let mut conversations = Vec::new();
    for i in 0..7 {
        let other = registered(store, &format!("user{i}")).await;
        let c = direct(store, &ada, &other).await;
        // Activity in an order unlike creation: 3, 6, 2, 5, 1, 4, 0 seconds.
        let seconds = (i * 3 % 7) as i64;
        send(store, &c, &message_at(&c, &ada, "bump", base + Duration::seconds(seconds + 1))).await;
        conversations.push((seconds, c.conversation.id));
    }
    conversations.sort_by_key(|(seconds, _)| std::cmp::Reverse(*seconds));
    let expected: Vec<_> = conversations.iter().map(|(_, id)| *id).collect();
    for limit in [1, 2, 3, 7] {
        let all =
            all_pages(limit, |page| async move { store.list_inbox(ada.id, &page).await.map(|i| i.page) })
                .await;
        assert_eq!(all.iter().map(|e| e.id).collect::<Vec<_>>(), expected, "limit {limit}");
    }
    // Activity in one millisecond: by conversation id, descending.
    let tie = (base + Duration::seconds(60)).duration_trunc(Duration::milliseconds(1)).unwrap();
    let mut tied = Vec::new();
    for i in 0..3 {
        let other = registered(store, &format!("tied{i}")).await;
        let c = direct(store, &ada, &other).await;
        send(store, &c, &message_at(&c, &ada, "tie", tie + Duration::microseconds(i))).await;
        tied.push(c.conversation.id);
    }
    tied.sort_by(|a, b| b.cmp(a));
    let top = all_pages(1, |page| async move { store.list_inbox(ada.id, &page).await.map(|i| i.page) }).await;
    assert_eq!(top.iter().take(3).map(|e| e.id).collect::<Vec<_>>(), tied);

    let (_, cid) = conversations[0];
    let detail = store.get_conversation(cid).await.unwrap().unwrap();
    let mut sent = vec![];
    for i in 0..9 {
        let msg = message(&detail, &ada, &format!("m{i}"));
        send(store, &detail, &msg).await;
        sent.push(msg.id);
    }
    let all_ids: Vec<MessageId> = store
        .list_messages(cid, &PageRequest::first(100))
        .await
        .unwrap()
        .items
        .iter()
        .map(|m| m.message.id)
        .collect();
    assert_eq!(all_ids.len(), 10, "the bump and nine more");
    let mut newest_first = all_ids.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(all_ids, newest_first);
    for limit in [1, 4, 5, 10] {
        let all = all_pages(limit, |page| async move { store.list_messages(cid, &page).await }).await;
        assert_eq!(all.iter().map(|m| m.message.id).collect::<Vec<_>>(), newest_first, "limit {limit}");
    }
    assert!(sent.iter().all(|id| all_ids.contains(id)));
}

async fn a_cursor_only_resumes_the_listing_that_made_it<S: Stores>(store: &S) {
    pool(store, [1, 2, 3]).await;
    let (ada, bob) = (registered(store, "ada").await, registered(store, "bob").await);
    registered(store, "cy").await;
    registered(store, "abe").await;
    store.assign_number(ada.id, &number(3), Utc::now()).await.unwrap();
    let one = direct(store, &ada, &bob).await;
    direct(store, &bob, &registered(store, "dee").await).await;
    for text in ["a", "b"] {
        send(store, &one, &message(&one, &ada, text)).await;
    }
    let pool_cursor = store.list_numbers(Some(NumberStatus::Free), &PageRequest::first(1)).await.unwrap();
    let users_cursor = store.list_active_users(None, &PageRequest::first(1)).await.unwrap();
    let prefixed_cursor = store.list_active_users(Some("a"), &PageRequest::first(1)).await.unwrap();
    let inbox_cursor = store.list_inbox(bob.id, &PageRequest::first(1)).await.unwrap();
    let history_cursor = store.list_messages(one.conversation.id, &PageRequest::first(1)).await.unwrap();
    let all_numbers_cursor = store.list_numbers(None, &PageRequest::first(1)).await.unwrap();
    for page in [&users_cursor, &prefixed_cursor] {
        assert!(page.next_cursor.is_some());
    }
    assert!(pool_cursor.next_cursor.is_some() && inbox_cursor.next_cursor.is_some());
    assert!(history_cursor.next_cursor.is_some() && all_numbers_cursor.next_cursor.is_some());

    assert!(invalid_cursor(store.list_active_users(None, &resume(&pool_cursor, 1)).await));
    assert!(invalid_cursor(store.list_numbers(Some(NumberStatus::Assigned), &resume(&pool_cursor, 1)).await));
    assert!(invalid_cursor(store.list_numbers(Some(NumberStatus::Proxy), &resume(&pool_cursor, 1)).await));
    // The first of all numbers is the assigned one: not a cursor of the free ones.
    assert!(invalid_cursor(
        store.list_numbers(Some(NumberStatus::Free), &resume(&all_numbers_cursor, 1)).await
    ));
    assert!(invalid_cursor(store.list_numbers(None, &resume(&users_cursor, 1)).await));
    assert!(invalid_cursor(store.list_active_users(Some("z"), &resume(&users_cursor, 1)).await));
    assert!(invalid_cursor(store.list_active_users(Some("b"), &resume(&prefixed_cursor, 1)).await));
    assert!(invalid_cursor(store.list_inbox(ada.id, &resume(&inbox_cursor, 1)).await.map(|i| i.page)));
    assert!(invalid_cursor(store.list_messages(ConversationId::new(), &resume(&history_cursor, 1)).await));
    assert!(invalid_cursor(store.list_inbox(bob.id, &resume(&history_cursor, 1)).await.map(|i| i.page)));
    assert!(invalid_cursor(store.list_messages(one.conversation.id, &resume(&inbox_cursor, 1)).await));
    assert!(invalid_cursor(store.list_active_users(None, &resume(&history_cursor, 1)).await));
    for garbage in ["not a cursor", "", "e30", "7b7d", "%%%"] {
        let bad = PageRequest { limit: 1, cursor: Some(garbage.into()) };
        assert!(invalid_cursor(store.list_messages(one.conversation.id, &bad).await), "{garbage:?}");
        assert!(invalid_cursor(store.list_numbers(None, &bad).await), "{garbage:?}");
        assert!(invalid_cursor(store.list_inbox(bob.id, &bad).await.map(|i| i.page)), "{garbage:?}");
        assert!(invalid_cursor(store.list_active_users(None, &bad).await), "{garbage:?}");
    }
    // The same listing accepts its own cursors; a prefixed one also resumes the whole listing.
    assert!(store.list_numbers(None, &resume(&pool_cursor, 1)).await.is_ok());
    assert!(store.list_active_users(None, &resume(&prefixed_cursor, 1)).await.is_ok());
    assert_eq!(store.list_inbox(bob.id, &resume(&inbox_cursor, 1)).await.unwrap().items.len(), 1);
    assert_eq!(
        store.list_messages(one.conversation.id, &resume(&history_cursor, 5)).await.unwrap().items.len(),
        1
    );
}

async fn a_cursor_whose_item_is_gone_resumes_after_its_place<S: Stores>(store: &S) {
    pool(store, [1, 2, 3, 4]).await;
    let first = store.list_numbers(None, &PageRequest::first(2)).await.unwrap();
    assert_eq!(
        first.items.iter().map(|n| n.phone_number.clone()).collect::<Vec<_>>(),
        [number(1), number(2)]
    );
    store.remove_number(&number(2)).await.unwrap();
    let ada = registered(store, "ada").await;
    store.assign_number(ada.id, &number(1), Utc::now()).await.unwrap();

    let rest = store.list_numbers(None, &resume(&first, 2)).await.unwrap();

    // Resumed after the place of number 2 in the free section, whatever happened before it.
    let rest: Vec<_> = rest.items.into_iter().map(|n| n.phone_number).collect();
    assert_eq!(rest, [number(3), number(4)]);
}

// ---------------------------------------------------------------------------------------------
// Contacts

fn contact(owner: &User, name: &str, phone: &E164) -> Contact {
    let now = Utc::now();
    Contact {
        id: ContactId::new(),
        owner: owner.id,
        name: name.to_string(),
        phone: phone.clone(),
        notes: None,
        created_at: now,
        updated_at: now,
    }
}

async fn saved<S: Stores>(store: &S, owner: &User, name: &str, phone: &E164) -> Contact {
    let contact = contact(owner, name, phone);
    store.create_contact(&contact).await.unwrap();
    contact
}

/// The owner's contact names, in listing order, under `prefix` (as a caller types it).
async fn contact_listing<S: Stores>(store: &S, owner: &User, prefix: Option<&str>) -> Vec<String> {
    let prefix = prefix.map(normalize_contact_name);
    let all = all_pages(3, |page| {
        let prefix = prefix.clone();
        async move { store.list_contacts(owner.id, prefix.as_deref(), &page).await }
    })
    .await;
    all.into_iter().map(|c| c.name).collect()
}

async fn name_of<S: Stores>(store: &S, owner: &User, phone: &E164) -> Option<String> {
    let names = store.contact_names(owner.id, std::slice::from_ref(phone)).await.unwrap();
    names.get(phone).map(|n| n.name.clone())
}

async fn a_contact_phone_is_unique_per_owner_even_under_concurrent_creates<S: Stores>(store: &S) {
    let (ada, bob) = (registered(store, "ada").await, registered(store, "bob").await);
    let (first, second) = (contact(&ada, "Grace", &phone(1)), contact(&ada, "Amazing Grace", &phone(1)));
    let (a, b) = tokio::join!(store.create_contact(&first), store.create_contact(&second));
    let outcomes = [a, b];
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1, "{outcomes:?}");
    assert!(outcomes.iter().any(|o| matches!(o, Err(StoreError::ContactExists))), "{outcomes:?}");
    let winner = if outcomes[0].is_ok() { &first } else { &second };
    let loser = if outcomes[0].is_ok() { &second } else { &first };
    assert_eq!(store.get_contact(ada.id, loser.id).await.unwrap(), None, "the loser wrote nothing");
    assert_eq!(contact_listing(store, &ada, None).await, vec![winner.name.clone()]);
    assert_eq!(name_of(store, &ada, &phone(1)).await.as_deref(), Some(winner.name.as_str()));
    // Another owner names the same phone in their own book.
    saved(store, &bob, "Grace H.", &phone(1)).await;
    assert_eq!(name_of(store, &bob, &phone(1)).await.as_deref(), Some("Grace H."));
}

async fn contacts_are_private_to_their_owner<S: Stores>(store: &S) {
    let (ada, bob) = (registered(store, "ada").await, registered(store, "bob").await);
    let grace = saved(store, &ada, "Grace", &phone(1)).await;
    assert_eq!(store.get_contact(ada.id, grace.id).await.unwrap(), Some(grace.clone()));
    assert_eq!(store.get_contact(bob.id, grace.id).await.unwrap(), None);
    assert!(contact_listing(store, &bob, None).await.is_empty());
    assert_eq!(name_of(store, &bob, &phone(1)).await, None);
    let forged = Contact { owner: bob.id, ..grace.clone() };
    assert!(matches!(error(store.delete_contact(&forged).await), StoreError::ContactNotFound));
    let renamed = Contact { name: "Mine".into(), ..forged.clone() };
    assert!(matches!(error(store.update_contact(&forged, &renamed).await), StoreError::ContactNotFound));
    assert_eq!(store.get_contact(ada.id, grace.id).await.unwrap(), Some(grace));
}

async fn a_rename_moves_the_contact_in_the_name_listing_and_renames_its_phone<S: Stores>(store: &S) {
    let ada = registered(store, "ada").await;
    let before = saved(store, &ada, "Ada Lovelace", &phone(1)).await;
    saved(store, &ada, "Alan", &phone(2)).await;
    let after =
        Contact { name: "Countess of Lovelace".into(), notes: Some("maths".into()), ..before.clone() };
    store.update_contact(&before, &after).await.unwrap();
    assert_eq!(contact_listing(store, &ada, Some("ad")).await, Vec::<String>::new());
    assert_eq!(contact_listing(store, &ada, Some("COUNT")).await, ["Countess of Lovelace"]);
    assert_eq!(contact_listing(store, &ada, None).await, ["Alan", "Countess of Lovelace"]);
    assert_eq!(name_of(store, &ada, &phone(1)).await.as_deref(), Some("Countess of Lovelace"));
    assert_eq!(store.get_contact(ada.id, before.id).await.unwrap(), Some(after));
}

async fn a_phone_change_moves_the_claim_and_a_stale_or_gone_contact_is_refused<S: Stores>(store: &S) {
    let ada = registered(store, "ada").await;
    let grace = saved(store, &ada, "Grace", &phone(1)).await;
    let alan = saved(store, &ada, "Alan", &phone(2)).await;
    // To a phone another contact has: refused, nothing changed.
    let onto_alan = Contact { phone: phone(2), ..grace.clone() };
    assert!(matches!(error(store.update_contact(&grace, &onto_alan).await), StoreError::ContactExists));
    assert_eq!(name_of(store, &ada, &phone(1)).await.as_deref(), Some("Grace"));
    // To a free phone: the old one is free again, the new one names her.
    let moved = Contact { phone: phone(3), ..grace.clone() };
    store.update_contact(&grace, &moved).await.unwrap();
    assert_eq!(name_of(store, &ada, &phone(1)).await, None);
    assert_eq!(name_of(store, &ada, &phone(3)).await.as_deref(), Some("Grace"));
    saved(store, &ada, "Someone", &phone(1)).await;
    // A write from the contact as it was before the move: contention, nothing changed.
    let stale = Contact { name: "Old Grace".into(), ..grace.clone() };
    assert!(matches!(error(store.update_contact(&grace, &stale).await), StoreError::Contention));
    assert!(matches!(error(store.delete_contact(&grace).await), StoreError::Contention));
    // A contact deleted meanwhile is not found.
    store.delete_contact(&alan).await.unwrap();
    let renamed = Contact { name: "Alan T.".into(), ..alan.clone() };
    assert!(matches!(error(store.update_contact(&alan, &renamed).await), StoreError::ContactNotFound));
    assert_eq!(contact_listing(store, &ada, None).await, ["Grace", "Someone"]);
}

async fn deleting_a_contact_frees_its_phone<S: Stores>(store: &S) {
    let ada = registered(store, "ada").await;
    let grace = saved(store, &ada, "Grace", &phone(1)).await;
    store.delete_contact(&grace).await.unwrap();
    assert_eq!(store.get_contact(ada.id, grace.id).await.unwrap(), None);
    assert_eq!(name_of(store, &ada, &phone(1)).await, None);
    assert!(contact_listing(store, &ada, None).await.is_empty());
    assert!(matches!(error(store.delete_contact(&grace).await), StoreError::ContactNotFound));
    saved(store, &ada, "Grace again", &phone(1)).await;
}

async fn contact_pages_follow_cursors_by_name_under_a_prefix<S: Stores>(store: &S) {
    let (ada, bob) = (registered(store, "ada").await, registered(store, "bob").await);
    let names = ["bob", "Alba", "alan", "Al", "zed", "ALFIE", "alto", "Al"];
    for (i, name) in names.iter().enumerate() {
        saved(store, &ada, name, &phone(i as u32)).await;
    }
    saved(store, &bob, "Alice", &phone(1)).await;
    let under_al = contact_listing(store, &ada, Some(" aL")).await;
    assert_eq!(under_al.len(), 6, "{under_al:?}");
    assert_eq!(&under_al[2..], ["alan", "Alba", "ALFIE", "alto"]);
    assert_eq!(&under_al[..2], ["Al", "Al"], "same names, one entry each");
    let everyone = contact_listing(store, &ada, None).await;
    assert_eq!(&everyone[6..], ["bob", "zed"]);
    let first = store.list_contacts(ada.id, Some("al"), &PageRequest::first(2)).await.unwrap();
    assert!(invalid_cursor(store.list_contacts(bob.id, Some("al"), &resume(&first, 2)).await));
    assert!(invalid_cursor(store.list_contacts(ada.id, Some("b"), &resume(&first, 2)).await));
}
