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
//! One compactor leads: compactors join a ring of their own (one token
//! each, under [`ring_key`]), and the ACTIVE one with a fresh heartbeat and
//! the lowest token compacts, as Loki's compactor ring elects the owner of
//! key 0. The others skip their passes and hand the delete API on to the
//! leader ([`to_leader`]); a compactor that becomes the leader re-reads
//! every tenant's delete requests before each pass, so it applies what
//! the previous one recorded. A leader that dies without leaving is
//! replaced once its heartbeat is older than the ring's timeout.
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

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use loki_ring::{InstanceState, Operation, Ring};

use crate::server::{ApiError, AppState};

/// Marks a delete API call one compactor handed on to another: it is
/// answered where it arrives, so two compactors whose rings briefly
/// disagree never pass a call back and forth.
const FORWARDED_HEADER: &str = "x-loki-compactor-forwarded";

/// The largest delete API body handed on (its parameters as a form).
const MAX_FORWARDED_BODY: usize = 1 << 20;

/// The compactor ring's key in the KV store (`compactor` beside the
/// default `ring`, as Loki names it).
pub(crate) fn ring_key(key: &str) -> String {
    if key == "ring" {
        "compactor".to_owned()
    } else {
        format!("{key}-compactor")
    }
}

/// The leading compactor of `ring`: among the ACTIVE instances whose
/// heartbeat is fresh, the one holding the lowest token. Its ID and
/// address; `None` while there is none.
pub(crate) fn leader(ring: &Ring) -> Option<(&str, &str)> {
    let active = Operation::new(&[InstanceState::Active], &[]);
    (0..ring.instances().len())
        .filter(|&i| ring.is_healthy(i, active))
        .filter_map(|i| {
            let instance = ring.instance(i)?;
            Some((*instance.tokens.first()?, instance))
        })
        .min_by_key(|(token, _)| *token)
        .map(|(_, instance)| (instance.id.as_str(), instance.addr.as_str()))
}

/// Who leads, as this compactor sees it.
enum Role<'a> {
    /// This process (or a single process, which has no compactor ring).
    Leader,
    /// Another compactor, at `addr`, reached through this one's cluster.
    Follower {
        cluster: &'a super::Cluster,
        addr: String,
    },
    /// None yet (no compactor is ACTIVE with a fresh heartbeat).
    Unknown,
}

fn role(state: &AppState) -> Role<'_> {
    let Some(cluster) = &state.cluster else {
        return Role::Leader;
    };
    let Some(compactors) = &cluster.compactors else {
        return Role::Leader;
    };
    let ring = compactors.ring();
    match leader(&ring) {
        Some((id, _)) if id == cluster.instance_id => Role::Leader,
        Some((_, addr)) => Role::Follower {
            cluster,
            addr: addr.to_owned(),
        },
        None => Role::Unknown,
    }
}

/// The delete API of a compactor that does not lead: each call is handed
/// on to the leader and its answer returned (the leader alone records
/// and applies delete requests). The leader, a single process, and a call
/// another compactor already handed on are served here.
pub(crate) async fn to_leader(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if request.headers().contains_key(FORWARDED_HEADER) {
        return next.run(request).await;
    }
    let (cluster, addr) = match role(&state) {
        Role::Leader => return next.run(request).await,
        Role::Follower { cluster, addr } => (cluster, addr),
        Role::Unknown => return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no compactor leads yet: none is ACTIVE in the compactor ring with a fresh heartbeat",
        )
        .into_response(),
    };
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_FORWARDED_BODY).await {
        Ok(body) => body,
        Err(e) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("reading the request: {e}"),
            )
            .into_response()
        }
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or(parts.uri.path(), |p| p.as_str());
    match cluster
        .client
        .forward(
            &addr,
            parts.method,
            path,
            &parts.headers,
            FORWARDED_HEADER,
            body,
        )
        .await
    {
        Ok(response) => response,
        Err(e) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("handing the delete request on to the leading compactor at {addr}: {e}"),
        )
        .into_response(),
    }
}

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
                if !matches!(role(&state), Role::Leader) {
                    tracing::debug!("compaction pass skipped: another compactor leads");
                    continue;
                }
                let pass = async {
                    // Another compactor may have led and recorded requests.
                    state.store.refresh_all_delete_requests().await?;
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
