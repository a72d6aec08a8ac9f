//! Loki's push protobuf messages (`package logproto`), as prost derives:
//! no code generation step, field numbers as in Loki's `push.proto`.
//!
//! Clients (the `loadgen` example, embedding programs) build these to push
//! in the wire format Promtail and Grafana Alloy use: the message encoded
//! with prost, then compressed with raw (unframed) snappy, sent with
//! `Content-Type: application/x-protobuf`. The server reads push bodies
//! with its own zero-copy reader of the same wire format, whose property
//! tests hold it to what prost decodes.
//!
//! ```
//! use loki::server::proto::{EntryAdapter, PushRequest, StreamAdapter, Timestamp};
//!
//! let request = PushRequest {
//!     streams: vec![StreamAdapter {
//!         labels: r#"{app="shop"}"#.to_owned(),
//!         entries: vec![EntryAdapter {
//!             timestamp: Some(Timestamp::from_unix_nanos(1_700_000_000_000_000_123)),
//!             line: "level=info msg=ok".to_owned(),
//!             structured_metadata: Vec::new(),
//!         }],
//!         hash: 0,
//!     }],
//! };
//! let body = request.encode_snappy();
//! let streams = loki::server::decode_push("application/x-protobuf", "", body.into())?;
//! assert_eq!(streams[0].entries[0].timestamp, 1_700_000_000_000_000_123);
//! assert_eq!(streams[0].entries[0].line, "level=info msg=ok");
//! # Ok::<(), loki::server::ApiError>(())
//! ```

/// `logproto.PushRequest`: one push, several streams.
///
/// ```
/// use loki::server::proto::PushRequest;
///
/// let empty = PushRequest::default();
/// assert!(empty.streams.is_empty());
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct PushRequest {
    /// The streams.
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

impl PushRequest {
    /// The request as a push body: protobuf, then raw snappy.
    ///
    /// ```
    /// use loki::server::proto::PushRequest;
    /// use prost::Message;
    ///
    /// let body = PushRequest::default().encode_snappy();
    /// let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
    /// assert_eq!(PushRequest::decode(&raw[..]).unwrap(), PushRequest::default());
    /// ```
    pub fn encode_snappy(&self) -> Vec<u8> {
        let raw = prost::Message::encode_to_vec(self);
        // Compressing a buffer in memory has no failure mode but its size,
        // which snappy bounds far above any push body.
        snap::raw::Encoder::new()
            .compress_vec(&raw)
            .unwrap_or_default()
    }
}

/// `logproto.StreamAdapter`: a label set and its entries.
///
/// ```
/// use loki::server::proto::StreamAdapter;
///
/// let stream = StreamAdapter { labels: r#"{job="nginx"}"#.to_owned(), ..Default::default() };
/// assert!(stream.entries.is_empty());
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamAdapter {
    /// The label set text, `{a="b", …}`.
    #[prost(string, tag = "1")]
    pub labels: String,
    /// The entries.
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    /// Internal to Loki's distributors; ignored (send 0).
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

/// `logproto.EntryAdapter`: one log line.
///
/// ```
/// use loki::server::proto::{EntryAdapter, LabelPairAdapter, Timestamp};
///
/// let entry = EntryAdapter {
///     timestamp: Some(Timestamp::from_unix_nanos(5)),
///     line: "hello".to_owned(),
///     structured_metadata: vec![LabelPairAdapter { name: "trace_id".into(), value: "abc".into() }],
/// };
/// assert_eq!(entry.timestamp.unwrap().nanos, 5);
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct EntryAdapter {
    /// The entry time.
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    /// The line.
    #[prost(string, tag = "2")]
    pub line: String,
    /// Structured metadata.
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
}

/// `google.protobuf.Timestamp`.
///
/// ```
/// use loki::server::proto::Timestamp;
///
/// let ts = Timestamp::from_unix_nanos(1_700_000_000_000_000_123);
/// assert_eq!((ts.seconds, ts.nanos), (1_700_000_000, 123));
/// assert_eq!(ts.unix_nanos(), 1_700_000_000_000_000_123);
/// assert_eq!(Timestamp::from_unix_nanos(-1).unix_nanos(), -1);
/// ```
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Timestamp {
    /// Seconds since the Unix epoch.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second (0 to 999,999,999).
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    /// The timestamp of `ns` nanoseconds since the Unix epoch.
    pub fn from_unix_nanos(ns: i64) -> Timestamp {
        Timestamp {
            seconds: ns.div_euclid(1_000_000_000),
            nanos: ns.rem_euclid(1_000_000_000) as i32,
        }
    }

    /// Nanoseconds since the Unix epoch (saturating).
    pub fn unix_nanos(self) -> i64 {
        self.seconds
            .saturating_mul(1_000_000_000)
            .saturating_add(i64::from(self.nanos))
    }
}

/// `logproto.LabelPairAdapter`: a structured-metadata pair.
///
/// ```
/// use loki::server::proto::LabelPairAdapter;
///
/// let pair = LabelPairAdapter { name: "user".into(), value: "42".into() };
/// assert_eq!(pair.name, "user");
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelPairAdapter {
    /// The name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// The querier's request to an ingester for the entries of matching
/// streams (internal to distributed mode, `POST /internal/select`).
///
/// ```
/// use loki::server::proto::SelectRequest;
/// use prost::Message;
///
/// let req = SelectRequest { tenants: vec!["fake".into()], selector: r#"{app="shop"}"#.into(), start: 0, end: 10, ..Default::default() };
/// assert_eq!(SelectRequest::decode(&req.encode_to_vec()[..]).unwrap(), req);
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct SelectRequest {
    /// The tenants read (several for `a|b` queries).
    #[prost(string, repeated, tag = "1")]
    pub tenants: Vec<String>,
    /// A LogQL stream selector, `{name="value", …}`.
    #[prost(string, tag = "2")]
    pub selector: String,
    /// Start, Unix ns, inclusive.
    #[prost(int64, tag = "3")]
    pub start: i64,
    /// End, Unix ns, exclusive.
    #[prost(int64, tag = "4")]
    pub end: i64,
    /// Newest entries first.
    #[prost(bool, tag = "5")]
    pub backward: bool,
    /// The query's leading line filters as LogQL stages (`|= "a" != "b"`):
    /// the ingester returns only entries passing them (empty: every entry).
    #[prost(string, tag = "6")]
    pub line_filters: String,
    /// At most this many entries are wanted, the first in direction order
    /// across all streams: the ingester returns those and any tying with
    /// the last (0: no limit).
    #[prost(uint64, tag = "7")]
    pub limit: u64,
    /// The query's cutoff when the request was sent: forward, entries at or
    /// after it are not wanted; backward, at or before it.
    #[prost(int64, optional, tag = "8")]
    pub cutoff: Option<i64>,
    /// Samples are wanted (in [`SelectResponse::samples`]), not entries.
    #[prost(bool, tag = "9")]
    pub samples: bool,
}

/// An ingester's answer to a [`SelectRequest`]: every matching stream with
/// its entries in the requested direction.
///
/// ```
/// use loki::server::proto::{SelectResponse, StreamAdapter};
///
/// let resp = SelectResponse { streams: vec![StreamAdapter { labels: r#"{app="shop"}"#.into(), ..Default::default() }], ..Default::default() };
/// assert_eq!(resp.streams.len(), 1);
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct SelectResponse {
    /// The streams.
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
    /// The streams' samples, when [`SelectRequest::samples`] was set.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<SampleStream>,
}

/// The samples of one stream in an ingester's [`SelectResponse`]: per
/// entry that passed the line filters, its time, line length, a hash of
/// its line (so replicas' copies of one entry count once, as Loki's
/// `Sample.hash`) and structured metadata, in ascending time order.
///
/// ```
/// use loki::server::proto::SampleStream;
///
/// let s = SampleStream { labels: r#"{app="shop"}"#.into(), timestamps: vec![1, 2], bytes: vec![5, 6], hashes: vec![7, 8], metadata: Vec::new() };
/// assert_eq!(s.timestamps.len(), s.hashes.len());
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct SampleStream {
    /// The label set text, `{a="b", …}`.
    #[prost(string, tag = "1")]
    pub labels: String,
    /// Entry times, Unix ns.
    #[prost(int64, repeated, tag = "2")]
    pub timestamps: Vec<i64>,
    /// Line lengths in bytes.
    #[prost(uint64, repeated, tag = "3")]
    pub bytes: Vec<u64>,
    /// Line hashes (FNV-1a 64).
    #[prost(fixed64, repeated, tag = "4")]
    pub hashes: Vec<u64>,
    /// Structured metadata per entry; may be shorter than `timestamps`
    /// when the trailing entries have none.
    #[prost(message, repeated, tag = "5")]
    pub metadata: Vec<SampleMetadata>,
}

/// One sample's structured metadata in a [`SampleStream`].
///
/// ```
/// use loki::server::proto::{LabelPairAdapter, SampleMetadata};
///
/// let m = SampleMetadata { pairs: vec![LabelPairAdapter { name: "user".into(), value: "1".into() }] };
/// assert_eq!(m.pairs.len(), 1);
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct SampleMetadata {
    /// The pairs.
    #[prost(message, repeated, tag = "1")]
    pub pairs: Vec<LabelPairAdapter>,
}

/// The querier's request to an ingester for label names (no `name`),
/// label values (`name` set) or series (`series` set), internal to
/// distributed mode (`POST /internal/labels`).
///
/// ```
/// use loki::server::proto::LabelRequest;
///
/// let req = LabelRequest { name: Some("app".into()), ..Default::default() };
/// assert_eq!(req.name.as_deref(), Some("app"));
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelRequest {
    /// The tenants read.
    #[prost(string, repeated, tag = "1")]
    pub tenants: Vec<String>,
    /// A label name: its values are wanted.
    #[prost(string, optional, tag = "2")]
    pub name: Option<String>,
    /// Stream selectors narrowing the streams (none: every stream).
    #[prost(string, repeated, tag = "3")]
    pub selectors: Vec<String>,
    /// Start, Unix ns, inclusive.
    #[prost(int64, tag = "4")]
    pub start: i64,
    /// End, Unix ns, exclusive.
    #[prost(int64, tag = "5")]
    pub end: i64,
    /// Series (label sets as text) are wanted, not names or values.
    #[prost(bool, tag = "6")]
    pub series: bool,
}

/// An ingester's answer to a [`LabelRequest`]: names, values or label-set
/// texts, sorted and distinct.
///
/// ```
/// use loki::server::proto::LabelResponse;
///
/// let resp = LabelResponse { values: vec!["app".into()] };
/// assert_eq!(resp.values, ["app"]);
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelResponse {
    /// The values.
    #[prost(string, repeated, tag = "1")]
    pub values: Vec<String>,
}

/// The querier's request to an ingester for per-stream volumes or index
/// statistics (internal to distributed mode, `POST /internal/volume` and
/// `POST /internal/stats`).
///
/// ```
/// use loki::server::proto::IndexRequest;
///
/// let req = IndexRequest { tenants: vec!["fake".into()], selector: r#"{app="shop"}"#.into(), from: 0, through: 10 };
/// assert_eq!(req.through, 10);
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct IndexRequest {
    /// The tenants read.
    #[prost(string, repeated, tag = "1")]
    pub tenants: Vec<String>,
    /// A LogQL stream selector.
    #[prost(string, tag = "2")]
    pub selector: String,
    /// Start, Unix ns, inclusive.
    #[prost(int64, tag = "3")]
    pub from: i64,
    /// End, Unix ns, exclusive.
    #[prost(int64, tag = "4")]
    pub through: i64,
}

/// An ingester's per-stream volumes: what it holds of each matching
/// stream in range, so that the querier counts each replicated stream
/// once.
///
/// ```
/// use loki::server::proto::{StreamVolume, StreamVolumes};
///
/// let v = StreamVolumes { streams: vec![StreamVolume { tenant: "fake".into(), labels: r#"{app="shop"}"#.into(), bytes: 42 }] };
/// assert_eq!(v.streams[0].bytes, 42);
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamVolumes {
    /// The streams.
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamVolume>,
}

/// One stream's volume in [`StreamVolumes`].
///
/// ```
/// use loki::server::proto::StreamVolume;
///
/// assert_eq!(StreamVolume::default().bytes, 0);
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamVolume {
    /// The stream's tenant.
    #[prost(string, tag = "1")]
    pub tenant: String,
    /// The stream's label set text.
    #[prost(string, tag = "2")]
    pub labels: String,
    /// Uncompressed bytes in range.
    #[prost(uint64, tag = "3")]
    pub bytes: u64,
}

/// An ingester's index statistics: its totals and the streams they cover
/// (the querier counts replicated streams once).
///
/// ```
/// use loki::server::proto::IndexStats;
///
/// let s = IndexStats { streams: vec!["fake {app=\"shop\"}".into()], chunks: 1, entries: 10, bytes: 100 };
/// assert_eq!(s.streams.len(), 1);
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct IndexStats {
    /// The streams, as tenant, a space and the label set text.
    #[prost(string, repeated, tag = "1")]
    pub streams: Vec<String>,
    /// Chunks.
    #[prost(uint64, tag = "2")]
    pub chunks: u64,
    /// Entries.
    #[prost(uint64, tag = "3")]
    pub entries: u64,
    /// Uncompressed bytes.
    #[prost(uint64, tag = "4")]
    pub bytes: u64,
}

/// The querier's request to an ingester for its live pushes of some
/// tenants (internal to distributed mode, `POST /internal/tail`). The
/// answer is a stream of length-delimited [`TailFrame`]s that lasts until
/// the querier closes it.
///
/// ```
/// use loki::server::proto::TailRequest;
///
/// let req = TailRequest { tenants: vec!["fake".into()] };
/// assert_eq!(req.tenants.len(), 1);
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct TailRequest {
    /// The tenants tailed.
    #[prost(string, repeated, tag = "1")]
    pub tenants: Vec<String>,
}

/// One push an ingester stored, as sent to a tailing querier.
///
/// ```
/// use loki::server::proto::{StreamAdapter, TailFrame};
///
/// let frame = TailFrame { tenant: "fake".into(), streams: vec![StreamAdapter::default()], dropped: 0 };
/// assert_eq!(frame.streams.len(), 1);
/// ```
#[derive(Clone, PartialEq, prost::Message)]
pub struct TailFrame {
    /// The tenant of the streams.
    #[prost(string, tag = "1")]
    pub tenant: String,
    /// The streams with the entries pushed.
    #[prost(message, repeated, tag = "2")]
    pub streams: Vec<StreamAdapter>,
    /// Entries the ingester dropped for this tail (it fell behind).
    #[prost(uint64, tag = "3")]
    pub dropped: u64,
}
