//! `cargo xtask bench`: the figures that go into issue notes, measured on the real daemon
//! and components (not timed tests).
//!
//! - start-up to serving, with a cold and with a warm compiled-component cache;
//! - per-call overhead of a plugin call carrying one 20 ms audio frame (640 bytes);
//! - RSS of this process after start-up with all plugins loaded.

use std::time::{Duration, Instant};

use scribe_tests::{Setup, rss_bytes};
use scribed::stt::{AudioEncoding, AudioFormat, BatchStt, Request};

/// Calls measured after warm-up; enough for a stable p99.
const CALLS: usize = 20_000;
const WARMUP: usize = 500;
const FRAME_BYTES: usize = 640;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cache = tempfile::tempdir()?;
    let setup = || {
        let mut s = Setup::new().with_hostile(&[], "");
        s.config.cache_dir = Some(cache.path().to_path_buf());
        s
    };
    let cold = setup().start().await?;
    let cold_startup = cold.daemon.startup;
    cold.daemon.shutdown().await?;
    let warm = setup().start().await?;
    println!("startup cold cache: {:?}", cold_startup);
    println!("startup warm cache: {:?}", warm.daemon.startup);
    if let Some(rss) = rss_bytes() {
        println!("rss after start (bench process, 5 plugins): {} MiB", rss >> 20);
    }

    let handle = warm.daemon.registry().handle("hostile").cloned().ok_or_else(|| anyhow::anyhow!("hostile missing"))?;
    let stt = BatchStt::new(handle)?;
    let request = Request {
        format: AudioFormat { encoding: AudioEncoding::Linear16, sample_rate: 16_000, channels: 1 },
        audio: vec![0x55; FRAME_BYTES],
        language: Some("echo".into()),
    };
    for _ in 0..WARMUP {
        stt.transcribe(request.clone()).await?.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    let mut samples = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let t = Instant::now();
        stt.transcribe(request.clone()).await?.map_err(|e| anyhow::anyhow!("{e:?}"))?;
        samples.push(t.elapsed());
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    let mean: Duration = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "plugin call with a 20 ms frame ({FRAME_BYTES} B), {CALLS} calls: mean {mean:?}, p50 {:?}, p99 {:?}",
        pct(0.50),
        pct(0.99)
    );
    warm.daemon.shutdown().await?;
    Ok(())
}
