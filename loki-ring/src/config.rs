//! Ring client settings.

use std::time::Duration;

use crate::{Error, Result};

/// How lookups on a [`Ring`](crate::Ring) behave (dskit's ring client
/// config; defaults as Loki ships them).
///
/// ```
/// use std::time::Duration;
/// use loki_ring::RingConfig;
///
/// let cfg = RingConfig::default();
/// assert_eq!(cfg.replication_factor, 3);
/// assert_eq!(cfg.heartbeat_timeout, Duration::from_secs(60));
/// assert!(!cfg.zone_awareness);
///
/// let zoned = RingConfig::default().with_zone_awareness(true);
/// assert!(zoned.validate().is_ok());
/// assert!(RingConfig::default().with_replication_factor(0).validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingConfig {
    /// Copies of each key (`replication_factor`, default 3).
    pub replication_factor: usize,
    /// An instance whose last heartbeat is older is unhealthy (default 1m;
    /// must not be zero, as dskit's validation requires).
    pub heartbeat_timeout: Duration,
    /// Place replicas in distinct zones (default off).
    pub zone_awareness: bool,
}

impl Default for RingConfig {
    fn default() -> Self {
        RingConfig {
            replication_factor: 3,
            heartbeat_timeout: Duration::from_secs(60),
            zone_awareness: false,
        }
    }
}

impl RingConfig {
    /// Sets the replication factor.
    pub fn with_replication_factor(mut self, rf: usize) -> Self {
        self.replication_factor = rf;
        self
    }

    /// Sets the heartbeat timeout.
    pub fn with_heartbeat_timeout(mut self, timeout: Duration) -> Self {
        self.heartbeat_timeout = timeout;
        self
    }

    /// Turns zone awareness on or off.
    pub fn with_zone_awareness(mut self, on: bool) -> Self {
        self.zone_awareness = on;
        self
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if self.replication_factor == 0 {
            return Err(Error::config("replication_factor", "must be at least 1"));
        }
        if self.heartbeat_timeout.is_zero() {
            return Err(Error::config("heartbeat_timeout", "must be positive"));
        }
        Ok(())
    }
}
