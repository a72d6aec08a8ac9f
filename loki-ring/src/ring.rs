//! A ring snapshot built for lookups: the sorted token array with a
//! precomputed token → instance index and each instance's zone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::instance::heartbeat_healthy;
use crate::replication_set::ReplicationSet;
use crate::{Error, InstanceDesc, InstanceState, Operation, Result, RingConfig, RingDesc};

/// Zone index of an instance without a zone.
pub(crate) const NO_ZONE: u32 = u32::MAX;

/// What a lookup needs to know about an instance, packed together.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Meta {
    pub(crate) state: InstanceState,
    pub(crate) zone: u32,
    pub(crate) timestamp: i64,
}

/// An immutable, lookup-ready snapshot of a [`RingDesc`] under a
/// [`RingConfig`], evaluated for health at a given time.
///
/// Lookups are a binary search over the sorted token array followed by a
/// short walk; [`Ring::get`] fills a caller-owned [`ReplicationSet`] and
/// allocates nothing once the set has grown to its working size.
///
/// ```
/// use loki_ring::{InstanceDesc, Operation, ReplicationSet, Ring, RingConfig, RingDesc};
///
/// // The example of the reference: tokens 10→A, 20→B, 30→A, 40→C, 50→D.
/// let now = 1_700_000_000;
/// let mut desc = RingDesc::default();
/// for (id, tokens) in [("A", vec![10, 30]), ("B", vec![20]), ("C", vec![40]), ("D", vec![50])] {
///     desc.upsert(InstanceDesc::new(id, format!("{id}:9095"), "").with_tokens(tokens).with_timestamp(now));
/// }
/// let ring = Ring::new(&desc, RingConfig::default(), now)?;
///
/// let mut set = ReplicationSet::new();
/// ring.get(25, Operation::WRITE_NO_EXTEND, &mut set)?;
/// let ids: Vec<&str> = set.instances(&ring).map(|i| i.id.as_str()).collect();
/// assert_eq!(ids, ["A", "C", "D"]);
/// assert_eq!(set.max_errors(), 1); // RF 3, all healthy: tolerate one failure
///
/// ring.get(55, Operation::WRITE_NO_EXTEND, &mut set)?; // wraps around
/// let ids: Vec<&str> = set.instances(&ring).map(|i| i.id.as_str()).collect();
/// assert_eq!(ids, ["A", "B", "C"]);
/// # Ok::<(), loki_ring::Error>(())
/// ```
#[derive(Debug)]
pub struct Ring {
    pub(crate) config: RingConfig,
    pub(crate) now: AtomicI64,
    pub(crate) timeout_secs: i64,
    /// Instances sorted by ID; a [`ReplicationSet`] holds indexes into it.
    pub(crate) instances: Vec<InstanceDesc>,
    pub(crate) meta: Vec<Meta>,
    /// Every token of every instance, sorted ascending, unique.
    pub(crate) tokens: Vec<u32>,
    /// `owners[i]` is the instance index owning `tokens[i]`.
    pub(crate) owners: Vec<u32>,
    /// Distinct non-empty zones, sorted; `Meta::zone` indexes it.
    pub(crate) zones: Vec<String>,
    /// Zones counted by the walk's stop rule: the non-empty ones, plus one
    /// for "no zone" when some instance has none (as dskit counts them).
    pub(crate) max_zones: usize,
    pub(crate) shard_cache: Mutex<HashMap<(String, usize), Arc<Ring>>>,
}

impl Ring {
    /// Builds a snapshot of `desc`, judging heartbeats at `now` (Unix
    /// seconds).
    ///
    /// Instances in state LEFT own no tokens. When two instances claim the
    /// same token (possible in a KV store written without coordination),
    /// the one not LEAVING wins, then the smaller ID, as dskit resolves
    /// gossip conflicts.
    pub fn new(desc: &RingDesc, config: RingConfig, now: i64) -> Result<Ring> {
        config.validate()?;
        Ok(Ring::build(desc, config, now))
    }

    /// [`Ring::new`] for a config already validated.
    pub(crate) fn build(desc: &RingDesc, config: RingConfig, now: i64) -> Ring {
        let instances: Vec<InstanceDesc> = desc.instances.values().cloned().collect();
        let mut zones: Vec<String> = instances
            .iter()
            .filter(|i| !i.zone.is_empty())
            .map(|i| i.zone.clone())
            .collect();
        zones.sort_unstable();
        zones.dedup();
        let has_zoneless = instances.iter().any(|i| i.zone.is_empty());
        let meta: Vec<Meta> = instances
            .iter()
            .map(|i| Meta {
                state: i.state,
                zone: if i.zone.is_empty() {
                    NO_ZONE
                } else {
                    zones.binary_search(&i.zone).unwrap_or_default() as u32
                },
                timestamp: i.timestamp,
            })
            .collect();

        let mut pairs: Vec<(u32, u32)> = Vec::new();
        for (idx, inst) in instances.iter().enumerate() {
            if inst.state == InstanceState::Left {
                continue;
            }
            pairs.extend(inst.tokens.iter().map(|&t| (t, idx as u32)));
        }
        pairs.sort_unstable();
        // Resolve conflicts: keep one owner per token.
        let mut tokens = Vec::with_capacity(pairs.len());
        let mut owners: Vec<u32> = Vec::with_capacity(pairs.len());
        for (token, owner) in pairs {
            if tokens.last() == Some(&token) {
                let current = owners.last_mut().expect("owners parallels tokens");
                let cur_leaving = instances[*current as usize].state == InstanceState::Leaving;
                let new_leaving = instances[owner as usize].state == InstanceState::Leaving;
                // Instances are sorted by ID, so `current` has the smaller ID.
                if cur_leaving && !new_leaving {
                    *current = owner;
                }
                continue;
            }
            tokens.push(token);
            owners.push(owner);
        }

        Ring {
            timeout_secs: i64::try_from(config.heartbeat_timeout.as_secs()).unwrap_or(i64::MAX),
            config,
            now: AtomicI64::new(now),
            instances,
            meta,
            tokens,
            owners,
            max_zones: zones.len() + usize::from(has_zoneless),
            zones,
            shard_cache: Mutex::new(HashMap::new()),
        }
    }

    /// The same snapshot judged for health at another time (Unix seconds).
    ///
    /// ```
    /// # use loki_ring::{InstanceDesc, Ring, RingConfig, RingDesc};
    /// let mut desc = RingDesc::default();
    /// desc.upsert(InstanceDesc::new("a", "a:1", "").with_tokens(vec![1]).with_timestamp(100));
    /// let ring = Ring::new(&desc, RingConfig::default(), 100)?;
    /// assert_eq!(ring.healthy_count(loki_ring::Operation::WRITE), 1);
    /// let later = ring.at(1_000);
    /// assert_eq!(later.healthy_count(loki_ring::Operation::WRITE), 0);
    /// # Ok::<(), loki_ring::Error>(())
    /// ```
    pub fn at(&self, now: i64) -> Ring {
        Ring {
            config: self.config.clone(),
            now: AtomicI64::new(now),
            timeout_secs: self.timeout_secs,
            instances: self.instances.clone(),
            meta: self.meta.clone(),
            tokens: self.tokens.clone(),
            owners: self.owners.clone(),
            zones: self.zones.clone(),
            max_zones: self.max_zones,
            shard_cache: Mutex::new(self.shard_cache.lock().clone()),
        }
    }

    /// The settings this snapshot was built with.
    pub fn config(&self) -> &RingConfig {
        &self.config
    }

    /// The time (Unix seconds) heartbeats are judged at.
    pub fn now(&self) -> i64 {
        self.now.load(Ordering::Relaxed)
    }

    /// Judges heartbeats at `now` (Unix seconds) from here on; cheap, so a
    /// long-lived snapshot can follow the clock (see
    /// [`RingWatcher::ring`](crate::RingWatcher::ring)).
    pub fn set_now(&self, now: i64) {
        self.now.store(now, Ordering::Relaxed);
    }

    /// Every instance, sorted by ID. A [`ReplicationSet`] refers to
    /// instances by their index in this slice.
    pub fn instances(&self) -> &[InstanceDesc] {
        &self.instances
    }

    /// The instance at `index` (see [`Ring::instances`]).
    pub fn instance(&self, index: usize) -> Option<&InstanceDesc> {
        self.instances.get(index)
    }

    /// The index of the instance with this ID.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.instances
            .binary_search_by(|i| i.id.as_str().cmp(id))
            .ok()
    }

    /// Every token in the ring, sorted ascending.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// The distinct non-empty zones, sorted.
    pub fn zones(&self) -> &[String] {
        &self.zones
    }

    /// Number of instances healthy for `op` (state and heartbeat).
    pub fn healthy_count(&self, op: Operation) -> usize {
        (0..self.meta.len())
            .filter(|&i| self.is_healthy(i, op))
            .count()
    }

    /// Whether the instance at `index` is healthy for `op`: its state is
    /// one `op` accepts and its last heartbeat is at most the heartbeat
    /// timeout old. dskit shows an instance failing the heartbeat check
    /// as UNHEALTHY.
    ///
    /// # Panics
    ///
    /// If `index` is not below `instances().len()`.
    #[inline]
    pub fn is_healthy(&self, index: usize, op: Operation) -> bool {
        let m = &self.meta[index];
        op.is_healthy(m.state) && heartbeat_healthy(m.timestamp, self.now(), self.timeout_secs)
    }

    /// The index of the first token strictly greater than `key`, wrapping
    /// to 0 past the largest (the token that owns `key`).
    #[inline]
    pub(crate) fn search(&self, key: u32) -> usize {
        let i = self.tokens.partition_point(|&t| t <= key);
        if i == self.tokens.len() {
            0
        } else {
            i
        }
    }

    /// The index of the instance owning `key` (the first token strictly
    /// greater than `key`).
    pub fn owner(&self, key: u32) -> Option<usize> {
        if self.tokens.is_empty() {
            return None;
        }
        Some(self.owners[self.search(key)] as usize)
    }

    /// The replica set of `key` for `op`, written into `set` (whose buffers
    /// are reused: no allocation once they have grown).
    ///
    /// Walks clockwise from the first token greater than `key`, skipping
    /// instances already picked and, with zone awareness, zones already
    /// served; an instance whose state `op` extends on makes the walk pick
    /// one more. Then drops instances unhealthy for `op` and computes
    /// Loki's quorum: with `n = max(RF, picked)`, `⌊n/2⌋ + 1` healthy
    /// replicas are required and the rest may fail.
    pub fn get(&self, key: u32, op: Operation, set: &mut ReplicationSet) -> Result<()> {
        set.clear();
        if self.tokens.is_empty() {
            return Err(Error::EmptyRing);
        }
        let zone_aware = self.config.zone_awareness;
        let n_tokens = self.tokens.len();
        let max_instances = self.instances.len();
        let mut size = self.config.replication_factor;
        let mut i = self.search(key);
        let mut iterations = 0;
        while set.picked.len() < size.min(max_instances)
            && (!zone_aware || set.zones.len() < self.max_zones)
            && iterations < n_tokens
        {
            iterations += 1;
            let owner = self.owners[i];
            i += 1;
            if i == n_tokens {
                i = 0;
            }
            if set.picked.contains(&owner) {
                continue;
            }
            let meta = &self.meta[owner as usize];
            let zoned = zone_aware && meta.zone != NO_ZONE;
            if zoned && set.zones.contains(&meta.zone) {
                continue;
            }
            set.picked.push(owner);
            if op.extends(meta.state) {
                size += 1;
            } else if zoned {
                set.zones.push(meta.zone);
            }
        }
        self.filter(op, set)
    }

    /// The replica set of `key` in a new [`ReplicationSet`]; see
    /// [`Ring::get`], which reuses a caller's buffers.
    pub fn replication_set(&self, key: u32, op: Operation) -> Result<ReplicationSet> {
        let mut set = ReplicationSet::new();
        self.get(key, op, &mut set)?;
        Ok(set)
    }

    /// dskit's default replication strategy: drop unhealthy picks, require
    /// a majority of `max(RF, picked)`.
    fn filter(&self, op: Operation, set: &mut ReplicationSet) -> Result<()> {
        let n = self.config.replication_factor.max(set.picked.len());
        let min_success = n / 2 + 1;
        let picked = set.picked.len();
        // Partition in place: healthy picks to the front (their order
        // kept), unhealthy ones to the tail.
        let mut kept = 0;
        for j in 0..picked {
            if self.is_healthy(set.picked[j] as usize, op) {
                set.picked.swap(kept, j);
                kept += 1;
            }
        }
        if kept < min_success {
            let unhealthy = set.picked[kept..]
                .iter()
                .map(|&i| self.instances[i as usize].addr.clone())
                .collect();
            set.clear();
            return Err(Error::TooFewReplicas {
                required: min_success,
                found: kept,
                zone_aware: self.config.zone_awareness,
                unhealthy,
            });
        }
        set.picked.truncate(kept);
        set.max_errors = kept - min_success;
        set.max_unavailable_zones = 0;
        Ok(())
    }
}
