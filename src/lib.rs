//! `loki`: a Grafana Loki–compatible log storage engine, as a family of
//! embeddable crates.
//!
//! This facade re-exports the member crates under short names and hosts the
//! example server, load tools and benchmarks.
//!
//! | module | crate | owns |
//! |---|---|---|
//! | [`chunk`] | `loki-chunk` | the compressed chunk format |
//! | [`index`] | `loki-index` | the inverted label index |
//! | [`ring`] | `loki-ring` | the consistent-hash ring |
//! | [`logql`] | `loki-logql` | the LogQL language and evaluator |
//! | [`store`] | `loki-store` | the storage engine over `object_store` |
//! | [`corpus`] | this crate | a deterministic generator of realistic log lines |
//! | `server` | this crate | the Loki-compatible HTTP server (feature `server`, on by default) |
//!
//! # Crate features
//!
//! - `server` (default): [`server`], the HTTP API over the crates, with its
//!   dependencies (axum and tokio for HTTP and WebSocket tailing, prost
//!   and snap for Loki's protobuf push bodies, flate2 for gzip bodies,
//!   serde_json for JSON, serde_yaml_ng for the YAML configuration: the
//!   maintained fork of the archived serde_yaml).

pub use loki_chunk as chunk;
pub use loki_index as index;
pub use loki_logql as logql;
pub use loki_ring as ring;
pub use loki_store as store;

pub mod corpus;
#[cfg(feature = "server")]
pub mod server;
