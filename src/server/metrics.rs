//! `/metrics`: the server's and the store's counters in Prometheus' text
//! exposition format.

use std::collections::BTreeMap;
use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use loki_store::PushSummary;
use parking_lot::Mutex;

use super::AppState;

/// Per-tenant ingest counters.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    tenants: Mutex<BTreeMap<String, TenantCounters>>,
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
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
