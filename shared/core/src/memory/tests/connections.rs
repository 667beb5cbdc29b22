use super::*;
use crate::domain::ids::ConnectionId;
use crate::domain::realtime::Connection;
use crate::ports::ConnectionStore;

fn connection(id: &str, user: UserId, expires_in_seconds: i64) -> Connection {
    let now = Utc::now();
    Connection {
        connection_id: ConnectionId::parse(id).unwrap(),
        user_id: user,
        connected_at: now,
        expires_at: now.timestamp() + expires_in_seconds,
    }
}

#[tokio::test]
async fn given_an_expired_connection_not_yet_swept_then_it_is_neither_found_nor_listed() {
    let store = MemoryStore::new();
    let ada = UserId::new();
    store.put_connection(&connection("live", ada, 60)).await.unwrap();
    store.put_connection(&connection("expired", ada, 0)).await.unwrap();

    let expired = ConnectionId::parse("expired").unwrap();
    assert_eq!(store.connection_user(&expired).await.unwrap(), None);
    let live = store.connections_of(&[ada]).await.unwrap();
    assert_eq!(live.iter().map(|c| c.connection_id.as_str()).collect::<Vec<_>>(), ["live"]);
}

#[tokio::test]
async fn connections_are_listed_per_user_once_and_deleted_idempotently() {
    let store = MemoryStore::new();
    let (ada, bob) = (UserId::new(), UserId::new());
    for (id, user) in [("b", ada), ("a", ada), ("c", bob)] {
        store.put_connection(&connection(id, user, 60)).await.unwrap();
    }

    let all = store.connections_of(&[bob, ada, bob]).await.unwrap();
    let mut expected: Vec<(UserId, &str)> = vec![(ada, "a"), (ada, "b"), (bob, "c")];
    expected.sort();
    assert_eq!(all.iter().map(|c| (c.user_id, c.connection_id.as_str())).collect::<Vec<_>>(), expected);

    let a = ConnectionId::parse("a").unwrap();
    assert_eq!(store.connection_user(&a).await.unwrap(), Some(ada));
    store.delete_connection(ada, &a).await.unwrap();
    store.delete_connection(ada, &a).await.unwrap();
    assert_eq!(store.connection_user(&a).await.unwrap(), None);
    assert_eq!(store.connections_of(&[ada]).await.unwrap().len(), 1);
}
