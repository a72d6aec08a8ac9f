//! The compactor of distributed mode, and how it shares the object store
//! with processes that keep reading and writing it.
//!
//! It runs every `compactor.compaction_interval`: it lists the index
//! segments, keeps only those written at least
//! `-compactor.min-segment-age` ago ([`Store::adopt_settled_segments`]),
//! and compacts them as a single process would (merging each period's
//! segments into one, applying retention and delete requests, then
//! deleting the merged segments and the chunks no longer referenced).
//! It is also the one process that writes delete requests: it answers
//! the delete API.
//!
//! Why a merged segment is never one a process still needs:
//! - a querier lists the segments at most [`SEGMENTS_MAX_AGE`] before a
//!   read, so a segment older than that is in its list, and the merged
//!   segment replaces it at the next listing;
//! - an ingester answers for the segments it flushed only for
//!   [`INGESTER_FORGETS_AFTER`] (after that, queriers list them), checked
//!   every second;
//! - the compactor touches nothing younger than its minimum age, which
//!   must be above both ([`MIN_SEGMENT_AGE_FLOOR`]), with room for clock
//!   skew between machines (segment times are the writer's clock).
//!
//! A querier whose read still meets a deleted segment (a listing taken
//! just before the compactor deleted it) lists again and retries once.
//! Delete requests are one JSON object per tenant that only the compactor
//! writes; a querier reads its tenants' requests before every query and
//! drops what they cover from the ingesters' answers too, so data is
//! hidden as soon as the request is acknowledged.
//!
//! [`SEGMENTS_MAX_AGE`]: super::querier::SEGMENTS_MAX_AGE
//! [`Store::adopt_settled_segments`]: loki_store::Store::adopt_settled_segments

use std::time::Duration;

use crate::server::AppState;

/// How long an ingester answers for a segment it flushed.
pub(crate) const INGESTER_FORGETS_AFTER: Duration = Duration::from_secs(3);

/// The least `-compactor.min-segment-age` accepted.
pub(crate) const MIN_SEGMENT_AGE_FLOOR: Duration = Duration::from_secs(5);

/// Compacts the settled segments every `compactor.compaction_interval`
/// until `shutdown`.
pub(crate) async fn compaction_loop(state: AppState, shutdown: tokio::sync::oneshot::Receiver<()>) {
    let period = state.compaction_interval();
    let min_age = state.config.ring.compactor_min_segment_age.0;
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tick.tick() => {
                let pass = async {
                    state.store.adopt_settled_segments(min_age).await?;
                    state.store.compact().await
                };
                match pass.await {
                    Ok(summary) => tracing::debug!(?summary, "compaction pass"),
                    Err(err) => tracing::error!(error = %err, "compaction failed"),
                }
            }
        }
    }
}
