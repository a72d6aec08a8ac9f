//! LogQL benchmarks (`cargo bench --bench logql`).
//!
//! - `logql/parse`: parse throughput over a mix of 20 realistic queries.
//!   Target: at least 200k queries/s on one core.
//! - `logql/eval/*`: evaluation over 1M generated corpus lines
//!   (`loki::corpus`), one core, through the public `Engine` over an
//!   in-memory storage that hands out pre-built batches (the clone of each
//!   batch is part of the measured time). Throughput is in bytes of line
//!   text; lines/s = bytes/s ÷ the mean line length printed at start.
//!   `raw_memmem` scans the same bytes with `memchr::memmem` alone, as the
//!   ceiling for the literal filter. Each query runs as
//!   `sum(count_over_time(<query> [everything]))`, so every line goes
//!   through the pipeline; parser queries end in `| keep level` (or
//!   `method`) so that per-line ids do not make a million series.
//!
//! A summary then reports every evaluation case as MB per CPU-second of
//! the evaluating thread (`/proc/thread-self/schedstat`), which holds
//! when other processes share the cores. With
//!   `keep`, parsers only add the labels that can still be seen (parser
//!   hints, as in Loki); `json_all_labels` puts a `label_format` first,
//!   which turns the hints off, so every member becomes a label.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, Criterion, Throughput};
use futures::executor::block_on;
use futures::stream::{self, BoxStream, StreamExt};
use loki::corpus::{Corpus, LineKind};
use loki::logql::{
    self, Engine, EntryBatch, QueryParams, QueryResult, SelectRequest, Storage, StorageError,
};

const QUERIES: [&str; 20] = [
    r#"{app="api"}"#,
    r#"{app="api", env="prod"} |= "error""#,
    r#"{namespace="prod", container=~"api|web"} |= "panic" != "test""#,
    r#"{job="nginx"} | json | status >= 500"#,
    r#"{job="nginx"} | logfmt | level="error" or level="warn""#,
    r#"{app="api"} | json | line_format "{{.method}} {{.path}} {{.status}}""#,
    r#"{app="api"} |~ "timeout|deadline" | json | duration > 1.5s"#,
    r#"{job="nginx"} | pattern "<ip> - - [<_>] \"<method> <uri> <_>\" <status> <size>""#,
    r#"count_over_time({app="api"} |= "error" [5m])"#,
    r#"rate({app="api"}[1m])"#,
    r#"sum by (status) (rate({job="nginx"} | json [5m]))"#,
    r#"sum(rate({app="api"} |= "error" [5m])) / sum(rate({app="api"}[5m]))"#,
    r#"topk(10, sum by (uri) (rate({job="nginx"} | json | status >= 500 [5m])))"#,
    r#"quantile_over_time(0.99, {app="api"} | json | unwrap duration(latency) | __error__="" [5m]) by (path)"#,
    r#"avg_over_time({cluster="eu"} | logfmt | unwrap request_time [1m]) by (route)"#,
    r#"sum_over_time({app="api"} | json | unwrap bytes(size) [1h] offset 1d)"#,
    r#"sum by (pod) (count_over_time({app="api"} | json | level="error" [10m])) > 3"#,
    r#"label_replace(sum by (src) (rate({a="b"}[1m])), "dst", "$1", "src", "api-(.*)")"#,
    r#"{app="auth"} |= ip("10.0.0.0/8") | json | user != "" | label_format u=user | drop password"#,
    r#"max by (instance) (max_over_time({job="db"} | regexp "took (?P<ms>\\d+)ms" | unwrap ms [1m]))"#,
];

fn parse(c: &mut Criterion) {
    for q in QUERIES {
        logql::parse(q).unwrap_or_else(|e| panic!("{e}"));
    }
    let mut group = c.benchmark_group("logql/parse");
    group.throughput(Throughput::Elements(QUERIES.len() as u64));
    group.bench_function("mix20", |b| {
        b.iter(|| {
            for q in QUERIES {
                black_box(logql::parse(black_box(q)).ok());
            }
        })
    });
    group.finish();
}

/// Pre-built batches of one stream, each cloned as the evaluator pulls it.
#[derive(Debug)]
struct Batches(Arc<Vec<EntryBatch>>);

impl Storage for Batches {
    fn select(&self, req: &SelectRequest) -> BoxStream<'static, Result<EntryBatch, StorageError>> {
        let all = self.0.clone();
        let (start, end) = (req.start, req.end);
        let n = all.len();
        stream::iter((0..n).filter_map(move |i| {
            let b = &all[i];
            let inside = b.timestamps.last().is_some_and(|&t| t >= start) && b.timestamps[0] < end;
            inside.then(|| Ok(b.clone()))
        }))
        .boxed()
    }
}

const LINES: usize = 1_000_000;

fn corpus(kind: Option<LineKind>) -> (Batches, u64, i64, i64) {
    let mut c = match kind {
        Some(k) => Corpus::of_kind(7, k),
        None => Corpus::new(7),
    };
    let labels = Arc::new(logql::parse_labels(r#"{job="bench", env="prod"}"#).unwrap());
    let mut batches = Vec::new();
    let mut b = EntryBatch::new(labels.clone());
    let mut line = String::new();
    let mut bytes = 0u64;
    let mut first = 0;
    let mut last = 0;
    for i in 0..LINES {
        let ts = c.next_into(&mut line);
        if i == 0 {
            first = ts;
        }
        last = ts;
        bytes += line.len() as u64;
        b.push(ts, &line, &[]);
        if b.len() == 1024 {
            batches.push(std::mem::replace(&mut b, EntryBatch::new(labels.clone())));
        }
    }
    if !b.is_empty() {
        batches.push(b);
    }
    (Batches(Arc::new(batches)), bytes, first, last)
}

/// `count_over_time(<q> [range])` over everything, as one instant query.
fn count_all(q: &str, first: i64, last: i64) -> (String, QueryParams) {
    let range_s = (last - first) / 1_000_000_000 + 2;
    (
        format!("sum(count_over_time({q} [{range_s}s]))"),
        QueryParams::instant(last + 1),
    )
}

fn eval_group(c: &mut Criterion, name: &str, kind: Option<LineKind>, queries: &[(&str, &str)]) {
    let (store, bytes, first, last) = corpus(kind);
    eprintln!(
        "logql/eval/{name}: {LINES} lines, {bytes} bytes, mean line {:.1} bytes",
        bytes as f64 / LINES as f64
    );
    let engine = Engine::new(store);
    let mut group = c.benchmark_group(format!("logql/eval/{name}"));
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes));
    for (id, q) in queries {
        let (query, params) = case(q, first, last);
        let r = block_on(engine.query(&query, &params)).unwrap_or_else(|e| panic!("{query}: {e}"));
        if let QueryResult::Vector(v) = &r {
            eprintln!(
                "  {id}: {query} -> {:?}",
                v.first().map(|s| s.samples[0].value)
            );
        }
        group.bench_function(*id, |b| {
            b.iter(|| black_box(block_on(engine.query(&query, &params)).ok()))
        });
    }
    if name == "mixed" {
        let finder = memchr::memmem::Finder::new("payment authorised");
        let store = engine.storage();
        group.bench_function("raw_memmem", |b| {
            b.iter(|| {
                let mut n = 0usize;
                for batch in store.0.iter() {
                    let data = batch.line_data.as_bytes();
                    let mut start = 0;
                    for &end in &batch.line_ends {
                        n += usize::from(finder.find(&data[start..end]).is_some());
                        start = end;
                    }
                }
                black_box(n)
            })
        });
    }
    group.finish();
}

/// The evaluation cases: group, line kind, and `(id, query)` pairs.
type Group = (
    &'static str,
    Option<LineKind>,
    &'static [(&'static str, &'static str)],
);

const GROUPS: [Group; 4] = [
    (
        "mixed",
        None,
        &[
            ("literal", r#"{job="bench"} |= "payment authorised""#),
            (
                "regex",
                r#"{job="bench"} |~ `status=5\d\d|connection reset`"#,
            ),
            (
                "line_format",
                r#"{job="bench"} | line_format "{{.env}} {{__line__}}""#,
            ),
        ],
    ),
    (
        "json",
        Some(LineKind::Json),
        &[
            ("json", r#"{job="bench"} | json | keep level"#),
            (
                "json_all_labels",
                r#"{job="bench"} | json | label_format lvl=level | keep lvl"#,
            ),
            ("json_level", r#"{job="bench"} | json level"#),
        ],
    ),
    (
        "logfmt",
        Some(LineKind::Logfmt),
        &[
            ("logfmt", r#"{job="bench"} | logfmt | keep level"#),
            (
                "logfmt_status",
                r#"{job="bench"} | logfmt | status >= 500 | keep level"#,
            ),
            (
                "sum_by_count_5m",
                r#"sum by (level) (count_over_time({job="bench"} | logfmt level [5m]))"#,
            ),
        ],
    ),
    (
        "nginx",
        Some(LineKind::Nginx),
        &[(
            "pattern",
            r#"{job="bench"} | pattern "<ip> - - [<_>] \"<method> <path> <_>\" <status> <size> <_>" | keep method"#,
        )],
    ),
];

fn eval(c: &mut Criterion) {
    for (name, kind, queries) in GROUPS {
        eval_group(c, name, kind, queries);
    }
}

/// The query and parameters a case runs with.
fn case(q: &str, first: i64, last: i64) -> (String, QueryParams) {
    if q.starts_with("sum by") {
        let step = 300_000_000_000;
        let start = first - first.rem_euclid(step) + step;
        (q.to_string(), QueryParams::range(start, last + step, step))
    } else {
        count_all(q, first, last)
    }
}

/// CPU time of the calling thread, from `/proc/thread-self/schedstat`
/// (nanoseconds on CPU), so the figure holds on a shared machine.
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e9)
}

/// Per-core throughput of every case, as MB of line text per CPU-second
/// of the evaluating thread (three runs after a warm-up).
fn summary(filter: Option<&str>) {
    if thread_cpu_seconds().is_none() {
        return;
    }
    println!("\nlogql summary: MB of line text per CPU-second of the evaluating thread");
    for (name, kind, queries) in GROUPS {
        let wanted: Vec<&(&str, &str)> = queries
            .iter()
            .filter(|(id, _)| filter.is_none_or(|f| format!("logql/eval/{name}/{id}").contains(f)))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let (store, bytes, first, last) = corpus(kind);
        let engine = Engine::new(store);
        for (id, q) in wanted {
            let (query, params) = case(q, first, last);
            black_box(block_on(engine.query(&query, &params)).ok());
            let before = thread_cpu_seconds().unwrap_or(0.0);
            for _ in 0..3 {
                black_box(block_on(engine.query(&query, &params)).ok());
            }
            let cpu = (thread_cpu_seconds().unwrap_or(0.0) - before).max(1e-9);
            let mb = 3.0 * bytes as f64 / 1e6;
            println!(
                "  {name}/{id}: {:.0} MB/s per core ({:.2} M lines/s)",
                mb / cpu,
                3.0 * LINES as f64 / 1e6 / cpu
            );
        }
    }
}

criterion_group!(benches, parse, eval);

fn main() {
    benches();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--test" || a == "--list") {
        let filter = args
            .iter()
            .find(|a| !a.starts_with('-'))
            .map(String::as_str);
        summary(filter);
    }
    Criterion::default().configure_from_args().final_summary();
}
