//! The storage engine of the `loki` crate family: where the crates become a
//! database.
//!
//! Streams are ingested per tenant (labels → an open [`loki_chunk`] chunk),
//! made durable in a write-ahead log before a push is acknowledged, flushed
//! as Loki-format chunk objects plus [`loki_index`] segments to any object
//! store, and read back by selector and time range.
//!
//! ```
//! use loki_chunk::Direction;
//! use loki_index::{Labels, MatchOp, Matcher, Selector};
//! use loki_store::{PushEntry, PushStream, Store, StoreConfig};
//!
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(StoreConfig::filesystem(dir.path())).await?;
//! let now = 1_700_000_000_000_000_000;
//! let labels = Labels::new([("app", "shop"), ("env", "prod")])?;
//! let entries = vec![PushEntry::new(now, "GET /cart 200"), PushEntry::new(now + 1, "GET /pay 500")];
//! let summary = store.push_at("tenant-a", vec![PushStream { labels, entries }], now).await?;
//! assert_eq!(summary.accepted, 2);
//! drop(store);
//!
//! // A restart replays the WAL: nothing acknowledged is lost.
//! let store = Store::open(StoreConfig::filesystem(dir.path())).await?;
//! let selector = Selector::new(vec![Matcher::new("app", MatchOp::Equal, "shop")?])?;
//! let found = store.select("tenant-a", &selector, now, now + 10, Direction::Backward, 10).await?;
//! assert_eq!(found[0].entries[0].line, "GET /pay 500");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Module map
//!
//! | module | what it does |
//! |---|---|
//! | `store` | [`Store`]: tenants, streams, push, open and replay |
//! | `flush` | sealing and uploading chunks, writing index segments, WAL checkpoints, the maintenance loop |
//! | `ingest` | limits and validation with Loki's messages; [`PushSummary`] |
//! | `stream` | one stream: the open chunk, sealed chunks, the out-of-order window |
//! | `logql` | [`TenantStorage`]: the store as the LogQL evaluator's storage |
//! | `query` | selecting entries, label names and values, series; the chunk cache |
//! | `segments` | the index segment cache: segment metadata resident, bytes loaded on demand within a byte budget ([`SegmentCacheStats`]) |
//! | `retention` | retention periods, delete requests, the compactor pass (unreadable segments are skipped and reported, [`SkippedSegment`]) |
//! | `objects` | the object store by URL; chunk and segment paths |
//! | [`wal`] | the write-ahead log: framed, checksummed records encoded in one pass; group commit; checkpoints (also once `wal_checkpoint_bytes` are logged); replay |
//! | `config` | [`StoreConfig`], [`Limits`] |
//! | `tenant` | [`validate_tenant`] |
//!
//! # Crate features
//!
//! - `s3`, `gcs`, `azure` (off): the cloud object stores (`s3://`, `gs://`,
//!   `az://` URLs), through `object_store`'s backends.
//! - `integration` (off, unstable): the backend conformance suite, the
//!   `integration` module, which every backend's tests run.
//!
//! The local filesystem (`file://`) and in-memory (`memory://`) stores are
//! always available.
//!
//! # Dependencies, and why
//!
//! - `loki-chunk`, `loki-index`: the chunk format and the label index.
//! - `loki-logql`: the storage seam this crate implements for the evaluator.
//! - `object_store`: one interface to the filesystem, memory and cloud stores.
//! - `tokio`, `futures`: concurrent uploads and fetches; blocking WAL writes
//!   off the async threads.
//! - `parking_lot`: short critical sections around streams and indexes.
//! - `lru`: the decoded-chunk and index segment caches.
//! - `crc32fast`: WAL record checksums (our own format, so IEEE CRC-32).
//! - `humantime`: timestamps in Loki's refusal messages.
//! - `libc`: the `O_DIRECT` flag for WAL segments on Linux.
//! - `serde`, `serde_json`: delete requests as stored JSON.
//! - `url`: storage locations.
//! - `tracing`: warnings about damage found and uploads retried.
//! - `thiserror`: the error type.

mod config;
mod error;
mod flush;
mod ingest;
#[cfg(feature = "integration")]
pub mod integration;
mod logql;
mod objects;
mod query;
mod retention;
mod segments;
mod shared;
mod store;
mod stream;
mod tail;
mod tenant;
mod volume;
pub mod wal;

pub use config::{Clock, Limits, StoreConfig};
pub use error::{Error, ErrorKind, Result};
pub use ingest::{PushStream, PushSummary, Refusal, RefusalKind};
pub use logql::{index_selector, TenantStorage};
pub use loki_index::Selector;
pub use query::{QueryEntry, StreamEntries};
pub use retention::{CompactSummary, DeleteRequest, DeleteStatus, RetentionRule, SkippedSegment};
pub use segments::SegmentCacheStats;
pub use store::{FlushSummary, Store};
pub use stream::PushEntry;
pub use tail::{
    DroppedEntry, TailBatch, TailStream, TailSubscription, TAIL_DROPPED_REMEMBERED,
    TAIL_QUEUE_BYTES, TAIL_QUEUE_ENTRIES,
};
pub use tenant::{validate_tenant, MAX_TENANT_LEN};
