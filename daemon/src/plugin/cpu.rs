//! The guest's execution budget is CPU time, not elapsed time: on a busy machine a guest that
//! waits for a core must not be charged for the wait (whisper-local ran past a wall-clock
//! budget on ordinary clips while other work ran), and time spent in host I/O is the host's.
//!
//! A call runs as a future polled by whichever runtime thread is free; each poll runs on one
//! thread from start to end. [`CpuTimed`] reads that thread's CPU clock around every poll,
//! so the sum is the CPU the call used, wherever it ran. Host I/O inside a poll is paused out
//! ([`CpuMeter::pause`]/[`CpuMeter::resume`]). The epoch callback, which runs inside the poll,
//! adds the running segment to get the guest's time so far.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

/// No segment is running.
const IDLE: u64 = u64::MAX;

/// CPU time of the calling thread, ns.
fn thread_cpu_ns() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    (now.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(now.tv_nsec as u64)
}

/// CPU time charged to one plugin instance's current call. Only the thread polling the call
/// touches it, so relaxed atomics suffice (they are atomics for `Send`/`Sync`).
#[derive(Debug)]
pub struct CpuMeter {
    /// Charged by finished segments, ns.
    spent: AtomicU64,
    /// The polling thread's CPU clock when the running segment began; [`IDLE`] when none.
    segment_start: AtomicU64,
}

impl Default for CpuMeter {
    fn default() -> Self {
        CpuMeter { spent: AtomicU64::new(0), segment_start: AtomicU64::new(IDLE) }
    }
}

impl CpuMeter {
    /// A new call: nothing charged.
    pub fn reset(&self) {
        self.spent.store(0, Ordering::Relaxed);
        self.segment_start.store(IDLE, Ordering::Relaxed);
    }

    /// CPU charged so far, the running segment included. Call it from the polling thread.
    pub fn spent(&self) -> Duration {
        let mut ns = self.spent.load(Ordering::Relaxed);
        let start = self.segment_start.load(Ordering::Relaxed);
        if start != IDLE {
            ns = ns.saturating_add(thread_cpu_ns().saturating_sub(start));
        }
        Duration::from_nanos(ns)
    }

    /// Starts charging from now, on this thread.
    pub fn resume(&self) {
        self.segment_start.store(thread_cpu_ns(), Ordering::Relaxed);
    }

    /// Stops charging: the running segment is added to what was spent.
    pub fn pause(&self) {
        let start = self.segment_start.swap(IDLE, Ordering::Relaxed);
        if start != IDLE {
            self.spent.fetch_add(thread_cpu_ns().saturating_sub(start), Ordering::Relaxed);
        }
    }

    /// Runs host I/O for the guest, not charged to its budget.
    pub async fn host_io<R>(&self, io: impl Future<Output = R>) -> R {
        self.pause();
        let result = io.await;
        self.resume();
        result
    }
}

/// A call's future, charged for the CPU time of its polls.
pub struct CpuTimed<F> {
    inner: Pin<Box<F>>,
    meter: Arc<CpuMeter>,
}

impl<F: Future> CpuTimed<F> {
    pub fn new(inner: F, meter: Arc<CpuMeter>) -> CpuTimed<F> {
        CpuTimed { inner: Box::pin(inner), meter }
    }
}

impl<F: Future> Future for CpuTimed<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.meter.resume();
        let result = self.inner.as_mut().poll(cx);
        self.meter.pause();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Burns about `cpu` of this thread's CPU.
    fn spin(cpu: Duration) {
        let start = thread_cpu_ns();
        let mut x = 0u64;
        while thread_cpu_ns() - start < cpu.as_nanos() as u64 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }

    #[tokio::test]
    async fn polls_are_charged_and_waits_are_not() {
        let meter = Arc::new(CpuMeter::default());
        let probe = meter.clone();
        let spent = CpuTimed::new(
            async move {
                spin(Duration::from_millis(30));
                // Waiting (here a timer; in a plugin, host I/O or the runtime's other tasks)
                // costs the call no CPU.
                tokio::time::sleep(Duration::from_millis(200)).await;
                spin(Duration::from_millis(30));
                probe.spent()
            },
            meter.clone(),
        )
        .await;
        assert!((Duration::from_millis(60)..Duration::from_millis(120)).contains(&spent), "{spent:?}");
        assert_eq!(meter.spent(), meter.spent(), "idle between calls: nothing runs");
    }

    #[tokio::test]
    async fn paused_host_work_is_not_charged() {
        let meter = Arc::new(CpuMeter::default());
        let probe = meter.clone();
        CpuTimed::new(
            async move {
                probe.pause();
                spin(Duration::from_millis(80));
                probe.resume();
                spin(Duration::from_millis(10));
            },
            meter.clone(),
        )
        .await;
        let spent = meter.spent();
        assert!((Duration::from_millis(10)..Duration::from_millis(50)).contains(&spent), "{spent:?}");
        meter.reset();
        assert_eq!(meter.spent(), Duration::ZERO);
    }

    #[test]
    fn another_busy_thread_is_not_charged() {
        // Two threads competing for the same core still each see only their own CPU.
        let meter = Arc::new(CpuMeter::default());
        meter.resume();
        let other = std::thread::spawn(|| spin(Duration::from_millis(100)));
        std::thread::sleep(Duration::from_millis(150));
        other.join().expect("spinner");
        meter.pause();
        assert!(meter.spent() < Duration::from_millis(20), "{:?}", meter.spent());
    }
}
