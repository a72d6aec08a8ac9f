//! The test suite every [`KvStore`] implementation must pass.
//!
//! **Unstable**: public only with the `integration` feature, for this
//! crate's own tests and for other implementations of the trait. Each
//! function panics on a failed check. Keys are prefixed with the given
//! prefix so runs against a shared server do not collide; the caller
//! should use a fresh prefix per run.

// Public through `loki_ring::suite` with the `integration` feature; only
// crate-visible in this crate's own tests.
#![allow(unreachable_pub)]

use std::time::Duration;

use bytes::Bytes;

use crate::kv::{KvStore, Update};
use crate::{Error, InstanceDesc, InstanceState};

/// How long a watch may take to report a change before the suite fails.
const WATCH_DEADLINE: Duration = Duration::from_secs(10);

/// Runs every check of the suite.
pub async fn run_all(kv: &dyn KvStore, prefix: &str) {
    get_put_delete(kv, &format!("{prefix}get_put_delete")).await;
    closure_errors_propagate(kv, &format!("{prefix}closure_errors")).await;
    concurrent_cas_loses_no_update(kv, &format!("{prefix}concurrent")).await;
    watch_reports_current_then_changes(kv, &format!("{prefix}watch")).await;
    ring_desc_round_trips(kv, &format!("{prefix}ring")).await;
}

/// Absent keys read as `None`; `Put`, `Keep` and `Delete` do what they say.
pub async fn get_put_delete(kv: &dyn KvStore, key: &str) {
    assert_eq!(kv.get(key).await.unwrap(), None, "{key} starts absent");
    let stored = kv
        .cas(key, &mut |cur| {
            assert_eq!(cur, None);
            Ok(Update::Put(Bytes::from_static(b"one")))
        })
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some(&b"one"[..]));
    assert_eq!(kv.get(key).await.unwrap().as_deref(), Some(&b"one"[..]));

    let kept = kv.cas(key, &mut |_| Ok(Update::Keep)).await.unwrap();
    assert_eq!(kept.as_deref(), Some(&b"one"[..]), "Keep returns the value");
    assert_eq!(kv.get(key).await.unwrap().as_deref(), Some(&b"one"[..]));

    let gone = kv.cas(key, &mut |_| Ok(Update::Delete)).await.unwrap();
    assert_eq!(gone, None);
    assert_eq!(kv.get(key).await.unwrap(), None, "deleted");
    // Deleting an absent key is not an error.
    assert_eq!(
        kv.cas(key, &mut |_| Ok(Update::Delete)).await.unwrap(),
        None
    );
}

/// An error from the closure is returned unchanged and writes nothing.
pub async fn closure_errors_propagate(kv: &dyn KvStore, key: &str) {
    let err = kv
        .cas(key, &mut |_| {
            Err(Error::InstanceNotFound {
                id: "nobody".into(),
            })
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InstanceNotFound { .. }), "{err}");
    assert_eq!(kv.get(key).await.unwrap(), None);
}

/// Concurrent read-modify-write loops lose no increment.
pub async fn concurrent_cas_loses_no_update(kv: &dyn KvStore, key: &str) {
    async fn bump(kv: &dyn KvStore, key: &str, times: u32) {
        for _ in 0..times {
            kv.cas(key, &mut |cur| {
                let n: u32 = match cur {
                    Some(b) => std::str::from_utf8(b).unwrap().parse().unwrap(),
                    None => 0,
                };
                Ok(Update::Put(Bytes::from((n + 1).to_string())))
            })
            .await
            .unwrap();
        }
    }
    tokio::join!(
        bump(kv, key, 5),
        bump(kv, key, 5),
        bump(kv, key, 5),
        bump(kv, key, 5)
    );
    assert_eq!(kv.get(key).await.unwrap(), Some(Bytes::from("20")));
    kv.cas(key, &mut |_| Ok(Update::Delete)).await.unwrap();
}

/// A watch yields the current value first, then each change.
pub async fn watch_reports_current_then_changes(kv: &dyn KvStore, key: &str) {
    kv.cas(key, &mut |_| Ok(Update::Put(Bytes::from_static(b"v1"))))
        .await
        .unwrap();
    let mut watch = kv.watch(key).await.unwrap();
    assert_eq!(next(&mut watch).await.as_deref(), Some(&b"v1"[..]));
    kv.cas(key, &mut |_| Ok(Update::Put(Bytes::from_static(b"v2"))))
        .await
        .unwrap();
    assert_eq!(next(&mut watch).await.as_deref(), Some(&b"v2"[..]));
    kv.cas(key, &mut |_| Ok(Update::Delete)).await.unwrap();
    assert_eq!(next(&mut watch).await, None);
}

async fn next(watch: &mut crate::Watch) -> Option<Bytes> {
    tokio::time::timeout(WATCH_DEADLINE, watch.next())
        .await
        .expect("watch reports within the deadline")
        .expect("watch still open")
        .unwrap()
}

/// Ring descriptions survive the store byte for byte.
pub async fn ring_desc_round_trips(kv: &dyn KvStore, key: &str) {
    let desc = crate::update_ring_desc(kv, key, &mut |d| {
        d.upsert(
            InstanceDesc::new("ingester-1", "127.0.0.1:9095", "z1")
                .with_state(InstanceState::Joining)
                .with_tokens(vec![3, 1, 2])
                .with_timestamp(1_700_000_000),
        );
        Ok(true)
    })
    .await
    .unwrap();
    let back = crate::get_ring_desc(kv, key).await.unwrap();
    assert_eq!(back, desc);
    assert_eq!(back.get("ingester-1").unwrap().tokens, vec![1, 2, 3]);
    kv.cas(key, &mut |_| Ok(Update::Delete)).await.unwrap();
}
