//! The etcd v3 KV store (feature `etcd`).

use std::time::Duration;

use bytes::Bytes;
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, EventType, Txn, TxnOp, WatchOptions,
};

use crate::kv::{CasFn, KvStore, Update, Watch, MAX_CAS_ATTEMPTS};
use crate::{Error, Result};

const BACKEND: &str = "etcd";

/// A KV store on etcd v3 (dskit's `etcd` store): compare-and-swap is a
/// transaction conditioned on the key's modification revision (or on its
/// absence), and watches use etcd's watch API from the revision read.
///
/// Keys are prefixed with the store's prefix (Loki's `kvstore.prefix`,
/// e.g. `collectors/`).
///
/// ```no_run
/// # async fn f() -> loki_ring::Result<()> {
/// use loki_ring::{get_ring_desc, EtcdKv};
///
/// let kv = EtcdKv::connect(&["127.0.0.1:2379"], "collectors/").await?;
/// let ring = get_ring_desc(&kv, "ring").await?;
/// println!("{} instances", ring.len());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct EtcdKv {
    client: Client,
    prefix: String,
}

impl std::fmt::Debug for EtcdKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdKv")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl EtcdKv {
    /// Connects to the etcd cluster at `endpoints` (`host:port` or URLs).
    pub async fn connect(endpoints: &[impl AsRef<str>], prefix: &str) -> Result<EtcdKv> {
        let endpoints: Vec<&str> = endpoints.iter().map(AsRef::as_ref).collect();
        let options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(10));
        let client = Client::connect(&endpoints, Some(options))
            .await
            .map_err(|e| Error::kv(BACKEND, prefix, e))?;
        Ok(EtcdKv {
            client,
            prefix: prefix.to_string(),
        })
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    /// The value and modification revision of `key` (0 when absent), and
    /// the store revision of the read.
    async fn read(&self, key: &str) -> Result<(Option<Bytes>, i64, i64)> {
        let resp = self
            .client
            .clone()
            .get(key, None)
            .await
            .map_err(|e| Error::kv(BACKEND, key, e))?;
        let revision = resp.header().map(|h| h.revision()).unwrap_or(0);
        Ok(match resp.kvs().first() {
            Some(kv) => (
                Some(Bytes::copy_from_slice(kv.value())),
                kv.mod_revision(),
                revision,
            ),
            None => (None, 0, revision),
        })
    }
}

#[async_trait::async_trait]
impl KvStore for EtcdKv {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        Ok(self.read(&self.full_key(key)).await?.0)
    }

    async fn cas(&self, key: &str, update: &mut CasFn<'_>) -> Result<Option<Bytes>> {
        let key = self.full_key(key);
        for _ in 0..MAX_CAS_ATTEMPTS {
            let (current, mod_revision, _) = self.read(&key).await?;
            let (op, stored) = match update(current.as_ref())? {
                Update::Keep => return Ok(current),
                Update::Put(value) => (
                    TxnOp::put(key.as_bytes(), value.to_vec(), None),
                    Some(value),
                ),
                Update::Delete => {
                    if current.is_none() {
                        return Ok(None);
                    }
                    (TxnOp::delete(key.as_bytes(), None), None)
                }
            };
            // mod_revision 0 compares "the key does not exist".
            let txn = Txn::new()
                .when([Compare::mod_revision(
                    key.as_bytes(),
                    CompareOp::Equal,
                    mod_revision,
                )])
                .and_then([op]);
            let resp = self
                .client
                .clone()
                .txn(txn)
                .await
                .map_err(|e| Error::kv(BACKEND, &key, e))?;
            if resp.succeeded() {
                return Ok(stored);
            }
        }
        Err(Error::CasConflict {
            key,
            attempts: MAX_CAS_ATTEMPTS,
        })
    }

    async fn watch(&self, key: &str) -> Result<Watch> {
        let key = self.full_key(key);
        let (current, _, revision) = self.read(&key).await?;
        let mut stream = self
            .client
            .clone()
            .watch(
                key.as_bytes(),
                Some(WatchOptions::new().with_start_revision(revision + 1)),
            )
            .await
            .map_err(|e| Error::kv(BACKEND, &key, e))?;
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let task = tokio::spawn(async move {
            if tx.send(Ok(current)).await.is_err() {
                return;
            }
            loop {
                let message = match stream.message().await {
                    Ok(Some(message)) => message,
                    Ok(None) => return,
                    Err(e) => {
                        let _ = tx.send(Err(Error::kv(BACKEND, &key, e))).await;
                        return;
                    }
                };
                if message.canceled() {
                    let reason = message.cancel_reason().to_string();
                    let _ = tx
                        .send(Err(Error::kv(
                            BACKEND,
                            &key,
                            format!("watch canceled: {reason}"),
                        )))
                        .await;
                    return;
                }
                for event in message.events() {
                    let value = match event.event_type() {
                        EventType::Put => event.kv().map(|kv| Bytes::copy_from_slice(kv.value())),
                        EventType::Delete => None,
                    };
                    if tx.send(Ok(value)).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Watch::channel(rx, task))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the shared suite against the etcd cluster named by
    /// `LOKI_TEST_ETCD_ENDPOINTS` (comma-separated); without it there is
    /// nothing to run against, and the test checks only that connecting to
    /// a closed port fails cleanly.
    #[tokio::test]
    async fn etcd_passes_the_shared_suite() {
        let Ok(endpoints) = std::env::var("LOKI_TEST_ETCD_ENDPOINTS") else {
            // Port 1 is closed: connecting or the first call must fail
            // with a backend error, not hang or panic.
            let result = match EtcdKv::connect(&["127.0.0.1:1"], "x/").await {
                Ok(kv) => kv.get("k").await.map(|_| ()),
                Err(e) => Err(e),
            };
            assert_eq!(result.unwrap_err().kind(), crate::ErrorKind::Backend);
            return;
        };
        let endpoints: Vec<&str> = endpoints.split(',').collect();
        let prefix = format!("loki-ring-test/{}/", fastrand::u64(..));
        let kv = EtcdKv::connect(&endpoints, &prefix).await.unwrap();
        crate::kv::suite::run_all(&kv, "suite/").await;
    }

    /// A lifecycler and a ring watcher sharing a ring through etcd: the
    /// instance appears ACTIVE with its tokens, and disappears on
    /// shutdown. Runs only with `LOKI_TEST_ETCD_ENDPOINTS`; without it the
    /// suite test above covers the error path.
    #[tokio::test]
    async fn lifecycler_and_watcher_over_etcd() {
        use std::sync::Arc;

        use crate::{
            InstanceState, Lifecycler, LifecyclerConfig, Operation, RingConfig, RingWatcher,
            SystemClock,
        };

        let Ok(endpoints) = std::env::var("LOKI_TEST_ETCD_ENDPOINTS") else {
            return;
        };
        let endpoints: Vec<&str> = endpoints.split(',').collect();
        let prefix = format!("loki-ring-test/{}/", fastrand::u64(..));
        let kv: Arc<dyn KvStore> = Arc::new(EtcdKv::connect(&endpoints, &prefix).await.unwrap());
        let clock = Arc::new(SystemClock);
        let mut watcher =
            RingWatcher::start(kv.clone(), "ring", RingConfig::default(), clock.clone())
                .await
                .unwrap();
        let cfg = LifecyclerConfig::new("ingester-1", "127.0.0.1:9095")
            .with_heartbeat_period(Duration::from_secs(3600));
        let lc = Lifecycler::start(cfg, kv.clone(), clock).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while watcher.ring().healthy_count(Operation::WRITE) < 1 {
            tokio::time::timeout_at(deadline, watcher.changed())
                .await
                .expect("watcher sees the instance")
                .unwrap();
        }
        let ring = watcher.ring();
        let inst = &ring.instances()[0];
        assert_eq!(
            (inst.id.as_str(), inst.state),
            ("ingester-1", InstanceState::Active)
        );
        assert_eq!(inst.tokens, lc.tokens());
        lc.shutdown().await.unwrap();
        while !watcher.ring().instances().is_empty() {
            tokio::time::timeout_at(deadline, watcher.changed())
                .await
                .expect("watcher sees the removal")
                .unwrap();
        }
        kv.cas("ring", &mut |_| Ok(Update::Delete)).await.unwrap();
    }
}
