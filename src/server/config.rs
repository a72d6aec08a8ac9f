//! The server's configuration: a YAML file with Loki's names where the
//! concept is the same, command-line flags over it, and the mapping onto
//! [`StoreConfig`].
//!
//! Parsing is strict, as Loki's: an unknown key is an error naming it.
//! Loki's own keys for things this server does not have (`schema_config`,
//! `server.grpc_listen_port`, `memberlist`, `query_range`, …, listed in
//! [`IGNORED_LOKI_KEYS`]) are accepted and ignored with one warning each,
//! so a real Loki configuration file works as it is.
//! Flags use Loki's names (`-server.http-listen-port=3200`) and win over
//! the file. With neither, the defaults make a single-machine server:
//! storage under `./data`, listening on 127.0.0.1:3100, authentication off.
//!
//! ```
//! use loki::server::Config;
//!
//! let config = Config::from_yaml("server:\n  http_listen_port: 3200\nlimits_config:\n  max_line_size: 1MB\n")?;
//! assert_eq!(config.server.http_listen_port, 3200);
//! assert_eq!(config.limits_config.max_line_size.0, 1 << 20);
//!
//! let err = Config::from_yaml("server:\n  http_port: 1\n").unwrap_err();
//! assert!(err.to_string().contains("http_port"));
//! # Ok::<(), loki::server::ConfigError>(())
//! ```
//!
//! YAML is read with `serde_yaml_ng`, the maintained fork of `serde_yaml`
//! (archived in 2024): the same serde data model, without the soundness
//! reports of the other fork. `serde_path_to_error` names the key of a
//! value that does not fit (`server.http_listen_port: invalid value…`),
//! since flags are merged into the YAML tree before it is typed.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use loki_chunk::Codec;
use loki_store::{Limits, StoreConfig};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_yaml_ng::{Mapping, Value};

/// What went wrong reading the configuration.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The YAML is malformed, or a key is unknown or has the wrong type.
    Yaml(String),
    /// A command-line argument is not a known flag or has a bad value.
    Flag(String),
    /// A value is out of range or names something that does not exist.
    Invalid(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { path, source } => {
                write!(f, "cannot read config file {}: {source}", path.display())
            }
            ConfigError::Yaml(m) => write!(f, "invalid config: {m}"),
            ConfigError::Flag(m) => write!(f, "invalid flag: {m}"),
            ConfigError::Invalid(m) => write!(f, "invalid config: {m}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Read { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A duration written as Loki writes them: `30s`, `1h30m`, `1w`, or plain
/// seconds. `0s` means "off" where Loki says so.
///
/// ```
/// use loki::server::GoDuration;
/// let d: GoDuration = "1h30m".parse()?;
/// assert_eq!(d.0.as_secs(), 5400);
/// assert_eq!(d.to_string(), "1h30m");
/// # Ok::<(), loki::server::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GoDuration(pub Duration);

impl std::str::FromStr for GoDuration {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let ns = super::params::duration(s.trim())
            .map_err(|_| ConfigError::Invalid(format!("cannot parse duration {s:?}")))?;
        u64::try_from(ns)
            .map(|ns| GoDuration(Duration::from_nanos(ns)))
            .map_err(|_| ConfigError::Invalid(format!("negative duration {s:?}")))
    }
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
            if ms >= size {
                write!(f, "{}{unit}", ms / size)?;
                ms %= size;
            }
        }
        Ok(())
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => s.parse().map_err(D::Error::custom),
            Value::Number(n) => n
                .as_f64()
                .and_then(|v| Duration::try_from_secs_f64(v).ok())
                .map(GoDuration)
                .ok_or_else(|| D::Error::custom(format!("invalid duration {n}"))),
            other => Err(D::Error::custom(format!(
                "expected a duration such as \"1h\", got {other:?}"
            ))),
        }
    }
}

/// A byte size: an integer, or a number with a unit (`256KB`, `1.5MB`,
/// `2GiB`; K, M and G are powers of 1024, as in Loki).
///
/// ```
/// use loki::server::ByteSize;
/// let b: ByteSize = "256KB".parse()?;
/// assert_eq!(b.0, 262_144);
/// # Ok::<(), loki::server::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ByteSize(pub u64);

impl std::str::FromStr for ByteSize {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let bad = || ConfigError::Invalid(format!("cannot parse byte size {s:?}"));
        let s = s.trim();
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (number, unit) = s.split_at(split);
        let number: f64 = number.parse().map_err(|_| bad())?;
        let unit = unit.trim().to_ascii_lowercase();
        let factor: f64 = match unit.trim_end_matches("ib").trim_end_matches('b') {
            "" => 1.0,
            "k" => 1024.0,
            "m" => 1024.0 * 1024.0,
            "g" => 1024.0 * 1024.0 * 1024.0,
            "t" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
            _ => return Err(bad()),
        };
        let bytes = number * factor;
        if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
            return Err(bad());
        }
        Ok(ByteSize(bytes as u64))
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => s.parse().map_err(D::Error::custom),
            Value::Number(n) => n
                .as_u64()
                .map(ByteSize)
                .ok_or_else(|| D::Error::custom(format!("invalid byte size {n}"))),
            other => Err(D::Error::custom(format!(
                "expected a byte size such as \"256KB\", got {other:?}"
            ))),
        }
    }
}

/// The whole configuration. Every section and key is optional.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct Config {
    /// `auth_enabled`: require `X-Scope-OrgID` (default `false`: every
    /// request is tenant `fake`).
    pub auth_enabled: bool,
    /// `server`.
    pub server: ServerConfig,
    /// `common`: Loki's shared settings (`path_prefix`, `storage`).
    pub common: CommonConfig,
    /// `storage`: where data lives (overrides `common`).
    pub storage: StorageConfig,
    /// `limits_config`: per-tenant limits.
    pub limits_config: LimitsConfig,
    /// `ingester`: chunks and the write-ahead log.
    pub ingester: IngesterConfig,
    /// `compactor`: compaction and retention.
    pub compactor: CompactorConfig,
    /// `overrides`: per-tenant `limits_config` keys, as in Loki's runtime
    /// configuration file; keys not given inherit `limits_config`.
    pub overrides: BTreeMap<String, Mapping>,
    /// `target`: which part of Loki this process runs (`-target`).
    pub target: Target,
    /// `ring`: the hash ring of distributed mode.
    pub ring: RingSettings,
}

/// `target`: the component a process runs, as Loki's `-target`.
///
/// ```
/// use loki::server::{Config, Target};
///
/// let config = Config::from_args(["-target=ingester"])?.config;
/// assert_eq!(config.target, Target::Ingester);
/// assert_eq!(Config::default().target, Target::All);
/// # Ok::<(), loki::server::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Target {
    /// Everything in one process, without a ring (the default).
    #[default]
    All,
    /// Validates pushes and replicates them to ingesters.
    Distributor,
    /// Holds recent data (WAL, head) and flushes it to the object store.
    Ingester,
    /// Answers queries from the ingesters and the object store.
    Querier,
    /// Compacts the shared object store's index, applies retention and
    /// delete requests, and answers the delete API.
    Compactor,
}

/// `ring`: where the ring lives and how this instance joins it.
///
/// ```
/// use loki::server::Config;
///
/// let config = Config::from_args(["-ring.store=etcd", "-ring.etcd.endpoints=127.0.0.1:2379", "-ingester.lifecycler.id=ingester-1"])?.config;
/// assert_eq!(config.ring.store, "etcd");
/// assert_eq!(config.ring.etcd_endpoints, "127.0.0.1:2379");
/// assert_eq!(config.ring.replication_factor, 3);
/// # Ok::<(), loki::server::ConfigError>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct RingSettings {
    /// `store`: `inmemory` (one process) or `etcd` (default `inmemory`).
    pub store: String,
    /// `etcd_endpoints`: comma-separated `host:port` list.
    pub etcd_endpoints: String,
    /// `key`: the ring's key in the KV store (default `ring`, Loki's
    /// ingester ring key).
    pub key: String,
    /// `replication_factor` (default 3).
    pub replication_factor: usize,
    /// `heartbeat_period` (default 5s).
    pub heartbeat_period: GoDuration,
    /// `heartbeat_timeout`: an instance silent this long is unhealthy
    /// (default 1m).
    pub heartbeat_timeout: GoDuration,
    /// `instance_id`: this ingester's ID (default the host name and port).
    pub instance_id: String,
    /// `instance_addr`: the `host:port` other processes reach this
    /// ingester at (default the listen address and port).
    pub instance_addr: String,
    /// `instance_zone`: the availability zone (default none).
    pub instance_zone: String,
    /// `num_tokens` (default 128).
    pub num_tokens: usize,
    /// `ingester_pushdown`: a querier sends ingesters the query's line
    /// filters and limit and asks for samples where it can (default
    /// `true`; `false` asks for whole streams and filters locally).
    pub ingester_pushdown: bool,
    /// `compactor_min_segment_age`: a compactor merges (and deletes) only
    /// index segments written at least this long ago, so every querier
    /// and ingester has seen them (default 30s, at least 5s).
    pub compactor_min_segment_age: GoDuration,
}

impl Default for RingSettings {
    fn default() -> Self {
        RingSettings {
            store: "inmemory".to_owned(),
            etcd_endpoints: String::new(),
            key: "ring".to_owned(),
            replication_factor: 3,
            heartbeat_period: duration(5),
            heartbeat_timeout: duration(60),
            instance_id: String::new(),
            instance_addr: String::new(),
            instance_zone: String::new(),
            num_tokens: 128,
            ingester_pushdown: true,
            compactor_min_segment_age: duration(30),
        }
    }
}

/// `server`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct ServerConfig {
    /// `http_listen_address` (default `127.0.0.1`).
    pub http_listen_address: String,
    /// `http_listen_port` (default 3100).
    pub http_listen_port: u16,
    /// `log_level`: `debug`, `info`, `warn` or `error` (default `info`).
    pub log_level: String,
}

/// `common`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct CommonConfig {
    /// `path_prefix`: the data directory when `storage.dir` is not set.
    pub path_prefix: Option<PathBuf>,
    /// `storage`: as the top-level `storage` section; the top level wins.
    pub storage: CommonStorage,
}

/// `common.storage`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct CommonStorage {
    /// `filesystem`.
    pub filesystem: Option<FilesystemStorage>,
    /// `object_store`: a bucket by URL.
    pub object_store: Option<ObjectStoreConfig>,
}

/// `common.storage.filesystem`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct FilesystemStorage {
    /// `chunks_directory`: where chunk and index objects are written.
    pub chunks_directory: Option<PathBuf>,
}

/// An object store named by URL.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct ObjectStoreConfig {
    /// `url`: `s3://bucket/prefix`, `gs://…`, `az://…`, `file:///dir`,
    /// `memory://`.
    pub url: String,
    /// `options`: `object_store` configuration keys (`aws_region`,
    /// `aws_endpoint`, …).
    pub options: BTreeMap<String, String>,
}

/// `storage`: this server's own section (Loki spreads these over
/// `common`, `storage_config` and its cache settings).
///
/// ```
/// use loki::server::Config;
///
/// let yaml = "storage:\n  chunk_cache_size: 1GB\n  index_cache_size: 64MB\n";
/// let store = Config::from_yaml(yaml)?.store_config()?;
/// assert_eq!(store.chunk_cache_bytes, 1 << 30);
/// assert_eq!(store.decompressed_cache_bytes, 64 << 20);
/// assert_eq!(store.segment_cache_bytes, 64 << 20);
/// # Ok::<(), loki::server::ConfigError>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct StorageConfig {
    /// `dir`: the data directory (chunks under `dir/chunks`, the WAL under
    /// `dir/wal`); default `common.path_prefix`, else `./data`.
    pub dir: Option<PathBuf>,
    /// `url`: an object store for chunks and index instead of `dir/chunks`.
    pub url: Option<String>,
    /// `options`: the object store's configuration keys.
    pub options: BTreeMap<String, String>,
    /// `chunk_cache_size`: memory for chunks read from the object store,
    /// least recently used out first (default 256MiB; `0` turns it off).
    pub chunk_cache_size: ByteSize,
    /// `chunk_cache_decompressed_size`: the part of `chunk_cache_size`
    /// that keeps chunks read again with their blocks decompressed, so a
    /// refreshing dashboard skips the codec (default 64MiB; `0` turns it
    /// off).
    pub chunk_cache_decompressed_size: ByteSize,
    /// `index_cache_size`: memory for index segments read from the object
    /// store, shared by every tenant (default 256MiB; `0` turns it off).
    pub index_cache_size: ByteSize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        let store = StoreConfig::in_memory();
        StorageConfig {
            dir: None,
            url: None,
            options: BTreeMap::new(),
            chunk_cache_size: ByteSize(store.chunk_cache_bytes as u64),
            chunk_cache_decompressed_size: ByteSize(store.decompressed_cache_bytes as u64),
            index_cache_size: ByteSize(store.segment_cache_bytes as u64),
        }
    }
}

/// `limits_config`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct LimitsConfig {
    /// `ingestion_rate_mb`: per-tenant ingestion rate, MiB/s (0: no limit).
    pub ingestion_rate_mb: f64,
    /// `ingestion_burst_size_mb`: per-tenant burst, MiB.
    pub ingestion_burst_size_mb: f64,
    /// `ingestion_rate_strategy`: `global` (default: distributors share
    /// the rate, each allowing it divided by their number) or `local`
    /// (each ingester enforces it), as Loki.
    pub ingestion_rate_strategy: String,
    /// `max_line_size`: longest line (0: no limit).
    pub max_line_size: ByteSize,
    /// `max_label_names_per_series`.
    pub max_label_names_per_series: usize,
    /// `max_label_name_length`.
    pub max_label_name_length: usize,
    /// `max_label_value_length`.
    pub max_label_value_length: usize,
    /// `max_streams_per_user`: active streams per tenant on this node (0:
    /// no limit).
    pub max_streams_per_user: usize,
    /// `max_global_streams_per_user`: active streams per tenant in the
    /// cluster, which is this node (0: no limit).
    pub max_global_streams_per_user: usize,
    /// `reject_old_samples`.
    pub reject_old_samples: bool,
    /// `reject_old_samples_max_age`.
    pub reject_old_samples_max_age: GoDuration,
    /// `creation_grace_period`: how far in the future an entry may be.
    pub creation_grace_period: GoDuration,
    /// `retention_period`: `0s` keeps data forever; applied by the
    /// compactor when `compactor.retention_enabled`.
    pub retention_period: GoDuration,
    /// `max_query_series`: most series of a metric query.
    pub max_query_series: usize,
    /// `max_entries_limit_per_query`: largest `limit` of a log query.
    pub max_entries_limit_per_query: usize,
    /// `query_timeout`.
    pub query_timeout: GoDuration,
    /// `max_query_length`: longest range of a query (`0s`: no limit).
    pub max_query_length: GoDuration,
    /// `max_concurrent_tail_requests`: live tails open at once per tenant.
    pub max_concurrent_tail_requests: usize,
    /// `split_queries_by_interval`: range queries are cut into slices this
    /// long, evaluated in parallel (`0s`: no splitting).
    pub split_queries_by_interval: GoDuration,
    /// `max_query_parallelism`: slices of one query evaluated at once
    /// (capped by the cores available).
    pub max_query_parallelism: usize,
    /// `discover_log_levels`: give every pushed entry a `detected_level`
    /// structured-metadata pair read from its labels, metadata or line
    /// ([`loki_logql::detect::LevelDetector`]), as Loki does; Grafana
    /// groups log volume by it. Off by default here, unlike Loki: the
    /// extra pair on every entry costs about 40 % more ingest CPU today.
    pub discover_log_levels: bool,
    /// `log_level_fields`: the label, metadata and line field names a
    /// level is read from, in order of preference.
    pub log_level_fields: Vec<String>,
}

/// `ingester`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct IngesterConfig {
    /// `chunk_target_size`: compressed size at which a chunk is cut.
    pub chunk_target_size: ByteSize,
    /// `chunk_block_size`: uncompressed size at which a block is cut.
    pub chunk_block_size: ByteSize,
    /// `chunk_encoding`: `none`, `gzip`, `lz4-64k`, `snappy`, `lz4-256k`,
    /// `lz4-1M`, `lz4`, `flate` or `zstd`.
    pub chunk_encoding: String,
    /// `max_chunk_age`.
    pub max_chunk_age: GoDuration,
    /// `chunk_idle_period`.
    pub chunk_idle_period: GoDuration,
    /// `flush_check_period`.
    pub flush_check_period: GoDuration,
    /// `max_memory` (this server's own key; Loki has no such bound): the
    /// log data held in memory (open and closed chunks not yet uploaded).
    /// Past it the streams holding the most have their chunks closed early
    /// and uploaded. `0` for no bound. Default 192 MiB, which keeps the
    /// server's peak RSS under 500 MB while ingesting at full speed.
    pub max_memory: ByteSize,
    /// `wal`.
    pub wal: WalConfig,
}

/// `ingester.wal`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct WalConfig {
    /// `enabled` (default `true`): acknowledged pushes survive a crash.
    pub enabled: bool,
    /// `dir`: default `<storage dir>/wal`.
    pub dir: Option<PathBuf>,
}

/// `compactor`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct CompactorConfig {
    /// `working_directory`: accepted for Loki configs; this compactor
    /// works in memory and on the object store, and writes nothing there.
    pub working_directory: Option<PathBuf>,
    /// `compaction_interval`.
    pub compaction_interval: GoDuration,
    /// `retention_enabled`: apply `retention_period` (default `false`, as
    /// Loki).
    pub retention_enabled: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            http_listen_address: "127.0.0.1".to_owned(),
            http_listen_port: 3100,
            log_level: "info".to_owned(),
        }
    }
}

/// The default of `ingester.max_memory`: the store's own default (1 GiB)
/// suits an embedding program; a server also holds request buffers, the
/// WAL's and HTTP's, so it bounds its chunks lower.
const DEFAULT_MAX_MEMORY: u64 = 192 << 20;

fn duration(secs: u64) -> GoDuration {
    GoDuration(Duration::from_secs(secs))
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let store = Limits::default();
        LimitsConfig {
            ingestion_rate_mb: store.ingestion_rate_bytes / (1024.0 * 1024.0),
            ingestion_burst_size_mb: store.ingestion_burst_bytes / (1024.0 * 1024.0),
            ingestion_rate_strategy: "global".to_owned(),
            max_line_size: ByteSize(store.max_line_size as u64),
            max_label_names_per_series: store.max_label_names_per_series,
            max_label_name_length: store.max_label_name_length,
            max_label_value_length: store.max_label_value_length,
            max_streams_per_user: 0,
            max_global_streams_per_user: store.max_streams_per_tenant,
            reject_old_samples: store.reject_old_samples_max_age.is_some(),
            reject_old_samples_max_age: GoDuration(
                store
                    .reject_old_samples_max_age
                    .unwrap_or(Duration::from_secs(7 * 86_400)),
            ),
            creation_grace_period: GoDuration(store.creation_grace_period),
            retention_period: duration(0),
            max_query_series: 500,
            max_entries_limit_per_query: 5000,
            query_timeout: duration(60),
            max_query_length: duration(721 * 3600),
            max_concurrent_tail_requests: 10,
            split_queries_by_interval: duration(3600),
            max_query_parallelism: 32,
            discover_log_levels: false,
            log_level_fields: loki_logql::detect::LEVEL_FIELDS
                .iter()
                .map(|f| (*f).to_owned())
                .collect(),
        }
    }
}

impl Default for IngesterConfig {
    fn default() -> Self {
        let store = StoreConfig::in_memory();
        IngesterConfig {
            chunk_target_size: ByteSize(store.chunk.target_size as u64),
            chunk_block_size: ByteSize(store.chunk.block_size as u64),
            chunk_encoding: store.chunk.codec.name().to_owned(),
            max_chunk_age: GoDuration(store.max_chunk_age),
            chunk_idle_period: GoDuration(store.chunk_idle_period),
            flush_check_period: GoDuration(store.flush_check_period),
            max_memory: ByteSize(DEFAULT_MAX_MEMORY),
            wal: WalConfig::default(),
        }
    }
}

impl Default for WalConfig {
    fn default() -> Self {
        WalConfig {
            enabled: true,
            dir: None,
        }
    }
}

impl Default for CompactorConfig {
    fn default() -> Self {
        CompactorConfig {
            working_directory: None,
            compaction_interval: GoDuration(StoreConfig::in_memory().compaction_interval),
            retention_enabled: false,
        }
    }
}

/// Command-line flags: Loki's flag name and the configuration key it sets.
pub const FLAGS: &[(&str, &str)] = &[
    ("auth.enabled", "auth_enabled"),
    ("server.http-listen-address", "server.http_listen_address"),
    ("server.http-listen-port", "server.http_listen_port"),
    ("log.level", "server.log_level"),
    ("common.path-prefix", "common.path_prefix"),
    ("storage.dir", "storage.dir"),
    ("storage.url", "storage.url"),
    ("storage.chunk-cache-size", "storage.chunk_cache_size"),
    (
        "storage.chunk-cache-decompressed-size",
        "storage.chunk_cache_decompressed_size",
    ),
    ("storage.index-cache-size", "storage.index_cache_size"),
    (
        "distributor.ingestion-rate-limit-mb",
        "limits_config.ingestion_rate_mb",
    ),
    (
        "distributor.ingestion-rate-limit-strategy",
        "limits_config.ingestion_rate_strategy",
    ),
    (
        "distributor.ingestion-burst-size-mb",
        "limits_config.ingestion_burst_size_mb",
    ),
    ("distributor.max-line-size", "limits_config.max_line_size"),
    (
        "validation.max-label-names-per-series",
        "limits_config.max_label_names_per_series",
    ),
    (
        "validation.max-length-label-name",
        "limits_config.max_label_name_length",
    ),
    (
        "validation.max-length-label-value",
        "limits_config.max_label_value_length",
    ),
    (
        "ingester.max-streams-per-user",
        "limits_config.max_streams_per_user",
    ),
    (
        "ingester.max-global-streams-per-user",
        "limits_config.max_global_streams_per_user",
    ),
    (
        "validation.reject-old-samples",
        "limits_config.reject_old_samples",
    ),
    (
        "validation.reject-old-samples.max-age",
        "limits_config.reject_old_samples_max_age",
    ),
    (
        "validation.create-grace-period",
        "limits_config.creation_grace_period",
    ),
    ("store.retention", "limits_config.retention_period"),
    ("target", "target"),
    ("ring.store", "ring.store"),
    ("ring.etcd.endpoints", "ring.etcd_endpoints"),
    ("ring.prefix", "ring.key"),
    ("ring.replication-factor", "ring.replication_factor"),
    ("distributor.replication-factor", "ring.replication_factor"),
    ("ring.heartbeat-period", "ring.heartbeat_period"),
    ("ring.heartbeat-timeout", "ring.heartbeat_timeout"),
    ("ingester.lifecycler.ID", "ring.instance_id"),
    ("ingester.lifecycler.id", "ring.instance_id"),
    ("ingester.heartbeat-period", "ring.heartbeat_period"),
    ("ingester.lifecycler.addr", "ring.instance_addr"),
    ("ingester.availability-zone", "ring.instance_zone"),
    ("ingester.num-tokens", "ring.num_tokens"),
    ("querier.ingester-pushdown", "ring.ingester_pushdown"),
    (
        "compactor.min-segment-age",
        "ring.compactor_min_segment_age",
    ),
    ("querier.max-query-series", "limits_config.max_query_series"),
    (
        "validation.max-entries-limit",
        "limits_config.max_entries_limit_per_query",
    ),
    ("querier.query-timeout", "limits_config.query_timeout"),
    ("store.max-query-length", "limits_config.max_query_length"),
    (
        "querier.max-concurrent-tail-requests",
        "limits_config.max_concurrent_tail_requests",
    ),
    (
        "querier.split-queries-by-interval",
        "limits_config.split_queries_by_interval",
    ),
    (
        "querier.max-query-parallelism",
        "limits_config.max_query_parallelism",
    ),
    (
        "validation.discover-log-levels",
        "limits_config.discover_log_levels",
    ),
    ("ingester.chunk-target-size", "ingester.chunk_target_size"),
    ("ingester.chunks-block-size", "ingester.chunk_block_size"),
    ("ingester.chunk-encoding", "ingester.chunk_encoding"),
    ("ingester.max-chunk-age", "ingester.max_chunk_age"),
    ("ingester.chunks-idle-period", "ingester.chunk_idle_period"),
    ("ingester.flush-check-period", "ingester.flush_check_period"),
    ("ingester.max-memory", "ingester.max_memory"),
    ("ingester.wal-enabled", "ingester.wal.enabled"),
    ("ingester.wal-dir", "ingester.wal.dir"),
    ("compactor.working-directory", "compactor.working_directory"),
    (
        "compactor.compaction-interval",
        "compactor.compaction_interval",
    ),
    ("compactor.retention-enabled", "compactor.retention_enabled"),
];

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CommandLine {
    /// The effective configuration: file, then flags.
    pub config: Config,
    /// `-print-config`: print `config` as YAML and exit.
    pub print_config: bool,
}

impl Config {
    /// Parses YAML (strictly: unknown keys are errors).
    ///
    /// ```
    /// use loki::server::Config;
    /// let c = Config::from_yaml("auth_enabled: true\ncompactor:\n  retention_enabled: true\n")?;
    /// assert!(c.auth_enabled && c.compactor.retention_enabled);
    /// assert!(Config::from_yaml("")?.server.http_listen_port == 3100);
    /// # Ok::<(), loki::server::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::Yaml`] naming the key or position, or
    /// [`ConfigError::Invalid`] for values out of range.
    pub fn from_yaml(text: &str) -> Result<Config, ConfigError> {
        let value: Value = if text.trim().is_empty() {
            Value::Mapping(Mapping::new())
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| ConfigError::Yaml(e.to_string()))?
        };
        Config::from_value(value)
    }

    fn from_value(value: Value) -> Result<Config, ConfigError> {
        let mut value = match value {
            Value::Null => Value::Mapping(Mapping::new()),
            v => v,
        };
        for key in strip_ignored_keys(&mut value) {
            tracing::warn!(
                %key,
                "ignoring Loki configuration key: this server has no such setting"
            );
        }
        let config: Config = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            if path == "." {
                ConfigError::Yaml(e.into_inner().to_string())
            } else {
                ConfigError::Yaml(format!("{path}: {}", e.into_inner()))
            }
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads a YAML file.
    ///
    /// # Errors
    /// As [`from_yaml`](Self::from_yaml), and [`ConfigError::Read`].
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::from_yaml(&text)
    }

    /// Reads the command line (without the program name): `-config.file`,
    /// then every other flag of [`FLAGS`] over it, as `-name=value`,
    /// `-name value` or `--name=value`; a flag alone is `true`.
    ///
    /// ```
    /// use loki::server::Config;
    /// let cli = Config::from_args(["-server.http-listen-port=3200", "-auth.enabled"])?;
    /// assert_eq!(cli.config.server.http_listen_port, 3200);
    /// assert!(cli.config.auth_enabled);
    /// assert!(Config::from_args(["-server.port=1"]).is_err());
    /// # Ok::<(), loki::server::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::Flag`] for unknown flags or bad values, and the file's
    /// errors.
    pub fn from_args<I, S>(args: I) -> Result<CommandLine, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut file = None;
        let mut print_config = false;
        let mut overrides: Vec<(&'static str, String, String)> = Vec::new();
        let mut args = args.into_iter().map(Into::into).peekable();
        while let Some(arg) = args.next() {
            let name = arg.trim_start_matches('-');
            if name.len() == arg.len() || name.is_empty() {
                return Err(ConfigError::Flag(format!("unexpected argument {arg:?}")));
            }
            let (name, inline) = match name.split_once('=') {
                Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                None => (name.to_owned(), None),
            };
            let mut value = || -> String {
                inline.clone().unwrap_or_else(|| match args.peek() {
                    Some(v) if !v.starts_with('-') => args.next().unwrap_or_default(),
                    _ => "true".to_owned(),
                })
            };
            match name.as_str() {
                "config.file" => file = Some(PathBuf::from(value())),
                "print-config" | "print-config-stderr" => {
                    print_config = parse_bool(&name, &value())?;
                }
                "config.expand-env" => {
                    return Err(ConfigError::Flag(
                        "-config.expand-env is not supported".to_owned(),
                    ))
                }
                _ => {
                    let Some((_, key)) = FLAGS.iter().find(|(flag, _)| *flag == name) else {
                        return Err(ConfigError::Flag(format!("unknown flag -{name}")));
                    };
                    overrides.push((*key, name.clone(), value()));
                }
            }
        }
        let mut tree = match &file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                if text.trim().is_empty() {
                    Value::Mapping(Mapping::new())
                } else {
                    serde_yaml_ng::from_str(&text).map_err(|e| ConfigError::Yaml(e.to_string()))?
                }
            }
            None => Value::Mapping(Mapping::new()),
        };
        for (key, flag, value) in overrides {
            let scalar: Value = serde_yaml_ng::from_str(&value)
                .ok()
                .filter(|v| !matches!(v, Value::Mapping(_) | Value::Sequence(_) | Value::Null))
                .unwrap_or(Value::String(value.clone()));
            set_path(&mut tree, key, scalar)
                .map_err(|m| ConfigError::Flag(format!("-{flag}: {m}")))?;
        }
        let config = Config::from_value(tree).map_err(|e| match (&file, e) {
            (Some(path), ConfigError::Yaml(m)) => {
                ConfigError::Yaml(format!("{}: {m}", path.display()))
            }
            (_, e) => e,
        })?;
        Ok(CommandLine {
            config,
            print_config,
        })
    }

    /// The configuration as YAML, every key present; it parses back to the
    /// same configuration.
    ///
    /// ```
    /// use loki::server::Config;
    /// let c = Config::default().effective();
    /// assert!(c.to_yaml().contains("dir: ./data"));
    /// assert_eq!(Config::from_yaml(&c.to_yaml())?, c);
    /// # Ok::<(), loki::server::ConfigError>(())
    /// ```
    pub fn to_yaml(&self) -> String {
        serde_yaml_ng::to_string(self).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
    }

    /// The keys whose effective values differ from the defaults, as YAML
    /// (`{}` when none do).
    ///
    /// ```
    /// use loki::server::Config;
    /// let c = Config::from_yaml("server:\n  http_listen_port: 3200\n")?;
    /// assert_eq!(c.diff_from_defaults(), "server:\n  http_listen_port: 3200\n");
    /// # Ok::<(), loki::server::ConfigError>(())
    /// ```
    pub fn diff_from_defaults(&self) -> String {
        fn diff(value: &Value, default: &Value) -> Option<Value> {
            match (value, default) {
                (Value::Mapping(v), Value::Mapping(d)) => {
                    let mut out = Mapping::new();
                    for (key, item) in v {
                        let changed = match d.get(key) {
                            Some(default) => diff(item, default),
                            None => Some(item.clone()),
                        };
                        if let Some(changed) = changed {
                            out.insert(key.clone(), changed);
                        }
                    }
                    (!out.is_empty()).then_some(Value::Mapping(out))
                }
                (v, d) => (v != d).then(|| v.clone()),
            }
        }
        let value = serde_yaml_ng::to_value(self.effective());
        let default = serde_yaml_ng::to_value(Config::default().effective());
        match (value, default) {
            (Ok(value), Ok(default)) => match diff(&value, &default) {
                Some(changed) => serde_yaml_ng::to_string(&changed)
                    .unwrap_or_else(|e| format!("# cannot print: {e}\n")),
                None => "{}\n".to_owned(),
            },
            (Err(e), _) | (_, Err(e)) => format!("# cannot print: {e}\n"),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.codec()?;
        for tenant in self.overrides.keys() {
            loki_store::validate_tenant(tenant)
                .map_err(|e| ConfigError::Invalid(format!("overrides: tenant {tenant:?}: {e}")))?;
            self.tenant_limits(tenant)?;
        }
        if !["trace", "debug", "info", "warn", "error"]
            .contains(&self.server.log_level.to_ascii_lowercase().as_str())
        {
            return Err(ConfigError::Invalid(format!(
                "server.log_level {:?}: expected debug, info, warn or error",
                self.server.log_level
            )));
        }
        let limits = &self.limits_config;
        for (name, v) in [
            ("ingestion_rate_mb", limits.ingestion_rate_mb),
            ("ingestion_burst_size_mb", limits.ingestion_burst_size_mb),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(ConfigError::Invalid(format!(
                    "limits_config.{name} must be a non-negative number, got {v}"
                )));
            }
        }
        if limits.max_entries_limit_per_query == 0 || limits.max_query_series == 0 {
            return Err(ConfigError::Invalid(
                "limits_config.max_entries_limit_per_query and max_query_series must be positive"
                    .to_owned(),
            ));
        }
        if self.ingester.chunk_block_size.0 == 0 {
            return Err(ConfigError::Invalid(
                "ingester.chunk_block_size must be positive".to_owned(),
            ));
        }
        if let Some(url) = self.storage_url_text() {
            url::Url::parse(&url)
                .map_err(|e| ConfigError::Invalid(format!("storage url {url:?}: {e}")))?;
        }
        Ok(())
    }

    fn codec(&self) -> Result<Codec, ConfigError> {
        let name = self.ingester.chunk_encoding.as_str();
        Codec::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                let known: Vec<&str> = Codec::ALL.iter().map(|c| c.name()).collect();
                ConfigError::Invalid(format!(
                    "ingester.chunk_encoding {name:?}: expected one of {}",
                    known.join(", ")
                ))
            })
    }

    fn storage_url_text(&self) -> Option<String> {
        self.storage.url.clone().or_else(|| {
            self.common
                .storage
                .object_store
                .as_ref()
                .map(|o| o.url.clone())
        })
    }

    /// The data directory: `storage.dir`, else `common.path_prefix`, else
    /// `./data`.
    pub fn data_dir(&self) -> PathBuf {
        self.storage
            .dir
            .clone()
            .or_else(|| self.common.path_prefix.clone())
            .unwrap_or_else(|| PathBuf::from("./data"))
    }

    /// The listen address, `host:port` (an empty host listens on every
    /// interface).
    ///
    /// ```
    /// use loki::server::Config;
    /// assert_eq!(Config::default().listen_address(), "127.0.0.1:3100");
    /// let c = Config::from_yaml("server:\n  http_listen_address: '::1'\n")?;
    /// assert_eq!(c.listen_address(), "[::1]:3100");
    /// # Ok::<(), loki::server::ConfigError>(())
    /// ```
    pub fn listen_address(&self) -> String {
        let host = &self.server.http_listen_address;
        let host = if host.is_empty() { "0.0.0.0" } else { host };
        if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{}", self.server.http_listen_port)
        } else {
            format!("{host}:{}", self.server.http_listen_port)
        }
    }

    /// The configuration with every derived default written out: the data
    /// directory and WAL directory, as [`to_yaml`](Self::to_yaml) and
    /// `GET /config` show it.
    pub fn effective(&self) -> Config {
        let mut out = self.clone();
        out.storage.dir = Some(self.data_dir());
        if out.ingester.wal.dir.is_none() {
            out.ingester.wal.dir = Some(self.data_dir().join("wal"));
        }
        out
    }

    /// The limits of `tenant`: `limits_config` with the tenant's
    /// `overrides` over it.
    ///
    /// ```
    /// use loki::server::Config;
    /// let c = Config::from_yaml("limits_config:\n  max_line_size: 1KB\noverrides:\n  big:\n    max_line_size: 1MB\n")?;
    /// assert_eq!(c.tenant_limits("big")?.max_line_size.0, 1 << 20);
    /// assert_eq!(c.tenant_limits("other")?.max_line_size.0, 1 << 10);
    /// # Ok::<(), loki::server::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::Yaml`] naming an unknown or mistyped override key.
    pub fn tenant_limits(&self, tenant: &str) -> Result<LimitsConfig, ConfigError> {
        let Some(over) = self.overrides.get(tenant) else {
            return Ok(self.limits_config.clone());
        };
        let mut tree = serde_yaml_ng::to_value(&self.limits_config)
            .map_err(|e| ConfigError::Yaml(e.to_string()))?;
        if let Value::Mapping(map) = &mut tree {
            for (k, v) in over {
                map.insert(k.clone(), v.clone());
            }
        }
        serde_path_to_error::deserialize(tree).map_err(|e| {
            let path = e.path().to_string();
            let key = if path == "." {
                String::new()
            } else {
                format!(".{path}")
            };
            ConfigError::Yaml(format!("overrides.{tenant}{key}: {}", e.into_inner()))
        })
    }

    /// The store's limits for every tenant without overrides.
    pub fn store_limits(&self) -> Limits {
        self.store_limits_of(&self.limits_config)
    }

    fn store_limits_of(&self, l: &LimitsConfig) -> Limits {
        let mut limits = Limits::default();
        limits.max_streams_per_tenant =
            match (l.max_streams_per_user, l.max_global_streams_per_user) {
                (0, g) => g,
                (u, 0) => u,
                (u, g) => u.min(g),
            };
        limits.max_line_size = l.max_line_size.0 as usize;
        limits.max_label_names_per_series = l.max_label_names_per_series;
        limits.max_label_name_length = l.max_label_name_length;
        limits.max_label_value_length = l.max_label_value_length;
        limits.ingestion_rate_bytes = l.ingestion_rate_mb * 1024.0 * 1024.0;
        limits.ingestion_burst_bytes = l.ingestion_burst_size_mb * 1024.0 * 1024.0;
        limits.reject_old_samples_max_age = l
            .reject_old_samples
            .then_some(l.reject_old_samples_max_age.0);
        limits.creation_grace_period = l.creation_grace_period.0;
        limits.retention_period = (self.compactor.retention_enabled
            && !l.retention_period.0.is_zero())
        .then_some(l.retention_period.0);
        limits
    }

    /// The limits of a query of `tenants`: the tenant's own for one
    /// tenant, `limits_config` for several.
    pub fn limits_for(&self, tenants: &[String]) -> LimitsConfig {
        match tenants {
            [tenant] => self
                .tenant_limits(tenant)
                .unwrap_or_else(|_| self.limits_config.clone()),
            _ => self.limits_config.clone(),
        }
    }

    /// The evaluator's limits for a query of `tenants` (see
    /// [`limits_for`](Self::limits_for)).
    pub fn query_limits(&self, tenants: &[String]) -> loki_logql::Limits {
        let l = &self.limits_for(tenants);
        loki_logql::Limits {
            max_series: l.max_query_series,
            max_entries: l.max_entries_limit_per_query,
            timeout: (!l.query_timeout.0.is_zero()).then_some(l.query_timeout.0),
            ..loki_logql::Limits::default()
        }
    }

    /// The store's configuration.
    ///
    /// ```
    /// use loki::server::Config;
    /// let store = Config::default().store_config()?;
    /// assert_eq!(store.storage_url.scheme(), "file");
    /// assert!(store.wal_dir.unwrap().ends_with("data/wal"));
    /// # Ok::<(), loki::server::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for a bad storage URL or chunk encoding.
    pub fn store_config(&self) -> Result<StoreConfig, ConfigError> {
        let data_dir = self.data_dir();
        let mut store = match self.storage_url_text() {
            Some(url) => {
                let url = url::Url::parse(&url)
                    .map_err(|e| ConfigError::Invalid(format!("storage url {url:?}: {e}")))?;
                let mut store = StoreConfig::new(url);
                store.wal_dir = Some(data_dir.join("wal"));
                let options = if self.storage.url.is_some() {
                    self.storage.options.clone()
                } else {
                    self.common
                        .storage
                        .object_store
                        .as_ref()
                        .map(|o| o.options.clone())
                        .unwrap_or_default()
                };
                store.storage_options = options.into_iter().collect();
                store
            }
            None => {
                let mut store = StoreConfig::filesystem(&data_dir);
                let chunks = self
                    .common
                    .storage
                    .filesystem
                    .as_ref()
                    .and_then(|f| f.chunks_directory.clone());
                if let Some(dir) = chunks {
                    let absolute = std::path::absolute(&dir).unwrap_or(dir);
                    store.storage_url = url::Url::from_directory_path(&absolute).map_err(|()| {
                        ConfigError::Invalid(format!(
                            "chunks_directory {} is not a usable path",
                            absolute.display()
                        ))
                    })?;
                }
                store
            }
        };
        store.wal_dir = if self.ingester.wal.enabled {
            Some(
                self.ingester
                    .wal
                    .dir
                    .clone()
                    .unwrap_or_else(|| data_dir.join("wal")),
            )
        } else {
            None
        };
        store.chunk.codec = self.codec()?;
        let bytes = |size: ByteSize| usize::try_from(size.0).unwrap_or(usize::MAX);
        store.chunk.target_size = bytes(self.ingester.chunk_target_size);
        store.chunk.block_size = bytes(self.ingester.chunk_block_size);
        store.max_chunk_age = self.ingester.max_chunk_age.0;
        store.chunk_idle_period = self.ingester.chunk_idle_period.0;
        // Never zero: a zero period would spin the maintenance loop.
        let at_least = |d: std::time::Duration| d.max(std::time::Duration::from_millis(100));
        store.flush_check_period = at_least(self.ingester.flush_check_period.0);
        store.max_memory_bytes = match bytes(self.ingester.max_memory) {
            0 => None,
            limit => Some(limit),
        };
        store.compaction_interval = at_least(self.compactor.compaction_interval.0);
        store.chunk_cache_bytes = bytes(self.storage.chunk_cache_size);
        store.decompressed_cache_bytes = bytes(self.storage.chunk_cache_decompressed_size);
        store.segment_cache_bytes = bytes(self.storage.index_cache_size);
        store.limits = self.store_limits();
        for tenant in self.overrides.keys() {
            let limits = self.tenant_limits(tenant)?;
            store
                .tenant_limits
                .insert(tenant.clone(), self.store_limits_of(&limits));
        }
        Ok(store)
    }
}

fn parse_bool(name: &str, value: &str) -> Result<bool, ConfigError> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ConfigError::Flag(format!(
            "-{name}: expected true or false, got {value:?}"
        ))),
    }
}

/// Loki configuration keys (and whole sections) this server accepts and
/// ignores, so that a real Loki configuration file starts it: settings for
/// parts it does not have (gRPC, memberlist, the query frontend and its
/// caches, the schema and index store choices, the ruler) or that it
/// decides itself. Each one found is removed before the strict parse and
/// logged once; any other unknown key is still an error naming it.
///
/// ```
/// use loki::server::{Config, IGNORED_LOKI_KEYS};
///
/// assert!(IGNORED_LOKI_KEYS.contains(&"server.grpc_listen_port"));
/// let yaml = "server:\n  http_listen_port: 3200\n  grpc_listen_port: 9096\nschema_config:\n  configs: []\n";
/// assert_eq!(Config::from_yaml(yaml)?.server.http_listen_port, 3200);
/// assert!(Config::from_yaml("server:\n  grpc_listen_prot: 9096\n").is_err());
/// # Ok::<(), loki::server::ConfigError>(())
/// ```
pub const IGNORED_LOKI_KEYS: &[&str] = &[
    // Sections of Loki's configuration with no counterpart here.
    "analytics",
    "ballast_bytes",
    "block_builder",
    "block_scheduler",
    "bloom_build",
    "bloom_gateway",
    "chunk_store_config",
    "compactor_grpc_client",
    "dataobj",
    "distributor",
    "frontend",
    "frontend_worker",
    "index_gateway",
    "ingester_client",
    "internal_server",
    "kafka_config",
    "memberlist",
    "metrics_namespace",
    "operational_config",
    "pattern_ingester",
    "profiling",
    "querier",
    "query_range",
    "query_scheduler",
    "ruler",
    "ruler_storage",
    "runtime_config",
    "schema_config",
    "shutdown_delay",
    "storage_config",
    "table_manager",
    "tracing",
    "ui",
    "use_buffered_logger",
    "use_sync_logger",
    // `server`: gRPC, TLS and HTTP tuning.
    "server.graceful_shutdown_timeout",
    "server.grpc_listen_address",
    "server.grpc_listen_conn_limit",
    "server.grpc_listen_network",
    "server.grpc_listen_port",
    "server.grpc_server_max_concurrent_streams",
    "server.grpc_server_max_connection_age",
    "server.grpc_server_max_connection_age_grace",
    "server.grpc_server_max_connection_idle",
    "server.grpc_server_max_recv_msg_size",
    "server.grpc_server_max_send_msg_size",
    "server.grpc_server_min_time_between_pings",
    "server.grpc_server_ping_without_stream_allowed",
    "server.grpc_server_keepalive_time",
    "server.grpc_server_keepalive_timeout",
    "server.grpc_tls_config",
    "server.http_listen_conn_limit",
    "server.http_listen_network",
    "server.http_path_prefix",
    "server.http_server_idle_timeout",
    "server.http_server_read_timeout",
    "server.http_server_write_timeout",
    "server.http_tls_config",
    "server.log_format",
    "server.log_request_headers",
    "server.log_source_ips_enabled",
    "server.register_instrumentation",
    "server.tls_cipher_suites",
    "server.tls_min_version",
    // `common`: the ring and instance addressing of a cluster.
    "common.compactor_address",
    "common.compactor_grpc_address",
    "common.instance_addr",
    "common.instance_enable_ipv6",
    "common.instance_interface_names",
    "common.persist_tokens",
    "common.replication_factor",
    "common.ring",
    "common.storage.azure",
    "common.storage.bos",
    "common.storage.congestion_control",
    "common.storage.cos",
    "common.storage.filesystem.rules_directory",
    "common.storage.gcs",
    "common.storage.hedging",
    "common.storage.s3",
    "common.storage.swift",
    // `ingester`: the lifecycler (see `ring`) and flush tuning.
    "ingester.autoforget_unhealthy",
    "ingester.chunk_retain_period",
    "ingester.concurrent_flushes",
    "ingester.flush_op_backoff",
    "ingester.flush_op_timeout",
    "ingester.index_shards",
    "ingester.lifecycler",
    "ingester.max_dropped_streams",
    "ingester.max_returned_stream_errors",
    "ingester.max_transfer_retries",
    "ingester.query_store_max_look_back_period",
    "ingester.shutdown_marker_path",
    "ingester.sync_min_utilization",
    "ingester.sync_period",
    "ingester.wal.checkpoint_duration",
    "ingester.wal.flush_on_shutdown",
    "ingester.wal.replay_memory_ceiling",
    // `compactor`: deletion and retention tuning, its ring.
    "compactor.apply_retention_interval",
    "compactor.compactor_ring",
    "compactor.delete_batch_size",
    "compactor.delete_max_interval",
    "compactor.delete_request_cancel_period",
    "compactor.delete_request_store",
    "compactor.delete_request_store_db_type",
    "compactor.max_compaction_parallelism",
    "compactor.retention_delete_delay",
    "compactor.retention_delete_worker_count",
    "compactor.retention_table_timeout",
    "compactor.shared_store",
    "compactor.upload_parallelism",
    // `limits_config`: features that are always on here or not modelled.
    "limits_config.allow_deletes",
    "limits_config.allow_structured_metadata",
    "limits_config.cardinality_limit",
    "limits_config.deletion_mode",
    "limits_config.discover_service_name",
    "limits_config.increment_duplicate_timestamp",
    "limits_config.max_cache_freshness_per_query",
    "limits_config.max_chunks_per_query",
    "limits_config.max_query_bytes_read",
    "limits_config.max_querier_bytes_read",
    "limits_config.max_query_lookback",
    "limits_config.max_streams_matchers_per_query",
    "limits_config.max_structured_metadata_entries_count",
    "limits_config.max_structured_metadata_size",
    "limits_config.metric_aggregation_enabled",
    "limits_config.otlp_config",
    "limits_config.per_stream_rate_limit",
    "limits_config.per_stream_rate_limit_burst",
    "limits_config.query_ready_index_num_days",
    "limits_config.retention_stream",
    "limits_config.shard_streams",
    "limits_config.split_instant_metric_queries_by_interval",
    "limits_config.split_metadata_queries_by_interval",
    "limits_config.split_recent_metadata_queries_by_interval",
    "limits_config.tsdb_max_query_parallelism",
    "limits_config.unordered_writes",
    "limits_config.volume_enabled",
];

/// Removes the [`IGNORED_LOKI_KEYS`] present in `tree` (and the
/// `limits_config` ones from each tenant's `overrides`), returning their
/// paths in the order found.
fn strip_ignored_keys(tree: &mut Value) -> Vec<String> {
    fn remove(node: &mut Value, path: &str) -> bool {
        let (head, rest) = match path.split_once('.') {
            Some((head, rest)) => (head, Some(rest)),
            None => (path, None),
        };
        let Value::Mapping(map) = node else {
            return false;
        };
        match rest {
            None => map.remove(head).is_some(),
            Some(rest) => map.get_mut(head).is_some_and(|child| remove(child, rest)),
        }
    }
    let mut found = Vec::new();
    for key in IGNORED_LOKI_KEYS {
        if remove(tree, key) {
            found.push((*key).to_owned());
        }
    }
    if let Some(Value::Mapping(overrides)) = tree.get_mut("overrides") {
        for (tenant, limits) in overrides.iter_mut() {
            let tenant = tenant.as_str().unwrap_or("?").to_owned();
            for key in IGNORED_LOKI_KEYS {
                if let Some(key) = key.strip_prefix("limits_config.") {
                    if remove(limits, key) {
                        found.push(format!("overrides.{tenant}.{key}"));
                    }
                }
            }
        }
    }
    found
}

/// Sets `a.b.c` in a YAML tree, creating mappings on the way.
fn set_path(tree: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let mut node = tree;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if matches!(node, Value::Null) {
            *node = Value::Mapping(Mapping::new());
        }
        let Value::Mapping(map) = node else {
            return Err(format!("the config file's {path} is not a section"));
        };
        let key = Value::String(part.to_owned());
        if parts.peek().is_none() {
            map.insert(key, value);
            return Ok(());
        }
        node = map
            .entry(key)
            .or_insert_with(|| Value::Mapping(Mapping::new()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_make_a_single_machine_server() {
        let cli = Config::from_args(Vec::<String>::new()).unwrap();
        assert!(!cli.print_config);
        let config = cli.config;
        assert_eq!(config.listen_address(), "127.0.0.1:3100");
        assert!(!config.auth_enabled);
        assert_eq!(config.data_dir(), PathBuf::from("./data"));
        let store = config.store_config().unwrap();
        assert!(store.storage_url.path().ends_with("data/chunks/"));
        assert_eq!(store.limits.max_streams_per_tenant, 5000);
        assert_eq!(store.limits.retention_period, None);
    }

    #[test]
    fn every_key_round_trips_through_yaml() {
        let mut config = Config::default();
        config.limits_config.retention_period = duration(7 * 86_400);
        config.ingester.chunk_encoding = "snappy".to_owned();
        config
            .storage
            .options
            .insert("aws_region".into(), "eu".into());
        let text = config.to_yaml();
        assert!(text.contains("retention_period: 168h"), "{text}");
        assert_eq!(Config::from_yaml(&text).unwrap(), config);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        for (yaml, needle) in [
            ("nope: 1", "nope"),
            ("server:\n  http_listen_prot: 1", "http_listen_prot"),
            ("limits_config:\n  max_line_size: big", "big"),
            ("ingester:\n  chunk_encoding: brotli", "brotli"),
            ("limits_config:\n  query_timeout: soon", "soon"),
            ("server:\n  http_listen_port: 70000", "http_listen_port"),
            ("storage:\n  url: 'not a url'", "not a url"),
            ("server: [1, 2]", "server"),
        ] {
            let err = Config::from_yaml(yaml).unwrap_err().to_string();
            assert!(err.contains(needle), "{yaml:?} gave {err}");
        }
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loki.yaml");
        std::fs::write(
            &path,
            "auth_enabled: true\nserver:\n  http_listen_port: 3200\n  log_level: debug\nlimits_config:\n  ingestion_rate_mb: 8\n  split_queries_by_interval: 15m\ncompactor:\n  retention_enabled: true\n",
        )
        .unwrap();
        let cli = Config::from_args([
            format!("-config.file={}", path.display()),
            "-server.http-listen-port".to_owned(),
            "3300".to_owned(),
            "--store.retention=24h".to_owned(),
            "-ingester.wal-enabled=false".to_owned(),
            "-print-config".to_owned(),
        ])
        .unwrap();
        assert!(cli.print_config);
        let c = cli.config;
        assert!(c.auth_enabled);
        assert_eq!(c.server.http_listen_port, 3300);
        assert_eq!(c.server.log_level, "debug");
        assert_eq!(c.limits_config.split_queries_by_interval, duration(900));
        let store = c.store_config().unwrap();
        assert_eq!(store.limits.ingestion_rate_bytes, 8.0 * 1024.0 * 1024.0);
        assert_eq!(
            store.limits.retention_period,
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(store.wal_dir, None);
        // The caches keep the store's budgets unless set.
        let defaults = StoreConfig::in_memory();
        assert_eq!(store.chunk_cache_bytes, defaults.chunk_cache_bytes);
        assert_eq!(store.segment_cache_bytes, defaults.segment_cache_bytes);
        let caches = Config::from_args([
            "-storage.chunk-cache-size=0",
            "-storage.chunk-cache-decompressed-size=1MB",
            "-storage.index-cache-size=32MB",
        ])
        .unwrap()
        .config;
        let store = caches.store_config().unwrap();
        assert_eq!(store.chunk_cache_bytes, 0);
        assert_eq!(store.decompressed_cache_bytes, 1 << 20);
        assert_eq!(store.segment_cache_bytes, 32 << 20);
        assert!(caches.to_yaml().contains("index_cache_size: 33554432"));
        assert!(
            !caches.limits_config.discover_log_levels,
            "off unless asked"
        );
        let levels = Config::from_args(["-validation.discover-log-levels=true"])
            .unwrap()
            .config;
        assert!(levels.limits_config.discover_log_levels);
        let err = Config::from_args(["-server.http-listen-port=x"]).unwrap_err();
        assert!(err.to_string().contains("http_listen_port"), "{err}");
        let err = Config::from_args(["-config.file=/nonexistent/loki.yaml"]).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
    }

    #[test]
    fn tenant_overrides_inherit_the_defaults() {
        let c = Config::from_yaml(
            "limits_config:\n  ingestion_rate_mb: 2\n  max_entries_limit_per_query: 100\noverrides:\n  big:\n    ingestion_rate_mb: 20\n    max_entries_limit_per_query: 1000\n",
        )
        .unwrap();
        let store = c.store_config().unwrap();
        assert_eq!(store.limits.ingestion_rate_bytes, 2.0 * 1024.0 * 1024.0);
        let big = store.limits_for("big");
        assert_eq!(big.ingestion_rate_bytes, 20.0 * 1024.0 * 1024.0);
        assert_eq!(big.max_label_names_per_series, 15);
        assert_eq!(c.query_limits(&["big".to_owned()]).max_entries, 1000);
        assert_eq!(c.query_limits(&["small".to_owned()]).max_entries, 100);
        assert_eq!(
            c.query_limits(&["big".to_owned(), "small".to_owned()])
                .max_entries,
            100
        );
        let err = Config::from_yaml("overrides:\n  big:\n    ingestion_rate: 1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("ingestion_rate"), "{err}");
        let err = Config::from_yaml("overrides:\n  big:\n    max_line_size: huge\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("overrides.big.max_line_size"), "{err}");
        assert!(Config::from_yaml("overrides:\n  'a/b': {}\n").is_err());
    }

    #[test]
    fn sizes_and_durations_parse_like_loki() {
        assert_eq!("1.5MB".parse::<ByteSize>().unwrap().0, 1_572_864);
        assert_eq!("2GiB".parse::<ByteSize>().unwrap().0, 2 << 30);
        assert!("-1".parse::<ByteSize>().is_err());
        assert_eq!("90s".parse::<GoDuration>().unwrap().to_string(), "1m30s");
        assert_eq!(duration(0).to_string(), "0s");
        assert!("-5m".parse::<GoDuration>().is_err());
        let c = Config::from_yaml("limits_config:\n  query_timeout: 90\n").unwrap();
        assert_eq!(c.limits_config.query_timeout, duration(90));
        for bad in ["1e300", "-1", ".nan"] {
            let yaml = format!("limits_config:\n  query_timeout: {bad}\n");
            assert!(Config::from_yaml(&yaml).is_err(), "{bad}");
        }
    }

    #[test]
    fn object_store_urls_and_chunk_directories() {
        let c = Config::from_yaml(
            "storage:\n  url: memory://\n  options:\n    k: v\ningester:\n  wal:\n    dir: /tmp/w\n",
        )
        .unwrap();
        let store = c.store_config().unwrap();
        assert_eq!(store.storage_url.scheme(), "memory");
        assert_eq!(store.storage_options, vec![("k".into(), "v".into())]);
        assert_eq!(store.wal_dir, Some(PathBuf::from("/tmp/w")));
        let c = Config::from_yaml(
            "common:\n  path_prefix: /srv/loki\n  storage:\n    filesystem:\n      chunks_directory: /srv/chunks\n",
        )
        .unwrap();
        let store = c.store_config().unwrap();
        assert_eq!(store.storage_url.path(), "/srv/chunks/");
        assert_eq!(store.wal_dir, Some(PathBuf::from("/srv/loki/wal")));
        assert_eq!(c.effective().storage.dir, Some(PathBuf::from("/srv/loki")));
    }
}
