//! Where a write's statements run, and the SQLite hot connection.
//!
//! Most of the store talks to the database through sqlx: every statement is
//! a message to a connection (on SQLite, to that connection's worker thread)
//! and an answer back. The two writers on the assignment path — the routing
//! dispatcher and the submission writer — run several statements per batch
//! while holding SQLite's one write lock, and on this 2-core machine each
//! hand-off to the worker thread and back cost 100–200 µs (a lease batch had
//! six), more than the statements themselves. So on SQLite they run on the
//! **hot connection**: a sqlx connection of their own whose handle they lock
//! out of its worker ([`sqlx::sqlite::SqliteConnection::lock_handle`]), then
//! drive through rusqlite on their own thread — one hand-off per batch, the
//! statements prepared once and kept.
//!
//! The thread runs the writes waiting for it — typically a lease batch and a
//! submission batch — in **one transaction**, each in a savepoint of its own
//! so a failing one is undone alone. A submission batch, whose answer
//! waits for the disk anyway, waits up to a millisecond for another write
//! to ride with ([`HotConn::run_joining`]). Every transaction writes its dirty
//! pages to the log and pays its fixed costs once; at 2,000 assignments a
//! second, sharing them took next-task latency from p50 1.9–3.4 / p99 8–13 ms
//! to p50 0.7–0.8 / p99 3.5–4.0 ms.
//!
//! The code that builds the statements is the same on both paths: it takes
//! an [`Exec`] and reads [`Row`]s, and only [`Script::run`] differs.
//!
//! invariant: the hot connection's handle is locked out of its sqlx worker
//! for the life of its thread, so only that thread touches it.
//! invariant: each hot transaction is behind the write gate (`Db::write_gate`),
//! which the hot thread takes itself (a caller of [`HotConn::run`] must not
//! hold it): a hot transaction and the group committer never overlap in the process,
//! and another process's writer is waited for without blocking the runtime
//! (`BEGIN IMMEDIATE` is retried after a sleep, never in SQLite's busy handler).

use crate::StoreError;
use crate::db::Backend;
use std::sync::Arc;
use std::time::Duration;

/// A value bound to a [`Script`] parameter.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Int(i64),
    Text(String),
    Real(f64),
    /// SQL NULL where text goes (PostgreSQL types a parameter by its value).
    NullText,
    /// SQL NULL where an integer goes.
    NullInt,
}

impl Arg {
    pub(crate) fn opt_text(v: Option<&str>) -> Arg {
        v.map_or(Arg::NullText, |s| Arg::Text(s.to_string()))
    }

    pub(crate) fn opt_int(v: Option<i64>) -> Arg {
        v.map_or(Arg::NullInt, Arg::Int)
    }
}

impl From<&str> for Arg {
    fn from(v: &str) -> Arg {
        Arg::Text(v.to_string())
    }
}

impl From<String> for Arg {
    fn from(v: String) -> Arg {
        Arg::Text(v)
    }
}

impl From<&String> for Arg {
    fn from(v: &String) -> Arg {
        Arg::Text(v.clone())
    }
}

impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::Int(v)
    }
}

impl From<f64> for Arg {
    fn from(v: f64) -> Arg {
        Arg::Real(v)
    }
}

/// Statements sent together: on the hot connection, run one after the
/// other on this thread; through sqlx on SQLite, one round trip (its driver
/// runs a text of several statements in one call, binding `$n` by number
/// across them); on PostgreSQL one statement at a time, each renumbered to
/// the parameters it uses. The statements share one numbering of
/// parameters. Rows of all statements come back in order; a statement's
/// rows carry a `what` column when the caller must tell them apart.
#[derive(Debug, Default)]
pub(crate) struct Script {
    parts: Vec<String>,
    args: Vec<Arg>,
}

impl Script {
    pub(crate) fn new() -> Script {
        Script::default()
    }

    /// One statement with its parameters (`$1`, `$2`, … in order).
    pub(crate) fn one(sql: impl Into<String>, args: impl IntoIterator<Item = Arg>) -> Script {
        Script { parts: vec![sql.into()], args: args.into_iter().collect() }
    }

    /// Adds a statement (no `$` outside parameters, no `;`).
    pub(crate) fn part(mut self, sql: impl Into<String>) -> Script {
        self.parts.push(sql.into());
        self
    }

    /// Adds the next parameter (`$1`, `$2`, … in the order added).
    pub(crate) fn arg(mut self, a: Arg) -> Script {
        self.args.push(a);
        self
    }

    /// The number the next [`Script::arg`] gets.
    pub(crate) fn next_param(&self) -> usize {
        self.args.len() + 1
    }

    pub(crate) async fn run(self, ex: &mut Exec<'_>) -> Result<Vec<Row>, StoreError> {
        fn bind<'q>(q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>, a: &Arg) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
            match a {
                Arg::Int(v) => q.bind(*v),
                Arg::Text(v) => q.bind(v.clone()),
                Arg::Real(v) => q.bind(*v),
                Arg::NullText => q.bind(None::<String>),
                Arg::NullInt => q.bind(None::<i64>),
            }
        }
        match ex {
            Exec::Direct(conn) => run_direct(conn, &self.parts, &self.args),
            Exec::Pool(conn) => match crate::db::backend_of(conn) {
                Backend::Sqlite => {
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(self.parts.join(";\n")));
                    for a in &self.args {
                        q = bind(q, a);
                    }
                    Ok(q.fetch_all(&mut **conn).await?.into_iter().map(Row::Pool).collect())
                }
                Backend::Postgres => {
                    let mut rows = Vec::new();
                    for part in &self.parts {
                        let (sql, used) = renumber(part);
                        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                        for n in used {
                            let a = self.args.get(n - 1).ok_or_else(|| StoreError::Internal(format!("script parameter ${n} was not given")))?;
                            q = bind(q, a);
                        }
                        rows.extend(q.fetch_all(&mut **conn).await?.into_iter().map(Row::Pool));
                    }
                    Ok(rows)
                }
            },
        }
    }
}

/// Runs statements on the hot connection's handle, here: each prepared
/// once per connection (rusqlite's statement cache), its `$n` bound by name.
fn run_direct(conn: &mut rusqlite::Connection, parts: &[String], args: &[Arg]) -> Result<Vec<Row>, StoreError> {
    let mut out = Vec::new();
    for part in parts {
        let mut stmt = conn.prepare_cached(part).map_err(direct_error)?;
        for i in 1..=stmt.parameter_count() {
            let name = stmt.parameter_name(i).unwrap_or_default();
            let n: usize = name.trim_start_matches('$').parse().map_err(|_| StoreError::Internal(format!("script parameter {name:?} is not $n")))?;
            let a = args.get(n - 1).ok_or_else(|| StoreError::Internal(format!("script parameter ${n} was not given")))?;
            match a {
                Arg::Int(v) => stmt.raw_bind_parameter(i, v),
                Arg::Text(v) => stmt.raw_bind_parameter(i, v),
                Arg::Real(v) => stmt.raw_bind_parameter(i, v),
                Arg::NullText | Arg::NullInt => stmt.raw_bind_parameter(i, rusqlite::types::Null),
            }
            .map_err(direct_error)?;
        }
        let names: Arc<[String]> = stmt.column_names().into_iter().map(str::to_string).collect();
        let mut rows = stmt.raw_query();
        while let Some(r) = rows.next().map_err(direct_error)? {
            let values = (0..names.len()).map(|i| r.get::<_, rusqlite::types::Value>(i)).collect::<Result<Vec<_>, _>>().map_err(direct_error)?;
            out.push(Row::Direct(DirectRow { names: names.clone(), values }));
        }
    }
    Ok(out)
}

fn direct_error(e: rusqlite::Error) -> StoreError {
    StoreError::Internal(format!("sqlite: {e}"))
}

/// Renumbers the `$n` of one statement to `$1…$k` in order of first use and
/// returns the original numbers, in that order.
fn renumber(sql: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(sql.len());
    let mut used: Vec<usize> = Vec::new();
    let mut chars = sql.char_indices().peekable();
    let mut quoted = false;
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
        }
        if c == '$' && !quoted && chars.peek().is_some_and(|(_, d)| d.is_ascii_digit()) {
            let start = i + 1;
            let mut end = start;
            while let Some((j, d)) = chars.peek().copied() {
                if !d.is_ascii_digit() {
                    break;
                }
                end = j + 1;
                chars.next();
            }
            let n: usize = sql[start..end].parse().expect("digits");
            let k = match used.iter().position(|u| *u == n) {
                Some(p) => p + 1,
                None => {
                    used.push(n);
                    used.len()
                }
            };
            out.push_str(&format!("${k}"));
        } else {
            out.push(c);
        }
    }
    (out, used)
}

/// Where statements run: a sqlx connection or transaction (PostgreSQL, and
/// SQLite off the hot path), or the hot connection's locked handle.
pub(crate) enum Exec<'a> {
    Pool(&'a mut sqlx::AnyConnection),
    Direct(&'a mut rusqlite::Connection),
}

impl<'a> From<&'a mut crate::db::Tx> for Exec<'a> {
    fn from(tx: &'a mut crate::db::Tx) -> Exec<'a> {
        Exec::Pool(tx)
    }
}

impl Exec<'_> {
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Exec::Pool(c) => crate::db::backend_of(c),
            Exec::Direct(_) => Backend::Sqlite,
        }
    }

    /// Every row of one statement.
    pub(crate) async fn all(&mut self, sql: impl Into<String>, args: impl IntoIterator<Item = Arg>) -> Result<Vec<Row>, StoreError> {
        Script::one(sql, args).run(self).await
    }

    /// The first row of one statement, if any.
    pub(crate) async fn optional(&mut self, sql: impl Into<String>, args: impl IntoIterator<Item = Arg>) -> Result<Option<Row>, StoreError> {
        Ok(self.all(sql, args).await?.into_iter().next())
    }

    /// The first row of one statement, which must have one.
    pub(crate) async fn one(&mut self, sql: impl Into<String>, args: impl IntoIterator<Item = Arg>) -> Result<Row, StoreError> {
        self.optional(sql, args).await?.ok_or(StoreError::Db(sqlx::Error::RowNotFound))
    }

    /// Runs one statement for its effect.
    pub(crate) async fn execute(&mut self, sql: impl Into<String>, args: impl IntoIterator<Item = Arg>) -> Result<(), StoreError> {
        self.all(sql, args).await.map(drop)
    }
}

/// A row from either path.
pub(crate) enum Row {
    Pool(sqlx::any::AnyRow),
    Direct(DirectRow),
}

pub(crate) struct DirectRow {
    names: Arc<[String]>,
    values: Vec<rusqlite::types::Value>,
}

/// A column type both paths decode.
pub(crate) trait Col: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any> + rusqlite::types::FromSql {}
impl<T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any> + rusqlite::types::FromSql> Col for T {}

impl Row {
    /// The column `name`, decoded.
    pub(crate) fn get<T: Col>(&self, name: &str) -> Result<T, StoreError> {
        match self {
            Row::Pool(r) => Ok(sqlx::Row::try_get(r, name)?),
            Row::Direct(r) => {
                let i = r.names.iter().position(|n| n == name).ok_or_else(|| StoreError::Internal(format!("no column {name}")))?;
                T::column_result((&r.values[i]).into()).map_err(|e| StoreError::Internal(format!("column {name}: {e}")))
            }
        }
    }

    /// Whether the row's `what` column (see [`Script`]) is `what`.
    pub(crate) fn is(&self, what: &str) -> bool {
        self.get::<String>("what").is_ok_and(|w| w == what)
    }
}

/// What the write gate guards besides the right to write: the count of
/// commits made behind it, which paces the checkpoints.
pub(crate) struct Gate {
    commits: u64,
    pub(crate) checkpoints: crate::wal::Checkpoints,
}

/// The write gate (`Db::write_gate`): taken by every writer of the process
/// in turn — the group committer, each hot transaction, review picks, a log
/// restart.
pub(crate) type WriteGate = Arc<tokio::sync::Mutex<Gate>>;

impl Gate {
    pub(crate) fn new(checkpoints: crate::wal::Checkpoints) -> Gate {
        Gate { commits: 0, checkpoints }
    }

    /// Counts a commit made behind the write gate; every
    /// [`crate::wal::CHECKPOINT_EVERY`], a checkpoint starts beside the writers.
    pub(crate) fn committed(&mut self) {
        self.commits += 1;
        if self.commits.is_multiple_of(crate::wal::CHECKPOINT_EVERY) {
            self.checkpoints.start();
        }
    }
}

/// SQLite's hot connection (see the module docs): a thread of its own that
/// runs the writes sent to it, each waiting write in one transaction behind
/// the write gate. Cheap to clone; the thread stops with the last clone.
#[derive(Clone)]
pub(crate) struct HotConn {
    jobs: std::sync::mpsc::Sender<Box<dyn HotJob>>,
    /// The database's write-ahead log, synced after a durable transaction.
    wal: std::path::PathBuf,
}

/// At most this many writes share a hot transaction.
const HOT_JOBS_MAX: usize = 16;

/// How long a write that may wait ([`HotConn::run_joining`]) waits for
/// another to share its transaction.
const JOIN_WAIT: Duration = Duration::from_millis(1);

/// How long a hot transaction waits for another process's writer.
const BUSY_WAIT: Duration = Duration::from_secs(10);

/// A write sent to the hot connection's thread.
trait HotJob: Send {
    /// Whether it waits for a write to share its transaction.
    fn joining(&self) -> bool;
    /// Runs the write's statements in the open transaction; true if they
    /// succeeded.
    fn run(&mut self, runtime: &tokio::runtime::Handle, ex: &mut Exec<'_>) -> bool;
    /// Answers the sender once the transaction ended: the write's result if
    /// it committed, else why it did not.
    fn answer(self: Box<Self>, failure: Option<String>);
}

struct Work<T, F> {
    /// Waits up to [`JOIN_WAIT`] for a write to join.
    joining: bool,
    f: Option<F>,
    out: Option<Result<T, StoreError>>,
    reply: tokio::sync::oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> HotJob for Work<T, F>
where
    T: Send + 'static,
    F: for<'a, 'b> FnOnce(&'a mut Exec<'b>) -> futures::future::BoxFuture<'a, Result<T, StoreError>> + Send + 'static,
{
    fn joining(&self) -> bool {
        self.joining
    }

    fn run(&mut self, runtime: &tokio::runtime::Handle, ex: &mut Exec<'_>) -> bool {
        let Some(f) = self.f.take() else { return false };
        // The statements never wait on anything but this connection, so
        // their future is driven here.
        let out = runtime.block_on(f(ex));
        let ok = out.is_ok();
        self.out = Some(out);
        ok
    }

    fn answer(self: Box<Self>, failure: Option<String>) {
        let r = match (self.out, failure) {
            (Some(Err(e)), _) => Err(e),
            (_, Some(why)) => Err(StoreError::Internal(why)),
            (Some(Ok(v)), None) => Ok(v),
            (None, None) => Err(StoreError::Internal("a hot write was never run".into())),
        };
        let _ = self.reply.send(r);
    }
}

impl HotConn {
    /// Opens the hot connection, with the settings of every SQLite
    /// connection, on a thread of its own.
    pub(crate) async fn open(url: &str, pragmas: &str, gate: WriteGate) -> Result<HotConn, StoreError> {
        use sqlx::{ConnectOptions, Executor};
        use std::str::FromStr;
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).map_err(|e| StoreError::Config(e.to_string()))?;
        let mut conn = options.connect().await?;
        // `NORMAL`: a durable transaction syncs the log itself, after it
        // leaves the write lock (see `HotConn::run`).
        conn.execute(sqlx::AssertSqlSafe(format!("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -262144; {pragmas}"))).await?;
        let (jobs, queue) = std::sync::mpsc::channel::<Box<dyn HotJob>>();
        let (opened, wal) = tokio::sync::oneshot::channel();
        // Futures on the thread (the lock, a transaction's statements) are
        // driven by `block_on` in the runtime's context.
        let runtime = tokio::runtime::Handle::current();
        std::thread::Builder::new()
            .name("sqlite-hot".into())
            .spawn(move || {
                // In the runtime's context: a commit may start a checkpoint task.
                let _context = runtime.enter();
                // Locked out of its sqlx worker for the thread's life.
                let mut handle = match runtime.block_on(conn.lock_handle()) {
                    Ok(h) => h,
                    Err(e) => return drop(opened.send(Err(StoreError::Db(e)))),
                };
                // SAFETY: the handle stays open while `conn` lives, which
                // outlives `direct` (dropped first, below); it is locked out
                // of its worker thread the whole time, so only this thread
                // uses it; `from_handle` never closes it.
                let direct = unsafe { rusqlite::Connection::from_handle(handle.as_raw_handle().as_ptr()) };
                let mut direct = match direct.and_then(|d| d.busy_timeout(Duration::ZERO).map(|()| d)) {
                    Ok(d) => d,
                    Err(e) => return drop(opened.send(Err(direct_error(e)))),
                };
                direct.set_prepared_statement_cache_capacity(64);
                // Plans never depend on bound values (the hot statements name
                // their indexes): a new LIMIT would otherwise prepare the
                // statement again.
                if let Err(e) = direct.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true) {
                    return drop(opened.send(Err(direct_error(e))));
                }
                let wal = direct.path().map(|p| std::path::PathBuf::from(format!("{p}-wal"))).unwrap_or_default();
                if opened.send(Ok(wal)).is_err() {
                    return;
                }
                // The writes waiting when the thread comes to them, and those
                // that arrive while it waits for the gate, share a transaction.
                while let Ok(first) = queue.recv() {
                    let mut batch = vec![first];
                    let more = |batch: &mut Vec<Box<dyn HotJob>>| {
                        while batch.len() < HOT_JOBS_MAX {
                            match queue.try_recv() {
                                Ok(j) => batch.push(j),
                                Err(_) => break,
                            }
                        }
                    };
                    more(&mut batch);
                    // Writes that may wait (submissions, whose answer waits
                    // for the disk anyway) ride with the next one that comes.
                    if batch.len() < HOT_JOBS_MAX && batch.iter().all(|j| j.joining())
                        && let Ok(j) = queue.recv_timeout(JOIN_WAIT)
                    {
                        batch.push(j);
                        more(&mut batch);
                    }
                    let mut writers = runtime.block_on(gate.lock());
                    more(&mut batch);
                    let failure = transaction(&runtime, &mut direct, &mut batch).err();
                    if failure.is_none() {
                        writers.committed();
                    }
                    drop(writers);
                    for job in batch {
                        job.answer(failure.as_ref().map(|e| e.to_string()));
                    }
                }
                drop(direct);
                drop(handle);
            })
            .map_err(|e| StoreError::Internal(format!("the hot connection's thread: {e}")))?;
        let wal = wal.await.map_err(|_| StoreError::Internal("the hot connection's thread stopped".into()))??;
        Ok(HotConn { jobs, wal })
    }

    /// Runs `f` in a write transaction (`BEGIN IMMEDIATE`) on the hot
    /// connection's thread, in a savepoint of its own when other writes
    /// share the transaction, and answers once it committed
    /// (`synchronous = NORMAL`); if `f` fails, its writes are rolled back
    /// and only it fails. A durable write then syncs the log
    /// ([`HotConn::log`]). The caller must not hold the write gate.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'a, 'b> FnOnce(&'a mut Exec<'b>) -> futures::future::BoxFuture<'a, Result<T, StoreError>> + Send + 'static,
    {
        self.send(false, f).await
    }

    /// [`HotConn::run`] for a write that may wait up to a millisecond for
    /// another to share its transaction (and its commit): one whose answer
    /// waits for the disk anyway. At 2,000 assignments a second nearly every
    /// transaction held one write, and a commit costs about 140 µs of the
    /// hot thread.
    pub(crate) async fn run_joining<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'a, 'b> FnOnce(&'a mut Exec<'b>) -> futures::future::BoxFuture<'a, Result<T, StoreError>> + Send + 'static,
    {
        self.send(true, f).await
    }

    async fn send<T, F>(&self, joining: bool, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'a, 'b> FnOnce(&'a mut Exec<'b>) -> futures::future::BoxFuture<'a, Result<T, StoreError>> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.jobs.send(Box::new(Work { joining, f: Some(f), out: None, reply })).map_err(|_| StoreError::Internal("the hot connection's thread stopped".into()))?;
        answer.await.map_err(|_| StoreError::Internal("the hot connection's thread stopped".into()))?
    }

    /// The write-ahead log, to sync before a durable write is answered.
    pub(crate) fn log(&self) -> crate::wal::LogSync {
        crate::wal::LogSync::new(self.wal.clone())
    }
}

/// One transaction on the hot connection's thread, for a batch of writes:
/// each in a savepoint when there are several, so a failing one is undone
/// alone. An error is the transaction's (nothing of it was committed).
fn transaction(runtime: &tokio::runtime::Handle, direct: &mut rusqlite::Connection, batch: &mut [Box<dyn HotJob>]) -> Result<(), StoreError> {
    let waited = std::time::Instant::now();
    loop {
        match direct.prepare_cached("BEGIN IMMEDIATE").and_then(|mut s| s.raw_execute()) {
            Ok(_) => break,
            // Another process writes: wait here, not in SQLite's busy handler.
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::DatabaseBusy && waited.elapsed() < BUSY_WAIT => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(direct_error(e)),
        }
    }
    let statement = |direct: &mut rusqlite::Connection, sql: &str| direct.prepare_cached(sql).and_then(|mut s| s.raw_execute()).map(|_| ()).map_err(direct_error);
    let ran = if let [job] = batch {
        // A write alone needs no savepoint: if it fails, all is rolled back.
        if job.run(runtime, &mut Exec::Direct(direct)) { Ok(()) } else { Err(StoreError::Internal("the write failed".into())) }
    } else {
        batch.iter_mut().try_for_each(|job| {
            statement(direct, "SAVEPOINT hot_write")?;
            if !job.run(runtime, &mut Exec::Direct(direct)) {
                statement(direct, "ROLLBACK TO hot_write")?;
            }
            statement(direct, "RELEASE hot_write")
        })
    };
    let end = if ran.is_ok() { "COMMIT" } else { "ROLLBACK" };
    if let Err(e) = statement(direct, end) {
        let _ = direct.execute_batch("ROLLBACK");
        return Err(e);
    }
    ran
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    async fn temp_db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/x.db", dir.path().display())).await.unwrap();
        sqlx::query("CREATE TABLE t (i BIGINT, s TEXT, r DOUBLE PRECISION, n TEXT)").execute(db.pool()).await.unwrap();
        (dir, db)
    }

    fn insert(s: &str) -> Script {
        Script::one("INSERT INTO t (i, s) VALUES (1, $1)", [Arg::from(s)])
    }

    async fn texts(db: &Db) -> Vec<String> {
        sqlx::query("SELECT s FROM t ORDER BY s").fetch_all(db.pool()).await.unwrap().iter().map(|r| sqlx::Row::get(r, "s")).collect()
    }

    #[test]
    fn script_statements_are_renumbered_for_postgres() {
        assert_eq!(renumber("SELECT $4, $2 FROM t WHERE a = $4 AND b = '$1'"), ("SELECT $1, $2 FROM t WHERE a = $1 AND b = '$1'".to_string(), vec![4, 2]));
        assert_eq!(renumber("SELECT 1"), ("SELECT 1".to_string(), vec![]));
        assert_eq!(renumber("UPDATE t SET a = $12"), ("UPDATE t SET a = $1".to_string(), vec![12]));
    }

    /// A script binds its parameters by number across its statements, and
    /// the hot connection and a pooled one read back the same values.
    #[tokio::test]
    async fn both_paths_bind_by_number_and_decode_alike() {
        let (_dir, db) = temp_db().await;
        let script = || {
            Script::new()
                .part("INSERT INTO t (i, s, r, n) VALUES ($2, $1, $3, $4)")
                .arg(Arg::Text("a".into()))
                .arg(Arg::Int(7))
                .arg(Arg::Real(0.5))
                .arg(Arg::NullText)
                .part("SELECT 'row' AS what, i, s, r, n FROM t WHERE s = $1 AND i = $2")
        };
        let direct = db.hot().unwrap().run(move |ex| Box::pin(async move { script().run(ex).await })).await.unwrap();
        let mut conn = db.pool().acquire().await.unwrap();
        let pooled = script().run(&mut Exec::Pool(&mut conn)).await.unwrap();
        // The second run found both inserted rows.
        assert_eq!((direct.len(), pooled.len()), (1, 2));
        for rows in [&direct, &pooled] {
            let r = rows.last().unwrap();
            assert!(r.is("row"));
            assert_eq!((r.get::<i64>("i").unwrap(), r.get::<String>("s").unwrap(), r.get::<f64>("r").unwrap(), r.get::<Option<String>>("n").unwrap()), (7, "a".to_string(), 0.5, None));
            assert!(r.get::<i64>("missing").is_err());
        }
    }

    /// A hot write that fails leaves nothing behind, and the next one commits.
    #[tokio::test]
    async fn a_failing_hot_write_rolls_back_alone() {
        let (_dir, db) = temp_db().await;
        let failed = db
            .hot()
            .unwrap()
            .run(|ex| {
                Box::pin(async move {
                    insert("lost").run(ex).await?;
                    Err::<(), _>(StoreError::Internal("refused".into()))
                })
            })
            .await;
        assert!(matches!(failed, Err(StoreError::Internal(ref m)) if m == "refused"), "{failed:?}");
        db.hot().unwrap().run(|ex| Box::pin(async move { insert("kept").run(ex).await })).await.unwrap();
        assert_eq!(texts(&db).await, ["kept"]);
    }

    /// Writes that wait together share one transaction, each in a savepoint:
    /// the failing one is undone alone, the others commit.
    #[tokio::test]
    async fn waiting_hot_writes_share_a_commit_and_fail_alone() {
        let (_dir, db) = temp_db().await;
        let hot = db.hot().unwrap().clone();
        let gate = db.write_gate().unwrap().clone().lock_owned().await;
        let commits = gate.commits;
        let write = |s: &'static str| {
            let hot = hot.clone();
            async move {
                hot.run(move |ex| {
                    Box::pin(async move {
                        insert(s).run(ex).await?;
                        if s == "lost" { Err(StoreError::Internal("refused".into())) } else { Ok(s) }
                    })
                })
                .await
            }
        };
        // All three are sent (on their first poll) while the gate is held;
        // then it is let go.
        let (answers, ()) = tokio::join!(futures::future::join_all([write("a"), write("lost"), write("b")]), async move {
            tokio::task::yield_now().await;
            drop(gate);
        });
        assert_eq!(answers[0].as_ref().unwrap(), &"a");
        assert!(matches!(answers[1], Err(StoreError::Internal(ref m)) if m == "refused"), "{:?}", answers[1]);
        assert_eq!(answers[2].as_ref().unwrap(), &"b");
        assert_eq!(texts(&db).await, ["a", "b"]);
        assert_eq!(db.write_gate().unwrap().lock().await.commits, commits + 1, "one commit for the three writes");
    }

    /// Enough hot commits start a checkpoint (a task, spawned from the hot
    /// thread), and the thread goes on writing.
    #[tokio::test]
    async fn hot_commits_start_checkpoints() {
        let (_dir, db) = temp_db().await;
        for n in 0..crate::wal::CHECKPOINT_EVERY + 1 {
            let s = format!("w{n}");
            db.hot().unwrap().run(move |ex| Box::pin(async move { insert(&s).run(ex).await })).await.unwrap();
        }
        assert_eq!(texts(&db).await.len() as u64, crate::wal::CHECKPOINT_EVERY + 1);
    }

    /// A write that may wait for company commits alone when none comes.
    #[tokio::test]
    async fn a_joining_write_alone_commits() {
        let (_dir, db) = temp_db().await;
        let commits = db.write_gate().unwrap().lock().await.commits;
        db.hot().unwrap().run_joining(|ex| Box::pin(async move { insert("alone").run(ex).await })).await.unwrap();
        assert_eq!(texts(&db).await, ["alone"]);
        assert_eq!(db.write_gate().unwrap().lock().await.commits, commits + 1);
    }

    /// While another connection holds the write lock, a hot write waits
    /// (asleep, not failing) and commits once the lock is free.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hot_write_waits_for_another_writer() {
        let (_dir, db) = temp_db().await;
        let mut other = db.pool().acquire().await.unwrap();
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *other).await.unwrap();
        sqlx::query("INSERT INTO t (i, s) VALUES (1, 'other')").execute(&mut *other).await.unwrap();
        let db2 = db.clone();
        let mut hot = tokio::spawn(async move { db2.hot().unwrap().run(|ex| Box::pin(async move { insert("hot").run(ex).await })).await });
        assert!(tokio::time::timeout(Duration::from_millis(200), &mut hot).await.is_err(), "the hot write went ahead of a held lock");
        sqlx::query("COMMIT").execute(&mut *other).await.unwrap();
        hot.await.unwrap().unwrap();
        assert_eq!(texts(&db).await, ["hot", "other"]);
    }
}
