//! SQLite's write-ahead log: when it reaches the disk, when it is copied
//! back into the database, and when it starts again from its beginning.
//!
//! **Syncs.** The hot connection ([`crate::exec::HotConn`]) commits with
//! `synchronous = NORMAL`: a commit is written to the log but not synced.
//! A durable write (a submission) then syncs the log itself ([`LogSync`])
//! after it has left the write gate, so the next writer does not wait for
//! the disk, which `synchronous = FULL` would make it do inside the lock.
//! Nobody hears "done" before the sync.
//!
//! **Checkpoints.** No connection checkpoints when it commits
//! (`wal_autocheckpoint = 0` everywhere): done inline, a checkpoint copies
//! the log's new pages into the database and syncs both, and on this
//! machine a sync costs about 35 µs per scattered page (7–9 ms for 200),
//! which SQLite's automatic checkpoint put on a writer's path every few
//! hundred milliseconds under load (commits of 5–13 ms). [`Checkpoints`]
//! copies them beside the writers instead — a `PASSIVE` checkpoint on a
//! pooled connection after every [`CHECKPOINT_EVERY`] commits behind the
//! write gate and once every [`TICK`].
//!
//! **Restarts.** The log only starts again from its beginning when a write
//! begins while every page of it has been copied and no reader still reads
//! it. Under a steady load the copy never quite catches up, so the log
//! would grow without end. When a checkpoint finds the log copied and at
//! least [`RESTART_AT`] frames long, it copies again beside the writers
//! until one copy adds little, then takes the write gate and copies the
//! rest; the next write restarts the log. That pauses the writers once per
//! [`RESTART_AT`] frames (512 MiB of log; every 2–3 s at 2,000 assignments
//! a second), measured at 1–55 ms — longer as the database grows, since the
//! sync writes pages scattered across it.
//!
//! invariant: the log is synced before a durable write is answered, and a
//! checkpoint syncs the log before and the database after it copies, so a
//! restarted log never held the only copy of an answered commit.

use crate::StoreError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

/// Commits behind the write gate between two checkpoints.
pub(crate) const CHECKPOINT_EVERY: u64 = 64;

/// A checkpoint runs at least this often, so a quiet database's log is
/// copied too (writes outside the gate are not counted).
pub(crate) const TICK: Duration = Duration::from_secs(1);

/// Frames (pages) of log after which it is made to start again.
pub(crate) const RESTART_AT: i64 = 131_072;

/// Before a restart, copies beside the writers repeat (at most
/// [`MAX_PASSES`] times) until one adds at most this many frames.
const SHORT_TAIL: i64 = 64;
const MAX_PASSES: usize = 32;

/// The write gate, as the checkpointer holds it: weakly, so it stops when
/// the database handle is dropped.
type Gate = Weak<tokio::sync::Mutex<crate::exec::Gate>>;

/// A database's checkpointer (see the module docs). Cheap to clone.
#[derive(Clone)]
pub(crate) struct Checkpoints {
    pool: sqlx::AnyPool,
    running: Arc<AtomicBool>,
    gate: Arc<OnceLock<Gate>>,
    /// [`RESTART_AT`], smaller in tests.
    restart_at: i64,
}

impl Checkpoints {
    pub(crate) fn new(pool: sqlx::AnyPool) -> Checkpoints {
        Checkpoints { pool, running: Default::default(), gate: Default::default(), restart_at: RESTART_AT }
    }

    /// Hands over the write gate and starts the once-a-[`TICK`] checkpoint,
    /// which stops with the database handle.
    pub(crate) fn watch(&self, gate: Gate) {
        let _ = self.gate.set(gate);
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(TICK).await;
                if me.gate.get().and_then(Weak::upgrade).is_none() {
                    break;
                }
                me.start();
            }
        });
    }

    /// Starts a checkpoint beside the writers, unless one is running.
    pub(crate) fn start(&self) {
        if self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(e) = me.checkpoint().await {
                tracing::warn!(error = %e, "WAL checkpoint failed");
            }
            me.running.store(false, Ordering::Release);
        });
    }

    async fn checkpoint(&self) -> Result<(), StoreError> {
        let (busy, mut log, copied) = self.passive().await?;
        if busy != 0 || copied != log || log < self.restart_at {
            return Ok(());
        }
        // Copy again while the writers go on, until what they add during
        // one copy is short: the copy under the gate then has little to do.
        for _ in 0..MAX_PASSES {
            let (busy, now, copied) = self.passive().await?;
            if busy != 0 || copied != now || now < self.restart_at {
                return Ok(());
            }
            let added = now - log;
            log = now;
            if added <= SHORT_TAIL {
                break;
            }
        }
        if let Some(gate) = self.gate.get().and_then(Weak::upgrade) {
            // No writer of this process until the log is copied to its end.
            // The connection first: waiting for one must not hold the writers.
            let mut conn = self.pool.acquire().await?;
            let _writers = gate.lock().await;
            passive(&mut conn).await?;
        }
        Ok(())
    }

    async fn passive(&self) -> Result<(i64, i64, i64), StoreError> {
        passive(&mut *self.pool.acquire().await?).await
    }
}

/// `PRAGMA wal_checkpoint(PASSIVE)`: (busy, frames in the log, frames copied).
async fn passive(conn: &mut sqlx::AnyConnection) -> Result<(i64, i64, i64), StoreError> {
    use sqlx::Row;
    let r = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(conn).await?;
    Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))
}

/// Makes the commits made so far durable by syncing the log to disk. Sound
/// because a commit is in the log once it returns, SQLite recovers every
/// whole commit of a synced log, and a checkpoint syncs the log before and
/// the database after it copies (a log restarted since holds nothing that
/// is not in the synced database; no log file at all means the same).
pub(crate) struct LogSync(std::path::PathBuf);

impl LogSync {
    pub(crate) fn new(wal: std::path::PathBuf) -> LogSync {
        LogSync(wal)
    }

    pub(crate) async fn sync(self) -> Result<(), StoreError> {
        let wal = self.0;
        tokio::task::spawn_blocking(move || match std::fs::File::open(&wal) {
            Ok(f) => f.sync_data(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        })
        .await
        .map_err(|e| StoreError::Internal(e.to_string()))?
        .map_err(|e| StoreError::Internal(format!("syncing the write-ahead log: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;
    use crate::exec::{Arg, Script};

    /// Frames in the log (a checkpoint running meanwhile answers busy, -1).
    async fn log_frames(db: &Db) -> i64 {
        loop {
            let (busy, log, _) = passive(&mut *db.pool().acquire().await.unwrap()).await.unwrap();
            if busy == 0 {
                return log;
            }
            tokio::task::yield_now().await;
        }
    }

    /// Commits never checkpoint; once the log is long, a checkpoint copies
    /// it and the next write starts it again from its beginning.
    #[tokio::test]
    async fn a_long_log_is_copied_and_started_again() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/w.db", dir.path().display())).await.unwrap();
        sqlx::query("CREATE TABLE w (n BIGINT)").execute(db.pool()).await.unwrap();
        let write = |n: i64| {
            let db = db.clone();
            async move { db.hot().unwrap().run(move |ex| Box::pin(async move { Script::one("INSERT INTO w (n) VALUES ($1)", [Arg::Int(n)]).run(ex).await })).await.unwrap() }
        };
        // Fewer commits than start a checkpoint of their own.
        for n in 0..40 {
            write(n).await;
        }
        let long = log_frames(&db).await;
        assert!(long >= 40, "the log holds every commit: {long} frames");
        let checkpoints = Checkpoints { restart_at: 32, ..db.write_gate().unwrap().lock().await.checkpoints.clone() };
        checkpoints.checkpoint().await.unwrap();
        write(40).await;
        let restarted = log_frames(&db).await;
        assert!(restarted < 8, "the log started again: {restarted} frames after {long}");
        let n: i64 = sqlx::Row::get(&sqlx::query("SELECT COUNT(*) AS n FROM w").fetch_one(db.pool()).await.unwrap(), "n");
        assert_eq!(n, 41);
    }

    #[tokio::test]
    async fn syncing_the_log_needs_a_log_only_if_there_is_one() {
        let dir = tempfile::tempdir().unwrap();
        LogSync::new(dir.path().join("none.db-wal")).sync().await.unwrap();
        std::fs::write(dir.path().join("x.db-wal"), b"frames").unwrap();
        LogSync::new(dir.path().join("x.db-wal")).sync().await.unwrap();
    }
}
