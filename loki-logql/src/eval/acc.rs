//! Accumulators: what a range aggregation keeps per series and window,
//! and the value each function reads from it.
//!
//! Everything but `quantile_over_time` and `rate_counter` merges samples
//! into a fixed-size state; those two keep the window's samples.

use crate::syntax::ast::RangeOp;

/// The state of one series in one window.
#[derive(Debug, Clone)]
pub(crate) struct Acc {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    first: (i64, f64),
    last: (i64, f64),
    mean: f64,
    m2: f64,
    samples: Vec<(i64, f64)>,
}

/// Whether `op` needs the window's samples.
pub(crate) fn keeps_samples(op: RangeOp) -> bool {
    matches!(op, RangeOp::QuantileOverTime | RangeOp::RateCounter)
}

impl Acc {
    pub(crate) fn new() -> Acc {
        Acc {
            count: 0,
            sum: 0.0,
            min: f64::NAN,
            max: f64::NAN,
            first: (i64::MAX, 0.0),
            last: (i64::MIN, 0.0),
            mean: 0.0,
            m2: 0.0,
            samples: Vec::new(),
        }
    }

    pub(crate) fn add(&mut self, ts: i64, v: f64, keep: bool) {
        self.count += 1;
        self.sum += v;
        if self.min.is_nan() || v < self.min {
            self.min = v;
        }
        if self.max.is_nan() || v > self.max {
            self.max = v;
        }
        if ts < self.first.0 {
            self.first = (ts, v);
        }
        if ts >= self.last.0 {
            self.last = (ts, v);
        }
        let d = v - self.mean;
        self.mean += d / self.count as f64;
        self.m2 += d * (v - self.mean);
        if keep {
            self.samples.push((ts, v));
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The function's value; `win_start`/`win_end` are the window edges in
    /// ns (exclusive, inclusive), `range_s` its length in seconds.
    pub(crate) fn value(
        &mut self,
        op: RangeOp,
        param: Option<f64>,
        unwrapped: bool,
        win_start: i64,
        win_end: i64,
    ) -> f64 {
        let range_s = (win_end - win_start) as f64 / 1e9;
        let n = self.count as f64;
        match op {
            RangeOp::CountOverTime => n,
            RangeOp::Rate => {
                if unwrapped {
                    self.sum / range_s
                } else {
                    n / range_s
                }
            }
            RangeOp::BytesOverTime | RangeOp::SumOverTime => self.sum,
            RangeOp::BytesRate => self.sum / range_s,
            RangeOp::AvgOverTime => self.mean,
            RangeOp::MinOverTime => self.min,
            RangeOp::MaxOverTime => self.max,
            RangeOp::StdvarOverTime => self.m2 / n,
            RangeOp::StddevOverTime => (self.m2 / n).sqrt(),
            RangeOp::FirstOverTime => self.first.1,
            RangeOp::LastOverTime => self.last.1,
            RangeOp::AbsentOverTime => 1.0,
            RangeOp::QuantileOverTime => {
                let mut vals: Vec<f64> = self.samples.iter().map(|s| s.1).collect();
                quantile(param.unwrap_or(f64::NAN), &mut vals)
            }
            RangeOp::RateCounter => {
                self.samples.sort_by_key(|s| s.0);
                extrapolated_rate(&self.samples, win_start, win_end)
            }
        }
    }
}

/// Prometheus' quantile with linear interpolation.
pub(crate) fn quantile(q: f64, vals: &mut [f64]) -> f64 {
    if vals.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    vals.sort_by(|a, b| a.total_cmp(b));
    let n = vals.len() as f64;
    let rank = q * (n - 1.0);
    let lo = rank.floor().max(0.0) as usize;
    let hi = (lo + 1).min(vals.len() - 1);
    let w = rank - rank.floor();
    vals[lo] * (1.0 - w) + vals[hi] * w
}

/// Prometheus' extrapolated counter rate over `(start, end]`.
fn extrapolated_rate(s: &[(i64, f64)], start: i64, end: i64) -> f64 {
    if s.len() < 2 {
        return 0.0;
    }
    let (first_t, first_v) = s[0];
    let (last_t, last_v) = s[s.len() - 1];
    let mut delta = last_v - first_v;
    for w in s.windows(2) {
        if w[1].1 < w[0].1 {
            delta += w[0].1;
        }
    }
    let secs = |ns: i64| ns as f64 / 1e9;
    let range_s = secs(end - start);
    let sampled = secs(last_t - first_t);
    let avg_gap = sampled / (s.len() - 1) as f64;
    let mut to_start = secs(first_t - start);
    let to_end = secs(end - last_t);
    if delta > 0.0 && first_v >= 0.0 {
        let to_zero = sampled * (first_v / delta);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = avg_gap * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        avg_gap / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        avg_gap / 2.0
    };
    if sampled == 0.0 {
        return 0.0;
    }
    delta * (interval / sampled) / range_s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles() {
        assert_eq!(quantile(0.5, &mut [1.0, 2.0, 3.0, 4.0]), 2.5);
        assert_eq!(quantile(0.0, &mut [5.0, 1.0]), 1.0);
        assert!(quantile(0.5, &mut []).is_nan());
        assert_eq!(quantile(-1.0, &mut [1.0]), f64::NEG_INFINITY);
    }

    #[test]
    fn counter() {
        // Counter 0,10,20 at 10s,20s,30s in (0, 40s]: 20 over 20s sampled;
        // the start side is capped at the zero crossing (the first sample),
        // the end side extends 10s (< 1.1 × 10s): 30 over 40s = 0.75/s.
        let s = [
            (10_000_000_000, 0.0),
            (20_000_000_000, 10.0),
            (30_000_000_000, 20.0),
        ];
        let r = extrapolated_rate(&s, 0, 40_000_000_000);
        assert!((r - 0.75).abs() < 1e-9, "{r}");
    }
}
