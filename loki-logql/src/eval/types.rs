//! Query results as plain Rust values, serialisable to the `data` object
//! of Loki's HTTP API (`resultType` plus `result`).

use serde::ser::{SerializeMap, SerializeSeq, SerializeTuple};
use serde::{Serialize, Serializer};

use crate::LabelSet;

/// One log entry of a stream result.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Unix nanoseconds.
    pub timestamp: i64,
    /// The line after the pipeline.
    pub line: String,
    /// With [`QueryParams::categorize_labels`](crate::QueryParams::categorize_labels):
    /// the entry's labels that are not its stream's. The entry then
    /// serialises as Loki's `[ts, line, {"structuredMetadata": …,
    /// "parsed": …}]` (`{}` when both are empty).
    pub categorized: Option<EntryLabels>,
}

impl Entry {
    /// An entry without categorized labels.
    ///
    /// ```
    /// use loki_logql::Entry;
    /// let e = Entry::new(1_500_000_000, "GET /");
    /// assert_eq!((e.timestamp, e.line.as_str(), e.categorized), (1_500_000_000, "GET /", None));
    /// ```
    pub fn new(timestamp: i64, line: impl Into<String>) -> Entry {
        Entry {
            timestamp,
            line: line.into(),
            categorized: None,
        }
    }
}

/// An entry's structured metadata and parsed labels (those parsers,
/// `label_format` templates and errors set), each sorted by name, as Loki
/// returns them apart from the stream's labels.
///
/// ```
/// use loki_logql::{Entry, EntryLabels};
/// let mut e = Entry::new(5, "msg=hi");
/// e.categorized = Some(EntryLabels {
///     structured_metadata: vec![("trace_id".into(), "7f".into())],
///     parsed: vec![("msg".into(), "hi".into())],
/// });
/// let stream = loki_logql::Stream { labels: loki_logql::parse_labels(r#"{app="a"}"#)?, entries: vec![e] };
/// assert_eq!(
///     serde_json::to_string(&stream)?,
///     r#"{"stream":{"app":"a"},"values":[["5","msg=hi",{"structuredMetadata":{"trace_id":"7f"},"parsed":{"msg":"hi"}}]]}"#
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntryLabels {
    /// The entry's structured metadata (renamed by `label_format` or not).
    pub structured_metadata: Vec<(String, String)>,
    /// Labels the pipeline added, with `__error__` and `__error_details__`.
    pub parsed: Vec<(String, String)>,
}

/// A stream of a log query result: final labels and entries.
#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    /// Labels after the pipeline.
    pub labels: LabelSet,
    /// Entries in the query's direction.
    pub entries: Vec<Entry>,
}

/// One point of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Step time, Unix nanoseconds (a whole millisecond).
    pub timestamp: i64,
    /// The value.
    pub value: f64,
}

/// A labelled series: one point for instant vectors, many for matrices.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The series' labels.
    pub labels: LabelSet,
    /// Points in time order.
    pub samples: Vec<Sample>,
}

/// What a query returns.
///
/// Serialises like the `data` member of Loki's `/query` and
/// `/query_range` responses:
///
/// ```
/// use loki_logql::{QueryResult, Sample};
/// let r = QueryResult::Scalar(Sample { timestamp: 1_500_000_000, value: 2.0 });
/// assert_eq!(serde_json::to_string(&r)?, r#"{"resultType":"scalar","result":[1.5,"2"]}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum QueryResult {
    /// Log query result.
    Streams(Vec<Stream>),
    /// Range query of a metric expression: series with one point per step.
    Matrix(Vec<Series>),
    /// Instant query: one sample per series.
    Vector(Vec<Series>),
    /// A number.
    Scalar(Sample),
}

/// Formats a value as Prometheus does (`1`, `0.5`, `NaN`, `+Inf`).
pub(crate) fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{v}")
    }
}

struct Point(Sample);

impl Serialize for Point {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(2)?;
        let ms = self.0.timestamp.div_euclid(1_000_000);
        t.serialize_element(&(ms as f64 / 1000.0))?;
        t.serialize_element(&fmt_value(self.0.value))?;
        t.end()
    }
}

struct Points<'a>(&'a [Sample]);

impl Serialize for Points<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut q = s.serialize_seq(Some(self.0.len()))?;
        for p in self.0 {
            q.serialize_element(&Point(*p))?;
        }
        q.end()
    }
}

struct Values<'a>(&'a [Entry]);

impl Serialize for Values<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut q = s.serialize_seq(Some(self.0.len()))?;
        for e in self.0 {
            match &e.categorized {
                None => q.serialize_element(&(e.timestamp.to_string(), &e.line))?,
                Some(labels) => q.serialize_element(&(e.timestamp.to_string(), &e.line, labels))?,
            }
        }
        q.end()
    }
}

/// Name-value pairs (a label set's, or an entry's categorized labels) as
/// a JSON object.
struct Pairs<'a>(&'a [(String, String)]);

impl Serialize for Pairs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl Serialize for EntryLabels {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let parts = [
            ("structuredMetadata", &self.structured_metadata),
            ("parsed", &self.parsed),
        ];
        let present = parts.iter().filter(|(_, p)| !p.is_empty()).count();
        let mut m = s.serialize_map(Some(present))?;
        for (name, pairs) in parts {
            if !pairs.is_empty() {
                m.serialize_entry(name, &Pairs(pairs))?;
            }
        }
        m.end()
    }
}

impl Serialize for Stream {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("stream", &Pairs(&self.labels.pairs))?;
        m.serialize_entry("values", &Values(&self.entries))?;
        m.end()
    }
}

struct MatrixSeries<'a>(&'a Series);

impl Serialize for MatrixSeries<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("metric", &Pairs(&self.0.labels.pairs))?;
        m.serialize_entry("values", &Points(&self.0.samples))?;
        m.end()
    }
}

struct VectorSample<'a>(&'a Series);

impl Serialize for VectorSample<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("metric", &Pairs(&self.0.labels.pairs))?;
        let p = self.0.samples.first().copied().unwrap_or(Sample {
            timestamp: 0,
            value: f64::NAN,
        });
        m.serialize_entry("value", &Point(p))?;
        m.end()
    }
}

impl Serialize for QueryResult {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        match self {
            QueryResult::Streams(st) => {
                m.serialize_entry("resultType", "streams")?;
                m.serialize_entry("result", st)?;
            }
            QueryResult::Matrix(v) => {
                m.serialize_entry("resultType", "matrix")?;
                let v: Vec<_> = v.iter().map(MatrixSeries).collect();
                m.serialize_entry("result", &v)?;
            }
            QueryResult::Vector(v) => {
                m.serialize_entry("resultType", "vector")?;
                let v: Vec<_> = v.iter().map(VectorSample).collect();
                m.serialize_entry("result", &v)?;
            }
            QueryResult::Scalar(p) => {
                m.serialize_entry("resultType", "scalar")?;
                m.serialize_entry("result", &Point(*p))?;
            }
        }
        m.end()
    }
}
