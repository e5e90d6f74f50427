//! The audit trail's event shape and its hash chain.
//!
//! Each event's `hash` is SHA-256 over the previous event's hash and the
//! event's canonical form (time, actor, organisation, action, target and the
//! exact stored `details` text). The sequence number is not hashed: order is
//! what the chain itself proves, so a row moved to another place breaks the
//! link of the row after it.
//!
//! invariant: an event's details never contain PHI or secrets — only ids,
//! roles, counts, states and reasons chosen by the code.
//! invariant: the chain starts from [`GENESIS_HASH`]; `audit_head` in the
//! database records the last sequence number and hash, so deleting the newest
//! rows is detected too.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The "previous hash" of the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An audit event as written (before it has a sequence number and hash).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewAuditEvent {
    /// Epoch milliseconds.
    pub at: i64,
    /// The acting user, or `None` for the system (start-up, CLI).
    pub actor_id: Option<String>,
    /// The organisation the event belongs to, for scoping and filtering.
    pub org_id: Option<String>,
    /// Dotted verb, e.g. `user.create`, `auth.login`.
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    /// A JSON object with no PHI.
    pub details: serde_json::Value,
}

/// A stored event, as read back for verification.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRow {
    pub seq: i64,
    pub at: i64,
    pub actor_id: Option<String>,
    pub org_id: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    /// The exact stored JSON text of the details.
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The canonical serialisation hashed into the chain.
fn canonical(
    at: i64,
    actor_id: Option<&str>,
    org_id: Option<&str>,
    action: &str,
    target_type: &str,
    target_id: &str,
    details: &str,
) -> String {
    serde_json::to_string(&(at, actor_id, org_id, action, target_type, target_id, details))
        .expect("tuples of strings and integers always serialise")
}

/// `hash = hex(SHA-256(prev_hash || "\n" || canonical(event)))`.
pub fn chain_hash(prev_hash: &str, at: i64, actor_id: Option<&str>, org_id: Option<&str>, action: &str, target_type: &str, target_id: &str, details: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(canonical(at, actor_id, org_id, action, target_type, target_id, details).as_bytes());
    hex::encode(h.finalize())
}

impl AuditRow {
    /// The hash this row should carry given its own stored `prev_hash`.
    pub fn recompute(&self) -> String {
        chain_hash(
            &self.prev_hash,
            self.at,
            self.actor_id.as_deref(),
            self.org_id.as_deref(),
            &self.action,
            &self.target_type,
            &self.target_id,
            &self.details,
        )
    }
}

/// Where and how the chain first breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChainBreak {
    /// The row's content no longer matches its hash.
    Edited { seq: i64 },
    /// The row's predecessor in the chain is missing.
    Deleted { seq: i64 },
    /// The row's predecessor exists but sits elsewhere (rows were reordered).
    Reordered { seq: i64, predecessor_seq: i64 },
    /// The newest rows are missing: the head records a later event.
    TailDeleted { last_seq: i64, head_seq: i64 },
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainBreak::Edited { seq } => write!(f, "audit event {seq} was edited: its content does not match its hash"),
            ChainBreak::Deleted { seq } => write!(f, "the audit event before {seq} was deleted: its predecessor is missing"),
            ChainBreak::Reordered { seq, predecessor_seq } => write!(
                f,
                "audit events were reordered: event {seq} follows event {predecessor_seq} in the chain but not in sequence"
            ),
            ChainBreak::TailDeleted { last_seq, head_seq } => write!(
                f,
                "the newest audit events were deleted: the trail ends at {last_seq} but the head records {head_seq}"
            ),
        }
    }
}

/// What the verifier needs to know when a link is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The row is sound and linked.
    Ok,
    /// The row is broken; this is final.
    Broken(ChainBreak),
    /// The row's content is intact but its `prev_hash` does not link to the
    /// row before it: the caller looks `prev_hash` up among all rows and calls
    /// [`ChainVerifier::classify_unlinked`].
    Unlinked { seq: i64, prev_hash: String },
}

/// Walks rows in sequence order and finds the first break. Holds O(1) state,
/// so the whole trail can stream through it.
#[derive(Debug)]
pub struct ChainVerifier {
    expected_prev: String,
    last_seq: i64,
    pub checked: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier { expected_prev: GENESIS_HASH.to_string(), last_seq: 0, checked: 0 }
    }
}

impl ChainVerifier {
    pub fn push(&mut self, row: &AuditRow) -> Step {
        self.checked += 1;
        if row.recompute() != row.hash {
            return Step::Broken(ChainBreak::Edited { seq: row.seq });
        }
        if row.prev_hash != self.expected_prev {
            return Step::Unlinked { seq: row.seq, prev_hash: row.prev_hash.clone() };
        }
        if row.seq != self.last_seq + 1 {
            // Linked but renumbered: rows in between were deleted and the chain
            // patched, or numbers were rewritten. Either way the sequence lies.
            return Step::Broken(ChainBreak::Deleted { seq: row.seq });
        }
        self.expected_prev = row.hash.clone();
        self.last_seq = row.seq;
        Step::Ok
    }

    /// Classifies an unlinked row from where its claimed predecessor lives
    /// (`None`: no row has that hash).
    pub fn classify_unlinked(seq: i64, predecessor_seq: Option<i64>) -> ChainBreak {
        match predecessor_seq {
            Some(p) => ChainBreak::Reordered { seq, predecessor_seq: p },
            None => ChainBreak::Deleted { seq },
        }
    }

    /// After the last row: does the head agree?
    pub fn finish(&self, head_seq: i64, head_hash: &str) -> Result<(), ChainBreak> {
        if head_seq != self.last_seq || (head_seq > 0 && head_hash != self.expected_prev) {
            return Err(ChainBreak::TailDeleted { last_seq: self.last_seq, head_seq });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a sound chain of `n` rows.
    fn chain(n: i64) -> Vec<AuditRow> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let details = format!("{{\"n\":{seq}}}");
                let hash = chain_hash(&prev, 1000 + seq, Some("u1"), None, "test.event", "thing", &seq.to_string(), &details);
                let row = AuditRow {
                    seq,
                    at: 1000 + seq,
                    actor_id: Some("u1".into()),
                    org_id: None,
                    action: "test.event".into(),
                    target_type: "thing".into(),
                    target_id: seq.to_string(),
                    details,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                row
            })
            .collect()
    }

    /// Runs the verifier like the store does: classify unlinked rows by hash lookup.
    fn check(rows: &[AuditRow], head: (i64, &str)) -> Result<u64, ChainBreak> {
        let mut v = ChainVerifier::default();
        for r in rows {
            match v.push(r) {
                Step::Ok => {}
                Step::Broken(b) => return Err(b),
                Step::Unlinked { seq, prev_hash } => {
                    let pred = rows.iter().find(|x| x.hash == prev_hash).map(|x| x.seq);
                    return Err(ChainVerifier::classify_unlinked(seq, pred));
                }
            }
        }
        v.finish(head.0, head.1)?;
        Ok(v.checked)
    }

    #[test]
    fn sound_chain_verifies() {
        let rows = chain(5);
        let head = rows.last().unwrap().hash.clone();
        assert_eq!(check(&rows, (5, &head)), Ok(5));
        assert_eq!(check(&[], (0, GENESIS_HASH)), Ok(0));
    }

    #[test]
    fn edited_row_is_named() {
        let mut rows = chain(5);
        let head = rows[4].hash.clone();
        rows[2].details = "{\"n\":99}".into();
        assert_eq!(check(&rows, (5, &head)), Err(ChainBreak::Edited { seq: 3 }));
        let mut rows = chain(5);
        rows[3].actor_id = Some("someone-else".into());
        assert_eq!(check(&rows, (5, &head)), Err(ChainBreak::Edited { seq: 4 }));
    }

    #[test]
    fn deleted_row_is_named() {
        let mut rows = chain(5);
        let head = rows[4].hash.clone();
        rows.remove(1);
        assert_eq!(check(&rows, (5, &head)), Err(ChainBreak::Deleted { seq: 3 }));
        // The newest row deleted: only the head can tell.
        let mut rows = chain(5);
        rows.pop();
        assert_eq!(check(&rows, (5, &head)), Err(ChainBreak::TailDeleted { last_seq: 4, head_seq: 5 }));
    }

    #[test]
    fn reordered_rows_are_named() {
        let mut rows = chain(5);
        let head = rows[4].hash.clone();
        // Swap the sequence numbers of events 2 and 3 (and so their order).
        rows[1].seq = 3;
        rows[2].seq = 2;
        rows.swap(1, 2);
        assert_eq!(check(&rows, (5, &head)), Err(ChainBreak::Reordered { seq: 2, predecessor_seq: 3 }));
    }

    #[test]
    fn breaks_read_as_sentences() {
        assert!(ChainBreak::Edited { seq: 7 }.to_string().contains("7 was edited"));
    }
}
