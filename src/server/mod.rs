//! A Loki-compatible HTTP server over the crates: push (v1 and legacy),
//! queries (split by time and run in parallel), labels, series, index
//! stats and volume, Logs Drilldown's detected labels and fields, live
//! tail over WebSocket, the legacy `/api/prom/*`
//! paths, deletes and operations (`/ready`, `/metrics`, `/config`,
//! `/flush`). It stays thin: parsing and shaping HTTP here, all logic in
//! the crates. [`Config`] reads Loki-style YAML and flags.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use loki::server::{serve, AppState, Config};
//! use loki::store::Store;
//!
//! let config = Config::from_args(["-config.file=loki.yaml"])?.config;
//! let store = Store::open(config.store_config()?).await?;
//! let listener = tokio::net::TcpListener::bind(config.listen_address()).await?;
//! serve(listener, AppState::with_config(store, config), async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await?;
//! # Ok(())
//! # }
//! ```

mod config;
mod delete;
mod detected;
mod distributed;
mod error;
mod legacy;
mod metrics;
mod params;
pub mod proto;
mod push;
mod query;
mod stats;
mod tail;
mod volume;
mod wire;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use loki_store::Store;

pub use config::{
    ByteSize, CommandLine, CommonConfig, CommonStorage, CompactorConfig, Config, ConfigError,
    FilesystemStorage, GoDuration, IngesterConfig, LimitsConfig, ObjectStoreConfig, RingSettings,
    ServerConfig, StorageConfig, Target, WalConfig, FLAGS, IGNORED_LOKI_KEYS,
};
pub use distributed::{connect_kv, run as run_distributed, Node};
pub use error::ApiError;
pub use push::decode_push;

/// Largest push body accepted, compressed (Loki's `max_recv_msg_size`).
pub const MAX_BODY_BYTES: usize = 100 << 20;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The storage engine.
    pub store: Store,
    /// With `true`, requests must name their tenant in `X-Scope-OrgID`;
    /// otherwise every request is tenant `fake`, as in Loki.
    pub auth_enabled: bool,
    /// The configuration: query limits and splitting, and `GET /config`.
    pub config: Arc<Config>,
    pub(crate) metrics: Arc<metrics::Metrics>,
    pub(crate) tails: Arc<tail::TailSlots>,
    /// Distributed mode's ring and peers (`None` for `-target=all`).
    pub(crate) cluster: Option<Arc<distributed::Cluster>>,
    /// Each tenant's `detected_level` discovery on push.
    pub(crate) levels: Arc<push::LevelDetectors>,
}

impl AppState {
    /// State over `store`, with the default configuration otherwise.
    pub fn new(store: Store, auth_enabled: bool) -> AppState {
        let config = Config {
            auth_enabled,
            ..Config::default()
        };
        AppState::with_config(store, config)
    }

    /// State over `store` with `config`'s `auth_enabled` and query limits
    /// (the store is expected to be opened with
    /// [`config.store_config()`](Config::store_config)).
    ///
    /// ```
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use loki::server::{AppState, Config};
    /// use loki::store::Store;
    ///
    /// let config = Config::from_yaml("auth_enabled: true\nstorage:\n  url: memory://\n")?;
    /// let store = Store::open(config.store_config()?).await?;
    /// let state = AppState::with_config(store, config);
    /// assert!(state.auth_enabled);
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_config(store: Store, config: Config) -> AppState {
        AppState {
            store,
            auth_enabled: config.auth_enabled,
            levels: Arc::new(push::LevelDetectors::new(&config)),
            config: Arc::new(config),
            metrics: Default::default(),
            tails: Default::default(),
            cluster: None,
        }
    }

    fn with_cluster(mut self, cluster: Arc<distributed::Cluster>) -> AppState {
        self.cluster = Some(cluster);
        self
    }

    /// The cluster, when this process is a distributor.
    pub(crate) fn distributor(&self) -> Option<&distributed::Cluster> {
        self.cluster
            .as_deref()
            .filter(|c| c.target == Target::Distributor)
    }

    /// The cluster, when this process is a querier.
    pub(crate) fn querier(&self) -> Option<&Arc<distributed::Cluster>> {
        self.cluster
            .as_ref()
            .filter(|c| c.target == Target::Querier)
    }

    /// The tenants' data as LogQL storage for `query` (with its log
    /// queries' `interval`): the store, or for a querier the ingesters and
    /// the store merged (the query's filters and limit sent to the
    /// ingesters unless `-querier.ingester-pushdown=false`).
    pub(crate) fn logql_storage(
        &self,
        tenants: &[&str],
        query: &loki_logql::Expr,
        interval: i64,
    ) -> Arc<dyn loki_logql::Storage> {
        match self.querier() {
            Some(cluster) => Arc::new(distributed::querier::QuerierStorage::new(
                &self.store,
                cluster.clone(),
                tenants,
                self.config
                    .ring
                    .ingester_pushdown
                    .then(|| Arc::new(distributed::pushdown::QueryPlan::new(query, interval))),
            )),
            None => Arc::new(self.store.logql_storage(tenants)),
        }
    }

    /// Live pushes of `tenants`: the store's, or for a querier the
    /// ingesters' (merged, each entry once).
    pub(crate) fn tail_feed(&self, tenants: &[&str]) -> distributed::tail::TailFeed {
        match self.querier() {
            Some(cluster) => distributed::tail::TailFeed::remote(cluster.clone(), tenants),
            None => distributed::tail::TailFeed::Local(self.store.tail(tenants)),
        }
    }

    /// The compaction interval (never zero).
    fn compaction_interval(&self) -> std::time::Duration {
        (self.config.compactor.compaction_interval.0).max(std::time::Duration::from_millis(100))
    }

    /// The request's tenants (several for `a|b` queries).
    pub(crate) fn tenants(&self, headers: &HeaderMap) -> Result<Vec<String>, ApiError> {
        if !self.auth_enabled {
            return Ok(vec!["fake".to_owned()]);
        }
        let header = headers
            .get("x-scope-orgid")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "no org id"))?;
        let tenants: Vec<String> = header.split('|').map(str::to_owned).collect();
        for tenant in &tenants {
            loki_store::validate_tenant(tenant)
                .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()))?;
        }
        Ok(tenants)
    }
}

/// The router: every endpoint this server answers (and in distributed
/// mode `/ring`, and an ingester's internal endpoints).
pub fn app(state: AppState) -> Router {
    let mut router = Router::new();
    if let Some(cluster) = &state.cluster {
        router = router.route("/ring", get(distributed::ring_page::ring));
        if cluster.target == Target::Compactor {
            router = router.route(
                "/compactor/ring",
                get(distributed::ring_page::compactor_ring),
            );
        }
        if cluster.target == Target::Ingester {
            router = router
                .route(
                    distributed::distributor::PUSH_PATH,
                    post(distributed::ingester::push),
                )
                .route(
                    distributed::ingester::SELECT_PATH,
                    post(distributed::ingester::select),
                )
                .route(
                    distributed::ingester::LABELS_PATH,
                    post(distributed::ingester::labels),
                )
                .route(
                    distributed::index::VOLUME_PATH,
                    post(distributed::index::volume),
                )
                .route(
                    distributed::index::STATS_PATH,
                    post(distributed::index::stats),
                )
                .route(distributed::tail::TAIL_PATH, post(distributed::tail::serve));
        }
    }
    router
        .route("/loki/api/v1/push", post(push::push))
        .route("/api/prom/push", post(push::legacy_push))
        .route(
            "/loki/api/v1/query",
            get(query::instant).post(query::instant),
        )
        .route(
            "/loki/api/v1/query_range",
            get(query::range).post(query::range),
        )
        .route(
            "/loki/api/v1/labels",
            get(query::labels).post(query::labels),
        )
        .route("/loki/api/v1/label", get(query::labels).post(query::labels))
        .route(
            "/loki/api/v1/label/{name}/values",
            get(query::label_values).post(query::label_values),
        )
        .route(
            "/loki/api/v1/series",
            get(query::series).post(query::series),
        )
        .route(
            "/loki/api/v1/format_query",
            get(query::format_query).post(query::format_query),
        )
        .route(
            "/loki/api/v1/index/stats",
            get(query::index_stats).post(query::index_stats),
        )
        .route(
            "/loki/api/v1/index/volume",
            get(volume::instant).post(volume::instant),
        )
        .route(
            "/loki/api/v1/index/volume_range",
            get(volume::range).post(volume::range),
        )
        .route(
            "/loki/api/v1/detected_labels",
            get(detected::labels).post(detected::labels),
        )
        .route(
            "/loki/api/v1/detected_fields",
            get(detected::fields).post(detected::fields),
        )
        .route(
            "/loki/api/v1/detected_field/{name}/values",
            get(detected::field_values).post(detected::field_values),
        )
        .route("/loki/api/v1/drilldown-limits", get(detected::limits))
        .route("/loki/api/v1/tail", get(tail::tail))
        .route("/api/prom/tail", get(tail::legacy_tail))
        .route("/api/prom/query", get(legacy::query).post(legacy::query))
        .route("/api/prom/label", get(legacy::labels).post(legacy::labels))
        .route(
            "/api/prom/label/{name}/values",
            get(legacy::label_values).post(legacy::label_values),
        )
        .route("/api/prom/series", get(query::series).post(query::series))
        .route("/loki/api/v1/status/buildinfo", get(buildinfo))
        .route("/config", get(config_yaml))
        .route("/loki/api/v1/delete", delete_routes(&state))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics::render))
        .route("/flush", get(flush).post(flush))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state)
}

/// The delete API: served by a single process and by the leading
/// compactor of distributed mode (the others hand it on to the leader);
/// other components of distributed mode refuse it.
fn delete_routes(state: &AppState) -> axum::routing::MethodRouter<AppState> {
    match &state.cluster {
        Some(cluster) if cluster.target != Target::Compactor => {
            axum::routing::any(distributed::delete_elsewhere)
        }
        Some(_) => get(delete::list)
            .post(delete::create)
            .put(delete::create)
            .delete(delete::cancel)
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                distributed::compactor::to_leader,
            )),
        None => get(delete::list)
            .post(delete::create)
            .put(delete::create)
            .delete(delete::cancel),
    }
}

/// Serves `app(state)` on `listener` until `shutdown` completes, then
/// flushes the store.
///
/// # Errors
/// I/O errors of the listener, and the final flush's error.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let store = state.store.clone();
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await?;
    store.shutdown().await?;
    Ok(())
}

/// The store's maintenance until `shutdown` completes, then a flush of
/// everything: [`Store::run_maintenance`] with the server's
/// `ingester.flush_check_period`, `compactor.compaction_interval` and
/// `ingester.max_memory` (closed chunks are uploaded early when memory or
/// closed chunks pile up; a checkpoint comes early when the WAL grows
/// large). `/metrics` reads what it flushed from
/// [`Store::flushed_totals`]. Errors are logged and retried at the next
/// tick; the final flush's error is logged.
///
/// ```no_run
/// # async fn run(state: loki::server::AppState) {
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let maintenance = tokio::spawn(loki::server::run_maintenance(state, async {
///     let _ = stopped.await;
/// }));
/// // … serve …
/// let _ = stop.send(());
/// let _ = maintenance.await;
/// # }
/// ```
pub async fn run_maintenance(state: AppState, shutdown: impl std::future::Future<Output = ()>) {
    if let Err(err) = state.store.clone().run_maintenance(shutdown).await {
        tracing::error!(error = %err, "final flush failed");
    }
}

/// `GET /config`: the effective configuration as YAML; `?mode=defaults`
/// the defaults, `?mode=diff` only what differs from them (as Loki).
async fn config_yaml(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let mode = url::form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "mode")
        .map(|(_, v)| v.into_owned());
    let body = match mode.as_deref() {
        None | Some("") => state.config.effective().to_yaml(),
        Some("defaults") => Config::default().effective().to_yaml(),
        Some("diff") => state.config.diff_from_defaults(),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown mode {other:?}: expected defaults or diff"
            )))
        }
    };
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body))
}

/// `GET /ready`: `ready`; an ingester of distributed mode answers 503
/// until it is ACTIVE in the ring (as Loki's ingesters).
async fn ready(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    if let Some(cluster) = &state.cluster {
        cluster.ready().await?;
    }
    Ok("ready")
}

async fn flush(State(state): State<AppState>) -> Result<StatusCode, ApiError> {
    state.store.flush(true).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn buildinfo() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "revision": "",
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    }))
}
