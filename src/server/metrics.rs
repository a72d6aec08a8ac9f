//! `/metrics`: the server's and the store's counters in Prometheus' text
//! exposition format, with Loki's metric names: lines and bytes received
//! per tenant, streams and bytes in memory, chunks flushed, WAL size, and
//! request latency histograms per route and status code.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use loki_store::PushSummary;
use parking_lot::Mutex;

use super::AppState;

/// Upper bounds of the request duration histogram, in seconds
/// (Prometheus' default buckets, as Loki's `loki_request_duration_seconds`).
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The server's counters.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    tenants: Mutex<BTreeMap<String, TenantCounters>>,
    requests: Mutex<BTreeMap<(String, String, u16), Histogram>>,
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug, Default, Clone, Copy)]
struct TenantCounters {
    lines_received: u64,
    bytes_received: u64,
    lines_accepted: u64,
    lines_refused: u64,
    duplicates: u64,
}

impl Metrics {
    pub(crate) fn pushed(&self, tenant: &str, summary: &PushSummary, lines: usize, bytes: usize) {
        let mut tenants = self.tenants.lock();
        let c = tenants.entry(tenant.to_owned()).or_default();
        c.lines_received += lines as u64;
        c.bytes_received += bytes as u64;
        c.lines_accepted += summary.accepted as u64;
        c.lines_refused += summary
            .refusals
            .iter()
            .map(|r| r.entries as u64)
            .sum::<u64>();
        c.duplicates += summary.duplicates as u64;
    }

    fn request(&self, method: &str, route: String, status: u16, seconds: f64) {
        let mut requests = self.requests.lock();
        let h = requests
            .entry((method.to_owned(), route, status))
            .or_default();
        for (count, bound) in h.counts.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *count += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }
}

/// Loki's route label: the matched path with every non-alphanumeric run
/// replaced by `_` (`/loki/api/v1/push` → `loki_api_v1_push`).
fn route_label(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.trim_matches('/').chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_owned()
}

/// Middleware timing every request by route and status code.
pub(crate) async fn track(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = matched.map_or_else(|| "other".to_owned(), |m| route_label(m.as_str()));
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    tracing::debug!(%method, %route, status, seconds, "request");
    state.metrics.request(&method, route, status, seconds);
    response
}

/// A per-tenant counter: name, help text and how to read it.
type Counter = (&'static str, &'static str, fn(&TenantCounters) -> u64);

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub(crate) async fn render(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = String::new();
    let tenants = state.metrics.tenants.lock().clone();
    let counters: [Counter; 5] = [
        (
            "loki_distributor_lines_received_total",
            "Log lines received per tenant.",
            |c| c.lines_received,
        ),
        (
            "loki_distributor_bytes_received_total",
            "Log line bytes received per tenant.",
            |c| c.bytes_received,
        ),
        (
            "loki_ingester_lines_accepted_total",
            "Log lines accepted and logged per tenant.",
            |c| c.lines_accepted,
        ),
        (
            "loki_discarded_samples_total",
            "Log lines refused per tenant.",
            |c| c.lines_refused,
        ),
        (
            "loki_ingester_duplicate_lines_total",
            "Log lines dropped as duplicates per tenant.",
            |c| c.duplicates,
        ),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (tenant, c) in &tenants {
            let _ = writeln!(out, "{name}{{tenant=\"{}\"}} {}", escape(tenant), value(c));
        }
    }
    let _ = writeln!(out, "# HELP loki_ingester_memory_streams Streams held in memory per tenant.\n# TYPE loki_ingester_memory_streams gauge");
    for tenant in tenants.keys() {
        let _ = writeln!(
            out,
            "loki_ingester_memory_streams{{tenant=\"{}\"}} {}",
            escape(tenant),
            state.store.active_streams(tenant)
        );
    }
    let _ = writeln!(
        out,
        "# HELP loki_ingester_memory_bytes Log data held in memory.\n# TYPE loki_ingester_memory_bytes gauge\nloki_ingester_memory_bytes {}",
        state.store.memory_bytes()
    );
    let wal = state.store.wal_bytes().unwrap_or(0);
    let _ = writeln!(out, "# HELP loki_ingester_wal_bytes Bytes of the write-ahead log on disk.\n# TYPE loki_ingester_wal_bytes gauge\nloki_ingester_wal_bytes {wal}");
    let flushed = state.store.flushed_totals();
    for (name, help, value) in [
        (
            "loki_ingester_chunks_flushed_total",
            "Chunks written to the object store.",
            flushed.chunks as u64,
        ),
        (
            "loki_ingester_chunk_stored_bytes_total",
            "Bytes of chunk objects written.",
            flushed.bytes,
        ),
        (
            "loki_ingester_index_segments_flushed_total",
            "Index segments written.",
            flushed.segments as u64,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    }
    let requests = state.metrics.requests.lock().clone();
    let name = "loki_request_duration_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Time (in seconds) spent serving HTTP requests.\n# TYPE {name} histogram"
    );
    for ((method, route, status), h) in &requests {
        let labels = format!("method=\"{method}\",route=\"{route}\",status_code=\"{status}\"");
        for (count, bound) in h.counts.iter().zip(BUCKETS) {
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
    }
    let name = "loki_request_errors_total";
    let _ = writeln!(
        out,
        "# HELP {name} Requests answered with a 4xx or 5xx status.\n# TYPE {name} counter"
    );
    for ((method, route, status), h) in &requests {
        if *status >= 400 {
            let _ = writeln!(
                out,
                "{name}{{method=\"{method}\",route=\"{route}\",status_code=\"{status}\"}} {}",
                h.count
            );
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

#[cfg(test)]
mod tests {
    use super::route_label;

    #[test]
    fn routes_are_labelled_like_loki() {
        assert_eq!(route_label("/loki/api/v1/push"), "loki_api_v1_push");
        assert_eq!(
            route_label("/loki/api/v1/label/{name}/values"),
            "loki_api_v1_label_name_values"
        );
        assert_eq!(route_label("/ready"), "ready");
    }
}
