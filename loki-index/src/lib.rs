//! `loki-index`: the inverted label index of the `loki` crate family.
//!
//! Loki indexes labels only: every query starts by turning a stream selector
//! such as `{app="checkout", env=~"prod|staging"}` into the set of streams
//! and then into the chunks to read. This crate does that step in
//! microseconds to a few milliseconds at a million streams, and keeps its
//! on-disk segments small, checksummed and readable straight from bytes
//! fetched from an object store.
//!
//! * A **series** is a [`Labels`] set with a dense id inside one index and
//!   the stream [`fingerprint`] (xxHash64, the same value `loki-chunk`
//!   computes).
//! * **Postings**: per `(name, value)` the series ids, as roaring bitmaps
//!   (or a single inline id); per name the sorted values in an `fst` term
//!   dictionary.
//! * **Matchers** ([`Matcher`], [`Selector`]) follow Prometheus/Loki
//!   semantics: anchored regexes, `""` meaning "label absent", and Loki's rule
//!   that a selector needs one `=`/`=~` matcher rejecting `""`. Regexes are
//!   resolved by fst lookups (literal alternations), fst range scans (literal
//!   prefixes) or by walking the fst with a DFA, never by scanning series.
//! * **Chunk refs** ([`ChunkRef`]) per series, filtered by [`TimeRange`].
//! * A concurrent, mutable [`HeadIndex`] and immutable [`Segment`]s, written
//!   per tenant and period ([`DEFAULT_PERIOD_MS`] = 24h) and merged by
//!   [`merge_segments`] (dropping deleted chunks).
//! * A [`Querier`] over the head plus any number of segments answers chunk
//!   ref lookups, series, label names and values, stats and volume queries.
//!
//! Parsing the `{a="b"}` text form is not done here: that grammar lives in
//! `loki-logql`, which builds [`Labels`] and [`Matcher`]s from it.
//!
//! # Example
//!
//! ```
//! use loki_index::{ChunkRef, HeadIndex, Labels, MatchOp, Matcher, Querier, Segment, Selector, TimeRange};
//!
//! let head = HeadIndex::new();
//! for (app, pod) in [("checkout", "checkout-1"), ("checkout", "checkout-2"), ("cart", "cart-1")] {
//!     let labels = Labels::new([("app", app), ("pod", pod), ("namespace", "shop")])?;
//!     let chunk = ChunkRef { from: 0, through: 60_000, checksum: 1, compressed_size: 100, entries: 10, uncompressed_size: 1000 };
//!     head.insert(&labels, chunk)?;
//! }
//!
//! // Flush the head to a segment and query both.
//! let segment = Segment::open(head.write_segment("tenant-a", TimeRange::ALL)?.into())?;
//! let segments = [segment];
//! let querier = Querier::new(Some(&head), &segments);
//!
//! let selector = Selector::new(vec![Matcher::new("pod", MatchOp::Regex, "checkout-.*")?])?;
//! let refs = querier.chunk_refs(&selector, TimeRange::new(0, 1_000))?;
//! assert_eq!(refs.len(), 2); // deduplicated across head and segment
//! assert_eq!(querier.label_values("app", None, TimeRange::ALL)?, ["cart", "checkout"]);
//! # Ok::<(), loki_index::Error>(())
//! ```
//!
//! # Module map
//!
//! | module | concept |
//! |---|---|
//! | `labels` | [`Labels`] validation and the stream [`fingerprint`] |
//! | `matcher` | [`MatchOp`], [`Matcher`], [`Selector`] and their rules |
//! | `regex_plan` | regex analysis: literal sets, prefixes, fst-walking DFA |
//! | `chunk_ref` | [`ChunkRef`], [`TimeRange`] |
//! | `source` | the read trait shared by head and segments; matcher evaluation over postings |
//! | `head_store` | the interned series store (postings, value dictionary) |
//! | `head_prefilter` | 4-byte value keys: prefix scans over the head's values |
//! | `head` | [`HeadIndex`]: the store behind a `parking_lot` lock; flushing by period |
//! | `raw` | the on-disk layout (byte diagram), varints, footer, section refs |
//! | `consts` | [`FORMAT_VERSION`] and every format-shaping limit |
//! | `segment_writer` | serialising a store into a segment |
//! | `segment` | [`Segment`]: open from `Bytes`, lazy per-section checks, `verify` |
//! | `segment_names` | one name's fst and postings, used in place |
//! | `segment_source` | the read trait over a segment |
//! | `builder` | [`SegmentBuilder`] and [`merge_segments`] (compaction) |
//! | `querier` | [`Querier`]: union of head and segments; stats and volume |
//!
//! # Costs and limits
//!
//! * [`Segment::open`] reads header, footer and TOC only; a section's CRC is
//!   checked on its first use, [`Segment::verify`] checks everything.
//! * A regex whose DFA would exceed 4 MiB falls back to testing every value of
//!   that one label name (never every series).
//! * In the head, regexes other than literal sets are tested against the values
//!   of their label name (the head keeps no sorted dictionary, to stay small);
//!   when every match starts with one of a few literal prefixes, only values
//!   whose first 4 bytes agree with a prefix are tested (a scan of 4 bytes
//!   per value).
//! * [`Querier::chunk_refs`] returns refs in no particular order; Loki treats
//!   the fingerprint as the stream key, so two label sets colliding on a
//!   fingerprint share their refs there (all other answers keep them apart).
//!
//! # Crate features
//!
//! None. The on-disk format never depends on features; it is fixed by
//! [`FORMAT_VERSION`].
//!
//! # Dependencies
//!
//! * `fst` — the per-name term dictionary: compact, sorted, range- and
//!   automaton-searchable in place.
//! * `roaring` — postings: compressed bitmaps with fast set algebra.
//! * `regex`, `regex-syntax`, `regex-automata` — matching values, analysing a
//!   regex into literals/prefixes, and the DFA that walks the fst.
//! * `parking_lot` — the head's read/write lock.
//! * `hashbrown` — `HashTable`, to intern values and fingerprints by id
//!   without storing each string twice.
//! * `bytes` — segments are shared, sliceable buffers from the object store.
//! * `crc32fast` — section, TOC and footer checksums (CRC-32 IEEE).
//! * `xxhash-rust` — the xxHash64 stream fingerprint.
//! * `thiserror` — the [`Error`] type.

mod builder;
mod chunk_ref;
mod consts;
mod error;
mod head;
mod head_prefilter;
mod head_store;
mod labels;
mod matcher;
mod querier;
mod raw;
mod regex_plan;
mod segment;
mod segment_names;
mod segment_source;
mod segment_writer;
mod source;

pub use builder::{merge_segments, SegmentBuilder};
pub use chunk_ref::{ChunkRef, TimeRange};
pub use consts::{DEFAULT_PERIOD_MS, FORMAT_VERSION};
pub use error::{Error, ErrorKind, Result};
pub use head::HeadIndex;
pub use labels::{fingerprint, Labels};
pub use matcher::{MatchOp, Matcher, Selector};
pub use querier::{
    AggregateBy, Querier, SeriesChunkRef, Stats, Volume, VolumeRequest, VolumeTally,
};
pub use segment::{Segment, SegmentSizes};
