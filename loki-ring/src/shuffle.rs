//! Shuffle sharding: a deterministic per-tenant sub-ring.

use std::collections::BTreeSet;
use std::sync::Arc;

use md5::{Digest, Md5};

use crate::ring::NO_ZONE;
use crate::token::splitmix64;
use crate::{Ring, RingDesc};

impl Ring {
    /// The sub-ring of `size` instances chosen deterministically from
    /// `identifier` (a tenant ID), with all of their tokens; key lookups on
    /// it work as on the full ring.
    ///
    /// Follows dskit's `ShuffleShard`: `size == 0` means the whole ring;
    /// with zone awareness each zone (in sorted order) contributes
    /// `⌈size ÷ #zones⌉` instances, all of them when it has no more; each
    /// zone draws from its own generator seeded with the first 8 bytes,
    /// big-endian, of MD5(identifier) (or MD5(identifier ‖ 0 ‖ zone)),
    /// picks the owner of the first token above each draw and walks on
    /// past instances already chosen. Read-only instances are never chosen.
    /// Growing `size` only adds instances, and adding a zone leaves the
    /// other zones' picks alone.
    ///
    /// The generator is SplitMix64, not Go's `math/rand`: shards are valid
    /// and stable but not the same members Loki would pick.
    ///
    /// Results are cached per `(identifier, size)` for the life of this
    /// snapshot (a topology change builds a new snapshot).
    ///
    /// ```
    /// use loki_ring::{InstanceDesc, Ring, RingConfig, RingDesc, TokenGenerator};
    ///
    /// let mut desc = RingDesc::default();
    /// let mut gen = TokenGenerator::seeded(1);
    /// for n in 0..12 {
    ///     let tokens = gen.generate(16, &desc.taken_tokens())?;
    ///     let zone = ["a", "b", "c"][n % 3];
    ///     desc.upsert(InstanceDesc::new(format!("i-{n}"), "", zone).with_tokens(tokens).with_timestamp(0));
    /// }
    /// let ring = Ring::new(&desc, RingConfig::default().with_zone_awareness(true), 0)?;
    /// let shard = ring.shuffle_shard("tenant-1", 6);
    /// assert_eq!(shard.instances().len(), 6);
    /// for zone in ["a", "b", "c"] {
    ///     assert_eq!(shard.instances().iter().filter(|i| i.zone == zone).count(), 2);
    /// }
    /// // Deterministic.
    /// assert_eq!(shard.instances(), ring.shuffle_shard("tenant-1", 6).instances());
    /// # Ok::<(), loki_ring::Error>(())
    /// ```
    pub fn shuffle_shard(&self, identifier: &str, size: usize) -> Arc<Ring> {
        let key = (identifier.to_string(), size);
        if let Some(ring) = self.shard_cache.lock().get(&key) {
            ring.set_now(self.now());
            return Arc::clone(ring);
        }
        let desc = self.shuffle_shard_desc(identifier, size);
        let ring = Arc::new(self.sub_ring(&desc));
        self.shard_cache.lock().insert(key, Arc::clone(&ring));
        ring
    }

    /// A ring over `desc` with this ring's settings and clock.
    fn sub_ring(&self, desc: &RingDesc) -> Ring {
        // The config was validated when `self` was built.
        Ring::build(desc, self.config.clone(), self.now())
    }

    fn shuffle_shard_desc(&self, identifier: &str, size: usize) -> RingDesc {
        let size = if size == 0 { usize::MAX } else { size };
        let mut chosen: BTreeSet<u32> = BTreeSet::new();
        // Zone indexes to process, in sorted zone-name order ("" first).
        let zones: Vec<u32> = if self.config.zone_awareness {
            let mut z = Vec::with_capacity(self.max_zones);
            if self.meta.iter().any(|m| m.zone == NO_ZONE) {
                z.push(NO_ZONE);
            }
            z.extend(0..self.zones.len() as u32);
            z
        } else {
            vec![NO_ZONE]
        };
        let per_zone = if self.config.zone_awareness {
            size.div_ceil(zones.len().max(1))
        } else {
            size
        };
        for zone in zones {
            let in_zone = |idx: u32| -> bool {
                !self.config.zone_awareness || self.meta[idx as usize].zone == zone
            };
            let zone_instances = (0..self.instances.len() as u32)
                .filter(|&i| in_zone(i))
                .count();
            if per_zone >= zone_instances {
                chosen.extend(
                    (0..self.instances.len() as u32)
                        .filter(|&i| in_zone(i) && !self.instances[i as usize].read_only),
                );
                continue;
            }
            // The zone's own ring: its tokens and their owners.
            let (tokens, owners): (Vec<u32>, Vec<u32>) = self
                .tokens
                .iter()
                .zip(&self.owners)
                .filter(|(_, &o)| in_zone(o))
                .map(|(&t, &o)| (t, o))
                .unzip();
            if tokens.is_empty() {
                continue;
            }
            let zone_name = if zone == NO_ZONE {
                ""
            } else {
                self.zones[zone as usize].as_str()
            };
            let mut state = shuffle_seed(identifier, zone_name) as u64;
            for _ in 0..per_zone {
                let draw = (splitmix64(&mut state) >> 32) as u32;
                let mut p = tokens.partition_point(|&t| t <= draw);
                let mut found = false;
                for _ in 0..tokens.len() {
                    if p == tokens.len() {
                        p = 0;
                    }
                    let owner = owners[p];
                    p += 1;
                    if chosen.contains(&owner) || self.instances[owner as usize].read_only {
                        continue;
                    }
                    chosen.insert(owner);
                    found = true;
                    break;
                }
                if !found {
                    break;
                }
            }
        }
        RingDesc {
            instances: chosen
                .into_iter()
                .map(|i| {
                    let inst = &self.instances[i as usize];
                    (inst.id.clone(), inst.clone())
                })
                .collect(),
        }
    }
}

/// dskit's `ShuffleShardSeed`: the first 8 bytes, big-endian, of
/// MD5(identifier) — or of MD5(identifier ‖ 0x00 ‖ zone) for a non-empty
/// zone — as a signed 64-bit integer.
pub(crate) fn shuffle_seed(identifier: &str, zone: &str) -> i64 {
    let mut hasher = Md5::new();
    hasher.update(identifier.as_bytes());
    if !zone.is_empty() {
        hasher.update([0u8]);
        hasher.update(zone.as_bytes());
    }
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_is_md5_prefix_big_endian() {
        // MD5("") = d41d8cd98f00b204 e9800998ecf8427e.
        assert_eq!(shuffle_seed("", ""), 0xd41d_8cd9_8f00_b204_u64 as i64);
        // MD5("a") = 0cc175b9c0f1b6a8 31c399e269772661.
        assert_eq!(shuffle_seed("a", ""), 0x0cc1_75b9_c0f1_b6a8);
        // With a zone the separator byte is hashed too.
        assert_ne!(shuffle_seed("a", "z"), shuffle_seed("az", ""));
        assert_ne!(shuffle_seed("a", "z"), shuffle_seed("a", ""));
    }
}
