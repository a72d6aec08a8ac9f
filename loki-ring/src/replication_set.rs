//! The instances a key (or a whole-ring read) goes to, and how many of
//! them may fail.

use std::collections::BTreeSet;

use crate::{Error, InstanceDesc, Operation, Result, Ring};

/// A replica set: healthy instances (as indexes into
/// [`Ring::instances`]) plus the failures the operation tolerates.
///
/// Filled by [`Ring::get`] (one key) or
/// [`Ring::get_for_operation`] (every healthy instance, for reads that fan
/// out to the whole ring). It keeps its buffers between lookups, so a
/// caller doing many lookups allocates once. Indexes refer to the ring
/// that filled the set.
///
/// ```
/// use loki_ring::{InstanceDesc, Operation, ReplicationSet, Ring, RingConfig, RingDesc};
///
/// let mut desc = RingDesc::default();
/// for (n, id) in ["a", "b", "c"].iter().enumerate() {
///     desc.upsert(InstanceDesc::new(*id, *id, "").with_tokens(vec![n as u32 * 100]).with_timestamp(0));
/// }
/// let ring = Ring::new(&desc, RingConfig::default(), 0)?;
/// let mut set = ReplicationSet::new();
/// ring.get(7, Operation::WRITE_NO_EXTEND, &mut set)?;
/// assert_eq!(set.len(), 3);
/// assert_eq!((set.max_errors(), set.min_success()), (1, 2));
/// # Ok::<(), loki_ring::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicationSet {
    pub(crate) picked: Vec<u32>,
    pub(crate) zones: Vec<u32>,
    pub(crate) max_errors: usize,
    pub(crate) max_unavailable_zones: usize,
}

impl ReplicationSet {
    /// An empty set with room for a replication factor of 3 plus extends.
    pub fn new() -> ReplicationSet {
        ReplicationSet {
            picked: Vec::with_capacity(8),
            zones: Vec::with_capacity(8),
            max_errors: 0,
            max_unavailable_zones: 0,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.picked.clear();
        self.zones.clear();
        self.max_errors = 0;
        self.max_unavailable_zones = 0;
    }

    /// Number of instances.
    pub fn len(&self) -> usize {
        self.picked.len()
    }

    /// Whether the set is empty (only after a failed lookup).
    pub fn is_empty(&self) -> bool {
        self.picked.is_empty()
    }

    /// Indexes of the instances in [`Ring::instances`], in walk order.
    pub fn indexes(&self) -> impl ExactSizeIterator<Item = usize> + '_ {
        self.picked.iter().map(|&i| i as usize)
    }

    /// The instances, resolved against the ring that filled the set.
    ///
    /// # Panics
    ///
    /// If `ring` has fewer instances than the ring that filled the set.
    pub fn instances<'r>(&'r self, ring: &'r Ring) -> impl Iterator<Item = &'r InstanceDesc> + 'r {
        self.picked
            .iter()
            .map(move |&i| &ring.instances[i as usize])
    }

    /// Whether the instance at `index` is in the set.
    pub fn contains(&self, index: usize) -> bool {
        self.picked.iter().any(|&i| i as usize == index)
    }

    /// Failures tolerated: the operation succeeds once `len − max_errors`
    /// instances answered.
    pub fn max_errors(&self) -> usize {
        self.max_errors
    }

    /// Zones that may fail entirely (whole-ring reads with zone awareness;
    /// 0 otherwise).
    pub fn max_unavailable_zones(&self) -> usize {
        self.max_unavailable_zones
    }

    /// Successes needed: `len − max_errors`.
    pub fn min_success(&self) -> usize {
        self.picked.len() - self.max_errors
    }
}

impl Ring {
    /// Every instance healthy for `op`, with the failures a read fanning
    /// out to the whole ring tolerates (dskit's
    /// `GetReplicationSetForOperation`, what Loki's queriers use to reach
    /// ingesters).
    ///
    /// Without zones `max(#instances, RF) − ⌊RF/2⌋` healthy instances are
    /// required. With zones, a zone with any unhealthy instance is left out
    /// whole; up to `⌊min(#zones, RF)/2⌋` such zones are tolerated and the
    /// remaining tolerance is [`ReplicationSet::max_unavailable_zones`].
    ///
    /// ```
    /// use loki_ring::{InstanceDesc, InstanceState, Operation, Ring, RingConfig, RingDesc};
    ///
    /// let mut desc = RingDesc::default();
    /// for (n, id) in ["a", "b", "c", "d"].iter().enumerate() {
    ///     let state = if *id == "d" { InstanceState::Pending } else { InstanceState::Active };
    ///     desc.upsert(InstanceDesc::new(*id, *id, "").with_state(state).with_tokens(vec![n as u32]).with_timestamp(0));
    /// }
    /// let ring = Ring::new(&desc, RingConfig::default(), 0)?;
    /// let set = ring.replication_set_for_operation(Operation::WRITE)?;
    /// // 4 instances, RF 3: need 4 − 1 = 3; 3 healthy, so none may fail.
    /// assert_eq!((set.len(), set.max_errors()), (3, 0));
    /// # Ok::<(), loki_ring::Error>(())
    /// ```
    pub fn get_for_operation(&self, op: Operation, set: &mut ReplicationSet) -> Result<()> {
        set.clear();
        let rf = self.config.replication_factor;
        let mut failed_zones: BTreeSet<&str> = BTreeSet::new();
        for i in 0..self.instances.len() {
            if self.is_healthy(i, op) {
                set.picked.push(i as u32);
            } else {
                failed_zones.insert(self.instances[i].zone.as_str());
            }
        }
        if self.config.zone_awareness {
            let replicated_zones = self.max_zones.min(rf);
            let tolerated = replicated_zones / 2;
            if failed_zones.len() > tolerated {
                set.clear();
                return Err(Error::TooManyUnhealthy {
                    what: "zones",
                    unhealthy: failed_zones.len(),
                    tolerated,
                });
            }
            if !failed_zones.is_empty() {
                let instances = &self.instances;
                set.picked
                    .retain(|&i| !failed_zones.contains(instances[i as usize].zone.as_str()));
            }
            set.max_unavailable_zones = tolerated - failed_zones.len();
        } else {
            let required = self.instances.len().max(rf) - rf / 2;
            if set.picked.len() < required {
                let healthy = set.picked.len();
                set.clear();
                return Err(Error::TooManyUnhealthy {
                    what: "instances",
                    unhealthy: self.instances.len() - healthy,
                    tolerated: self.instances.len().saturating_sub(required),
                });
            }
            set.max_errors = set.picked.len() - required;
        }
        Ok(())
    }

    /// [`Ring::get_for_operation`] into a new set.
    pub fn replication_set_for_operation(&self, op: Operation) -> Result<ReplicationSet> {
        let mut set = ReplicationSet::new();
        self.get_for_operation(op, &mut set)?;
        Ok(set)
    }
}
