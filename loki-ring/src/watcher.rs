//! Following the ring in a KV store: a fresh [`Ring`] snapshot after
//! every change.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{Clock, Error, KvStore, Result, Ring, RingConfig, RingDesc};

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
    /// that does not decode is skipped (the previous snapshot stays).
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
        let task = tokio::spawn(async move {
            // Keep the store alive as long as the watch.
            let _kv = kv;
            while let Some(value) = stream.next().await {
                let Ok(desc) = value.and_then(decode) else {
                    continue;
                };
                let ring = Ring::build(&desc, config.clone(), task_clock.now_unix());
                if tx.send(Arc::new(ring)).is_err() {
                    return;
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
