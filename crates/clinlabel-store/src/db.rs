//! Connection, migrations and the transaction helpers shared by every repository.

use crate::StoreError;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::str::FromStr;
use std::time::Duration;

/// Which SQL dialect is behind the pool. Chosen by the URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// A transaction on either backend.
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// The database: a pool over SQLite or PostgreSQL, migrated on connect.
/// A write run by the group committer: it gets the shared transaction and
/// returns its result, boxed, to be handed back after the commit.
type Job = Box<dyn for<'a> FnOnce(&'a mut Tx) -> futures::future::BoxFuture<'a, Result<Box<dyn std::any::Any + Send>, StoreError>> + Send>;

struct Pending {
    job: Job,
    done: tokio::sync::oneshot::Sender<Result<Box<dyn std::any::Any + Send>, StoreError>>,
}

/// SQLite settings for speed that do not touch durability, on every
/// connection: savepoint journals and temporary tables in memory (the group
/// committer runs each write in a savepoint), and reads through a shared
/// memory map of up to 2 GiB (SQLite's largest) instead of copies into each
/// connection's cache: as the database outgrew 256 MiB, the hot connection
/// read the rest through system calls and its p99 crept from 4.7 to 12 ms
/// over three runs; mapped whole, it stayed at 6.3-6.4 ms.
/// No commit checkpoints: checkpoints run beside the writers ([`crate::wal`]).
const SQLITE_TUNING: &str = "PRAGMA temp_store = MEMORY; PRAGMA mmap_size = 2147418112; PRAGMA wal_autocheckpoint = 0;";

/// At most this many writes share one commit.
const GROUP_COMMIT_MAX: usize = 32;

#[derive(Clone)]
pub struct Db {
    pub(crate) pool: AnyPool,
    /// SQLite only: the group committer's queue (see [`Db::write`]).
    group: Option<tokio::sync::mpsc::UnboundedSender<Pending>>,
    /// SQLite only: taken by every writer of the process in turn — the group
    /// committer, each transaction of the hot connection, review picks — so
    /// they queue fairly in the process instead of in SQLite's busy handler,
    /// which sleeps and polls (tens of milliseconds under contention).
    write_gate: Option<crate::exec::WriteGate>,
    /// SQLite only: the hot connection (`crate::exec::HotConn`), on which
    /// the routing dispatcher and the submission writer run their batches.
    hot: Option<crate::exec::HotConn>,
    /// Connections of the serialised writers, apart from the request
    /// handlers' pool so they never queue behind reads: on SQLite, with
    /// `synchronous = NORMAL`, for review picks (see [`Db::begin_lease`]);
    /// on PostgreSQL for leases and [`Db::write`] (the routing dispatcher
    /// and the submission writer).
    lease_pool: Option<AnyPool>,
    /// The annotate routing dispatcher (`crate::routing`).
    routing: Option<crate::batcher::Batcher<String, crate::routing::Routed>>,
    /// What never changes about recently leased tasks (`crate::tasks::TaskFacts`).
    facts: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, crate::tasks::TaskFacts>>>,
    /// The submission writer (`crate::tasks::submit`).
    submits: Option<crate::batcher::Batcher<crate::tasks::Prepared, crate::tasks::Submitted>>,
    backend: Backend,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("backend", &self.backend).finish_non_exhaustive()
    }
}

/// Removes the password from a database URL so it can be shown in errors.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}://{}:***@{}", &url[..s], user, &url[at + 1..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Db {
    /// Connects and runs the migrations of the URL's backend.
    ///
    /// SQLite: WAL journal, `synchronous=FULL` (an acknowledged write survives
    /// a power cut), a 10 s busy timeout and foreign keys on, on every connection.
    pub async fn connect(url: &str) -> Result<Db, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url).ok_or_else(|| {
            StoreError::Config(format!(
                "unsupported database URL scheme in {:?}: use sqlite://PATH or postgres://…",
                redact_url(url)
            ))
        })?;
        let mut url = url.to_string();
        if backend == Backend::Sqlite && !url.contains("mode=") {
            url.push_str(if url.contains('?') { "&mode=rwc" } else { "?mode=rwc" });
        }
        let options = AnyConnectOptions::from_str(&url).map_err(|e| StoreError::Config(e.to_string()))?;
        let lease_pool = match backend {
            Backend::Sqlite => Some(
                AnyPoolOptions::new()
                    .max_connections(2)
                    .test_before_acquire(false)
                    .acquire_timeout(Duration::from_secs(15))
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            conn.execute(sqlx::AssertSqlSafe(format!("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; {SQLITE_TUNING}"))).await?;
                            Ok(())
                        })
                    })
                    .connect_lazy_with(options.clone()),
            ),
            Backend::Postgres => Some(AnyPoolOptions::new().max_connections(4).acquire_timeout(Duration::from_secs(15)).connect_lazy_with(options.clone())),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            // A SQLite connection is a file handle that cannot go stale: no
            // ping (a round trip to its worker thread) before each use.
            .test_before_acquire(backend == Backend::Postgres)
            .acquire_timeout(Duration::from_secs(15))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute(sqlx::AssertSqlSafe(format!(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; {SQLITE_TUNING}"
                        )))
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let (write_gate, hot) = match backend {
            Backend::Sqlite => {
                let checkpoints = crate::wal::Checkpoints::new(pool.clone());
                let gate = std::sync::Arc::new(tokio::sync::Mutex::new(crate::exec::Gate::new(checkpoints.clone())));
                checkpoints.watch(std::sync::Arc::downgrade(&gate));
                let hot = crate::exec::HotConn::open(&url, SQLITE_TUNING, gate.clone()).await?;
                (Some(gate), Some(hot))
            }
            Backend::Postgres => (None, None),
        };
        let group = write_gate.clone().map(|gate| {
            let (send, recv) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(group_committer(pool.clone(), recv, gate));
            send
        });
        let mut db = Db { pool, lease_pool, group, write_gate, hot, routing: None, facts: Default::default(), submits: None, backend };
        db.migrate().await?;
        // The batchers hold a handle without batchers, so they stop when
        // the last clone of this one is dropped.
        db.routing = Some(crate::routing::dispatcher(db.clone()));
        db.submits = Some(crate::tasks::submit_writer(db.clone()));
        Ok(db)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        migrator.run(&self.pool).await.map_err(|e| StoreError::Migration(e.to_string()))
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// SQLite: the hot connection.
    pub(crate) fn hot(&self) -> Option<&crate::exec::HotConn> {
        self.hot.as_ref()
    }

    #[cfg(test)]
    pub(crate) fn write_gate(&self) -> Option<&crate::exec::WriteGate> {
        self.write_gate.as_ref()
    }

    pub(crate) fn routing(&self) -> Option<&crate::batcher::Batcher<String, crate::routing::Routed>> {
        self.routing.as_ref()
    }

    /// At most this many tasks' facts are kept; past it, the map starts afresh.
    const FACTS_MAX: usize = 100_000;

    pub(crate) fn remember_task(&self, task_id: &str, facts: crate::tasks::TaskFacts) {
        let mut m = self.facts.lock().expect("task facts");
        if m.len() >= Self::FACTS_MAX {
            m.clear();
        }
        m.insert(task_id.to_string(), facts);
    }

    pub(crate) fn task_facts(&self, task_id: &str) -> Option<crate::tasks::TaskFacts> {
        self.facts.lock().expect("task facts").get(task_id).cloned()
    }

    pub(crate) fn submits(&self) -> Option<&crate::batcher::Batcher<crate::tasks::Prepared, crate::tasks::Submitted>> {
        self.submits.as_ref()
    }

    /// The raw pool, for tests that tamper with rows the API can never change.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins a transaction that will write. On SQLite it takes the write lock
    /// up front (`BEGIN IMMEDIATE`), so a read-then-write transaction waits for
    /// the lock instead of failing with `SQLITE_BUSY` when it first writes.
    pub async fn begin_write(&self) -> Result<Tx, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Runs `f` in a durable write transaction and returns its result once
    /// committed. On SQLite, concurrent calls share one transaction and one
    /// fsync (group commit): each runs inside its own savepoint, so one
    /// failing rolls back only itself, and nobody hears "done" before the
    /// commit is on disk. On PostgreSQL, whose commits already group, it is a
    /// plain transaction.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut Tx) -> futures::future::BoxFuture<'a, Result<T, StoreError>> + Send + 'static,
    {
        if let Some(group) = &self.group {
            let (done, result) = tokio::sync::oneshot::channel();
            let job: Job = Box::new(move |tx| Box::pin(async move { f(tx).await.map(|v| Box::new(v) as Box<dyn std::any::Any + Send>) }));
            if group.send(Pending { job, done }).is_ok() {
                return match result.await {
                    Ok(r) => r.map(|b| *b.downcast::<T>().expect("the job's own type")),
                    Err(_) => Err(StoreError::Internal("the group committer stopped".into())),
                };
            }
            return Err(StoreError::Internal("the group committer stopped".into()));
        }
        let mut tx = match (self.backend, &self.lease_pool) {
            (Backend::Postgres, Some(p)) => p.begin().await?,
            _ => self.begin_write().await?,
        };
        let v = f(&mut tx).await?;
        tx.commit().await?;
        Ok(v)
    }

    /// Begins a transaction that only hands out a lease (an assignment). It
    /// commits without waiting for the disk — SQLite `synchronous = NORMAL`,
    /// PostgreSQL `synchronous_commit = off` — because losing it to a power
    /// cut only returns the task to the queue; every later durable commit
    /// flushes it anyway, so the audit chain never has a hole. Annotations,
    /// reviews and all other writes use [`Db::begin_write`].
    pub async fn begin_lease(&self) -> Result<LeaseTx, StoreError> {
        Ok(match (&self.lease_pool, &self.write_gate) {
            (Some(pool), Some(gate)) => {
                let gate = gate.clone().lock_owned().await;
                LeaseTx { tx: pool.begin_with("BEGIN IMMEDIATE").await?, _gate: Some(gate) }
            }
            (pool, _) => {
                let mut tx = pool.as_ref().unwrap_or(&self.pool).begin().await?;
                tx.execute("SET LOCAL synchronous_commit = off").await?;
                LeaseTx { tx, _gate: None }
            }
        })
    }

    pub async fn close(&self) {
        if let Some(p) = &self.lease_pool {
            p.close().await;
        }
        self.pool.close().await;
    }
}

/// A lease transaction; on SQLite it holds the write gate until it ends.
pub struct LeaseTx {
    tx: Tx,
    _gate: Option<tokio::sync::OwnedMutexGuard<crate::exec::Gate>>,
}

impl LeaseTx {
    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }
}

impl std::ops::Deref for LeaseTx {
    type Target = Tx;
    fn deref(&self) -> &Tx {
        &self.tx
    }
}

impl std::ops::DerefMut for LeaseTx {
    fn deref_mut(&mut self) -> &mut Tx {
        &mut self.tx
    }
}

/// The SQLite group committer: takes the waiting writes (up to
/// [`GROUP_COMMIT_MAX`]), runs each in a savepoint of one `BEGIN IMMEDIATE`
/// transaction, commits once, then answers them all.
async fn group_committer(pool: AnyPool, mut queue: tokio::sync::mpsc::UnboundedReceiver<Pending>, gate: crate::exec::WriteGate) {
    while let Some(first) = queue.recv().await {
        let mut gate = gate.lock().await;
        let mut batch = vec![first];
        while batch.len() < GROUP_COMMIT_MAX {
            match queue.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let mut tx = match pool.begin_with("BEGIN IMMEDIATE").await {
            Ok(tx) => tx,
            Err(e) => {
                for p in batch {
                    let _ = p.done.send(Err(StoreError::Internal(format!("begin: {e}"))));
                }
                continue;
            }
        };
        let mut results = Vec::with_capacity(batch.len());
        let mut senders = Vec::with_capacity(batch.len());
        // A write alone needs no savepoint: if it fails, the transaction is rolled back.
        if batch.len() == 1 {
            let p = batch.pop().expect("one write");
            let r = (p.job)(&mut tx).await;
            let r = match r {
                Ok(v) => tx.commit().await.map(|()| v).map_err(|e| StoreError::Internal(format!("commit: {e}"))),
                Err(e) => {
                    let _ = tx.rollback().await;
                    Err(e)
                }
            };
            let ok = r.is_ok();
            let _ = p.done.send(r);
            if ok {
                gate.committed();
            }
            continue;
        }
        for p in batch {
            let r = match sqlx::query("SAVEPOINT group_write").execute(&mut *tx).await {
                Err(e) => Err(StoreError::Db(e)),
                Ok(_) => {
                    let r = (p.job)(&mut tx).await;
                    let end = if r.is_ok() { "RELEASE group_write" } else { "ROLLBACK TO group_write" };
                    match sqlx::query(end).execute(&mut *tx).await {
                        Ok(_) if r.is_err() => sqlx::query("RELEASE group_write").execute(&mut *tx).await.map(|_| r).unwrap_or_else(|e| Err(StoreError::Db(e))),
                        Ok(_) => r,
                        Err(e) => Err(StoreError::Db(e)),
                    }
                }
            };
            results.push(r);
            senders.push(p.done);
        }
        match tx.commit().await {
            Ok(()) => {
                for (done, r) in senders.into_iter().zip(results) {
                    let _ = done.send(r);
                }
                gate.committed();
            }
            Err(e) => {
                for done in senders {
                    let _ = done.send(Err(StoreError::Internal(format!("commit: {e}"))));
                }
            }
        }
    }
}

/// Bulk statements take their rows as one JSON array parameter, so one
/// prepared statement serves any number of rows (SQLite binds each
/// parameter by name in time linear in their count, and caches a statement
/// per distinct text). Only the table function differs per backend; both
/// read an object's fields with `value ->> 'field'` (cast where a column
/// is not text).
impl Backend {
    /// The rows of the JSON array in parameter `$n`, as a table with one
    /// column `value` (an element).
    pub(crate) fn json_rows(self, n: usize) -> String {
        match self {
            // As JSONB, each `->>` reads the element without parsing it again.
            Backend::Sqlite => format!("jsonb_each(jsonb(${n}))"),
            Backend::Postgres => format!("json_array_elements(${n}::json)"),
        }
    }

    /// ` INDEXED BY <index>` on SQLite, nothing on PostgreSQL. SQLite's
    /// planner, without statistics (the product never runs ANALYZE there),
    /// may walk an index on `state` through a million queued tasks to find
    /// the few rows named by id or person; the hot statements name their
    /// index. (`sqlite_autoindex_tasks_1` is the primary key's.)
    pub(crate) fn index_hint(self, index: &str) -> String {
        match self {
            Backend::Sqlite => format!(" INDEXED BY {index}"),
            Backend::Postgres => String::new(),
        }
    }

    /// `IN` the JSON array of strings in `$n`: the tail of a predicate
    /// (`id {in_texts}`). On PostgreSQL `= ANY(ARRAY(…))`, which is always
    /// an index condition: as `IN (SELECT …)`, a semi-join, the planner
    /// could choose to walk a whole index and filter it (seen: every
    /// `tasks_one_annotation_per_person` entry on each lease, 20 ms at
    /// 12,000 assignments, growing with every one).
    pub(crate) fn in_texts(self, n: usize) -> String {
        match self {
            Backend::Sqlite => format!("IN (SELECT value FROM json_each(${n}))"),
            Backend::Postgres => format!("= ANY(ARRAY(SELECT json_array_elements_text(${n}::json)))"),
        }
    }
}

/// The backend of an open connection or transaction.
pub(crate) fn backend_of(conn: &sqlx::AnyConnection) -> Backend {
    if conn.backend_name() == "PostgreSQL" { Backend::Postgres } else { Backend::Sqlite }
}

/// A JSON array of strings, for [`Backend::in_texts`].
pub(crate) fn json_list<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    serde_json::Value::Array(items.into_iter().map(|s| serde_json::Value::String(s.clone())).collect()).to_string()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `n` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the operating system's random source is available");
    b
}

/// A new random identifier: 128 bits as 32 lower-case hex digits. Random, not
/// time-ordered, so an id says nothing about when or why it was made.
pub fn new_id() -> String {
    hex::encode(random_bytes::<16>())
}

/// A new random token for sessions, API tokens and setup links (256 bits, URL-safe).
pub fn new_token() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// SHA-256 of a token, hex: what the database stores instead of the token.
pub fn token_hash(token: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(redact_url("postgres://app:s3cret@db:5432/x"), "postgres://app:***@db:5432/x");
        assert_eq!(redact_url("sqlite:///tmp/a.db"), "sqlite:///tmp/a.db");
        assert_eq!(Backend::from_url("mysql://x"), None);
    }

    #[test]
    fn ids_are_random_and_uniform() {
        let a = new_id();
        assert_eq!(a.len(), 32);
        assert_ne!(a, new_id());
        assert_eq!(token_hash("x").len(), 64);
    }
}

#[cfg(test)]
mod pragma_tests {
    use super::*;
    use sqlx::Row;

    #[tokio::test]
    async fn sqlite_connections_get_every_pragma() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/p.db", dir.path().display())).await.unwrap();
        for (pragma, want) in
            [("journal_mode", "wal"), ("synchronous", "2"), ("busy_timeout", "10000"), ("foreign_keys", "1"), ("temp_store", "2"), ("mmap_size", "2147418112"), ("wal_autocheckpoint", "0")]
        {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA {pragma}"))).fetch_one(db.pool()).await.unwrap();
            let v: String = row.try_get::<String, _>(0).or_else(|_| row.try_get::<i64, _>(0).map(|i| i.to_string())).unwrap();
            assert_eq!(v, want, "PRAGMA {pragma}");
        }
    }
}

#[cfg(test)]
mod group_commit_tests {
    use super::*;
    use sqlx::Row;

    #[tokio::test]
    async fn a_failing_write_rolls_back_alone_and_the_rest_commit() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/g.db", dir.path().display())).await.unwrap();
        sqlx::query("CREATE TABLE g (n BIGINT PRIMARY KEY)").execute(db.pool()).await.unwrap();
        let mut handles = Vec::new();
        for n in 0..64i64 {
            let db = db.clone();
            handles.push(tokio::spawn(async move {
                db.write(move |tx| {
                    Box::pin(async move {
                        sqlx::query("INSERT INTO g (n) VALUES ($1)").bind(n).execute(&mut **tx).await?;
                        if n % 3 == 0 {
                            // Fails after writing: its insert must not survive.
                            return Err(StoreError::Internal(format!("refused {n}")));
                        }
                        Ok(n * 10)
                    })
                })
                .await
            }));
        }
        for (n, h) in handles.into_iter().enumerate() {
            let r = h.await.unwrap();
            if n % 3 == 0 {
                assert!(matches!(r, Err(StoreError::Internal(ref m)) if m == &format!("refused {n}")), "{r:?}");
            } else {
                assert_eq!(r.unwrap(), n as i64 * 10);
            }
        }
        let rows: Vec<i64> = sqlx::query("SELECT n FROM g ORDER BY n").fetch_all(db.pool()).await.unwrap().iter().map(|r| r.try_get("n").unwrap()).collect();
        assert_eq!(rows, (0..64).filter(|n| n % 3 != 0).collect::<Vec<i64>>());
    }
}
