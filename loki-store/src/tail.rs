//! Live tailing: subscribers receive every accepted push of their tenants
//! as soon as it is durable (written to the WAL, when there is one).
//!
//! Each subscriber has its own queue, bounded in entries and bytes. A subscriber that falls
//! behind does not slow pushes down nor grow without bound: entries that
//! do not fit are counted as dropped, with their labels and timestamps
//! kept (up to a bound) so a client can be told what it missed, as Loki's
//! `dropped_entries`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use loki_index::Labels;
use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;

use crate::stream::{PushEntry, Stream};
use crate::Store;

/// Entries a subscriber may have queued before new ones are dropped.
pub const TAIL_QUEUE_ENTRIES: usize = 10_000;

/// Line bytes a subscriber may have queued before new entries are dropped.
pub const TAIL_QUEUE_BYTES: usize = 16 << 20;

/// Dropped entries remembered per receive (more are only counted).
pub const TAIL_DROPPED_REMEMBERED: usize = 1_000;

/// One stream's entries of one push.
#[derive(Debug, Clone)]
pub struct TailStream {
    /// The tenant the push was for.
    pub tenant: Arc<str>,
    /// The stream's labels.
    pub labels: Labels,
    /// The accepted entries, in push order.
    pub entries: Vec<PushEntry>,
}

/// An entry a slow subscriber did not receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedEntry {
    /// The stream's labels.
    pub labels: Labels,
    /// The entry's timestamp, Unix ns.
    pub timestamp: i64,
}

/// What [`TailSubscription::recv`] returns: streams received, and what was
/// dropped since the last call.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TailBatch {
    /// Streams in push order.
    pub streams: Vec<TailStream>,
    /// Entries dropped because the queue was full (at most
    /// [`TAIL_DROPPED_REMEMBERED`]).
    pub dropped: Vec<DroppedEntry>,
    /// How many entries were dropped in all (at least `dropped.len()`).
    pub dropped_count: usize,
}

#[derive(Debug, Default)]
struct Queue {
    streams: VecDeque<TailStream>,
    entries: usize,
    bytes: usize,
    dropped: Vec<DroppedEntry>,
    dropped_count: usize,
}

#[derive(Debug, Default)]
struct Subscriber {
    queue: Mutex<Queue>,
    notify: Notify,
}

/// The subscribers of each tenant.
#[derive(Debug, Default)]
pub(crate) struct TailHub {
    tenants: RwLock<HashMap<String, Vec<Arc<Subscriber>>>>,
}

impl TailHub {
    /// Hands an accepted, durable push to the tenant's subscribers. Free
    /// when nobody tails the tenant.
    pub(crate) fn publish(&self, tenant: &str, work: &[(Arc<Mutex<Stream>>, Vec<PushEntry>)]) {
        let tenants = self.tenants.read();
        let Some(subscribers) = tenants.get(tenant).filter(|s| !s.is_empty()) else {
            return;
        };
        let tenant: Arc<str> = Arc::from(tenant);
        let streams: Vec<TailStream> = work
            .iter()
            .map(|(stream, entries)| TailStream {
                tenant: tenant.clone(),
                labels: stream.lock().labels.clone(),
                entries: entries.clone(),
            })
            .collect();
        let sizes: Vec<usize> = streams
            .iter()
            .map(|s| s.entries.iter().map(|e| e.line.len()).sum())
            .collect();
        for subscriber in subscribers {
            {
                let mut queue = subscriber.queue.lock();
                for (stream, bytes) in streams.iter().zip(&sizes) {
                    if queue.entries + stream.entries.len() <= TAIL_QUEUE_ENTRIES
                        && queue.bytes + bytes <= TAIL_QUEUE_BYTES
                    {
                        queue.entries += stream.entries.len();
                        queue.bytes += bytes;
                        queue.streams.push_back(stream.clone());
                        continue;
                    }
                    queue.dropped_count += stream.entries.len();
                    let room = TAIL_DROPPED_REMEMBERED.saturating_sub(queue.dropped.len());
                    let dropped = stream.entries.iter().take(room).map(|e| DroppedEntry {
                        labels: stream.labels.clone(),
                        timestamp: e.timestamp,
                    });
                    queue.dropped.extend(dropped);
                }
            }
            subscriber.notify.notify_one();
        }
    }

    fn unsubscribe(&self, subscriber: &Arc<Subscriber>) {
        let mut tenants = self.tenants.write();
        tenants.retain(|_, list| {
            list.retain(|s| !Arc::ptr_eq(s, subscriber));
            !list.is_empty()
        });
    }
}

/// A live subscription to pushes; unsubscribes when dropped.
#[derive(Debug)]
pub struct TailSubscription {
    store: Store,
    subscriber: Arc<Subscriber>,
}

impl TailSubscription {
    /// Waits for pushes (or drops) and returns everything queued since the
    /// last call.
    pub async fn recv(&self) -> TailBatch {
        loop {
            let notified = self.subscriber.notify.notified();
            if let Some(batch) = self.try_recv() {
                return batch;
            }
            notified.await;
        }
    }

    /// Everything queued, or `None` if nothing is.
    pub fn try_recv(&self) -> Option<TailBatch> {
        let mut queue = self.subscriber.queue.lock();
        if queue.streams.is_empty() && queue.dropped_count == 0 {
            return None;
        }
        let queue = std::mem::take(&mut *queue);
        Some(TailBatch {
            streams: queue.streams.into(),
            dropped: queue.dropped,
            dropped_count: queue.dropped_count,
        })
    }
}

impl Drop for TailSubscription {
    fn drop(&mut self) {
        self.store.inner.tail.unsubscribe(&self.subscriber);
    }
}

impl Store {
    /// Subscribes to the pushes of `tenants` accepted from now on. Each
    /// push is delivered once it is durable, before it is visible to
    /// queries; a slow subscriber loses entries (reported as dropped),
    /// never memory.
    ///
    /// ```
    /// use loki_store::{PushEntry, PushStream, Store, StoreConfig};
    /// use loki_index::Labels;
    ///
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let store = Store::open(StoreConfig::in_memory()).await?;
    /// let tail = store.tail(&["tenant-a"]);
    /// let now = 1_700_000_000_000_000_000;
    /// let labels = Labels::new([("app", "shop")])?;
    /// store.push_at("tenant-a", vec![PushStream { labels, entries: vec![PushEntry::new(now, "hi")] }], now).await?;
    /// let batch = tail.recv().await;
    /// assert_eq!(batch.streams[0].entries[0].line, "hi");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tail(&self, tenants: &[&str]) -> TailSubscription {
        let subscriber = Arc::new(Subscriber::default());
        let mut hub = self.inner.tail.tenants.write();
        for tenant in tenants {
            hub.entry((*tenant).to_owned())
                .or_default()
                .push(subscriber.clone());
        }
        TailSubscription {
            store: self.clone(),
            subscriber,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{PushEntry, PushStream, Store, StoreConfig};
    use loki_index::Labels;

    const NOW: i64 = 1_700_000_000_000_000_000;

    fn push(n: usize, app: &str) -> Vec<PushStream> {
        vec![PushStream {
            labels: Labels::new([("app", app)]).unwrap(),
            entries: (0..n)
                .map(|i| PushEntry::new(NOW + i as i64, format!("line {i}")))
                .collect(),
        }]
    }

    #[tokio::test]
    async fn subscribers_see_their_tenants_only_and_unsubscribe_on_drop() {
        let store = Store::open(StoreConfig::in_memory()).await.unwrap();
        let a = store.tail(&["a"]);
        let both = store.tail(&["a", "b"]);
        store.push_at("a", push(2, "x"), NOW).await.unwrap();
        store.push_at("b", push(1, "y"), NOW).await.unwrap();
        let got = a.recv().await;
        assert_eq!(got.streams.len(), 1);
        assert_eq!(got.streams[0].entries.len(), 2);
        assert!(a.try_recv().is_none());
        let got = both.recv().await;
        assert_eq!(got.streams.len(), 2);
        assert_eq!(&*got.streams[1].tenant, "b");
        drop(a);
        drop(both);
        assert!(store.inner.tail.tenants.read().is_empty());
    }

    #[tokio::test]
    async fn a_slow_subscriber_gets_dropped_entries_not_memory() {
        let store = Store::open(StoreConfig::in_memory()).await.unwrap();
        let tail = store.tail(&["a"]);
        let big = super::TAIL_QUEUE_ENTRIES / 2 + 1;
        for i in 0..3 {
            let mut streams = push(big, "x");
            for e in &mut streams[0].entries {
                e.timestamp += (i * big) as i64;
            }
            store.push_at("a", streams, NOW).await.unwrap();
        }
        let got = tail.recv().await;
        let received: usize = got.streams.iter().map(|s| s.entries.len()).sum();
        assert_eq!(received, big);
        assert_eq!(got.dropped_count, 2 * big);
        assert_eq!(got.dropped.len(), super::TAIL_DROPPED_REMEMBERED);
        assert_eq!(got.dropped[0].timestamp, NOW + big as i64);
    }

    #[tokio::test]
    async fn queued_bytes_are_bounded_too() {
        let mut config = StoreConfig::in_memory();
        config.limits = crate::Limits::unlimited();
        let store = Store::open(config).await.unwrap();
        let tail = store.tail(&["a"]);
        let line = "x".repeat(1 << 20);
        let n = super::TAIL_QUEUE_BYTES / line.len();
        for i in 0..n + 1 {
            let streams = vec![PushStream {
                labels: Labels::new([("app", "x")]).unwrap(),
                entries: vec![PushEntry::new(NOW + i as i64, line.clone())],
            }];
            store.push_at("a", streams, NOW).await.unwrap();
        }
        let got = tail.recv().await;
        assert_eq!(got.streams.len(), n);
        assert_eq!(got.dropped_count, 1);
        assert_eq!(got.dropped[0].timestamp, NOW + n as i64);
    }
}
