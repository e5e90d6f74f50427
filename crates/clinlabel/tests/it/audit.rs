//! The audit trail: written with each change, append-only, and tamper-evident.

use crate::support::*;
use clinlabel_domain::audit::ChainBreak;
use clinlabel_store::audit;
use clinlabel_store::db::Db;
use sqlx::Row;

/// Lifts the append-only guard, as an attacker with database access could.
async fn lift_guard(db: &Db, backend: Backend) {
    let stmts: &[&'static str] = match backend {
        Backend::Sqlite => &["DROP TRIGGER audit_events_no_update", "DROP TRIGGER audit_events_no_delete"],
        Backend::Postgres => &["ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update"],
    };
    for s in stmts {
        sqlx::query(*s).execute(db.pool()).await.unwrap();
    }
}

async fn events(db: &Db) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM audit_events").fetch_one(db.pool()).await.unwrap().try_get("n").unwrap()
}

#[tokio::test]
async fn every_change_writes_its_event_and_the_chain_verifies() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        // Setup made: provider org + admin (2), two client orgs (2), seven users (7).
        assert_eq!(events(&t.db).await, 11);
        let r = audit::verify(&t.db).await.unwrap();
        assert!(r.ok, "{}", r.message);
        assert_eq!(r.events_checked, 11);
        assert_eq!(r.head_seq, 11);
        // The trail names actor, action and target.
        let row = sqlx::query("SELECT actor_id, action, target_type, target_id FROM audit_events WHERE target_id = $1")
            .bind(w.id(clinlabel_domain::Role::Tasker, &w.provider).to_string())
            .fetch_one(t.db.pool())
            .await
            .unwrap();
        assert_eq!(row.try_get::<String, _>("action").unwrap(), "user.create");
        assert_eq!(row.try_get::<Option<String>, _>("actor_id").unwrap().as_deref(), Some(w.id(clinlabel_domain::Role::Admin, &w.provider)));
    })
    .await;
}

#[tokio::test]
async fn the_trail_is_append_only() {
    check_db(|t| async move {
        world(&t.db).await;
        let upd = sqlx::query("UPDATE audit_events SET action = 'x' WHERE seq = 1").execute(t.db.pool()).await;
        assert!(upd.is_err(), "an UPDATE of the audit trail must be refused");
        let del = sqlx::query("DELETE FROM audit_events WHERE seq = 1").execute(t.db.pool()).await;
        assert!(del.is_err(), "a DELETE from the audit trail must be refused");
        assert!(audit::verify(&t.db).await.unwrap().ok);
    })
    .await;
}

#[tokio::test]
async fn an_edited_row_is_named() {
    check_db(|t| async move {
        world(&t.db).await;
        lift_guard(&t.db, t.backend).await;
        sqlx::query("UPDATE audit_events SET details = '{\"role\":\"admin\"}' WHERE seq = 6").execute(t.db.pool()).await.unwrap();
        let r = audit::verify(&t.db).await.unwrap();
        assert!(!r.ok);
        assert_eq!(r.first_break, Some(ChainBreak::Edited { seq: 6 }));
        assert!(r.message.contains("6 was edited"), "{}", r.message);
    })
    .await;
}

#[tokio::test]
async fn a_deleted_row_is_named() {
    check_db(|t| async move {
        world(&t.db).await;
        lift_guard(&t.db, t.backend).await;
        sqlx::query("DELETE FROM audit_events WHERE seq = 4").execute(t.db.pool()).await.unwrap();
        let r = audit::verify(&t.db).await.unwrap();
        assert_eq!(r.first_break, Some(ChainBreak::Deleted { seq: 5 }), "{}", r.message);
        // Deleting the newest row is caught by the head.
        let t2 = fresh_db(t.backend).await;
        world(&t2.db).await;
        lift_guard(&t2.db, t2.backend).await;
        sqlx::query("DELETE FROM audit_events WHERE seq = 11").execute(t2.db.pool()).await.unwrap();
        let r = audit::verify(&t2.db).await.unwrap();
        assert_eq!(r.first_break, Some(ChainBreak::TailDeleted { last_seq: 10, head_seq: 11 }), "{}", r.message);
    })
    .await;
}

#[tokio::test]
async fn reordered_rows_are_named() {
    check_db(|t| async move {
        world(&t.db).await;
        lift_guard(&t.db, t.backend).await;
        for s in [
            "UPDATE audit_events SET seq = -1 WHERE seq = 7",
            "UPDATE audit_events SET seq = 7 WHERE seq = 8",
            "UPDATE audit_events SET seq = 8 WHERE seq = -1",
        ] {
            sqlx::query(s).execute(t.db.pool()).await.unwrap();
        }
        let r = audit::verify(&t.db).await.unwrap();
        assert_eq!(r.first_break, Some(ChainBreak::Reordered { seq: 7, predecessor_seq: 8 }), "{}", r.message);
    })
    .await;
}

#[tokio::test]
async fn concurrent_writers_never_fork_the_chain() {
    check_db(|t| async move {
        let w = world(&t.db).await;
        let admin = clinlabel_domain::Principal {
            user_id: w.id(clinlabel_domain::Role::Admin, &w.provider).into(),
            org_id: w.provider.clone(),
            role: clinlabel_domain::Role::Admin,
        };
        let mut tasks = Vec::new();
        for i in 0..16 {
            let db = t.db.clone();
            let admin = admin.clone();
            tasks.push(tokio::spawn(async move {
                clinlabel_store::orgs::create(&db, &admin, &format!("Concurrent {i}"), clinlabel_domain::OrgKind::Client).await.unwrap();
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let r = audit::verify(&t.db).await.unwrap();
        assert!(r.ok, "{}", r.message);
        assert_eq!(r.events_checked, 11 + 16);
    })
    .await;
}
