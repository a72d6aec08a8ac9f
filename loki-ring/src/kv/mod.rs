//! The KV store the ring lives in: a small trait with get,
//! compare-and-swap and watch, and typed helpers for ring descriptions.

use std::fmt::Debug;

use bytes::Bytes;

use crate::{Error, Result, RingDesc};

#[cfg(feature = "etcd")]
pub(crate) mod etcd;
pub(crate) mod memory;
#[cfg(feature = "integration")]
pub mod suite;
#[cfg(all(test, not(feature = "integration")))]
pub(crate) mod suite;

/// Attempts a compare-and-swap makes before giving up with
/// [`Error::CasConflict`] (dskit's consul client also uses 10).
pub const MAX_CAS_ATTEMPTS: u32 = 10;

/// What a compare-and-swap closure wants done with the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// Leave the value as it is (no write happens).
    Keep,
    /// Store this value.
    Put(Bytes),
    /// Delete the key.
    Delete,
}

/// The closure given to [`KvStore::cas`]: it sees the current value
/// (`None` if the key is absent) and says what to store. It may run
/// several times, once per attempt, so it must not have side effects
/// beyond its return value.
pub type CasFn<'a> = dyn FnMut(Option<&Bytes>) -> Result<Update> + Send + 'a;

/// A key-value store with compare-and-swap and watch: what the ring needs
/// from Consul, etcd or memory (dskit's `kv.Client`, on raw bytes).
///
/// Implementations: [`MemoryKv`](crate::MemoryKv) (one process) and, with
/// the `etcd` feature, `EtcdKv`. Every implementation passes the shared
/// suite in `loki_ring::suite` (feature `integration`).
///
/// ```
/// use bytes::Bytes;
/// use loki_ring::{KvStore, MemoryKv, Update};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let kv = MemoryKv::new();
/// // A counter incremented with compare-and-swap.
/// for _ in 0..3 {
///     kv.cas("counter", &mut |cur| {
///         let n: u32 = cur.map(|b| std::str::from_utf8(b).unwrap().parse().unwrap()).unwrap_or(0);
///         Ok(Update::Put(Bytes::from((n + 1).to_string())))
///     }).await?;
/// }
/// assert_eq!(kv.get("counter").await?, Some(Bytes::from("3")));
///
/// // A watch yields the current value first, then every later change
/// // (intermediate values may be coalesced).
/// let mut watch = kv.watch("counter").await?;
/// assert_eq!(watch.next().await.unwrap()?, Some(Bytes::from("3")));
/// kv.cas("counter", &mut |_| Ok(Update::Delete)).await?;
/// assert_eq!(watch.next().await.unwrap()?, None);
/// # Ok::<(), loki_ring::Error>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[async_trait::async_trait]
pub trait KvStore: Send + Sync + Debug {
    /// The backend's name, for errors and logs (`"memory"`, `"etcd"`).
    fn backend(&self) -> &'static str;

    /// The current value of `key`.
    async fn get(&self, key: &str) -> Result<Option<Bytes>>;

    /// Reads `key`, calls `update` with its value and writes the result
    /// if the key has not changed since the read; on a conflict, reads
    /// and calls `update` again, up to [`MAX_CAS_ATTEMPTS`] times.
    /// Returns the value stored afterwards. An error from `update` stops
    /// the loop and is returned as is.
    async fn cas(&self, key: &str, update: &mut CasFn<'_>) -> Result<Option<Bytes>>;

    /// Watches `key`: the first [`Watch::next`] yields the current value,
    /// later ones wait for a change and yield the newest value.
    async fn watch(&self, key: &str) -> Result<Watch>;
}

/// A stream of values of one key; see [`KvStore::watch`].
#[derive(Debug)]
pub struct Watch {
    inner: WatchInner,
}

#[derive(Debug)]
enum WatchInner {
    Memory {
        rx: tokio::sync::watch::Receiver<Option<Bytes>>,
        started: bool,
    },
    // Used by the etcd store (and tests); unused in a default build.
    #[cfg_attr(not(feature = "etcd"), allow(dead_code))]
    Channel {
        rx: tokio::sync::mpsc::Receiver<Result<Option<Bytes>>>,
        task: tokio::task::JoinHandle<()>,
    },
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let WatchInner::Channel { task, .. } = &self.inner {
            task.abort();
        }
    }
}

impl Watch {
    pub(crate) fn memory(rx: tokio::sync::watch::Receiver<Option<Bytes>>) -> Watch {
        Watch {
            inner: WatchInner::Memory { rx, started: false },
        }
    }

    /// A watch fed by a task through a channel; the task is aborted when
    /// the watch is dropped.
    #[cfg_attr(not(feature = "etcd"), allow(dead_code))]
    pub(crate) fn channel(
        rx: tokio::sync::mpsc::Receiver<Result<Option<Bytes>>>,
        task: tokio::task::JoinHandle<()>,
    ) -> Watch {
        Watch {
            inner: WatchInner::Channel { rx, task },
        }
    }

    /// The next value (`None` inside means the key is absent), or `None`
    /// once the store is gone. After an `Err` the watch may end.
    pub async fn next(&mut self) -> Option<Result<Option<Bytes>>> {
        match &mut self.inner {
            WatchInner::Memory { rx, started } => {
                if *started {
                    rx.changed().await.ok()?;
                }
                *started = true;
                let value = rx.borrow_and_update().clone();
                Some(Ok(value))
            }
            WatchInner::Channel { rx, .. } => rx.recv().await,
        }
    }
}

/// Reads the ring description stored at `key` (empty if absent).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// use loki_ring::{get_ring_desc, update_ring_desc, InstanceDesc, MemoryKv};
///
/// let kv = MemoryKv::new();
/// assert!(get_ring_desc(&kv, "ring").await?.is_empty());
/// update_ring_desc(&kv, "ring", &mut |desc| {
///     desc.upsert(InstanceDesc::new("a", "a:9095", ""));
///     Ok(true)
/// }).await?;
/// assert_eq!(get_ring_desc(&kv, "ring").await?.len(), 1);
/// # Ok::<(), loki_ring::Error>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn get_ring_desc(kv: &dyn KvStore, key: &str) -> Result<RingDesc> {
    match kv.get(key).await? {
        Some(bytes) => RingDesc::decode_kv(&bytes),
        None => Ok(RingDesc::default()),
    }
}

/// Updates the ring description at `key` with compare-and-swap: `update`
/// gets the current description (empty if absent) and returns whether it
/// changed it; it runs again on a conflict. Returns the description
/// stored afterwards.
pub async fn update_ring_desc(
    kv: &dyn KvStore,
    key: &str,
    update: &mut (dyn FnMut(&mut RingDesc) -> Result<bool> + Send),
) -> Result<RingDesc> {
    let mut result = RingDesc::default();
    kv.cas(key, &mut |current| {
        let mut desc = match current {
            Some(bytes) => RingDesc::decode_kv(bytes)?,
            None => RingDesc::default(),
        };
        let changed = update(&mut desc)?;
        let action = if changed {
            Update::Put(Bytes::from(desc.encode_kv()))
        } else {
            Update::Keep
        };
        result = desc;
        Ok(action)
    })
    .await?;
    Ok(result)
}

impl Error {
    pub(crate) fn kv(backend: &'static str, key: &str, detail: impl ToString) -> Error {
        Error::Kv {
            backend,
            key: key.to_string(),
            detail: detail.to_string(),
        }
    }
}
