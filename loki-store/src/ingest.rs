//! Validating pushes against a tenant's limits, as Loki's distributor and
//! ingester do, before anything is logged or stored.

use std::time::Duration;

use loki_index::Labels;

use crate::config::Limits;
use crate::stream::PushEntry;

/// One stream of a push: its labels and entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushStream {
    /// The stream's labels.
    pub labels: Labels,
    /// The entries, in the order sent.
    pub entries: Vec<PushEntry>,
}

/// Why entries were refused; each maps to Loki's HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefusalKind {
    /// The stream's labels break a limit (400).
    InvalidLabels,
    /// A line is longer than `max_line_size` (400).
    LineTooLong,
    /// An entry is older than `reject_old_samples_max_age` (400).
    TooOld,
    /// An entry is further in the future than `creation_grace_period` (400).
    TooNew,
    /// An entry is behind the stream's out-of-order window (400).
    OutOfOrder,
    /// The tenant has as many streams as it may (429).
    StreamLimit,
}

impl RefusalKind {
    /// The HTTP status Loki answers with.
    pub fn http_status(self) -> u16 {
        match self {
            RefusalKind::StreamLimit => 429,
            _ => 400,
        }
    }
}

/// Entries a push could not store, with Loki's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Why.
    pub kind: RefusalKind,
    /// How many entries this refusal covers.
    pub entries: usize,
    /// The message, worded as Loki's.
    pub message: String,
}

/// What a push did.
///
/// Like Loki, a push stores every valid entry even when others are
/// refused; the caller answers with the refusals' status when there are any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushSummary {
    /// Entries accepted and logged.
    pub accepted: usize,
    /// Entries dropped as identical to the stream's previous entry.
    pub duplicates: usize,
    /// Entries refused, grouped by reason and stream.
    pub refusals: Vec<Refusal>,
}

impl PushSummary {
    /// The HTTP status Loki would answer: 204, or the refusals' (429 wins
    /// over 400).
    pub fn http_status(&self) -> u16 {
        self.refusals
            .iter()
            .map(|r| r.kind.http_status())
            .max()
            .unwrap_or(204)
    }
}

/// `{a="b", c="d"}`, for messages.
pub(crate) fn labels_text(labels: &Labels) -> String {
    let pairs: Vec<String> = labels.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{{{}}}", pairs.join(", "))
}

fn rfc3339(ns: i64) -> String {
    match u64::try_from(ns) {
        Ok(ns) => humantime::format_rfc3339_nanos(std::time::UNIX_EPOCH + Duration::from_nanos(ns))
            .to_string(),
        Err(_) => format!("{ns}ns"),
    }
}

/// The label Loki leaves out of `max_label_names_per_series`.
const SERVICE_NAME: &str = "service_name";

/// Checks a stream's labels; `Some(message)` if they break a limit.
pub(crate) fn check_labels(labels: &Labels, limits: &Limits) -> Option<String> {
    let text = || labels_text(labels);
    // As Loki's validator: `service_name`, often added by the push path
    // itself, does not count toward the limit.
    let counted = labels.len() - usize::from(labels.get(SERVICE_NAME).is_some());
    if counted > limits.max_label_names_per_series {
        return Some(format!(
            "entry for stream '{}' has {} label names; limit {}",
            text(),
            counted,
            limits.max_label_names_per_series
        ));
    }
    for (name, value) in labels.iter() {
        if name.len() > limits.max_label_name_length {
            return Some(format!("label name too long: '{name}' metric '{}'", text()));
        }
        if value.len() > limits.max_label_value_length {
            return Some(format!(
                "label value too long: '{value}' metric '{}'",
                text()
            ));
        }
    }
    None
}

/// Checks one entry against line size and age limits.
pub(crate) fn check_entry(
    entry: &PushEntry,
    labels: &Labels,
    limits: &Limits,
    now: i64,
) -> Option<(RefusalKind, String)> {
    if limits.max_line_size > 0 && entry.line.len() > limits.max_line_size {
        return Some((
            RefusalKind::LineTooLong,
            format!(
                "Max entry size '{}' bytes exceeded for stream '{}' while adding an entry with length '{}' bytes",
                limits.max_line_size,
                labels_text(labels),
                entry.line.len()
            ),
        ));
    }
    if let Some(max_age) = limits.reject_old_samples_max_age {
        let oldest = now.saturating_sub(max_age.as_nanos() as i64);
        if entry.timestamp < oldest {
            return Some((
                RefusalKind::TooOld,
                format!(
                    "entry for stream '{}' has timestamp too old: {}, oldest acceptable timestamp is: {}",
                    labels_text(labels),
                    rfc3339(entry.timestamp),
                    rfc3339(oldest)
                ),
            ));
        }
    }
    let newest = now.saturating_add(
        limits
            .creation_grace_period
            .as_nanos()
            .min(i64::MAX as u128) as i64,
    );
    if entry.timestamp > newest {
        return Some((
            RefusalKind::TooNew,
            format!(
                "entry for stream '{}' has timestamp too new: {}",
                labels_text(labels),
                rfc3339(entry.timestamp)
            ),
        ));
    }
    None
}

/// The out-of-order message, as Loki words it.
pub(crate) fn too_far_behind(entry: &PushEntry, labels: &Labels, oldest_acceptable: i64) -> String {
    format!(
        "entry too far behind, entry timestamp is: {}, oldest acceptable timestamp is: {} for stream '{}'",
        rfc3339(entry.timestamp),
        rfc3339(oldest_acceptable),
        labels_text(labels)
    )
}

/// A token bucket: `rate` bytes per second, holding at most `burst`.
#[derive(Debug, Clone)]
pub(crate) struct RateLimiter {
    tokens: f64,
    updated: i64,
}

impl RateLimiter {
    pub(crate) fn new() -> RateLimiter {
        RateLimiter {
            tokens: f64::NAN,
            updated: 0,
        }
    }

    /// Takes `bytes` if the bucket holds them.
    pub(crate) fn try_take(&mut self, bytes: usize, rate: f64, burst: f64, now: i64) -> bool {
        if rate <= 0.0 {
            return true;
        }
        let burst = burst.max(rate);
        if self.tokens.is_nan() {
            self.tokens = burst;
            self.updated = now;
        }
        let elapsed = (now - self.updated).max(0) as f64 / 1e9;
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.updated = now;
        if bytes as f64 > self.tokens {
            return false;
        }
        self.tokens -= bytes as f64;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills_at_its_rate_up_to_its_burst() {
        let mut bucket = RateLimiter::new();
        let s = 1_000_000_000;
        assert!(bucket.try_take(150, 100.0, 150.0, 0));
        assert!(!bucket.try_take(1, 100.0, 150.0, 0));
        assert!(bucket.try_take(100, 100.0, 150.0, s));
        assert!(!bucket.try_take(100, 100.0, 150.0, s));
        assert!(
            bucket.try_take(150, 100.0, 150.0, 100 * s),
            "refills to the burst only"
        );
        assert!(!bucket.try_take(1, 100.0, 150.0, 100 * s));
        assert!(
            bucket.try_take(usize::MAX, 0.0, 0.0, 0),
            "rate 0 means no limit"
        );
    }

    #[test]
    fn service_name_is_not_counted_toward_the_label_limit() {
        let limits = Limits {
            max_label_names_per_series: 2,
            ..Limits::default()
        };
        let with_service =
            Labels::new([("app", "a"), ("env", "b"), ("service_name", "c")]).unwrap();
        assert_eq!(check_labels(&with_service, &limits), None);
        let three = Labels::new([("app", "a"), ("env", "b"), ("zone", "c")]).unwrap();
        let message = check_labels(&three, &limits).unwrap();
        assert!(message.contains("has 3 label names; limit 2"), "{message}");
        let four = Labels::new([
            ("app", "a"),
            ("env", "b"),
            ("service_name", "c"),
            ("zone", "d"),
        ])
        .unwrap();
        let message = check_labels(&four, &limits).unwrap();
        assert!(message.contains("has 3 label names; limit 2"), "{message}");
    }

    #[test]
    fn entries_are_checked_like_loki() {
        let labels = Labels::new([("app", "shop")]).unwrap();
        let limits = Limits::default();
        let now = 1_700_000_000_000_000_000;
        let ok = PushEntry::new(now, "fine");
        assert_eq!(check_entry(&ok, &labels, &limits, now), None);
        let long = PushEntry::new(now, "x".repeat(limits.max_line_size + 1));
        assert_eq!(
            check_entry(&long, &labels, &limits, now).unwrap().0,
            RefusalKind::LineTooLong
        );
        let old = PushEntry::new(now - 8 * 24 * 3600 * 1_000_000_000, "old");
        let (kind, message) = check_entry(&old, &labels, &limits, now).unwrap();
        assert_eq!(kind, RefusalKind::TooOld);
        assert!(message.contains("timestamp too old"), "{message}");
        let future = PushEntry::new(now + 11 * 60 * 1_000_000_000, "future");
        assert_eq!(
            check_entry(&future, &labels, &limits, now).unwrap().0,
            RefusalKind::TooNew
        );
    }
}
