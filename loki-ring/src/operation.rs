//! Operations: which instance states count as healthy for a lookup, and
//! which states extend the replica set.

use crate::InstanceState;

/// What a lookup is for: the states an instance must be in to be healthy,
/// and the states that make the walk pick one more instance (dskit's
/// `ring.Operation`).
///
/// ```
/// use loki_ring::{InstanceState, Operation};
///
/// assert!(Operation::READ.is_healthy(InstanceState::Leaving));
/// assert!(!Operation::WRITE.is_healthy(InstanceState::Leaving));
/// assert!(Operation::WRITE.extends(InstanceState::Joining));
/// assert!(!Operation::WRITE_NO_EXTEND.extends(InstanceState::Joining));
///
/// // A custom operation: only ACTIVE is healthy, never extend.
/// let op = Operation::new(&[InstanceState::Active], &[]);
/// assert_eq!(op, Operation::WRITE_NO_EXTEND);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Operation {
    healthy: u8,
    extend: u8,
}

const ALL: u8 = 0b1_1111;
const ACTIVE: u8 = 1 << InstanceState::Active as u8;
const LEAVING: u8 = 1 << InstanceState::Leaving as u8;
const PENDING: u8 = 1 << InstanceState::Pending as u8;

impl Operation {
    /// Writes: ACTIVE is healthy; any other state extends the set.
    pub const WRITE: Operation = Operation {
        healthy: ACTIVE,
        extend: ALL & !ACTIVE,
    };
    /// Writes as Loki's distributor does them: ACTIVE is healthy, never
    /// extend (a JOINING or LEAVING owner is simply a failed replica).
    pub const WRITE_NO_EXTEND: Operation = Operation {
        healthy: ACTIVE,
        extend: 0,
    };
    /// Reads: ACTIVE, PENDING and LEAVING are healthy; other states extend.
    pub const READ: Operation = Operation {
        healthy: ACTIVE | PENDING | LEAVING,
        extend: ALL & !(ACTIVE | LEAVING),
    };
    /// Reporting: every state is healthy; never extend.
    pub const REPORTING: Operation = Operation {
        healthy: ALL,
        extend: 0,
    };

    /// An operation from its healthy states and its extending states.
    pub fn new(healthy: &[InstanceState], extend: &[InstanceState]) -> Operation {
        Operation {
            healthy: healthy.iter().fold(0, |m, s| m | s.bit()),
            extend: extend.iter().fold(0, |m, s| m | s.bit()),
        }
    }

    /// Whether an instance in `state` is healthy for this operation (the
    /// heartbeat is checked separately).
    #[inline]
    pub fn is_healthy(self, state: InstanceState) -> bool {
        self.healthy & state.bit() != 0
    }

    /// Whether picking an instance in `state` makes the walk collect one
    /// more instance.
    #[inline]
    pub fn extends(self, state: InstanceState) -> bool {
        self.extend & state.bit() != 0
    }
}
