//! The conformance suite every object store backend runs.
//!
//! **Unstable**: this module exists for testing backends (behind the
//! `integration` feature) and may change in any release. Each function
//! takes a factory of configurations that all point at the same, initially
//! empty, storage location, opens engines on it, and panics on the first
//! behaviour that differs from the filesystem store's.
//!
//! ```
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! use std::sync::Arc;
//! use loki_store::{integration, StoreConfig};
//!
//! let shared: Arc<dyn object_store::ObjectStore> = Arc::new(object_store::memory::InMemory::new());
//! integration::run_all(|| {
//!     let mut config = StoreConfig::in_memory();
//!     config.object_store = Some(shared.clone());
//!     config
//! })
//! .await;
//! # });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use loki_chunk::Direction;
use loki_index::{Labels, MatchOp, Matcher, Selector};

use crate::{Clock, Limits, PushEntry, PushStream, Store, StoreConfig};

const BASE: i64 = 1_700_000_000_000_000_000;
const SECOND: i64 = 1_000_000_000;

fn prepared(make: &impl Fn() -> StoreConfig) -> StoreConfig {
    let mut config = make();
    config.limits = Limits::unlimited();
    config.clock = Clock::from_fn(|| BASE + 3_600 * SECOND);
    config
}

fn selector(name: &str, value: &str) -> Selector {
    Selector::new(vec![
        Matcher::new(name, MatchOp::Equal, value).expect("a valid matcher")
    ])
    .expect("a valid selector")
}

async fn lines(store: &Store, tenant: &str, sel: &Selector) -> Vec<String> {
    store
        .select(tenant, sel, 0, i64::MAX, Direction::Forward, usize::MAX)
        .await
        .expect("select")
        .into_iter()
        .flat_map(|s| s.entries.into_iter().map(|e| e.line))
        .collect()
}

/// Runs every check of the suite, in order, on the same location.
pub async fn run_all(make: impl Fn() -> StoreConfig) {
    flushed_data_survives_a_restart(&make).await;
    tenants_are_isolated(&make).await;
    deletions_and_compaction_persist(&make).await;
}

/// Pushes, flushes, reopens: every entry, label and series is read back
/// from the object store alone.
pub async fn flushed_data_survives_a_restart(make: &impl Fn() -> StoreConfig) {
    let store = Store::open(prepared(make)).await.expect("open");
    let mut streams = Vec::new();
    for app in ["shop", "cart"] {
        let entries = (0..100)
            .map(|i| PushEntry::new(BASE + i * SECOND, format!("{app} line {i}")))
            .collect();
        streams.push(PushStream {
            labels: Labels::new([("app", app), ("env", "prod")]).expect("labels"),
            entries,
        });
    }
    let summary = store
        .push_at("conformance-a", streams, BASE)
        .await
        .expect("push");
    assert_eq!(summary.accepted, 200);
    let flushed = store.flush(true).await.expect("flush");
    assert_eq!(flushed.chunks, 2);
    assert!(flushed.segments >= 1);
    drop(store);

    let store = Store::open(prepared(make)).await.expect("reopen");
    let shop = lines(&store, "conformance-a", &selector("app", "shop")).await;
    assert_eq!(shop.len(), 100);
    assert_eq!(shop[0], "shop line 0");
    let values = store
        .label_values("conformance-a", "app", None, 0, i64::MAX)
        .await
        .expect("label values");
    assert_eq!(values, ["cart", "shop"]);
    let series = store
        .series("conformance-a", Some(&selector("env", "prod")), 0, i64::MAX)
        .await
        .expect("series");
    assert_eq!(series.len(), 2);
}

/// Another tenant's data is never visible, stored or not.
pub async fn tenants_are_isolated(make: &impl Fn() -> StoreConfig) {
    let store = Store::open(prepared(make)).await.expect("open");
    let labels = Labels::new([("app", "shop"), ("env", "prod")]).expect("labels");
    let entries = vec![PushEntry::new(BASE, "tenant b's secret")];
    store
        .push_at("conformance-b", vec![PushStream { labels, entries }], BASE)
        .await
        .expect("push");
    store.flush(true).await.expect("flush");
    let a = lines(&store, "conformance-a", &selector("app", "shop")).await;
    assert!(!a.iter().any(|l| l.contains("secret")));
    assert_eq!(
        lines(&store, "conformance-b", &selector("app", "shop")).await,
        ["tenant b's secret"]
    );
}

/// A delete request hides data at once; the compactor removes it from the
/// store; both hold after a restart.
pub async fn deletions_and_compaction_persist(make: &impl Fn() -> StoreConfig) {
    let store = Store::open(prepared(make)).await.expect("open");
    let sel = selector("app", "cart");
    store
        .add_delete_request("conformance-a", &sel, BASE, BASE + 49 * SECOND)
        .await
        .expect("delete request");
    assert_eq!(lines(&store, "conformance-a", &sel).await.len(), 50);
    store.compact().await.expect("compact");
    drop(store);
    let store = Store::open(prepared(make)).await.expect("reopen");
    let cart = lines(&store, "conformance-a", &sel).await;
    assert_eq!(cart.len(), 50);
    assert_eq!(cart[0], "cart line 50");
    assert_eq!(
        lines(&store, "conformance-a", &selector("app", "shop"))
            .await
            .len(),
        100
    );
    assert_eq!(store.delete_requests("conformance-a").len(), 1);
}
