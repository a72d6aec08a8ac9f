//! Golden cases: a small fixed data set (nginx, JSON, logfmt and a few
//! special streams) and queries with results worked out by hand from
//! Loki's documented semantics, in `tests/golden/cases.txt`.
//!
//! Case format (blank-line separated):
//!
//! ```text
//! # comment
//! > query
//! @ params          (log START END [limit N] [interval SECS] [forward] | instant T | range START END STEP; seconds)
//! expected output, one line per stream entry / series / scalar
//! ```
//!
//! Streams render as the label set, then one `  <seconds> <line>` line per
//! entry (ESC as `\e`); vectors as `<labels> <value>`; matrices as
//! `<labels> <t>:<v> …`; scalars as `scalar <v>`; errors as
//! `error: <message prefix>`.

use futures::executor::block_on;
use futures::stream::BoxStream;
use loki_logql::{
    parse_labels, Direction, Engine, EntryBatch, MemoryStorage, QueryParams, QueryResult,
    SelectRequest, Storage, StorageError,
};

const S: i64 = 1_000_000_000;

/// The data set every case runs against.
pub fn dataset(batch_size: usize) -> MemoryStorage {
    let mut s = MemoryStorage::new().with_batch_size(batch_size);
    let mut add = |labels: &str, entries: &[(i64, &str)]| {
        let l = parse_labels(labels).unwrap();
        for (t, line) in entries {
            s.push(&l, t * S, line);
        }
    };
    add(
        r#"{app="nginx", env="prod"}"#,
        &[
            (
                10,
                r#"192.168.1.1 - - [14/Nov/2023:22:13:20 +0000] "GET /api/users HTTP/1.1" 200 512 0.010"#,
            ),
            (
                20,
                r#"10.0.0.5 - - [14/Nov/2023:22:13:30 +0000] "POST /api/orders HTTP/1.1" 500 128 1.500"#,
            ),
            (
                30,
                r#"10.0.0.7 - - [14/Nov/2023:22:13:40 +0000] "GET /health HTTP/1.1" 200 2 0.001"#,
            ),
            (
                40,
                r#"192.168.1.9 - - [14/Nov/2023:22:13:50 +0000] "GET /api/users HTTP/1.1" 404 64 0.020"#,
            ),
            (
                50,
                r#"10.1.2.3 - - [14/Nov/2023:22:14:00 +0000] "PUT /api/cart HTTP/1.1" 503 0 2.250"#,
            ),
        ],
    );
    add(
        r#"{app="api", env="prod"}"#,
        &[
            (
                10,
                r#"{"level":"info","msg":"request done","status":200,"latency":"120ms","user":{"id":7,"name":"ann"},"tags":["a","b"],"size":"1KB"}"#,
            ),
            (
                20,
                r#"{"level":"error","msg":"db timeout","status":500,"latency":"1.5s","user":{"id":8,"name":"bob"},"size":"2KiB"}"#,
            ),
            (
                30,
                r#"{"level":"warn","msg":"slow \"query\"","status":200,"latency":"750ms","user":{"id":7,"name":"ann"},"size":"512B"}"#,
            ),
            (40, "panic: runtime error"),
            (
                50,
                r#"{"level":"info","msg":"ok","status":201,"latency":"30ms","app":"shadow","size":"0B","extra":null}"#,
            ),
        ],
    );
    add(
        r#"{app="worker", env="dev"}"#,
        &[
            (
                15,
                r#"level=info msg="job started" job=build duration=2s count=3"#,
            ),
            (
                25,
                r#"level=error msg="job failed" job=build duration=45s count=0 err="exit 1""#,
            ),
            (
                35,
                r#"level=info msg="job started" job=test duration=500ms count=7"#,
            ),
            (45, "level=debug msg=heartbeat"),
            (
                55,
                r#"level=info job=deploy duration=1m30s count=12 broken="unterminated"#,
            ),
        ],
    );
    add(
        r#"{app="kv", env="dev"}"#,
        &[(10, r#"a=1 b= c d="x y" app=other 1x=5 my.key=v"#)],
    );
    add(
        r#"{app="packed", env="dev"}"#,
        &[
            (10, r#"{"_entry":"inner line one","pod":"p1","count":3}"#),
            (20, r#"{"_entry":"inner two","app":"x"}"#),
            (30, "not json"),
        ],
    );
    add(
        r#"{app="metrics", env="dev"}"#,
        &[
            (10, "requests=10"),
            (20, "requests=20"),
            (30, "requests=35"),
            (40, "requests=5"),
            (50, "requests=15"),
        ],
    );
    let color = parse_labels(r#"{app="color", env="dev"}"#).unwrap();
    s.push_with_metadata(
        &color,
        12 * S,
        "\u{1b}[31mERROR\u{1b}[0m disk full",
        &[("trace_id", "t1")],
    );
    s.push(&color, 22 * S, "\u{1b}[32mINFO\u{1b}[0m all good");
    s
}

fn fmt_secs(ns: i64) -> String {
    let s = ns as f64 / 1e9;
    format!("{s}")
}

fn fmt_val(v: f64) -> String {
    serde_json::to_value(loki_logql::QueryResult::Scalar(loki_logql::Sample {
        timestamp: 0,
        value: v,
    }))
    .unwrap()["result"][1]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Renders a result in the cases' text form.
pub fn render(r: &Result<QueryResult, loki_logql::Error>) -> Vec<String> {
    let mut out = Vec::new();
    match r {
        Err(e) => out.push(format!("error: {e}")),
        Ok(QueryResult::Streams(st)) => {
            for s in st {
                out.push(s.labels.to_string());
                for e in &s.entries {
                    let line = e.line.replace('\u{1b}', "\\e").replace('\n', "\\n");
                    out.push(format!("  {} {line}", fmt_secs(e.timestamp)));
                }
            }
        }
        Ok(QueryResult::Vector(v)) => {
            for s in v {
                out.push(format!("{} {}", s.labels, fmt_val(s.samples[0].value)));
            }
        }
        Ok(QueryResult::Matrix(m)) => {
            for s in m {
                let pts: Vec<String> = s
                    .samples
                    .iter()
                    .map(|p| format!("{}:{}", fmt_secs(p.timestamp), fmt_val(p.value)))
                    .collect();
                out.push(format!("{} {}", s.labels, pts.join(" ")));
            }
        }
        Ok(QueryResult::Scalar(p)) => out.push(format!("scalar {}", fmt_val(p.value))),
    }
    out
}

fn params(spec: &str) -> QueryParams {
    let w: Vec<&str> = spec.split_whitespace().collect();
    let n = |i: usize| w[i].parse::<i64>().unwrap() * S;
    match w[0] {
        "instant" => QueryParams::instant(n(1)),
        "range" => QueryParams::range(n(1), n(2), n(3)),
        "log" => {
            let mut p = QueryParams::range(n(1), n(2), 0);
            let mut i = 3;
            while i < w.len() {
                match w[i] {
                    "limit" => {
                        p = p.with_limit(w[i + 1].parse().unwrap());
                        i += 1;
                    }
                    "interval" => {
                        p = p.with_interval(n(i + 1));
                        i += 1;
                    }
                    "forward" => p = p.with_direction(Direction::Forward),
                    other => panic!("bad param {other}"),
                }
                i += 1;
            }
            p
        }
        other => panic!("bad params {other}"),
    }
}

struct Case {
    query: String,
    params: String,
    expected: Vec<String>,
    line: usize,
}

fn cases() -> Vec<Case> {
    let text = include_str!("golden/cases.txt");
    let mut out = Vec::new();
    let mut cur: Option<Case> = None;
    for (i, line) in text.lines().enumerate() {
        if let Some(q) = line.strip_prefix("> ") {
            if let Some(c) = cur.take() {
                out.push(c);
            }
            cur = Some(Case {
                query: q.to_owned(),
                params: String::new(),
                expected: Vec::new(),
                line: i + 1,
            });
        } else if let Some(p) = line.strip_prefix("@ ") {
            cur.as_mut().expect("params after a query").params = p.to_owned();
        } else if line.starts_with('#') || line.trim().is_empty() {
            continue;
        } else {
            cur.as_mut()
                .expect("output after a query")
                .expected
                .push(line.to_owned());
        }
    }
    out.extend(cur);
    out
}

/// A storage that implements only `select`, so metric queries eligible
/// for the sample pushdown go through the seam's default
/// `select_samples`.
#[derive(Debug)]
struct SelectOnly(MemoryStorage);

impl Storage for SelectOnly {
    fn select(&self, req: &SelectRequest) -> BoxStream<'static, Result<EntryBatch, StorageError>> {
        self.0.select(req)
    }
}

/// How the cases are run: each must give the same answer.
#[derive(Clone, Copy)]
enum Path {
    /// `MemoryStorage`'s own sample selection.
    Samples,
    /// The seam's default sample selection over `select`.
    DefaultSamples,
    /// No sample pushdown: every metric query reads entries.
    Entries,
}

fn run_all(batch_size: usize, path: Path) {
    let storage: Box<dyn Storage> = match path {
        Path::DefaultSamples => Box::new(SelectOnly(dataset(batch_size))),
        _ => Box::new(dataset(batch_size)),
    };
    let engine = Engine::new(storage).with_sample_pushdown(!matches!(path, Path::Entries));
    let all = cases();
    assert!(all.len() >= 150, "only {} cases", all.len());
    let mut failures = Vec::new();
    for c in &all {
        let got = render(&block_on(engine.query(&c.query, &params(&c.params))));
        let ok = if let [one] = c.expected.as_slice() {
            if let Some(prefix) = one.strip_prefix("error: ") {
                got.len() == 1 && got[0].starts_with(&format!("error: {prefix}"))
            } else {
                got == c.expected
            }
        } else {
            got == c.expected
        };
        if !ok {
            failures.push(format!(
                "line {}: {}\n  want:\n    {}\n  got:\n    {}",
                c.line,
                c.query,
                c.expected.join("\n    "),
                got.join("\n    ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden cases failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

#[test]
fn golden_cases() {
    run_all(1024, Path::Samples);
}

#[test]
fn golden_cases_with_tiny_batches() {
    run_all(1, Path::Samples);
}

#[test]
fn golden_cases_through_default_sample_selection() {
    run_all(1024, Path::DefaultSamples);
    run_all(1, Path::DefaultSamples);
}

#[test]
fn golden_cases_without_sample_pushdown() {
    run_all(1024, Path::Entries);
    run_all(1, Path::Entries);
}
