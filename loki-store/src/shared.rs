//! Several engines over one object store (distributed mode): what each
//! kind of process needs to see of what the others write.
//!
//! - A **compactor** adopts only *settled* segments (written at least a
//!   given age ago, by the time in their names), so that every segment it
//!   merges and deletes has long been in every reader's listing
//!   ([`Store::adopt_settled_segments`]).
//! - A **writer** (an ingester) forgets the segments it flushed once they
//!   are old enough that readers list them themselves, well before the
//!   compactor may delete them ([`Store::forget_flushed_segments`]).
//! - A **reader** re-reads a tenant's delete requests before a query
//!   ([`Store::refresh_delete_requests`]), so a request made through
//!   another process hides data at once, and filters what other processes
//!   answer by them ([`Store::deleted_ranges`]).
//! - A compactor that takes over from another re-reads every tenant's
//!   delete requests before its passes
//!   ([`Store::refresh_all_delete_requests`]).

use std::sync::Arc;
use std::time::Duration;

use loki_index::Labels;
use object_store::path::Path;

use crate::retention::DeleteRequest;
use crate::segments::SegmentMeta;
use crate::store::Store;
use crate::{Error, Result};

/// When a segment was written, Unix ns, from its name
/// (`[<owner>.]<time>-<suffix>.seg`); `None` for other names.
fn written_at(path: &Path) -> Option<i64> {
    let name = path.filename()?.strip_suffix(".seg")?;
    let sequence = name.rsplit_once('.').map_or(name, |(_, s)| s);
    sequence.split_once('-')?.0.parse().ok()
}

fn nanos(age: Duration) -> i64 {
    i64::try_from(age.as_nanos()).unwrap_or(i64::MAX)
}

impl Store {
    /// Lists the object store's index segments and keeps, per tenant,
    /// exactly those written at least `min_age` ago (segments with names
    /// that tell no time count as settled). What a compactor calls before
    /// [`compact`](Store::compact): a segment is merged (and deleted) only
    /// once every reader that lists segments more often than `min_age`
    /// holds it. Returns how many segments are held.
    ///
    /// ```
    /// use std::time::Duration;
    /// use loki_store::{PushEntry, PushStream, Store, StoreConfig};
    /// use loki_index::Labels;
    ///
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let shared: std::sync::Arc<dyn object_store::ObjectStore> = std::sync::Arc::new(object_store::memory::InMemory::new());
    /// let open = || { let mut c = StoreConfig::in_memory(); c.object_store = Some(shared.clone()); Store::open(c) };
    /// let (writer, compactor) = (open().await?, open().await?);
    /// let now = 1_700_000_000_000_000_000;
    /// let labels = Labels::new([("app", "shop")])?;
    /// writer.push_at("t", vec![PushStream { labels, entries: vec![PushEntry::new(now, "x")] }], now).await?;
    /// writer.flush(true).await?;
    /// assert_eq!(compactor.adopt_settled_segments(Duration::from_secs(3600)).await?, 0);
    /// assert_eq!(compactor.adopt_settled_segments(Duration::ZERO).await?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// Object store errors of the listing.
    pub async fn adopt_settled_segments(&self, min_age: Duration) -> Result<usize> {
        let settled_before = self.inner.config.clock.now().saturating_sub(nanos(min_age));
        let by_tenant = self
            .listed_segments(|path| written_at(path).is_none_or(|at| at <= settled_before))
            .await?;
        let mut held = 0;
        for (tenant_id, listed) in by_tenant {
            let tenant = self.inner.tenant_for_delete(&tenant_id);
            let mut index = tenant.index.write();
            let segments: Vec<Arc<SegmentMeta>> = listed
                .into_iter()
                .map(|(start, path, size)| {
                    index
                        .segments
                        .iter()
                        .find(|m| m.path == path)
                        .cloned()
                        .unwrap_or_else(|| Arc::new(SegmentMeta::new(path, start, size)))
                })
                .collect();
            held += segments.len();
            index.segments = Arc::new(segments);
        }
        Ok(held)
    }

    /// Forgets the index segments written `min_age` ago or earlier (and
    /// any whose name tells no time): a writer sharing the object store
    /// stops answering for what it flushed once readers list it. Returns
    /// how many were forgotten.
    ///
    /// ```
    /// use std::time::Duration;
    /// use loki_store::{PushEntry, PushStream, Store, StoreConfig};
    /// use loki_index::Labels;
    ///
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let store = Store::open(StoreConfig::in_memory()).await?;
    /// let now = 1_700_000_000_000_000_000;
    /// let labels = Labels::new([("app", "shop")])?;
    /// store.push_at("t", vec![PushStream { labels, entries: vec![PushEntry::new(now, "x")] }], now).await?;
    /// store.flush(true).await?;
    /// assert_eq!(store.forget_flushed_segments(Duration::from_secs(3600)), 0);
    /// assert_eq!(store.forget_flushed_segments(Duration::ZERO), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn forget_flushed_segments(&self, min_age: Duration) -> usize {
        let before = self.inner.config.clock.now().saturating_sub(nanos(min_age));
        let tenants: Vec<_> = self.inner.tenants.read().values().cloned().collect();
        let mut forgotten = 0;
        for tenant in tenants {
            let mut index = tenant.index.write();
            let kept: Vec<Arc<SegmentMeta>> = index
                .segments
                .iter()
                .filter(|m| written_at(&m.path).is_some_and(|at| at > before))
                .cloned()
                .collect();
            if kept.len() != index.segments.len() {
                forgotten += index.segments.len() - kept.len();
                index.segments = Arc::new(kept);
            }
        }
        forgotten
    }

    /// Reads `tenant`'s delete requests again from the object store (as
    /// another process sharing it wrote them).
    ///
    /// ```
    /// use loki_store::{Store, StoreConfig};
    ///
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let shared: std::sync::Arc<dyn object_store::ObjectStore> = std::sync::Arc::new(object_store::memory::InMemory::new());
    /// let open = || { let mut c = StoreConfig::in_memory(); c.object_store = Some(shared.clone()); Store::open(c) };
    /// let (compactor, querier) = (open().await?, open().await?);
    /// let selector = loki_index::Selector::new(vec![loki_index::Matcher::new("app", loki_index::MatchOp::Equal, "shop")?])?;
    /// compactor.add_delete_request("t", &selector, 0, 10).await?;
    /// assert!(querier.delete_requests("t").is_empty());
    /// querier.refresh_delete_requests("t").await?;
    /// assert_eq!(querier.delete_requests("t").len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidTenant`], object store errors, a file that does not
    /// parse.
    pub async fn refresh_delete_requests(&self, tenant: &str) -> Result<()> {
        crate::validate_tenant(tenant)?;
        // Not between a request's write and its place in memory.
        let _serial = self.inner.deletes_lock.lock().await;
        let path = self
            .inner
            .objects
            .plain_path(&format!("deletes/{tenant}.json"));
        let requests: Vec<DeleteRequest> = match self.inner.objects.get(&path).await? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                what: "delete requests",
                detail: format!("{path}: {e}"),
            })?,
            None => Vec::new(),
        };
        let state = self.inner.tenant_for_delete(tenant);
        if *state.deletes.read() != requests {
            *state.deletes.write() = requests;
        }
        Ok(())
    }

    /// Re-reads the delete requests of every tenant that has any in the
    /// object store (see [`refresh_delete_requests`](Self::refresh_delete_requests));
    /// returns how many tenants' files were read. A compactor that takes
    /// over from another calls this before compacting, so that it applies
    /// (and answers for) what the other one recorded.
    ///
    /// ```
    /// use loki_store::{Store, StoreConfig};
    ///
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let shared: std::sync::Arc<dyn object_store::ObjectStore> = std::sync::Arc::new(object_store::memory::InMemory::new());
    /// let open = || { let mut c = StoreConfig::in_memory(); c.object_store = Some(shared.clone()); Store::open(c) };
    /// let (first, second) = (open().await?, open().await?);
    /// let selector = loki_index::Selector::new(vec![loki_index::Matcher::new("app", loki_index::MatchOp::Equal, "shop")?])?;
    /// first.add_delete_request("a", &selector, 0, 10).await?;
    /// first.add_delete_request("b", &selector, 0, 10).await?;
    /// assert_eq!(second.refresh_all_delete_requests().await?, 2);
    /// assert_eq!((second.delete_requests("a").len(), second.delete_requests("b").len()), (1, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// Object store errors, a file that does not parse.
    pub async fn refresh_all_delete_requests(&self) -> Result<usize> {
        let prefix = self.inner.objects.plain_path("deletes");
        let mut tenants = 0;
        for path in self.inner.objects.list(&prefix).await? {
            let Some(tenant) = path.filename().and_then(|f| f.strip_suffix(".json")) else {
                continue;
            };
            if crate::validate_tenant(tenant).is_err() {
                continue;
            }
            self.refresh_delete_requests(tenant).await?;
            tenants += 1;
        }
        Ok(tenants)
    }

    /// The time ranges (Unix ns, inclusive) of `tenant`'s delete requests
    /// (not cancelled) that cover the stream `labels`: entries in them are
    /// deleted.
    ///
    /// ```
    /// use loki_store::{Store, StoreConfig};
    /// use loki_index::{Labels, MatchOp, Matcher, Selector};
    ///
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let store = Store::open(StoreConfig::in_memory()).await?;
    /// let selector = Selector::new(vec![Matcher::new("app", MatchOp::Equal, "shop")?])?;
    /// store.add_delete_request("t", &selector, 5, 10).await?;
    /// assert_eq!(store.deleted_ranges("t", &Labels::new([("app", "shop")])?), [(5, 10)]);
    /// assert!(store.deleted_ranges("t", &Labels::new([("app", "cart")])?).is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn deleted_ranges(&self, tenant: &str, labels: &Labels) -> Vec<(i64, i64)> {
        self.delete_requests(tenant)
            .into_iter()
            .filter(|r| r.status != crate::DeleteStatus::Cancelled)
            .filter(|r| r.selector().is_ok_and(|s| s.matches(labels)))
            .map(|r| (r.start, r.end))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_times_come_from_their_names() {
        let at = |p: &str| written_at(&Path::from(p));
        assert_eq!(at("index/t/0/00000000000000000042-1a2b3c4d.seg"), Some(42));
        assert_eq!(
            at("index/t/0/ingester.a-1.00000000000000000042-1a2b3c4d.seg"),
            Some(42)
        );
        assert_eq!(at("index/t/0/00000000000000000007-compacted.seg"), Some(7));
        assert_eq!(at("index/t/0/legacy.seg"), None);
        assert_eq!(at("index/t/0/x.json"), None);
    }
}
