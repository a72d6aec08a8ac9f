//! Clocks: where a lifecycler and ring watcher get "now" from, so tests
//! can run on tokio's paused time instead of sleeping.

use std::fmt::Debug;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of wall-clock time in Unix seconds (the ring's unit).
///
/// ```
/// use loki_ring::{Clock, SystemClock};
/// assert!(SystemClock.now_unix() > 1_600_000_000);
/// ```
pub trait Clock: Send + Sync + Debug {
    /// Now, in Unix seconds.
    fn now_unix(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

/// A clock that starts at a given Unix time and advances with tokio's
/// clock, so it follows `tokio::time::pause`/`advance` in tests (and the
/// real monotonic clock otherwise).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build()?.block_on(async {
/// use loki_ring::{Clock, TokioClock};
///
/// let clock = TokioClock::starting_at(1_700_000_000);
/// tokio::time::advance(std::time::Duration::from_secs(90)).await;
/// assert_eq!(clock.now_unix(), 1_700_000_090);
/// # });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    base: i64,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// A clock reading `unix_secs` now. Must be called inside a tokio
    /// runtime with time enabled.
    pub fn starting_at(unix_secs: i64) -> TokioClock {
        TokioClock {
            base: unix_secs,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now_unix(&self) -> i64 {
        self.base + self.start.elapsed().as_secs() as i64
    }
}
