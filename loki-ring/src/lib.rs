//! The consistent-hash ring of the `loki` crate family: which ingesters a
//! stream goes to, how many of them must answer, and how instances join
//! and leave — the ring of Grafana's dskit, as Loki uses it.
//!
//! The ring is the 32-bit token space as a circle. Each instance owns
//! tokens; a key (for Loki streams, [`stream_token`] of tenant and labels)
//! belongs to the instance holding the first token above it, and its
//! replicas are the next distinct instances (distinct zones, with zone
//! awareness) clockwise. The state lives in a KV store as dskit's
//! protobuf `ring.Desc`, so a stream lands on the replica set Loki would
//! pick from the same ring.
//!
//! ```
//! use loki_ring::*;
//!
//! // A ring of 10 instances with 128 deterministic tokens each.
//! let now = 1_700_000_000;
//! let mut desc = RingDesc::default();
//! let mut generator = TokenGenerator::seeded(42);
//! for n in 0..10 {
//!     let tokens = generator.generate(DEFAULT_NUM_TOKENS, &desc.taken_tokens())?;
//!     desc.upsert(
//!         InstanceDesc::new(format!("ingester-{n}"), format!("10.0.0.{n}:9095"), "")
//!             .with_tokens(tokens)
//!             .with_timestamp(now),
//!     );
//! }
//! let ring = Ring::new(&desc, RingConfig::default(), now)?;
//!
//! // Where does this stream go, and how many replicas must acknowledge?
//! let labels = labels_string([("app", "shop"), ("service_name", "shop")]);
//! let token = stream_token("tenant-1", &labels);
//! let mut replicas = ReplicationSet::new(); // reused across lookups
//! ring.get(token, Operation::WRITE_NO_EXTEND, &mut replicas)?;
//! assert_eq!(replicas.len(), 3);
//! assert_eq!(replicas.min_success(), 2);
//! for instance in replicas.instances(&ring) {
//!     assert!(instance.addr.starts_with("10.0.0."));
//! }
//!
//! // A tenant's shuffle shard: a deterministic sub-ring of 4 instances.
//! let shard = ring.shuffle_shard("tenant-1", 4);
//! assert_eq!(shard.instances().len(), 4);
//! # Ok::<(), loki_ring::Error>(())
//! ```
//!
//! # Module map
//!
//! - [`stream_token`], [`TokenGenerator`], tokens files (`token.rs`);
//!   [`balanced_tokens`] (`balanced.rs`).
//! - [`InstanceDesc`], [`InstanceState`] (`instance.rs`) and [`RingDesc`]
//!   (`desc.rs`): the stored state, in dskit's protobuf layout,
//!   snappy-compressed in the KV store.
//! - [`RingConfig`] (`config.rs`), [`Operation`] (`operation.rs`).
//! - [`Ring`] (`ring.rs`): the lookup snapshot — sorted tokens with a
//!   token → instance index, [`Ring::get`] with quorum;
//!   [`ReplicationSet`] and whole-ring reads (`replication_set.rs`);
//!   [`Ring::shuffle_shard`] (`shuffle.rs`); [`Ring::ownership`]
//!   (`ownership.rs`).
//! - [`Batch`] (`batch.rs`): items grouped per instance with per-item
//!   quorum tracking (dskit's `DoBatch`).
//! - [`KvStore`], [`MemoryKv`], `EtcdKv`, [`get_ring_desc`],
//!   [`update_ring_desc`] (`kv/`); the shared backend test suite
//!   `suite` (`kv/suite.rs`, feature `integration`).
//! - [`Lifecycler`] (`lifecycler.rs`), [`RingWatcher`] (`watcher.rs`),
//!   [`Clock`] (`clock.rs`): the async parts, on tokio.
//!
//! Ring math ([`Ring`], [`Batch`], tokens) is synchronous; only the KV
//! stores, the lifecycler and the watcher are async.
//!
//! # Where this differs from dskit
//!
//! - Shuffle shards draw from SplitMix64 seeded as dskit seeds Go's
//!   `math/rand`: valid, stable shards, but not the members Loki would
//!   pick for the same tenant. The lookback variant is not provided.
//! - [`balanced_tokens`] is this crate's own even-ownership placement,
//!   not dskit's spread-minimising generator.
//! - Lookups always use the configured replication factor (dskit can
//!   take a per-call one and then targets several replicas per zone).
//! - KV backends: memory and etcd (no Consul, memberlist or multi).
//!
//! # Crate features
//!
//! - `etcd` (off by default): `EtcdKv`, the etcd v3 store. Building it
//!   needs `protoc` (Debian: `protobuf-compiler`), because the etcd client
//!   compiles etcd's protobuf definitions at build time.
//! - `integration` (off by default, **unstable**): makes `suite`, the
//!   test suite every [`KvStore`] must pass, public.
//!
//! # Dependencies, and why
//!
//! - `prost`: the ring description in dskit's protobuf layout (messages
//!   derived by hand here, so no `protoc` is needed without `etcd`).
//! - `snap`: dskit stores the protobuf snappy block-compressed.
//! - `md-5`: shuffle-shard seeds are MD5-derived, as in dskit.
//! - `unicode-general-category`: the Unicode categories behind Go's
//!   `strconv.IsPrint`, which decides how [`labels_string`] quotes a
//!   label value (and so which token a stream gets).
//! - `tokio`: the lifecycler's heartbeat task and timers, watch channels.
//! - `async-trait`: [`KvStore`] is async and object-safe (`&dyn KvStore`).
//! - `bytes`: KV values.
//! - `parking_lot`: short locks (in-memory store, shard cache).
//! - `fastrand`: seeds random token generation.
//! - `serde`, `serde_json`: tokens files and a JSON view of the ring.
//! - `thiserror`: the error type.
//! - `etcd-client` (feature `etcd`): a maintained etcd v3 gRPC client.

mod balanced;
mod batch;
mod clock;
mod config;
mod desc;
mod error;
mod instance;
mod kv;
mod lifecycler;
mod operation;
mod ownership;
mod quote;
mod replication_set;
mod ring;
mod shuffle;
mod token;
mod watcher;

pub use balanced::balanced_tokens;
pub use batch::{Batch, BatchStatus, InstanceBatch, ItemStatus, Outcome};
pub use clock::{Clock, SystemClock, TokioClock};
pub use config::RingConfig;
pub use desc::RingDesc;
pub use error::{Error, ErrorKind, Result};
pub use instance::{InstanceDesc, InstanceState};
#[cfg(feature = "etcd")]
pub use kv::etcd::EtcdKv;
pub use kv::memory::MemoryKv;
#[cfg(feature = "integration")]
pub use kv::suite;
pub use kv::{get_ring_desc, update_ring_desc, CasFn, KvStore, Update, Watch, MAX_CAS_ATTEMPTS};
pub use lifecycler::{Lifecycler, LifecyclerConfig};
pub use operation::Operation;
pub use ownership::{InstanceOwnership, Ownership};
pub use quote::{go_quote, is_go_print, labels_string};
pub use replication_set::ReplicationSet;
pub use ring::Ring;
pub use token::{
    decode_tokens_file, encode_tokens_file, stream_token, TokenGenerator, TokenStrategy,
    DEFAULT_NUM_TOKENS,
};
pub use watcher::RingWatcher;
