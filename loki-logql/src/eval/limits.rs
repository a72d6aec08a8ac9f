//! Resource limits, checked while data streams in.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Limits on one query. Exceeding one ends the query with the matching
/// [`Error`] variant instead of growing memory.
///
/// ```
/// use std::time::Duration;
/// let l = loki_logql::Limits {
///     max_series: 500,
///     timeout: Some(Duration::from_secs(30)),
///     ..Default::default()
/// };
/// assert_eq!(l.max_entries, 5000);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most series in a metric result (and in any range aggregation).
    pub max_series: usize,
    /// Largest `limit` a log query may ask for.
    pub max_entries: usize,
    /// Most line bytes read from storage.
    pub max_bytes: u64,
    /// Wall-clock budget.
    pub timeout: Option<Duration>,
}

impl Default for Limits {
    /// Loki's defaults: 500 series, 5000 entries; no byte limit, no timeout.
    fn default() -> Self {
        Limits {
            max_series: 500,
            max_entries: 5000,
            max_bytes: u64::MAX,
            timeout: None,
        }
    }
}

/// A running query's use of its limits.
#[derive(Debug)]
pub(crate) struct Budget {
    max_series: usize,
    max_bytes: u64,
    bytes: u64,
    deadline: Option<Instant>,
    cancel: Option<Arc<AtomicBool>>,
}

impl Budget {
    pub(crate) fn new(l: &Limits, cancel: Option<Arc<AtomicBool>>) -> Budget {
        Budget {
            max_series: l.max_series,
            max_bytes: l.max_bytes,
            bytes: 0,
            deadline: l.timeout.map(|t| Instant::now() + t),
            cancel,
        }
    }

    /// Accounts for `n` bytes read and checks time and cancellation.
    pub(crate) fn charge(&mut self, n: usize) -> Result<()> {
        self.bytes = self.bytes.saturating_add(n as u64);
        if self.bytes > self.max_bytes {
            return Err(Error::MaxBytes {
                limit: self.max_bytes,
            });
        }
        self.check()
    }

    /// Checks time and cancellation.
    pub(crate) fn check(&self) -> Result<()> {
        if self
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
        {
            return Err(Error::Cancelled);
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Error::Timeout);
        }
        Ok(())
    }

    /// The series limit.
    pub(crate) fn max_series(&self) -> usize {
        self.max_series
    }

    /// Checks a series count.
    pub(crate) fn series(&self, n: usize) -> Result<()> {
        if n > self.max_series {
            Err(Error::MaxSeries {
                limit: self.max_series,
            })
        } else {
            Ok(())
        }
    }
}
