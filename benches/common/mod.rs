//! What the benchmarks that report figures per CPU-second share.

/// CPU seconds this process has used, every thread (ended ones too),
/// user and system: `CLOCK_PROCESS_CPUTIME_ID`.
pub(crate) fn cpu_seconds() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}
