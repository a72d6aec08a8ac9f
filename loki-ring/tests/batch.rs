//! The batching helper against a model: an item succeeds exactly when
//! enough of its replicas stored it, whatever the order of answers.

mod common;

use common::*;
use loki_ring::{Batch, BatchStatus, ItemStatus, Operation, Outcome};
use proptest::prelude::*;

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        6 => Just(Outcome::Success),
        1 => Just(Outcome::ClientError),
        2 => Just(Outcome::ServerError),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn items_meet_quorum_exactly_when_enough_replicas_succeed(
        n in 3usize..12,
        seed: u64,
        keys in proptest::collection::vec(any::<u32>(), 1..40),
        outcomes in proptest::collection::vec(outcome(), 12),
        order_seed: u64,
    ) {
        let desc = random_desc(n, 8, 0, seed);
        let ring = ring(&desc, 3, false);
        let batch = Batch::new(&ring, Operation::WRITE_NO_EXTEND, &keys).unwrap();
        prop_assert_eq!(batch.len(), keys.len());

        // Every item is sent to exactly its replica set.
        for (item, &key) in keys.iter().enumerate() {
            let set = ring.replication_set(key, Operation::WRITE_NO_EXTEND).unwrap();
            let mut sent_to: Vec<usize> = batch
                .instance_batches()
                .iter()
                .filter(|b| b.items.contains(&item))
                .map(|b| b.instance)
                .collect();
            sent_to.sort_unstable();
            let mut expected: Vec<usize> = set.indexes().collect();
            expected.sort_unstable();
            prop_assert_eq!(sent_to, expected);
        }

        // Answers arrive in a shuffled order.
        let mut order: Vec<usize> = (0..batch.instance_batches().len()).collect();
        let mut rng = fastrand::Rng::with_seed(order_seed);
        rng.shuffle(&mut order);
        let mut status = BatchStatus::Pending;
        for &pos in &order {
            let instance = batch.instance_batches()[pos].instance;
            let prior = status;
            status = batch.record(pos, outcomes[instance]);
            prop_assert!(prior != BatchStatus::Failed || status == BatchStatus::Failed, "failure is final");
            // A repeated answer changes nothing.
            prop_assert_eq!(batch.record(pos, Outcome::Success), status);
        }

        let mut any_failed = false;
        for (item, &key) in keys.iter().enumerate() {
            let set = ring.replication_set(key, Operation::WRITE_NO_EXTEND).unwrap();
            let ok = set.indexes().filter(|&i| outcomes[i] == Outcome::Success).count();
            let got = batch.item_status(item);
            if ok >= set.min_success() {
                prop_assert_eq!(got, ItemStatus::Succeeded);
            } else {
                any_failed = true;
                prop_assert!(matches!(got, ItemStatus::Failed(_)), "{:?}", got);
                // One family over the limit decides it; otherwise a server
                // error is reported.
                let clients = set.indexes().filter(|&i| outcomes[i] == Outcome::ClientError).count();
                let servers = set.len() - ok - clients;
                if clients <= set.max_errors() && servers <= set.max_errors() {
                    prop_assert_eq!(got, ItemStatus::Failed(Outcome::ServerError));
                }
            }
        }
        let expected = if any_failed { BatchStatus::Failed } else { BatchStatus::Succeeded };
        prop_assert_eq!(status, expected);
    }
}

#[test]
fn batch_fails_early_when_a_key_has_no_quorum() {
    let mut desc = random_desc(3, 4, 0, 1);
    for inst in desc.instances.values_mut().take(2) {
        inst.timestamp = 0;
    }
    let ring = ring(&desc, 3, false);
    let err = Batch::new(&ring, Operation::WRITE_NO_EXTEND, &[1, 2, 3]).unwrap_err();
    assert!(matches!(err, loki_ring::Error::TooFewReplicas { .. }));
}

#[test]
fn status_is_pending_until_decided() {
    let desc = random_desc(3, 4, 0, 1);
    let ring = ring(&desc, 3, false);
    let batch = Batch::new(&ring, Operation::WRITE_NO_EXTEND, &[42]).unwrap();
    assert_eq!(batch.instance_batches().len(), 3);
    assert_eq!(batch.record(0, Outcome::Success), BatchStatus::Pending);
    assert_eq!(batch.item_status(0), ItemStatus::Pending);
    assert_eq!(batch.record(1, Outcome::ServerError), BatchStatus::Pending);
    assert_eq!(batch.record(2, Outcome::Success), BatchStatus::Succeeded);
    // Out of range: nothing changes.
    assert_eq!(
        batch.record(9, Outcome::ServerError),
        BatchStatus::Succeeded
    );
}
