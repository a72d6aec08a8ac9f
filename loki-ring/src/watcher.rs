//! Following the ring in a KV store: a fresh [`Ring`] snapshot after
//! every change.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{Clock, Error, KvStore, Result, Ring, RingConfig, RingDesc};

/// Time between attempts to re-establish a watch that ended.
const RETRY: Duration = Duration::from_secs(1);

/// Watches a ring key and keeps the latest [`Ring`] snapshot, for
/// components that look keys up (Loki's distributors and queriers).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build()?.block_on(async {
/// use std::sync::Arc;
/// use loki_ring::*;
///
/// let kv = Arc::new(MemoryKv::new());
/// let clock = Arc::new(TokioClock::starting_at(1_700_000_000));
/// let mut watcher = RingWatcher::start(kv.clone(), "ring", RingConfig::default(), clock.clone()).await?;
/// assert!(watcher.ring().instances().is_empty());
///
/// let lc = Lifecycler::start(LifecyclerConfig::new("ingester-1", "127.0.0.1:9095"), kv, clock).await?;
/// while watcher.ring().healthy_count(Operation::WRITE) < 1 {
///     watcher.changed().await?;
/// }
/// let owner = watcher.ring().owner(stream_token("fake", "{app=\"a\"}"));
/// assert_eq!(owner, Some(0));
/// lc.shutdown().await?;
/// # Ok::<(), loki_ring::Error>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct RingWatcher {
    rx: watch::Receiver<Arc<Ring>>,
    clock: Arc<dyn Clock>,
    task: JoinHandle<()>,
}

impl RingWatcher {
    /// Reads the ring at `key` and follows it from a tokio task. A value
    /// that does not decode is skipped (the previous snapshot stays); a
    /// watch that ends is re-established every second until it works.
    pub async fn start(
        kv: Arc<dyn KvStore>,
        key: &str,
        config: RingConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<RingWatcher> {
        config.validate()?;
        let mut stream = kv.watch(key).await?;
        let first = match stream.next().await {
            Some(value) => decode(value?)?,
            None => {
                return Err(Error::kv(
                    kv.backend(),
                    key,
                    "watch ended before the first value",
                ))
            }
        };
        let (tx, rx) = watch::channel(Arc::new(Ring::build(
            &first,
            config.clone(),
            clock.now_unix(),
        )));
        let task_clock = Arc::clone(&clock);
        let key = key.to_string();
        let task = tokio::spawn(async move {
            loop {
                while let Some(value) = stream.next().await {
                    let Ok(desc) = value.and_then(decode) else {
                        // A value that does not decode, or a watch error:
                        // keep the last good snapshot.
                        continue;
                    };
                    let ring = Ring::build(&desc, config.clone(), task_clock.now_unix());
                    if tx.send(Arc::new(ring)).is_err() {
                        return; // every receiver is gone
                    }
                }
                // The watch ended (connection lost, etcd compaction, ...):
                // watch again, once a second until it works. The new watch
                // starts with the current value, so nothing is missed.
                loop {
                    if tx.is_closed() {
                        return;
                    }
                    tokio::time::sleep(RETRY).await;
                    if let Ok(s) = kv.watch(&key).await {
                        stream = s;
                        break;
                    }
                }
            }
        });
        Ok(RingWatcher { rx, clock, task })
    }

    /// The latest snapshot, with heartbeats judged at the clock's now.
    pub fn ring(&self) -> Arc<Ring> {
        let ring = Arc::clone(&self.rx.borrow());
        ring.set_now(self.clock.now_unix());
        ring
    }

    /// Waits for the next snapshot. Fails with [`Error::Stopped`] once the
    /// watch has ended.
    pub async fn changed(&mut self) -> Result<()> {
        self.rx.changed().await.map_err(|_| Error::Stopped {
            id: "ring watcher".to_string(),
        })
    }
}

impl Drop for RingWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn decode(value: Option<bytes::Bytes>) -> Result<RingDesc> {
    match value {
        Some(bytes) => RingDesc::decode_kv(&bytes),
        None => Ok(RingDesc::default()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use bytes::Bytes;

    use super::*;
    use crate::kv::{CasFn, Watch};
    use crate::{InstanceDesc, MemoryKv, TokioClock};

    /// A store whose first watch ends after its first value, as an etcd
    /// watch does when the connection drops.
    #[derive(Debug, Default)]
    struct DroppingKv {
        inner: MemoryKv,
        watches: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl KvStore for DroppingKv {
        fn backend(&self) -> &'static str {
            "dropping"
        }
        async fn get(&self, key: &str) -> Result<Option<Bytes>> {
            self.inner.get(key).await
        }
        async fn cas(&self, key: &str, update: &mut CasFn<'_>) -> Result<Option<Bytes>> {
            self.inner.cas(key, update).await
        }
        async fn watch(&self, key: &str) -> Result<Watch> {
            if self.watches.fetch_add(1, Ordering::SeqCst) > 0 {
                return self.inner.watch(key).await;
            }
            let current = self.inner.get(key).await?;
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            let task = tokio::spawn(async move {
                let _ = tx.send(Ok(current)).await;
            });
            Ok(Watch::channel(rx, task))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_watch_that_ends_is_reestablished() {
        let kv = Arc::new(DroppingKv::default());
        let clock = Arc::new(TokioClock::starting_at(100));
        let mut watcher = RingWatcher::start(kv.clone(), "ring", RingConfig::default(), clock)
            .await
            .unwrap();
        assert!(watcher.ring().instances().is_empty());
        crate::update_ring_desc(kv.as_ref(), "ring", &mut |d| {
            d.upsert(
                InstanceDesc::new("a", "a:1", "")
                    .with_tokens(vec![1])
                    .with_timestamp(100),
            );
            Ok(true)
        })
        .await
        .unwrap();
        // The first watch has ended; the watcher retries after a second
        // (paused time jumps there) and picks the value up.
        watcher.changed().await.unwrap();
        assert_eq!(watcher.ring().instances().len(), 1);
        assert_eq!(kv.watches.load(Ordering::SeqCst), 2);
    }
}
