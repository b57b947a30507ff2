//! `--cluster`: how long a job's end takes to reach the clients of another node. Two daemons
//! (the release build) share a library in PostgreSQL (postgres-store, on a throwaway
//! pg_virtualenv cluster) and meet in a second database there ([cluster]); files go to node A and the fake
//! Deepgram transcribes them. For each file, one client on each node: the time from A's
//! client seeing the `job` `complete` event to B's client seeing it passed on (NOTIFY, LISTEN,
//! B's hub), and from the upload to B's index finding the session.

use std::time::{Duration, Instant};

use anyhow::Context;

use scribe_tests::fake_deepgram::{FakeDeepgram, Script};
use scribe_tests::postgres::TestDatabase;
use scribe_tests::{Events, Setup, sox_tone};

/// Files measured, after [`WARMUP`] unmeasured.
const FILES: usize = 200;
const WARMUP: usize = 10;
const KEY: &str = "bench-key";
/// A guard against a hung run.
const LIMIT: Duration = Duration::from_secs(60);
/// Longest wait for one `indexed` event before searching again.
const INDEX_WAIT: Duration = Duration::from_millis(500);

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort_unstable();
    println!(
        "{what} ({} files): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        times.len(),
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );
}

pub async fn run() -> anyhow::Result<()> {
    let db = TestDatabase::create().await?;
    // The nodes meet in a database of their own, as the README advises.
    let cluster_db = TestDatabase::create().await?;
    let fake = FakeDeepgram::loopback(KEY).await;
    let node = |name: &str| {
        let mut setup = Setup::new().with_postgres_store(&db).with_fake_deepgram(&fake, KEY);
        setup.config.cluster.database_url = Some(cluster_db.url_with_password_from("SCRIBE_DB_PASSWORD"));
        setup.config.cluster.node_name = Some(name.into());
        setup
    };
    let a = node("a").start().await?;
    let b = node("b").start().await?;
    while b.get_json("/api/v1/status").await?["cluster"]["listening"] != true {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let work = tempfile::tempdir()?;
    let tone = sox_tone(work.path(), 440, 16_000, 1)?;
    let mut events_a = Events::connect(&a).await?;
    let mut events_b = Events::connect(&b).await?;
    let (mut relayed, mut found) = (Vec::with_capacity(FILES), Vec::with_capacity(FILES));
    for i in 0..WARMUP + FILES {
        // Different bytes each time, or the daemon would find the file it already has.
        let mut audio = tone.clone();
        let at = audio.len() - 4;
        audio[at..].copy_from_slice(&(i as u32).to_le_bytes());
        // A word of its own, so the search finds this file and no other.
        let word = format!("minute{i}");
        fake.script(&audio, Script::from_text(&format!("The cluster's {word} of the meeting."), 1.0));
        let uploaded = Instant::now();
        let session = a.upload(&format!("f{i}.wav"), audio).await?;
        let complete = |e: &serde_json::Value| e["type"] == "job" && e["session_id"] == session && e["status"] == "complete";
        let on_a = async {
            events_a.until(LIMIT, complete).await?;
            anyhow::Ok(Instant::now())
        };
        let on_b = async {
            events_b.until(LIMIT, complete).await?;
            anyhow::Ok(Instant::now())
        };
        let (seen_a, seen_b) = tokio::join!(on_a, on_b);
        let seen_a = seen_a.with_context(|| format!("file {i}: the job's end on node a"))?;
        let seen_b = seen_b.with_context(|| format!("file {i}: the job's end passed on to node b"))?;
        // The index's `indexed` event may have gone by while the job's end was awaited, so
        // each wait for the next one is short, and the search is asked again after it.
        let deadline = Instant::now() + LIMIT;
        while b.search_ids(&word).await?.iter().all(|id| *id != session) {
            anyhow::ensure!(Instant::now() < deadline, "file {i}: node b's index never found it");
            let _ = events_b.until(INDEX_WAIT, |e| e["type"] == "indexed").await;
        }
        if i >= WARMUP {
            relayed.push(seen_b.saturating_duration_since(seen_a));
            found.push(uploaded.elapsed());
        }
    }
    report("job complete on node a -> seen by a client of node b", relayed);
    report("upload to node a -> found by search on node b", found);
    Ok(())
}
