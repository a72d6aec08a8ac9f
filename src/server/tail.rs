//! `/loki/api/v1/tail`: live tailing over WebSocket.
//!
//! The server subscribes to the tenants' pushes first, then sends the
//! back-fill from `start` (the newest `limit` entries, through the normal
//! query path), then every new push matching the query as it becomes
//! durable. Each pushed batch runs through the query's full log pipeline
//! (the same evaluator, over an in-memory storage of the batch). Entries a
//! slow client could not take are reported in `dropped_entries`; memory per
//! client stays bounded (see [`loki_store::TAIL_QUEUE_ENTRIES`]).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use loki_index::Labels;
use loki_logql::{
    ast::LogExpr, Direction, Engine, Expr, LabelSet, MemoryStorage, QueryParams, QueryResult,
    Stream,
};
use loki_store::{DroppedEntry, TailBatch};
use serde_json::{json, Value};

use super::legacy::rfc3339_nano;
use super::params;
use super::query::{evaluate, required, wants_categorized_labels, CATEGORIZE_LABELS};
use super::{ApiError, AppState};

/// Open tails per tenant, for `max_concurrent_tail_requests`.
#[derive(Debug, Default)]
pub(crate) struct TailSlots {
    open: parking_lot::Mutex<HashMap<String, usize>>,
}

/// A tail's hold on its tenants' slots, released when dropped.
struct TailSlot {
    slots: std::sync::Arc<TailSlots>,
    tenants: Vec<String>,
}

impl TailSlots {
    /// Takes a slot in every tenant, or none if one of them is full.
    fn take(
        self: &std::sync::Arc<Self>,
        state: &AppState,
        tenants: &[String],
    ) -> Result<TailSlot, ApiError> {
        let mut open = self.open.lock();
        for tenant in tenants {
            let limit = state
                .config
                .limits_for(std::slice::from_ref(tenant))
                .max_concurrent_tail_requests;
            let count = open.get(tenant).copied().unwrap_or(0) + 1;
            if count > limit {
                return Err(ApiError::bad_request(format!(
                    "max concurrent tail requests limit exceeded, count > limit ({count} > {limit})"
                )));
            }
        }
        for tenant in tenants {
            *open.entry(tenant.clone()).or_default() += 1;
        }
        Ok(TailSlot {
            slots: self.clone(),
            tenants: tenants.to_vec(),
        })
    }
}

impl Drop for TailSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock();
        for tenant in &self.tenants {
            if let Some(n) = open.get_mut(tenant) {
                *n -= 1;
                if *n == 0 {
                    open.remove(tenant);
                }
            }
        }
    }
}

/// Longest `delay_for` Loki accepts, in seconds.
const MAX_DELAY_FOR_SECONDS: u64 = 5;

struct Tail {
    query: String,
    expr: LogExpr,
    limit: usize,
    delay: Duration,
    start: i64,
    /// `/api/prom/tail`: Loki's legacy message shape.
    legacy: bool,
    /// `categorize-labels` asked for (v1 only): entries carry their
    /// structured metadata and parsed labels apart, and every message
    /// says so in `encodingFlags`.
    categorize: bool,
}

fn parse(params: &HashMap<String, String>) -> Result<Tail, ApiError> {
    let query = required(params, "query")?.to_owned();
    let Expr::Log(expr) = loki_logql::parse(&query)? else {
        return Err(ApiError::bad_request(
            "tail requires a log query, not a metric query",
        ));
    };
    let limit = params::limit(params)?;
    let delay = match params.get("delay_for").filter(|v| !v.is_empty()) {
        None => 0,
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n <= MAX_DELAY_FOR_SECONDS => n,
            Ok(_) => return Err(ApiError::bad_request("delay_for can't be greater than 5")),
            Err(_) => {
                return Err(ApiError::bad_request(format!(
                    "cannot parse delay_for {v:?} as whole seconds"
                )))
            }
        },
    };
    let start = match params.get("start").filter(|v| !v.is_empty()) {
        Some(v) => params::time(v)?,
        None => params::now_ns() - 3_600_000_000_000,
    };
    Ok(Tail {
        query,
        expr,
        limit,
        delay: Duration::from_secs(delay),
        start,
        legacy: false,
        categorize: false,
    })
}

pub(crate) async fn tail(
    state: State<AppState>,
    headers: HeaderMap,
    raw: RawQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    start(state, headers, raw, ws, false).await
}

/// `/api/prom/tail`: the same, with streams as
/// `{"labels":"{…}","entries":[{"ts":"<RFC 3339>","line":"…"}]}` and dropped
/// entries as `{"labels":"{…}","timestamp":"<RFC 3339>"}`.
pub(crate) async fn legacy_tail(
    state: State<AppState>,
    headers: HeaderMap,
    raw: RawQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    start(state, headers, raw, ws, true).await
}

async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    legacy: bool,
) -> Result<Response, ApiError> {
    let params = params::collect(raw.as_deref(), &headers, &[]);
    let mut tail = parse(&params)?;
    tail.legacy = legacy;
    tail.categorize = !legacy && wants_categorized_labels(&headers);
    let tenants = state.tenants(&headers)?;
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return Ok(rejection.into_response()),
    };
    let slot = state.tails.take(&state, &tenants)?;
    let names: Vec<&str> = tenants.iter().map(String::as_str).collect();
    let subscription = state.tail_feed(&names);
    Ok(ws.on_upgrade(move |socket| async move {
        let _slot = slot;
        if let Err(err) = run(state, headers, tail, subscription, socket).await {
            tracing::debug!(error = %err, "tail ended");
        }
    }))
}

type Seen = HashSet<(LabelSet, i64, String)>;

async fn run(
    state: AppState,
    headers: HeaderMap,
    tail: Tail,
    subscription: super::distributed::tail::TailFeed,
    mut socket: WebSocket,
) -> Result<(), String> {
    let cutoff = params::now_ns();
    let mut seen = Seen::new();
    if tail.start < cutoff {
        let params = QueryParams::range(tail.start, cutoff, 0)
            .with_limit(tail.limit)
            .with_direction(Direction::Backward)
            .with_categorized_labels(tail.categorize);
        let backfill = match evaluate(&state, &headers, &tail.query, params).await {
            Ok((QueryResult::Streams(mut streams), _)) => {
                for s in &mut streams {
                    s.entries.reverse();
                    for e in &s.entries {
                        seen.insert((s.labels.clone(), e.timestamp, e.line.clone()));
                    }
                }
                streams
            }
            Ok(_) => Vec::new(),
            Err(err) => {
                let _ = socket
                    .send(Message::Close(Some(axum::extract::ws::CloseFrame {
                        code: 1011,
                        reason: format!("{err:?}")
                            .chars()
                            .take(120)
                            .collect::<String>()
                            .into(),
                    })))
                    .await;
                return Err(format!("back-fill failed: {err:?}"));
            }
        };
        if !backfill.is_empty() {
            let mut message = serde_json::Map::new();
            message.insert("streams".to_owned(), streams_value(&backfill, tail.legacy));
            let message = finish_message(message, &tail).to_string();
            socket
                .send(Message::Text(message.into()))
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    let tenants = state.tenants(&headers).unwrap_or_default();
    let mut engine_limits = state.config.query_limits(&tenants);
    engine_limits.max_entries = usize::MAX;
    loop {
        let mut batch = tokio::select! {
            batch = subscription.recv() => batch,
            message = socket.recv() => match message {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Ok(()),
                Some(Ok(_)) => continue,
            },
        };
        if !tail.delay.is_zero() {
            tokio::time::sleep(tail.delay).await;
            if let Some(more) = subscription.try_recv() {
                batch.streams.extend(more.streams);
                batch.dropped.extend(more.dropped);
                batch.dropped_count += more.dropped_count;
            }
        }
        let message = evaluate_batch(&tail, &batch, &engine_limits, &mut seen, cutoff).await;
        if let Some(message) = message {
            socket
                .send(Message::Text(message.to_string().into()))
                .await
                .map_err(|e| e.to_string())?;
        }
    }
}

/// Streams as v1 (`stream` and `values`) or legacy (`labels` and `entries`).
fn streams_value(streams: &[Stream], legacy: bool) -> Value {
    if !legacy {
        return json!(streams);
    }
    streams
        .iter()
        .map(|s| {
            let entries: Vec<Value> = s
                .entries
                .iter()
                .map(|e| json!({ "ts": rfc3339_nano(e.timestamp), "line": e.line }))
                .collect();
            json!({ "labels": s.labels.to_string(), "entries": entries })
        })
        .collect()
}

/// A dropped entry: v1 (labels object, timestamp in ns) or legacy (labels
/// text, RFC 3339 timestamp).
fn dropped_value(d: &DroppedEntry, legacy: bool) -> Value {
    if legacy {
        let labels = label_set(&d.labels)
            .map(|l| l.to_string())
            .unwrap_or_default();
        return json!({ "labels": labels, "timestamp": rfc3339_nano(d.timestamp) });
    }
    let labels: serde_json::Map<String, Value> = d
        .labels
        .iter()
        .map(|(n, v)| (n.to_owned(), Value::String(v.to_owned())))
        .collect();
    json!({ "labels": labels, "timestamp": d.timestamp.to_string() })
}

/// `{a="b"}` text the LogQL label parser reads back to the same set.
fn label_set(labels: &Labels) -> Option<LabelSet> {
    let mut text = String::from("{");
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            text.push_str(", ");
        }
        text.push_str(name);
        text.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => text.push_str("\\\\"),
                '"' => text.push_str("\\\""),
                '\n' => text.push_str("\\n"),
                '\r' => text.push_str("\\r"),
                '\t' => text.push_str("\\t"),
                c => text.push(c),
            }
        }
        text.push('"');
    }
    text.push('}');
    loki_logql::parse_labels(&text).ok()
}

/// Runs one pushed batch through the query; the message to send, if any.
async fn evaluate_batch(
    tail: &Tail,
    batch: &TailBatch,
    limits: &loki_logql::Limits,
    seen: &mut Seen,
    cutoff: i64,
) -> Option<Value> {
    let expr = &tail.expr;
    let mut storage = MemoryStorage::new();
    let (mut from, mut through, mut total) = (i64::MAX, i64::MIN, 0usize);
    for stream in &batch.streams {
        let Some(labels) = label_set(&stream.labels) else {
            continue;
        };
        if !loki_logql::storage::matches_all(&expr.selector.matchers, &labels) {
            continue;
        }
        for e in &stream.entries {
            let metadata: Vec<(&str, &str)> =
                e.metadata.iter().map(|(n, v)| (&**n, &**v)).collect();
            storage.push_with_metadata(&labels, e.timestamp, &e.line, &metadata);
            from = from.min(e.timestamp);
            through = through.max(e.timestamp);
            total += 1;
        }
    }
    let mut streams = Vec::new();
    if total > 0 {
        let params = QueryParams::range(from, through.saturating_add(1), 0)
            .with_limit(total)
            .with_direction(Direction::Forward)
            .with_categorized_labels(tail.categorize);
        let engine = Engine::new(storage).with_limits(limits.clone());
        match engine.eval(&Expr::Log(expr.clone()), &params).await {
            Ok(QueryResult::Streams(result)) => streams = result,
            Ok(_) => {}
            Err(err) => tracing::debug!(error = %err, "tail batch failed"),
        }
        for s in &mut streams {
            s.entries.retain(|e| {
                e.timestamp >= cutoff
                    || !seen.remove(&(s.labels.clone(), e.timestamp, e.line.clone()))
            });
        }
        streams.retain(|s| !s.entries.is_empty());
    }
    let dropped: Vec<Value> = batch
        .dropped
        .iter()
        .map(|d| dropped_value(d, tail.legacy))
        .collect();
    if streams.is_empty() && dropped.is_empty() {
        return None;
    }
    let mut message = serde_json::Map::new();
    if !streams.is_empty() {
        message.insert("streams".to_owned(), streams_value(&streams, tail.legacy));
    }
    if !dropped.is_empty() {
        message.insert("dropped_entries".to_owned(), Value::Array(dropped));
    }
    Some(finish_message(message, tail))
}

/// A tail message with `encodingFlags` last, as Loki writes it, when the
/// tail asked for categorized labels.
fn finish_message(mut message: serde_json::Map<String, Value>, tail: &Tail) -> Value {
    if tail.categorize {
        message.insert("encodingFlags".to_owned(), json!([CATEGORIZE_LABELS]));
    }
    Value::Object(message)
}
