//! The stored ring description: round trips and untrusted bytes.

use loki_ring::{InstanceDesc, InstanceState, RingDesc};
use proptest::prelude::*;

fn any_instance() -> impl Strategy<Value = InstanceDesc> {
    (
        "[a-z0-9-]{1,12}",
        "[a-z0-9.:]{0,20}",
        "[a-z-]{0,6}",
        0i32..5,
        proptest::collection::vec(any::<u32>(), 0..40),
        any::<i64>(),
        any::<i64>(),
        any::<bool>(),
        proptest::collection::btree_map(any::<u64>(), any::<u64>(), 0..3),
    )
        .prop_map(|(id, addr, zone, state, tokens, ts, reg, ro, versions)| {
            let mut inst = InstanceDesc::new(id, addr, zone)
                .with_state(InstanceState::from_i32(state).unwrap())
                .with_tokens(tokens)
                .with_read_only(ro, ts / 2);
            inst.timestamp = ts;
            inst.registered_timestamp = reg;
            inst.versions = versions;
            inst
        })
}

proptest! {
    #[test]
    fn encode_decode_round_trips(instances in proptest::collection::vec(any_instance(), 0..8)) {
        let mut desc = RingDesc::default();
        for inst in instances {
            desc.upsert(inst);
        }
        prop_assert_eq!(&RingDesc::decode(&desc.encode()).unwrap(), &desc);
        prop_assert_eq!(&RingDesc::decode_kv(&desc.encode_kv()).unwrap(), &desc);
        // The JSON view (for status pages) round trips too.
        let json = serde_json::to_string(&desc).unwrap();
        prop_assert_eq!(&serde_json::from_str::<RingDesc>(&json).unwrap(), &desc);
    }

    /// Untrusted bytes decode to a description or an error, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = RingDesc::decode(&bytes);
        let _ = RingDesc::decode_kv(&bytes);
    }

    /// Flipping bytes of a valid value never panics either.
    #[test]
    fn corrupted_values_never_panic(
        instances in proptest::collection::vec(any_instance(), 1..4),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut desc = RingDesc::default();
        for inst in instances {
            desc.upsert(inst);
        }
        for mut bytes in [desc.encode(), desc.encode_kv()] {
            for (at, value) in &flips {
                let i = at.index(bytes.len());
                bytes[i] ^= value;
            }
            let _ = RingDesc::decode(&bytes);
            let _ = RingDesc::decode_kv(&bytes);
        }
    }
}

#[test]
fn json_view_names_states_like_dskit() {
    let mut desc = RingDesc::default();
    desc.upsert(InstanceDesc::new("a", "a:1", "").with_state(InstanceState::Leaving));
    let json = serde_json::to_value(&desc).unwrap();
    assert_eq!(json["instances"]["a"]["state"], "LEAVING");
}
