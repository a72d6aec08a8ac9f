//! Replica selection and quorum: fixed cases from the reference and
//! proptests against the model in `common`.

mod common;

use common::*;
use loki_ring::{
    Error, InstanceDesc, InstanceState, Operation, ReplicationSet, Ring, RingConfig, RingDesc,
};
use proptest::prelude::*;

/// The reference's example: tokens 10→A, 20→B, 30→A, 40→C, 50→D.
fn example(b_state: InstanceState) -> Ring {
    let mut desc = RingDesc::default();
    for (id, tokens) in [
        ("A", vec![10, 30]),
        ("B", vec![20]),
        ("C", vec![40]),
        ("D", vec![50]),
    ] {
        let state = if id == "B" {
            b_state
        } else {
            InstanceState::Active
        };
        desc.upsert(
            InstanceDesc::new(id, id, "")
                .with_state(state)
                .with_tokens(tokens)
                .with_timestamp(NOW),
        );
    }
    Ring::new(&desc, RingConfig::default(), NOW).unwrap()
}

#[test]
fn reference_example_walks() {
    let ring = example(InstanceState::Active);
    let op = Operation::WRITE_NO_EXTEND;
    assert_eq!(replica_ids(&ring, 25, op).unwrap(), ["A", "C", "D"]);
    assert_eq!(replica_ids(&ring, 55, op).unwrap(), ["A", "B", "C"]);
    // A key equal to a token starts at the next token.
    assert_eq!(replica_ids(&ring, 30, op).unwrap(), ["C", "D", "A"]);
    assert_eq!(replica_ids(&ring, 9, op).unwrap(), ["A", "B", "C"]);
    assert_eq!(ring.owner(u32::MAX), ring.index_of("A"));
}

#[test]
fn joining_owner_extends_write_but_not_write_no_extend() {
    let ring = example(InstanceState::Joining);
    // Write: B kept, size 4, D added; B removed as unhealthy: n = 4,
    // quorum 3, no failure tolerated.
    let set = ring.replication_set(55, Operation::WRITE).unwrap();
    let ids: Vec<_> = set.instances(&ring).map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["A", "C", "D"]);
    assert_eq!((set.max_errors(), set.min_success()), (0, 3));
    // WriteNoExtend: {A, B, C}, B filtered: n = 3, quorum 2.
    let set = ring
        .replication_set(55, Operation::WRITE_NO_EXTEND)
        .unwrap();
    let ids: Vec<_> = set.instances(&ring).map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["A", "C"]);
    assert_eq!((set.max_errors(), set.min_success()), (0, 2));
    // Reads treat a LEAVING owner as healthy.
    let ring = example(InstanceState::Leaving);
    assert_eq!(
        replica_ids(&ring, 55, Operation::READ).unwrap(),
        ["A", "B", "C"]
    );
    assert_eq!(
        replica_ids(&ring, 55, Operation::WRITE_NO_EXTEND).unwrap(),
        ["A", "C"]
    );
}

#[test]
fn quorum_table() {
    // (RF, healthy of RF) -> max_errors, or an error.
    let cases = [
        (1, 1, Some(0)),
        (1, 0, None),
        (3, 3, Some(1)),
        (3, 2, Some(0)),
        (3, 1, None),
        (5, 5, Some(2)),
        (5, 4, Some(1)),
        (5, 3, Some(0)),
        (5, 2, None),
    ];
    for (rf, healthy, expected) in cases {
        let mut desc = RingDesc::default();
        for i in 0..rf {
            let mut inst = instance(i, 0, vec![(i as u32 + 1) * 100]);
            if i >= healthy {
                inst.timestamp = NOW - 61; // heartbeat timeout is 60s
            }
            desc.upsert(inst);
        }
        let ring = ring(&desc, rf, false);
        match (
            ring.replication_set(0, Operation::WRITE_NO_EXTEND),
            expected,
        ) {
            (Ok(set), Some(max_errors)) => {
                assert_eq!(set.len(), healthy, "rf {rf} healthy {healthy}");
                assert_eq!(set.max_errors(), max_errors, "rf {rf} healthy {healthy}");
                assert_eq!(
                    set.max_errors(),
                    if healthy == rf {
                        rf / 2
                    } else {
                        set.max_errors()
                    }
                );
            }
            (
                Err(Error::TooFewReplicas {
                    required,
                    found,
                    unhealthy,
                    ..
                }),
                None,
            ) => {
                assert_eq!(required, rf / 2 + 1);
                assert_eq!(found, healthy);
                assert_eq!(unhealthy.len(), rf - healthy);
            }
            (other, _) => panic!("rf {rf} healthy {healthy}: {other:?}"),
        }
    }
}

#[test]
fn heartbeat_timeout_boundary() {
    let mut desc = RingDesc::default();
    desc.upsert(instance(0, 0, vec![1]).with_timestamp(NOW - 60));
    let ring = Ring::new(&desc, RingConfig::default().with_replication_factor(1), NOW).unwrap();
    assert_eq!(
        ring.healthy_count(Operation::WRITE),
        1,
        "exactly the timeout is healthy"
    );
    ring.set_now(NOW + 1);
    assert_eq!(ring.healthy_count(Operation::WRITE), 0);
    assert!(ring.replication_set(0, Operation::WRITE).is_err());
    assert_eq!(
        ring.healthy_count(Operation::REPORTING),
        0,
        "heartbeat applies to every op"
    );
}

#[test]
fn errors_on_empty_ring_and_bad_config() {
    let ring = Ring::new(&RingDesc::default(), RingConfig::default(), NOW).unwrap();
    assert!(matches!(
        ring.replication_set(1, Operation::WRITE),
        Err(Error::EmptyRing)
    ));
    let bad = RingConfig::default().with_heartbeat_timeout(std::time::Duration::ZERO);
    assert!(matches!(
        Ring::new(&RingDesc::default(), bad, NOW),
        Err(Error::InvalidConfig {
            field: "heartbeat_timeout",
            ..
        })
    ));
}

#[test]
fn token_conflicts_resolve_like_dskit() {
    let mut desc = RingDesc::default();
    desc.upsert(
        InstanceDesc::new("b", "b", "")
            .with_tokens(vec![100])
            .with_timestamp(NOW),
    );
    desc.upsert(
        InstanceDesc::new("a", "a", "")
            .with_tokens(vec![100])
            .with_timestamp(NOW),
    );
    let ring = Ring::new(&desc, RingConfig::default(), NOW).unwrap();
    assert_eq!(ring.tokens(), [100]);
    assert_eq!(ring.owner(5), ring.index_of("a"), "smaller ID wins");
    desc.instances.get_mut("a").unwrap().state = InstanceState::Leaving;
    let ring = Ring::new(&desc, RingConfig::default(), NOW).unwrap();
    assert_eq!(ring.owner(5), ring.index_of("b"), "non-LEAVING wins");
}

#[test]
fn whole_ring_reads() {
    // No zones: 5 instances, RF 3: need 5 - 1 = 4.
    let mut desc = random_desc(5, 4, 0, 1);
    let ring5 = ring(&desc, 3, false);
    let set = ring5
        .replication_set_for_operation(Operation::READ)
        .unwrap();
    assert_eq!((set.len(), set.max_errors()), (5, 1));
    desc.instances.get_mut("i-00").unwrap().timestamp = 0;
    let set = ring(&desc, 3, false)
        .replication_set_for_operation(Operation::READ)
        .unwrap();
    assert_eq!((set.len(), set.max_errors()), (4, 0));
    desc.instances.get_mut("i-01").unwrap().timestamp = 0;
    assert!(matches!(
        ring(&desc, 3, false).replication_set_for_operation(Operation::READ),
        Err(Error::TooManyUnhealthy {
            what: "instances",
            ..
        })
    ));

    // Zones: 6 instances in 3 zones; one failure drops its zone whole.
    let mut desc = random_desc(6, 4, 3, 2);
    let set = ring(&desc, 3, true)
        .replication_set_for_operation(Operation::READ)
        .unwrap();
    assert_eq!((set.len(), set.max_unavailable_zones()), (6, 1));
    desc.instances.get_mut("i-00").unwrap().timestamp = 0; // zone-0
    let r = ring(&desc, 3, true);
    let set = r.replication_set_for_operation(Operation::READ).unwrap();
    assert_eq!((set.len(), set.max_unavailable_zones()), (4, 0));
    assert!(set.instances(&r).all(|i| i.zone != "zone-0"));
    desc.instances.get_mut("i-01").unwrap().timestamp = 0; // zone-1
    assert!(matches!(
        ring(&desc, 3, true).replication_set_for_operation(Operation::READ),
        Err(Error::TooManyUnhealthy { what: "zones", .. })
    ));
}

fn any_state() -> impl Strategy<Value = InstanceState> {
    prop_oneof![
        6 => Just(InstanceState::Active),
        1 => Just(InstanceState::Joining),
        1 => Just(InstanceState::Leaving),
        1 => Just(InstanceState::Pending),
        1 => Just(InstanceState::Left),
    ]
}

fn any_op() -> impl Strategy<Value = Operation> {
    prop_oneof![
        Just(Operation::WRITE),
        Just(Operation::WRITE_NO_EXTEND),
        Just(Operation::READ),
        Just(Operation::REPORTING),
    ]
}

/// A ring description with random sizes, zones, states and heartbeats.
fn any_desc() -> impl Strategy<Value = RingDesc> {
    (1usize..16, 1usize..24, 0usize..4, any::<u64>()).prop_flat_map(|(n, tokens, zones, seed)| {
        (
            proptest::collection::vec(any_state(), n),
            proptest::collection::vec(prop::bool::weighted(0.85), n),
        )
            .prop_map(move |(states, alive)| {
                let mut desc = random_desc(n, tokens, zones, seed);
                for (i, inst) in desc.instances.values_mut().enumerate() {
                    inst.state = states[i];
                    if !alive[i] {
                        inst.timestamp = NOW - 3600;
                    }
                }
                desc
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The ring's walk and filter agree with the model, for every op,
    /// RF, zone setting, state mix and health.
    #[test]
    fn lookup_matches_model(
        desc in any_desc(),
        rf in 1usize..6,
        zone_aware: bool,
        op in any_op(),
        key_seed: u32,
    ) {
        let ring = ring(&desc, rf, zone_aware);
        let mut set = ReplicationSet::new();
        for key in keys(50, key_seed) {
            let picked = model_walk(&desc, key, op, rf, zone_aware);
            let healthy: Vec<&String> = picked
                .iter()
                .filter(|id| ring.is_healthy(ring.index_of(id).unwrap(), op))
                .collect();
            let n = rf.max(picked.len());
            let min_success = n / 2 + 1;
            match ring.get(key, op, &mut set) {
                Ok(()) => {
                    let got: Vec<&String> = set.instances(&ring).map(|i| &i.id).collect();
                    prop_assert_eq!(&got, &healthy);
                    prop_assert!(healthy.len() >= min_success);
                    prop_assert_eq!(set.max_errors(), healthy.len() - min_success);
                }
                Err(Error::TooFewReplicas { required, found, .. }) => {
                    prop_assert_eq!(required, min_success);
                    prop_assert_eq!(found, healthy.len());
                    prop_assert!(found < required);
                    prop_assert!(set.is_empty());
                }
                Err(Error::EmptyRing) => {
                    // Only when no instance owns tokens (all LEFT).
                    prop_assert!(ring.tokens().is_empty());
                    prop_assert!(picked.is_empty());
                }
                Err(e) => prop_assert!(false, "unexpected error {e}"),
            }
        }
    }

    /// With every instance healthy and ACTIVE, a replica set always has
    /// min(RF, instances) distinct instances, or with zone awareness
    /// min(RF, zones) instances in distinct zones.
    #[test]
    fn replica_sets_are_distinct(
        n in 1usize..20,
        tokens in 1usize..64,
        zones in 0usize..5,
        rf in 1usize..6,
        zone_aware: bool,
        seed: u64,
        key_seed: u32,
    ) {
        let desc = random_desc(n, tokens, zones, seed);
        let ring = ring(&desc, rf, zone_aware);
        let distinct_zones = if zones == 0 { 0 } else { zones.min(n) };
        let expected_len = if zone_aware && zones > 0 {
            rf.min(distinct_zones)
        } else {
            rf.min(n)
        };
        for key in keys(100, key_seed) {
            let result = ring.replication_set(key, Operation::WRITE_NO_EXTEND);
            if expected_len < rf / 2 + 1 {
                // Fewer instances (or zones) than a quorum of RF: dskit
                // refuses rather than writing to a minority.
                let is_too_few = matches!(result, Err(Error::TooFewReplicas { .. }));
                prop_assert!(is_too_few);
                continue;
            }
            let set = result.unwrap();
            prop_assert_eq!(set.len(), expected_len);
            let ids: std::collections::BTreeSet<_> = set.instances(&ring).map(|i| &i.id).collect();
            prop_assert_eq!(ids.len(), set.len(), "distinct instances");
            if zone_aware && zones > 0 {
                let zs: std::collections::BTreeSet<_> = set.instances(&ring).map(|i| &i.zone).collect();
                prop_assert_eq!(zs.len(), set.len(), "distinct zones");
            }
            // The first replica is the owner of the key.
            prop_assert_eq!(set.indexes().next(), ring.owner(key));
            // All healthy: tolerate exactly ⌊max(RF, len)/2⌋ - (max(RF,len) - len).
            let n_eff = rf.max(set.len());
            prop_assert_eq!(set.max_errors() + n_eff / 2 + 1, set.len());
        }
    }
}
