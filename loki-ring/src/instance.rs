//! One ring member: its state and description.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The lifecycle state of an instance (dskit's `InstanceState`; the
/// discriminants are the protobuf values).
///
/// ```
/// use loki_ring::InstanceState;
/// assert_eq!(InstanceState::Active as i32, 0);
/// assert_eq!(InstanceState::from_i32(3), Some(InstanceState::Joining));
/// assert_eq!(InstanceState::Leaving.to_string(), "LEAVING");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InstanceState {
    /// Serving reads and writes.
    #[default]
    Active = 0,
    /// Shutting down; still readable.
    Leaving = 1,
    /// Registered, no tokens yet.
    Pending = 2,
    /// Tokens chosen, observing the ring before going ACTIVE.
    Joining = 3,
    /// Gossip tombstone; never owns tokens.
    Left = 4,
}

impl InstanceState {
    /// The state for a protobuf value, if it is one.
    pub fn from_i32(value: i32) -> Option<InstanceState> {
        Some(match value {
            0 => InstanceState::Active,
            1 => InstanceState::Leaving,
            2 => InstanceState::Pending,
            3 => InstanceState::Joining,
            4 => InstanceState::Left,
            _ => return None,
        })
    }

    /// The state's bit in an [`Operation`](crate::Operation) mask.
    pub(crate) fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// The upper-case name dskit prints.
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceState::Active => "ACTIVE",
            InstanceState::Leaving => "LEAVING",
            InstanceState::Pending => "PENDING",
            InstanceState::Joining => "JOINING",
            InstanceState::Left => "LEFT",
        }
    }
}

impl std::fmt::Display for InstanceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One ring member as stored in the KV store (dskit's `InstanceDesc`).
///
/// Times are Unix seconds, as in dskit.
///
/// ```
/// use loki_ring::{InstanceDesc, InstanceState};
///
/// let inst = InstanceDesc::new("ingester-1", "10.0.0.1:9095", "zone-a")
///     .with_state(InstanceState::Active)
///     .with_tokens(vec![30, 10, 20])
///     .with_timestamp(1_700_000_000);
/// assert_eq!(inst.tokens, vec![10, 20, 30]); // kept sorted
/// assert!(inst.is_heartbeat_healthy(1_700_000_060, std::time::Duration::from_secs(60)));
/// assert!(!inst.is_heartbeat_healthy(1_700_000_061, std::time::Duration::from_secs(60)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct InstanceDesc {
    /// Instance ID (the key in [`RingDesc`](crate::RingDesc)).
    pub id: String,
    /// `host:port` other components reach it at.
    pub addr: String,
    /// Availability zone, `""` if none.
    pub zone: String,
    /// Lifecycle state.
    pub state: InstanceState,
    /// Owned tokens, sorted ascending and unique.
    pub tokens: Vec<u32>,
    /// Last heartbeat, Unix seconds.
    pub timestamp: i64,
    /// First registration, Unix seconds (0 = unknown).
    pub registered_timestamp: i64,
    /// Excluded from new shuffle shards.
    pub read_only: bool,
    /// When `read_only` last changed, Unix seconds.
    pub read_only_updated_timestamp: i64,
    /// Application-defined component versions.
    pub versions: BTreeMap<u64, u64>,
}

impl InstanceDesc {
    /// A new ACTIVE instance without tokens.
    pub fn new(id: impl Into<String>, addr: impl Into<String>, zone: impl Into<String>) -> Self {
        InstanceDesc {
            id: id.into(),
            addr: addr.into(),
            zone: zone.into(),
            ..InstanceDesc::default()
        }
    }

    /// Sets the state.
    pub fn with_state(mut self, state: InstanceState) -> Self {
        self.state = state;
        self
    }

    /// Sets the tokens (sorted and deduplicated here).
    pub fn with_tokens(mut self, mut tokens: Vec<u32>) -> Self {
        tokens.sort_unstable();
        tokens.dedup();
        self.tokens = tokens;
        self
    }

    /// Sets the heartbeat time (and the registration time if unset).
    pub fn with_timestamp(mut self, unix_secs: i64) -> Self {
        self.timestamp = unix_secs;
        if self.registered_timestamp == 0 {
            self.registered_timestamp = unix_secs;
        }
        self
    }

    /// Sets the read-only flag.
    pub fn with_read_only(mut self, read_only: bool, unix_secs: i64) -> Self {
        self.read_only = read_only;
        self.read_only_updated_timestamp = unix_secs;
        self
    }

    /// Whether the last heartbeat is recent enough at `now` (Unix seconds):
    /// `now − timestamp ≤ timeout`.
    pub fn is_heartbeat_healthy(&self, now: i64, timeout: std::time::Duration) -> bool {
        heartbeat_healthy(self.timestamp, now, timeout.as_secs() as i64)
    }
}

/// `now − timestamp ≤ timeout`, all in seconds, without overflow.
#[inline]
pub(crate) fn heartbeat_healthy(timestamp: i64, now: i64, timeout_secs: i64) -> bool {
    now.saturating_sub(timestamp) <= timeout_secs
}
