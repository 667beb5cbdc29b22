use super::*;
use crate::domain::number::NumberStatus;
use crate::ports::{Page, PageRequest, StoreError, MAX_PAGE_SIZE};

fn next(page: &Page<impl Sized>, limit: u32) -> PageRequest {
    PageRequest { limit, cursor: page.next_cursor.clone() }
}

fn invalid<T>(listed: Result<Page<T>, StoreError>) -> bool {
    matches!(listed, Err(StoreError::InvalidCursor))
}

#[tokio::test]
async fn the_directory_lists_active_users_by_normalized_username_under_a_prefix() {
    let store = MemoryStore::new();
    for name in ["bob", "Alba", "alan", "Al", "zed"] {
        registered(&store, name).await;
    }
    let gone = registered(&store, "alex").await;
    store.set_active(&gone, false).await.unwrap();

    let first = store.list_active_users(Some(" AL"), &PageRequest::first(2)).await.unwrap();
    let second = store.list_active_users(Some("al"), &next(&first, 2)).await.unwrap();

    let names: Vec<_> = first.items.iter().chain(&second.items).map(|u| u.username.as_str()).collect();
    assert_eq!(names, ["Al", "alan", "Alba"]);
    assert_eq!(second.next_cursor, None);
    let all = store.list_active_users(Some("  "), &PageRequest::first(10)).await.unwrap();
    assert_eq!(all.items.len(), 5, "a blank prefix is no prefix");
}

#[tokio::test]
async fn the_pool_lists_by_section_assigned_then_free_then_proxy() {
    let store = MemoryStore::new();
    pool(&store, [1, 2, 3, 4]).await;
    let ada = registered(&store, "ada").await;
    store.assign_number(ada.id, &number(3), Utc::now()).await.unwrap();
    group(&store, &ada, &[], &[(phone(1), number(2))]).await;

    let all = store.list_numbers(None, &PageRequest::first(10)).await.unwrap();
    let order: Vec<_> = all.items.iter().map(|n| n.phone_number.clone()).collect();
    assert_eq!(order, [number(3), number(1), number(4), number(2)]);

    let free = store.list_numbers(Some(NumberStatus::Free), &PageRequest::first(1)).await.unwrap();
    let rest = store.list_numbers(Some(NumberStatus::Free), &next(&free, 1)).await.unwrap();
    assert_eq!(
        (free.items[0].phone_number.clone(), rest.items[0].phone_number.clone()),
        (number(1), number(4))
    );
    assert_eq!(rest.next_cursor, None);
}

#[tokio::test]
async fn a_page_limit_is_clamped_between_one_and_the_maximum() {
    let store = MemoryStore::new();
    pool(&store, 1..=105).await;

    let none = store.list_numbers(None, &PageRequest::first(0)).await.unwrap();
    let huge = store.list_numbers(None, &PageRequest::first(10_000)).await.unwrap();

    assert_eq!(none.items.len(), 1);
    assert_eq!(huge.items.len(), MAX_PAGE_SIZE as usize);
    assert!(huge.next_cursor.is_some());
}

#[tokio::test]
async fn a_cursor_only_resumes_the_listing_that_produced_it() {
    let store = MemoryStore::new();
    pool(&store, [1, 2, 3]).await;
    let (ada, bob) = (registered(&store, "ada").await, registered(&store, "bob").await);
    registered(&store, "cy").await;
    let one = direct(&store, &ada, &bob).await;
    direct(&store, &bob, &registered(&store, "dee").await).await;
    for text in ["a", "b"] {
        send(&store, &one, &message(&one, &ada, text)).await;
    }
    let pool_cursor = store.list_numbers(Some(NumberStatus::Free), &PageRequest::first(1)).await.unwrap();
    let users_cursor = store.list_active_users(None, &PageRequest::first(1)).await.unwrap();
    let inbox_cursor = store.list_inbox(bob.id, &PageRequest::first(1)).await.unwrap();
    let history_cursor = store.list_messages(one.conversation.id, &PageRequest::first(1)).await.unwrap();

    assert!(invalid(store.list_active_users(None, &next(&pool_cursor, 1)).await));
    assert!(invalid(store.list_numbers(Some(NumberStatus::Assigned), &next(&pool_cursor, 1)).await));
    assert!(invalid(store.list_numbers(None, &next(&users_cursor, 1)).await));
    assert!(invalid(store.list_active_users(Some("z"), &next(&users_cursor, 1)).await));
    assert!(invalid(store.list_inbox(ada.id, &next(&inbox_cursor, 1)).await.map(|i| i.page)));
    assert!(invalid(store.list_messages(ConversationId::new(), &next(&history_cursor, 1)).await));
    assert!(invalid(store.list_inbox(bob.id, &next(&history_cursor, 1)).await.map(|i| i.page)));
    let garbage = PageRequest { limit: 1, cursor: Some("not a cursor".into()) };
    assert!(invalid(store.list_messages(one.conversation.id, &garbage).await));
    // The same listing accepts its own cursors, with or without its prefix.
    assert!(store.list_numbers(None, &next(&pool_cursor, 1)).await.is_ok());
    assert_eq!(store.list_inbox(bob.id, &next(&inbox_cursor, 1)).await.unwrap().items.len(), 1);
    assert_eq!(
        store.list_messages(one.conversation.id, &next(&history_cursor, 5)).await.unwrap().items.len(),
        1
    );
}

#[tokio::test]
async fn given_the_item_a_cursor_names_is_gone_then_the_listing_resumes_after_its_place() {
    let store = MemoryStore::new();
    pool(&store, [1, 2, 3]).await;
    let first = store.list_numbers(None, &PageRequest::first(2)).await.unwrap();
    store.remove_number(&number(2)).await.unwrap();

    let rest = store.list_numbers(None, &next(&first, 2)).await.unwrap();

    assert_eq!(rest.items.iter().map(|n| n.phone_number.clone()).collect::<Vec<_>>(), [number(3)]);
}

#[tokio::test]
async fn an_inbox_moves_a_conversation_with_new_activity_to_the_top_across_pages() {
    let store = MemoryStore::new();
    let ada = registered(&store, "ada").await;
    let mut conversations = Vec::new();
    for name in ["b", "c", "d"] {
        conversations.push(direct(&store, &ada, &registered(&store, &format!("user{name}")).await).await);
    }
    // Explicit times: creations within one millisecond would tie (then order by id).
    for (i, seconds) in [(1, 1), (2, 2), (0, 3)] {
        let c = &conversations[i];
        send(&store, c, &message_at(c, &ada, "bump", Utc::now() + chrono::Duration::seconds(seconds))).await;
    }

    let first = store.list_inbox(ada.id, &PageRequest::first(2)).await.unwrap();
    let second = store.list_inbox(ada.id, &next(&first, 2)).await.unwrap();

    let ids: Vec<_> = first.items.iter().chain(&second.items).map(|e| e.id).collect();
    let expected: Vec<_> = [0, 2, 1].iter().map(|i| conversations[*i].conversation.id).collect();
    assert_eq!(ids, expected);
}
