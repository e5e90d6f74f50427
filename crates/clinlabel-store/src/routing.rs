//! Annotate routing: who gets which queued task, many requests at a time.
//!
//! Every "next task" request of a process goes to one dispatcher (a
//! [`Batcher`]), which serves the requests that are waiting together in one
//! lease transaction (on SQLite on the hot connection, [`crate::exec`]; on
//! PostgreSQL [`crate::db::Db::begin_lease`]): one statement each to return expired
//! leases, find who already holds a task and everyone's certifications,
//! read a window of the queue in hand-out order (deadline, priority, id)
//! with who may not take which item of it, lease every chosen task and
//! append the assignments to the audit trail. A request that waits while a
//! batch is served is served by the next one, so the batch grows with the
//! load and the cost per assignment falls; a request alone is served alone.
//!
//! The choice itself is [`assign`], free of IO: requests in arrival order,
//! each taking the first task of the window it may take — in a track where
//! the person holds an active, unexpired certification, of an item they have
//! neither annotated, held nor skipped, and not already given to them in
//! this batch. When a window is used up before everyone is served, the next
//! window starts after its last task (keyset order), doubling in size.
//!
//! Gold: for each assignment a random draw against the project's gold rate
//! decides whether the person gets a gold item of that project instead (a
//! new task row, like any other); the task they would have had stays in the
//! window for the next person.
//!
//! invariant: a person gets at most one new task per batch, never an item
//! they already annotated, hold or skipped; the partial unique index
//! `tasks_one_annotation_per_person` backs this in the database.
//! invariant: on PostgreSQL the window is read `FOR UPDATE SKIP LOCKED` and
//! the requesters' user rows are locked (in id order) first, so dispatchers
//! of several processes share one queue and one person's requests to
//! different processes are served one after the other.
//! invariant: each assignment's audit event commits with the lease.

use crate::audit;
use crate::batcher::Batcher;
use crate::db::{Backend, Db, json_list, now_ms};
use crate::exec::{Arg, Exec, Script};
use crate::StoreError;
use clinlabel_domain::Principal;
use std::collections::{BTreeSet, HashMap, HashSet};

/// At most this many requests are served by one transaction.
const BATCH_MAX: usize = 128;
/// The largest window of the queue read at once.
const WINDOW_MAX: i64 = 4096;
/// A first window holds two candidates per person and this many more: what
/// the people already did or skipped is rare, and a window that runs out is
/// followed by one twice its size. Each candidate costs a row read and an
/// index probe for the exclusions (with 32, the two were 40 % of a lease
/// transaction for one person).
const WINDOW_SLACK: i64 = 8;

/// What a request gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Routed {
    /// Nothing they may take now.
    Nothing,
    /// The live task they already hold.
    Held(String),
    /// A task leased to them now, with what its view shows.
    Leased(Box<Leased>),
}

/// A task just leased, as the dispatcher knows it: enough for the tasker's
/// view without reading it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Leased {
    pub task_id: String,
    pub project_id: String,
    pub track_id: String,
    pub item_id: String,
    pub item_kind: String,
    pub item_meta: String,
    pub deadline: i64,
    pub lease_expires_at: i64,
    /// Never shown: it goes to the task facts the submission check reads.
    pub gold: bool,
}

/// Starts the dispatcher of a database (a [`crate::batcher::Batcher`] of
/// user ids). `db` is a handle without a dispatcher, so it stops when the
/// last clone of the database handle is dropped.
pub(crate) fn dispatcher(db: Db) -> Batcher<String, Routed> {
    Batcher::start(
        BATCH_MAX,
        std::sync::Arc::new(move |users: Vec<String>| {
            let db = db.clone();
            Box::pin(async move {
                let out = serve(&db, &users).await?;
                Ok(users.iter().map(|u| Ok(out.get(u).cloned().unwrap_or(Routed::Nothing))).collect())
            })
        }),
    )
}

/// Routes one person's request: through the dispatcher when the database has
/// one, else served alone.
pub(crate) async fn next_annotate(db: &Db, who: &Principal) -> Result<Routed, StoreError> {
    if let Some(d) = db.routing() {
        return d.call(who.user_id.clone()).await;
    }
    let mut out = serve(db, std::slice::from_ref(&who.user_id)).await?;
    Ok(out.remove(&who.user_id).unwrap_or(Routed::Nothing))
}

/// A queued task of a window.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub id: String,
    pub project_id: String,
    pub track_id: String,
    pub item_id: String,
    pub deadline: i64,
    pub priority: i64,
}

/// The choice of one window, IO-free. `wanting` are the people still to
/// serve, in arrival order, with their certified tracks; `excluded` the
/// (item, person) pairs ruled out; `taken` the candidates already given in
/// this batch (by index). Returns (person, candidate index) pairs, in order.
pub(crate) fn assign(
    window: &[Candidate],
    wanting: &[(String, HashSet<String>)],
    excluded: &HashSet<(String, String)>,
    taken: &mut HashSet<usize>,
) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for (user, tracks) in wanting {
        let pick = window
            .iter()
            .enumerate()
            .find(|(i, c)| !taken.contains(i) && tracks.contains(&c.track_id) && !excluded.contains(&(c.item_id.clone(), user.clone())));
        if let Some((i, _)) = pick {
            taken.insert(i);
            out.push((user.clone(), i));
        }
    }
    out
}

/// Serves one batch of requests (distinct people; repeated ones share the
/// answer) in one lease transaction: on SQLite on the hot connection
/// ([`crate::exec`]), on PostgreSQL in a transaction of the writers' pool.
async fn serve(db: &Db, requests: &[String]) -> Result<HashMap<String, Routed>, StoreError> {
    let now = now_ms();
    // Distinct people, in arrival order.
    let mut seen = HashSet::new();
    let people: Vec<String> = requests.iter().filter(|u| seen.insert((*u).clone())).cloned().collect();
    let out = match db.hot() {
        Some(hot) => hot.run(move |ex| Box::pin(async move { lease_in(ex, &people, now).await })).await?,
        None => {
            let mut tx = db.begin_lease().await?;
            let out = lease_in(&mut Exec::from(&mut *tx), &people, now).await?;
            tx.commit().await?;
            out
        }
    };
    for r in out.values() {
        if let Routed::Leased(l) = r {
            db.remember_task(&l.task_id, crate::tasks::TaskFacts::annotate(&l.project_id, &l.track_id, &l.item_id, l.gold));
        }
    }
    Ok(out)
}

/// The lease transaction's statements.
async fn lease_in(ex: &mut Exec<'_>, people: &[String], now: i64) -> Result<HashMap<String, Routed>, StoreError> {
    let backend = ex.backend();
    let mut out: HashMap<String, Routed> = HashMap::new();
    let people_json = json_list(people);
    if backend == Backend::Postgres {
        // NO KEY UPDATE: it excludes the person's other requests, not the
        // foreign-key checks of their submissions.
        let sql = format!("SELECT id FROM users WHERE id {} ORDER BY id FOR NO KEY UPDATE", backend.in_texts(1));
        ex.all(sql, [Arg::Text(people_json.clone())]).await?;
    }
    // First round trip: return expired leases; who already holds a live
    // annotate task (it comes back first) and everyone's active, unexpired
    // certifications; the audit head the assignments will follow.
    let mut tracks_of: HashMap<String, HashSet<String>> = HashMap::new();
    let people_in = backend.in_texts(2);
    // `kind || ''`: the partial unique index on (item, person) can then
    // not serve this query. PostgreSQL's statistics call it empty until the
    // next ANALYZE after an import (it fills as work is handed out), and it
    // planned a walk of all of it per lease: 5.7 ms at 6,000 assignments,
    // growing; the leases index it takes instead holds only live leases.
    let first = Script::new()
        .part(crate::tasks::RELEASE_EXPIRED_SQL)
        .arg(Arg::Int(now))
        .part(format!(
            "SELECT 'held' AS what, assignee_id AS user_id, MIN(id) AS value FROM tasks{} \
               WHERE assignee_id {people_in} AND state = 'leased' AND kind || '' = 'annotate' AND tier = 0 AND lease_expires_at >= $1 GROUP BY assignee_id \
             UNION ALL SELECT 'certified', user_id, track_id FROM certifications WHERE user_id {people_in} AND status = 'active' AND expires_at > $1",
            backend.index_hint("tasks_by_assignee"),
        ))
        .arg(Arg::Text(people_json));
    let first = audit::head_in_script(first, backend).run(ex).await?;
    for r in &first {
        if r.is("held") {
            out.insert(r.get("user_id")?, Routed::Held(r.get("value")?));
        } else if r.is("certified") {
            tracks_of.entry(r.get("user_id")?).or_default().insert(r.get("value")?);
        }
    }
    let wanting: Vec<&String> = people.iter().filter(|u| !out.contains_key(*u)).collect();
    if wanting.is_empty() {
        return Ok(out);
    }
    let mut unserved: Vec<(String, HashSet<String>)> = wanting.iter().filter_map(|u| tracks_of.remove(*u).map(|t| ((*u).clone(), t))).collect();
    let tracks: BTreeSet<String> = unserved.iter().flat_map(|(_, t)| t.iter().cloned()).collect();
    // (task, person): queued tasks to lease; (person, lease): every assignment, gold included.
    let mut to_lease: Vec<(String, String)> = Vec::new();
    let mut assigned: Vec<(String, Leased)> = Vec::new();
    let lease_expires_at = now + crate::tasks::LEASE_MS;
    let mut after: Option<(i64, i64, String)> = None;
    let mut limit = (2 * unserved.len() as i64 + WINDOW_SLACK).min(WINDOW_MAX);
    while !unserved.is_empty() {
        let (window, excluded) = read_window(ex, &tracks, &unserved, after.as_ref(), limit).await?;
        let full = window.len() as i64 == limit;
        let mut taken = HashSet::new();
        let mut served: HashSet<String> = HashSet::new();
        let mut pending = unserved.clone();
        loop {
            let mut returned = false;
            for (user, i) in assign(&window, &pending, &excluded, &mut taken) {
                let c = &window[i];
                // Gold sends the person elsewhere; their task goes back to the window.
                let lease = |task_id: String, item_id: String, gold: bool| Leased {
                    task_id,
                    project_id: c.project_id.clone(),
                    track_id: c.track_id.clone(),
                    item_id,
                    item_kind: String::new(),
                    item_meta: String::new(),
                    deadline: c.deadline,
                    lease_expires_at,
                    gold,
                };
                if let Some((gold_task, gold_item)) = crate::tasks::maybe_gold(ex, &user, &c.project_id, &c.track_id, c.deadline, now).await? {
                    taken.remove(&i);
                    returned = true;
                    assigned.push((user.clone(), lease(gold_task, gold_item, true)));
                } else {
                    to_lease.push((c.id.clone(), user.clone()));
                    assigned.push((user.clone(), lease(c.id.clone(), c.item_id.clone(), false)));
                }
                served.insert(user);
            }
            pending.retain(|(u, _)| !served.contains(u));
            if !returned || pending.is_empty() {
                break;
            }
        }
        unserved.retain(|(u, _)| !served.contains(u));
        if !full {
            break;
        }
        let last = window.last().expect("a full window is not empty");
        after = Some((last.deadline, last.priority, last.id.clone()));
        limit = (limit * 2).min(WINDOW_MAX);
    }
    // Second round trip: lease the chosen tasks, append the assignments to
    // the trail, read what the views show of the items.
    let events: Vec<_> = assigned
        .iter()
        .map(|(user, l)| clinlabel_domain::audit::NewAuditEvent {
            at: now,
            actor_id: Some(user.clone()),
            org_id: None,
            action: "task.assign".into(),
            target_type: "task".into(),
            target_id: l.task_id.clone(),
            details: serde_json::json!({ "project_id": l.project_id }),
        })
        .collect();
    if !assigned.is_empty() {
        let mut second = Script::new();
        if !to_lease.is_empty() {
            let rows: Vec<serde_json::Value> = to_lease.iter().map(|(task, user)| serde_json::json!({ "task": task, "user": user })).collect();
            let n = second.next_param();
            let rows_n = backend.json_rows(n + 2);
            second = second
                .part(format!(
                    "UPDATE tasks{} SET state = 'leased', lease_expires_at = ${n}, updated_at = ${}, \
                       assignee_id = (SELECT value ->> 'user' FROM {rows_n} WHERE value ->> 'task' = tasks.id) \
                     WHERE id IN (SELECT value ->> 'task' FROM {rows_n}) AND state = 'queued' RETURNING 'leased' AS what, id",
                    backend.index_hint("sqlite_autoindex_tasks_1"),
                    n + 1
                ))
                .arg(Arg::Int(lease_expires_at))
                .arg(Arg::Int(now))
                .arg(Arg::Text(serde_json::Value::Array(rows).to_string()));
        }
        // The trail records each assignment, not whether it is gold.
        let (head_seq, head_hash) = audit::head_after(ex, &first).await?;
        let chain = audit::chain(head_seq, head_hash, &events)?;
        second = audit::append_to_script(second, backend, &chain);
        let n = second.next_param();
        second = second.part(format!("SELECT 'item' AS what, id, kind, meta FROM items WHERE id {}", backend.in_texts(n))).arg(Arg::Text(json_list(assigned.iter().map(|(_, l)| &l.item_id))));
        let rows = second.run(ex).await?;
        let leased = rows.iter().filter(|r| r.is("leased")).count();
        if leased != to_lease.len() {
            return Err(StoreError::Internal(format!("leased {leased} of {} chosen tasks", to_lease.len())));
        }
        if !audit::head_moved(&rows, chain.last_seq) {
            return Err(StoreError::Internal("the audit head moved during a lease".into()));
        }
        let items: HashMap<String, (String, String)> = rows.iter().filter(|r| r.is("item")).map(|r| Ok((r.get("id")?, (r.get("kind")?, r.get("meta")?)))).collect::<Result<_, StoreError>>()?;
        for (_, l) in &mut assigned {
            let (kind, meta) = items.get(&l.item_id).cloned().ok_or_else(|| StoreError::Internal(format!("item {} of a leased task", l.item_id)))?;
            (l.item_kind, l.item_meta) = (kind, meta);
        }
    }
    for (user, l) in assigned {
        out.insert(user, Routed::Leased(Box::new(l)));
    }
    Ok(out)
}

/// SQL of a window of the queue: queued annotate tasks of running projects
/// in the given tracks (`$2`), in hand-out order, after a keyset position
/// (`$3`–`$5`). On SQLite the queue index is named: its planner otherwise
/// joins the project filter first, scans and sorts.
pub(crate) fn window_sql(backend: Backend, after: bool) -> String {
    let (hint, lock) = match backend {
        Backend::Sqlite => (" INDEXED BY tasks_queue", ""),
        Backend::Postgres => ("", " FOR UPDATE OF t SKIP LOCKED"),
    };
    let keyset = if after { "AND (t.deadline, t.priority, t.id) > ($3, $4, $5) " } else { "" };
    format!(
        "SELECT t.id, t.project_id, t.track_id, t.item_id, t.deadline, t.priority FROM tasks t{hint} \
         WHERE t.kind = 'annotate' AND t.state = 'queued' AND t.tier = 0 {keyset}\
           AND t.track_id {} \
           AND t.project_id IN (SELECT p.id FROM projects p WHERE p.state = 'in_progress') \
         ORDER BY t.deadline, t.priority, t.id LIMIT $1{lock}",
        backend.in_texts(2)
    )
}

/// A window of the queue and the (item, person) pairs in it that are ruled
/// out: the person annotated or holds the item, or skipped it. (Two
/// statements: as a subquery of the window, SQLite would read the people's
/// list again for every task of it.)
async fn read_window(
    ex: &mut Exec<'_>,
    tracks: &BTreeSet<String>,
    people: &[(String, HashSet<String>)],
    after: Option<&(i64, i64, String)>,
    limit: i64,
) -> Result<(Vec<Candidate>, HashSet<(String, String)>), StoreError> {
    let backend = ex.backend();
    let mut args = vec![Arg::Int(limit), Arg::Text(json_list(tracks))];
    if let Some((d, p, id)) = after {
        args.extend([Arg::Int(*d), Arg::Int(*p), Arg::Text(id.clone())]);
    }
    let window: Vec<Candidate> = ex
        .all(window_sql(backend, after.is_some()), args)
        .await?
        .iter()
        .map(|r| {
            Ok(Candidate { id: r.get("id")?, project_id: r.get("project_id")?, track_id: r.get("track_id")?, item_id: r.get("item_id")?, deadline: r.get("deadline")?, priority: r.get("priority")? })
        })
        .collect::<Result<_, StoreError>>()?;
    if window.is_empty() || people.is_empty() {
        return Ok((window, HashSet::new()));
    }
    let items: BTreeSet<&String> = window.iter().map(|c| &c.item_id).collect();
    let (items_in, people_in) = (backend.in_texts(1), backend.in_texts(2));
    let sql = format!(
        "SELECT item_id, assignee_id AS user_id FROM tasks{} WHERE item_id {items_in} AND kind = 'annotate' AND assignee_id {people_in} AND state IN ('leased', 'done') \
         UNION ALL SELECT item_id, user_id FROM task_skips WHERE item_id {items_in} AND user_id {people_in}",
        backend.index_hint("tasks_by_item")
    );
    let excluded = ex
        .all(sql, [Arg::Text(json_list(items)), Arg::Text(json_list(people.iter().map(|(u, _)| u)))])
        .await?
        .iter()
        .map(|r| Ok((r.get("item_id")?, r.get("user_id")?)))
        .collect::<Result<_, StoreError>>()?;
    Ok((window, excluded))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: &str, track: &str, item: &str) -> Candidate {
        Candidate { id: id.into(), project_id: "p".into(), track_id: track.into(), item_id: item.into(), deadline: 0, priority: 0 }
    }

    fn person(id: &str, tracks: &[&str]) -> (String, HashSet<String>) {
        (id.into(), tracks.iter().map(|t| t.to_string()).collect())
    }

    /// One `check` per case: the window, who wants work, what is ruled out,
    /// and who must get which task.
    fn check(window: &[Candidate], wanting: &[(String, HashSet<String>)], excluded: &[(&str, &str)], want: &[(&str, &str)]) {
        let excluded: HashSet<(String, String)> = excluded.iter().map(|(i, u)| (i.to_string(), u.to_string())).collect();
        let got: Vec<(String, String)> = assign(window, wanting, &excluded, &mut HashSet::new()).into_iter().map(|(u, i)| (u, window[i].id.clone())).collect();
        let want: Vec<(String, String)> = want.iter().map(|(u, t)| (u.to_string(), t.to_string())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn first_come_gets_the_first_task_they_may_take() {
        let w = [c("t1", "rad", "i1"), c("t2", "rad", "i1"), c("t3", "rad", "i2")];
        check(&w, &[person("a", &["rad"]), person("b", &["rad"])], &[], &[("a", "t1"), ("b", "t2")]);
    }

    #[test]
    fn tracks_and_exclusions_are_respected() {
        let w = [c("t1", "path", "i1"), c("t2", "rad", "i2"), c("t3", "rad", "i3")];
        // a is certified in radiology only and already annotated i2.
        check(&w, &[person("a", &["rad"]), person("b", &["path", "rad"])], &[("i2", "a")], &[("a", "t3"), ("b", "t1")]);
        // Nobody certified in the window's tracks gets nothing.
        check(&w, &[person("c", &["cardio"])], &[], &[]);
    }

    #[test]
    fn a_task_goes_to_one_person_and_the_window_can_run_out() {
        let w = [c("t1", "rad", "i1")];
        check(&w, &[person("a", &["rad"]), person("b", &["rad"])], &[], &[("a", "t1")]);
    }
}
