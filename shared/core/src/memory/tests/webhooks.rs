use super::*;
use crate::ports::queue::Job;
use crate::ports::webhooks::{InboundWrite, OptChange, StatusOutcome, StatusUpdate};
use crate::ports::{OutboxStore, PageRequest, StoreError, WebhookStore};

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

fn write<'a>(sid: &'a str, message: Option<&'a Message>, inbox_user_id: Option<UserId>) -> InboundWrite<'a> {
    InboundWrite {
        message_sid: sid,
        message,
        preview: "hello".into(),
        inbox_user_id,
        opt_change: None,
        relay: false,
    }
}

fn status(delivery: &Delivery, status: DeliveryStatus) -> StatusUpdate {
    StatusUpdate { delivery: delivery.id(), status, sid: None, error_code: None, error_message: None }
}

/// A group with one phone and a pending delivery to it.
async fn pending(store: &MemoryStore) -> Delivery {
    pool(store, [1]).await;
    let ada = registered(store, "ada").await;
    let detail = group(store, &ada, &[], &[(phone(1), number(1))]).await;
    send(store, &detail, &message(&detail, &ada, "hi")).await.remove(0)
}

#[tokio::test]
async fn given_a_stored_message_sid_when_the_webhook_is_retried_then_duplicate_and_stored_once() {
    let store = MemoryStore::new();
    let ada = with_number(&store, "ada", 1).await;
    let detail = sms_conversation(&store, &ada, &phone(1)).await;
    let first = inbound(&detail, &phone(1), "SM1");
    store.record_inbound(&write("SM1", Some(&first), Some(ada.id))).await.unwrap();

    let retry = inbound(&detail, &phone(1), "SM1");
    let err = store.record_inbound(&write("SM1", Some(&retry), Some(ada.id))).await.unwrap_err();

    assert!(matches!(err, StoreError::Duplicate), "{err:?}");
    let history = store.list_messages(detail.conversation.id, &PageRequest::first(10)).await.unwrap();
    assert_eq!(history.items.iter().map(|m| m.message.id).collect::<Vec<_>>(), [first.id]);
    assert!(store.inbound_recorded("SM1"));
    let line = &store.list_inbox(ada.id, &PageRequest::first(1)).await.unwrap().items[0];
    assert_eq!(line.last_message_preview.as_deref(), Some("hello"));
}

#[tokio::test]
async fn given_a_closed_conversation_when_a_text_arrives_then_inactive_and_its_sid_is_not_kept() {
    let store = MemoryStore::new();
    let ada = with_number(&store, "ada", 1).await;
    let detail = sms_conversation(&store, &ada, &phone(1)).await;
    store.close_conversation(&detail).await.unwrap();

    let text = inbound(&detail, &phone(1), "SM1");
    let err = store.record_inbound(&write("SM1", Some(&text), Some(ada.id))).await.unwrap_err();

    assert!(matches!(err, StoreError::ConversationInactive), "{err:?}");
    assert!(!store.inbound_recorded("SM1"));
}

#[tokio::test]
async fn a_stop_without_a_conversation_records_the_opt_out_once() {
    let store = MemoryStore::new();
    pool(&store, [1]).await;
    let stop = InboundWrite {
        opt_change: Some(OptChange { number: &number(1), phone: &phone(1), opted_out: true }),
        ..write("SM1", None, None)
    };

    store.record_inbound(&stop).await.unwrap();

    let lookup = store.inbound_lookup(&number(1), &phone(1)).await.unwrap();
    assert!(lookup.opted_out && lookup.in_pool && lookup.route.is_none() && lookup.owner_id.is_none());
    assert!(matches!(store.record_inbound(&stop).await, Err(StoreError::Duplicate)));
}

#[tokio::test]
async fn the_inbound_lookup_names_the_route_and_the_numbers_owner() {
    let store = MemoryStore::new();
    let ada = with_number(&store, "ada", 1).await;
    let detail = sms_conversation(&store, &ada, &phone(1)).await;

    let lookup = store.inbound_lookup(&number(1), &phone(1)).await.unwrap();

    let route = lookup.route.unwrap();
    assert_eq!(
        (route.conversation_id, route.participant_id),
        (detail.conversation.id, participant_of(&detail, &phone(1)).id)
    );
    assert_eq!((lookup.in_pool, lookup.owner_id, lookup.opted_out), (true, Some(ada.id), false));
    let stranger = store.inbound_lookup(&number(1), &phone(2)).await.unwrap();
    assert!(stranger.route.is_none() && stranger.owner_id == Some(ada.id));
    assert_eq!(store.inbound_lookup(&number(9), &phone(1)).await.unwrap(), Default::default());
}

#[tokio::test]
async fn statuses_only_move_forward_whatever_order_callbacks_arrive_in() {
    let store = MemoryStore::new();
    let delivery = pending(&store).await;

    assert_eq!(
        store.apply_status(&status(&delivery, DeliveryStatus::Delivered)).await.unwrap(),
        StatusOutcome::Applied
    );
    for late in
        [DeliveryStatus::Sent, DeliveryStatus::Queued, DeliveryStatus::Delivered, DeliveryStatus::Failed]
    {
        assert_eq!(
            store.apply_status(&status(&delivery, late)).await.unwrap(),
            StatusOutcome::Stale,
            "{late:?}"
        );
    }
    assert_eq!(store.delivery(&delivery.id()).unwrap().status, DeliveryStatus::Delivered);
}

#[tokio::test]
async fn read_follows_delivered_implies_it_when_early_and_never_covers_a_failure() {
    let store = MemoryStore::new();
    let delivery = pending(&store).await;

    assert_eq!(
        store.apply_status(&status(&delivery, DeliveryStatus::Sent)).await.unwrap(),
        StatusOutcome::Applied
    );
    assert_eq!(
        store.apply_status(&status(&delivery, DeliveryStatus::Read)).await.unwrap(),
        StatusOutcome::Applied
    );
    assert_eq!(
        store.apply_status(&status(&delivery, DeliveryStatus::Delivered)).await.unwrap(),
        StatusOutcome::Stale
    );

    let other = pending_of_another_message(&store, &delivery).await;
    store.apply_status(&status(&other, DeliveryStatus::Undelivered)).await.unwrap();
    assert_eq!(
        store.apply_status(&status(&other, DeliveryStatus::Read)).await.unwrap(),
        StatusOutcome::Stale
    );
    assert_eq!(store.delivery(&other.id()).unwrap().status, DeliveryStatus::Undelivered);
}

/// Another message's pending delivery in the same conversation.
async fn pending_of_another_message(store: &MemoryStore, delivery: &Delivery) -> Delivery {
    let detail = store.get_conversation(delivery.conversation_id).await.unwrap().unwrap();
    let author = store.get_users(&detail.user_ids()).await.unwrap().remove(0);
    send(store, &detail, &message(&detail, &author, "again")).await.remove(0)
}

#[tokio::test]
async fn a_callback_adds_its_sid_and_error_but_never_replaces_a_sid() {
    let store = MemoryStore::new();
    let delivery = pending(&store).await;
    let sent = StatusUpdate {
        sid: Some("SM1".into()),
        error_code: Some(30003),
        error_message: Some("unreachable".into()),
        ..status(&delivery, DeliveryStatus::Sent)
    };
    store.apply_status(&sent).await.unwrap();

    let other_sid =
        StatusUpdate { sid: Some("SM2".into()), ..status(&delivery, DeliveryStatus::Undelivered) };
    assert_eq!(store.apply_status(&other_sid).await.unwrap(), StatusOutcome::Applied);

    let stored = store.delivery(&delivery.id()).unwrap();
    assert_eq!((stored.twilio_sid.as_deref(), stored.error_code), (Some("SM1"), Some(30003)));
    assert_eq!(store.delivery_by_sid("SM1").await.unwrap(), Some(delivery.id()));
    assert_eq!(store.delivery_by_sid("SM2").await.unwrap(), None);
}

#[tokio::test]
async fn a_callback_for_an_unknown_delivery_creates_nothing() {
    let store = MemoryStore::new();
    let delivery = pending(&store).await;
    let unknown = Delivery { participant_id: ParticipantId::new(), ..delivery };

    assert_eq!(
        store.apply_status(&status(&unknown, DeliveryStatus::Sent)).await.unwrap(),
        StatusOutcome::Unknown
    );
    assert_eq!(store.delivery(&unknown.id()), None);
}

/// A group of ada and bob with phones 1 and 2 (through number 1), and a text from phone 1
/// stored as a pending relay; the relays to the other phone.
async fn relayed_text(store: &MemoryStore) -> (User, User, ConversationDetail, Message, Vec<Delivery>) {
    pool(store, [1]).await;
    let (ada, bob) = (registered(store, "ada").await, registered(store, "bob").await);
    let detail = group(store, &ada, &[&bob], &[(phone(1), number(1)), (phone(2), number(1))]).await;
    let text = inbound(&detail, &phone(1), "SM1");
    let relays =
        pending_deliveries(&detail, &text).into_iter().filter(|d| d.to == phone(2)).collect::<Vec<_>>();
    store.record_inbound(&InboundWrite { relay: true, ..write("SM1", Some(&text), None) }).await.unwrap();
    (ada, bob, detail, text, relays)
}

#[tokio::test]
async fn a_group_text_waits_in_the_outbox_as_a_pending_relay() {
    let store = MemoryStore::new();
    let (_, _, detail, text, _) = relayed_text(&store).await;

    assert!(store.relay_pending(text.id));
    let due = store.due_jobs(Utc::now(), 10).await.unwrap();
    assert_eq!(due, [Job::relay(detail.conversation.id, text.id)]);
    // Stored as any inbound text; a one-to-one text is no relay.
    assert_eq!(store.get_message(text.id).await.unwrap().unwrap().message, text);
    let cy = with_number(&store, "cy", 2).await;
    let sms = sms_conversation(&store, &cy, &phone(3)).await;
    let direct = inbound(&sms, &phone(3), "SM2");
    store.record_inbound(&write("SM2", Some(&direct), Some(cy.id))).await.unwrap();
    assert!(!store.relay_pending(direct.id));
}

#[tokio::test]
async fn a_relay_fans_out_once_into_the_outbox_and_the_inbox_lines() {
    let store = MemoryStore::new();
    let (ada, bob, detail, text, relays) = relayed_text(&store).await;

    assert!(store.fan_out_relays(&detail, &text, &relays, "relayed").await.unwrap());

    assert!(!store.relay_pending(text.id));
    let stored = store.delivery(&relays[0].id()).unwrap();
    assert_eq!((stored.status, stored.attempts), (DeliveryStatus::Pending, 0));
    assert_eq!(store.due_jobs(Utc::now(), 10).await.unwrap(), [Job::delivery(relays[0].id())]);
    for user in [&ada, &bob] {
        let line = &store.list_inbox(user.id, &PageRequest::first(1)).await.unwrap().items[0];
        assert_eq!(line.last_message_preview.as_deref(), Some("relayed"));
    }
    // The job delivered twice: done before, nothing written (not even other relays).
    let other = Delivery { participant_id: ParticipantId::new(), ..relays[0].clone() };
    assert!(!store.fan_out_relays(&detail, &text, std::slice::from_ref(&other), "again").await.unwrap());
    assert_eq!(store.delivery(&other.id()), None);
    let line = &store.list_inbox(ada.id, &PageRequest::first(1)).await.unwrap().items[0];
    assert_eq!(line.last_message_preview.as_deref(), Some("relayed"));
}

#[tokio::test]
async fn given_a_participant_left_since_the_read_when_fanning_out_then_contention_and_nothing_is_written() {
    let store = MemoryStore::new();
    let (ada, bob, read, text, relays) = relayed_text(&store).await;
    store.remove_participant(&read, read.participant_for_user(bob.id).unwrap(), None).await.unwrap();
    let before =
        store.list_inbox(ada.id, &PageRequest::first(1)).await.unwrap().items[0].last_message_preview.clone();

    let err = store.fan_out_relays(&read, &text, &relays, "relayed").await.unwrap_err();

    assert!(matches!(err, StoreError::Contention), "{err:?}");
    assert_eq!(store.delivery(&relays[0].id()), None);
    assert!(store.relay_pending(text.id), "still in the outbox: the job reads the group again");
    let after =
        store.list_inbox(ada.id, &PageRequest::first(1)).await.unwrap().items[0].last_message_preview.clone();
    assert_eq!(after, before);
    // Read again, it goes through.
    let fresh = store.get_conversation(read.conversation.id).await.unwrap().unwrap();
    assert!(store.fan_out_relays(&fresh, &text, &relays, "relayed").await.unwrap());
}

#[tokio::test]
async fn fanning_out_a_message_that_is_no_pending_relay_is_done_before() {
    let store = MemoryStore::new();
    let (_, _, detail, _, relays) = relayed_text(&store).await;
    let never = inbound(&detail, &phone(1), "SM9");

    assert!(!store.fan_out_relays(&detail, &never, &relays, "p").await.unwrap());
    assert_eq!(store.delivery(&relays[0].id()), None);
}
