//! The in-process KV store.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::kv::{CasFn, KvStore, Update, Watch};
use crate::Result;

/// A KV store in process memory, shared by clones (dskit's `inmemory`
/// store): for single-process deployments and tests.
///
/// Compare-and-swap runs the closure under the store's lock, so it never
/// conflicts. Watches see the newest value after each change; values
/// written in quick succession may be coalesced.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// use loki_ring::{KvStore, MemoryKv, Update};
///
/// let kv = MemoryKv::new();
/// let other = kv.clone(); // same data
/// kv.cas("k", &mut |_| Ok(Update::Put("v".into()))).await?;
/// assert_eq!(other.get("k").await?.as_deref(), Some(&b"v"[..]));
/// # Ok::<(), loki_ring::Error>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryKv {
    keys: Arc<Mutex<HashMap<String, watch::Sender<Option<Bytes>>>>>,
}

impl MemoryKv {
    /// An empty store.
    pub fn new() -> MemoryKv {
        MemoryKv::default()
    }

    fn sender<'a>(
        keys: &'a mut HashMap<String, watch::Sender<Option<Bytes>>>,
        key: &str,
    ) -> &'a watch::Sender<Option<Bytes>> {
        keys.entry(key.to_string())
            .or_insert_with(|| watch::channel(None).0)
    }
}

#[async_trait::async_trait]
impl KvStore for MemoryKv {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let keys = self.keys.lock();
        Ok(keys.get(key).and_then(|s| s.borrow().clone()))
    }

    async fn cas(&self, key: &str, update: &mut CasFn<'_>) -> Result<Option<Bytes>> {
        let mut keys = self.keys.lock();
        let sender = MemoryKv::sender(&mut keys, key);
        let current = sender.borrow().clone();
        match update(current.as_ref())? {
            Update::Keep => Ok(current),
            Update::Put(value) => {
                sender.send_replace(Some(value.clone()));
                Ok(Some(value))
            }
            Update::Delete => {
                if current.is_some() {
                    sender.send_replace(None);
                }
                Ok(None)
            }
        }
    }

    async fn watch(&self, key: &str) -> Result<Watch> {
        let mut keys = self.keys.lock();
        Ok(Watch::memory(MemoryKv::sender(&mut keys, key).subscribe()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_passes_the_shared_suite() {
        crate::kv::suite::run_all(&MemoryKv::new(), "suite/").await;
    }
}
