//! The lifecycler: registers an instance in the ring, heartbeats, and
//! leaves on shutdown.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::kv::update_ring_desc;
use crate::token::DEFAULT_NUM_TOKENS;
use crate::{
    balanced_tokens, Clock, Error, InstanceDesc, InstanceState, KvStore, Result, RingDesc,
    TokenGenerator, TokenStrategy,
};

/// How a [`Lifecycler`] registers its instance (dskit's lifecycler
/// config; defaults as Loki ships them for ingesters).
///
/// ```
/// use std::time::Duration;
/// use loki_ring::LifecyclerConfig;
///
/// let cfg = LifecyclerConfig::new("ingester-1", "10.0.0.1:9095").with_zone("zone-a");
/// assert_eq!(cfg.ring_key, "ring");
/// assert_eq!(cfg.num_tokens, 128);
/// assert_eq!(cfg.heartbeat_period, Duration::from_secs(5));
/// assert!(cfg.unregister_on_shutdown);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecyclerConfig {
    /// Instance ID.
    pub id: String,
    /// Address other components reach the instance at.
    pub addr: String,
    /// Availability zone (`""` for none).
    pub zone: String,
    /// KV key of the ring (default `"ring"`; the store adds its prefix).
    pub ring_key: String,
    /// Tokens to own (default 128).
    pub num_tokens: usize,
    /// Time between heartbeats (default 5s).
    pub heartbeat_period: Duration,
    /// Time spent JOINING, watching for token conflicts, before going
    /// ACTIVE (default 0).
    pub observe_period: Duration,
    /// Remove the entry on shutdown (default true); otherwise it stays,
    /// LEAVING, to be taken over on restart.
    pub unregister_on_shutdown: bool,
    /// Tokens to start from (e.g. read from a tokens file); kept where no
    /// other instance holds them, then topped up or trimmed to
    /// `num_tokens`.
    pub tokens: Vec<u32>,
    /// How new tokens are drawn (default random, as Loki).
    pub token_strategy: TokenStrategy,
}

impl LifecyclerConfig {
    /// Defaults for an instance with this ID and address.
    pub fn new(id: impl Into<String>, addr: impl Into<String>) -> LifecyclerConfig {
        LifecyclerConfig {
            id: id.into(),
            addr: addr.into(),
            zone: String::new(),
            ring_key: "ring".to_string(),
            num_tokens: DEFAULT_NUM_TOKENS,
            heartbeat_period: Duration::from_secs(5),
            observe_period: Duration::ZERO,
            unregister_on_shutdown: true,
            tokens: Vec::new(),
            token_strategy: TokenStrategy::Random,
        }
    }

    /// Sets the zone.
    pub fn with_zone(mut self, zone: impl Into<String>) -> Self {
        self.zone = zone.into();
        self
    }

    /// Sets the ring key.
    pub fn with_ring_key(mut self, key: impl Into<String>) -> Self {
        self.ring_key = key.into();
        self
    }

    /// Sets the number of tokens.
    pub fn with_num_tokens(mut self, n: usize) -> Self {
        self.num_tokens = n;
        self
    }

    /// Sets the heartbeat period.
    pub fn with_heartbeat_period(mut self, period: Duration) -> Self {
        self.heartbeat_period = period;
        self
    }

    /// Sets the observe period.
    pub fn with_observe_period(mut self, period: Duration) -> Self {
        self.observe_period = period;
        self
    }

    /// Sets whether shutdown removes the entry.
    pub fn with_unregister_on_shutdown(mut self, on: bool) -> Self {
        self.unregister_on_shutdown = on;
        self
    }

    /// Sets the tokens to start from.
    pub fn with_tokens(mut self, tokens: Vec<u32>) -> Self {
        self.tokens = tokens;
        self
    }

    /// Sets how new tokens are drawn.
    pub fn with_token_strategy(mut self, strategy: TokenStrategy) -> Self {
        self.token_strategy = strategy;
        self
    }

    fn validate(&self) -> Result<()> {
        if self.id.is_empty() {
            return Err(Error::config("id", "must not be empty"));
        }
        if self.num_tokens == 0 {
            return Err(Error::config("num_tokens", "must be at least 1"));
        }
        if self.heartbeat_period.is_zero() {
            return Err(Error::config("heartbeat_period", "must be positive"));
        }
        Ok(())
    }
}

#[derive(Debug)]
struct Shared {
    state: Mutex<(InstanceState, Vec<u32>)>,
    heartbeats: AtomicU64,
    heartbeat_errors: AtomicU64,
}

#[derive(Debug)]
struct Ctx {
    config: LifecyclerConfig,
    kv: Arc<dyn KvStore>,
    clock: Arc<dyn Clock>,
    shared: Shared,
    /// Serialises entry writes, so a heartbeat never rewrites a state
    /// older than one just written.
    write_lock: tokio::sync::Mutex<()>,
}

/// Keeps one instance's entry in the ring: registers it (JOINING, then
/// ACTIVE), heartbeats every period from a tokio task, and on shutdown
/// marks it LEAVING and removes it.
///
/// Every write is a compare-and-swap of the whole ring description that
/// changes only this instance's entry, so lifecyclers of many instances
/// share one key safely. A heartbeat rewrites the entry from the
/// lifecycler's own view (state, tokens, address, zone): an entry removed
/// by someone else comes back at the next heartbeat, as with dskit. A
/// failed heartbeat is counted ([`Lifecycler::heartbeat_errors`]) and
/// retried at the next period.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build()?.block_on(async {
/// use std::sync::Arc;
/// use loki_ring::{get_ring_desc, InstanceState, Lifecycler, LifecyclerConfig, MemoryKv, TokioClock};
///
/// let kv = Arc::new(MemoryKv::new());
/// let clock = Arc::new(TokioClock::starting_at(1_700_000_000));
/// let lc = Lifecycler::start(LifecyclerConfig::new("ingester-1", "127.0.0.1:9095"), kv.clone(), clock).await?;
/// assert_eq!(lc.state(), InstanceState::Active);
///
/// let desc = get_ring_desc(kv.as_ref(), "ring").await?;
/// assert_eq!(desc.get("ingester-1").unwrap().tokens.len(), 128);
///
/// lc.shutdown().await?; // LEAVING, then removed
/// assert!(get_ring_desc(kv.as_ref(), "ring").await?.is_empty());
/// # Ok::<(), loki_ring::Error>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Lifecycler {
    ctx: Arc<Ctx>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Lifecycler {
    /// Registers the instance and starts heartbeating. Returns once the
    /// instance is ACTIVE (after the observe period, if any).
    ///
    /// An entry left by an earlier run of the same ID (e.g. LEAVING after
    /// a crash) is taken over with its tokens.
    pub async fn start(
        config: LifecyclerConfig,
        kv: Arc<dyn KvStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Lifecycler> {
        config.validate()?;
        let ctx = Arc::new(Ctx {
            config,
            kv,
            clock,
            shared: Shared {
                state: Mutex::new((InstanceState::Pending, Vec::new())),
                heartbeats: AtomicU64::new(0),
                heartbeat_errors: AtomicU64::new(0),
            },
            write_lock: tokio::sync::Mutex::new(()),
        });
        let mut generator = match ctx.config.token_strategy {
            TokenStrategy::Seeded(seed) => TokenGenerator::seeded(seed),
            TokenStrategy::Random | TokenStrategy::Balanced => TokenGenerator::random(),
        };

        // Register as JOINING with tokens no other instance holds.
        ctx.write(Some(InstanceState::Joining), Some(&mut generator))
            .await?;
        if !ctx.config.observe_period.is_zero() {
            tokio::time::sleep(ctx.config.observe_period).await;
        }
        // Re-check the tokens (another instance may have claimed some
        // meanwhile) and go ACTIVE.
        ctx.write(Some(InstanceState::Active), Some(&mut generator))
            .await?;

        let (stop_tx, mut stop_rx) = oneshot::channel();
        let task_ctx = Arc::clone(&ctx);
        let task = tokio::spawn(async move {
            let period = task_ctx.config.heartbeat_period;
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {
                        match task_ctx.write(None, None).await {
                            Ok(()) => task_ctx.shared.heartbeats.fetch_add(1, Ordering::Relaxed),
                            Err(_) => task_ctx.shared.heartbeat_errors.fetch_add(1, Ordering::Relaxed),
                        };
                    }
                    _ = &mut stop_rx => return,
                }
            }
        });
        Ok(Lifecycler {
            ctx,
            stop: Some(stop_tx),
            task: Some(task),
        })
    }

    /// The instance ID.
    pub fn id(&self) -> &str {
        &self.ctx.config.id
    }

    /// The state last written.
    pub fn state(&self) -> InstanceState {
        self.ctx.shared.state.lock().0
    }

    /// The instance's tokens.
    pub fn tokens(&self) -> Vec<u32> {
        self.ctx.shared.state.lock().1.clone()
    }

    /// Heartbeats written so far (registration not counted).
    pub fn heartbeats(&self) -> u64 {
        self.ctx.shared.heartbeats.load(Ordering::Relaxed)
    }

    /// Heartbeats that failed (the KV store was unreachable); the next
    /// period tries again.
    pub fn heartbeat_errors(&self) -> u64 {
        self.ctx.shared.heartbeat_errors.load(Ordering::Relaxed)
    }

    /// Marks the instance LEAVING (readable, no longer written to) and
    /// keeps heartbeating, so the caller can flush before
    /// [`Lifecycler::shutdown`].
    pub async fn leave(&self) -> Result<()> {
        self.ctx.write(Some(InstanceState::Leaving), None).await
    }

    /// Leaves the ring: LEAVING (if not already), stops heartbeating, then
    /// removes the entry (or leaves it LEAVING when
    /// `unregister_on_shutdown` is off).
    pub async fn shutdown(mut self) -> Result<()> {
        if self.state() != InstanceState::Leaving {
            self.ctx.write(Some(InstanceState::Leaving), None).await?;
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        if self.ctx.config.unregister_on_shutdown {
            let id = self.ctx.config.id.clone();
            update_ring_desc(
                self.ctx.kv.as_ref(),
                &self.ctx.config.ring_key,
                &mut |desc| Ok(desc.remove(&id).is_some()),
            )
            .await?;
        }
        Ok(())
    }
}

impl Drop for Lifecycler {
    fn drop(&mut self) {
        // Dropped without shutdown: stop heartbeating; the entry stays and
        // ages into UNHEALTHY, as after a crash.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Ctx {
    /// Writes this instance's entry with `state` (the current one when
    /// `None`: a heartbeat) and `timestamp = now`. With a generator,
    /// (re)computes the tokens first: keep those still ours, drop those
    /// another instance holds, top up or trim to `num_tokens`.
    async fn write(
        &self,
        state: Option<InstanceState>,
        generator: Option<&mut TokenGenerator>,
    ) -> Result<()> {
        let _serialised = self.write_lock.lock().await;
        let cfg = &self.config;
        let now = self.clock.now_unix();
        let (current_state, local_tokens) = self.shared.state.lock().clone();
        let state = state.unwrap_or(current_state);
        let mut generator = generator;
        let mut written_tokens = Vec::new();
        update_ring_desc(self.kv.as_ref(), &cfg.ring_key, &mut |desc| {
            let existing = desc.get(&cfg.id).cloned();
            let mut tokens = match (&existing, local_tokens.is_empty()) {
                (_, false) => local_tokens.clone(),
                (Some(e), true) if !e.tokens.is_empty() => e.tokens.clone(),
                _ => cfg.tokens.clone(),
            };
            if let Some(generator) = generator.as_deref_mut() {
                let balanced = cfg.token_strategy == TokenStrategy::Balanced;
                tokens = settle_tokens(desc, cfg, tokens, generator, balanced)?;
            }
            let mut inst = existing.unwrap_or_else(|| {
                InstanceDesc::new(cfg.id.clone(), cfg.addr.clone(), cfg.zone.clone())
            });
            inst.addr = cfg.addr.clone();
            inst.zone = cfg.zone.clone();
            inst.state = state;
            inst.timestamp = now;
            if inst.registered_timestamp == 0 {
                inst.registered_timestamp = now;
            }
            inst = inst.with_tokens(tokens);
            written_tokens = inst.tokens.clone();
            desc.upsert(inst);
            Ok(true)
        })
        .await?;
        *self.shared.state.lock() = (state, written_tokens);
        Ok(())
    }
}

/// Keeps the tokens of `id` that no other instance claims, then tops up
/// with fresh ones (avoiding every token in the ring) or trims to `n`.
/// With `balanced`, an instance keeping no tokens gets
/// [`balanced_tokens`]; a partial top-up is always random.
fn settle_tokens(
    desc: &RingDesc,
    cfg: &LifecyclerConfig,
    mut tokens: Vec<u32>,
    generator: &mut TokenGenerator,
    balanced: bool,
) -> Result<Vec<u32>> {
    let (id, n) = (cfg.id.as_str(), cfg.num_tokens);
    let others: HashSet<u32> = desc
        .instances
        .values()
        .filter(|i| i.id != id && i.state != InstanceState::Left)
        .flat_map(|i| i.tokens.iter().copied())
        .collect();
    tokens.sort_unstable();
    tokens.dedup();
    tokens.retain(|t| !others.contains(t));
    tokens.truncate(n);
    if tokens.is_empty() && balanced {
        return balanced_tokens(desc, id, &cfg.zone, n);
    }
    if tokens.len() < n {
        let mut taken = others;
        taken.extend(tokens.iter().copied());
        tokens.extend(generator.generate(n - tokens.len(), &taken)?);
        tokens.sort_unstable();
    }
    Ok(tokens)
}
