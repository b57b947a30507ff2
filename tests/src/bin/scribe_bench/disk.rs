//! `--disk`: what the free-space guard costs. One measurement (`statvfs` of the data dir and
//! the state update) is timed many times on this machine's disk; the daemon makes one every
//! 2 s and one before each upload, inbox file and live session.

use std::time::Instant;

use scribed::disk::DiskGuard;

/// Measurements timed, after as many unmeasured.
const CALLS: usize = 100_000;

pub fn run() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let guard = DiskGuard::new(dir.path(), 1_024);
    for _ in 0..CALLS {
        std::hint::black_box(guard.measure());
    }
    let mut times: Vec<u128> = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let start = Instant::now();
        std::hint::black_box(guard.measure());
        times.push(start.elapsed().as_nanos());
    }
    times.sort_unstable();
    let at = |q: f64| times[((CALLS - 1) as f64 * q) as usize];
    println!("free-space check ({CALLS} calls): p50 {} ns, p99 {} ns, max {} ns", at(0.5), at(0.99), times[CALLS - 1]);
    println!("free space measured: {} MiB", guard.measure().free_mb);
    Ok(())
}
