use super::*;
use crate::domain::number::NumberStatus;
use crate::ports::users::{LoginKey, ProfileChanges};
use crate::ports::{PageRequest, StoreError, UniqueField};

#[tokio::test]
async fn given_a_user_when_another_registers_the_same_email_then_it_is_taken_and_nothing_is_written() {
    let store = MemoryStore::new();
    let ada = registered(&store, "ada").await;

    let twin = User { id: UserId::new(), username: "other".into(), ..ada.clone() };
    let err = store.create_user(&twin).await.unwrap_err();

    assert!(matches!(err, StoreError::Taken(UniqueField::Email)), "{err:?}");
    assert_eq!(store.find_user_id(&LoginKey::Username("other".into())).await.unwrap(), None);
    assert_eq!(store.get_user(twin.id).await.unwrap(), None);
}

#[tokio::test]
async fn given_a_user_when_another_registers_the_username_in_other_case_then_it_is_taken() {
    let store = MemoryStore::new();
    registered(&store, "Ada").await;

    let err =
        store.create_user(&User { email: "other@example.com".into(), ..user("aDA") }).await.unwrap_err();

    assert!(matches!(err, StoreError::Taken(UniqueField::Username)), "{err:?}");
}

#[tokio::test]
async fn users_are_found_by_lower_cased_email_or_normalized_username() {
    let store = MemoryStore::new();
    let ada = registered(&store, "Ada").await;

    assert_eq!(store.find_user_id(&LoginKey::Email("ADA@example.com".into())).await.unwrap(), Some(ada.id));
    assert_eq!(store.find_user_id(&LoginKey::Username(" ADA ".into())).await.unwrap(), Some(ada.id));
    let found = store.get_users(&[UserId::new(), ada.id, ada.id]).await.unwrap();
    assert_eq!(found.iter().map(|u| u.id).collect::<Vec<_>>(), [ada.id, ada.id], "order and repeats of ids");
}

#[tokio::test]
async fn when_the_email_changes_then_its_uniqueness_moves_with_it() {
    let store = MemoryStore::new();
    let ada = registered(&store, "ada").await;
    let changes = ProfileChanges { email: Some("new@example.com".into()), ..Default::default() };

    let updated = store.update_profile(&ada, &changes).await.unwrap();

    assert_eq!(updated.email, "new@example.com");
    assert_eq!(store.find_user_id(&LoginKey::Email("new@example.com".into())).await.unwrap(), Some(ada.id));
    assert_eq!(store.find_user_id(&LoginKey::Email(ada.email.clone())).await.unwrap(), None);
    store.create_user(&User { id: UserId::new(), username: "bob".into(), ..ada.clone() }).await.unwrap();
}

#[tokio::test]
async fn when_the_email_changes_to_a_taken_one_or_from_a_stale_one_then_nothing_changes() {
    let store = MemoryStore::new();
    let ada = registered(&store, "ada").await;
    let bob = registered(&store, "bob").await;

    let to_bobs = ProfileChanges {
        email: Some(bob.email.clone()),
        first_name: Some(Some("A".into())),
        ..Default::default()
    };
    let err = store.update_profile(&ada, &to_bobs).await.unwrap_err();
    assert!(matches!(err, StoreError::Taken(UniqueField::Email)), "{err:?}");
    assert_eq!(store.get_user(ada.id).await.unwrap().unwrap().first_name, None);

    // A snapshot whose email is no longer the stored one cannot release it.
    let stale = User { email: "old@example.com".into(), ..ada.clone() };
    let fresh = ProfileChanges { email: Some("fresh@example.com".into()), ..Default::default() };
    assert!(matches!(store.update_profile(&stale, &fresh).await, Err(StoreError::Contention)));
}

#[tokio::test]
async fn profile_changes_set_clear_or_keep_each_field() {
    let store = MemoryStore::new();
    let ada = User { first_name: Some("Ada".into()), last_name: Some("L".into()), ..user("ada") };
    store.create_user(&ada).await.unwrap();

    let changes = ProfileChanges {
        first_name: None,
        last_name: Some(None),
        phone_number: Some(Some(phone(1))),
        email: Some(ada.email.clone()),
    };
    let updated = store.update_profile(&ada, &changes).await.unwrap();

    assert_eq!((updated.first_name.as_deref(), updated.last_name.as_deref()), (Some("Ada"), None));
    assert_eq!(updated.phone_number, Some(phone(1)));
    assert!(updated.updated_at >= ada.updated_at);
    assert!(matches!(
        store.update_profile(&user("ghost"), &ProfileChanges::default()).await,
        Err(StoreError::UserNotFound)
    ));
}

#[tokio::test]
async fn when_a_user_is_deactivated_then_the_number_returns_tokens_die_and_the_directory_forgets_them() {
    let store = MemoryStore::new();
    let ada = with_number(&store, "ada", 1).await;
    store.mark_number_releasing(ada.id, &number(1)).await.unwrap();

    store.set_active(&ada, false).await.unwrap();

    let stored = store.get_user(ada.id).await.unwrap().unwrap();
    assert!(!stored.active);
    assert_eq!(stored.token_version, ada.token_version + 1);
    assert_eq!(stored.virtual_number, None);
    assert_eq!(store.number_releasing(ada.id), None);
    let free = store.list_numbers(Some(NumberStatus::Free), &PageRequest::first(10)).await.unwrap();
    assert_eq!(free.items.len(), 1);
    assert_eq!(free.items[0].owner_id, None);
    assert!(store.list_active_users(None, &PageRequest::first(10)).await.unwrap().items.is_empty());

    store.set_active(&stored, true).await.unwrap();
    let listed = store.list_active_users(None, &PageRequest::first(10)).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].token_version, ada.token_version + 1, "reactivation keeps old tokens dead");
}

#[tokio::test]
async fn given_a_stale_view_of_the_number_when_deactivating_then_contention() {
    let store = MemoryStore::new();
    let ada = with_number(&store, "ada", 1).await;
    store.release_number(ada.id, &number(1)).await.unwrap();

    assert!(matches!(store.set_active(&ada, false).await, Err(StoreError::Contention)));
    assert!(matches!(store.set_active(&user("ghost"), false).await, Err(StoreError::Contention)));
    assert!(store.get_user(ada.id).await.unwrap().unwrap().active);
}
