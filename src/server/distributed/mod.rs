//! Distributed mode: distributors, ingesters and queriers as separate
//! processes that find each other through a hash ring in a KV store
//! (etcd, or memory within one process) and share one object store.
//!
//! - A **distributor** ([`Target::Distributor`]) answers Loki's push API:
//!   it parses and validates each push, hashes every stream
//!   ([`loki_ring::stream_token`]: FNV-1 32 of tenant and labels, as Loki),
//!   sends each ingester of the stream's replica set its streams in one
//!   call, all in parallel, and answers 204 once every stream was stored
//!   by a quorum (`RF − RF/2` replicas).
//! - An **ingester** ([`Target::Ingester`]) owns a WAL and head data, flushes
//!   chunks and index segments to the shared object store (segment names
//!   carry its ID, so ingesters never write the same object), and is in
//!   the ring through a [`loki_ring::Lifecycler`]: it registers, heartbeats
//!   and leaves on shutdown after flushing.
//! - A **querier** ([`Target::Querier`]) answers queries, labels and
//!   series from every ingester of the ring (as many may fail as the read
//!   quorum allows) and from the object store, as one LogQL storage in
//!   which identical entries of replicas count once.
//!
//! Internal calls are protobuf (prost, [`proto`](crate::server::proto))
//! over cleartext HTTP/2 with prior knowledge (h2c), on the same port as
//! the public HTTP/1.1 API: `POST /internal/push` (a `PushRequest`),
//! `POST /internal/select` and `POST /internal/labels`. `GET /ring` shows
//! the ring (JSON or HTML).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use std::sync::Arc;
//! use loki::server::{Config, Node};
//!
//! // Three processes' worth of nodes sharing an in-memory ring.
//! let kv: Arc<dyn loki::ring::KvStore> = Arc::new(loki::ring::MemoryKv::new());
//! let mut nodes = Vec::new();
//! for target in ["ingester", "distributor", "querier"] {
//!     let config = Config::from_args([format!("-target={target}"), "-storage.url=file:///tmp/shared".into()])?.config;
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//!     nodes.push(Node::start(config, kv.clone(), listener).await?);
//! }
//! for node in nodes {
//!     node.shutdown().await?;
//! }
//! # Ok(())
//! # }
//! ```

pub(crate) mod client;
pub(crate) mod compactor;
pub(crate) mod distributor;
pub(crate) mod index;
pub(crate) mod ingester;
pub(crate) mod limits;
pub(crate) mod pushdown;
pub(crate) mod querier;
pub(crate) mod ring_page;
mod serve;
pub(crate) mod tail;

use std::net::SocketAddr;
use std::sync::Arc;

use loki_index::Labels;
use loki_ring::{KvStore, Lifecycler, LifecyclerConfig, RingConfig, RingWatcher, SystemClock};
use loki_store::{Store, StoreConfig};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::proto::{EntryAdapter, LabelPairAdapter, StreamAdapter, Timestamp};
use super::{app, AppState, Config, ConfigError, Target};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a process of distributed mode shares with its handlers.
#[derive(Debug)]
pub(crate) struct Cluster {
    pub(crate) target: Target,
    pub(crate) ring: RingWatcher,
    pub(crate) client: client::Client,
    lifecycler: tokio::sync::Mutex<Option<Lifecycler>>,
    /// When a querier last listed the object store's index segments.
    pub(crate) segments_refreshed: tokio::sync::Mutex<Option<std::time::Instant>>,
    /// What an ingester sent in answer to selects.
    pub(crate) sent: pushdown::SentCounter,
    /// Set when the node stops: streaming answers (tails) end.
    pub(crate) stopping: tokio::sync::watch::Sender<bool>,
    /// A distributor's ingestion rate limits.
    pub(crate) rate_limits: Option<limits::RateLimits>,
    /// A compactor's view of the compactor ring (who leads).
    pub(crate) compactors: Option<RingWatcher>,
    /// This process's ID in its ring.
    pub(crate) instance_id: String,
}

impl Cluster {
    /// `Ok` when the process can serve: an ingester once it is ACTIVE in
    /// the ring, other targets always.
    pub(crate) async fn ready(&self) -> Result<(), super::ApiError> {
        if self.target != Target::Ingester {
            return Ok(());
        }
        let state = self.lifecycler.lock().await.as_ref().map(|l| l.state());
        match state {
            Some(loki_ring::InstanceState::Active) => Ok(()),
            Some(state) => Err(super::ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                format!("Ingester not ready: this instance is {}", state.as_str()),
            )),
            None => Err(super::ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "Ingester not ready: not in the ring yet",
            )),
        }
    }
}

/// The delete API on a process of distributed mode other than the
/// compactor, which alone writes delete requests (as in Loki).
pub(crate) async fn delete_elsewhere() -> super::ApiError {
    super::ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "the delete API is served by the compactor (-target=compactor)",
    )
}

/// A stream in the push protobuf: its labels as Loki's text and its
/// entries as `(timestamp, line, structured metadata)`.
pub(crate) fn stream_adapter(
    labels: &Labels,
    entries: impl IntoIterator<Item = (i64, String, Vec<(String, String)>)>,
) -> StreamAdapter {
    StreamAdapter {
        labels: labels_text(labels),
        entries: entries
            .into_iter()
            .map(|(timestamp, line, metadata)| EntryAdapter {
                timestamp: Some(Timestamp::from_unix_nanos(timestamp)),
                line,
                structured_metadata: metadata
                    .into_iter()
                    .map(|(name, value)| LabelPairAdapter { name, value })
                    .collect(),
            })
            .collect(),
        hash: 0,
    }
}

/// A label value or string literal quoted as Go's `strconv.Quote`.
pub(crate) fn quote(value: &str) -> String {
    loki_ring::go_quote(value.as_bytes())
}

/// A label set as Loki's text, `{a="b", c="d"}` (names sorted, values
/// quoted as Go's `strconv.Quote`): the text a stream's token is computed
/// from.
pub(crate) fn labels_text(labels: &Labels) -> String {
    loki_ring::labels_string(labels.iter())
}

/// Opens the KV store `-ring.store` names: `etcd` (with the `etcd`
/// feature) at `-ring.etcd.endpoints`, or a new in-memory one (useful only
/// when every component runs in this process).
///
/// ```
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// use loki::server::{connect_kv, Config};
///
/// let kv = connect_kv(&Config::from_args(["-ring.store=inmemory"])?.config).await?;
/// assert!(loki::ring::get_ring_desc(kv.as_ref(), "ring").await?.is_empty());
/// let err = connect_kv(&Config::from_args(["-ring.store=consul"])?.config).await.unwrap_err();
/// assert!(err.to_string().contains("expected inmemory or etcd"));
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
///
/// # Errors
/// An unknown store, no endpoints, or an etcd that cannot be reached.
pub async fn connect_kv(config: &Config) -> Result<Arc<dyn KvStore>, BoxError> {
    match config.ring.store.as_str() {
        "inmemory" | "memory" => Ok(Arc::new(loki_ring::MemoryKv::new())),
        "etcd" => {
            let endpoints: Vec<&str> = config
                .ring
                .etcd_endpoints
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .collect();
            if endpoints.is_empty() {
                return Err("-ring.store=etcd needs -ring.etcd.endpoints".into());
            }
            #[cfg(feature = "etcd")]
            {
                Ok(Arc::new(loki_ring::EtcdKv::connect(&endpoints, "").await?))
            }
            #[cfg(not(feature = "etcd"))]
            {
                Err("-ring.store=etcd: this binary is built without the etcd feature".into())
            }
        }
        other => Err(format!("-ring.store={other:?}: expected inmemory or etcd").into()),
    }
}

/// The ring settings as the ring crate's configuration.
fn ring_config(config: &Config) -> Result<RingConfig, ConfigError> {
    let ring = RingConfig::default()
        .with_replication_factor(config.ring.replication_factor)
        .with_heartbeat_timeout(config.ring.heartbeat_timeout.0)
        .with_zone_awareness(!config.ring.instance_zone.is_empty());
    ring.validate()
        .map_err(|e| ConfigError::Invalid(format!("ring: {e}")))?;
    Ok(ring)
}

/// One running component of distributed mode: its server, its store and
/// (for an ingester) its place in the ring.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// use std::sync::Arc;
/// use loki::ring::{get_ring_desc, KvStore, MemoryKv};
/// use loki::server::{Config, Node};
///
/// let kv: Arc<dyn KvStore> = Arc::new(MemoryKv::new());
/// let args = ["-target=ingester", "-storage.url=memory://", "-ingester.wal-enabled=false", "-ingester.lifecycler.ID=ingester-1"];
/// let config = Config::from_args(args)?.config;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let ingester = Node::start(config, kv.clone(), listener).await?;
/// assert!(get_ring_desc(kv.as_ref(), "ring").await?.get("ingester-1").is_some()); // ACTIVE
///
/// ingester.shutdown().await?; // flushed, and out of the ring
/// assert!(get_ring_desc(kv.as_ref(), "ring").await?.is_empty());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Node {
    address: SocketAddr,
    state: AppState,
    server: serve::Server,
    background: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl Node {
    /// Starts `config.target` serving on `listener`, with the ring in `kv`.
    /// An ingester replays its WAL, starts serving, then joins the ring
    /// (returning once it is ACTIVE).
    ///
    /// # Errors
    /// `-target=all` (use [`serve`](crate::server::serve)), an invalid ring
    /// or store configuration, a store that does not open, or a KV store
    /// that fails.
    pub async fn start(
        config: Config,
        kv: Arc<dyn KvStore>,
        listener: TcpListener,
    ) -> Result<Node, BoxError> {
        let address = listener.local_addr()?;
        let target = config.target;
        let ring_config = ring_config(&config)?;
        let mut store_config = config.store_config()?;
        let instance_id = if config.ring.instance_id.is_empty() {
            let kind = match target {
                Target::Distributor => "distributor",
                Target::Compactor => "compactor",
                _ => "ingester",
            };
            format!("{kind}-{}", address.port())
        } else {
            config.ring.instance_id.clone()
        };
        let instance_addr = if config.ring.instance_addr.is_empty() {
            address.to_string()
        } else {
            config.ring.instance_addr.clone()
        };
        let store = match target {
            Target::All => return Err("-target=all runs without a ring: use serve".into()),
            Target::Ingester => {
                store_config.segment_owner = Some(instance_id.clone());
                // Compaction is the compactor target's alone.
                store_config.compaction_interval = std::time::Duration::ZERO;
                Store::open(store_config).await?
            }
            Target::Querier => {
                store_config.wal_dir = None;
                Store::open(store_config).await?
            }
            Target::Compactor => {
                if config.ring.compactor_min_segment_age.0 < compactor::MIN_SEGMENT_AGE_FLOOR {
                    return Err(format!(
                        "-compactor.min-segment-age={} is below {:?}: queriers and ingesters could still read what it deletes",
                        config.ring.compactor_min_segment_age,
                        compactor::MIN_SEGMENT_AGE_FLOOR
                    )
                    .into());
                }
                store_config.wal_dir = None;
                Store::open(store_config).await?
            }
            // Every push is forwarded: nothing is stored here.
            Target::Distributor => Store::open(StoreConfig::in_memory()).await?,
        };
        let ring = RingWatcher::start(
            kv.clone(),
            &config.ring.key,
            ring_config.clone(),
            Arc::new(SystemClock),
        )
        .await?;
        let mut lifecycler_config = LifecyclerConfig::new(instance_id, instance_addr)
            .with_zone(config.ring.instance_zone.clone())
            .with_ring_key(config.ring.key.clone())
            .with_num_tokens(config.ring.num_tokens)
            .with_heartbeat_period(config.ring.heartbeat_period.0);
        // Distributors and compactors join a ring of their own (one token
        // each): distributors count each other to share the tenants' global
        // ingestion rate, compactors elect the one that compacts.
        let own_ring = match target {
            Target::Distributor => Some(limits::distributor_ring_key(&config.ring.key)),
            Target::Compactor => Some(compactor::ring_key(&config.ring.key)),
            _ => None,
        };
        let mut peers = None;
        if let Some(key) = own_ring {
            lifecycler_config = lifecycler_config
                .with_ring_key(key.clone())
                .with_num_tokens(1);
            peers = Some(
                RingWatcher::start(kv.clone(), &key, ring_config.clone(), Arc::new(SystemClock))
                    .await?,
            );
        }
        let (mut rate_limits, mut compactors) = (None, None);
        match target {
            Target::Distributor => {
                rate_limits = peers.map(|d| limits::RateLimits::new(Arc::new(config.clone()), d));
            }
            Target::Compactor => compactors = peers,
            _ => {}
        }
        let cluster = Arc::new(Cluster {
            target,
            ring,
            client: client::Client::new(),
            lifecycler: tokio::sync::Mutex::new(None),
            segments_refreshed: tokio::sync::Mutex::new(None),
            sent: pushdown::SentCounter::default(),
            stopping: tokio::sync::watch::Sender::new(false),
            rate_limits,
            compactors,
            instance_id: lifecycler_config.id.clone(),
        });
        let state = AppState::with_config(store, config).with_cluster(cluster.clone());
        let server = serve::Server::spawn(listener, app(state.clone()));
        let mut background = None;
        if matches!(
            target,
            Target::Ingester | Target::Distributor | Target::Compactor
        ) {
            let lifecycler =
                match Lifecycler::start(lifecycler_config, kv, Arc::new(SystemClock)).await {
                    Ok(lifecycler) => lifecycler,
                    Err(err) => {
                        server.abort();
                        return Err(err.into());
                    }
                };
            *cluster.lifecycler.lock().await = Some(lifecycler);
        }
        if target == Target::Ingester {
            let (stop, stopped) = oneshot::channel();
            let task = tokio::spawn(ingester::flush_loop(state.clone(), stopped));
            background = Some((stop, task));
        }
        if target == Target::Compactor {
            let (stop, stopped) = oneshot::channel();
            let task = tokio::spawn(compactor::compaction_loop(state.clone(), stopped));
            background = Some((stop, task));
        }
        tracing::info!(%address, ?target, "distributed component started");
        Ok(Node {
            address,
            state,
            server,
            background,
        })
    }

    /// The address the node serves on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The node's handler state (its store, configuration and ring).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// What this node (an ingester) has sent queriers in answer to their
    /// selects since it started: entries or samples, and protobuf bytes.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// use std::sync::Arc;
    /// use loki::server::{Config, Node};
    ///
    /// let kv: Arc<dyn loki::ring::KvStore> = Arc::new(loki::ring::MemoryKv::new());
    /// let config = Config::from_args(["-target=ingester", "-storage.url=memory://", "-ingester.wal-enabled=false"])?.config;
    /// let node = Node::start(config, kv, tokio::net::TcpListener::bind("127.0.0.1:0").await?).await?;
    /// assert_eq!(node.select_sent(), (0, 0));
    /// node.shutdown().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn select_sent(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        match &self.state.cluster {
            Some(c) => (c.sent.entries.load(Relaxed), c.sent.bytes.load(Relaxed)),
            None => (0, 0),
        }
    }

    /// Flushes everything the node holds in memory to the object store
    /// (an ingester's chunks and index; nothing for the others).
    ///
    /// # Errors
    /// The store's flush error.
    pub async fn flush(&self) -> Result<(), BoxError> {
        if self.state.cluster.as_ref().map(|c| c.target) == Some(Target::Ingester) {
            self.state.store.flush(true).await?;
        }
        Ok(())
    }

    /// Stops gracefully: an ingester goes LEAVING, flushes everything to
    /// the object store and leaves the ring; then the server drains.
    ///
    /// # Errors
    /// The final flush's error or the KV store's.
    pub async fn shutdown(mut self) -> Result<(), BoxError> {
        if let Some((stop, task)) = self.background.take() {
            let _ = stop.send(());
            let _ = task.await;
        }
        let lifecycler = match &self.state.cluster {
            Some(cluster) => cluster.lifecycler.lock().await.take(),
            None => None,
        };
        if let Some(lifecycler) = &lifecycler {
            lifecycler.leave().await?;
        }
        if let Some(cluster) = &self.state.cluster {
            cluster.stopping.send_replace(true);
        }
        let flushed = self.state.store.shutdown().await;
        if let Some(lifecycler) = lifecycler {
            lifecycler.shutdown().await?;
        }
        self.server.stop().await;
        flushed?;
        Ok(())
    }

    /// Stops as a crash would: connections dropped, no flush, heartbeats
    /// stop and the ring entry stays (it turns unhealthy after the
    /// heartbeat timeout). What is in memory survives only in the WAL.
    pub async fn kill(mut self) {
        self.server.abort();
        if let Some((_, task)) = self.background.take() {
            task.abort();
        }
        if let Some(cluster) = &self.state.cluster {
            drop(cluster.lifecycler.lock().await.take());
        }
    }
}

/// Runs `config.target` until `shutdown` completes, then stops gracefully
/// (see [`Node::shutdown`]): the command line's distributed mode.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let args = ["-target=querier", "-ring.store=etcd", "-ring.etcd.endpoints=127.0.0.1:2379"];
/// let config = loki::server::Config::from_args(args)?.config;
/// loki::server::run_distributed(config, async {
///     let _ = tokio::signal::ctrl_c().await;
/// })
/// .await?;
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// As [`connect_kv`] and [`Node::start`], and binding the listen address.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), BoxError> {
    let kv = connect_kv(&config).await?;
    let address = config.listen_address();
    let listener = TcpListener::bind(&address)
        .await
        .map_err(|e| format!("cannot listen on {address}: {e}"))?;
    let node = Node::start(config, kv, listener).await?;
    shutdown.await;
    node.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_text_quotes_as_go_and_parses_back() {
        let value = "caf\u{e9} \u{1}\u{a0}\u{10ffff}\t\"";
        let labels = Labels::new([("app", value)]).unwrap();
        let text = labels_text(&labels);
        assert_eq!(text, r#"{app="café \x01\u00a0\U0010ffff\t\""}"#);
        let parsed = loki_logql::parse_labels(&text).unwrap();
        assert_eq!(parsed.get("app"), Some(value));
    }

    #[test]
    fn labels_text_is_lokis_form() {
        let labels = Labels::new([("job", "a\"b"), ("app", "x\\y")]).unwrap();
        assert_eq!(labels_text(&labels), r#"{app="x\\y", job="a\"b"}"#);
        let parsed = loki_logql::parse_labels(&labels_text(&labels)).unwrap();
        assert_eq!(parsed.get("job"), Some("a\"b"));
    }
}
