use std::sync::Arc;

use super::*;
use crate::domain::number::NumberStatus;
use crate::ports::StoreError;

#[tokio::test]
async fn a_number_is_added_once() {
    let store = MemoryStore::new();
    let added = store.add_number(&number(1), Utc::now()).await.unwrap();
    assert_eq!((added.status(), added.route_count), (NumberStatus::Free, 0));

    assert!(matches!(store.add_number(&number(1), Utc::now()).await, Err(StoreError::NumberInPool)));
    assert_eq!(store.numbers_in_pool(&[number(1), number(2)]).await.unwrap(), [number(1)].into());
}

#[tokio::test]
async fn given_two_users_racing_for_one_number_then_exactly_one_gets_it() {
    let store = Arc::new(MemoryStore::new());
    pool(&store, [1]).await;
    let (ada, bob) = (registered(&store, "ada").await, registered(&store, "bob").await);

    let (a, b) = tokio::join!(
        tokio::spawn({
            let store = store.clone();
            async move { store.assign_number(ada.id, &number(1), Utc::now()).await }
        }),
        tokio::spawn({
            let store = store.clone();
            async move { store.assign_number(bob.id, &number(1), Utc::now()).await }
        }),
    );

    let outcomes = [a.unwrap(), b.unwrap()];
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1);
    assert!(outcomes.iter().any(|o| matches!(o, Err(StoreError::NumberTaken))), "{outcomes:?}");
    let owner = store.pool_number(&number(1)).unwrap().owner_id.unwrap();
    let holders: Vec<_> = store
        .get_users(&[ada.id, bob.id])
        .await
        .unwrap()
        .into_iter()
        .filter(|u| u.virtual_number.is_some())
        .collect();
    assert_eq!(holders.iter().map(|u| u.id).collect::<Vec<_>>(), [owner], "the user and the number agree");
}

#[tokio::test]
async fn assignment_names_the_users_failure_first_then_the_numbers() {
    let store = MemoryStore::new();
    let ada = with_number(&store, "ada", 1).await;
    pool(&store, [2]).await;
    let gone = registered(&store, "gone").await;
    store.set_active(&gone, false).await.unwrap();
    let bob = registered(&store, "bob").await;

    let store = &store;
    let assign =
        |user: UserId, n: u32| async move { store.assign_number(user, &number(n), Utc::now()).await };
    assert!(matches!(assign(ada.id, 2).await, Err(StoreError::UserHasNumber)));
    assert!(matches!(assign(gone.id, 2).await, Err(StoreError::UserNotFound)));
    assert!(matches!(assign(UserId::new(), 2).await, Err(StoreError::UserNotFound)));
    assert!(matches!(assign(ada.id, 9).await, Err(StoreError::UserHasNumber)), "user first");
    assert!(matches!(assign(bob.id, 9).await, Err(StoreError::NumberNotInPool)));
    assert!(matches!(assign(bob.id, 1).await, Err(StoreError::NumberTaken)));
}

#[tokio::test]
async fn a_number_carrying_group_routes_is_neither_assigned_nor_removed() {
    let store = MemoryStore::new();
    pool(&store, [1]).await;
    let ada = registered(&store, "ada").await;
    group(&store, &ada, &[], &[(phone(1), number(1))]).await;

    assert!(matches!(
        store.assign_number(ada.id, &number(1), Utc::now()).await,
        Err(StoreError::NumberInUse)
    ));
    assert!(matches!(store.remove_number(&number(1)).await, Err(StoreError::NumberInUse)));
    assert_eq!(store.pool_number(&number(1)).unwrap().route_count, 1);
}

#[tokio::test]
async fn only_a_free_number_is_removed() {
    let store = MemoryStore::new();
    with_number(&store, "ada", 1).await;
    pool(&store, [2]).await;

    assert!(matches!(store.remove_number(&number(1)).await, Err(StoreError::NumberAssigned)));
    assert!(matches!(store.remove_number(&number(9)).await, Err(StoreError::NumberNotInPool)));
    store.remove_number(&number(2)).await.unwrap();
    assert!(store.numbers_in_pool(&[number(2)]).await.unwrap().is_empty());
}

#[tokio::test]
async fn releasing_needs_the_number_and_clears_the_releasing_mark() {
    let store = MemoryStore::new();
    let ada = with_number(&store, "ada", 1).await;
    let bob = registered(&store, "bob").await;

    assert!(matches!(
        store.mark_number_releasing(bob.id, &number(1)).await,
        Err(StoreError::UserHasNoNumber)
    ));
    assert!(matches!(store.release_number(bob.id, &number(1)).await, Err(StoreError::UserHasNoNumber)));
    store.mark_number_releasing(ada.id, &number(1)).await.unwrap();
    assert_eq!(store.number_releasing(ada.id), Some(number(1)));

    store.release_number(ada.id, &number(1)).await.unwrap();

    assert_eq!(store.number_releasing(ada.id), None);
    assert_eq!(store.get_user(ada.id).await.unwrap().unwrap().virtual_number, None);
    let n = store.pool_number(&number(1)).unwrap();
    assert_eq!((n.status(), n.assigned_at), (NumberStatus::Free, None));
    assert!(matches!(store.release_number(ada.id, &number(1)).await, Err(StoreError::UserHasNoNumber)));
}

#[tokio::test]
async fn given_a_number_being_released_when_an_sms_conversation_starts_on_it_then_number_changed() {
    let store = MemoryStore::new();
    let ada = with_number(&store, "ada", 1).await;
    store.mark_number_releasing(ada.id, &number(1)).await.unwrap();

    let detail = sms_detail(&ada, &phone(1));
    let new = NewConversation {
        detail: &detail,
        direct_pair: None,
        sms_owner: Some((ada.id, &number(1))),
        idle_deadline: None,
    };
    let err = store.create_conversation(new).await.unwrap_err();

    assert!(matches!(err, StoreError::NumberChanged), "{err:?}");
    assert_eq!(store.route_conversation(&number(1), &phone(1)).await.unwrap(), None);
    assert!(store.get_conversation(detail.conversation.id).await.unwrap().is_none());
}

#[tokio::test]
async fn given_a_user_who_released_the_number_when_an_sms_conversation_starts_on_it_then_number_changed() {
    let store = MemoryStore::new();
    let ada = with_number(&store, "ada", 1).await;
    let detail = sms_detail(&ada, &phone(1));
    store.release_number(ada.id, &number(1)).await.unwrap();

    let new = NewConversation {
        detail: &detail,
        direct_pair: None,
        sms_owner: Some((ada.id, &number(1))),
        idle_deadline: None,
    };
    assert!(matches!(store.create_conversation(new).await, Err(StoreError::NumberChanged)));
}
