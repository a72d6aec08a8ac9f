//! A load generator for Loki's HTTP API:
//! `cargo run --release --example loadgen -- --url http://127.0.0.1:3100 …`.
//!
//! **Push mode** (the default) sends the workspace's generated corpus
//! ([`loki::corpus`]: nginx, JSON, logfmt and syslog lines under realistic
//! Kubernetes-style labels) through `POST /loki/api/v1/push`, as protobuf +
//! snappy like Promtail and Grafana Alloy, or as JSON (`--format json`).
//! Each of `--connections` workers owns one HTTP/1.1 connection and a
//! disjoint share of the streams; entries are stamped with the wall clock
//! (strictly increasing within a stream), as an agent stamps what it reads.
//! A failed push (429, 5xx, connection lost) is retried with backoff, as
//! agents do; the server drops the duplicates a retry may cause.
//!
//! It reports lines/s, MB/s of raw line bytes, push latency percentiles and
//! errors by status; with `--server-pid`, the server's CPU seconds (from
//! `/proc/<pid>/stat`), MB of lines per server CPU-second and peak RSS
//! (`VmHWM`). With `--ack-log FILE` it records every acknowledged entry
//! (204 responses only), so a test can check that nothing acknowledged
//! was lost.
//!
//! **Query mode** (`--query`) runs a fixed mix of log and metric queries
//! against the corpus' labels for `--duration` and reports latency
//! percentiles per kind of query.
//!
//! | flag | default | meaning |
//! |---|---|---|
//! | `--url` | `http://127.0.0.1:3100` | the server |
//! | `--connections` | 4 | concurrent connections |
//! | `--batch-bytes` | `1MiB` | raw line bytes per push (Promtail's `batchsize`) |
//! | `--bytes` | | stop after this many raw line bytes (`2GB`, `500MiB`) |
//! | `--duration` | `30s` when `--bytes` is absent | stop after this long |
//! | `--tenant` | none (no `X-Scope-OrgID`) | tenant of every push and query |
//! | `--tenants` | 1 | spread streams over `<tenant>-0` … `<tenant>-<n-1>` (`loadgen-…` without `--tenant`); queries read them all |
//! | `--streams` | 200 | distinct streams |
//! | `--format` | `protobuf` | `protobuf` (snappy) or `json` |
//! | `--seed` | 1 | corpus seed |
//! | `--metadata` | | give every entry structured metadata, as OpenTelemetry agents do: a `trace_id` and `span_id` new for each entry and a `service_version` |
//! | `--max-retries` | 30 | retries of one push before it is dropped |
//! | `--ack-log` | | file of acknowledged entries (see below) |
//! | `--server-pid` | | the server process, for CPU and memory figures |
//! | `--query` | | query mode |
//! | `--since` | `1h` | query mode: how far back queries look |
//!
//! The ack log is tab-separated text: `S <id> <tenant> <labels>` declares a
//! stream once, then `E <id> <timestamp ns> <xxh64 of the line, hex>` is
//! one acknowledged entry.
//!
//! The HTTP client is hyper's own connection API (`hyper::client::conn`),
//! over the hyper the server already runs on: it adds no HTTP stack, needs
//! no TLS for a local benchmark, and one explicit connection per worker
//! makes `--connections` exact, which a pooling client would not promise.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use loki::corpus::{Corpus, LineKind, StreamSpec};
use loki::server::proto::{EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp};

/// Command-line settings.
#[derive(Debug, Clone)]
struct Options {
    url: String,
    connections: usize,
    batch_bytes: u64,
    bytes: Option<u64>,
    duration: Option<Duration>,
    tenant: Option<String>,
    tenants: usize,
    streams: usize,
    json: bool,
    metadata: bool,
    seed: u64,
    max_retries: u32,
    ack_log: Option<String>,
    server_pid: Option<u32>,
    query: bool,
    since: Duration,
}

fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 2GB, 512MiB, 1000000)"))?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("unknown size unit {other:?} in {text:?}")),
    };
    Ok((number * scale) as u64)
}

const USAGE: &str = "usage: loadgen [--url URL] [--connections N] [--batch-bytes SIZE] \
[--bytes SIZE | --duration DUR] [--tenant T] [--tenants N] [--streams N] \
[--format protobuf|json] [--metadata] [--seed N] [--max-retries N] [--ack-log FILE] \
[--server-pid PID] [--query [--since DUR]]";

fn options() -> Result<Options, String> {
    let mut o = Options {
        url: "http://127.0.0.1:3100".to_owned(),
        connections: 4,
        batch_bytes: 1 << 20,
        bytes: None,
        duration: None,
        tenant: None,
        tenants: 1,
        streams: 200,
        json: false,
        metadata: false,
        seed: 1,
        max_retries: 30,
        ack_log: None,
        server_pid: None,
        query: false,
        since: Duration::from_secs(3600),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        if name == "--query" {
            o.query = true;
            continue;
        }
        if name == "--metadata" {
            o.metadata = true;
            continue;
        }
        if name == "--help" || name == "-h" {
            return Err(USAGE.to_owned());
        }
        let value = match inline {
            Some(v) => v,
            None => args
                .next()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))?,
        };
        let number = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{name}: {v:?} is not a number"))
        };
        let duration =
            |v: &str| humantime::parse_duration(v).map_err(|e| format!("{name}: {v:?}: {e}"));
        match name.as_str() {
            "--url" => o.url = value.trim_end_matches('/').to_owned(),
            "--connections" => o.connections = number(&value)?.max(1) as usize,
            "--batch-bytes" => o.batch_bytes = parse_bytes(&value)?.max(1),
            "--bytes" => o.bytes = Some(parse_bytes(&value)?),
            "--duration" => o.duration = Some(duration(&value)?),
            "--tenant" => o.tenant = Some(value),
            "--tenants" => o.tenants = number(&value)?.max(1) as usize,
            "--streams" => o.streams = number(&value)?.max(1) as usize,
            "--format" => {
                o.json = match value.as_str() {
                    "json" => true,
                    "protobuf" | "proto" => false,
                    other => return Err(format!("--format: {other:?} is not protobuf or json")),
                }
            }
            "--seed" => o.seed = number(&value)?,
            "--max-retries" => o.max_retries = number(&value)?.min(u64::from(u32::MAX)) as u32,
            "--ack-log" => o.ack_log = Some(value),
            "--server-pid" => {
                o.server_pid = Some(
                    value
                        .parse()
                        .map_err(|_| format!("--server-pid: {value:?} is not a pid"))?,
                )
            }
            "--since" => o.since = duration(&value)?,
            other => return Err(format!("unknown flag {other:?}\n{USAGE}")),
        }
    }
    if o.tenants > 1 && o.tenant.is_none() {
        o.tenant = Some("loadgen".to_owned());
    }
    if o.bytes.is_none() && o.duration.is_none() {
        o.duration = Some(Duration::from_secs(30));
    }
    Ok(o)
}

/// The parts of `--url`.
#[derive(Debug, Clone)]
struct Target {
    host_port: String,
    authority: String,
    base_path: String,
}

fn target(url: &str) -> Result<Target, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("--url {url:?}: only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(format!("--url {url:?} has no host"));
    }
    // A port is whatever follows the last ':' outside an IPv6 literal.
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()));
    let host_port = if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok(Target {
        host_port,
        authority: authority.to_owned(),
        base_path: path.trim_end_matches('/').to_owned(),
    })
}

/// One HTTP/1.1 connection, reopened after a failure.
struct Connection {
    target: Target,
    sender: Option<SendRequest<Full<Bytes>>>,
}

/// What a request came back with.
enum Outcome {
    Status(u16, Bytes),
    Failed(String),
}

impl Connection {
    fn new(target: Target) -> Connection {
        Connection {
            target,
            sender: None,
        }
    }

    async fn open(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, String> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let stream = tokio::net::TcpStream::connect(&self.target.host_port)
                .await
                .map_err(|e| format!("connect: {}", e.kind()))?;
            let _ = stream.set_nodelay(true);
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("handshake: {e}"))?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            self.sender = Some(sender);
        }
        self.sender
            .as_mut()
            .ok_or_else(|| "no connection".to_owned())
    }

    async fn send(
        &mut self,
        method: hyper::Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Outcome {
        let uri = format!("{}{path_and_query}", self.target.base_path);
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(uri)
            .header("host", &self.target.authority);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = match builder.body(Full::new(body)) {
            Ok(r) => r,
            Err(e) => return Outcome::Failed(format!("request: {e}")),
        };
        let sender = match self.open().await {
            Ok(s) => s,
            Err(e) => return Outcome::Failed(e),
        };
        if sender.ready().await.is_err() {
            self.sender = None;
            return Outcome::Failed("connection closed".to_owned());
        }
        let result = async {
            let response = sender.send_request(request).await?;
            let status = response.status().as_u16();
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>((status, body))
        }
        .await;
        match result {
            Ok((status, body)) => Outcome::Status(status, body),
            Err(e) => {
                self.sender = None;
                let kind = if e.is_incomplete_message() {
                    "connection closed mid-response"
                } else if e.is_canceled() {
                    "request canceled"
                } else {
                    "connection error"
                };
                Outcome::Failed(kind.to_owned())
            }
        }
    }
}

/// A stream a worker pushes to.
struct StreamState {
    id: usize,
    labels: String,
    kind: LineKind,
    last_ts: i64,
}

/// The streams of one tenant within one worker.
struct Group {
    tenant: Option<String>,
    streams: Vec<StreamState>,
    cursor: usize,
}

/// Figures shared by the workers.
#[derive(Default)]
struct Totals {
    bytes_reserved: AtomicU64,
    lines: AtomicU64,
    bytes: AtomicU64,
    pushes: AtomicU64,
    dropped_batches: AtomicU64,
    stop: AtomicBool,
}

#[derive(Default)]
struct WorkerReport {
    latencies: Vec<Duration>,
    errors: BTreeMap<String, u64>,
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// One batch: per stream index within the group, its entries.
type Batch = Vec<(usize, Vec<(i64, String)>)>;

fn fill_batch(
    group: &mut Group,
    corpora: &mut HashMap<LineKind, Corpus>,
    batch_bytes: u64,
) -> (Batch, u64) {
    const LINES_PER_TURN: usize = 16;
    let mut batch: Batch = Vec::new();
    let mut bytes = 0u64;
    let mut line = String::new();
    while bytes < batch_bytes {
        let index = group.cursor % group.streams.len();
        group.cursor = group.cursor.wrapping_add(1);
        let stream = &mut group.streams[index];
        let corpus = corpora
            .get_mut(&stream.kind)
            .expect("a corpus for every kind");
        let mut entries = Vec::with_capacity(LINES_PER_TURN);
        for _ in 0..LINES_PER_TURN {
            corpus.next_into(&mut line);
            let ts = now_ns().max(stream.last_ts + 1);
            stream.last_ts = ts;
            bytes += line.len() as u64;
            entries.push((ts, line.clone()));
            if bytes >= batch_bytes {
                break;
            }
        }
        match batch.iter_mut().find(|(i, _)| *i == index) {
            Some((_, existing)) => existing.extend(entries),
            None => batch.push((index, entries)),
        }
    }
    (batch, bytes)
}

/// An entry's structured metadata with `--metadata`: what an
/// OpenTelemetry agent attaches, a trace and a span id new for every entry
/// and the service's version. Derived from the stream and timestamp, so
/// every encoding of the entry carries the same.
fn entry_metadata(stream: usize, ts: i64) -> [(&'static str, String); 3] {
    let mix = |mut x: u64| {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    };
    let seed = mix(ts as u64 ^ ((stream as u64) << 48));
    [
        ("trace_id", format!("{seed:016x}{:016x}", mix(seed))),
        ("span_id", format!("{:016x}", mix(seed ^ 1))),
        ("service_version", "1.4.2".to_owned()),
    ]
}

fn encode_protobuf(group: &Group, batch: &Batch, metadata: bool) -> Bytes {
    let request = PushRequest {
        streams: batch
            .iter()
            .map(|(index, entries)| StreamAdapter {
                labels: group.streams[*index].labels.clone(),
                entries: entries
                    .iter()
                    .map(|(ts, line)| EntryAdapter {
                        timestamp: Some(Timestamp::from_unix_nanos(*ts)),
                        line: line.clone(),
                        structured_metadata: if metadata {
                            entry_metadata(group.streams[*index].id, *ts)
                                .into_iter()
                                .map(|(name, value)| LabelPairAdapter {
                                    name: name.to_owned(),
                                    value,
                                })
                                .collect()
                        } else {
                            Vec::new()
                        },
                    })
                    .collect(),
                hash: 0,
            })
            .collect(),
    };
    Bytes::from(request.encode_snappy())
}

fn encode_json(group: &Group, batch: &Batch, specs: &[StreamSpec], metadata: bool) -> Bytes {
    let mut out = Vec::with_capacity(1 << 20);
    out.extend_from_slice(b"{\"streams\":[");
    for (n, (index, entries)) in batch.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        let spec = &specs[group.streams[*index].id];
        let labels: serde_json::Map<String, serde_json::Value> = spec
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        out.extend_from_slice(b"{\"stream\":");
        let _ = serde_json::to_writer(&mut out, &labels);
        out.extend_from_slice(b",\"values\":[");
        for (m, (ts, line)) in entries.iter().enumerate() {
            if m > 0 {
                out.push(b',');
            }
            let _ = write!(out, "[\"{ts}\",");
            let _ = serde_json::to_writer(&mut out, line);
            if metadata {
                let pairs: serde_json::Map<String, serde_json::Value> =
                    entry_metadata(group.streams[*index].id, *ts)
                        .into_iter()
                        .map(|(name, value)| (name.to_owned(), serde_json::Value::String(value)))
                        .collect();
                out.push(b',');
                let _ = serde_json::to_writer(&mut out, &pairs);
            }
            out.push(b']');
        }
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"]}");
    Bytes::from(out)
}

/// The ack log: shared by the workers, one record per acknowledged entry.
struct AckLog {
    out: Mutex<std::io::BufWriter<std::fs::File>>,
    declared: Mutex<Vec<bool>>,
}

impl AckLog {
    fn record(&self, group: &Group, batch: &Batch) -> std::io::Result<()> {
        let mut text = String::new();
        {
            let mut declared = self.declared.lock().unwrap_or_else(|e| e.into_inner());
            for (index, _) in batch {
                let stream = &group.streams[*index];
                if !declared[stream.id] {
                    declared[stream.id] = true;
                    text.push_str(&format!(
                        "S\t{}\t{}\t{}\n",
                        stream.id,
                        group.tenant.as_deref().unwrap_or("fake"),
                        stream.labels
                    ));
                }
            }
        }
        for (index, entries) in batch {
            let id = group.streams[*index].id;
            for (ts, line) in entries {
                let hash = xxhash_rust::xxh64::xxh64(line.as_bytes(), 0);
                text.push_str(&format!("E\t{id}\t{ts}\t{hash:016x}\n"));
            }
        }
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        out.write_all(text.as_bytes())?;
        out.flush()
    }
}

struct Worker {
    connection: Connection,
    groups: Vec<Group>,
    corpora: HashMap<LineKind, Corpus>,
    options: Arc<Options>,
    specs: Arc<Vec<StreamSpec>>,
    totals: Arc<Totals>,
    ack_log: Option<Arc<AckLog>>,
    report: WorkerReport,
}

impl Worker {
    async fn run(mut self) -> WorkerReport {
        let mut turn = 0usize;
        while !self.totals.stop.load(Ordering::Relaxed) {
            let group_index = turn % self.groups.len();
            turn += 1;
            let (batch, bytes) = fill_batch(
                &mut self.groups[group_index],
                &mut self.corpora,
                self.options.batch_bytes,
            );
            if let Some(limit) = self.options.bytes {
                let before = self
                    .totals
                    .bytes_reserved
                    .fetch_add(bytes, Ordering::Relaxed);
                if before >= limit {
                    break;
                }
            }
            let group = &self.groups[group_index];
            let body = if self.options.json {
                encode_json(group, &batch, &self.specs, self.options.metadata)
            } else {
                encode_protobuf(group, &batch, self.options.metadata)
            };
            let content_type = if self.options.json {
                "application/json"
            } else {
                "application/x-protobuf"
            };
            let tenant = group.tenant.clone();
            let mut headers = vec![("content-type", content_type)];
            if let Some(t) = &tenant {
                headers.push(("x-scope-orgid", t.as_str()));
            }
            let mut backoff = Duration::from_millis(50);
            let mut attempt = 0u32;
            loop {
                let started = Instant::now();
                let outcome = self
                    .connection
                    .send(
                        hyper::Method::POST,
                        "/loki/api/v1/push",
                        &headers,
                        body.clone(),
                    )
                    .await;
                let elapsed = started.elapsed();
                let retry = match outcome {
                    Outcome::Status(status, _) if (200..300).contains(&status) => {
                        self.report.latencies.push(elapsed);
                        let lines: usize = batch.iter().map(|(_, e)| e.len()).sum();
                        self.totals.lines.fetch_add(lines as u64, Ordering::Relaxed);
                        self.totals.bytes.fetch_add(bytes, Ordering::Relaxed);
                        self.totals.pushes.fetch_add(1, Ordering::Relaxed);
                        if let Some(log) = &self.ack_log {
                            if let Err(e) = log.record(group, &batch) {
                                eprintln!("cannot write the ack log: {e}");
                                self.totals.stop.store(true, Ordering::Relaxed);
                            }
                        }
                        false
                    }
                    Outcome::Status(status, body) => {
                        let key = status.to_string();
                        let count = self.report.errors.entry(key).or_default();
                        *count += 1;
                        if *count == 1 {
                            let text = String::from_utf8_lossy(&body);
                            let first = text.lines().next().unwrap_or("");
                            eprintln!(
                                "push: {status} {}",
                                first.chars().take(200).collect::<String>()
                            );
                        }
                        status == 429 || status >= 500
                    }
                    Outcome::Failed(reason) => {
                        *self.report.errors.entry(reason).or_default() += 1;
                        true
                    }
                };
                if !retry {
                    break;
                }
                attempt += 1;
                if attempt > self.options.max_retries {
                    self.totals.dropped_batches.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
        self.report
    }
}

fn percentiles(mut latencies: Vec<Duration>) -> String {
    if latencies.is_empty() {
        return "no successful requests".to_owned();
    }
    latencies.sort();
    let at = |q: f64| {
        let i = ((latencies.len() as f64 - 1.0) * q).round() as usize;
        latencies[i.min(latencies.len() - 1)]
    };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} requests)",
        ms(at(0.5)),
        ms(at(0.9)),
        ms(at(0.99)),
        ms(at(1.0)),
        latencies.len()
    )
}

/// A process' CPU seconds and memory, from `/proc`.
#[derive(Debug, Clone, Copy)]
struct ProcessFigures {
    cpu_seconds: f64,
    rss_bytes: u64,
    peak_rss_bytes: u64,
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn process_figures(pid: &str, ticks: f64) -> Result<ProcessFigures, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // Fields after the parenthesised command name; utime and stime are
    // the 14th and 15th fields of the line.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| format!("/proc/{pid}/stat: unexpected format"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let cpu_seconds = (tick(11) + tick(12)) / ticks;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    Ok(ProcessFigures {
        cpu_seconds,
        rss_bytes: kb("VmRSS:"),
        peak_rss_bytes: kb("VmHWM:"),
    })
}

async fn push_mode(options: Options) -> Result<bool, String> {
    let target = target(&options.url)?;
    let mut corpus = Corpus::new(options.seed);
    let streams_wanted = options.streams.max(options.connections * options.tenants);
    let specs = Arc::new(corpus.streams(streams_wanted));
    let ack_log = match &options.ack_log {
        Some(path) => {
            let file = std::fs::File::create(path).map_err(|e| format!("--ack-log {path}: {e}"))?;
            Some(Arc::new(AckLog {
                out: Mutex::new(std::io::BufWriter::new(file)),
                declared: Mutex::new(vec![false; specs.len()]),
            }))
        }
        None => None,
    };
    let tenant_names: Vec<Option<String>> = (0..options.tenants)
        .map(|t| match (&options.tenant, options.tenants) {
            (None, _) => None,
            (Some(base), 1) => Some(base.clone()),
            (Some(base), _) => Some(format!("{base}-{t}")),
        })
        .collect();
    let ticks = clock_ticks();
    let server_pid = options.server_pid.map(|p| p.to_string());
    let server_before = match &server_pid {
        Some(pid) => Some(process_figures(pid, ticks)?),
        None => None,
    };
    let self_before = process_figures("self", ticks).ok();
    let options = Arc::new(options);
    let totals = Arc::new(Totals::default());
    let mut handles = Vec::new();
    for w in 0..options.connections {
        let mut groups: Vec<Group> = (0..options.tenants)
            .map(|t| Group {
                tenant: tenant_names[t].clone(),
                streams: Vec::new(),
                cursor: 0,
            })
            .collect();
        for (id, spec) in specs.iter().enumerate() {
            if id % options.connections != w {
                continue;
            }
            let t = (id / options.connections) % options.tenants;
            groups[t].streams.push(StreamState {
                id,
                labels: spec.label_string(),
                kind: spec.kind,
                last_ts: 0,
            });
        }
        groups.retain(|g| !g.streams.is_empty());
        let corpora = LineKind::ALL
            .iter()
            .enumerate()
            .map(|(k, kind)| {
                (
                    *kind,
                    Corpus::of_kind(options.seed.wrapping_mul(1000) + (w * 4 + k) as u64, *kind),
                )
            })
            .collect();
        let worker = Worker {
            connection: Connection::new(target.clone()),
            groups,
            corpora,
            options: options.clone(),
            specs: specs.clone(),
            totals: totals.clone(),
            ack_log: ack_log.clone(),
            report: WorkerReport::default(),
        };
        handles.push(tokio::spawn(worker.run()));
    }
    let started = Instant::now();
    let progress = {
        let totals = totals.clone();
        tokio::spawn(async move {
            let mut last = (Instant::now(), 0u64);
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let bytes = totals.bytes.load(Ordering::Relaxed);
                let now = Instant::now();
                let rate = (bytes - last.1) as f64 / now.duration_since(last.0).as_secs_f64() / 1e6;
                eprintln!(
                    "{:>6.1}s  {:>9.1} MB pushed  {:>7.1} MB/s",
                    started.elapsed().as_secs_f64(),
                    bytes as f64 / 1e6,
                    rate
                );
                last = (now, bytes);
            }
        })
    };
    if let Some(limit) = options.duration {
        let totals = totals.clone();
        tokio::spawn(async move {
            tokio::time::sleep(limit).await;
            totals.stop.store(true, Ordering::Relaxed);
        });
    }
    let mut latencies = Vec::new();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for handle in handles {
        let report = handle.await.map_err(|e| format!("a worker failed: {e}"))?;
        latencies.extend(report.latencies);
        for (k, v) in report.errors {
            *errors.entry(k).or_default() += v;
        }
    }
    progress.abort();
    let elapsed = started.elapsed().as_secs_f64();
    let lines = totals.lines.load(Ordering::Relaxed);
    let bytes = totals.bytes.load(Ordering::Relaxed);
    println!(
        "pushed {} lines, {:.1} MB of lines in {:.1}s over {} connections ({})",
        lines,
        bytes as f64 / 1e6,
        elapsed,
        options.connections,
        if options.json {
            "JSON"
        } else {
            "protobuf+snappy"
        }
    );
    println!(
        "throughput: {:.0} lines/s, {:.1} MB/s",
        lines as f64 / elapsed,
        bytes as f64 / 1e6 / elapsed
    );
    println!("push latency: {}", percentiles(latencies));
    let dropped = totals.dropped_batches.load(Ordering::Relaxed);
    if errors.is_empty() {
        println!("errors: none");
    } else {
        let list: Vec<String> = errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        println!("errors (retried): {}", list.join(", "));
    }
    if dropped > 0 {
        println!(
            "batches dropped after {} retries: {dropped}",
            options.max_retries
        );
    }
    if let (Some(pid), Some(before)) = (&server_pid, server_before) {
        match process_figures(pid, ticks) {
            Ok(after) => {
                let cpu = after.cpu_seconds - before.cpu_seconds;
                println!(
                    "server: {:.1} CPU-s ({:.2} cores), {:.1} MB of lines per CPU-second, {:.2} CPU-s per GB",
                    cpu,
                    cpu / elapsed,
                    bytes as f64 / 1e6 / cpu.max(1e-9),
                    cpu / (bytes as f64 / 1e9).max(1e-12)
                );
                println!(
                    "server memory: RSS {:.0} MB, peak RSS (VmHWM) {:.0} MB",
                    after.rss_bytes as f64 / 1e6,
                    after.peak_rss_bytes as f64 / 1e6
                );
            }
            Err(e) => println!("server figures unavailable: {e}"),
        }
    }
    if let (Some(before), Ok(after)) = (self_before, process_figures("self", ticks)) {
        println!(
            "loadgen: {:.1} CPU-s",
            after.cpu_seconds - before.cpu_seconds
        );
    }
    Ok(dropped == 0)
}

/// The query mix: (kind, query, metric?) over the corpus' labels. Metric
/// queries over parsed lines extract only the label they group by
/// (`| logfmt level`), as Loki's docs advise: a bare `| logfmt` turns
/// every line's trace id and timestamp into labels, one series per line.
const QUERIES: [(&str, &str, bool); 10] = [
    ("selector", r#"{job="nginx"}"#, false),
    ("line filter", r#"{namespace="shop"} |= "error""#, false),
    ("regex filter", r#"{job="syslog"} |~ "sshd|CRON""#, false),
    ("json", r#"{job=~"shop/.+"} | json | level="error""#, false),
    (
        "logfmt",
        r#"{job=~"shop/.+"} | logfmt | status >= 500"#,
        false,
    ),
    (
        "count_over_time",
        r#"sum(count_over_time({env="prod"}[1m]))"#,
        true,
    ),
    (
        "sum by rate",
        r#"sum by (app) (rate({namespace="shop"}[1m]))"#,
        true,
    ),
    (
        "sum by rate",
        r#"sum by (level) (rate({job=~"shop/.+"} | logfmt level [1m]))"#,
        true,
    ),
    (
        "topk",
        r#"topk(5, sum by (pod) (rate({job="nginx"} |= "POST" [1m])))"#,
        true,
    ),
    (
        "bytes_over_time",
        r#"sum by (cluster) (bytes_over_time({env=~"prod|staging"}[5m]))"#,
        true,
    ),
];

fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn query_mode(options: Options) -> Result<bool, String> {
    let target = target(&options.url)?;
    let duration = options.duration.unwrap_or(Duration::from_secs(30));
    // With several tenants, one query reads them all (`a|b|…`).
    let mut options = options;
    if options.tenants > 1 {
        let base = options.tenant.clone().unwrap_or_default();
        let all: Vec<String> = (0..options.tenants)
            .map(|t| format!("{base}-{t}"))
            .collect();
        options.tenant = Some(all.join("|"));
    }
    let options = Arc::new(options);
    let started = Instant::now();
    let mut handles = Vec::new();
    for w in 0..options.connections {
        let target = target.clone();
        let options = options.clone();
        handles.push(tokio::spawn(async move {
            let mut connection = Connection::new(target);
            let mut latencies: BTreeMap<&'static str, Vec<Duration>> = BTreeMap::new();
            let mut errors: BTreeMap<String, u64> = BTreeMap::new();
            let mut i = w;
            while started.elapsed() < duration {
                let (kind, query, metric) = QUERIES[i % QUERIES.len()];
                i += 1;
                let end = now_ns();
                let start = end - options.since.as_nanos() as i64;
                let step = (options.since.as_secs() / 100).max(1);
                let path = if metric {
                    format!(
                        "/loki/api/v1/query_range?query={}&start={start}&end={end}&step={step}",
                        url_encode(query)
                    )
                } else {
                    format!(
                        "/loki/api/v1/query_range?query={}&start={start}&end={end}&limit=100",
                        url_encode(query)
                    )
                };
                let mut headers = Vec::new();
                if let Some(t) = &options.tenant {
                    headers.push(("x-scope-orgid", t.as_str()));
                }
                let began = Instant::now();
                match connection
                    .send(hyper::Method::GET, &path, &headers, Bytes::new())
                    .await
                {
                    Outcome::Status(200, _) => {
                        latencies.entry(kind).or_default().push(began.elapsed())
                    }
                    Outcome::Status(status, body) => {
                        let text = String::from_utf8_lossy(&body);
                        eprintln!(
                            "{query}: {status} {}",
                            text.chars().take(200).collect::<String>()
                        );
                        *errors.entry(format!("{kind}: {status}")).or_default() += 1;
                    }
                    Outcome::Failed(reason) => {
                        *errors.entry(format!("{kind}: {reason}")).or_default() += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies: BTreeMap<&'static str, Vec<Duration>> = BTreeMap::new();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for handle in handles {
        let (l, e) = handle.await.map_err(|e| format!("a worker failed: {e}"))?;
        for (k, v) in l {
            latencies.entry(k).or_default().extend(v);
        }
        for (k, v) in e {
            *errors.entry(k).or_default() += v;
        }
    }
    println!(
        "query mix over the last {} for {:.1}s, {} connections:",
        humantime::format_duration(options.since),
        started.elapsed().as_secs_f64(),
        options.connections
    );
    for (kind, _, _) in QUERIES {
        if let Some(l) = latencies.remove(kind) {
            println!("  {kind:<16} {}", percentiles(l));
        }
    }
    if errors.is_empty() {
        println!("errors: none");
        Ok(true)
    } else {
        let list: Vec<String> = errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        println!("errors: {}", list.join(", "));
        Ok(false)
    }
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        if options.query {
            query_mode(options).await
        } else {
            push_mode(options).await
        }
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
