//! `/metrics` in the Prometheus text format: request counts by method, route
//! pattern and status, and a latency histogram per route. Route patterns, not
//! paths, so no id (let alone PHI) becomes a label.

use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Instant;

const BUCKETS: [f64; 11] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Process-wide request metrics.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
}

impl Metrics {
    fn observe(&self, method: &str, route: &str, status: u16, secs: f64) {
        *self.requests.lock().expect("metrics lock").entry((method.to_string(), route.to_string(), status)).or_default() += 1;
        let mut l = self.latency.lock().expect("metrics lock");
        let h = l.entry(route.to_string()).or_default();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// The Prometheus exposition text.
    pub fn text(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP clinlabel_http_requests_total HTTP requests by method, route pattern and status.\n");
        out.push_str("# TYPE clinlabel_http_requests_total counter\n");
        for ((m, r, s), n) in self.requests.lock().expect("metrics lock").iter() {
            let _ = writeln!(out, "clinlabel_http_requests_total{{method=\"{m}\",route=\"{r}\",status=\"{s}\"}} {n}");
        }
        out.push_str("# HELP clinlabel_http_request_duration_seconds Request latency by route pattern.\n");
        out.push_str("# TYPE clinlabel_http_request_duration_seconds histogram\n");
        for (r, h) in self.latency.lock().expect("metrics lock").iter() {
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(out, "clinlabel_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"{b}\"}} {}", h.counts[i]);
            }
            let _ = writeln!(out, "clinlabel_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "clinlabel_http_request_duration_seconds_sum{{route=\"{r}\"}} {}", h.sum);
            let _ = writeln!(out, "clinlabel_http_request_duration_seconds_count{{route=\"{r}\"}} {}", h.count);
        }
        out
    }
}

pub(crate) async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let start = Instant::now();
    let res = next.run(req).await;
    state.metrics.observe(&method, &route, res.status().as_u16(), start.elapsed().as_secs_f64());
    res
}

pub(crate) async fn render(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.text()).into_response()
}
