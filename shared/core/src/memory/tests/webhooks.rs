use super::*;
use crate::ports::webhooks::{InboundWrite, OptChange, StatusOutcome, StatusUpdate};
use crate::ports::{PageRequest, StoreError, WebhookStore};

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
        twilio_sid: Some(sid.into()),
        created_at: Utc::now(),
        edited_at: None,
        deleted: false,
    }
}

fn write<'a>(sid: &'a str, message: Option<&'a Message>, inbox_user_id: Option<UserId>) -> InboundWrite<'a> {
    InboundWrite { message_sid: sid, message, preview: "hello".into(), inbox_user_id, opt_change: None }
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

#[tokio::test]
async fn relays_are_stored_even_when_a_participant_left_but_the_inbox_lines_then_stay() {
    let store = MemoryStore::new();
    pool(&store, [1]).await;
    let (ada, bob) = (registered(&store, "ada").await, registered(&store, "bob").await);
    let read = group(&store, &ada, &[&bob], &[(phone(1), number(1)), (phone(2), number(1))]).await;
    store.remove_participant(&read, read.participant_for_user(bob.id).unwrap(), None).await.unwrap();
    let text = inbound(&read, &phone(1), "SM1");
    let relay = pending_deliveries(&read, &text).into_iter().filter(|d| d.to == phone(2)).collect::<Vec<_>>();
    store.record_inbound(&write("SM1", Some(&text), None)).await.unwrap();
    let before =
        store.list_inbox(ada.id, &PageRequest::first(1)).await.unwrap().items[0].last_message_preview.clone();

    store.store_relays(&read, &text, &relay, "relayed").await.unwrap();

    assert_eq!(store.delivery(&relay[0].id()).unwrap().status, DeliveryStatus::Pending);
    let after =
        store.list_inbox(ada.id, &PageRequest::first(1)).await.unwrap().items[0].last_message_preview.clone();
    assert_eq!(after, before);
    assert!(matches!(store.store_relays(&read, &text, &relay, "again").await, Err(StoreError::Contention)));
}
