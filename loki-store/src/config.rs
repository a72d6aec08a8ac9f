//! Engine settings and per-tenant limits, with Loki's defaults.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use loki_chunk::ChunkOptions;

use crate::retention::RetentionRule;
use crate::wal::WalOptions;

/// Per-tenant limits, named after Loki's `limits_config` settings.
///
/// ```
/// use loki_store::Limits;
///
/// let limits = Limits::default();
/// assert_eq!(limits.max_line_size, 256 * 1024);
/// assert_eq!(limits.max_label_names_per_series, 15);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Limits {
    /// `max_global_streams_per_user`: active streams per tenant (0: no limit).
    pub max_streams_per_tenant: usize,
    /// `max_line_size`: longest accepted line in bytes (0: no limit).
    pub max_line_size: usize,
    /// `max_label_names_per_series`.
    pub max_label_names_per_series: usize,
    /// `max_label_name_length`.
    pub max_label_name_length: usize,
    /// `max_label_value_length`.
    pub max_label_value_length: usize,
    /// `ingestion_rate_mb`, in bytes per second (0: no limit).
    pub ingestion_rate_bytes: f64,
    /// `ingestion_burst_size_mb`, in bytes.
    pub ingestion_burst_bytes: f64,
    /// `reject_old_samples_max_age`: entries older than this are refused
    /// (`None`: accept any age).
    pub reject_old_samples_max_age: Option<Duration>,
    /// `creation_grace_period`: how far in the future an entry may be.
    pub creation_grace_period: Duration,
    /// `retention_period`: data older than this is deleted by retention
    /// (`None`: kept forever).
    pub retention_period: Option<Duration>,
    /// `retention_stream`: per-selector periods, the first match winning
    /// over `retention_period`.
    pub retention_streams: Vec<RetentionRule>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_streams_per_tenant: 5_000,
            max_line_size: 256 * 1024,
            max_label_names_per_series: 15,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            ingestion_rate_bytes: 4.0 * 1024.0 * 1024.0,
            ingestion_burst_bytes: 6.0 * 1024.0 * 1024.0,
            reject_old_samples_max_age: Some(Duration::from_secs(7 * 24 * 3600)),
            creation_grace_period: Duration::from_secs(600),
            retention_period: None,
            retention_streams: Vec::new(),
        }
    }
}

impl Limits {
    /// No limit at all: for tests, benchmarks and trusted embedding.
    pub fn unlimited() -> Limits {
        Limits {
            max_streams_per_tenant: 0,
            max_line_size: 0,
            max_label_names_per_series: usize::MAX,
            max_label_name_length: usize::MAX,
            max_label_value_length: usize::MAX,
            ingestion_rate_bytes: 0.0,
            ingestion_burst_bytes: 0.0,
            reject_old_samples_max_age: None,
            creation_grace_period: Duration::from_secs(u32::MAX as u64),
            retention_period: None,
            retention_streams: Vec::new(),
        }
    }
}

/// Where "now" comes from: the system clock, or a test's own.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> i64 + Send + Sync>);

impl Clock {
    /// The system clock, in Unix nanoseconds.
    pub fn system() -> Clock {
        Clock(Arc::new(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i64)
        }))
    }

    /// A clock reading `now()` (Unix nanoseconds).
    pub fn from_fn(now: impl Fn() -> i64 + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(now))
    }

    /// The current time in Unix nanoseconds.
    pub fn now(&self) -> i64 {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}

/// Engine settings.
///
/// ```
/// use loki_store::StoreConfig;
///
/// let config = StoreConfig::filesystem("./data");
/// assert_eq!(config.storage_url.scheme(), "file");
/// assert!(config.wal_dir.as_deref().unwrap().ends_with("wal"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreConfig {
    /// The object store: `file:///dir`, `memory://`, `s3://bucket/prefix`,
    /// `gs://…`, `az://…` (cloud schemes need their cargo features).
    pub storage_url: url::Url,
    /// Options for the object store (credentials, endpoint, region…), as
    /// `object_store`'s configuration keys.
    pub storage_options: Vec<(String, String)>,
    /// An object store to use instead of the one `storage_url` names (for
    /// embedding with a store built elsewhere, or sharing an in-memory one).
    pub object_store: Option<Arc<dyn object_store::ObjectStore>>,
    /// Where the write-ahead log lives; `None` disables it (acknowledged
    /// writes are then lost on a crash).
    pub wal_dir: Option<PathBuf>,
    /// Write-ahead log settings.
    pub wal: WalOptions,
    /// How chunks are written.
    pub chunk: ChunkOptions,
    /// `max_chunk_age`: a chunk spanning longer is closed (default 2h).
    pub max_chunk_age: Duration,
    /// `chunk_idle_period`: a chunk without writes this long is closed
    /// (default 30m).
    pub chunk_idle_period: Duration,
    /// Index period: one index segment per tenant and period (default 24h).
    pub index_period: Duration,
    /// How often [`Store::run_maintenance`](crate::Store::run_maintenance)
    /// flushes due chunks (Loki's `flush_check_period`, default 30s).
    pub flush_check_period: Duration,
    /// Chunks closed (for size, mostly) and waiting for upload: once they
    /// hold more than this many bytes, the maintenance loop uploads them
    /// without waiting for the next flush check, so memory stays bounded
    /// under heavy ingest (default 64 MiB). The WAL checkpoint still runs
    /// at the flush check period only.
    pub max_sealed_bytes: usize,
    /// A bound on the bytes the engine holds in memory
    /// ([`Store::memory_bytes`](crate::Store::memory_bytes)): past it, the
    /// maintenance loop closes the open chunks of the streams holding the
    /// most until three quarters of it are left, and uploads them (Loki has
    /// no such bound; chunks closed this way are smaller). Checked after
    /// every eighth of it ingested. Default 1 GiB; `None` for no bound.
    pub max_memory_bytes: Option<usize>,
    /// Bytes logged to the WAL since its last checkpoint past which the
    /// maintenance loop runs a flush check (and so a checkpoint, which
    /// truncates the log) without waiting for the flush check period: at
    /// full push speed the log would otherwise grow by gigabytes between
    /// checks. The log then holds at most about the last checkpoint (no
    /// more than the engine holds in memory) plus this much. Loki has no
    /// size trigger (its WAL checkpoints every `checkpoint_duration`).
    /// Default 1 GiB; `None` checkpoints on the period only.
    pub wal_checkpoint_bytes: Option<u64>,
    /// How often [`Store::run_maintenance`](crate::Store::run_maintenance)
    /// runs the compactor (Loki's `compaction_interval`, default 10m);
    /// zero: never (for a process that leaves compaction to another one
    /// sharing its object store).
    pub compaction_interval: Duration,
    /// Chunk objects fetched at once by one query.
    pub fetch_concurrency: usize,
    /// Byte budget of the cache of chunks read from the object store
    /// (default 256 MiB), decompressed ones included.
    pub chunk_cache_bytes: usize,
    /// The part of `chunk_cache_bytes` that may hold chunks kept
    /// decompressed: a chunk read again while in the cache is kept with
    /// its blocks decompressed, so that warm queries (a dashboard
    /// refreshing) skip the codec, about three times faster for zstd
    /// chunks. Default 64 MiB; 0 turns it off.
    pub decompressed_cache_bytes: usize,
    /// Byte budget of the index segment cache, shared by every tenant
    /// (default 256 MiB). Segments are read from the object store on
    /// demand; a segment larger than the budget is read for each use.
    pub segment_cache_bytes: usize,
    /// Limits for tenants without their own.
    pub limits: Limits,
    /// Per-tenant limits.
    pub tenant_limits: HashMap<String, Limits>,
    /// Where "now" comes from.
    pub clock: Clock,
    /// A name for this writer, put in the names of the index segments it
    /// writes (`index/<tenant>/<period>/<owner>.<sequence>.seg`), so that
    /// several ingesters sharing one object store never write the same
    /// segment path. Letters, digits, `-` and `_` only; `None` (the
    /// default) keeps the single-writer names.
    pub segment_owner: Option<String>,
}

impl StoreConfig {
    /// Storage at `url` without a WAL.
    pub fn new(storage_url: url::Url) -> StoreConfig {
        StoreConfig {
            storage_url,
            storage_options: Vec::new(),
            object_store: None,
            wal_dir: None,
            wal: WalOptions::default(),
            chunk: ChunkOptions::default(),
            max_chunk_age: Duration::from_secs(2 * 3600),
            chunk_idle_period: Duration::from_secs(30 * 60),
            index_period: Duration::from_secs(24 * 3600),
            flush_check_period: Duration::from_secs(30),
            max_sealed_bytes: 64 << 20,
            max_memory_bytes: Some(1 << 30),
            wal_checkpoint_bytes: Some(1 << 30),
            compaction_interval: Duration::from_secs(600),
            fetch_concurrency: 16,
            chunk_cache_bytes: 256 << 20,
            decompressed_cache_bytes: 64 << 20,
            segment_cache_bytes: 256 << 20,
            limits: Limits::default(),
            tenant_limits: HashMap::new(),
            clock: Clock::system(),
            segment_owner: None,
        }
    }

    /// Chunks and index under `data_dir/chunks`, the WAL in `data_dir/wal`:
    /// the single-machine default.
    pub fn filesystem(data_dir: impl AsRef<Path>) -> StoreConfig {
        let dir = data_dir.as_ref();
        let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
        let url = url::Url::from_directory_path(absolute.join("chunks"))
            .unwrap_or_else(|()| url::Url::parse("memory://").expect("a valid URL"));
        StoreConfig {
            wal_dir: Some(dir.join("wal")),
            ..StoreConfig::new(url)
        }
    }

    /// Everything in memory, no WAL: for tests and short-lived embedding.
    pub fn in_memory() -> StoreConfig {
        StoreConfig::new(url::Url::parse("memory://").expect("a valid URL"))
    }

    /// The limits that apply to `tenant`.
    pub fn limits_for(&self, tenant: &str) -> &Limits {
        self.tenant_limits.get(tenant).unwrap_or(&self.limits)
    }
}
