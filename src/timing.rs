//! Measuring for `neurona bench`: the median of repeated timings and the process's peak memory.

use std::time::Instant;

/// Runs `work` `repeats` times (at least once); the median wall-clock seconds and the last
/// result.
pub(crate) fn median_seconds<T>(repeats: usize, mut work: impl FnMut() -> T) -> (f64, usize, T) {
    let mut seconds = Vec::with_capacity(repeats.max(1));
    let mut last = None;
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        last = Some(work());
        seconds.push(start.elapsed().as_secs_f64());
    }
    seconds.sort_by(f64::total_cmp);
    let median = seconds[seconds.len() / 2];
    (median, seconds.len(), last.expect("ran at least once"))
}

/// VmHWM from /proc/self/status (Linux), in MiB; NaN elsewhere.
pub(crate) fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}
