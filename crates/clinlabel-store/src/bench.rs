//! The routing benchmark's world and load generator (`clinlabel bench routing`).
//!
//! Seeds a project in progress with `tasks` queued annotate tasks (one per
//! item) and `taskers` certified taskers, then lets every tasker pull and
//! submit work concurrently through the real [`crate::tasks::next_task`] and
//! [`crate::tasks::submit`], timing each pull: at full pressure (the
//! saturation throughput) or at an offered rate (the latency at that load).

use crate::db::{Db, now_ms};
use crate::{StoreError, tasks};
use clinlabel_crypto::Keyring;
use clinlabel_domain::{OrgKind, Principal, Role, Secret};
use std::time::{Duration, Instant};

pub struct RoutingWorld {
    pub taskers: Vec<Principal>,
    pub project_id: String,
    pub seed_secs: f64,
}

/// Seeds the world on an empty database.
pub async fn seed_routing(db: &Db, keyring: &Keyring, n_tasks: i64, n_taskers: usize) -> Result<RoutingWorld, StoreError> {
    let start = Instant::now();
    crate::tracks::ensure_defaults(db).await?;
    let admin = crate::auth::create_user_system(db, None, "bench-admin@clinlabel.test", "Bench admin", Role::Admin, Secret::new("bench-password-not-used".into())).await?;
    let admin = Principal { user_id: admin.id, org_id: admin.org_id, role: Role::Admin };
    let client_org = crate::orgs::create(db, &admin, "Bench client", OrgKind::Client).await?;
    let client = crate::users::create(
        db,
        &admin,
        crate::users::NewUser { org_id: client_org.id.clone(), email: "bench-client@clinlabel.test".into(), name: "Bench client".into(), role: Role::ClientAdmin, password: Secret::new("bench-password-not-used".into()) },
    )
    .await?;
    let client = Principal { user_id: client.id, org_id: client_org.id, role: Role::ClientAdmin };
    let track = crate::tracks::list(db, &admin, false).await?.into_iter().find(|t| t.slug == "clinical-nlp").ok_or_else(|| StoreError::Internal("no clinical-nlp track".into()))?;
    let deadline = now_ms() + 90 * 86_400_000;
    let spec: clinlabel_domain::project::Spec = serde_json::from_value(serde_json::json!({
        "name": "Routing benchmark", "modality": "text", "task_types": ["classification"],
        "schema": { "questions": [{ "id": "specialty", "text": "Specialty", "kind": "single", "options": [{ "id": "a", "name": "A" }, { "id": "b", "name": "B" }] }] },
        "output_formats": ["native_jsonl"], "deadline": deadline, "track_id": track.id, "overlap": 1, "gold_rate": 0.0,
        "qa": { "tier1": false, "tier2_sampling_pct": 0, "tier3_spot_check_pct": 5, "quality_threshold": 0.5 }
    }))
    .map_err(|e| StoreError::Internal(e.to_string()))?;
    let project = crate::projects::create(db, keyring, &client, spec).await?;
    let mut taskers = Vec::with_capacity(n_taskers);
    let password = crate::auth::hash_password(Secret::new("bench-password-not-used".into())).await?;
    for i in 0..n_taskers {
        let id = crate::db::new_id();
        sqlx::query("INSERT INTO users (id, org_id, email, name, role, password_hash, disabled, created_at, password_changed_at) VALUES ($1, $2, $3, $4, 'tasker', $5, 0, 0, 0)")
            .bind(id.clone())
            .bind(admin.org_id.clone())
            .bind(format!("bench-tasker-{i}@clinlabel.test"))
            .bind(format!("Bench tasker {i}"))
            .bind(password.clone())
            .execute(&db.pool)
            .await?;
        sqlx::query("INSERT INTO certifications (id, user_id, track_id, status, issued_at, expires_at, updated_at) VALUES ($1, $2, $3, 'active', 0, $4, 0)")
            .bind(crate::db::new_id())
            .bind(id.clone())
            .bind(track.id.clone())
            .bind(deadline)
            .execute(&db.pool)
            .await?;
        taskers.push(Principal { user_id: id, org_id: admin.org_id.clone(), role: Role::Tasker });
    }
    let file_id = crate::db::new_id();
    sqlx::query("INSERT INTO files (id, project_id, name, sha256, size, blob_id, media_type, purpose, status, items, uploaded_by, created_at) VALUES ($1, $2, 'bench.jsonl', $3, 0, 'bench', 'application/jsonl', 'data', 'accepted', $4, $5, 0)")
        .bind(file_id.clone())
        .bind(project.id.clone())
        .bind(crate::db::new_id())
        .bind(n_tasks)
        .bind(client.user_id.clone())
        .execute(&db.pool)
        .await?;
    sqlx::query(
        "WITH RECURSIVE seq(n) AS (SELECT CAST(0 AS BIGINT) UNION ALL SELECT n + 1 FROM seq WHERE n + 1 < CAST($1 AS BIGINT)) \
         INSERT INTO items (id, project_id, file_id, seq, kind, byte_start, byte_end, meta, created_at) \
         SELECT 'bench-item-' || CAST(n AS TEXT), $2, $3, n, 'text', 0, 100, '{}', 0 FROM seq",
    )
    .bind(n_tasks)
    .bind(project.id.clone())
    .bind(file_id)
    .execute(&db.pool)
    .await?;
    sqlx::query(
        "INSERT INTO tasks (id, project_id, track_id, item_id, kind, tier, state, deadline, priority, gold, created_at, updated_at) \
         SELECT 'bench-task-' || CAST(seq AS TEXT), project_id, $1, id, 'annotate', 0, 'queued', $2, 0, 0, 0, 0 FROM items WHERE project_id = $3",
    )
    .bind(track.id.clone())
    .bind(deadline)
    .bind(project.id.clone())
    .execute(&db.pool)
    .await?;
    sqlx::query("UPDATE projects SET state = 'in_progress' WHERE id = $1").bind(project.id.clone()).execute(&db.pool).await?;
    // PostgreSQL: fresh statistics, as autovacuum would gather, so its planner
    // sees the million rows. SQLite: none, as in the product (which never runs
    // ANALYZE there): with STAT4 samples SQLite plans a statement again each
    // time a value bound against an indexed column changes, and the queue's
    // statements name their index.
    if db.backend() == crate::Backend::Postgres {
        sqlx::query("ANALYZE").execute(&db.pool).await?;
    }
    Ok(RoutingWorld { taskers, project_id: project.id, seed_secs: start.elapsed().as_secs_f64() })
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct RoutingReport {
    pub assignments: usize,
    pub secs: f64,
    /// Next-task latencies in milliseconds, sorted.
    pub latencies_ms: Vec<f64>,
}

impl RoutingReport {
    pub fn percentile(&self, p: f64) -> f64 {
        if self.latencies_ms.is_empty() {
            return f64::NAN;
        }
        let i = ((p / 100.0) * (self.latencies_ms.len() - 1) as f64).round() as usize;
        self.latencies_ms[i]
    }
}

/// How the simulated taskers pace themselves.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// Each pulls again as soon as it submitted: the queue's saturation throughput.
    Closed,
    /// Together they pull at this many tasks per second, each on its own
    /// fixed schedule (phases spread evenly); a tasker behind schedule pulls
    /// at once, so an overloaded queue shows as a lower achieved rate.
    Rate(f64),
}

/// Every tasker pulls and submits until `total` assignments were made or
/// `max` elapsed.
///
/// Each run starts from a settled database: on SQLite the log of what came
/// before (the seed, an earlier run) copied into the database and started
/// again, as a quiet minute would leave it, so a run measures routing, not
/// the copying of an import's backlog.
pub async fn run_routing(db: &Db, keyring: &Keyring, world: &RoutingWorld, total: usize, max: Duration, pace: Pace) -> Result<RoutingReport, StoreError> {
    if db.backend() == crate::Backend::Sqlite {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&db.pool).await?;
    }
    let made = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = tokio::time::Instant::now();
    let n = world.taskers.len();
    let mut handles = Vec::new();
    for (i, who) in world.taskers.clone().into_iter().enumerate() {
        let (db, keyring, made) = (db.clone(), keyring.clone(), made.clone());
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let body = tasks::AnnotationBody { answers: [("specialty".to_string(), vec!["a".to_string()])].into_iter().collect(), image: None, text: None };
            let interval = match pace {
                Pace::Rate(r) => Some(Duration::from_secs_f64(n as f64 / r)),
                Pace::Closed => None,
            };
            let mut next_at = start + interval.map(|d| d.mul_f64(i as f64 / n as f64)).unwrap_or_default();
            while made.load(std::sync::atomic::Ordering::Relaxed) < total && start.elapsed() < max {
                if let Some(d) = interval {
                    tokio::time::sleep_until(next_at).await;
                    next_at += d;
                }
                let t0 = Instant::now();
                let Some(task) = tasks::next_task(&db, &keyring, &who).await? else { break };
                lat.push(t0.elapsed().as_secs_f64() * 1000.0);
                made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tasks::submit(&db, &who, &task.id, body.clone()).await?;
            }
            Ok::<_, StoreError>(lat)
        }));
    }
    let mut latencies = Vec::new();
    for h in handles {
        latencies.extend(h.await.map_err(|e| StoreError::Internal(e.to_string()))??);
    }
    let secs = start.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    Ok(RoutingReport { assignments: latencies.len(), secs, latencies_ms: latencies })
}
