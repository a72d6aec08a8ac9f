//! Field detection: which fields the newest lines of a log query carry,
//! with each field's type, distinct values and parsers, as Loki's
//! `detected_fields` and `detected_field/<name>/values` endpoints report
//! them (the fields Grafana's Logs Drilldown lists for a service); and
//! [`LevelDetector`], the log level Loki records with each pushed entry as
//! its `detected_level`.
//!
//! [`detect_fields`] runs the query's pipeline over the newest
//! `line_limit` entries it keeps. Every entry gives fields from three
//! places, never its stream labels:
//!
//! - its structured metadata (no parser);
//! - the labels the query's own parsers added (no parser, unless the
//!   line's own parse below also finds them);
//! - its line, parsed as JSON or, failing that, as logfmt (parser `json`
//!   or `logfmt`), with the stream's labels present so that a clashing key
//!   gets Loki's `_extracted` suffix.
//!
//! A field's type is the narrowest that all its values have: `int`,
//! `float`, `boolean`, `duration` (Go's form, `1.5s`), `bytes` (`10KB`),
//! else `string`; an `int` field with a `float` value is `float`, other
//! mixes are `string`. Its cardinality is its exact count of distinct
//! values among the sampled entries.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use futures::StreamExt;

use crate::ast::{LogExpr, Logfmt, Stage, StageKind};
use crate::pipeline::labels::LabelsBuilder;
use crate::pipeline::{LineFilterSet, Pipeline};
use crate::storage::{Cutoff, Direction, SelectRequest, Storage};
use crate::syntax::literal::{parse_bytes, parse_go_duration};
use crate::{Error, LabelSet, Result, Span};

/// Labels a pipeline sets that are not fields of the line.
const NOT_FIELDS: [&str; 3] = ["__error__", "__error_details__", "__preserve_error__"];

/// A field's type, from its values.
///
/// ```
/// use loki_logql::detect::FieldType;
/// assert_eq!(FieldType::of("404"), FieldType::Int);
/// assert_eq!(FieldType::of("0.25"), FieldType::Float);
/// assert_eq!(FieldType::of("true"), FieldType::Boolean);
/// assert_eq!(FieldType::of("1m30s"), FieldType::Duration);
/// assert_eq!(FieldType::of("10KB"), FieldType::Bytes);
/// assert_eq!(FieldType::of("GET"), FieldType::String);
/// assert_eq!(FieldType::Duration.as_str(), "duration");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// A 64-bit integer.
    Int,
    /// A floating-point number.
    Float,
    /// `true`, `false`, `t`, `F`, … (Go's `ParseBool`).
    Boolean,
    /// A Go duration with a unit: `250ms`, `1h2m`.
    Duration,
    /// A byte size with a unit: `10KB`, `1.5MiB`.
    Bytes,
    /// Anything else.
    String,
}

impl FieldType {
    /// The type of one value, trying each type in Loki's order.
    pub fn of(value: &str) -> FieldType {
        if value.parse::<i64>().is_ok() {
            FieldType::Int
        } else if is_go_float(value) {
            FieldType::Float
        } else if matches!(
            value,
            "1" | "t"
                | "T"
                | "TRUE"
                | "true"
                | "True"
                | "0"
                | "f"
                | "F"
                | "FALSE"
                | "false"
                | "False"
        ) {
            FieldType::Boolean
        } else if parse_go_duration(value).is_some() {
            FieldType::Duration
        } else if parse_bytes(value).is_some() {
            FieldType::Bytes
        } else {
            FieldType::String
        }
    }

    /// The name Loki gives the type.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Int => "int",
            FieldType::Float => "float",
            FieldType::Boolean => "boolean",
            FieldType::Duration => "duration",
            FieldType::Bytes => "bytes",
            FieldType::String => "string",
        }
    }

    /// The type of a field holding values of both types.
    fn widen(self, other: FieldType) -> FieldType {
        match (self, other) {
            (a, b) if a == b => a,
            (FieldType::Int, FieldType::Float) | (FieldType::Float, FieldType::Int) => {
                FieldType::Float
            }
            _ => FieldType::String,
        }
    }
}

/// Whether `value` is a number as Go's `ParseFloat` reads it (Rust's
/// parser also takes `inf` and `nan` spelt as Go does).
fn is_go_float(value: &str) -> bool {
    let digits = value.trim_start_matches(['+', '-']);
    let special = ["inf", "infinity", "nan"]
        .iter()
        .any(|s| digits.eq_ignore_ascii_case(s));
    (special || digits.starts_with(|c: char| c.is_ascii_digit() || c == '.'))
        && value.parse::<f64>().is_ok()
}

/// Which parser found a field in a line.
///
/// ```
/// use loki_logql::detect::FieldParser;
/// assert_eq!(FieldParser::Logfmt.as_str(), "logfmt");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldParser {
    /// `| json`.
    Json,
    /// `| logfmt`.
    Logfmt,
}

impl FieldParser {
    /// The parser's name in LogQL.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldParser::Json => "json",
            FieldParser::Logfmt => "logfmt",
        }
    }
}

/// One detected field.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectedField {
    /// The field's label name.
    pub label: String,
    /// Its type (see the [module docs](self)).
    pub field_type: FieldType,
    /// How many distinct values it had.
    pub cardinality: usize,
    /// The parsers that found it in lines, in the order first seen; empty
    /// for structured metadata and labels only the query's parsers set.
    pub parsers: Vec<FieldParser>,
}

/// What one field collected.
#[derive(Debug)]
struct FieldState {
    field_type: FieldType,
    parsers: Vec<FieldParser>,
    values: BTreeSet<String>,
}

/// The fields of a query's sampled entries; see [`detect_fields`].
#[derive(Debug)]
pub struct DetectedFields {
    /// Fields by name, at most `field_limit` of them (the first seen).
    fields: HashMap<String, FieldState>,
    field_limit: usize,
    lines: usize,
}

impl DetectedFields {
    /// An empty collection taking at most `field_limit` fields.
    fn new(field_limit: usize) -> DetectedFields {
        DetectedFields {
            fields: HashMap::new(),
            field_limit,
            lines: 0,
        }
    }

    /// Records `value` of field `name`, found by `parser` (if any).
    fn add(&mut self, name: &str, value: &str, parser: Option<FieldParser>) {
        if NOT_FIELDS.contains(&name) {
            return;
        }
        let field_type = FieldType::of(value);
        if !self.fields.contains_key(name) {
            if self.fields.len() >= self.field_limit {
                return;
            }
            self.fields.insert(
                name.to_owned(),
                FieldState {
                    field_type,
                    parsers: Vec::new(),
                    values: BTreeSet::new(),
                },
            );
        }
        let Some(state) = self.fields.get_mut(name) else {
            return;
        };
        state.field_type = state.field_type.widen(field_type);
        if let Some(parser) = parser {
            if !state.parsers.contains(&parser) {
                state.parsers.push(parser);
            }
        }
        if !state.values.contains(value) {
            state.values.insert(value.to_owned());
        }
    }

    /// Every field, by label name.
    ///
    /// ```
    /// # use loki_logql::{parse, parse_labels, Expr, MemoryStorage};
    /// # let mut storage = MemoryStorage::new();
    /// # storage.push(&parse_labels(r#"{app="a"}"#)?, 1, r#"{"status":200}"#);
    /// # let Expr::Log(query) = parse(r#"{app="a"}"#)? else { unreachable!() };
    /// # let found = futures::executor::block_on(
    /// #     loki_logql::detect::detect_fields(&storage, &query, 0, 10, 100, 1000))?;
    /// let fields = found.fields();
    /// assert_eq!(fields[0].label, "status");
    /// assert_eq!(fields[0].field_type.as_str(), "int");
    /// # Ok::<(), loki_logql::Error>(())
    /// ```
    pub fn fields(&self) -> Vec<DetectedField> {
        let mut out: Vec<DetectedField> = self
            .fields
            .iter()
            .map(|(label, state)| DetectedField {
                label: label.clone(),
                field_type: state.field_type,
                cardinality: state.values.len(),
                parsers: state.parsers.clone(),
            })
            .collect();
        out.sort_by(|a, b| a.label.cmp(&b.label));
        out
    }

    /// The distinct values of field `name`, in byte order (none for a
    /// field not detected).
    ///
    /// ```
    /// # use loki_logql::{parse, parse_labels, Expr, MemoryStorage};
    /// # let mut storage = MemoryStorage::new();
    /// # storage.push(&parse_labels(r#"{app="a"}"#)?, 1, "status=404");
    /// # storage.push(&parse_labels(r#"{app="a"}"#)?, 2, "status=200");
    /// # let Expr::Log(query) = parse(r#"{app="a"}"#)? else { unreachable!() };
    /// # let found = futures::executor::block_on(
    /// #     loki_logql::detect::detect_fields(&storage, &query, 0, 10, 100, 1000))?;
    /// assert_eq!(found.values("status"), ["200", "404"]);
    /// # Ok::<(), loki_logql::Error>(())
    /// ```
    pub fn values(&self, name: &str) -> Vec<String> {
        self.fields
            .get(name)
            .map(|state| state.values.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// How many entries were sampled.
    pub fn lines(&self) -> usize {
        self.lines
    }
}

/// One entry the query's pipeline kept, with what detection needs of it.
struct Sampled {
    timestamp: i64,
    stream: Arc<LabelSet>,
    line: String,
    metadata: Vec<(String, String)>,
    parsed: Vec<(String, String)>,
}

/// Runs log query `query` over `[start, end)` and detects the fields of
/// the newest `line_limit` entries it keeps (see the [module docs](self)),
/// keeping at most `field_limit` fields.
///
/// ```
/// use loki_logql::{parse, parse_labels, Expr, MemoryStorage};
/// use loki_logql::detect::{detect_fields, FieldParser, FieldType};
///
/// let mut storage = MemoryStorage::new();
/// let stream = parse_labels(r#"{app="shop"}"#)?;
/// storage.push(&stream, 1, "level=info took=15ms status=200");
/// storage.push(&stream, 2, r#"{"level":"error","user":{"id":7}}"#);
/// let Expr::Log(query) = parse(r#"{app="shop"}"#)? else { unreachable!() };
/// let found = futures::executor::block_on(detect_fields(&storage, &query, 0, 10, 100, 1000))?;
/// let fields = found.fields();
/// let names: Vec<&str> = fields.iter().map(|f| f.label.as_str()).collect();
/// assert_eq!(names, ["level", "status", "took", "user_id"]);
/// assert_eq!(fields[0].parsers, [FieldParser::Json, FieldParser::Logfmt]);
/// assert_eq!((fields[2].field_type, fields[2].cardinality), (FieldType::Duration, 1));
/// # Ok::<(), loki_logql::Error>(())
/// ```
///
/// # Errors
/// Storage errors, and pipelines that cannot be compiled.
pub async fn detect_fields<S: Storage + ?Sized>(
    storage: &S,
    query: &LogExpr,
    start: i64,
    end: i64,
    line_limit: usize,
    field_limit: usize,
) -> Result<DetectedFields> {
    let mut found = DetectedFields::new(field_limit);
    if line_limit == 0 || end <= start {
        return Ok(found);
    }
    let sampled = sample(storage, query, start, end, line_limit).await?;
    let mut json = Pipeline::new(&[stage(StageKind::Json(Vec::new()))])?;
    let mut logfmt = Pipeline::new(&[stage(StageKind::Logfmt(Logfmt {
        strict: false,
        keep_empty: false,
        params: Vec::new(),
    }))])?;
    let mut pairs = Vec::new();
    for entry in &sampled {
        found.lines += 1;
        for (name, value) in &entry.metadata {
            found.add(name, value, None);
        }
        for (name, value) in &entry.parsed {
            found.add(name, value, None);
        }
        for (pipeline, parser) in [
            (&mut json, FieldParser::Json),
            (&mut logfmt, FieldParser::Logfmt),
        ] {
            pipeline.process(entry.timestamp, &entry.line, &entry.stream, &[], false);
            if pipeline.lbs.has_err() {
                continue;
            }
            added_labels(&pipeline.lbs, &entry.stream, &mut pairs);
            for (name, value) in pairs.drain(..) {
                found.add(&name, &value, Some(parser));
            }
            break;
        }
    }
    Ok(found)
}

/// A pipeline stage without a source span.
fn stage(kind: StageKind) -> Stage {
    Stage {
        kind,
        span: Span::default(),
    }
}

/// The labels a line has besides its stream's: metadata, parsed and
/// formatted labels (without the error pair).
fn added_labels(lbs: &LabelsBuilder, stream: &LabelSet, out: &mut Vec<(String, String)>) {
    let mut push = |name: &str, value: &str| {
        if !NOT_FIELDS.contains(&name) {
            out.push((name.to_owned(), value.to_owned()));
        }
    };
    if lbs.base_intact() {
        lbs.for_each_added(&mut push);
    } else {
        lbs.for_each_ref(&mut |name, value| {
            if stream.get(name) != Some(value) {
                push(name, value);
            }
        });
    }
}

/// The newest `line_limit` entries `query` keeps, newest first.
async fn sample<S: Storage + ?Sized>(
    storage: &S,
    query: &LogExpr,
    start: i64,
    end: i64,
    line_limit: usize,
) -> Result<Vec<Sampled>> {
    let mut pipeline = Pipeline::new(&query.pipeline)?;
    let cutoff = Arc::new(Cutoff::new(Direction::Backward));
    let filters = LineFilterSet::leading(&query.pipeline);
    let req = SelectRequest {
        matchers: query.selector.matchers.clone(),
        start,
        end,
        direction: Direction::Backward,
        limit: Some(line_limit),
        line_filters: filters.clone(),
        cutoff: Some(cutoff.clone()),
    };
    let mut kept: Vec<Sampled> = Vec::new();
    let mut mask_buf = Vec::new();
    let mut batches = storage.select(&req);
    while let Some(batch) = batches.next().await {
        let batch = batch.map_err(Error::Storage)?;
        let mask = batch.filter_mask(&filters, &mut mask_buf);
        for i in 0..batch.len() {
            let ts = batch.timestamps[i];
            if ts < start || ts >= end || mask.get(i) == Some(&false) || !cutoff.wants(ts) {
                continue;
            }
            let line = batch.line(i);
            let metadata = batch.metadata(i);
            if !pipeline.process(ts, line, &batch.labels, metadata, true) {
                continue;
            }
            let mut parsed = Vec::new();
            added_labels(&pipeline.lbs, &batch.labels, &mut parsed);
            parsed.retain(|pair| !metadata.contains(pair));
            kept.push(Sampled {
                timestamp: ts,
                stream: batch.labels.clone(),
                line: pipeline.line(line).to_owned(),
                metadata: metadata.to_vec(),
                parsed,
            });
        }
        if kept.len() >= 2 * line_limit {
            newest(&mut kept, line_limit, &cutoff);
        }
    }
    newest(&mut kept, line_limit, &cutoff);
    Ok(kept)
}

/// Keeps the newest `limit` of `kept`, newest first, and tells storage
/// that nothing at or before the oldest of them is wanted once there are
/// `limit`.
fn newest(kept: &mut Vec<Sampled>, limit: usize, cutoff: &Cutoff) {
    kept.sort_by_key(|e| std::cmp::Reverse(e.timestamp));
    kept.truncate(limit);
    if kept.len() == limit {
        if let Some(oldest) = kept.last() {
            cutoff.tighten(oldest.timestamp);
        }
    }
}

/// The field names Loki reads a log level from by default
/// (`limits_config.log_level_fields`), in order of preference.
pub const LEVEL_FIELDS: [&str; 9] = [
    "level", "LEVEL", "Level", "Severity", "severity", "SEVERITY", "lvl", "LVL", "Lvl",
];

/// The `detected_level` of a level nothing names.
pub const UNKNOWN_LEVEL: &str = "unknown";

/// How deep in a JSON line level fields are looked for (the top level and
/// one below, as Loki's `log_level_from_json_max_depth`).
const JSON_LEVEL_DEPTH: usize = 2;

/// A log level [`LevelDetector`] found: one of Loki's canonical names
/// (`trace`, `debug`, `info`, `warn`, `error`, `critical`, `fatal`,
/// `unknown`), or a level label's or metadata's value as sent. It reads as
/// the text either way.
///
/// ```
/// use loki_logql::detect::{DetectedLevel, LevelDetector};
/// let levels = LevelDetector::default();
/// let none: &[(&str, &str)] = &[];
/// assert_eq!(levels.from_entry(none, "level=WRN"), DetectedLevel::Canonical("warn"));
/// assert_eq!(levels.from_entry(&[("level", "Notice")], "x"), DetectedLevel::AsSent("Notice"));
/// assert_eq!(&*levels.from_entry(none, "x"), "unknown");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectedLevel<'a> {
    /// A canonical level name.
    Canonical(&'static str),
    /// A label's or metadata's value that is no known level, as sent.
    AsSent(&'a str),
}

impl std::ops::Deref for DetectedLevel<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        match *self {
            DetectedLevel::Canonical(level) => level,
            DetectedLevel::AsSent(value) => value,
        }
    }
}

impl AsRef<str> for DetectedLevel<'_> {
    fn as_ref(&self) -> &str {
        self
    }
}

impl std::fmt::Display for DetectedLevel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

impl PartialEq<&str> for DetectedLevel<'_> {
    fn eq(&self, other: &&str) -> bool {
        **self == **other
    }
}

/// The log level Loki's distributor records as the `detected_level`
/// structured metadata of each entry (`discover_log_levels`), from the
/// first of:
///
/// 1. a stream label named in the field list (the first name in list
///    order that the stream has);
/// 2. structured metadata of such a name;
/// 3. OpenTelemetry's `severity_number` metadata (1–4 trace, 5–8 debug,
///    9–12 info, 13–16 warn, 17–20 error, 21–24 fatal);
/// 4. a field of the line: in a JSON line (`{…}`) the first member in
///    document order, at most one object deep, whose name is in the list
///    and whose value is a string; in a logfmt line (one with `=`) the
///    key earliest in the list, names compared without case;
/// 5. a level word anywhere in the line, as a whole word without case:
///    `trace`, `debug`, `fatal`, `critical`, `error`, `err`, `warning`,
///    `warn`, `info`, the first of these found;
///
/// else `unknown`. Known names are made canonical (`WARNING`, `wrn` →
/// `warn`; `ERR` → `error`); a label's or metadata's other values are
/// kept as sent, a line field's other values fall through to the word
/// search.
///
/// ```
/// use loki_logql::detect::LevelDetector;
///
/// let levels = LevelDetector::default();
/// let none: &[(&str, &str)] = &[];
/// assert_eq!(levels.from_labels(|name| (name == "level").then_some("WARNING")).as_deref(), Some("warn"));
/// assert_eq!(levels.from_entry(none, r#"{"msg":"x","level":"ERR"}"#), "error");
/// assert_eq!(levels.from_entry(none, "ts=1 Severity=dbg msg=hi"), "debug");
/// assert_eq!(levels.from_entry(&[("severity_number", "10")], "hello"), "info");
/// assert_eq!(levels.from_entry(none, "GET /cart 500 [Error] upstream"), "error");
/// assert_eq!(levels.from_entry(none, "terrible"), "unknown");
/// ```
#[derive(Debug, Clone)]
pub struct LevelDetector {
    fields: Vec<String>,
}

impl Default for LevelDetector {
    /// Loki's default field names, [`LEVEL_FIELDS`].
    fn default() -> Self {
        LevelDetector::new(LEVEL_FIELDS)
    }
}

impl LevelDetector {
    /// A detector reading levels from fields named `fields`, in order of
    /// preference ([`LEVEL_FIELDS`] when empty).
    ///
    /// ```
    /// use loki_logql::detect::LevelDetector;
    /// let levels = LevelDetector::new(["loglevel"]);
    /// let none: &[(&str, &str)] = &[];
    /// assert_eq!(levels.from_entry(none, "loglevel=warn level=info"), "warn");
    /// ```
    pub fn new<S: Into<String>>(fields: impl IntoIterator<Item = S>) -> LevelDetector {
        let mut fields: Vec<String> = fields.into_iter().map(Into::into).collect();
        if fields.is_empty() {
            fields = LEVEL_FIELDS.iter().map(|f| (*f).to_owned()).collect();
        }
        LevelDetector { fields }
    }

    /// The level a stream's labels give all its entries (step 1), if it
    /// has a level label; `label(name)` is the stream's value of a label.
    /// An empty value means no `detected_level` at all.
    pub fn from_labels<'a>(
        &self,
        label: impl Fn(&str) -> Option<&'a str>,
    ) -> Option<DetectedLevel<'a>> {
        self.fields
            .iter()
            .find_map(|name| label(name))
            .map(canonical_or_as_sent)
    }

    /// The level of an entry of a stream without a level label (steps 2
    /// to 5), from its structured metadata and line.
    pub fn from_entry<'a, K: AsRef<str>, V: AsRef<str>>(
        &self,
        metadata: &'a [(K, V)],
        line: &'a str,
    ) -> DetectedLevel<'a> {
        let value_of = |name: &str| {
            metadata
                .iter()
                .find(|(k, _)| k.as_ref() == name)
                .map(|(_, v)| v.as_ref())
        };
        if let Some(value) = self.fields.iter().find_map(|name| value_of(name)) {
            return canonical_or_as_sent(value);
        }
        if let Some(number) = value_of("severity_number") {
            return DetectedLevel::Canonical(otlp_level(number));
        }
        let trimmed = line.trim();
        let field = if trimmed.starts_with('{') && trimmed.ends_with('}') {
            self.json_level(trimmed.as_bytes())
        } else if memchr::memchr(b'=', line.as_bytes()).is_some() {
            self.logfmt_level(line)
        } else {
            None
        };
        DetectedLevel::Canonical(
            field
                .and_then(canonical_level)
                .unwrap_or_else(|| word_level(line)),
        )
    }

    /// The first string member named in the list, in document order, at
    /// most [`JSON_LEVEL_DEPTH`] objects deep.
    fn json_level<'a>(&self, line: &'a [u8]) -> Option<&'a str> {
        fn walk<'a>(fields: &[String], b: &'a [u8], at: usize, depth: usize) -> Option<&'a str> {
            use crate::pipeline::json_scan::{each_member, kind_at, Kind};
            let mut found = None;
            let _ = each_member(b, at, |key, escaped, start, end| {
                let named = !escaped && fields.iter().any(|f| f.as_bytes() == key);
                match kind_at(b, start) {
                    Ok(Kind::Str) if named && end >= start + 2 => {
                        found = std::str::from_utf8(&b[start + 1..end - 1]).ok();
                    }
                    Ok(Kind::Object) if depth > 1 => found = walk(fields, b, start, depth - 1),
                    _ => {}
                }
                Ok(found.is_none())
            });
            found
        }
        walk(&self.fields, line, 0, JSON_LEVEL_DEPTH)
    }

    /// The value of the key earliest in the list (names compared without
    /// case), stopping at the first malformed pair.
    fn logfmt_level<'a>(&self, line: &'a str) -> Option<&'a str> {
        let mut best: Option<(usize, &'a str)> = None;
        crate::pipeline::logfmt::each_pair(line, |key, value| {
            let rank = self.fields.iter().position(|f| f.eq_ignore_ascii_case(key));
            if let Some(rank) = rank {
                if best.is_none_or(|(b, _)| rank < b) {
                    best = Some((rank, value));
                }
            }
            best.is_none_or(|(b, _)| b > 0)
        });
        best.map(|(_, value)| value)
    }
}

/// The canonical name of a level, compared without case.
fn canonical_level(value: &str) -> Option<&'static str> {
    const NAMES: [(&str, &str); 14] = [
        ("trace", "trace"),
        ("trc", "trace"),
        ("debug", "debug"),
        ("dbg", "debug"),
        ("info", "info"),
        ("inf", "info"),
        ("information", "info"),
        ("warn", "warn"),
        ("wrn", "warn"),
        ("warning", "warn"),
        ("error", "error"),
        ("err", "error"),
        ("critical", "critical"),
        ("fatal", "fatal"),
    ];
    NAMES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(value))
        .map(|(_, level)| *level)
}

/// A label's or metadata's level: canonical when known, else as sent.
fn canonical_or_as_sent(value: &str) -> DetectedLevel<'_> {
    canonical_level(value).map_or(DetectedLevel::AsSent(value), DetectedLevel::Canonical)
}

/// OpenTelemetry's severity number as a level (not a number: `info`).
fn otlp_level(number: &str) -> &'static str {
    match number.trim().parse::<i64>() {
        Err(_) => "info",
        Ok(1..=4) => "trace",
        Ok(5..=8) => "debug",
        Ok(9..=12) => "info",
        Ok(13..=16) => "warn",
        Ok(17..=20) => "error",
        Ok(21..=24) => "fatal",
        Ok(_) => UNKNOWN_LEVEL,
    }
}

/// The first level word of the line (a whole word, any case), by word:
/// `trace`, `debug`, `fatal`, `critical`, `error`, `err`, `warning`,
/// `warn`, `info`.
///
/// One pass over the line's words. A word's length and first letter name
/// the only level word it can be, so each word costs at most one
/// comparison; most lines have none.
fn word_level(line: &str) -> &'static str {
    /// `(rank, word, level)` of the level word of a length and first
    /// letter (lowercase); rank is the word's place in the order above.
    fn candidate(len: usize, first: u8) -> Option<(usize, &'static str, &'static str)> {
        Some(match (len, first) {
            (5, b't') => (0, "trace", "trace"),
            (5, b'd') => (1, "debug", "debug"),
            (5, b'f') => (2, "fatal", "fatal"),
            (8, b'c') => (3, "critical", "critical"),
            (5, b'e') => (4, "error", "error"),
            (3, b'e') => (5, "err", "error"),
            (7, b'w') => (6, "warning", "warn"),
            (4, b'w') => (7, "warn", "warn"),
            (4, b'i') => (8, "info", "info"),
            _ => return None,
        })
    }
    let b = line.as_bytes();
    let mut best: Option<(usize, &'static str)> = None;
    let mut i = 0;
    while i < b.len() {
        if !is_word_byte(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        while i < b.len() && is_word_byte(b[i]) {
            i += 1;
        }
        let Some((rank, word, level)) = candidate(i - start, b[start].to_ascii_lowercase()) else {
            continue;
        };
        if best.is_none_or(|(r, _)| rank < r) && word.as_bytes().eq_ignore_ascii_case(&b[start..i])
        {
            best = Some((rank, level));
            if rank == 0 {
                break;
            }
        }
    }
    best.map_or(UNKNOWN_LEVEL, |(_, level)| level)
}

/// Whether a byte is part of a word (a letter, digit or `_`).
fn is_word_byte(c: u8) -> bool {
    /// Bit `c % 64` of word `c / 64` is set for word bytes.
    const WORD_BYTES: [u64; 2] = {
        let mut bits = [0u64; 2];
        let mut c = 0;
        while c < 128 {
            let b = c as u8;
            if b.is_ascii_alphanumeric() || b == b'_' {
                bits[c / 64] |= 1 << (c % 64);
            }
            c += 1;
        }
        bits
    };
    c < 128 && WORD_BYTES[usize::from(c) / 64] & (1 << (c % 64)) != 0
}
