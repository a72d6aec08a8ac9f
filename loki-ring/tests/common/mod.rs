//! Ring builders and a brute-force model of replica selection, shared by
//! the integration tests.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeSet;

use loki_ring::{
    balanced_tokens, InstanceDesc, InstanceState, Operation, Ring, RingConfig, RingDesc,
    TokenGenerator,
};

pub const NOW: i64 = 1_700_000_000;

/// `n` healthy ACTIVE instances `i-00`…, with `tokens` tokens each, in
/// `zones` zones (none when 0), random tokens from `seed`.
pub fn random_desc(n: usize, tokens: usize, zones: usize, seed: u64) -> RingDesc {
    let mut desc = RingDesc::default();
    let mut generator = TokenGenerator::seeded(seed);
    for i in 0..n {
        let t = generator.generate(tokens, &desc.taken_tokens()).unwrap();
        desc.upsert(instance(i, zones, t));
    }
    desc
}

/// Like [`random_desc`] with [`balanced_tokens`].
pub fn balanced_desc(n: usize, tokens: usize, zones: usize) -> RingDesc {
    let mut desc = RingDesc::default();
    for i in 0..n {
        let inst = instance(i, zones, Vec::new());
        let t = balanced_tokens(&desc, &inst.id, &inst.zone, tokens).unwrap();
        desc.upsert(inst.with_tokens(t));
    }
    desc
}

pub fn id(i: usize) -> String {
    format!("i-{i:02}")
}

pub fn instance(i: usize, zones: usize, tokens: Vec<u32>) -> InstanceDesc {
    let zone = if zones == 0 {
        String::new()
    } else {
        format!("zone-{}", i % zones)
    };
    InstanceDesc::new(id(i), format!("10.0.0.{i}:9095"), zone)
        .with_tokens(tokens)
        .with_timestamp(NOW)
}

pub fn ring(desc: &RingDesc, rf: usize, zone_aware: bool) -> Ring {
    Ring::new(
        desc,
        RingConfig::default()
            .with_replication_factor(rf)
            .with_zone_awareness(zone_aware),
        NOW,
    )
    .unwrap()
}

/// IDs of the replica set of `key`, or the error's display.
pub fn replica_ids(ring: &Ring, key: u32, op: Operation) -> Result<Vec<String>, String> {
    ring.replication_set(key, op)
        .map(|set| set.instances(ring).map(|i| i.id.clone()).collect())
        .map_err(|e| e.to_string())
}

/// The model: dskit's walk written as plainly as possible over
/// `(token, owner)` pairs. Returns the picked IDs before health filtering.
pub fn model_walk(
    desc: &RingDesc,
    key: u32,
    op: Operation,
    rf: usize,
    zone_aware: bool,
) -> Vec<String> {
    let mut pairs: Vec<(u32, &InstanceDesc)> = desc
        .instances
        .values()
        .filter(|i| i.state != InstanceState::Left)
        .flat_map(|i| i.tokens.iter().map(move |&t| (t, i)))
        .collect();
    pairs.sort_by_key(|p| p.0);
    if pairs.is_empty() {
        return Vec::new();
    }
    let all_zones: BTreeSet<&str> = desc.instances.values().map(|i| i.zone.as_str()).collect();
    let start = pairs.iter().position(|p| p.0 > key).unwrap_or(0);
    let mut picked: Vec<String> = Vec::new();
    let mut zones_done: BTreeSet<String> = BTreeSet::new();
    let mut size = rf;
    for step in 0..pairs.len() {
        if picked.len() >= size.min(desc.len()) {
            break;
        }
        if zone_aware && zones_done.len() >= all_zones.len() {
            break;
        }
        let inst = pairs[(start + step) % pairs.len()].1;
        if picked.contains(&inst.id) {
            continue;
        }
        let zoned = zone_aware && !inst.zone.is_empty();
        if zoned && zones_done.contains(&inst.zone) {
            continue;
        }
        picked.push(inst.id.clone());
        if op.extends(inst.state) {
            size += 1;
        } else if zoned {
            zones_done.insert(inst.zone.clone());
        }
    }
    picked
}

/// Keys spread evenly over the token space, offset by `seed`.
pub fn keys(count: u32, seed: u32) -> impl Iterator<Item = u32> {
    let step = u32::MAX / count;
    (0..count).map(move |i| i.wrapping_mul(step).wrapping_add(seed))
}
