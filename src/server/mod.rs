//! A Loki-compatible HTTP server over the crates: push, query, labels and
//! operations endpoints. It stays thin: parsing and shaping HTTP here, all
//! logic in the crates.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use loki::server::{serve, AppState};
//! use loki::store::{Store, StoreConfig};
//!
//! let store = Store::open(StoreConfig::filesystem("./data")).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3100").await?;
//! serve(listener, AppState::new(store, false), async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await?;
//! # Ok(())
//! # }
//! ```

mod delete;
mod error;
mod metrics;
mod params;
pub mod proto;
mod push;
mod query;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use loki_store::Store;

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
    pub(crate) metrics: std::sync::Arc<metrics::Metrics>,
}

impl AppState {
    /// State over `store`.
    pub fn new(store: Store, auth_enabled: bool) -> AppState {
        AppState {
            store,
            auth_enabled,
            metrics: Default::default(),
        }
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

/// The router: every endpoint this server answers.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/loki/api/v1/push", post(push::push))
        .route("/api/prom/push", post(push::push))
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
        .route("/loki/api/v1/status/buildinfo", get(buildinfo))
        .route(
            "/loki/api/v1/delete",
            get(delete::list)
                .post(delete::create)
                .put(delete::create)
                .delete(delete::cancel),
        )
        .route("/ready", get(ready))
        .route("/metrics", get(metrics::render))
        .route("/flush", get(flush).post(flush))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
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

async fn ready() -> &'static str {
    "ready"
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
