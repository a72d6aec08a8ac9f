//! Ownership statistics: how much of the token space each instance owns.

use crate::Ring;

/// The share of the ring one instance owns.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct InstanceOwnership {
    /// Instance ID.
    pub id: String,
    /// Tokens it holds in the ring (after conflict resolution).
    pub tokens: usize,
    /// Keys it is the primary owner of (sum over all instances is 2³²).
    pub owned_keys: u64,
    /// `owned_keys ÷ 2³²`.
    pub fraction: f64,
}

/// Ownership of every instance (dskit's ring page "ownership" column).
///
/// ```
/// use loki_ring::{InstanceDesc, Ring, RingConfig, RingDesc};
///
/// let mut desc = RingDesc::default();
/// desc.upsert(InstanceDesc::new("a", "", "").with_tokens(vec![0]).with_timestamp(0));
/// desc.upsert(InstanceDesc::new("b", "", "").with_tokens(vec![1 << 30]).with_timestamp(0));
/// let ring = Ring::new(&desc, RingConfig::default(), 0)?;
/// let own = ring.ownership();
/// // b's token owns the keys [0, 2^30); a's the remaining three quarters.
/// assert_eq!(own.get("b").unwrap().fraction, 0.25);
/// assert_eq!(own.get("a").unwrap().fraction, 0.75);
/// assert_eq!(own.spread(), 3.0);
/// # Ok::<(), loki_ring::Error>(())
/// ```
///
/// It serialises to JSON for status pages:
///
/// ```
/// # use loki_ring::{InstanceDesc, Ring, RingConfig, RingDesc};
/// # let mut desc = RingDesc::default();
/// # desc.upsert(InstanceDesc::new("a", "", "").with_tokens(vec![7]).with_timestamp(0));
/// # let ring = Ring::new(&desc, RingConfig::default(), 0)?;
/// let json = serde_json::to_string(&ring.ownership()).unwrap();
/// assert_eq!(json, r#"{"instances":[{"id":"a","tokens":1,"owned_keys":4294967296,"fraction":1.0}]}"#);
/// # Ok::<(), loki_ring::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct Ownership {
    /// One entry per instance, sorted by ID (instances without tokens own 0).
    pub instances: Vec<InstanceOwnership>,
}

impl Ownership {
    /// The entry for an instance ID.
    pub fn get(&self, id: &str) -> Option<&InstanceOwnership> {
        self.instances.iter().find(|o| o.id == id)
    }

    /// Largest over smallest share among instances owning tokens (1.0 is
    /// perfectly even; `f64::INFINITY` if some token holder owns nothing).
    pub fn spread(&self) -> f64 {
        let owners = self.instances.iter().filter(|o| o.tokens > 0);
        let (min, max) = owners.fold((u64::MAX, 0), |(lo, hi), o| {
            (lo.min(o.owned_keys), hi.max(o.owned_keys))
        });
        if max == 0 {
            return 1.0;
        }
        if min == 0 {
            return f64::INFINITY;
        }
        max as f64 / min as f64
    }
}

impl Ring {
    /// The share of the key space each instance is the primary owner of:
    /// token `t` owns the keys from the previous token (inclusive) up to
    /// `t` (exclusive), wrapping around.
    pub fn ownership(&self) -> Ownership {
        let mut owned = vec![0u64; self.instances.len()];
        let mut held = vec![0usize; self.instances.len()];
        let n = self.tokens.len();
        for i in 0..n {
            let prev = if i == 0 {
                self.tokens[n - 1]
            } else {
                self.tokens[i - 1]
            };
            // Wrapping distance; a single token owns the whole space.
            let span = if n == 1 {
                1u64 << 32
            } else {
                u64::from(self.tokens[i].wrapping_sub(prev))
            };
            let owner = self.owners[i] as usize;
            owned[owner] += span;
            held[owner] += 1;
        }
        Ownership {
            instances: self
                .instances
                .iter()
                .enumerate()
                .map(|(i, inst)| InstanceOwnership {
                    id: inst.id.clone(),
                    tokens: held[i],
                    owned_keys: owned[i],
                    fraction: owned[i] as f64 / (1u64 << 32) as f64,
                })
                .collect(),
        }
    }
}
