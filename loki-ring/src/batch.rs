//! Batching writes per instance and tracking each item's quorum, as
//! Loki's distributor does (dskit's `DoBatch`, without the RPCs).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, AtomicUsize, Ordering};

use crate::{Operation, ReplicationSet, Result, Ring};

/// How one instance's call for its part of a batch went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The instance stored all its items.
    Success,
    /// The instance rejected the request as invalid (HTTP 4xx): retrying
    /// elsewhere will not help.
    ClientError,
    /// The instance failed or could not be reached (HTTP 5xx, network).
    ServerError,
}

/// Where one item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemStatus {
    /// Not yet decided.
    Pending,
    /// A quorum of its replicas stored it.
    Succeeded,
    /// It can no longer reach quorum; the outcome family that decided it.
    Failed(Outcome),
}

/// Where the whole batch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BatchStatus {
    /// Some items are undecided and none failed.
    Pending,
    /// Every item met quorum.
    Succeeded,
    /// At least one item cannot meet quorum (the caller can answer the
    /// request now, as dskit does on the first failed item).
    Failed,
}

const PENDING: u8 = 0;
const SUCCEEDED: u8 = 1;
const FAILED_CLIENT: u8 = 2;
const FAILED_SERVER: u8 = 3;

#[derive(Debug)]
struct ItemTracker {
    min_success: u32,
    max_failures: u32,
    succeeded: AtomicU32,
    client_errors: AtomicU32,
    server_errors: AtomicU32,
    remaining: AtomicU32,
    state: AtomicU8,
}

/// The items one instance gets.
#[derive(Debug)]
pub struct InstanceBatch {
    /// The instance's index in [`Ring::instances`].
    pub instance: usize,
    /// Indexes of the items (into the `keys` given to [`Batch::new`]).
    pub items: Vec<usize>,
    recorded: AtomicBool,
}

/// Items grouped per instance, with per-item quorum tracking.
///
/// Build it from the items' tokens, send each [`InstanceBatch`] to its
/// instance (in parallel; `Batch` is `Sync`), and [`Batch::record`] each
/// answer. An item succeeds once `replicas − max_errors` of its replicas
/// stored it; it fails once more than `max_errors` replicas failed with
/// errors of one family (client or server), or when every replica
/// answered without reaching quorum.
///
/// ```
/// use loki_ring::{Batch, BatchStatus, InstanceDesc, ItemStatus, Operation, Outcome, Ring, RingConfig, RingDesc};
///
/// let mut desc = RingDesc::default();
/// for (n, id) in ["a", "b", "c", "d"].iter().enumerate() {
///     desc.upsert(InstanceDesc::new(*id, *id, "").with_tokens(vec![n as u32 * 1000]).with_timestamp(0));
/// }
/// let ring = Ring::new(&desc, RingConfig::default(), 0)?;
/// let keys = [10, 1500, 2500]; // three streams' tokens
/// let batch = Batch::new(&ring, Operation::WRITE_NO_EXTEND, &keys)?;
///
/// // Every instance that failed is a failed replica of each of its items.
/// let mut status = BatchStatus::Pending;
/// for (pos, part) in batch.instance_batches().iter().enumerate() {
///     let failed = ring.instances()[part.instance].id == "b";
///     status = batch.record(pos, if failed { Outcome::ServerError } else { Outcome::Success });
/// }
/// // RF 3: each item tolerates one failed replica.
/// assert_eq!(status, BatchStatus::Succeeded);
/// assert!((0..keys.len()).all(|i| batch.item_status(i) == ItemStatus::Succeeded));
/// # Ok::<(), loki_ring::Error>(())
/// ```
#[derive(Debug)]
pub struct Batch {
    items: Vec<ItemTracker>,
    by_instance: Vec<InstanceBatch>,
    undecided: AtomicUsize,
    failed: AtomicUsize,
}

impl Batch {
    /// Looks up each key's replica set for `op` and groups the item
    /// indexes per instance. Fails if any key has no quorum of healthy
    /// replicas (nothing is sent then, as in dskit).
    pub fn new(ring: &Ring, op: Operation, keys: &[u32]) -> Result<Batch> {
        let mut slot_of_instance = vec![usize::MAX; ring.instances().len()];
        let mut by_instance: Vec<InstanceBatch> = Vec::new();
        let mut items = Vec::with_capacity(keys.len());
        let mut set = ReplicationSet::new();
        for (item, &key) in keys.iter().enumerate() {
            ring.get(key, op, &mut set)?;
            items.push(ItemTracker {
                min_success: set.min_success() as u32,
                max_failures: set.max_errors() as u32,
                succeeded: AtomicU32::new(0),
                client_errors: AtomicU32::new(0),
                server_errors: AtomicU32::new(0),
                remaining: AtomicU32::new(set.len() as u32),
                state: AtomicU8::new(PENDING),
            });
            for instance in set.indexes() {
                let slot = &mut slot_of_instance[instance];
                if *slot == usize::MAX {
                    *slot = by_instance.len();
                    by_instance.push(InstanceBatch {
                        instance,
                        items: Vec::new(),
                        recorded: AtomicBool::new(false),
                    });
                }
                by_instance[*slot].items.push(item);
            }
        }
        Ok(Batch {
            undecided: AtomicUsize::new(items.len()),
            failed: AtomicUsize::new(0),
            items,
            by_instance,
        })
    }

    /// The per-instance parts, one per instance that replicates any item.
    pub fn instance_batches(&self) -> &[InstanceBatch] {
        &self.by_instance
    }

    /// Records the answer of the instance at position `pos` of
    /// [`Batch::instance_batches`] for all its items, and returns the
    /// batch's status. A second answer for the same position is ignored;
    /// an out-of-range position changes nothing.
    pub fn record(&self, pos: usize, outcome: Outcome) -> BatchStatus {
        let Some(part) = self.by_instance.get(pos) else {
            return self.status();
        };
        if part.recorded.swap(true, Ordering::AcqRel) {
            return self.status();
        }
        for &item in &part.items {
            self.record_item(&self.items[item], outcome);
        }
        self.status()
    }

    fn record_item(&self, it: &ItemTracker, outcome: Outcome) {
        match outcome {
            Outcome::Success => {
                let ok = it.succeeded.fetch_add(1, Ordering::AcqRel) + 1;
                if ok >= it.min_success {
                    self.decide(it, SUCCEEDED);
                }
            }
            Outcome::ClientError | Outcome::ServerError => {
                let (counter, failed_state) = if outcome == Outcome::ClientError {
                    (&it.client_errors, FAILED_CLIENT)
                } else {
                    (&it.server_errors, FAILED_SERVER)
                };
                let errors = counter.fetch_add(1, Ordering::AcqRel) + 1;
                if errors > it.max_failures {
                    self.decide(it, failed_state);
                }
            }
        }
        // Counted after this answer's own decision, so whoever sees the
        // last answer also sees every other answer's decision.
        let remaining = it.remaining.fetch_sub(1, Ordering::AcqRel) - 1;
        if remaining == 0 {
            // Every replica answered without reaching quorum and no error
            // family went over the limit (mixed failures): dskit reports a
            // server error. A no-op when already decided.
            self.decide(it, FAILED_SERVER);
        }
    }

    fn decide(&self, it: &ItemTracker, state: u8) {
        if it
            .state
            .compare_exchange(PENDING, state, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            if state != SUCCEEDED {
                self.failed.fetch_add(1, Ordering::AcqRel);
            }
            self.undecided.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Where the item at `index` (into the keys) stands.
    pub fn item_status(&self, index: usize) -> ItemStatus {
        match self.items[index].state.load(Ordering::Acquire) {
            SUCCEEDED => ItemStatus::Succeeded,
            FAILED_CLIENT => ItemStatus::Failed(Outcome::ClientError),
            FAILED_SERVER => ItemStatus::Failed(Outcome::ServerError),
            _ => ItemStatus::Pending,
        }
    }

    /// Where the batch stands.
    pub fn status(&self) -> BatchStatus {
        if self.failed.load(Ordering::Acquire) > 0 {
            BatchStatus::Failed
        } else if self.undecided.load(Ordering::Acquire) == 0 {
            BatchStatus::Succeeded
        } else {
            BatchStatus::Pending
        }
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}
