//! The crate's one error type.

/// A specialised `Result` for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong with the ring, its KV store or a lifecycler.
///
/// ```
/// use loki_ring::{Error, ErrorKind, Ring, RingConfig, RingDesc};
///
/// // An empty ring cannot place a key.
/// let ring = Ring::new(&RingDesc::default(), RingConfig::default(), 0)?;
/// let err = ring.replication_set(42, loki_ring::Operation::WRITE).unwrap_err();
/// assert!(matches!(err, Error::EmptyRing));
/// assert_eq!(err.kind(), ErrorKind::Unavailable);
/// assert!(err.is_retryable());
/// # Ok::<(), loki_ring::Error>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The ring has no instance owning tokens.
    #[error("empty ring")]
    EmptyRing,
    /// Fewer healthy replicas than a quorum needs (dskit's
    /// `at least <m> live replicas required, could only find <k>`).
    #[error("at least {required} live replicas required{zones}, could only find {found}{unhealthy}",
        zones = if *.zone_aware { " across different availability zones" } else { "" },
        unhealthy = if .unhealthy.is_empty() { String::new() } else { format!(" - unhealthy instances: {}", .unhealthy.join(",")) })]
    TooFewReplicas {
        /// Replicas a quorum needs.
        required: usize,
        /// Healthy replicas found.
        found: usize,
        /// Whether the count is of distinct zones.
        zone_aware: bool,
        /// Addresses of the replicas left out as unhealthy.
        unhealthy: Vec<String>,
    },
    /// A whole-ring read finds more unhealthy instances (or zones) than it
    /// tolerates (dskit's `ErrTooManyUnhealthyInstances`).
    #[error("too many unhealthy instances in the ring: {unhealthy} unhealthy {what}, at most {tolerated} tolerated")]
    TooManyUnhealthy {
        /// `"instances"` or `"zones"`.
        what: &'static str,
        /// How many are unhealthy.
        unhealthy: usize,
        /// How many may be.
        tolerated: usize,
    },
    /// A configuration value is out of range.
    #[error("invalid ring configuration: {field}: {reason}")]
    InvalidConfig {
        /// The setting.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The token generator cannot find enough free tokens.
    #[error("cannot generate {wanted} tokens: only {free} free values left")]
    TokensExhausted {
        /// Tokens asked for.
        wanted: usize,
        /// Free values in the token space.
        free: u64,
    },
    /// A stored ring description does not decode.
    #[error("corrupt ring description in {what}: {detail}")]
    Corrupt {
        /// Which layer failed (`"snappy"`, `"protobuf"`, `"tokens file"`, ...).
        what: &'static str,
        /// The decoder's message.
        detail: String,
    },
    /// An instance the caller named is not in the ring.
    #[error("instance {id:?} is not in the ring")]
    InstanceNotFound {
        /// The instance ID.
        id: String,
    },
    /// A compare-and-swap lost every retry to concurrent writers.
    #[error("compare-and-swap on key {key:?} failed after {attempts} attempts")]
    CasConflict {
        /// The KV key.
        key: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The KV store failed (network, server or client error).
    #[error("kv store {backend} failed on key {key:?}: {detail}")]
    Kv {
        /// Which backend (`"memory"`, `"etcd"`).
        backend: &'static str,
        /// The KV key.
        key: String,
        /// The backend's message.
        detail: String,
    },
    /// A background component (ring watcher) has stopped.
    #[error("{id} is stopped")]
    Stopped {
        /// What stopped.
        id: String,
    },
}

/// Coarse classes of [`Error`], so a server can pick a status without
/// matching on messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Not enough healthy replicas or instances right now (HTTP 503).
    Unavailable,
    /// The caller passed something invalid (HTTP 400).
    InvalidInput,
    /// Stored state is damaged or inconsistent.
    Corrupt,
    /// Something the caller named does not exist (HTTP 404).
    NotFound,
    /// Lost a race with concurrent writers.
    Conflict,
    /// The KV backend failed or timed out.
    Backend,
    /// The component is shut down.
    Stopped,
}

impl Error {
    /// The class of this error.
    ///
    /// ```
    /// use loki_ring::{Error, ErrorKind};
    /// let err = Error::CasConflict { key: "collectors/ring".into(), attempts: 10 };
    /// assert_eq!(err.kind(), ErrorKind::Conflict);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::EmptyRing | Error::TooFewReplicas { .. } | Error::TooManyUnhealthy { .. } => {
                ErrorKind::Unavailable
            }
            Error::InvalidConfig { .. } | Error::TokensExhausted { .. } => ErrorKind::InvalidInput,
            Error::Corrupt { .. } => ErrorKind::Corrupt,
            Error::InstanceNotFound { .. } => ErrorKind::NotFound,
            Error::CasConflict { .. } => ErrorKind::Conflict,
            Error::Kv { .. } => ErrorKind::Backend,
            Error::Stopped { .. } => ErrorKind::Stopped,
        }
    }

    /// Whether the same call may succeed later without any change by the
    /// caller (the ring heals, a KV race is lost, a network blip passes).
    ///
    /// ```
    /// use loki_ring::Error;
    /// assert!(!Error::InvalidConfig { field: "replication_factor", reason: "0".into() }.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Unavailable | ErrorKind::Conflict | ErrorKind::Backend
        )
    }

    pub(crate) fn corrupt(what: &'static str, detail: impl ToString) -> Error {
        Error::Corrupt {
            what,
            detail: detail.to_string(),
        }
    }

    pub(crate) fn config(field: &'static str, reason: impl Into<String>) -> Error {
        Error::InvalidConfig {
            field,
            reason: reason.into(),
        }
    }
}
