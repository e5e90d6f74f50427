//! The task engine and the QA pipeline (lifecycle steps 3, 5 and 6).
//!
//! **Routing.** When a project starts, its items are grouped into batches and
//! each non-gold item gets `overlap` annotate tasks. A tasker pulls work with
//! [`next_task`]: only from projects in progress, only in tracks where they
//! hold an active, unexpired certification, never an item they already
//! annotated (a partial unique index backs this) or skipped, ordered by
//! deadline then priority. An assignment is a lease; an expired lease returns
//! the task to the queue. The requests waiting at a moment are served
//! together by the routing dispatcher (`crate::routing`); on PostgreSQL its
//! window uses `FOR UPDATE SKIP LOCKED`, so many processes share the queue.
//! Submissions are checked alone and written together ([`submit`]).
//!
//! **Gold.** With the project's gold rate, a served task is a gold item
//! instead — a new task row like any other (random id, the project's
//! deadline, the same fields), scored on submission; rolling accuracy under
//! the track's threshold suspends the certification.
//!
//! **Review tiers.** A submitted annotation goes to tier 1 (peer review by a
//! certified tasker who neither wrote it nor annotated the item), then to
//! tier 2 (a QA reviewer) when the item is in the seeded sample, then is
//! accepted. A rejection returns it to its author as rework with the
//! anchored comments; after the configured rounds it escalates to tier 2.
//! When every item of a batch has its annotations accepted, the PM
//! spot-checks a seeded 5–10 % sample (tier 3); then a QA reviewer approves
//! the batch — only if its agreement and gold accuracy reach the threshold —
//! or returns items with feedback.
//!
//! invariant: every step writes its audit event in its transaction.
//! invariant: a tasker's view of a task never says whether it is gold.

use crate::audit;
use crate::db::{Backend, Db, Tx, new_id, now_ms};
use crate::exec::{Arg, Exec};
use crate::{StoreError, projects};
use clinlabel_crypto::Keyring;
use clinlabel_domain::project::{ProjectState, Spec};
use clinlabel_domain::qa::{self, Answers, Stage};
use clinlabel_domain::{DomainError, ErrorCode, Principal, Role};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

/// How long an assignment is held before it returns to the queue.
pub const LEASE_MS: i64 = 30 * 60 * 1000;
/// Items per batch.
pub const BATCH_SIZE: i64 = 50;

/// A reviewer's comment anchored to one element of the annotation
/// (`question:<id>` for a classification answer, `shape:<id>` for a shape of
/// an image annotation, `span:<id>` / `relation:<id>` for a note's span or
/// relation; these must exist; other kinds are free-form until their
/// workspaces check them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Comment {
    pub anchor: String,
    pub text: String,
}

/// A review as the author and later reviewers see it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReviewView {
    pub tier: i64,
    pub round: i64,
    pub decision: String,
    pub comments: Vec<Comment>,
    pub overall: Option<String>,
    /// The reviewer, under a stable pseudonym.
    pub reviewer: String,
    pub created_at: i64,
}

/// An annotation as a reviewer sees it: the author is a pseudonym.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AnnotationView {
    pub id: String,
    pub author: String,
    pub round: i64,
    pub body: serde_json::Value,
    pub stage: Stage,
}

/// The work handed to a tasker or reviewer.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TaskView {
    pub id: String,
    /// `annotate`, `review` or `rework`.
    pub kind: String,
    /// Review tier (1, 2, 3), 0 otherwise.
    pub tier: i64,
    pub project_id: String,
    pub project_name: String,
    pub modality: clinlabel_domain::project::Modality,
    pub schema: clinlabel_domain::project::LabelSchema,
    pub guidelines: String,
    pub item_id: String,
    pub item_kind: String,
    pub item_meta: serde_json::Value,
    pub deadline: i64,
    pub lease_expires_at: Option<i64>,
    /// Reviews and rework: the annotation under review.
    pub annotation: Option<AnnotationView>,
    /// Rework and later tiers: the feedback so far, oldest first.
    pub reviews: Vec<ReviewView>,
}

/// A stable pseudonym of a person within a project.
pub fn pseudonym(project_id: &str, user_id: &str) -> String {
    let d = Sha256::new().chain_update(project_id.as_bytes()).chain_update(b"/").chain_update(user_id.as_bytes()).finalize();
    format!("Annotator-{}", hex::encode(&d[..3]))
}

fn random_u63() -> i64 {
    i64::from_le_bytes(crate::db::random_bytes::<8>()) & i64::MAX
}

async fn notify(ex: &mut Exec<'_>, user_id: &str, kind: &str, body: serde_json::Value) -> Result<(), StoreError> {
    ex.execute("INSERT INTO notifications (id, user_id, kind, body, created_at) VALUES ($1, $2, $3, $4, $5)", [new_id().into(), user_id.into(), kind.into(), body.to_string().into(), now_ms().into()])
        .await
}

fn system() -> Option<&'static Principal> {
    None
}

// -- starting a project -----------------------------------------------------------------

/// Called in the transaction that moves a project to `in_progress`: batches
/// the items and queues `overlap` annotate tasks per non-gold item.
pub(crate) async fn queue_project(tx: &mut Tx, project_id: &str, spec: &Spec) -> Result<(i64, i64), StoreError> {
    let now = now_ms();
    sqlx::query("UPDATE projects SET qa_seed = $1 WHERE id = $2").bind(random_u63()).bind(project_id.to_string()).execute(&mut **tx).await?;
    let items: Vec<String> = sqlx::query("SELECT id FROM items WHERE project_id = $1 AND gold = 0 ORDER BY seq, id")
        .bind(project_id.to_string())
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<Result<_, _>>()?;
    let mut batches = 0;
    for (b, chunk) in items.chunks(BATCH_SIZE as usize).enumerate() {
        let batch_id = new_id();
        sqlx::query("INSERT INTO batches (id, project_id, seq, state, created_at) VALUES ($1, $2, $3, 'annotating', $4)")
            .bind(batch_id.clone())
            .bind(project_id.to_string())
            .bind(b as i64)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        batches += 1;
        for item in chunk {
            sqlx::query("UPDATE items SET batch_id = $1 WHERE id = $2").bind(batch_id.clone()).bind(item.clone()).execute(&mut **tx).await?;
            for _ in 0..spec.overlap {
                insert_task(&mut Exec::from(&mut *tx), project_id, &spec.track_id, item, "annotate", 0, None, None, spec.deadline, false, "queued", None).await?;
            }
        }
    }
    Ok((batches, items.len() as i64 * spec.overlap as i64))
}

#[allow(clippy::too_many_arguments)]
async fn insert_task(
    ex: &mut Exec<'_>,
    project_id: &str,
    track_id: &str,
    item_id: &str,
    kind: &str,
    tier: i64,
    excluded: Option<&str>,
    annotation: Option<&str>,
    deadline: i64,
    gold: bool,
    state: &str,
    assignee: Option<&str>,
) -> Result<String, StoreError> {
    insert_task_at(ex, now_ms(), project_id, track_id, item_id, kind, tier, excluded, annotation, deadline, gold, state, assignee).await
}

/// [`insert_task`] stamped `now` (a lease runs to `now + LEASE_MS`).
#[allow(clippy::too_many_arguments)]
async fn insert_task_at(
    ex: &mut Exec<'_>,
    now: i64,
    project_id: &str,
    track_id: &str,
    item_id: &str,
    kind: &str,
    tier: i64,
    excluded: Option<&str>,
    annotation: Option<&str>,
    deadline: i64,
    gold: bool,
    state: &str,
    assignee: Option<&str>,
) -> Result<String, StoreError> {
    let id = new_id();
    ex.execute(
        "INSERT INTO tasks (id, project_id, track_id, item_id, kind, tier, state, assignee_id, excluded_id, annotation_id, lease_expires_at, deadline, priority, gold, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, $13, $14, $14)",
        [
            Arg::from(&id),
            project_id.into(),
            track_id.into(),
            item_id.into(),
            kind.into(),
            tier.into(),
            state.into(),
            Arg::opt_text(assignee),
            Arg::opt_text(excluded),
            Arg::opt_text(annotation),
            Arg::opt_int((state == "leased").then_some(now + LEASE_MS)),
            deadline.into(),
            (gold as i64).into(),
            now.into(),
        ],
    )
    .await?;
    Ok(id)
}

// -- routing -------------------------------------------------------------------------

async fn lock_user(tx: &mut Tx, backend: Backend, user_id: &str) -> Result<(), StoreError> {
    if backend == Backend::Postgres {
        // Serialise one person's requests across processes: no double picks.
        sqlx::query("SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE").bind(user_id.to_string()).fetch_optional(&mut **tx).await?;
    }
    Ok(())
}

/// Returns expired annotate and review leases to the queue (`$1`: now).
/// Rework stays with its author.
pub(crate) const RELEASE_EXPIRED_SQL: &str = "UPDATE tasks SET state = 'queued', assignee_id = NULL, lease_expires_at = NULL, updated_at = $1 \
     WHERE state = 'leased' AND lease_expires_at < $1 AND kind IN ('annotate', 'review')";

pub(crate) async fn release_expired(tx: &mut Tx, now: i64) -> Result<u64, StoreError> {
    Ok(sqlx::query(RELEASE_EXPIRED_SQL)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected())
}

fn task_id_of(row: Option<AnyRow>) -> Result<Option<String>, StoreError> {
    row.map(|r| r.try_get::<String, _>("id")).transpose().map_err(Into::into)
}


enum Pick {
    /// A lease transaction, ready to pick a task.
    Fresh(crate::db::LeaseTx),
    /// The caller already holds this live task of the kind: it comes back first.
    Held(String),
}

/// Opens a lease transaction for the caller (serialising their own requests
/// and returning expired leases to the queue), unless they already hold a live
/// task of this kind and tier.
async fn open_pick(db: &Db, who: &Principal, kind: &str, tier: i64, now: i64) -> Result<Pick, StoreError> {
    let mut tx = db.begin_lease().await?;
    lock_user(&mut tx, db.backend(), &who.user_id).await?;
    release_expired(&mut tx, now).await?;
    let held = sqlx::query("SELECT id FROM tasks WHERE assignee_id = $1 AND state = 'leased' AND kind = $2 AND tier = $3 AND lease_expires_at >= $4 LIMIT 1")
        .bind(who.user_id.clone())
        .bind(kind.to_string())
        .bind(tier)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await?;
    match task_id_of(held)? {
        Some(id) => {
            tx.commit().await?;
            Ok(Pick::Held(id))
        }
        None => Ok(Pick::Fresh(tx)),
    }
}

/// The next annotate task for a tasker, or `None` when there is nothing they
/// may do: the live one they hold, else one leased now by the dispatcher
/// (`crate::routing`).
pub async fn next_task(db: &Db, keyring: &Keyring, who: &Principal) -> Result<Option<TaskView>, StoreError> {
    if who.role != Role::Tasker {
        return Err(DomainError::new(ErrorCode::Forbidden).with_message("Annotation tasks go to taskers.").into());
    }
    match crate::routing::next_annotate(db, who).await? {
        crate::routing::Routed::Nothing => Ok(None),
        crate::routing::Routed::Held(id) => task_view(db, keyring, who, &id).await.map(Some),
        crate::routing::Routed::Leased(l) => {
            let spec = projects::spec_for_task(db, keyring, &l.project_id).await?;
            Ok(Some(TaskView {
                id: l.task_id,
                kind: "annotate".into(),
                tier: 0,
                project_id: l.project_id,
                project_name: spec.name.clone(),
                modality: spec.modality,
                schema: spec.schema.clone(),
                guidelines: spec.guidelines.clone(),
                item_id: l.item_id,
                item_kind: l.item_kind,
                item_meta: serde_json::from_str(&l.item_meta).unwrap_or(serde_json::Value::Null),
                deadline: l.deadline,
                lease_expires_at: Some(l.lease_expires_at),
                annotation: None,
                reviews: Vec::new(),
            }))
        }
    }
}

/// What never changes about a task once it exists: where it belongs and
/// what it is. Kept per database handle (`Db::remember_task`) so checking a
/// submission need not read it again; whether the caller still holds the
/// task is checked where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TaskFacts {
    pub project_id: String,
    pub track_id: String,
    pub item_id: String,
    /// `annotate`, `review` or `rework`.
    pub kind: String,
    pub gold: bool,
    pub annotation_id: Option<String>,
}

impl TaskFacts {
    pub(crate) fn annotate(project_id: &str, track_id: &str, item_id: &str, gold: bool) -> TaskFacts {
        TaskFacts { project_id: project_id.into(), track_id: track_id.into(), item_id: item_id.into(), kind: "annotate".into(), gold, annotation_id: None }
    }

    fn of_row(row: &AnyRow) -> Result<TaskFacts, StoreError> {
        Ok(TaskFacts {
            project_id: row.try_get("project_id")?,
            track_id: row.try_get("track_id")?,
            item_id: row.try_get("item_id")?,
            kind: row.try_get("kind")?,
            gold: row.try_get::<i64, _>("gold")? != 0,
            annotation_id: row.try_get("annotation_id")?,
        })
    }
}

/// Gold, at the project's rate, drawn at random so no cadence gives it away:
/// when the draw says gold and the project has a gold item the person has
/// not had, a new task of it is leased to them (the project's deadline,
/// like any other task) and its id returned.
pub(crate) async fn maybe_gold(ex: &mut Exec<'_>, user_id: &str, project_id: &str, track_id: &str, deadline: i64, now: i64) -> Result<Option<(String, String)>, StoreError> {
    // Read through the caller's transaction: a pick never waits for a second pooled connection while holding one.
    let rate = running_spec(ex, project_id).await?.0.gold_rate;
    let draw = (random_u63() as f64) / (i64::MAX as f64);
    if draw >= rate {
        return Ok(None);
    }
    let gold = ex
        .optional(
            "SELECT i.id FROM items i JOIN gold_answers g ON g.item_id = i.id WHERE i.project_id = $1 AND i.gold = 1 \
             AND NOT EXISTS (SELECT 1 FROM tasks o WHERE o.item_id = i.id AND o.assignee_id = $2) ORDER BY i.seq, i.id LIMIT 1",
            [project_id.into(), user_id.into()],
        )
        .await?;
    let Some(g) = gold else { return Ok(None) };
    let item: String = g.get("id")?;
    let task = insert_task_at(ex, now, project_id, track_id, &item, "annotate", 0, None, None, deadline, true, "leased", Some(user_id)).await?;
    Ok(Some((task, item)))
}

/// A task the caller holds (or may look at: staff see any).
pub async fn task_view(db: &Db, keyring: &Keyring, who: &Principal, task_id: &str) -> Result<TaskView, StoreError> {
    let row = sqlx::query(
        "SELECT t.id, t.kind, t.tier, t.project_id, t.item_id, t.assignee_id, t.state, t.deadline, t.lease_expires_at, t.annotation_id, i.kind AS item_kind, i.meta \
         FROM tasks t JOIN items i ON i.id = t.item_id WHERE t.id = $1",
    )
    .bind(task_id.to_string())
    .fetch_optional(&db.pool)
    .await?
    .ok_or(ErrorCode::NotFound)?;
    let assignee: Option<String> = row.try_get("assignee_id")?;
    if assignee.as_deref() != Some(who.user_id.as_str()) {
        return Err(ErrorCode::NotFound.into());
    }
    let project_id: String = row.try_get("project_id")?;
    // The caller holds the task, which entitles them to the project's specification.
    let spec = projects::spec_for_task(db, keyring, &project_id).await?;
    let annotation_id: Option<String> = row.try_get("annotation_id")?;
    let (annotation, reviews) = match &annotation_id {
        Some(a) => (Some(annotation_view(db, &project_id, a).await?), reviews_of(db, &project_id, a).await?),
        None => (None, Vec::new()),
    };
    let meta: String = row.try_get("meta")?;
    Ok(TaskView {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        tier: row.try_get("tier")?,
        project_id,
        project_name: spec.name.clone(),
        modality: spec.modality,
        schema: spec.schema.clone(),
        guidelines: spec.guidelines.clone(),
        item_id: row.try_get("item_id")?,
        item_kind: row.try_get("item_kind")?,
        item_meta: serde_json::from_str(&meta).unwrap_or(serde_json::Value::Null),
        deadline: row.try_get("deadline")?,
        lease_expires_at: row.try_get("lease_expires_at")?,
        annotation,
        reviews,
    })
}

/// Where the item of a task the caller holds lives: what the workspace shows.
#[derive(Debug, Clone)]
pub struct HeldContent {
    pub key_scope: String,
    pub blob_id: String,
    pub media_type: String,
    pub byte_start: i64,
    pub byte_end: i64,
    /// The item's kind and what ingest recorded (a CSV row's header range, …).
    pub kind: String,
    pub meta: serde_json::Value,
}

/// The content location of the item of a task the caller holds under a live
/// lease (annotate, review or rework); anything else is `not_found`.
pub async fn held_content(db: &Db, who: &Principal, task_id: &str) -> Result<HeldContent, StoreError> {
    let r = held_row(db, who, task_id, ", i.byte_start, i.byte_end, i.kind AS held_kind, i.meta AS held_meta, f.blob_id, f.media_type").await?;
    let meta: String = r.try_get("held_meta")?;
    let project_id: String = r.try_get("project_id")?;
    Ok(HeldContent {
        key_scope: projects::key_scope(&project_id),
        blob_id: r.try_get("blob_id")?,
        media_type: r.try_get("media_type")?,
        byte_start: r.try_get("byte_start")?,
        byte_end: r.try_get("byte_end")?,
        kind: r.try_get("held_kind")?,
        meta: serde_json::from_str(&meta).map_err(|e| StoreError::Internal(e.to_string()))?,
    })
}

/// (project id, item id) of a task the caller holds under a live lease.
pub async fn held_item(db: &Db, who: &Principal, task_id: &str) -> Result<(String, String), StoreError> {
    let r = held_row(db, who, task_id, ", t.item_id").await?;
    Ok((r.try_get("project_id")?, r.try_get("item_id")?))
}

async fn held_row(db: &Db, who: &Principal, task_id: &str, columns: &'static str) -> Result<AnyRow, StoreError> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT t.project_id, t.assignee_id, t.state, t.kind, t.lease_expires_at{columns} \
         FROM tasks t JOIN items i ON i.id = t.item_id JOIN files f ON f.id = i.file_id WHERE t.id = $1"
    )))
    .bind(task_id.to_string())
    .fetch_optional(&db.pool)
    .await?
    .ok_or(ErrorCode::NotFound)?;
    let assignee: Option<String> = r.try_get("assignee_id")?;
    let state: String = r.try_get("state")?;
    let kind: String = r.try_get("kind")?;
    let lease: Option<i64> = r.try_get("lease_expires_at")?;
    let live = state == "leased" && (kind == "rework" || lease.is_some_and(|l| l >= now_ms()));
    if assignee.as_deref() != Some(who.user_id.as_str()) || !live {
        return Err(ErrorCode::NotFound.into());
    }
    Ok(r)
}

async fn annotation_view(db: &Db, project_id: &str, annotation_id: &str) -> Result<AnnotationView, StoreError> {
    let r = sqlx::query("SELECT id, author_id, round, body, stage FROM annotations WHERE id = $1").bind(annotation_id.to_string()).fetch_one(&db.pool).await?;
    let author: String = r.try_get("author_id")?;
    let body: String = r.try_get("body")?;
    let stage: String = r.try_get("stage")?;
    Ok(AnnotationView {
        id: r.try_get("id")?,
        author: pseudonym(project_id, &author),
        round: r.try_get("round")?,
        body: serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
        stage: Stage::parse(&stage).ok_or_else(|| StoreError::Internal(format!("stage {stage}")))?,
    })
}

async fn reviews_of(db: &Db, project_id: &str, annotation_id: &str) -> Result<Vec<ReviewView>, StoreError> {
    let rows = sqlx::query("SELECT tier, round, reviewer_id, decision, comments, overall, created_at FROM reviews WHERE annotation_id = $1 ORDER BY created_at, id")
        .bind(annotation_id.to_string())
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|r| {
            let comments: String = r.try_get("comments")?;
            let reviewer: String = r.try_get("reviewer_id")?;
            Ok(ReviewView {
                tier: r.try_get("tier")?,
                round: r.try_get("round")?,
                decision: r.try_get("decision")?,
                comments: serde_json::from_str(&comments).unwrap_or_default(),
                overall: r.try_get("overall")?,
                reviewer: pseudonym(project_id, &reviewer),
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// Loads a task the caller holds under a live lease, inside a write
/// transaction, locking it (PostgreSQL) so two windows cannot both finish it.
async fn held_task(tx: &mut Tx, backend: Backend, who: &Principal, task_id: &str) -> Result<AnyRow, StoreError> {
    held_task_on(tx, backend == Backend::Postgres, who, task_id).await
}

/// [`held_task`] on any connection; `lock` adds `FOR UPDATE` (PostgreSQL, in a transaction).
async fn held_task_on(conn: &mut sqlx::AnyConnection, lock: bool, who: &Principal, task_id: &str) -> Result<AnyRow, StoreError> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, project_id, track_id, item_id, kind, tier, state, assignee_id, annotation_id, lease_expires_at, gold FROM tasks WHERE id = $1{lock}"
    )))
        .bind(task_id.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(ErrorCode::NotFound)?;
    let assignee: Option<String> = row.try_get("assignee_id")?;
    let state: String = row.try_get("state")?;
    let lease: Option<i64> = row.try_get("lease_expires_at")?;
    let kind: String = row.try_get("kind")?;
    if assignee.as_deref() != Some(who.user_id.as_str()) {
        return Err(ErrorCode::NotFound.into());
    }
    let live = state == "leased" && (kind == "rework" || lease.is_some_and(|l| l >= now_ms()));
    if !live {
        return Err(DomainError::new(ErrorCode::TaskNotHeld).into());
    }
    Ok(row)
}

async fn project_spec(tx: &mut Tx, project_id: &str) -> Result<(Spec, i64, String), StoreError> {
    let r = sqlx::query("SELECT spec, qa_seed, state FROM projects WHERE id = $1").bind(project_id.to_string()).fetch_one(&mut **tx).await?;
    Ok((projects::stored_spec(&r.try_get::<String, _>("spec")?, String::new())?, r.try_get("qa_seed")?, r.try_get("state")?))
}

/// What a tasker submits: answers to the item-level questions, and the part
/// of the item's modality (checked against the schema on submit).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnnotationBody {
    /// Question id → chosen option ids.
    #[serde(default)]
    pub answers: Answers,
    /// Image items: shapes, label maps and per-frame answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<clinlabel_domain::imaging::ImageAnnotation>,
    /// Notes: spans, relations and sentence classifications (offsets in
    /// Unicode scalar values of the stored note; see `crate::text`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<clinlabel_text::annotation::TextAnnotation>,
}

/// Checks the modality part of a submission against the schema and the item.
async fn validate_body(tx: &mut sqlx::AnyConnection, spec: &Spec, item_id: &str, body: &AnnotationBody) -> Result<(), StoreError> {
    if crate::text::applies(spec, body) {
        return crate::text::validate_body(tx, spec, item_id, body).await;
    }
    qa::validate_answers(&item_answer_schema(spec), &body.answers)?;
    if let Some(image) = &body.image {
        validate_image(tx, spec, item_id, image).await?;
    }
    Ok(())
}

/// The questions an item's own `answers` are checked against: image-level
/// questions are answered per frame (in `image`), sentence-level ones per
/// sentence (in `text`).
fn item_answer_schema(spec: &Spec) -> clinlabel_domain::project::LabelSchema {
    match spec.modality {
        clinlabel_domain::project::Modality::Image => clinlabel_domain::imaging::item_level(&spec.schema),
        clinlabel_domain::project::Modality::Text => clinlabel_text::annotation::document_questions(&spec.schema),
        _ => spec.schema.clone(),
    }
}

/// Checks an image annotation against the schema and the item's frames.
async fn validate_image(tx: &mut sqlx::AnyConnection, spec: &Spec, item_id: &str, image: &clinlabel_domain::imaging::ImageAnnotation) -> Result<(), StoreError> {
    let frames = item_frames(tx, item_id).await?;
    clinlabel_domain::imaging::validate(&spec.schema, image, frames.map(|frames| clinlabel_domain::imaging::Extent { frames }))?;
    Ok(())
}

/// An image item's frame count (`image` field error for other items).
async fn item_frames(tx: &mut sqlx::AnyConnection, item_id: &str) -> Result<Option<u32>, StoreError> {
    let r = sqlx::query("SELECT kind, meta FROM items WHERE id = $1").bind(item_id.to_string()).fetch_one(&mut *tx).await?;
    let kind: String = r.try_get("kind")?;
    let meta: serde_json::Value = serde_json::from_str(&r.try_get::<String, _>("meta")?).unwrap_or_default();
    match kind.as_str() {
        "dicom_series" => Ok(meta["frames"].as_u64().map(|n| n as u32)),
        "image" => Ok(Some(1)),
        _ => Err(DomainError::field("image", "this item is not an image").into()),
    }
}

/// An image item's pixel and slice spacing (from its series' metadata), if known.
fn item_spacing(meta: &serde_json::Value) -> Option<clinlabel_domain::imaging_qa::Spacing> {
    let ps = meta["pixel_spacing"].as_array()?;
    let (row, col) = (ps.first()?.as_f64()?, ps.get(1)?.as_f64()?);
    Some(clinlabel_domain::imaging_qa::Spacing { row_mm: row, column_mm: col, slice_mm: meta["slice_spacing"].as_f64().filter(|v| *v > 0.0).unwrap_or(1.0) })
}

/// The answer to a submission: the same for every task, gold or not.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Submitted {
    pub task_id: String,
    pub status: String,
}

/// Submits an annotate or rework task.
///
/// The submission is checked first, outside any write (the task is held,
/// the body fits the schema and the item, a gold answer is scored); then
/// the submission writer (a [`crate::batcher::Batcher`]) writes every
/// checked submission waiting at that moment together, in one durable
/// write (on SQLite on the hot connection, [`crate::exec`]; on PostgreSQL
/// [`Db::write`]), re-checking in that write that each task is still held.
pub async fn submit(db: &Db, who: &Principal, task_id: &str, body: AnnotationBody) -> Result<Submitted, StoreError> {
    let prepared = prepare_submit(db, who, task_id, body).await?;
    match db.submits() {
        Some(writer) => writer.call(prepared).await,
        None => write_submissions(db, vec![prepared]).await?.remove(0),
    }
}

/// A checked submission, ready to be written.
#[derive(Clone)]
pub(crate) struct Prepared {
    who: Principal,
    task_id: String,
    /// `annotate` or `rework`.
    kind: String,
    project_id: String,
    track_id: String,
    item_id: String,
    /// Rework: the annotation reworked; otherwise the new annotation's id.
    annotation_id: String,
    /// Gold tasks: the score against the reference.
    gold_score: Option<f64>,
    stage: Stage,
    tier2: bool,
    body_json: String,
    spec: std::sync::Arc<Spec>,
}

/// The specification (without guidelines) and QA seed of a running project.
/// Both are fixed once the work starts, so they are kept for the process.
type SpecCache = std::sync::Mutex<std::collections::HashMap<String, (std::sync::Arc<Spec>, i64)>>;
static RUNNING_SPECS: std::sync::LazyLock<SpecCache> = std::sync::LazyLock::new(Default::default);

async fn running_spec(ex: &mut Exec<'_>, project_id: &str) -> Result<(std::sync::Arc<Spec>, i64), StoreError> {
    if let Some(s) = RUNNING_SPECS.lock().expect("spec cache").get(project_id) {
        return Ok(s.clone());
    }
    let r = ex.one("SELECT spec, qa_seed, state FROM projects WHERE id = $1", [project_id.into()]).await?;
    let spec = std::sync::Arc::new(projects::stored_spec(&r.get::<String>("spec")?, String::new())?);
    let seed: i64 = r.get("qa_seed")?;
    let state: String = r.get("state")?;
    if matches!(ProjectState::parse(&state), Some(ProjectState::InProgress | ProjectState::InQa | ProjectState::Delivered | ProjectState::Cancelled)) {
        RUNNING_SPECS.lock().expect("spec cache").insert(project_id.to_string(), (spec.clone(), seed));
    }
    Ok((spec, seed))
}

/// Checks a submission on a read connection: the caller holds the task, it
/// is not a review, the body fits; scores a gold answer; decides the stage.
async fn prepare_submit(db: &Db, who: &Principal, task_id: &str, body: AnnotationBody) -> Result<Prepared, StoreError> {
    let mut conn = db.pool.acquire().await?;
    // The task's facts: remembered from its lease, else read (and checked held).
    let (facts, checked) = match db.task_facts(task_id) {
        Some(f) => (f, false),
        None => {
            let f = TaskFacts::of_row(&held_task_on(&mut conn, false, who, task_id).await?)?;
            db.remember_task(task_id, f.clone());
            (f, true)
        }
    };
    let checks = async {
        if facts.kind == "review" {
            return Err(DomainError::new(ErrorCode::InvalidField).with_message("This is a review: send a decision to /review.").with_details(serde_json::json!({ "field": "task" })).into());
        }
        let (spec, seed) = running_spec(&mut Exec::Pool(&mut conn), &facts.project_id).await?;
        validate_body(&mut conn, &spec, &facts.item_id, &body).await?;
        let gold_score = if facts.gold { Some(gold_score(&mut conn, &spec, &facts.item_id, &body).await?) } else { None };
        Ok::<_, StoreError>((spec, seed, gold_score))
    };
    let (spec, seed, gold_score) = match checks.await {
        Ok(v) => v,
        // Someone who does not hold the task hears that, not what is wrong with the body.
        Err(e) if !checked => {
            let mut conn = db.pool.acquire().await?;
            held_task_on(&mut conn, false, who, task_id).await?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    let tier2 = qa::tier2_sampled(seed as u64, &facts.item_id, spec.qa.tier2_sampling_pct);
    let annotation_id = match (&facts.kind[..], &facts.annotation_id) {
        ("rework", Some(a)) => a.clone(),
        ("rework", None) => return Err(StoreError::Internal(format!("rework task {task_id} has no annotation"))),
        _ => new_id(),
    };
    Ok(Prepared {
        who: who.clone(),
        task_id: task_id.to_string(),
        kind: facts.kind,
        project_id: facts.project_id,
        track_id: facts.track_id,
        item_id: facts.item_id,
        annotation_id,
        gold_score,
        stage: if facts.gold { Stage::Accepted } else { qa::first_stage(&spec.qa, tier2) },
        tier2,
        body_json: serde_json::to_string(&body).map_err(|e| StoreError::Internal(e.to_string()))?,
        spec,
    })
}

/// A gold submission's score against the item's reference: the mean of the
/// parts the reference has (answers, image, note).
async fn gold_score(conn: &mut sqlx::AnyConnection, spec: &Spec, item_id: &str, body: &AnnotationBody) -> Result<f64, StoreError> {
    let g = sqlx::query("SELECT g.answer, g.image, g.text, i.meta FROM gold_answers g JOIN items i ON i.id = g.item_id WHERE g.item_id = $1").bind(item_id.to_string()).fetch_one(&mut *conn).await?;
    let reference_text: Option<clinlabel_text::annotation::TextAnnotation> =
        g.try_get::<Option<String>, _>("text")?.map(|t| serde_json::from_str(&t)).transpose().map_err(|e| StoreError::Internal(e.to_string()))?;
    let reference: Answers = serde_json::from_str(&g.try_get::<String, _>("answer")?).map_err(|e| StoreError::Internal(e.to_string()))?;
    let reference_image: Option<clinlabel_domain::imaging::ImageAnnotation> =
        g.try_get::<Option<String>, _>("image")?.map(|t| serde_json::from_str(&t)).transpose().map_err(|e| StoreError::Internal(e.to_string()))?;
    let mut parts = Vec::new();
    if !reference.is_empty() || (reference_image.is_none() && reference_text.is_none()) {
        parts.push(qa::score_answers(&spec.schema, &reference, &body.answers));
    }
    if let Some(ri) = &reference_image {
        let meta: serde_json::Value = serde_json::from_str(&g.try_get::<String, _>("meta")?).unwrap_or_default();
        let given = body.image.clone().unwrap_or_default();
        if let Some(s) = clinlabel_domain::imaging_qa::gold_score(ri, &given, item_spacing(&meta)) {
            parts.push(s);
        }
    }
    if let Some(rt) = &reference_text
        && let Some(s) = clinlabel_text::qa::gold_score(rt, &body.text.clone().unwrap_or_default())
    {
        parts.push(s);
    }
    Ok(parts.iter().sum::<f64>() / parts.len().max(1) as f64)
}

/// Starts the submission writer of a database (see [`submit`]).
pub(crate) fn submit_writer(db: Db) -> crate::batcher::Batcher<Prepared, Submitted> {
    crate::batcher::Batcher::start(
        256,
        std::sync::Arc::new(move |batch: Vec<Prepared>| {
            let db = db.clone();
            Box::pin(async move { write_submissions(&db, batch).await })
        }),
    )
}

/// Writes a batch of submissions durably: on SQLite on the hot connection
/// ([`crate::exec`]), in a transaction it may share with the next write
/// there, then syncs the log; on PostgreSQL through [`Db::write`].
async fn write_submissions(db: &Db, batch: Vec<Prepared>) -> Result<Vec<Result<Submitted, StoreError>>, StoreError> {
    if let Some(hot) = db.hot() {
        let out = hot.run_joining(move |ex| Box::pin(async move { write_submissions_in(ex, &batch).await })).await?;
        // Durable once the log is on disk, synced outside the write gate.
        hot.log().sync().await?;
        return Ok(out);
    }
    db.write(move |tx| Box::pin(async move { write_submissions_in(&mut Exec::from(tx), &batch).await })).await
}

/// Writes checked submissions in the caller's transaction with a statement
/// per step for all of them: finish the tasks still held (the others get
/// `task_not_held`), store the annotations, score gold, queue what follows,
/// append the audit events.
async fn write_submissions_in(ex: &mut Exec<'_>, batch: &[Prepared]) -> Result<Vec<Result<Submitted, StoreError>>, StoreError> {
    use crate::exec::Script;
    let now = now_ms();
    // One submission per task: a second of the same task in a batch finds it done.
    let mut firsts = std::collections::HashSet::new();
    let unique: Vec<&Prepared> = batch.iter().filter(|p| firsts.insert(p.task_id.as_str())).collect();
    let mut finished = std::collections::HashSet::new();
    let backend = ex.backend();
    // First round trip: finish the tasks still held by their senders; read the audit head.
    let rows: Vec<serde_json::Value> = unique.iter().map(|p| serde_json::json!({ "task": p.task_id, "user": p.who.user_id })).collect();
    let rows_2 = backend.json_rows(2);
    let first = Script::new()
        .part(format!(
            "UPDATE tasks{} SET state = 'done', updated_at = $1 \
             WHERE id IN (SELECT value ->> 'task' FROM {rows_2}) \
               AND assignee_id = (SELECT value ->> 'user' FROM {rows_2} WHERE value ->> 'task' = tasks.id) \
               AND state = 'leased' AND kind IN ('annotate', 'rework') AND (kind = 'rework' OR lease_expires_at >= $1) RETURNING 'done' AS what, id",
            backend.index_hint("sqlite_autoindex_tasks_1")
        ))
        .arg(Arg::Int(now))
        .arg(Arg::Text(serde_json::Value::Array(rows).to_string()));
    let first = audit::head_in_script(first, backend).run(ex).await?;
    for r in first.iter().filter(|r| r.is("done")) {
        finished.insert(r.get::<String>("id")?);
    }
    let done: Vec<&Prepared> = unique.into_iter().filter(|p| finished.contains(&p.task_id)).collect();
    // Second round trip: the new annotations, the audit events, the batches of accepted items.
    let mut second = Script::new();
    let fresh: Vec<&&Prepared> = done.iter().filter(|p| p.kind != "rework").collect();
    if !fresh.is_empty() {
        let rows: Vec<serde_json::Value> = fresh
            .iter()
            .map(|p| {
                let gold = p.gold_score.is_some();
                serde_json::json!({
                    "id": p.annotation_id, "project_id": p.project_id, "item_id": p.item_id, "task_id": p.task_id, "author_id": p.who.user_id,
                    "body": p.body_json, "stage": p.stage.as_str(), "tier2": (p.tier2 && !gold) as i64, "gold": gold as i64, "score": p.gold_score,
                })
            })
            .collect();
        let n = second.next_param();
        second = second
            .part(format!(
                "INSERT INTO annotations (id, project_id, item_id, task_id, author_id, round, body, stage, tier2, gold, score, created_at, updated_at) \
                 SELECT value ->> 'id', value ->> 'project_id', value ->> 'item_id', value ->> 'task_id', value ->> 'author_id', 0, value ->> 'body', value ->> 'stage', \
                        CAST(value ->> 'tier2' AS BIGINT), CAST(value ->> 'gold' AS BIGINT), CAST(value ->> 'score' AS DOUBLE PRECISION), ${n}, ${n} FROM {}",
                backend.json_rows(n + 1)
            ))
            .arg(Arg::Int(now))
            .arg(Arg::Text(serde_json::Value::Array(rows).to_string()));
    }
    let events: Vec<_> = done
        .iter()
        .map(|p| {
            // The trail does not say which submissions were gold.
            let details = match p.gold_score {
                Some(_) => serde_json::json!({ "project_id": p.project_id }),
                None => serde_json::json!({ "project_id": p.project_id, "annotation_id": p.annotation_id, "next": p.stage }),
            };
            audit::event(Some(&p.who), None, "task.submit", "task", &p.task_id, details)
        })
        .collect();
    let (head_seq, head_hash) = if done.is_empty() { (0, String::new()) } else { audit::head_after(ex, &first).await? };
    let chain = audit::chain(head_seq, head_hash, &events)?;
    if !events.is_empty() {
        second = audit::append_to_script(second, backend, &chain);
    }
    let accepted: Vec<&Prepared> = done.iter().filter(|p| p.gold_score.is_none() && p.stage == Stage::Accepted).copied().collect();
    if !accepted.is_empty() {
        let n = second.next_param();
        second = second
            .part(format!(
                "SELECT DISTINCT 'batch' AS what, b.id, b.project_id, b.state, b.spot_check_seed FROM batches b JOIN items i ON i.batch_id = b.id WHERE i.id {}",
                backend.in_texts(n)
            ))
            .arg(Arg::Text(crate::db::json_list(accepted.iter().map(|p| &p.item_id))));
    }
    let second = if done.is_empty() { Vec::new() } else { second.run(ex).await? };
    if !events.is_empty() && !audit::head_moved(&second, chain.last_seq) {
        return Err(StoreError::Internal("the audit head moved during a write".into()));
    }
    // Then, one by one: reworked annotations, gold results, review tasks, batches that are complete.
    for p in done.iter().filter(|p| p.kind == "rework") {
        ex.execute(
            "UPDATE annotations SET body = $1, round = round + 1, stage = $2, updated_at = $3 WHERE id = $4",
            [p.body_json.clone().into(), p.stage.as_str().into(), now.into(), Arg::from(&p.annotation_id)],
        )
        .await?;
    }
    for p in &done {
        match (p.gold_score, p.stage) {
            (Some(score), _) => record_gold(ex, &p.who, &p.track_id, &p.project_id, &p.item_id, score).await?,
            (None, Stage::Accepted) => {}
            (None, stage) => route_after(ex, &p.project_id, &p.track_id, &p.item_id, &p.annotation_id, &p.who.user_id, stage, &p.spec).await?,
        }
    }
    for b in second.iter().filter(|r| r.is("batch")) {
        let project_id: String = b.get("project_id")?;
        if let Some(p) = accepted.iter().find(|p| p.project_id == project_id) {
            advance_batch(ex, &project_id, b, &p.spec).await?;
        }
    }
    // Who sent a task they never held hears `not_found`, as anywhere else.
    let refused: Vec<&String> = batch.iter().filter(|p| !finished.contains(&p.task_id)).map(|p| &p.task_id).collect();
    let mut holders: std::collections::HashMap<String, Option<String>> = std::collections::HashMap::new();
    if !refused.is_empty() {
        let sql = format!("SELECT id, assignee_id FROM tasks WHERE id {}", backend.in_texts(1));
        for r in ex.all(sql, [Arg::Text(crate::db::json_list(refused))]).await? {
            holders.insert(r.get("id")?, r.get("assignee_id")?);
        }
    }
    let mut answered = std::collections::HashSet::new();
    Ok(batch
        .iter()
        .map(|p| {
            let first = answered.insert(p.task_id.as_str());
            if first && finished.contains(&p.task_id) {
                Ok(Submitted { task_id: p.task_id.clone(), status: "submitted".into() })
            } else if holders.get(&p.task_id).is_some_and(|a| a.as_deref() == Some(p.who.user_id.as_str())) || finished.contains(&p.task_id) {
                Err(DomainError::new(ErrorCode::TaskNotHeld).into())
            } else {
                Err(ErrorCode::NotFound.into())
            }
        })
        .collect())
}

/// Queues what follows an annotation reaching `stage`.
#[allow(clippy::too_many_arguments)]
async fn route_after(ex: &mut Exec<'_>, project_id: &str, track_id: &str, item_id: &str, annotation_id: &str, author: &str, stage: Stage, spec: &Spec) -> Result<(), StoreError> {
    match stage {
        Stage::Tier1 => {
            insert_task(ex, project_id, track_id, item_id, "review", 1, Some(author), Some(annotation_id), spec.deadline, false, "queued", None).await?;
        }
        Stage::Tier2 => {
            insert_task(ex, project_id, track_id, item_id, "review", 2, Some(author), Some(annotation_id), spec.deadline, false, "queued", None).await?;
        }
        Stage::Rework => {
            insert_task(ex, project_id, track_id, item_id, "rework", 0, None, Some(annotation_id), spec.deadline, false, "leased", Some(author)).await?;
            notify(ex, author, "rework", serde_json::json!({ "project_id": project_id })).await?;
        }
        Stage::Accepted => {
            batch_progress(ex, project_id, item_id, spec).await?;
        }
    }
    Ok(())
}

/// A tasker declines an assignment; they will not be offered that item again.
pub async fn skip(db: &Db, who: &Principal, task_id: &str, reason: &str) -> Result<(), StoreError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(DomainError::field("reason", "say why (1 to 500 characters)").into());
    }
    let mut tx = db.begin_write().await?;
    let row = held_task(&mut tx, db.backend(), who, task_id).await?;
    let kind: String = row.try_get("kind")?;
    if kind == "rework" {
        return Err(DomainError::new(ErrorCode::InvalidField).with_message("Returned work cannot be skipped.").with_details(serde_json::json!({ "field": "task" })).into());
    }
    let item_id: String = row.try_get("item_id")?;
    let gold = row.try_get::<i64, _>("gold")? != 0;
    let now = now_ms();
    if gold {
        sqlx::query("UPDATE tasks SET state = 'cancelled', updated_at = $1 WHERE id = $2").bind(now).bind(task_id.to_string()).execute(&mut *tx).await?;
    } else {
        sqlx::query("UPDATE tasks SET state = 'queued', assignee_id = NULL, lease_expires_at = NULL, updated_at = $1 WHERE id = $2").bind(now).bind(task_id.to_string()).execute(&mut *tx).await?;
    }
    sqlx::query("INSERT INTO task_skips (item_id, user_id, task_id, reason, at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (item_id, user_id) DO NOTHING")
        .bind(item_id)
        .bind(who.user_id.clone())
        .bind(task_id.to_string())
        .bind(reason.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
    audit::append(&mut tx, &audit::event(Some(who), None, "task.skip", "task", task_id, serde_json::json!({}))).await?;
    tx.commit().await?;
    Ok(())
}

// -- gold and accuracy --------------------------------------------------------------------

async fn record_gold(ex: &mut Exec<'_>, who: &Principal, track_id: &str, project_id: &str, item_id: &str, score: f64) -> Result<(), StoreError> {
    let now = now_ms();
    ex.execute(
        "INSERT INTO gold_results (id, user_id, track_id, project_id, item_id, score, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [new_id().into(), Arg::from(&who.user_id), track_id.into(), project_id.into(), item_id.into(), score.into(), now.into()],
    )
    .await?;
    let recent: Vec<f64> = ex
        .all(format!("SELECT score FROM gold_results WHERE user_id = $1 AND track_id = $2 ORDER BY at DESC, id DESC LIMIT {}", qa::ROLLING_WINDOW), [Arg::from(&who.user_id), track_id.into()])
        .await?
        .iter()
        .rev()
        .map(|r| r.get("score"))
        .collect::<Result<_, _>>()?;
    let threshold: f64 = ex.one("SELECT accuracy_threshold FROM tracks WHERE id = $1", [track_id.into()]).await?.get("accuracy_threshold")?;
    if let Some(mean) = qa::below_threshold(&recent, threshold) {
        let cert = ex.optional("SELECT id FROM certifications WHERE user_id = $1 AND track_id = $2 AND status = 'active'", [Arg::from(&who.user_id), track_id.into()]).await?;
        if let Some(c) = cert {
            let cert_id: String = c.get("id")?;
            let reason = format!("rolling gold accuracy {:.0} % is under the track's threshold of {:.0} %", mean * 100.0, threshold * 100.0);
            ex.execute("UPDATE certifications SET status = 'suspended', reason = $1, score = $2, updated_at = $3 WHERE id = $4", [Arg::from(&reason), mean.into(), now.into(), Arg::from(&cert_id)])
                .await?;
            // Unstarted assignments in the track go back to the queue.
            ex.execute(
                "UPDATE tasks SET state = 'queued', assignee_id = NULL, lease_expires_at = NULL WHERE assignee_id = $1 AND track_id = $2 AND state = 'leased' AND kind = 'annotate' AND gold = 0",
                [Arg::from(&who.user_id), track_id.into()],
            )
            .await?;
            notify(ex, &who.user_id, "certification_suspended", serde_json::json!({ "track_id": track_id, "reason": reason })).await?;
            let pms: Vec<String> = ex.all("SELECT id FROM users WHERE role = 'pm' AND disabled = 0", []).await?.iter().map(|r| r.get("id")).collect::<Result<_, _>>()?;
            for pm in pms {
                notify(ex, &pm, "certification_suspended", serde_json::json!({ "track_id": track_id, "user_id": who.user_id, "reason": reason })).await?;
            }
            audit::append_in(
                ex,
                &[audit::event(
                    system(),
                    Some(&who.org_id),
                    "certification.suspend",
                    "certification",
                    &cert_id,
                    serde_json::json!({ "status": "suspended", "rolling_accuracy": mean, "threshold": threshold, "via": "gold" }),
                )],
            )
            .await?;
        }
    }
    Ok(())
}

/// PMs mark an item as gold with its reference answer (before the project starts).
pub async fn set_gold(db: &Db, who: &Principal, item_id: &str, answer: Answers) -> Result<(), StoreError> {
    set_gold_reference(db, who, item_id, answer, None, None).await
}

/// [`set_gold`] with, for image items, the reference shapes, label maps and
/// per-frame answers submissions are scored against (`imaging_qa::gold_score`).
/// For notes, `note` is the reference spans, relations and sentence answers.
pub async fn set_gold_reference(db: &Db, who: &Principal, item_id: &str, answer: Answers, image: Option<clinlabel_domain::imaging::ImageAnnotation>, note: Option<clinlabel_text::annotation::TextAnnotation>) -> Result<(), StoreError> {
    if !matches!(who.role, Role::Pm | Role::Admin) {
        return Err(ErrorCode::Forbidden.into());
    }
    let mut tx = db.begin_write().await?;
    let row = sqlx::query("SELECT project_id FROM items WHERE id = $1").bind(item_id.to_string()).fetch_optional(&mut *tx).await?.ok_or(ErrorCode::NotFound)?;
    let project_id: String = row.try_get("project_id")?;
    let (spec, _, state) = project_spec(&mut tx, &project_id).await?;
    if ProjectState::parse(&state).is_some_and(|s| !matches!(s, ProjectState::Draft | ProjectState::Submitted | ProjectState::Quoted | ProjectState::Rejected | ProjectState::Approved)) {
        return Err(DomainError::new(ErrorCode::InvalidTransition).with_message("Gold items are chosen before the work starts.").into());
    }
    qa::validate_answers(&item_answer_schema(&spec), &answer).map_err(|e| {
        let field = e.details.as_ref().and_then(|d| d["field"].as_str()).unwrap_or("answers").replacen("answers", "answer", 1);
        DomainError::field(&field, e.message().split_once(": ").map(|x| x.1).unwrap_or(e.message()))
    })?;
    if let Some(img) = &image {
        validate_image(&mut tx, &spec, item_id, img).await?;
    }
    let text = serde_json::to_string(&answer).map_err(|e| StoreError::Internal(e.to_string()))?;
    let image_text = image.as_ref().map(|i| serde_json::to_string(i)).transpose().map_err(|e| StoreError::Internal(e.to_string()))?;
    if let Some(t) = &note {
        let chars = crate::text::note_chars(&mut tx, item_id).await?;
        crate::text::validate(&spec, t, chars)?;
    }
    let text_ref = note.as_ref().map(|t| serde_json::to_string(t)).transpose().map_err(|e| StoreError::Internal(e.to_string()))?;
    sqlx::query("INSERT INTO gold_answers (item_id, project_id, answer, image, text, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (item_id) DO UPDATE SET answer = excluded.answer, image = excluded.image, text = excluded.text")
        .bind(item_id.to_string())
        .bind(project_id.clone())
        .bind(text)
        .bind(image_text)
        .bind(text_ref)
        .bind(who.user_id.clone())
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE items SET gold = 1 WHERE id = $1").bind(item_id.to_string()).execute(&mut *tx).await?;
    audit::append(&mut tx, &audit::event(Some(who), None, "item.gold", "item", item_id, serde_json::json!({ "project_id": project_id }))).await?;
    tx.commit().await?;
    Ok(())
}

/// A tasker's rolling gold accuracy per track (PMs, QA, admins: anyone's; taskers: their own).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Accuracy {
    pub user_id: String,
    pub user_name: String,
    pub track_id: String,
    pub gold_tasks: i64,
    /// Mean of the last results (the rolling window), 0–1.
    pub rolling_accuracy: Option<f64>,
}

pub async fn accuracy(db: &Db, who: &Principal, track_id: Option<&str>) -> Result<Vec<Accuracy>, StoreError> {
    let only = match who.role {
        Role::Admin | Role::Pm | Role::QaReviewer => None,
        Role::Tasker => Some(who.user_id.clone()),
        _ => return Err(ErrorCode::Forbidden.into()),
    };
    let cast = if db.backend() == Backend::Postgres { "::TEXT" } else { "" };
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT g.user_id, u.name, g.track_id, g.score FROM gold_results g JOIN users u ON u.id = g.user_id \
         WHERE ($1{cast} IS NULL OR g.user_id = $1) AND ($2{cast} IS NULL OR g.track_id = $2) ORDER BY g.user_id, g.track_id, g.at, g.id"
    )))
    .bind(only)
    .bind(track_id.map(str::to_string))
    .fetch_all(&db.pool)
    .await?;
    let mut out: Vec<(Accuracy, Vec<f64>)> = Vec::new();
    for r in &rows {
        let (user, track): (String, String) = (r.try_get("user_id")?, r.try_get("track_id")?);
        let score: f64 = r.try_get("score")?;
        match out.last_mut() {
            Some((a, s)) if a.user_id == user && a.track_id == track => {
                a.gold_tasks += 1;
                s.push(score);
            }
            _ => out.push((Accuracy { user_id: user, user_name: r.try_get("name")?, track_id: track, gold_tasks: 1, rolling_accuracy: None }, vec![score])),
        }
    }
    Ok(out
        .into_iter()
        .map(|(mut a, s)| {
            let w = &s[s.len().saturating_sub(qa::ROLLING_WINDOW)..];
            a.rolling_accuracy = Some(w.iter().sum::<f64>() / w.len() as f64);
            a
        })
        .collect())
}

// -- reviews --------------------------------------------------------------------------

/// The next review task of a tier for the caller: tier 1 for certified
/// taskers (never their own work nor an item they annotated), tier 2 for QA
/// reviewers, tier 3 (spot-check) for PMs.
pub async fn next_review(db: &Db, keyring: &Keyring, who: &Principal, tier: i64) -> Result<Option<TaskView>, StoreError> {
    let allowed = matches!((tier, who.role), (1, Role::Tasker) | (2, Role::QaReviewer) | (3, Role::Pm));
    if !allowed {
        return Err(DomainError::new(ErrorCode::Forbidden).with_message("Tier 1 reviews go to taskers, tier 2 to QA reviewers, tier 3 spot-checks to PMs.").into());
    }
    let now = now_ms();
    let mut tx = match open_pick(db, who, "review", tier, now).await? {
        Pick::Fresh(tx) => tx,
        Pick::Held(id) => return task_view(db, keyring, who, &id).await.map(Some),
    };
    let track_filter = if tier == 1 {
        "AND EXISTS (SELECT 1 FROM certifications c WHERE c.user_id = $1 AND c.track_id = t.track_id AND c.status = 'active' AND c.expires_at > $2) \
         AND NOT EXISTS (SELECT 1 FROM tasks o WHERE o.item_id = t.item_id AND o.kind IN ('annotate', 'rework') AND o.assignee_id = $1)"
    } else {
        "AND $2 > 0"
    };
    let (hint, lock) = match db.backend() {
        Backend::Sqlite => (" INDEXED BY tasks_queue", ""),
        Backend::Postgres => ("", " FOR UPDATE OF t SKIP LOCKED"),
    };
    let pick = format!(
        "SELECT t.id FROM tasks t{hint} WHERE t.kind = 'review' AND t.state = 'queued' AND t.tier = $3 \
           AND (t.excluded_id IS NULL OR t.excluded_id <> $1) {track_filter} \
           AND t.project_id IN (SELECT p.id FROM projects p WHERE p.state = 'in_progress') \
         ORDER BY t.deadline, t.priority, t.id LIMIT 1{lock}"
    );
    let Some(id) = task_id_of(sqlx::query(sqlx::AssertSqlSafe(pick)).bind(who.user_id.clone()).bind(now).bind(tier).fetch_optional(&mut **tx).await?)? else {
        tx.commit().await?;
        return Ok(None);
    };
    sqlx::query("UPDATE tasks SET state = 'leased', assignee_id = $1, lease_expires_at = $2, updated_at = $3 WHERE id = $4")
        .bind(who.user_id.clone())
        .bind(now + LEASE_MS)
        .bind(now)
        .bind(id.clone())
        .execute(&mut **tx)
        .await?;
    audit::append(&mut tx, &audit::event(Some(who), None, "task.assign", "task", &id, serde_json::json!({ "tier": tier }))).await?;
    tx.commit().await?;
    task_view(db, keyring, who, &id).await.map(Some)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewDecision {
    Accept,
    Reject,
}

/// A reviewer's verdict.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    pub decision: ReviewDecision,
    /// Comments anchored to elements of the annotation (e.g. `question:specialty`).
    #[serde(default)]
    pub comments: Vec<Comment>,
    pub overall: Option<String>,
}

/// Records a review and routes the annotation on.
pub async fn review(db: &Db, who: &Principal, task_id: &str, req: ReviewRequest) -> Result<Stage, StoreError> {
    let (backend, who, task_id) = (db.backend(), who.clone(), task_id.to_string());
    db.write(move |tx| Box::pin(async move { review_in(tx, backend, &who, &task_id, req).await })).await
}

async fn review_in(tx: &mut Tx, backend: Backend, who: &Principal, task_id: &str, req: ReviewRequest) -> Result<Stage, StoreError> {
    let row = held_task(tx, backend, who, task_id).await?;
    let kind: String = row.try_get("kind")?;
    if kind != "review" {
        return Err(DomainError::new(ErrorCode::InvalidField).with_message("This task is not a review.").with_details(serde_json::json!({ "field": "task" })).into());
    }
    let tier: i64 = row.try_get("tier")?;
    let project_id: String = row.try_get("project_id")?;
    let track_id: String = row.try_get("track_id")?;
    let item_id: String = row.try_get("item_id")?;
    let annotation_id: String = row.try_get("annotation_id")?;
    let (spec, _, _) = project_spec(tx, &project_id).await?;
    let a = sqlx::query("SELECT author_id, round, tier2, stage, body FROM annotations WHERE id = $1").bind(annotation_id.clone()).fetch_one(&mut **tx).await?;
    let body: Option<AnnotationBody> = serde_json::from_str(&a.try_get::<String, _>("body")?).ok();
    let author: String = a.try_get("author_id")?;
    let round: i64 = a.try_get("round")?;
    let tier2 = a.try_get::<i64, _>("tier2")? != 0;
    let accepted = req.decision == ReviewDecision::Accept;
    let overall = req.overall.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    if !accepted && req.comments.is_empty() && overall.is_none() {
        return Err(DomainError::field("comments", "a rejection needs at least one comment").into());
    }
    for (i, c) in req.comments.iter().enumerate() {
        if c.text.trim().is_empty() || c.text.chars().count() > 2000 {
            return Err(DomainError::field(&format!("comments[{i}].text"), "must be 1 to 2,000 characters").into());
        }
        let known = match c.anchor.split_once(':') {
            Some(("question", q)) => spec.schema.questions.iter().any(|x| x.id == q),
            Some(("shape", id)) => body.as_ref().and_then(|b| b.image.as_ref()).is_some_and(|img| img.shapes.iter().any(|s| s.id == id)),
            Some(("span", id)) => body.as_ref().and_then(|b| b.text.as_ref()).is_some_and(|t| t.spans.iter().any(|s| s.id == id)),
            Some(("relation", id)) => body.as_ref().and_then(|b| b.text.as_ref()).is_some_and(|t| t.relations.iter().any(|r| r.id == id)),
            Some((kind, id)) => !kind.is_empty() && !id.is_empty() && c.anchor.len() <= 200,
            None => false,
        };
        if !known {
            return Err(DomainError::field(&format!("comments[{i}].anchor"), "does not name an element of this annotation").into());
        }
    }
    let now = now_ms();
    sqlx::query("INSERT INTO reviews (id, annotation_id, task_id, tier, round, reviewer_id, decision, comments, overall, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
        .bind(new_id())
        .bind(annotation_id.clone())
        .bind(task_id.to_string())
        .bind(tier)
        .bind(round)
        .bind(who.user_id.clone())
        .bind(if accepted { "accept" } else { "reject" })
        .bind(serde_json::to_string(&req.comments).map_err(|e| StoreError::Internal(e.to_string()))?)
        .bind(overall)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE tasks SET state = 'done', updated_at = $1 WHERE id = $2").bind(now).bind(task_id.to_string()).execute(&mut **tx).await?;
    let next = if tier == 3 {
        // A spot-check accepts or returns; it does not restart the tiers.
        if accepted { Stage::Accepted } else { qa::after_review(Stage::Tier2, false, tier2, round as u32, &spec.qa) }
    } else {
        let at = if tier == 1 { Stage::Tier1 } else { Stage::Tier2 };
        qa::after_review(at, accepted, tier2, round as u32, &spec.qa)
    };
    sqlx::query("UPDATE annotations SET stage = $1, updated_at = $2 WHERE id = $3").bind(next.as_str()).bind(now).bind(annotation_id.clone()).execute(&mut **tx).await?;
    if tier == 3 {
        spot_check_progress(tx, &project_id, &item_id, &spec).await?;
        if !accepted {
            route_after(&mut Exec::from(&mut *tx), &project_id, &track_id, &item_id, &annotation_id, &author, next, &spec).await?;
        }
    } else {
        route_after(&mut Exec::from(&mut *tx), &project_id, &track_id, &item_id, &annotation_id, &author, next, &spec).await?;
    }
    audit::append(
        tx,
        &audit::event(Some(who), None, "task.review", "annotation", &annotation_id, serde_json::json!({ "tier": tier, "decision": req.decision, "round": round, "next": next, "comments": req.comments.len() })),
    )
    .await?;
    Ok(next)
}

/// The caller's returned work (rework tasks with their feedback).
pub async fn returned_work(db: &Db, keyring: &Keyring, who: &Principal) -> Result<Vec<TaskView>, StoreError> {
    let ids: Vec<String> = sqlx::query("SELECT id FROM tasks WHERE assignee_id = $1 AND kind = 'rework' AND state = 'leased' ORDER BY deadline, created_at, id")
        .bind(who.user_id.clone())
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(task_view(db, keyring, who, &id).await?);
    }
    Ok(out)
}

// -- batches -------------------------------------------------------------------------

/// After an annotation is accepted: if every item of its batch has all its
/// annotations accepted, draw the seeded spot-check sample and queue tier 3.
async fn batch_progress(ex: &mut Exec<'_>, project_id: &str, item_id: &str, spec: &Spec) -> Result<(), StoreError> {
    let Some(b) = ex.optional("SELECT b.id, b.state, b.spot_check_seed FROM batches b JOIN items i ON i.batch_id = b.id WHERE i.id = $1", [item_id.into()]).await? else {
        return Ok(());
    };
    advance_batch(ex, project_id, &b, spec).await
}

/// Moves a batch on once all its items have their accepted annotations:
/// draws its spot-check, or (after rework) marks it ready again.
async fn advance_batch(ex: &mut Exec<'_>, project_id: &str, b: &crate::exec::Row, spec: &Spec) -> Result<(), StoreError> {
    let batch_id: String = b.get("id")?;
    let state: String = b.get("state")?;
    let done: bool = batch_done(ex, &batch_id, spec.overlap as i64).await?;
    if !done {
        return Ok(());
    }
    let seeded: Option<i64> = b.get("spot_check_seed")?;
    if state == "annotating" && seeded.is_none() {
        let items: Vec<String> = ex.all("SELECT id FROM items WHERE batch_id = $1 ORDER BY id", [Arg::from(&batch_id)]).await?.iter().map(|r| r.get("id")).collect::<Result<_, _>>()?;
        let seed = random_u63();
        let chosen = qa::spot_check(seed as u64, &items, spec.qa.tier3_spot_check_pct);
        ex.execute(
            "UPDATE batches SET state = 'spot_check', spot_check_seed = $1, spot_check_items = $2 WHERE id = $3",
            [seed.into(), serde_json::to_string(&chosen).map_err(|e| StoreError::Internal(e.to_string()))?.into(), Arg::from(&batch_id)],
        )
        .await?;
        for item in &chosen {
            let anns = ex.all("SELECT id, author_id FROM annotations WHERE item_id = $1 AND gold = 0 ORDER BY id", [Arg::from(item)]).await?;
            for a in &anns {
                let (aid, author): (String, String) = (a.get("id")?, a.get("author_id")?);
                insert_task(ex, project_id, &spec.track_id, item, "review", 3, Some(&author), Some(&aid), spec.deadline, false, "queued", None).await?;
            }
        }
        audit::append_in(
            ex,
            &[audit::event(
                system(),
                None,
                "batch.spot_check",
                "batch",
                &batch_id,
                serde_json::json!({ "project_id": project_id, "seed": seed, "items": chosen, "of": items.len(), "pct": spec.qa.tier3_spot_check_pct }),
            )],
        )
        .await?;
    } else if state == "annotating" {
        // Reworked after its spot-check: back to awaiting approval.
        ex.execute("UPDATE batches SET state = 'awaiting_approval' WHERE id = $1", [Arg::from(&batch_id)]).await?;
        audit::append_in(ex, &[audit::event(system(), None, "batch.ready", "batch", &batch_id, serde_json::json!({ "project_id": project_id }))]).await?;
    }
    Ok(())
}

async fn batch_done(ex: &mut Exec<'_>, batch_id: &str, overlap: i64) -> Result<bool, StoreError> {
    let r = ex
        .one(
            "SELECT COUNT(*) AS items, \
                    CAST(COALESCE(SUM(CASE WHEN (SELECT COUNT(*) FROM annotations a WHERE a.item_id = i.id AND a.gold = 0 AND a.stage = 'accepted') >= $2 THEN 1 ELSE 0 END), 0) AS BIGINT) AS complete \
             FROM items i WHERE i.batch_id = $1",
            [batch_id.into(), overlap.into()],
        )
        .await?;
    let items: i64 = r.get("items")?;
    let complete: i64 = r.get("complete")?;
    Ok(items > 0 && items == complete)
}

/// After a spot-check review: when no tier-3 task of the batch is open and
/// every annotation is accepted, the batch awaits the QA reviewer.
async fn spot_check_progress(tx: &mut Tx, project_id: &str, item_id: &str, spec: &Spec) -> Result<(), StoreError> {
    let b = sqlx::query("SELECT batch_id FROM items WHERE id = $1").bind(item_id.to_string()).fetch_one(&mut **tx).await?;
    let Some(batch_id) = b.try_get::<Option<String>, _>("batch_id")? else {
        return Ok(());
    };
    let open: i64 = sqlx::query("SELECT COUNT(*) AS n FROM tasks t JOIN items i ON i.id = t.item_id WHERE i.batch_id = $1 AND t.kind = 'review' AND t.tier = 3 AND t.state IN ('queued', 'leased')")
        .bind(batch_id.clone())
        .fetch_one(&mut **tx)
        .await?
        .try_get("n")?;
    if open == 0 {
        let next = if batch_done(&mut Exec::from(&mut *tx), &batch_id, spec.overlap as i64).await? { "awaiting_approval" } else { "annotating" };
        sqlx::query("UPDATE batches SET state = $1 WHERE id = $2").bind(next).bind(batch_id.clone()).execute(&mut **tx).await?;
        audit::append(tx, &audit::event(system(), None, "batch.spot_check_done", "batch", &batch_id, serde_json::json!({ "project_id": project_id, "state": next }))).await?;
    }
    Ok(())
}

/// Agreement on one question of a batch.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QuestionAgreement {
    pub question_id: String,
    /// Krippendorff's α (nominal, or ordinal for ordered questions); null when undefined.
    pub alpha: Option<f64>,
    pub alpha_undefined_reason: Option<String>,
    pub percent_agreement: Option<f64>,
    /// What the quality gate uses: α when defined, else percent agreement.
    pub gate_value: Option<f64>,
}

/// Every pair of annotators of each item compared by `measure`, which calls
/// `push(name, gated, value)` for each measure of the pair; each measure's
/// mean over the pairs that define it.
fn pairwise_measures<A>(by_item: &std::collections::BTreeMap<String, Vec<A>>, mut measure: impl FnMut(&str, &A, &A, &mut dyn FnMut(String, bool, Option<f64>))) -> Vec<AgreementMeasure> {
    let mut acc: std::collections::BTreeMap<(String, bool), Vec<f64>> = std::collections::BTreeMap::new();
    let mut push = |m: String, gated: bool, v: Option<f64>| {
        let e = acc.entry((m, gated)).or_default();
        if let Some(v) = v {
            e.push(v);
        }
    };
    for (item, anns) in by_item {
        for i in 0..anns.len() {
            for j in i + 1..anns.len() {
                measure(item, &anns[i], &anns[j], &mut push);
            }
        }
    }
    acc.into_iter()
        .map(|((measure, gated), v)| AgreementMeasure { measure, value: (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64), pairs: v.len(), gated })
        .collect()
}

/// Text agreement of a batch: every pair of annotators of each note compared.
fn text_agreement(by_item: &std::collections::BTreeMap<String, Vec<clinlabel_text::annotation::TextAnnotation>>) -> Vec<AgreementMeasure> {
    pairwise_measures(by_item, |_, a, b, push| {
        let r = clinlabel_text::qa::compare(a, b, None);
        push("spans overlap F1".into(), true, r.overlap.micro.f1.value());
        push("spans exact F1".into(), false, r.exact.micro.f1.value());
        for (label, prf) in &r.overlap.per_label {
            push(format!("{label} overlap F1"), false, prf.f1.value());
        }
        for (label, prf) in &r.exact.per_label {
            push(format!("{label} exact F1"), false, prf.f1.value());
        }
        if let Some(rel) = &r.relations {
            push("relations F1".into(), false, rel.micro.f1.value());
        }
        for (key, x) in &r.attributes {
            push(format!("{key} κ (matched spans)"), false, x.cohen_kappa.value());
            push(format!("{key} agreement (matched spans)"), false, x.percent_agreement.value());
        }
    })
}

/// One agreement measure of a batch (image or text items).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgreementMeasure {
    /// e.g. `bounding_box_2d F1`, `outline mean IoU`, `liver Dice`, `liver HD95 (mm)`.
    pub measure: String,
    /// Mean over annotator pairs; null when no pair defines it.
    pub value: Option<f64>,
    /// Annotator pairs that defined it.
    pub pairs: usize,
    /// Whether the quality gate compares it with the threshold (F1 and Dice do).
    pub gated: bool,
}

/// Image agreement of a batch: every pair of annotators of each item compared.
fn image_agreement(by_item: &std::collections::BTreeMap<String, Vec<clinlabel_domain::imaging::ImageAnnotation>>, spacing: &std::collections::HashMap<String, clinlabel_domain::imaging_qa::Spacing>) -> Vec<AgreementMeasure> {
    pairwise_measures(by_item, |item, a, b, push| {
        let c = clinlabel_domain::imaging_qa::compare(a, b, spacing.get(item).copied());
        for sm in &c.shapes {
            push(format!("{} F1", sm.kind), true, sm.f1);
            push(format!("{} mean IoU", sm.kind), false, sm.mean_iou);
        }
        for mm in &c.masks {
            push(format!("{} Dice", mm.label), true, mm.dice);
            push(format!("{} HD95 ({})", mm.label, mm.unit), false, mm.hausdorff95);
        }
        if let Some(k) = &c.keypoints {
            push(format!("keypoints mean distance ({})", k.unit), false, k.mean_distance);
        }
    })
}

/// A batch as the QA reviewer sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchView {
    pub id: String,
    pub project_id: String,
    pub seq: i64,
    pub state: String,
    pub items: i64,
    pub annotations: i64,
    pub accepted: i64,
    /// Share of annotations reworked at least once.
    pub rework_rate: f64,
    /// Mean gold accuracy of the taskers who annotated this batch, in this project.
    pub gold_accuracy: Option<f64>,
    pub agreement: Vec<QuestionAgreement>,
    /// Image items: agreement on shapes, label maps and keypoints between the
    /// annotators of each item (mean over pairs).
    pub image_agreement: Vec<AgreementMeasure>,
    /// Text items: span F1 (exact and overlap) per label, relation F1, and
    /// κ on assertions and codes of matched spans (mean over annotator pairs).
    pub text_agreement: Vec<AgreementMeasure>,
    pub quality_threshold: f64,
    /// Whether the batch meets the threshold (and may be approved once ready).
    pub meets_threshold: bool,
    pub spot_check_seed: Option<i64>,
    pub spot_check_items: Vec<String>,
    /// Every annotation of the batch, authors under pseudonyms (for returning work).
    pub annotation_list: Vec<BatchAnnotation>,
}

/// One annotation of a batch, as the QA reviewer sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchAnnotation {
    pub id: String,
    pub item_id: String,
    pub author: String,
    pub round: i64,
    pub stage: String,
    pub answers: Answers,
}

/// Builds the batch view: counts, rework rate, gold accuracy and per-question agreement.
pub async fn batch(db: &Db, who: &Principal, batch_id: &str) -> Result<BatchView, StoreError> {
    if !matches!(who.role, Role::QaReviewer | Role::Pm | Role::Admin) {
        return Err(ErrorCode::Forbidden.into());
    }
    let b = sqlx::query("SELECT id, project_id, seq, state, spot_check_seed, spot_check_items FROM batches WHERE id = $1")
        .bind(batch_id.to_string())
        .fetch_optional(&db.pool)
        .await?
        .ok_or(ErrorCode::NotFound)?;
    let project_id: String = b.try_get("project_id")?;
    let mut tx = db.begin_write().await?;
    let (spec, _, _) = project_spec(&mut tx, &project_id).await?;
    tx.commit().await?;
    let anns = sqlx::query("SELECT a.id, a.item_id, a.author_id, a.round, a.stage, a.body FROM annotations a JOIN items i ON i.id = a.item_id WHERE i.batch_id = $1 AND a.gold = 0 ORDER BY a.item_id, a.id")
        .bind(batch_id.to_string())
        .fetch_all(&db.pool)
        .await?;
    let items: i64 = sqlx::query("SELECT COUNT(*) AS n FROM items WHERE batch_id = $1").bind(batch_id.to_string()).fetch_one(&db.pool).await?.try_get("n")?;
    let mut reworked = 0;
    let mut accepted = 0;
    let mut authors = std::collections::BTreeSet::new();
    let mut rows: Vec<(String, String, Answers)> = Vec::new();
    let mut images: std::collections::BTreeMap<String, Vec<clinlabel_domain::imaging::ImageAnnotation>> = std::collections::BTreeMap::new();
    let mut frame_rows: Vec<(String, String, Answers)> = Vec::new();
    let mut texts: std::collections::BTreeMap<String, Vec<clinlabel_text::annotation::TextAnnotation>> = std::collections::BTreeMap::new();
    let mut annotation_list = Vec::with_capacity(anns.len());
    for r in &anns {
        let round: i64 = r.try_get("round")?;
        let stage: String = r.try_get("stage")?;
        reworked += (round > 0) as i64;
        accepted += (stage == "accepted") as i64;
        let author: String = r.try_get("author_id")?;
        authors.insert(author.clone());
        let body: AnnotationBody = serde_json::from_str(&r.try_get::<String, _>("body")?).map_err(|e| StoreError::Internal(e.to_string()))?;
        annotation_list.push(BatchAnnotation {
            id: r.try_get("id")?,
            item_id: r.try_get("item_id")?,
            author: pseudonym(&project_id, &author),
            round,
            stage: stage.clone(),
            answers: body.answers.clone(),
        });
        let item_id: String = r.try_get("item_id")?;
        if let Some(img) = body.image {
            for (f, a) in &img.frame_answers {
                frame_rows.push((format!("{item_id}#{f}"), author.clone(), a.clone()));
            }
            images.entry(item_id.clone()).or_default().push(img);
        }
        if let Some(t) = body.text {
            texts.entry(item_id.clone()).or_default().push(t);
        }
        rows.push((item_id, author, body.answers));
    }
    // Units in order, as question_agreement expects them grouped.
    frame_rows.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let image_agreement = if images.is_empty() {
        Vec::new()
    } else {
        let metas = sqlx::query("SELECT id, meta FROM items WHERE batch_id = $1").bind(batch_id.to_string()).fetch_all(&db.pool).await?;
        let mut spacing = std::collections::HashMap::new();
        for m in metas {
            let meta: serde_json::Value = serde_json::from_str(&m.try_get::<String, _>("meta")?).unwrap_or_default();
            if let Some(sp) = item_spacing(&meta) {
                spacing.insert(m.try_get::<String, _>("id")?, sp);
            }
        }
        image_agreement(&images, &spacing)
    };
    let mut agreement = Vec::new();
    for q in &spec.schema.questions {
        // Image-level questions are answered per frame: each frame is a unit.
        let source = if q.level == clinlabel_domain::project::QuestionLevel::Image && spec.modality == clinlabel_domain::project::Modality::Image { &frame_rows } else { &rows };
        let records: Vec<(String, String, String)> = source
            .iter()
            .filter_map(|(item, author, answers)| {
                answers.get(&q.id).map(|chosen| {
                    let mut c = chosen.clone();
                    c.sort();
                    (item.clone(), author.clone(), c.join("+"))
                })
            })
            .collect();
        agreement.push(question_agreement(&q.id, q.ordinal, &q.options.iter().map(|o| o.id.clone()).collect::<Vec<_>>(), &records));
    }
    let gold_accuracy = if authors.is_empty() {
        None
    } else {
        let mut scores = Vec::new();
        for a in &authors {
            let rows = sqlx::query("SELECT score FROM gold_results WHERE project_id = $1 AND user_id = $2").bind(project_id.clone()).bind(a.clone()).fetch_all(&db.pool).await?;
            for r in rows {
                scores.push(r.try_get::<f64, _>("score")?);
            }
        }
        (!scores.is_empty()).then(|| scores.iter().sum::<f64>() / scores.len() as f64)
    };
    let threshold = spec.qa.quality_threshold;
    let text_agreement = text_agreement(&texts);
    let meets = agreement.iter().all(|q| q.gate_value.is_none_or(|v| v >= threshold))
        && image_agreement.iter().chain(&text_agreement).filter(|m| m.gated).all(|m| m.value.is_none_or(|v| v >= threshold))
        && gold_accuracy.is_none_or(|g| g >= threshold);
    let annotations = rows.len() as i64;
    let chosen: Option<String> = b.try_get("spot_check_items")?;
    Ok(BatchView {
        id: b.try_get("id")?,
        project_id,
        seq: b.try_get("seq")?,
        state: b.try_get("state")?,
        items,
        annotations,
        accepted,
        rework_rate: if annotations > 0 { reworked as f64 / annotations as f64 } else { 0.0 },
        gold_accuracy,
        agreement,
        image_agreement,
        text_agreement,
        quality_threshold: threshold,
        meets_threshold: meets,
        spot_check_seed: b.try_get("spot_check_seed")?,
        spot_check_items: chosen.and_then(|c| serde_json::from_str(&c).ok()).unwrap_or_default(),
        annotation_list,
    })
}

fn question_agreement(question_id: &str, ordinal: bool, options: &[String], records: &[(String, String, String)]) -> QuestionAgreement {
    use clinlabel_agreement::coefficient::Coefficient;
    use clinlabel_agreement::table::Table;
    let mut units: Vec<&str> = records.iter().map(|r| r.0.as_str()).collect();
    units.dedup();
    let mut coders: Vec<&str> = records.iter().map(|r| r.1.as_str()).collect();
    coders.sort();
    coders.dedup();
    // Values: option order for single answers (ordinal questions keep their order);
    // combinations of multiple answers follow after.
    let mut values: Vec<String> = options.to_vec();
    for r in records {
        if !values.contains(&r.2) {
            values.push(r.2.clone());
        }
    }
    let mut rows: Vec<Vec<Option<String>>> = vec![vec![None; coders.len()]; units.len()];
    for (item, coder, value) in records {
        let u = units.iter().position(|x| x == item).expect("unit listed");
        let c = coders.iter().position(|x| x == coder).expect("coder listed");
        rows[u][c] = Some(value.clone());
    }
    let domain: Vec<&str> = values.iter().map(String::as_str).collect();
    let table = match Table::from_labels_with_domain(&rows, &domain) {
        Ok(t) => t,
        Err(e) => {
            return QuestionAgreement { question_id: question_id.to_string(), alpha: None, alpha_undefined_reason: Some(format!("{e:?}")), percent_agreement: None, gate_value: None };
        }
    };
    let level = if ordinal { clinlabel_agreement::alpha::Level::Ordinal } else { clinlabel_agreement::alpha::Level::Nominal };
    let alpha = clinlabel_agreement::alpha::krippendorff_alpha(&table, level);
    let pa = clinlabel_agreement::kappa::percent_agreement(&table);
    let (alpha_v, reason) = match alpha {
        Coefficient::Defined { value } => (Some(value), None),
        Coefficient::Undefined { reason } => (None, Some(format!("{reason:?}"))),
    };
    let pa_v = match pa {
        Coefficient::Defined { value } => Some(value),
        Coefficient::Undefined { .. } => None,
    };
    QuestionAgreement { question_id: question_id.to_string(), alpha: alpha_v, alpha_undefined_reason: reason, percent_agreement: pa_v, gate_value: alpha_v.or(pa_v) }
}

/// The batches of a project (QA reviewers, PMs, admins).
pub async fn batches(db: &Db, who: &Principal, project_id: &str, state: Option<&str>) -> Result<Vec<BatchView>, StoreError> {
    if !matches!(who.role, Role::QaReviewer | Role::Pm | Role::Admin) {
        return Err(ErrorCode::Forbidden.into());
    }
    let cast = if db.backend() == Backend::Postgres { "::TEXT" } else { "" };
    let ids: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT id FROM batches WHERE project_id = $1 AND ($2{cast} IS NULL OR state = $2) ORDER BY seq")))
        .bind(project_id.to_string())
        .bind(state.map(str::to_string))
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for id in ids {
        out.push(batch(db, who, &id).await?);
    }
    Ok(out)
}

/// Batches across all projects in progress, optionally in one state (the QA
/// reviewer's and PM's queues), oldest project deadline first.
pub async fn batches_in_state(db: &Db, who: &Principal, state: Option<&str>) -> Result<Vec<BatchView>, StoreError> {
    if !matches!(who.role, Role::QaReviewer | Role::Pm | Role::Admin) {
        return Err(ErrorCode::Forbidden.into());
    }
    let cast = if db.backend() == Backend::Postgres { "::TEXT" } else { "" };
    let ids: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT b.id FROM batches b JOIN projects p ON p.id = b.project_id WHERE p.state = 'in_progress' AND ($1{cast} IS NULL OR b.state = $1) \
         ORDER BY p.deadline, b.project_id, b.seq LIMIT 200"
    )))
    .bind(state.map(str::to_string))
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|r| r.try_get("id"))
    .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(batch(db, who, &id).await?);
    }
    Ok(out)
}

/// Feedback on one annotation when a batch is returned.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnedItem {
    pub annotation_id: String,
    pub comments: Vec<Comment>,
}

/// The QA reviewer approves a batch (only at or above the threshold) or
/// returns annotations with feedback for rework.
pub async fn decide_batch(db: &Db, who: &Principal, batch_id: &str, approve: bool, returned: Vec<ReturnedItem>) -> Result<BatchView, StoreError> {
    if who.role != Role::QaReviewer {
        return Err(DomainError::new(ErrorCode::Forbidden).with_message("Batches are approved by a QA reviewer.").into());
    }
    let view = batch(db, who, batch_id).await?;
    if view.state != "awaiting_approval" {
        return Err(DomainError::new(ErrorCode::InvalidTransition).with_message(format!("The batch is {}, not awaiting approval.", view.state.replace('_', " "))).into());
    }
    let mut tx = db.begin_write().await?;
    let (spec, _, _) = project_spec(&mut tx, &view.project_id).await?;
    if approve {
        if !view.meets_threshold {
            return Err(DomainError::new(ErrorCode::QualityBelowThreshold).with_details(serde_json::json!({ "agreement": view.agreement, "gold_accuracy": view.gold_accuracy, "threshold": view.quality_threshold })).into());
        }
        sqlx::query("UPDATE batches SET state = 'approved', decided_by = $1, decided_at = $2 WHERE id = $3").bind(who.user_id.clone()).bind(now_ms()).bind(batch_id.to_string()).execute(&mut *tx).await?;
        audit::append(&mut tx, &audit::event(Some(who), None, "batch.approve", "batch", batch_id, serde_json::json!({ "project_id": view.project_id, "meets_threshold": true }))).await?;
    } else {
        if returned.is_empty() {
            return Err(DomainError::field("returned", "name the annotations to rework, each with feedback").into());
        }
        for (i, r) in returned.iter().enumerate() {
            if r.comments.is_empty() {
                return Err(DomainError::field(&format!("returned[{i}].comments"), "give line-by-line feedback").into());
            }
            let a = sqlx::query("SELECT a.item_id, a.author_id, a.round FROM annotations a JOIN items i ON i.id = a.item_id WHERE a.id = $1 AND i.batch_id = $2 AND a.gold = 0")
                .bind(r.annotation_id.clone())
                .bind(batch_id.to_string())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| DomainError::field(&format!("returned[{i}].annotation_id"), "is not an annotation of this batch"))?;
            let (item, author, round): (String, String, i64) = (a.try_get("item_id")?, a.try_get("author_id")?, a.try_get("round")?);
            sqlx::query("INSERT INTO reviews (id, annotation_id, task_id, tier, round, reviewer_id, decision, comments, overall, created_at) VALUES ($1, $2, $3, 2, $4, $5, 'reject', $6, NULL, $7)")
                .bind(new_id())
                .bind(r.annotation_id.clone())
                .bind(format!("batch-{batch_id}"))
                .bind(round)
                .bind(who.user_id.clone())
                .bind(serde_json::to_string(&r.comments).map_err(|e| StoreError::Internal(e.to_string()))?)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE annotations SET stage = 'rework' WHERE id = $1").bind(r.annotation_id.clone()).execute(&mut *tx).await?;
            route_after(&mut Exec::from(&mut tx), &view.project_id, &spec.track_id, &item, &r.annotation_id, &author, Stage::Rework, &spec).await?;
        }
        sqlx::query("UPDATE batches SET state = 'annotating' WHERE id = $1").bind(batch_id.to_string()).execute(&mut *tx).await?;
        audit::append(&mut tx, &audit::event(Some(who), None, "batch.return", "batch", batch_id, serde_json::json!({ "project_id": view.project_id, "returned": returned.len() }))).await?;
    }
    tx.commit().await?;
    batch(db, who, batch_id).await
}

/// The caller's notifications, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Notification {
    pub id: String,
    pub kind: String,
    pub body: serde_json::Value,
    pub created_at: i64,
    pub read_at: Option<i64>,
}

pub async fn notifications(db: &Db, who: &Principal) -> Result<Vec<Notification>, StoreError> {
    let rows = sqlx::query("SELECT id, kind, body, created_at, read_at FROM notifications WHERE user_id = $1 ORDER BY created_at DESC, id LIMIT 100")
        .bind(who.user_id.clone())
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|r| {
            let body: String = r.try_get("body")?;
            Ok(Notification { id: r.try_get("id")?, kind: r.try_get("kind")?, body: serde_json::from_str(&body).unwrap_or_default(), created_at: r.try_get("created_at")?, read_at: r.try_get("read_at")? })
        })
        .collect()
}

#[cfg(test)]
mod plan_tests {
    use super::*;
    use sqlx::Row;

    /// A routing window walks the queue index in order, from its keyset
    /// position: no table scan, no sort.
    #[tokio::test]
    async fn the_routing_window_walks_the_queue_index() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/plan.db", dir.path().display())).await.unwrap();
        sqlx::query("ANALYZE").execute(db.pool()).await.unwrap();
        for after in [false, true] {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {}", crate::routing::window_sql(Backend::Sqlite, after)))).bind(64i64).bind(r#"["track-a", "track-b"]"#);
        if after {
            q = q.bind(0i64).bind(0i64).bind("t".to_string());
        }
        let plan: Vec<String> = q
            .fetch_all(db.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get::<String, _>(3).unwrap())
            .collect();
        assert!(plan.iter().any(|p| p.starts_with("SEARCH t USING INDEX tasks_queue")), "{plan:?}");
        assert!(!plan.iter().any(|p| p.contains("TEMP B-TREE FOR ORDER BY") || p == "SCAN t"), "{plan:?}");
        }
    }
}
