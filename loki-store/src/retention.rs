//! Retention and deletion: per-tenant and per-stream retention periods,
//! delete requests (a selector and a time range), and the compactor pass
//! that merges each period's index segments into one while dropping expired
//! and deleted chunks and rewriting chunks a deletion only partly covers.
//!
//! Deleted data never comes back: queries filter entries by every delete
//! request from the moment it is made, before the compactor has run, and
//! the compactor marks a request processed only after the merged index is
//! written and the old one gone.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use loki_chunk::{ChunkBuilder, ChunkObject, ChunkObjectMeta, Direction};
use loki_index::{
    ChunkRef, Labels, MatchOp, Matcher, Segment, SegmentBuilder, Selector, TimeRange,
};
use serde::{Deserialize, Serialize};

use crate::segments::SegmentMeta;
use crate::store::{chunk_key, Store, Tenant};
use crate::{Error, Result};

/// A retention period for the streams a selector matches (Loki's
/// `retention_stream`); the first matching rule wins over the tenant's
/// `retention_period`.
#[derive(Debug, Clone)]
pub struct RetentionRule {
    /// Which streams.
    pub selector: Selector,
    /// How long their data is kept.
    pub period: Duration,
}

/// Where a delete request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeleteStatus {
    /// Made; queries already hide the data; the compactor has not run.
    Received,
    /// The compactor removed the data from the store.
    Processed,
    /// Cancelled before it was processed.
    Cancelled,
}

/// A request to delete a selector's entries in `[start, end]` (Unix ns).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteRequest {
    /// Unique within the tenant.
    pub id: String,
    /// The selector's matchers, `(name, op, value)` with op one of
    /// `=`, `!=`, `=~`, `!~`.
    pub matchers: Vec<(String, String, String)>,
    /// First deleted timestamp (inclusive).
    pub start: i64,
    /// Last deleted timestamp (inclusive).
    pub end: i64,
    /// When the request was made (Unix ns).
    pub created: i64,
    /// Where it stands.
    pub status: DeleteStatus,
}

impl DeleteRequest {
    /// The request's selector.
    ///
    /// # Errors
    /// A stored matcher that no longer parses.
    pub fn selector(&self) -> Result<Selector> {
        let matchers = self
            .matchers
            .iter()
            .map(|(name, op, value)| {
                let op = match op.as_str() {
                    "=" => MatchOp::Equal,
                    "!=" => MatchOp::NotEqual,
                    "=~" => MatchOp::Regex,
                    "!~" => MatchOp::NotRegex,
                    other => {
                        return Err(Error::Corrupt {
                            what: "delete request",
                            detail: format!("unknown matcher op {other:?}"),
                        })
                    }
                };
                Ok(Matcher::new(name.clone(), op, value.clone())?)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Selector::new(matchers)?)
    }

    fn is_active(&self) -> bool {
        self.status != DeleteStatus::Cancelled
    }
}

/// What a compactor pass did.
///
/// ```
/// # use loki_store::{Store, StoreConfig};
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let store = Store::open(StoreConfig::in_memory()).await?;
/// let summary = store.compact().await?;
/// for skipped in &summary.skipped {
///     eprintln!("left {} in place: {}", skipped.path, skipped.error);
/// }
/// assert_eq!(summary.segments_after, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CompactSummary {
    /// Index segments before the pass.
    pub segments_before: usize,
    /// Index segments after.
    pub segments_after: usize,
    /// Chunks deleted (expired or fully deleted).
    pub chunks_deleted: usize,
    /// Chunks rewritten without deleted entries.
    pub chunks_rewritten: usize,
    /// Index segments that could not be read, left in place and out of
    /// the merge; the pass went on with the others.
    pub skipped: Vec<SkippedSegment>,
}

/// An index segment a compactor pass could not read. It is left where it
/// is (never deleted: its chunks may still be readable once it is
/// repaired), stays in the index, and the delete requests of its tenant
/// stay unprocessed until a pass reads every segment. See
/// [`CompactSummary`] for an example.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SkippedSegment {
    /// The tenant.
    pub tenant: String,
    /// The segment's path in the object store.
    pub path: String,
    /// Why it could not be read (usually [`Error::Corrupt`]).
    pub error: Arc<Error>,
}

/// What rewriting a chunk without deleted entries gave.
enum Rewrite {
    /// No entry was deleted: keep the chunk as it is.
    Unchanged,
    /// Every entry was deleted.
    Emptied,
    /// The chunk without its deleted entries, stored.
    Replaced(ChunkRef),
}

/// Active delete requests as `(selector, start, end)`.
pub(crate) type Deletions = Vec<(Selector, i64, i64)>;

/// Whether `ts` of a stream with `labels` is deleted.
pub(crate) fn is_deleted(deletions: &Deletions, labels: &Labels, ts: i64) -> bool {
    deletions
        .iter()
        .any(|(selector, start, end)| ts >= *start && ts <= *end && selector.matches(labels))
}

fn deletes_path(tenant: &str) -> String {
    format!("deletes/{tenant}.json")
}

impl Store {
    /// Records a delete request; queries hide the data at once.
    ///
    /// # Errors
    /// [`Error::InvalidTenant`], an empty range, object store errors.
    pub async fn add_delete_request(
        &self,
        tenant: &str,
        selector: &Selector,
        start: i64,
        end: i64,
    ) -> Result<DeleteRequest> {
        crate::tenant::validate_tenant(tenant)?;
        if start > end {
            return Err(Error::Config(format!(
                "delete range start {start} is after its end {end}"
            )));
        }
        let state = self.inner.tenant_for_delete(tenant);
        let _serial = self.inner.deletes_lock.lock().await;
        let mut requests = state.deletes.read().clone();
        let now = self.inner.config.clock.now();
        let request = DeleteRequest {
            id: format!("{:x}{:04x}", now, requests.len()),
            matchers: selector
                .matchers()
                .iter()
                .map(|m| {
                    (
                        m.name().to_owned(),
                        m.op().to_string(),
                        m.value().to_owned(),
                    )
                })
                .collect(),
            start,
            end,
            created: now,
            status: DeleteStatus::Received,
        };
        requests.push(request.clone());
        self.save_deletes(tenant, &state, requests).await?;
        Ok(request)
    }

    /// The tenant's delete requests, oldest first.
    pub fn delete_requests(&self, tenant: &str) -> Vec<DeleteRequest> {
        self.inner
            .tenants
            .read()
            .get(tenant)
            .map(|t| t.deletes.read().clone())
            .unwrap_or_default()
    }

    /// Cancels a request not yet processed; `false` if there is none such.
    ///
    /// # Errors
    /// Object store errors.
    pub async fn cancel_delete_request(&self, tenant: &str, id: &str) -> Result<bool> {
        let Some(state) = self.inner.tenants.read().get(tenant).cloned() else {
            return Ok(false);
        };
        let _serial = self.inner.deletes_lock.lock().await;
        let mut requests = state.deletes.read().clone();
        let Some(request) = requests
            .iter_mut()
            .find(|r| r.id == id && r.status == DeleteStatus::Received)
        else {
            return Ok(false);
        };
        request.status = DeleteStatus::Cancelled;
        self.save_deletes(tenant, &state, requests).await?;
        Ok(true)
    }

    async fn save_deletes(
        &self,
        tenant: &str,
        state: &Tenant,
        requests: Vec<DeleteRequest>,
    ) -> Result<()> {
        let json = serde_json::to_vec(&requests)
            .map_err(|e| Error::Config(format!("delete requests: {e}")))?;
        let path = self.inner.objects.plain_path(&deletes_path(tenant));
        self.inner.objects.put(&path, json.into()).await?;
        *state.deletes.write() = requests;
        Ok(())
    }

    /// Runs one compactor pass over every tenant: merges each period's index
    /// segments into one, dropping chunks past retention or wholly deleted
    /// and rewriting chunks a deletion covers in part. A period already in
    /// one segment that loses nothing is left as it is.
    ///
    /// # Errors
    /// Object store errors, corrupt chunks and segments; a failed pass leaves the old
    /// index in place and can simply be run again.
    pub async fn compact(&self) -> Result<CompactSummary> {
        let _serial = self.inner.flushing.lock().await;
        let tenants: Vec<Arc<Tenant>> = self.inner.tenants.read().values().cloned().collect();
        let mut summary = CompactSummary::default();
        for tenant in tenants {
            self.compact_tenant(&tenant, &mut summary).await?;
        }
        Ok(summary)
    }

    async fn compact_tenant(&self, tenant: &Tenant, summary: &mut CompactSummary) -> Result<()> {
        let inner = &self.inner;
        let now = inner.config.clock.now();
        let limits = inner.config.limits_for(&tenant.id).clone();
        let requests: Vec<DeleteRequest> = tenant
            .deletes
            .read()
            .iter()
            .filter(|r| r.is_active())
            .cloned()
            .collect();
        let deletions: Deletions = requests
            .iter()
            .map(|r| Ok((r.selector()?, r.start, r.end)))
            .collect::<Result<_>>()?;
        let index = tenant.index.read().clone();
        summary.segments_before += index.segments.len();
        // Group the segments by period (read through the segment cache,
        // one at a time, so the pass stays within its budget). A segment
        // that cannot be read is left in place and out of the merge, as
        // Loki's compactor logs a table it cannot compact and goes on.
        let cache = &inner.segment_cache;
        let mut unreadable: Vec<(usize, Error)> = Vec::new();
        let mut by_period: BTreeMap<(i64, i64), Vec<usize>> = BTreeMap::new();
        for (i, meta) in index.segments.iter().enumerate() {
            // Checked whole here (every checksum), so that a damaged
            // segment is left out before any of it is merged.
            let checked = cache.load(&inner.objects, meta).await.and_then(|segment| {
                segment.verify().map_err(|e| Error::Corrupt {
                    what: "index segment",
                    detail: format!("{}: {e}", meta.path),
                })?;
                Ok(segment)
            });
            match checked {
                Ok(segment) => {
                    let period = segment.period();
                    by_period
                        .entry((period.start, period.end))
                        .or_default()
                        .push(i);
                }
                Err(error) => unreadable.push((i, error)),
            }
        }
        let retention = |labels: &Labels| -> Option<i64> {
            let period = limits
                .retention_streams
                .iter()
                .find(|rule| rule.selector.matches(labels))
                .map(|rule| rule.period)
                .or(limits.retention_period)?;
            Some(
                now.saturating_sub(period.as_nanos().min(i64::MAX as u128) as i64)
                    .div_euclid(1_000_000),
            )
        };

        let mut kept_segments: Vec<Arc<SegmentMeta>> = Vec::new();
        let mut old_paths = Vec::new();
        let mut doomed_chunks: HashMap<String, loki_chunk::ChunkKey> = HashMap::new();
        let mut rewritten: HashSet<String> = HashSet::new();
        for ((start, end), members) in by_period {
            let period = TimeRange::new(start, end);
            let mut builder = SegmentBuilder::new();
            let mut rewrites: Vec<(Labels, ChunkRef)> = Vec::new();
            let mut merged_members = Vec::with_capacity(members.len());
            // Chunks the pass drops or rewrites in this period: a period
            // already in one segment that loses nothing is left as it is,
            // so that passes converge instead of renaming a lone segment
            // (and resetting its age) every time.
            let mut changed = 0usize;
            for &i in &members {
                let segment = match cache.load(&inner.objects, &index.segments[i]).await {
                    Ok(segment) => segment,
                    // Read a moment ago, unreadable now: left in place too.
                    Err(error) => {
                        unreadable.push((i, error));
                        continue;
                    }
                };
                merged_members.push(i);
                builder.add_segment(&segment, |labels, chunk| {
                    let fingerprint = loki_index::fingerprint(labels);
                    let key = chunk_key(&tenant.id, fingerprint, chunk);
                    let expired = retention(labels).is_some_and(|cutoff| chunk.through < cutoff);
                    let (from_ns, through_ns) =
                        (chunk.from * 1_000_000, chunk.through * 1_000_000 + 999_999);
                    let touched: Vec<&(Selector, i64, i64)> = deletions
                        .iter()
                        .filter(|(s, a, b)| *a <= through_ns && *b >= from_ns && s.matches(labels))
                        .collect();
                    let whole = touched
                        .iter()
                        .any(|(_, a, b)| *a <= from_ns && *b >= through_ns);
                    if expired || whole {
                        doomed_chunks.insert(key.to_string(), key);
                        changed += 1;
                        return true;
                    }
                    if !touched.is_empty() {
                        rewrites.push((labels.clone(), *chunk));
                        doomed_chunks.insert(key.to_string(), key);
                        return true;
                    }
                    false
                })?;
            }
            for (labels, chunk) in rewrites {
                let fingerprint = loki_index::fingerprint(&labels);
                let key = chunk_key(&tenant.id, fingerprint, &chunk);
                match self
                    .rewrite_chunk(&tenant.id, &labels, &key, &deletions)
                    .await?
                {
                    Rewrite::Unchanged => {
                        // The range touched the chunk's bounds but no entry.
                        doomed_chunks.remove(&key.to_string());
                        builder.add(&labels, chunk)?;
                    }
                    Rewrite::Replaced(new_ref) => {
                        // Identical content gets an identical key: never
                        // delete what the new index refers to.
                        doomed_chunks
                            .remove(&chunk_key(&tenant.id, fingerprint, &new_ref).to_string());
                        builder.add(&labels, new_ref)?;
                        rewritten.insert(key.to_string());
                        changed += 1;
                    }
                    Rewrite::Emptied => {
                        rewritten.insert(key.to_string());
                        changed += 1;
                    }
                }
            }
            if changed == 0 && merged_members.len() == 1 {
                kept_segments.push(index.segments[merged_members[0]].clone());
                continue;
            }
            let bytes = bytes::Bytes::from(builder.build(&tenant.id, period)?);
            let merged = Segment::open(bytes.clone())?;
            let member_paths = merged_members
                .iter()
                .map(|&i| index.segments[i].path.clone());
            if merged.series_count() > 0 {
                let sequence = format!("{:020}-compacted", now);
                let path = inner
                    .objects
                    .segment_path(&tenant.id, period.start, &sequence);
                inner.objects.put(&path, bytes.clone()).await?;
                old_paths.extend(member_paths.filter(|p| *p != path));
                kept_segments.push(Arc::new(SegmentMeta::written(
                    path.clone(),
                    period,
                    bytes.len() as u64,
                )));
                cache.insert(path, bytes);
            } else {
                old_paths.extend(member_paths);
            }
        }
        let all_read = unreadable.is_empty();
        for (i, error) in unreadable {
            let meta = &index.segments[i];
            tracing::warn!(tenant = %tenant.id, path = %meta.path, error = %error, "compactor: index segment unreadable, left in place");
            summary.skipped.push(SkippedSegment {
                tenant: tenant.id.to_string(),
                path: meta.path.to_string(),
                error: Arc::new(error),
            });
            kept_segments.push(meta.clone());
        }
        // The merged index is in place: now the old one and the chunks it
        // alone referenced can go.
        {
            let mut live = tenant.index.write();
            // Segments flushed during the pass are kept as they are.
            let mut segments = kept_segments;
            let added = live.segments.get(index.segments.len()..).unwrap_or(&[]);
            segments.extend(added.iter().cloned());
            live.segments = Arc::new(segments);
        }
        for path in &old_paths {
            inner.objects.delete(path).await?;
            cache.remove(path);
        }
        for (name, key) in &doomed_chunks {
            inner.objects.delete(&inner.objects.chunk_path(key)).await?;
            if !rewritten.contains(name) {
                summary.chunks_deleted += 1;
            }
        }
        summary.chunks_rewritten += rewritten.len();
        summary.segments_after += tenant.index.read().segments.len();
        // A skipped segment may still point at deleted data: its tenant's
        // requests are processed only by a pass that read everything.
        if all_read && requests.iter().any(|r| r.status == DeleteStatus::Received) {
            let _serial = inner.deletes_lock.lock().await;
            let mut all = tenant.deletes.read().clone();
            for r in all
                .iter_mut()
                .filter(|r| r.status == DeleteStatus::Received)
            {
                if requests.iter().any(|done| done.id == r.id) {
                    r.status = DeleteStatus::Processed;
                }
            }
            self.save_deletes(&tenant.id, tenant, all).await?;
        }
        Ok(())
    }

    /// Writes a chunk again without its deleted entries.
    async fn rewrite_chunk(
        &self,
        tenant: &str,
        labels: &Labels,
        key: &loki_chunk::ChunkKey,
        deletions: &Deletions,
    ) -> Result<Rewrite> {
        let chunk = self.fetch_chunk(key.clone()).await?;
        let chunk_error = |source| Error::Chunk {
            key: key.to_string(),
            source,
        };
        let mut builder = ChunkBuilder::with_options(self.inner.config.chunk.target_size(0))
            .map_err(chunk_error)?;
        let mut deleted = 0;
        {
            let mut entries = chunk.entries(i64::MIN, i64::MAX, Direction::Forward);
            while let Some(e) = entries.next().map_err(chunk_error)? {
                if is_deleted(deletions, labels, e.timestamp) {
                    deleted += 1;
                } else {
                    let metadata: Vec<(&str, &str)> = e.metadata.iter().collect();
                    let _ = builder
                        .append(e.timestamp, e.line, &metadata)
                        .map_err(chunk_error)?;
                }
            }
        }
        if deleted == 0 {
            return Ok(Rewrite::Unchanged);
        }
        let stats = builder.stats();
        let (Some(min), Some(max)) = (stats.min_time, stats.max_time) else {
            return Ok(Rewrite::Emptied);
        };
        let pairs: Vec<(&str, &str)> = labels.iter().collect();
        let bytes = builder.encode().map_err(chunk_error)?;
        let meta = ChunkObjectMeta::new(tenant, &pairs, min, max);
        let (object, new_key) = ChunkObject::encode(&meta, &bytes).map_err(chunk_error)?;
        let size = object.len();
        self.inner
            .objects
            .put(&self.inner.objects.chunk_path(&new_key), object)
            .await?;
        let stats = builder.stats();
        Ok(Rewrite::Replaced(ChunkRef {
            from: new_key.from_ms,
            through: new_key.through_ms,
            checksum: new_key.checksum,
            compressed_size: u32::try_from(size).unwrap_or(u32::MAX),
            entries: u32::try_from(stats.entries).unwrap_or(u32::MAX),
            uncompressed_size: stats.uncompressed_bytes,
        }))
    }
}
