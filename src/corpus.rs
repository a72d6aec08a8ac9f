//! A deterministic generator of realistic log lines, for benchmarks, load
//! tools and tests.
//!
//! Four kinds of line, each shaped like what real services emit: nginx
//! access lines (combined format), JSON service lines and logfmt service
//! lines (both with high-entropy trace and span ids, which is what makes
//! real logs compress worse than toy ones), and syslog lines. The same seed
//! always gives the same lines and timestamps, so benchmark runs compare
//! like with like.
//!
//! ```
//! use loki::corpus::{Corpus, LineKind};
//!
//! let mut corpus = Corpus::new(42);
//! let (ts, line) = corpus.next_entry();
//! assert!(ts > 1_700_000_000_000_000_000);
//! assert!(!line.is_empty());
//!
//! let mut nginx = Corpus::of_kind(7, LineKind::Nginx);
//! assert!(nginx.next_entry().1.contains("HTTP/1.1\""));
//! assert_eq!(Corpus::new(1).take_lines(100), Corpus::new(1).take_lines(100));
//! ```

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

/// The kinds of line the corpus produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineKind {
    /// nginx access log, combined format plus request time.
    Nginx,
    /// One JSON object per line, as structured loggers write.
    Json,
    /// `key=value` pairs, as Go services write.
    Logfmt,
    /// RFC 3164 syslog.
    Syslog,
}

impl LineKind {
    /// Every kind.
    pub const ALL: [LineKind; 4] = [
        LineKind::Nginx,
        LineKind::Json,
        LineKind::Logfmt,
        LineKind::Syslog,
    ];

    /// A short lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            LineKind::Nginx => "nginx",
            LineKind::Json => "json",
            LineKind::Logfmt => "logfmt",
            LineKind::Syslog => "syslog",
        }
    }
}

/// A labelled stream of the corpus: the labels an agent would attach and
/// the kind of line it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSpec {
    /// Label pairs, sorted by name.
    pub labels: Vec<(String, String)>,
    /// What its lines look like.
    pub kind: LineKind,
}

impl StreamSpec {
    /// The labels in Loki's `{a="b", c="d"}` text form.
    pub fn label_string(&self) -> String {
        let pairs: Vec<String> = self
            .labels
            .iter()
            .map(|(n, v)| format!("{n}={v:?}"))
            .collect();
        format!("{{{}}}", pairs.join(", "))
    }
}

/// The generator. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Corpus {
    rng: fastrand::Rng,
    kind: Option<LineKind>,
    clock_ns: i64,
}

/// 2023-11-14T22:13:20Z, where every corpus clock starts.
const START_NS: i64 = 1_700_000_000_000_000_000;

const METHODS: [&str; 5] = ["GET", "GET", "GET", "POST", "PUT"];
const RESOURCES: [&str; 8] = [
    "orders",
    "users",
    "cart",
    "products",
    "payments",
    "search",
    "sessions",
    "inventory",
];
const STATUSES: [u16; 10] = [200, 200, 200, 200, 200, 201, 204, 304, 404, 500];
const AGENTS: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "curl/8.5.0",
    "Go-http-client/1.1",
];
const SERVICES: [&str; 6] = [
    "checkout", "cart", "payments", "catalog", "auth", "shipping",
];
const LEVELS: [&str; 8] = [
    "info", "info", "info", "info", "debug", "debug", "warn", "error",
];
const MESSAGES: [&str; 8] = [
    "request completed",
    "order placed",
    "cache miss",
    "user authenticated",
    "payment authorised",
    "retrying upstream call",
    "slow query",
    "connection reset by peer",
];
const DAEMONS: [&str; 4] = ["sshd", "systemd", "kernel", "CRON"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl Corpus {
    /// A corpus mixing all four kinds of line.
    pub fn new(seed: u64) -> Corpus {
        Corpus {
            rng: fastrand::Rng::with_seed(seed),
            kind: None,
            clock_ns: START_NS,
        }
    }

    /// A corpus of one kind of line.
    pub fn of_kind(seed: u64, kind: LineKind) -> Corpus {
        Corpus {
            kind: Some(kind),
            ..Corpus::new(seed)
        }
    }

    /// The next timestamp (Unix ns, ascending with small gaps) and line.
    pub fn next_entry(&mut self) -> (i64, String) {
        let mut line = String::with_capacity(256);
        let ts = self.next_into(&mut line);
        (ts, line)
    }

    /// Writes the next line into `line` (cleared first) and returns its
    /// timestamp; reusing the buffer keeps generation out of benchmarks.
    pub fn next_into(&mut self, line: &mut String) -> i64 {
        line.clear();
        self.clock_ns += self.rng.i64(10_000..2_000_000);
        let kind = self
            .kind
            .unwrap_or_else(|| LineKind::ALL[self.rng.usize(..LineKind::ALL.len())]);
        match kind {
            LineKind::Nginx => self.nginx(line),
            LineKind::Json => self.json(line),
            LineKind::Logfmt => self.logfmt(line),
            LineKind::Syslog => self.syslog(line),
        }
        self.clock_ns
    }

    /// The next `n` lines, without timestamps.
    pub fn take_lines(&mut self, n: usize) -> Vec<String> {
        (0..n).map(|_| self.next_entry().1).collect()
    }

    /// `count` distinct streams with realistic labels (cluster, namespace,
    /// app, pod, container, env, job), each with a kind of line.
    pub fn streams(&mut self, count: usize) -> Vec<StreamSpec> {
        (0..count)
            .map(|i| {
                let kind = LineKind::ALL[i % LineKind::ALL.len()];
                let app = SERVICES[self.rng.usize(..SERVICES.len())];
                let env = ["prod", "staging", "dev"][self.rng.usize(..3)];
                let job = match kind {
                    LineKind::Nginx => "nginx".to_owned(),
                    LineKind::Syslog => "syslog".to_owned(),
                    _ => format!("shop/{app}"),
                };
                let mut labels = vec![
                    ("app".to_owned(), app.to_owned()),
                    (
                        "cluster".to_owned(),
                        format!("eu-west-{}", 1 + self.rng.u8(..3)),
                    ),
                    ("container".to_owned(), app.to_owned()),
                    ("env".to_owned(), env.to_owned()),
                    ("job".to_owned(), job),
                    (
                        "namespace".to_owned(),
                        ["shop", "core", "ingress"][self.rng.usize(..3)].to_owned(),
                    ),
                    (
                        "pod".to_owned(),
                        format!("{app}-{:08x}-{i}", self.rng.u32(..)),
                    ),
                ];
                labels.sort();
                StreamSpec { labels, kind }
            })
            .collect()
    }

    fn hex(&mut self, out: &mut String, digits: usize) {
        for _ in 0..digits {
            out.push(char::from(b"0123456789abcdef"[self.rng.usize(..16)]));
        }
    }

    fn ip(&mut self, out: &mut String) {
        let _ = write!(
            out,
            "10.{}.{}.{}",
            self.rng.u8(..8),
            self.rng.u8(..),
            self.rng.u8(1..255)
        );
    }

    fn path(&mut self, out: &mut String) {
        let resource = RESOURCES[self.rng.usize(..RESOURCES.len())];
        let _ = write!(out, "/api/v1/{resource}/{}", self.rng.u32(1..20_000));
    }

    /// `(year, month 1-12, day, hour, minute, second)` of the clock, UTC.
    fn civil_time(&self) -> [u64; 6] {
        let rfc = humantime::format_rfc3339_seconds(
            UNIX_EPOCH + Duration::from_nanos(self.clock_ns as u64),
        )
        .to_string();
        // "YYYY-MM-DDTHH:MM:SSZ"
        let field = |range: std::ops::Range<usize>| {
            rfc.get(range).and_then(|s| s.parse().ok()).unwrap_or(0)
        };
        [
            field(0..4),
            field(5..7),
            field(8..10),
            field(11..13),
            field(14..16),
            field(17..19),
        ]
    }

    fn nginx(&mut self, out: &mut String) {
        let [y, mo, d, h, mi, s] = self.civil_time();
        self.ip(out);
        let month = MONTHS[(mo.clamp(1, 12) - 1) as usize];
        let _ = write!(
            out,
            " - - [{d:02}/{month}/{y}:{h:02}:{mi:02}:{s:02} +0000] \""
        );
        out.push_str(METHODS[self.rng.usize(..METHODS.len())]);
        out.push(' ');
        self.path(out);
        let status = STATUSES[self.rng.usize(..STATUSES.len())];
        let bytes = self.rng.u32(0..60_000);
        let agent = AGENTS[self.rng.usize(..AGENTS.len())];
        let secs = f64::from(self.rng.u32(1..3_000)) / 1000.0;
        let _ = write!(
            out,
            " HTTP/1.1\" {status} {bytes} \"-\" \"{agent}\" {secs:.3}"
        );
    }

    fn iso_time(&self, out: &mut String) {
        let [y, mo, d, h, mi, s] = self.civil_time();
        let micros = (self.clock_ns % 1_000_000_000) / 1_000;
        let _ = write!(out, "{y}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{micros:06}Z");
    }

    fn json(&mut self, out: &mut String) {
        let service = SERVICES[self.rng.usize(..SERVICES.len())];
        let level = LEVELS[self.rng.usize(..LEVELS.len())];
        let msg = MESSAGES[self.rng.usize(..MESSAGES.len())];
        out.push_str("{\"ts\":\"");
        self.iso_time(out);
        let _ = write!(
            out,
            "\",\"level\":\"{level}\",\"service\":\"{service}\",\"msg\":\"{msg}\",\"trace_id\":\""
        );
        self.hex(out, 32);
        out.push_str("\",\"span_id\":\"");
        self.hex(out, 16);
        let _ = write!(
            out,
            "\",\"user_id\":{},\"duration_ms\":{:.2},\"status\":{},\"path\":\"",
            self.rng.u32(1..500_000),
            f64::from(self.rng.u32(1..250_000)) / 100.0,
            STATUSES[self.rng.usize(..STATUSES.len())]
        );
        self.path(out);
        let _ = write!(
            out,
            "\",\"request\":{{\"method\":\"{}\",\"bytes\":{}}}}}",
            METHODS[self.rng.usize(..5)],
            self.rng.u32(..90_000)
        );
    }

    fn logfmt(&mut self, out: &mut String) {
        let level = LEVELS[self.rng.usize(..LEVELS.len())];
        let msg = MESSAGES[self.rng.usize(..MESSAGES.len())];
        out.push_str("ts=");
        self.iso_time(out);
        let _ = write!(
            out,
            " level={level} caller=server.go:{} msg=\"{msg}\" method={} path=",
            self.rng.u32(40..900),
            METHODS[self.rng.usize(..5)]
        );
        self.path(out);
        let _ = write!(
            out,
            " status={} duration={:.1}ms bytes={} trace_id=",
            STATUSES[self.rng.usize(..STATUSES.len())],
            f64::from(self.rng.u32(1..90_000)) / 10.0,
            self.rng.u32(..90_000)
        );
        self.hex(out, 32);
    }

    fn syslog(&mut self, out: &mut String) {
        let [_, mo, d, h, mi, s] = self.civil_time();
        let month = MONTHS[(mo.clamp(1, 12) - 1) as usize];
        let daemon = DAEMONS[self.rng.usize(..DAEMONS.len())];
        let host = self.rng.u8(..40);
        let pid = self.rng.u32(100..65_000);
        let _ = write!(
            out,
            "<{}>{month} {d:>2} {h:02}:{mi:02}:{s:02} web-{host:02} {daemon}[{pid}]: ",
            128 + self.rng.u8(..8)
        );
        match daemon {
            "sshd" => {
                let _ = write!(out, "Accepted publickey for deploy from ");
                self.ip(out);
                let _ = write!(
                    out,
                    " port {} ssh2: ED25519 SHA256:",
                    self.rng.u16(1024..65_000)
                );
                self.hex(out, 43);
            }
            "systemd" => {
                let _ = write!(
                    out,
                    "Started session-{}.scope - Session {} of User deploy.",
                    self.rng.u32(..9_999),
                    self.rng.u32(..9_999)
                );
            }
            "kernel" => {
                let _ = write!(out, "[{}.{:06}] TCP: request_sock_TCP: Possible SYN flooding on port {}. Sending cookies.", self.rng.u32(..999_999), self.rng.u32(..999_999), self.rng.u16(80..9_000));
            }
            _ => {
                let _ = write!(
                    out,
                    "(root) CMD (/usr/local/bin/backup --target s3://backups/{:08x})",
                    self.rng.u32(..)
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_look_like_their_kind() {
        let nginx = Corpus::of_kind(1, LineKind::Nginx).take_lines(50);
        assert!(nginx
            .iter()
            .all(|l| l.starts_with("10.") && l.contains("/2023:")));
        for line in Corpus::of_kind(2, LineKind::Json).take_lines(50) {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(v["trace_id"].as_str().unwrap().len(), 32);
        }
        let logfmt = Corpus::of_kind(3, LineKind::Logfmt).take_lines(50);
        assert!(logfmt
            .iter()
            .all(|l| l.starts_with("ts=2023-11-1") && l.contains(" level=")));
        let syslog = Corpus::of_kind(4, LineKind::Syslog).take_lines(50);
        assert!(syslog
            .iter()
            .all(|l| l.starts_with('<') && l.contains("]: ")));
    }

    #[test]
    fn same_seed_same_corpus_and_time_moves_forward() {
        let mut a = Corpus::new(9);
        let mut b = Corpus::new(9);
        let mut last = 0;
        for _ in 0..1000 {
            let (ts, line) = a.next_entry();
            assert_eq!((ts, line), b.next_entry());
            assert!(ts > last);
            last = ts;
        }
        assert_ne!(
            Corpus::new(9).take_lines(10),
            Corpus::new(10).take_lines(10)
        );
    }

    #[test]
    fn streams_are_distinct_and_sorted() {
        let streams = Corpus::new(5).streams(200);
        let mut names: Vec<String> = streams.iter().map(StreamSpec::label_string).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 200);
        assert!(streams
            .iter()
            .all(|s| s.labels.windows(2).all(|w| w[0].0 < w[1].0)));
        assert!(streams[0].label_string().starts_with("{app=\""));
    }
}
