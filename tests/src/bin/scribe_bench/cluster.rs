//! `--cluster`: what the shared library and queue cost. Daemons (the release build) share a
//! library in PostgreSQL (postgres-store, on a throwaway pg_virtualenv cluster), meet in a
//! second database there ([cluster]) where their file queue is, and share one audio folder;
//! the fake Deepgram transcribes.
//!
//! 1. Files go one at a time to an API node that transcribes nothing; a worker node takes
//!    them from the shared queue. With one client on each node, per file: from the upload's
//!    answer to the API node's client seeing the job start on the worker (NOTIFY wake-up,
//!    claim, the start's event passed back), from the worker's client seeing the job's end to
//!    the API node's client seeing it (NOTIFY, LISTEN, the hub), and from the upload to the
//!    API node's search finding the file.
//! 2. [`BATCH`] files at once go to the API node, and 1, then 2, worker nodes take them: the
//!    wall time until the API node's client has seen every job end.

use std::time::{Duration, Instant};

use anyhow::Context;

use scribe_tests::fake_deepgram::{FakeDeepgram, Script};
use scribe_tests::postgres::TestDatabase;
use scribe_tests::{Events, Setup, sox_tone};

/// Files measured, after [`WARMUP`] unmeasured.
const FILES: usize = 200;
const WARMUP: usize = 10;
const KEY: &str = "bench-key";
/// Files sent at once for the throughput figure.
const BATCH: usize = 100;
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

/// The nodes of one cluster: a library database, the cluster's database, an audio folder.
struct Cluster {
    library: TestDatabase,
    meeting: TestDatabase,
    audio: tempfile::TempDir,
}

impl Cluster {
    async fn new() -> anyhow::Result<Cluster> {
        // The nodes meet in a database of their own, as the README advises.
        Ok(Cluster { library: TestDatabase::create().await?, meeting: TestDatabase::create().await?, audio: tempfile::tempdir()? })
    }

    /// A node; with `fake`, it transcribes files with it, else it takes no file job.
    fn node(&self, name: &str, fake: Option<&FakeDeepgram>) -> Setup {
        let mut setup = Setup::new().with_postgres_store(&self.library);
        if let Some(fake) = fake {
            setup = setup.with_fake_deepgram(fake, KEY);
        }
        setup.config.cluster.database_url = Some(self.meeting.url_with_password_from("SCRIBE_DB_PASSWORD"));
        setup.config.cluster.node_name = Some(name.into());
        setup.config.storage.audio_dir = Some(self.audio.path().to_path_buf());
        setup
    }
}

/// A tone made different by `i`, with a script of its own word.
fn numbered(tone: &[u8], i: usize, fake: &FakeDeepgram) -> (Vec<u8>, String) {
    // Different bytes each time, or the daemon would find the file it already has.
    let mut audio = tone.to_vec();
    let at = audio.len() - 4;
    audio[at..].copy_from_slice(&(i as u32).to_le_bytes());
    // A word of its own, so the search finds this file and no other.
    let word = format!("minute{i}");
    fake.script(&audio, Script::from_text(&format!("The cluster's {word} of the meeting."), 1.0));
    (audio, word)
}

pub async fn run() -> anyhow::Result<()> {
    let fake = FakeDeepgram::loopback(KEY).await;
    let work = tempfile::tempdir()?;
    let tone = sox_tone(work.path(), 440, 16_000, 1)?;
    latencies(&fake, &tone).await?;
    for workers in [1, 2] {
        throughput(&fake, &tone, workers).await?;
    }
    Ok(())
}

async fn latencies(fake: &FakeDeepgram, tone: &[u8]) -> anyhow::Result<()> {
    let cluster = Cluster::new().await?;
    let api = cluster.node("api", None).start().await?;
    let worker = cluster.node("worker", Some(fake)).start().await?;
    while api.get_json("/api/v1/status").await?["cluster"]["listening"] != true {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut events_api = Events::connect(&api).await?;
    let mut events_worker = Events::connect(&worker).await?;
    let (mut started, mut relayed, mut found) = (Vec::with_capacity(FILES), Vec::with_capacity(FILES), Vec::with_capacity(FILES));
    for i in 0..WARMUP + FILES {
        let (audio, word) = numbered(tone, i, fake);
        let uploaded = Instant::now();
        let session = api.upload(&format!("f{i}.wav"), audio).await?;
        let answered = Instant::now();
        let job = |status: &'static str| {
            let session = session.clone();
            // The start itself, not the progress that follows it.
            move |e: &serde_json::Value| {
                e["type"] == "job" && e["session_id"] == session && e["status"] == status && (status != "processing" || e["message"].is_null())
            }
        };
        let on_api = async {
            events_api.until(LIMIT, job("processing")).await?;
            let start = Instant::now();
            events_api.until(LIMIT, job("complete")).await?;
            anyhow::Ok((start, Instant::now()))
        };
        let on_worker = async {
            events_worker.until(LIMIT, job("complete")).await?;
            anyhow::Ok(Instant::now())
        };
        let (seen_api, seen_worker) = tokio::join!(on_api, on_worker);
        let (start, end) = seen_api.with_context(|| format!("file {i}: the job seen from the api node"))?;
        let done = seen_worker.with_context(|| format!("file {i}: the job's end on the worker"))?;
        // The index's `indexed` event may have gone by while the job's end was awaited, so
        // each wait for the next one is short, and the search is asked again after it.
        let deadline = Instant::now() + LIMIT;
        while api.search_ids(&word).await?.iter().all(|id| *id != session) {
            anyhow::ensure!(Instant::now() < deadline, "file {i}: the api node's index never found it");
            let _ = events_api.until(INDEX_WAIT, |e| e["type"] == "indexed").await;
        }
        if i >= WARMUP {
            started.push(start.saturating_duration_since(answered));
            relayed.push(end.saturating_duration_since(done));
            found.push(uploaded.elapsed());
        }
    }
    report("upload answered by the api node -> its client sees the job start on the worker", started);
    report("job complete seen on the worker -> seen by a client of the api node", relayed);
    report("upload to the api node -> found by its search", found);
    Ok(())
}

async fn throughput(fake: &FakeDeepgram, tone: &[u8], workers: usize) -> anyhow::Result<()> {
    let cluster = Cluster::new().await?;
    let api = cluster.node("api", None).start().await?;
    let mut nodes = Vec::new();
    for n in 0..workers {
        nodes.push(cluster.node(&format!("worker{n}"), Some(fake)).start().await?);
    }
    while api.get_json("/api/v1/status").await?["cluster"]["nodes"].as_array().map_or(0, Vec::len) < workers + 1 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let files: Vec<Vec<u8>> = (0..BATCH).map(|i| numbered(tone, 10_000 * workers + i, fake).0).collect();
    let mut events = Events::connect(&api).await?;
    let started = Instant::now();
    let mut queued = std::collections::HashSet::new();
    for (i, audio) in files.into_iter().enumerate() {
        queued.insert(api.upload(&format!("b{i}.wav"), audio).await?);
    }
    let mut ended = 0;
    while ended < BATCH {
        let event = events.until(LIMIT, |e| e["type"] == "job").await.context("the batch stalled")?;
        if !event["session_id"].as_str().is_some_and(|id| queued.contains(id)) {
            continue;
        }
        match event["status"].as_str() {
            Some("complete") => ended += 1,
            Some("error") => anyhow::bail!("a job failed: {event}"),
            _ => {}
        }
    }
    let wall = started.elapsed();
    println!(
        "{BATCH} files through {workers} worker node(s): {:.2} s, {:.1} files/s",
        wall.as_secs_f64(),
        BATCH as f64 / wall.as_secs_f64()
    );
    Ok(())
}
