//! Data keys in the database: created once per scope, wrapped, rewrapped on rotation.

use crate::support::*;
use clinlabel_crypto::{Keyring, MasterKey};
use clinlabel_store::keys;
use sqlx::Row;

#[tokio::test]
async fn data_keys_are_stable_wrapped_and_rewrapped() {
    check_db(|t| async move {
        let old = MasterKey::generate();
        let ring = Keyring::new(old.clone());
        let a1 = keys::data_key(&t.db, &ring, "project-a").await.unwrap();
        let a2 = keys::data_key(&t.db, &ring, "project-a").await.unwrap();
        let b = keys::data_key(&t.db, &ring, "project-b").await.unwrap();
        assert!(a1 == a2, "the same scope gets the same key");
        assert!(a1 != b, "scopes get their own keys");
        // Stored wrapped: the raw key bytes are not in the row.
        let wrapped: Vec<u8> = sqlx::query("SELECT wrapped FROM data_keys WHERE scope = 'project-a'").fetch_one(t.db.pool()).await.unwrap().try_get("wrapped").unwrap();
        let raw = a1.to_bytes();
        assert!(!wrapped.windows(raw.len()).any(|w| w == raw));
        // Concurrent first use of one scope yields one key.
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (db, ring) = (t.db.clone(), ring.clone());
            tasks.push(tokio::spawn(async move { keys::data_key(&db, &ring, "project-c").await.unwrap() }));
        }
        let mut seen = Vec::new();
        for task in tasks {
            seen.push(task.await.unwrap());
        }
        assert!(seen.windows(2).all(|w| w[0] == w[1]));
        // Rotation.
        let new = MasterKey::generate();
        let mut both = ring.clone();
        both.add(new.clone());
        assert_eq!(keys::rewrap_all(&t.db, &both, &new).await.unwrap(), 3);
        let only_new = Keyring::new(new.clone());
        assert!(keys::data_key(&t.db, &only_new, "project-a").await.unwrap() == a1);
        assert!(keys::data_key(&t.db, &Keyring::new(old), "project-b").await.is_err());
        assert!(clinlabel_store::audit::verify(&t.db).await.unwrap().ok);
    })
    .await;
}
