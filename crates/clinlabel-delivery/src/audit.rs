//! The project audit export: JSONL carrying the whole hash chain, with the
//! project's own events in full and every other event reduced to its link.
//!
//! Line 1 is a header: `{"format":"clinlabel-audit-export/1","project_id":…,
//! "exported_at":…,"head":{"seq":N,"hash":H}}`. Then one line per event of
//! the installation's chain, `seq` 1 to N in order:
//!
//! - the project's events: `{"seq","event":{"at","actor_id","org_id",
//!   "action","target_type","target_id","details"},"prev_hash","hash"}` with
//!   `details` the exact stored JSON text, so `hash` can be recomputed;
//! - every other event: `{"seq","prev_hash","hash"}` only (no content leaves
//!   its organisation).
//!
//! A verifier recomputes each full event's hash as
//! `hex(SHA-256(prev_hash || "\n" || canonical))` with `canonical` the JSON
//! array `[at, actor_id, org_id, action, target_type, target_id, details]`,
//! checks that every line's `prev_hash` is the previous line's `hash` (the
//! first's is 64 zeros), that `seq` counts up from 1 without gaps, and that
//! the last line's `seq` and `hash` are the header's `head`. An edited event
//! fails its own hash; a deleted, inserted or reordered line breaks a link.

use clinlabel_domain::audit::{GENESIS_HASH, chain_hash};
use serde::{Deserialize, Serialize};

pub const AUDIT_EXPORT_FORMAT: &str = "clinlabel-audit-export/1";

/// The first line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub format: String,
    pub project_id: String,
    pub exported_at: i64,
    pub head: crate::manifest::AuditHead,
}

/// One event line, full or reduced to its link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    pub seq: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<EventBody>,
    pub prev_hash: String,
    pub hash: String,
}

/// The content of a full event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBody {
    pub at: i64,
    pub actor_id: Option<String>,
    pub org_id: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    /// The exact stored JSON text.
    pub details: String,
}

/// Whether an event belongs to the project: it targets the project, or its
/// details name it as `project_id`.
pub fn belongs_to(project_id: &str, target_id: &str, details: &str) -> bool {
    if target_id == project_id {
        return true;
    }
    // Cheap pre-check before parsing.
    if !details.contains(project_id) {
        return false;
    }
    serde_json::from_str::<serde_json::Value>(details).ok().is_some_and(|v| v.get("project_id").and_then(|p| p.as_str()) == Some(project_id))
}

/// Appends one line (with its newline) to `out`.
pub fn write_line(line: &Line, out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, line).expect("lines serialise");
    out.push(b'\n');
}

pub fn write_header(h: &Header, out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, h).expect("headers serialise");
    out.push(b'\n');
}

/// Streaming verifier of an audit export, line by line.
#[derive(Debug)]
pub struct ExportVerifier {
    header: Option<Header>,
    expected_prev: String,
    last_seq: i64,
    pub full_events: u64,
    pub linked_events: u64,
}

impl Default for ExportVerifier {
    fn default() -> Self {
        ExportVerifier { header: None, expected_prev: GENESIS_HASH.into(), last_seq: 0, full_events: 0, linked_events: 0 }
    }
}

impl ExportVerifier {
    /// Feeds line `n` (1-based, for messages) of the file.
    pub fn push(&mut self, n: usize, text: &str) -> Result<(), String> {
        if self.header.is_none() {
            let h: Header = serde_json::from_str(text).map_err(|e| format!("line {n}: not an audit export header: {e}"))?;
            if h.format != AUDIT_EXPORT_FORMAT {
                return Err(format!("line {n}: unknown format {:?}", h.format));
            }
            self.header = Some(h);
            return Ok(());
        }
        let l: Line = serde_json::from_str(text).map_err(|e| format!("line {n}: not an audit line: {e}"))?;
        if l.seq != self.last_seq + 1 {
            return Err(format!("line {n}: event {} follows event {}: events are missing or reordered", l.seq, self.last_seq));
        }
        if l.prev_hash != self.expected_prev {
            return Err(format!("line {n}: event {} does not link to the event before it", l.seq));
        }
        if let Some(e) = &l.event {
            let h = chain_hash(&l.prev_hash, e.at, e.actor_id.as_deref(), e.org_id.as_deref(), &e.action, &e.target_type, &e.target_id, &e.details);
            if h != l.hash {
                return Err(format!("line {n}: event {} was edited: its content does not match its hash", l.seq));
            }
            self.full_events += 1;
        } else {
            self.linked_events += 1;
        }
        self.expected_prev = l.hash;
        self.last_seq = l.seq;
        Ok(())
    }

    /// After the last line: the chain must end at the header's head.
    pub fn finish(&self) -> Result<(), String> {
        let h = self.header.as_ref().ok_or("the audit export is empty")?;
        if h.head.seq != self.last_seq || (h.head.seq > 0 && h.head.hash != self.expected_prev) {
            return Err(format!("the audit export ends at event {} but its header records event {}: the newest events are missing", self.last_seq, h.head.seq));
        }
        Ok(())
    }

    pub fn header(&self) -> Option<&Header> {
        self.header.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64, project: &str) -> (Vec<u8>, Vec<String>) {
        let mut prev = GENESIS_HASH.to_string();
        let mut lines = Vec::new();
        for seq in 1..=n {
            let mine = seq % 2 == 1;
            let details = if mine { format!("{{\"project_id\":\"{project}\"}}") } else { "{\"project_id\":\"other\"}".to_string() };
            let hash = chain_hash(&prev, seq * 10, Some("u1"), None, "task.submit", "task", "t1", &details);
            let event = mine.then(|| EventBody { at: seq * 10, actor_id: Some("u1".into()), org_id: None, action: "task.submit".into(), target_type: "task".into(), target_id: "t1".into(), details });
            lines.push(serde_json::to_string(&Line { seq, event, prev_hash: prev.clone(), hash: hash.clone() }).unwrap());
            prev = hash;
        }
        let mut out = Vec::new();
        write_header(&Header { format: AUDIT_EXPORT_FORMAT.into(), project_id: project.into(), exported_at: 0, head: crate::manifest::AuditHead { seq: n, hash: prev } }, &mut out);
        (out, lines)
    }

    fn verify(header: &[u8], lines: &[String]) -> Result<(u64, u64), String> {
        let mut v = ExportVerifier::default();
        v.push(1, std::str::from_utf8(header).unwrap().trim_end())?;
        for (i, l) in lines.iter().enumerate() {
            v.push(i + 2, l)?;
        }
        v.finish()?;
        Ok((v.full_events, v.linked_events))
    }

    #[test]
    fn an_intact_export_verifies() {
        let (h, lines) = chain(6, "p1");
        assert_eq!(verify(&h, &lines), Ok((3, 3)));
    }

    #[test]
    fn edits_deletions_reorderings_and_truncations_are_named() {
        let (h, lines) = chain(6, "p1");
        let mut edited = lines.clone();
        edited[2] = edited[2].replace("task.submit", "task.skip");
        assert!(verify(&h, &edited).unwrap_err().contains("event 3 was edited"));
        let mut deleted = lines.clone();
        deleted.remove(3);
        assert!(verify(&h, &deleted).unwrap_err().contains("event 5 follows event 3"));
        let mut swapped = lines.clone();
        swapped.swap(1, 2);
        assert!(verify(&h, &swapped).is_err());
        assert!(verify(&h, &lines[..5]).unwrap_err().contains("newest events are missing"));
    }

    #[test]
    fn membership_is_by_target_or_details() {
        assert!(belongs_to("p1", "p1", "{}"));
        assert!(belongs_to("p1", "t", r#"{"project_id":"p1"}"#));
        assert!(!belongs_to("p1", "t", r#"{"project_id":"p10"}"#));
        assert!(!belongs_to("p1", "t", r#"{"note":"p1"}"#));
    }
}
