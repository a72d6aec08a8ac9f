//! The lifecycler and ring watcher over the in-memory store, on tokio's
//! paused clock (no real sleeping).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use loki_ring::{
    get_ring_desc, CasFn, InstanceState, KvStore, Lifecycler, LifecyclerConfig, MemoryKv,
    Operation, RingConfig, RingDesc, RingWatcher, TokenStrategy, TokioClock, Watch,
};

const START: i64 = 1_700_000_000;

fn setup() -> (Arc<MemoryKv>, Arc<TokioClock>) {
    (
        Arc::new(MemoryKv::new()),
        Arc::new(TokioClock::starting_at(START)),
    )
}

async fn desc(kv: &MemoryKv) -> RingDesc {
    get_ring_desc(kv, "ring").await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn registers_joining_then_active() {
    let (kv, clock) = setup();
    let mut watch = kv.watch("ring").await.unwrap();
    assert_eq!(watch.next().await.unwrap().unwrap(), None);

    let cfg = LifecyclerConfig::new("ingester-1", "127.0.0.1:9095")
        .with_zone("zone-a")
        .with_observe_period(Duration::from_secs(10));
    let starting = tokio::spawn(Lifecycler::start(cfg, kv.clone(), clock));

    // First write: JOINING with 128 tokens.
    let value = watch.next().await.unwrap().unwrap().unwrap();
    let joining = RingDesc::decode_kv(&value).unwrap();
    let inst = joining.get("ingester-1").unwrap();
    assert_eq!(inst.state, InstanceState::Joining);
    assert_eq!(inst.tokens.len(), 128);
    assert_eq!(
        (inst.zone.as_str(), inst.addr.as_str()),
        ("zone-a", "127.0.0.1:9095")
    );
    assert_eq!((inst.timestamp, inst.registered_timestamp), (START, START));

    // After the observe period: ACTIVE, same tokens.
    let lc = starting.await.unwrap().unwrap();
    assert_eq!(lc.state(), InstanceState::Active);
    let active = desc(&kv).await;
    let inst = active.get("ingester-1").unwrap();
    assert_eq!(inst.state, InstanceState::Active);
    assert_eq!(inst.tokens, joining.get("ingester-1").unwrap().tokens);
    assert_eq!(inst.timestamp, START + 10);
    assert_eq!(lc.tokens(), inst.tokens);
    lc.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn heartbeats_every_period_then_leaves_and_unregisters() {
    let (kv, clock) = setup();
    let cfg =
        LifecyclerConfig::new("ingester-1", "a:1").with_heartbeat_period(Duration::from_secs(5));
    let lc = Lifecycler::start(cfg, kv.clone(), clock).await.unwrap();
    assert_eq!(lc.heartbeats(), 0);

    tokio::time::sleep(Duration::from_millis(15_500)).await;
    assert_eq!(lc.heartbeats(), 3);
    assert_eq!(lc.heartbeat_errors(), 0);
    assert_eq!(
        desc(&kv).await.get("ingester-1").unwrap().timestamp,
        START + 15
    );

    // LEAVING is written at once and kept by later heartbeats.
    lc.leave().await.unwrap();
    assert_eq!(
        desc(&kv).await.get("ingester-1").unwrap().state,
        InstanceState::Leaving
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let inst = desc(&kv).await.get("ingester-1").cloned().unwrap();
    assert_eq!(
        (inst.state, inst.timestamp),
        (InstanceState::Leaving, START + 20)
    );
    assert_eq!(lc.heartbeats(), 4);

    lc.shutdown().await.unwrap();
    assert!(desc(&kv).await.is_empty());
}

/// A store that records every value written, so a test sees each state
/// even when a watch would coalesce them.
#[derive(Debug, Default)]
struct RecordingKv {
    inner: MemoryKv,
    written: Mutex<Vec<Option<Bytes>>>,
}

#[async_trait::async_trait]
impl KvStore for RecordingKv {
    fn backend(&self) -> &'static str {
        "recording"
    }
    async fn get(&self, key: &str) -> loki_ring::Result<Option<Bytes>> {
        self.inner.get(key).await
    }
    async fn cas(&self, key: &str, update: &mut CasFn<'_>) -> loki_ring::Result<Option<Bytes>> {
        let stored = self.inner.cas(key, update).await?;
        self.written.lock().unwrap().push(stored.clone());
        Ok(stored)
    }
    async fn watch(&self, key: &str) -> loki_ring::Result<Watch> {
        self.inner.watch(key).await
    }
}

#[tokio::test(start_paused = true)]
async fn lifecycle_writes_joining_active_heartbeats_leaving_then_removal() {
    let kv = Arc::new(RecordingKv::default());
    let clock = Arc::new(TokioClock::starting_at(START));
    let cfg = LifecyclerConfig::new("i", "a:1").with_heartbeat_period(Duration::from_secs(5));
    let lc = Lifecycler::start(cfg, kv.clone(), clock).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    lc.shutdown().await.unwrap();

    let states: Vec<Option<(InstanceState, i64)>> = kv
        .written
        .lock()
        .unwrap()
        .iter()
        .map(|v| {
            let d = RingDesc::decode_kv(v.as_ref().unwrap()).unwrap();
            d.get("i").map(|i| (i.state, i.timestamp - START))
        })
        .collect();
    use InstanceState::*;
    assert_eq!(
        states,
        [
            Some((Joining, 0)),
            Some((Active, 0)),
            Some((Active, 5)),
            Some((Active, 10)),
            Some((Leaving, 10)),
            None
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn restart_takes_over_a_leaving_entry_with_its_tokens() {
    let (kv, clock) = setup();
    let cfg = LifecyclerConfig::new("ingester-1", "a:1").with_unregister_on_shutdown(false);
    let lc = Lifecycler::start(cfg.clone(), kv.clone(), clock.clone())
        .await
        .unwrap();
    let tokens = lc.tokens();
    lc.shutdown().await.unwrap();
    let left = desc(&kv).await;
    assert_eq!(
        left.get("ingester-1").unwrap().state,
        InstanceState::Leaving
    );

    let lc = Lifecycler::start(cfg, kv.clone(), clock).await.unwrap();
    assert_eq!(lc.tokens(), tokens);
    assert_eq!(
        desc(&kv).await.get("ingester-1").unwrap().state,
        InstanceState::Active
    );
    drop(lc);
}

#[tokio::test(start_paused = true)]
async fn concurrent_joiners_never_share_tokens() {
    let (kv, clock) = setup();
    let mut starts = Vec::new();
    for n in 0..5 {
        let cfg = LifecyclerConfig::new(format!("ingester-{n}"), format!("a:{n}"))
            .with_token_strategy(TokenStrategy::Seeded(7)); // same seed on purpose
        starts.push(tokio::spawn(Lifecycler::start(
            cfg,
            kv.clone(),
            clock.clone(),
        )));
    }
    let mut lcs = Vec::new();
    for s in starts {
        lcs.push(s.await.unwrap().unwrap());
    }
    let d = desc(&kv).await;
    assert_eq!(d.len(), 5);
    let all: Vec<u32> = d
        .instances
        .values()
        .flat_map(|i| i.tokens.clone())
        .collect();
    let unique: HashSet<u32> = all.iter().copied().collect();
    assert_eq!(all.len(), 5 * 128);
    assert_eq!(unique.len(), all.len());
    for lc in lcs {
        lc.shutdown().await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn balanced_lifecyclers_build_an_even_ring() {
    let (kv, clock) = setup();
    let mut lcs = Vec::new();
    for n in 0..4 {
        let cfg = LifecyclerConfig::new(format!("ingester-{n}"), "a:1")
            .with_token_strategy(TokenStrategy::Balanced);
        lcs.push(
            Lifecycler::start(cfg, kv.clone(), clock.clone())
                .await
                .unwrap(),
        );
    }
    let ring = loki_ring::Ring::new(&desc(&kv).await, RingConfig::default(), START).unwrap();
    assert!(ring.ownership().spread() < 1.05, "{:?}", ring.ownership());
    drop(lcs);
}

#[tokio::test(start_paused = true)]
async fn a_crashed_instance_turns_unhealthy_after_the_timeout() {
    let (kv, clock) = setup();
    let watcher_kv: Arc<dyn KvStore> = kv.clone();
    let mut watcher = RingWatcher::start(watcher_kv, "ring", RingConfig::default(), clock.clone())
        .await
        .unwrap();
    let crashed = Lifecycler::start(
        LifecyclerConfig::new("crashed", "a:1"),
        kv.clone(),
        clock.clone(),
    )
    .await
    .unwrap();
    let alive = Lifecycler::start(
        LifecyclerConfig::new("alive", "b:1"),
        kv.clone(),
        clock.clone(),
    )
    .await
    .unwrap();
    while watcher.ring().healthy_count(Operation::WRITE) < 2 {
        watcher.changed().await.unwrap();
    }
    drop(crashed); // no shutdown: heartbeats stop, the entry stays

    tokio::time::sleep(Duration::from_secs(61)).await;
    let ring = watcher.ring();
    assert_eq!(ring.instances().len(), 2);
    assert_eq!(ring.healthy_count(Operation::WRITE), 1);
    let idx = ring.index_of("crashed").unwrap();
    assert!(!ring.is_healthy(idx, Operation::READ));
    assert!(ring.is_healthy(ring.index_of("alive").unwrap(), Operation::WRITE));
    assert_eq!(alive.heartbeats(), 12);
    alive.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn bad_config_is_rejected() {
    let (kv, clock) = setup();
    let err = Lifecycler::start(LifecyclerConfig::new("", "a:1"), kv.clone(), clock.clone())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), loki_ring::ErrorKind::InvalidInput);
    let err = Lifecycler::start(
        LifecyclerConfig::new("x", "a:1").with_heartbeat_period(Duration::ZERO),
        kv.clone(),
        clock,
    )
    .await
    .unwrap_err();
    assert!(matches!(
        err,
        loki_ring::Error::InvalidConfig {
            field: "heartbeat_period",
            ..
        }
    ));
}
