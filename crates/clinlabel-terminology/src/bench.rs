//! Type-ahead benchmark helpers (for `clinlabel bench terminology`).
//!
//! The query set is drawn, with a fixed seed, from the release itself:
//! - **typing**: the first 24 characters of a concept's display typed one
//!   keystroke at a time (every prefix is a query, as a type-ahead sends them);
//! - **typos**: up to two words of a display followed by a word of 5+ letters
//!   with one random edit (swap of neighbours, deletion, substitution or insertion);
//! - **codes**: every prefix of a code, with and without its dot.

use crate::{CodeSystem, System};
use serde::Serialize;
use std::time::{Duration, Instant};

/// A query's category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Typing,
    Typo,
    Code,
}

/// Latency figures in microseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub queries: usize,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
    /// Share of queries that returned at least one hit.
    pub answered: f64,
}

/// The benchmark's result.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Latencies by the thread's CPU clock: the search's own cost, without
    /// time spent preempted by other processes (unix; wall time elsewhere).
    pub cpu: Latency,
    pub system: System,
    pub version: String,
    pub concepts: usize,
    /// Time to inflate the stored release and build its index, per run.
    pub load_ms: Vec<f64>,
    pub limit: usize,
    pub all: Latency,
    pub typing: Latency,
    pub typos: Latency,
    pub codes: Latency,
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn cut(s: &str, max_chars: usize) -> &str {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The query set: `per_kind` concepts each for typing and typos, half as many for codes.
pub fn queries(cs: &CodeSystem, per_kind: usize, seed: u64) -> Vec<(Category, String)> {
    let mut rng = Rng(seed.max(1));
    let active: Vec<u32> = cs.concepts().filter(|c| c.active()).map(|c| c.index()).collect();
    let mut out = Vec::new();
    if active.is_empty() {
        return out;
    }
    let pick = |rng: &mut Rng| cs.concept(active[rng.below(active.len())]).expect("an index of this system");
    for _ in 0..per_kind {
        let c = pick(&mut rng);
        let typed = cut(c.display(), 24);
        for (i, ch) in typed.char_indices() {
            let q = &typed[..i + ch.len_utf8()];
            if !q.ends_with(' ') {
                out.push((Category::Typing, q.to_string()));
            }
        }
    }
    let mut made = 0;
    let mut tries = 0;
    while made < per_kind && tries < per_kind * 20 {
        tries += 1;
        let c = pick(&mut rng);
        let words: Vec<&str> = c.display().split_whitespace().collect();
        let Some(k) = (0..words.len()).filter(|&k| words[k].chars().count() >= 5 && words[k].is_ascii()).nth(0) else { continue };
        let k = (k..words.len()).filter(|&j| words[j].chars().count() >= 5 && words[j].is_ascii()).nth(rng.below(3)).unwrap_or(k);
        let w: Vec<u8> = words[k].to_ascii_lowercase().into_bytes();
        let p = 1 + rng.below(w.len() - 2);
        let mut t = w.clone();
        match rng.below(4) {
            0 => t.swap(p, p + 1),
            1 => {
                t.remove(p);
            }
            2 => t[p] = if t[p] == b'e' { b'a' } else { b'e' },
            _ => t.insert(p, t[p]),
        }
        let start = k.saturating_sub(2);
        let mut q: Vec<String> = words[start..k].iter().map(|s| s.to_lowercase()).collect();
        q.push(String::from_utf8(t).expect("ASCII"));
        out.push((Category::Typo, q.join(" ")));
        made += 1;
    }
    for _ in 0..per_kind / 2 {
        let c = pick(&mut rng);
        let code = c.code();
        for (i, ch) in code.char_indices() {
            out.push((Category::Code, code[..i + ch.len_utf8()].to_string()));
        }
        if code.contains('.') {
            out.push((Category::Code, code.replace('.', "")));
        }
    }
    out
}

/// This thread's CPU time.
#[cfg(unix)]
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(not(unix))]
fn thread_cpu() -> Duration {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

fn latency(mut samples: Vec<(Duration, bool)>) -> Latency {
    samples.sort_by_key(|s| s.0);
    let n = samples.len();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let at = |p: f64| if n == 0 { 0.0 } else { us(samples[((p * n as f64).ceil() as usize).clamp(1, n) - 1].0) };
    Latency {
        queries: n,
        p50_us: at(0.50),
        p90_us: at(0.90),
        p99_us: at(0.99),
        max_us: samples.last().map(|s| us(s.0)).unwrap_or(0.0),
        mean_us: if n == 0 { 0.0 } else { samples.iter().map(|s| us(s.0)).sum::<f64>() / n as f64 },
        answered: if n == 0 { 0.0 } else { samples.iter().filter(|s| s.1).count() as f64 / n as f64 },
    }
}

/// Runs every query once to warm up, then `rounds` times timed (each run one
/// sample), by the wall clock and by the thread's CPU clock.
pub fn run(cs: &CodeSystem, load_ms: Vec<f64>, queries: &[(Category, String)], limit: usize, rounds: usize) -> Report {
    for (_, q) in queries {
        std::hint::black_box(cs.search(q, limit));
    }
    let mut samples: Vec<(Category, Duration, bool)> = Vec::with_capacity(queries.len() * rounds);
    let mut cpu: Vec<(Duration, bool)> = Vec::with_capacity(queries.len() * rounds);
    for _ in 0..rounds.max(1) {
        for (cat, q) in queries {
            let c = thread_cpu();
            let t = Instant::now();
            let hits = std::hint::black_box(cs.search(q, limit));
            let wall = t.elapsed();
            cpu.push((thread_cpu().saturating_sub(c), !hits.is_empty()));
            samples.push((*cat, wall, !hits.is_empty()));
        }
    }
    let of = |c: Option<Category>| latency(samples.iter().filter(|s| c.is_none_or(|c| s.0 == c)).map(|s| (s.1, s.2)).collect());
    Report {
        system: cs.system(),
        version: cs.version().to_string(),
        concepts: cs.len(),
        load_ms,
        limit,
        cpu: latency(cpu),
        all: of(None),
        typing: of(Some(Category::Typing)),
        typos: of(Some(Category::Typo)),
        codes: of(Some(Category::Code)),
    }
}
