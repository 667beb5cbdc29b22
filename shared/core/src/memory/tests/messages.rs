use chrono::Duration;

use super::*;
use crate::ports::messages::{IdempotentSend, MessageChange};
use crate::ports::{PageRequest, StoreError};

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

#[tokio::test]
async fn given_a_used_idempotency_key_when_sending_again_then_key_used_and_nothing_is_written() {
    let store = MemoryStore::new();
    let (ada, bob) = (registered(&store, "ada").await, registered(&store, "bob").await);
    let detail = direct(&store, &ada, &bob).await;
    let first = message(&detail, &ada, "one");
    store.create_message(&keyed(&detail, &first, &ada, "k1")).await.unwrap();

    let second = message(&detail, &ada, "two");
    let err = store.create_message(&keyed(&detail, &second, &ada, "k1")).await.unwrap_err();

    assert!(matches!(err, StoreError::IdempotencyKeyUsed), "{err:?}");
    assert!(store.get_message(second.id).await.unwrap().is_none());
    let earlier = store.find_idempotent(ada.id, "k1").await.unwrap();
    assert_eq!(
        earlier,
        Some(IdempotentSend { conversation_id: detail.conversation.id, message_id: first.id })
    );
    // Keys are per sender.
    store.create_message(&keyed(&detail, &second, &bob, "k1")).await.unwrap();
}

#[tokio::test]
async fn an_idempotency_key_expires_after_a_day() {
    let store = MemoryStore::new();
    let (ada, bob) = (registered(&store, "ada").await, registered(&store, "bob").await);
    let detail = direct(&store, &ada, &bob).await;
    let old = message_at(&detail, &ada, "old", Utc::now() - Duration::hours(25));
    store.create_message(&keyed(&detail, &old, &ada, "k")).await.unwrap();

    assert_eq!(store.find_idempotent(ada.id, "k").await.unwrap(), None);
    let new = message(&detail, &ada, "new");
    store.create_message(&keyed(&detail, &new, &ada, "k")).await.unwrap();
    assert_eq!(store.find_idempotent(ada.id, "k").await.unwrap().map(|s| s.message_id), Some(new.id));
}

#[tokio::test]
async fn given_a_closed_conversation_when_sending_then_inactive_unless_the_key_was_used() {
    let store = MemoryStore::new();
    let (ada, bob) = (registered(&store, "ada").await, registered(&store, "bob").await);
    let detail = direct(&store, &ada, &bob).await;
    store.create_message(&keyed(&detail, &message(&detail, &ada, "one"), &ada, "k")).await.unwrap();
    store.close_conversation(&detail).await.unwrap();

    let fresh = message(&detail, &ada, "two");
    let new = NewMessage { idempotency: None, ..keyed(&detail, &fresh, &ada, "k") };
    assert!(matches!(store.create_message(&new).await, Err(StoreError::ConversationInactive)));
    // The adapter names a used key before anything else that failed.
    assert!(matches!(
        store.create_message(&keyed(&detail, &fresh, &ada, "k")).await,
        Err(StoreError::IdempotencyKeyUsed)
    ));
}

#[tokio::test]
async fn given_a_participant_left_since_the_read_when_sending_then_contention() {
    let store = MemoryStore::new();
    let (ada, bob) = (registered(&store, "ada").await, registered(&store, "bob").await);
    let read = group(&store, &ada, &[&bob], &[]).await;
    let bob_member = read.participant_for_user(bob.id).unwrap().clone();
    store.remove_participant(&read, &bob_member, None).await.unwrap();

    let msg = message(&read, &ada, "hi");
    let new = NewMessage {
        detail: &read,
        message: &msg,
        deliveries: &[],
        idempotency: None,
        preview: "hi".into(),
        idle_deadline: None,
    };

    assert!(matches!(store.create_message(&new).await, Err(StoreError::Contention)));
}

#[tokio::test]
async fn a_message_moves_the_conversation_and_every_inbox_line() {
    let store = MemoryStore::new();
    let (ada, bob) = (registered(&store, "ada").await, registered(&store, "bob").await);
    let detail = direct(&store, &ada, &bob).await;
    let later = Utc::now() + Duration::seconds(5);

    send(&store, &detail, &message_at(&detail, &bob, "latest", later)).await;

    let stored = store.get_conversation(detail.conversation.id).await.unwrap().unwrap().conversation;
    assert_eq!((stored.last_message_at, stored.last_message_preview.as_deref()), (later, Some("latest")));
    for user in [&ada, &bob] {
        let line = &store.list_inbox(user.id, &PageRequest::first(1)).await.unwrap().items[0];
        assert_eq!((line.last_message_at, line.last_message_preview.as_deref()), (later, Some("latest")));
    }
}

#[tokio::test]
async fn history_is_newest_first_with_each_messages_deliveries() {
    let store = MemoryStore::new();
    pool(&store, [1]).await;
    let ada = registered(&store, "ada").await;
    let detail = group(&store, &ada, &[], &[(phone(1), number(1)), (phone(2), number(1))]).await;
    let mut sent = Vec::new();
    for text in ["a", "b", "c"] {
        let msg = message(&detail, &ada, text);
        send(&store, &detail, &msg).await;
        sent.push(msg.id);
    }

    let page = store.list_messages(detail.conversation.id, &PageRequest::first(2)).await.unwrap();
    let rest = store
        .list_messages(detail.conversation.id, &PageRequest { limit: 2, cursor: page.next_cursor.clone() })
        .await
        .unwrap();

    let ids: Vec<_> = page.items.iter().chain(&rest.items).map(|m| m.message.id).collect();
    // Ids sort by time (and at random within a millisecond): history follows them.
    let mut newest_first = sent.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, newest_first);
    assert_eq!(rest.next_cursor, None);
    for stored in page.items.iter().chain(&rest.items) {
        assert_eq!(stored.deliveries.len(), 2);
        assert!(stored.deliveries.iter().all(|d| d.message_id == stored.message.id));
        assert!(stored.deliveries[0].participant_id < stored.deliveries[1].participant_id);
    }
    let one = store.get_message(sent[1]).await.unwrap().unwrap();
    assert_eq!((one.message.content.as_str(), one.deliveries.len()), ("b", 2));
}

#[tokio::test]
async fn only_the_author_changes_a_message_and_a_deleted_one_is_gone() {
    let store = MemoryStore::new();
    let (ada, bob) = (registered(&store, "ada").await, registered(&store, "bob").await);
    let detail = direct(&store, &ada, &bob).await;
    let msg =
        Message { media_urls: vec!["https://example.com/a.png".into()], ..message(&detail, &ada, "hi") };
    send(&store, &detail, &msg).await;
    let now = Utc::now();

    let edited = store
        .change_message(&msg, ada.id, MessageChange::Edit { content: "hey".into(), at: now })
        .await
        .unwrap();
    assert_eq!((edited.content.as_str(), edited.edited_at), ("hey", Some(now)));
    let err = store.change_message(&msg, bob.id, MessageChange::Delete { at: now }).await.unwrap_err();
    assert!(matches!(err, StoreError::NotAuthor), "{err:?}");

    let deleted = store.change_message(&msg, ada.id, MessageChange::Delete { at: now }).await.unwrap();
    assert!(deleted.deleted && deleted.content.is_empty() && deleted.media_urls.is_empty());
    let err = store.change_message(&msg, ada.id, MessageChange::Delete { at: now }).await.unwrap_err();
    assert!(matches!(err, StoreError::MessageNotFound), "{err:?}");
    assert!(matches!(
        store.change_message(&msg, bob.id, MessageChange::Delete { at: now }).await,
        Err(StoreError::NotAuthor)
    ));
    let unknown = message(&detail, &ada, "never stored");
    assert!(matches!(
        store.change_message(&unknown, ada.id, MessageChange::Delete { at: now }).await,
        Err(StoreError::MessageNotFound)
    ));
}

#[tokio::test]
async fn opt_outs_are_per_number_and_phone() {
    let store = MemoryStore::new();
    store.set_opt_out(&number(1), &phone(1), true).await.unwrap();

    let pairs = [(number(1), phone(1)), (number(2), phone(1))];
    assert_eq!(store.opted_out(&pairs).await.unwrap(), [(number(1), phone(1))].into());
    store.set_opt_out(&number(1), &phone(1), false).await.unwrap();
    assert!(store.opted_out(&pairs).await.unwrap().is_empty());
}
