//! The distributor's ingestion rate limit, as Loki's
//! `ingestion_rate_strategy`:
//!
//! - `global` (the default): the tenant's `ingestion_rate_mb` is shared
//!   by the distributors, each allowing `rate / N` where `N` is the number
//!   of healthy distributors in the distributor ring (every distributor
//!   joins it, with one token); the burst is not divided, as in Loki.
//! - `local`: distributors do not limit; every ingester enforces the
//!   tenant's rate on what it receives (the store's own limit).
//!
//! A push over the limit is refused whole with 429 and Loki's message.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::http::StatusCode;
use loki_ring::{Operation, RingWatcher};
use parking_lot::Mutex;

use crate::server::{ApiError, Config};

/// The distributor ring's key in the KV store for an ingester ring at
/// `key`: Loki's `distributor` for the default `ring`.
pub(crate) fn distributor_ring_key(key: &str) -> String {
    if key == "ring" {
        "distributor".to_owned()
    } else {
        format!("{key}-distributor")
    }
}

/// One tenant's token bucket, in bytes.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The per-tenant limiters of one distributor.
#[derive(Debug)]
pub(crate) struct RateLimits {
    config: Arc<Config>,
    distributors: RingWatcher,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimits {
    pub(crate) fn new(config: Arc<Config>, distributors: RingWatcher) -> RateLimits {
        RateLimits {
            config,
            distributors,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `bytes` (of `lines` lines) from `tenant`'s bucket, or refuses
    /// the push with 429.
    pub(crate) fn admit(&self, tenant: &str, lines: usize, bytes: usize) -> Result<(), ApiError> {
        let limits = self.config.limits_for(&[tenant.to_owned()]);
        if limits.ingestion_rate_strategy != "global" || limits.ingestion_rate_mb <= 0.0 {
            return Ok(());
        }
        let healthy = self
            .distributors
            .ring()
            .healthy_count(Operation::WRITE)
            .max(1);
        let rate = limits.ingestion_rate_mb * 1024.0 * 1024.0 / healthy as f64;
        let burst = limits.ingestion_burst_size_mb * 1024.0 * 1024.0;
        let now = Instant::now();
        let mut buckets = self.buckets.lock();
        let bucket = buckets.entry(tenant.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.at = now;
        let wanted = bytes as f64;
        if wanted <= bucket.tokens {
            bucket.tokens -= wanted;
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Ingestion rate limit exceeded for user {tenant} (limit: {} bytes/sec) while attempting to ingest '{lines}' lines totaling '{bytes}' bytes, reduce log volume or contact your Loki administrator to see if the limit can be increased",
                rate as u64
            ),
        ))
    }
}
