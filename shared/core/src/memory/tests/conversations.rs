use super::*;
use crate::domain::number::NumberStatus;
use crate::ports::{PageRequest, StoreError, WebhookStore};

#[tokio::test]
async fn given_a_route_in_use_when_another_conversation_claims_the_pair_then_route_taken_and_nothing_is_written(
) {
    let store = MemoryStore::new();
    let ada = with_number(&store, "ada", 1).await;
    let first = sms_conversation(&store, &ada, &phone(1)).await;

    let second = sms_detail(&ada, &phone(1));
    let new = NewConversation {
        detail: &second,
        direct_pair: None,
        sms_owner: Some((ada.id, &number(1))),
        idle_deadline: None,
    };
    let err = store.create_conversation(new).await.unwrap_err();

    match err {
        StoreError::RouteTaken(pairs) => assert_eq!(pairs, [(number(1), phone(1))]),
        other => panic!("{other:?}"),
    }
    assert!(store.get_conversation(second.conversation.id).await.unwrap().is_none());
    assert_eq!(store.route_conversation(&number(1), &phone(1)).await.unwrap(), Some(first.conversation.id));
}

#[tokio::test]
async fn an_sms_route_names_its_one_web_user_and_a_group_route_names_none() {
    let store = MemoryStore::new();
    let ada = with_number(&store, "ada", 1).await;
    pool(&store, [2]).await;
    sms_conversation(&store, &ada, &phone(1)).await;
    group(&store, &ada, &[], &[(phone(2), number(2))]).await;

    let sms = store.inbound_lookup(&number(1), &phone(1)).await.unwrap().route.unwrap();
    let grouped = store.inbound_lookup(&number(2), &phone(2)).await.unwrap().route.unwrap();

    assert_eq!((sms.inbox_user_id, grouped.inbox_user_id), (Some(ada.id), None));
    let taken = store
        .taken_routes(&[(number(1), phone(1)), (number(1), phone(2)), (number(2), phone(2))])
        .await
        .unwrap();
    assert_eq!(taken, [(number(1), phone(1)), (number(2), phone(2))].into());
}

#[tokio::test]
async fn given_a_direct_conversation_when_either_user_starts_another_then_direct_exists() {
    let store = MemoryStore::new();
    let (ada, bob) = (registered(&store, "ada").await, registered(&store, "bob").await);
    let first = direct(&store, &ada, &bob).await;

    let again = detail(
        ConversationKind::Direct,
        &bob,
        None,
        vec![member(&bob, ParticipantRole::Admin), member(&ada, ParticipantRole::Admin)],
    );
    let err = store
        .create_conversation(NewConversation {
            detail: &again,
            direct_pair: Some((bob.id, ada.id)),
            sms_owner: None,
            idle_deadline: None,
        })
        .await
        .unwrap_err();

    assert!(matches!(err, StoreError::DirectExists), "{err:?}");
    assert_eq!(store.find_direct(bob.id, ada.id).await.unwrap(), Some(first.conversation.id));
}

#[tokio::test]
async fn given_a_full_group_when_adding_then_group_full() {
    let store = MemoryStore::new();
    let (ada, bob, cy) =
        (registered(&store, "ada").await, registered(&store, "bob").await, registered(&store, "cy").await);
    let detail = group(&store, &ada, &[&bob], &[]).await;

    let err = store.add_participant(&detail, &member(&cy, ParticipantRole::Member), 2).await.unwrap_err();

    assert!(matches!(err, StoreError::GroupFull), "{err:?}");
    assert_eq!(store.member_counts(detail.conversation.id), Some((2, 1)));
}

#[tokio::test]
async fn given_a_concurrent_add_filled_the_group_when_adding_from_the_older_read_then_group_full() {
    let store = MemoryStore::new();
    let (ada, bob, cy) =
        (registered(&store, "ada").await, registered(&store, "bob").await, registered(&store, "cy").await);
    let read = group(&store, &ada, &[], &[]).await;
    store.add_participant(&read, &member(&bob, ParticipantRole::Member), 2).await.unwrap();

    let err = store.add_participant(&read, &member(&cy, ParticipantRole::Member), 2).await.unwrap_err();

    assert!(matches!(err, StoreError::GroupFull), "{err:?}");
}

#[tokio::test]
async fn adding_an_existing_participant_or_to_a_closed_group_fails() {
    let store = MemoryStore::new();
    let (ada, bob, cy) =
        (registered(&store, "ada").await, registered(&store, "bob").await, registered(&store, "cy").await);
    let detail = group(&store, &ada, &[&bob], &[]).await;

    let err = store.add_participant(&detail, &member(&bob, ParticipantRole::Member), 50).await.unwrap_err();
    assert!(matches!(err, StoreError::ParticipantExists), "{err:?}");

    store.close_conversation(&detail).await.unwrap();
    let err = store.add_participant(&detail, &member(&cy, ParticipantRole::Member), 50).await.unwrap_err();
    assert!(matches!(err, StoreError::ConversationInactive), "{err:?}");
}

#[tokio::test]
async fn given_a_proxy_that_went_to_a_user_when_a_group_takes_it_then_proxy_unavailable() {
    let store = MemoryStore::new();
    let ada = with_number(&store, "ada", 1).await;

    let participants = vec![member(&ada, ParticipantRole::Admin), texter(&phone(1), &number(1))];
    let detail = detail(ConversationKind::Group, &ada, Some("G"), participants);
    let err = store
        .create_conversation(NewConversation {
            detail: &detail,
            direct_pair: None,
            sms_owner: None,
            idle_deadline: None,
        })
        .await
        .unwrap_err();

    match err {
        StoreError::ProxyUnavailable(n) => assert_eq!(n, number(1)),
        other => panic!("{other:?}"),
    }
    assert!(store.get_conversation(detail.conversation.id).await.unwrap().is_none());
}

#[tokio::test]
async fn a_number_moves_to_the_proxy_section_with_its_first_group_route_and_stays_there() {
    let store = MemoryStore::new();
    pool(&store, [1, 2]).await;
    let ada = registered(&store, "ada").await;

    let detail = group(&store, &ada, &[], &[(phone(1), number(1)), (phone(2), number(1))]).await;
    let proxies = store.list_numbers(Some(NumberStatus::Proxy), &PageRequest::first(10)).await.unwrap();
    assert_eq!(
        proxies.items.iter().map(|n| (n.phone_number.clone(), n.route_count)).collect::<Vec<_>>(),
        [(number(1), 2)]
    );

    store.close_conversation(&detail).await.unwrap();
    let proxies = store.list_numbers(Some(NumberStatus::Proxy), &PageRequest::first(10)).await.unwrap();
    assert_eq!(proxies.items.len(), 1, "still listed as a proxy");
    assert_eq!((proxies.items[0].route_count, proxies.items[0].status()), (0, NumberStatus::Free));
    store.assign_number(ada.id, &number(1), Utc::now()).await.unwrap();
    let assigned = store.list_numbers(Some(NumberStatus::Assigned), &PageRequest::first(10)).await.unwrap();
    assert_eq!(assigned.items[0].phone_number, number(1));
}

#[tokio::test]
async fn given_the_only_admin_when_leaving_without_a_successor_or_demoted_then_last_admin() {
    let store = MemoryStore::new();
    let (ada, bob) = (registered(&store, "ada").await, registered(&store, "bob").await);
    let detail = group(&store, &ada, &[&bob], &[]).await;
    let admin = detail.participant_for_user(ada.id).unwrap().clone();

    let err = store.remove_participant(&detail, &admin, None).await.unwrap_err();
    assert!(matches!(err, StoreError::LastAdmin), "{err:?}");
    let err = store.set_role(&detail, &admin, ParticipantRole::Member).await.unwrap_err();
    assert!(matches!(err, StoreError::LastAdmin), "{err:?}");
    assert_eq!(store.member_counts(detail.conversation.id), Some((2, 1)));
}

#[tokio::test]
async fn when_the_admin_leaves_promoting_a_member_then_the_member_is_admin_and_counts_follow() {
    let store = MemoryStore::new();
    let (ada, bob) = (registered(&store, "ada").await, registered(&store, "bob").await);
    let detail = group(&store, &ada, &[&bob], &[]).await;
    let admin = detail.participant_for_user(ada.id).unwrap().clone();
    let successor = detail.participant_for_user(bob.id).unwrap().clone();

    store.remove_participant(&detail, &admin, Some(&successor)).await.unwrap();

    let after = store.get_conversation(detail.conversation.id).await.unwrap().unwrap();
    assert_eq!(after.participants.len(), 1);
    assert_eq!(after.participants[0].role, ParticipantRole::Admin);
    assert_eq!(store.member_counts(detail.conversation.id), Some((1, 1)));
    assert!(store.list_inbox(ada.id, &PageRequest::first(10)).await.unwrap().items.is_empty());
    assert_eq!(
        store.list_inbox(bob.id, &PageRequest::first(10)).await.unwrap().items[0].role,
        ParticipantRole::Admin
    );
}

#[tokio::test]
async fn given_a_role_changed_since_it_was_read_when_setting_it_then_contention() {
    let store = MemoryStore::new();
    let (ada, bob) = (registered(&store, "ada").await, registered(&store, "bob").await);
    let detail = group(&store, &ada, &[&bob], &[]).await;
    let bob_member = detail.participant_for_user(bob.id).unwrap().clone();
    store.set_role(&detail, &bob_member, ParticipantRole::Admin).await.unwrap();

    // From the old read Bob is a member: promoting him again would count a second admin.
    let err = store.set_role(&detail, &bob_member, ParticipantRole::Admin).await.unwrap_err();

    assert!(matches!(err, StoreError::Contention), "{err:?}");
    assert_eq!(store.member_counts(detail.conversation.id), Some((2, 2)));
}

#[tokio::test]
async fn removing_a_phone_frees_its_route_and_its_proxy_count() {
    let store = MemoryStore::new();
    pool(&store, [1]).await;
    let ada = registered(&store, "ada").await;
    let detail = group(&store, &ada, &[], &[(phone(1), number(1))]).await;

    store.remove_participant(&detail, &participant_of(&detail, &phone(1)), None).await.unwrap();

    assert_eq!(store.route_conversation(&number(1), &phone(1)).await.unwrap(), None);
    assert_eq!(store.pool_number(&number(1)).unwrap().route_count, 0);
    assert_eq!(store.member_counts(detail.conversation.id), Some((1, 1)));
}

#[tokio::test]
async fn closing_frees_every_route_the_direct_pair_and_the_proxy_counts_and_marks_inbox_lines() {
    let store = MemoryStore::new();
    pool(&store, [1, 2]).await;
    let (ada, bob) = (registered(&store, "ada").await, registered(&store, "bob").await);
    let grp = group(&store, &ada, &[&bob], &[(phone(1), number(1)), (phone(2), number(2))]).await;
    let pair = direct(&store, &ada, &bob).await;

    store.close_conversation(&grp).await.unwrap();
    store.close_conversation(&pair).await.unwrap();

    assert!(store.taken_routes(&[(number(1), phone(1)), (number(2), phone(2))]).await.unwrap().is_empty());
    assert_eq!(store.pool_number(&number(1)).unwrap().route_count, 0);
    assert_eq!(store.pool_number(&number(2)).unwrap().route_count, 0);
    assert_eq!(store.find_direct(ada.id, bob.id).await.unwrap(), None);
    direct(&store, &bob, &ada).await;
    let inbox = store.list_inbox(bob.id, &PageRequest::first(10)).await.unwrap();
    let closed = inbox.items.iter().filter(|e| e.status == ConversationStatus::Closed).count();
    assert_eq!(closed, 2);
    let stored = store.get_conversation(grp.conversation.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.conversation.status, stored.participants.len()),
        (ConversationStatus::Closed, 4),
        "history keeps its members"
    );
}

#[tokio::test]
async fn given_a_participant_joined_since_the_read_when_closing_then_contention_until_read_again() {
    let store = MemoryStore::new();
    pool(&store, [1]).await;
    let ada = registered(&store, "ada").await;
    let read = group(&store, &ada, &[], &[]).await;
    store.add_participant(&read, &texter(&phone(1), &number(1)), 50).await.unwrap();

    let err = store.close_conversation(&read).await.unwrap_err();
    assert!(matches!(err, StoreError::Contention), "{err:?}");
    assert_eq!(store.route_conversation(&number(1), &phone(1)).await.unwrap(), Some(read.conversation.id));

    let fresh = store.get_conversation(read.conversation.id).await.unwrap().unwrap();
    store.close_conversation(&fresh).await.unwrap();
    assert_eq!(store.route_conversation(&number(1), &phone(1)).await.unwrap(), None);
    assert_eq!(store.pool_number(&number(1)).unwrap().route_count, 0);
}

#[tokio::test]
async fn closing_a_closed_conversation_is_inactive_and_an_unknown_one_contention() {
    let store = MemoryStore::new();
    let ada = registered(&store, "ada").await;
    let detail = group(&store, &ada, &[], &[]).await;
    store.close_conversation(&detail).await.unwrap();

    assert!(matches!(store.close_conversation(&detail).await, Err(StoreError::ConversationInactive)));
    let unknown = super::detail(ConversationKind::Group, &ada, Some("G"), vec![]);
    assert!(matches!(store.close_conversation(&unknown).await, Err(StoreError::Contention)));
}

#[tokio::test]
async fn participants_come_back_in_the_order_they_joined() {
    let store = MemoryStore::new();
    let (ada, bob, cy) =
        (registered(&store, "ada").await, registered(&store, "bob").await, registered(&store, "cy").await);
    let mut read = group(&store, &ada, &[], &[]).await;
    for user in [&cy, &bob] {
        let newcomer = member(user, ParticipantRole::Member);
        store.add_participant(&read, &newcomer, 50).await.unwrap();
        read.participants.push(newcomer);
    }

    let stored = store.get_conversation(read.conversation.id).await.unwrap().unwrap();

    assert_eq!(stored.user_ids(), [ada.id, cy.id, bob.id]);
}

#[tokio::test]
async fn the_inbox_lists_latest_activity_first_with_each_users_title_role_and_preview() {
    let store = MemoryStore::new();
    let (ada, bob, cy) =
        (registered(&store, "ada").await, registered(&store, "bob").await, registered(&store, "cy").await);
    let grp = group(&store, &ada, &[&bob], &[]).await;
    let with_bob = direct(&store, &ada, &bob).await;
    let with_cy = direct(&store, &ada, &cy).await;
    let at = |seconds| Utc::now() + chrono::Duration::seconds(seconds);
    send(&store, &with_bob, &message_at(&with_bob, &bob, "hi", at(1))).await;
    send(&store, &with_cy, &message_at(&with_cy, &cy, "hi", at(2))).await;
    send(&store, &grp, &message_at(&grp, &bob, "hello group", at(3))).await;

    let inbox = store.list_inbox(ada.id, &PageRequest::first(10)).await.unwrap();

    let ids: Vec<_> = inbox.items.iter().map(|e| e.id).collect();
    assert_eq!(ids, [grp.conversation.id, with_cy.conversation.id, with_bob.conversation.id]);
    let names: Vec<_> = inbox.items.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["Group", "cy", "bob"], "a direct line is titled with the other user");
    assert_eq!(inbox.items[0].last_message_preview.as_deref(), Some("hello group"));
    assert_eq!(inbox.items[0].role, ParticipantRole::Admin);
    let bobs = store.list_inbox(bob.id, &PageRequest::first(10)).await.unwrap();
    assert_eq!((bobs.items[0].role, bobs.items[1].name.as_str()), (ParticipantRole::Member, "ada"));
}

#[tokio::test]
async fn given_a_group_too_big_for_one_transaction_when_a_later_part_fails_then_it_is_created_closed_and_its_routes_freed(
) {
    let store = MemoryStore::new();
    // 40 phones on 40 proxies: 3 items each, over 100 items, so the adapter writes two parts.
    pool(&store, 1..=40).await;
    let ada = registered(&store, "ada").await;
    let phones: Vec<(E164, E164)> = (1..=40).map(|n| (phone(n), number(n))).collect();
    // The last proxy's pair (written in the second part) is taken by another group.
    group(&store, &ada, &[], &[(phone(40), number(40))]).await;

    let mut participants = vec![member(&ada, ParticipantRole::Admin)];
    participants.extend(phones.iter().map(|(p, proxy)| texter(p, proxy)));
    let big = detail(ConversationKind::Group, &ada, Some("Big"), participants);
    let err = store
        .create_conversation(NewConversation {
            detail: &big,
            direct_pair: None,
            sms_owner: None,
            idle_deadline: None,
        })
        .await
        .unwrap_err();

    assert!(
        matches!(err, StoreError::RouteTaken(ref pairs) if *pairs == [(number(40), phone(40))]),
        "{err:?}"
    );
    let stored = store.get_conversation(big.conversation.id).await.unwrap().expect("the first part stays");
    assert_eq!(stored.conversation.status, ConversationStatus::Closed);
    assert!(stored.participants.len() > 1 && stored.participants.len() < 41, "{}", stored.participants.len());
    let pairs: Vec<_> = phones[..39].iter().map(|(p, n)| (n.clone(), p.clone())).collect();
    assert!(store.taken_routes(&pairs).await.unwrap().is_empty());
    assert!((1..40).all(|n| store.pool_number(&number(n)).unwrap().route_count == 0));
}

#[tokio::test]
async fn given_a_group_too_big_for_one_transaction_when_every_part_succeeds_then_it_is_whole() {
    let store = MemoryStore::new();
    pool(&store, 1..=40).await;
    let ada = registered(&store, "ada").await;
    let phones: Vec<(E164, E164)> = (1..=40).map(|n| (phone(n), number(n))).collect();

    let detail = group(&store, &ada, &[], &phones).await;

    let stored = store.get_conversation(detail.conversation.id).await.unwrap().unwrap();
    assert_eq!(stored.participants.len(), 41);
    assert_eq!(store.member_counts(detail.conversation.id), Some((41, 1)));
    assert!((1..=40).all(|n| store.pool_number(&number(n)).unwrap().route_count == 1));
}
