//! `--live`: the live path's figures, on the real daemon, deepgram-live component and the
//! fake Deepgram, all in this process (one clock for every timestamp):
//!
//! - latency from the fake sending a Results message to an events client receiving the
//!   transcript event (the daemon's work plus two loopback hops), over many messages, and the
//!   part of it up to the event hub (measured by a subscriber in this process);
//! - the same with 500 events clients connected (fan-out);
//! - the cost of one `push-audio` call carrying a 20 ms frame to deepgram-live;
//! - CPU use of a live session streaming speech in real time.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use futures_util::StreamExt;
use scribe_tests::fake_deepgram::{FakeDeepgram, Script};
use scribe_tests::live::{Ingest, dither};
use scribe_tests::{Setup, TestDaemon};
use scribed::clients::stt::{AudioEncoding, AudioFormat, LiveConfig, LiveStt};

const KEY: &str = "bench-key";
/// Provider messages timed for the latency figure, and how fast they come (one per 20 ms
/// frame, at this multiple of real time: 500 messages a second, far above one session's
/// few interim results a second, below saturation).
const MESSAGES: usize = 12_000;
const MESSAGE_SPEED: f64 = 10.0;
/// Events clients for the fan-out figure, the messages each must receive, and their rate
/// (100 a second, each to every client).
const FAN_OUT_CLIENTS: usize = 500;
const FAN_OUT_MESSAGES: usize = 2_000;
const FAN_OUT_SPEED: f64 = 2.0;
/// `push-audio` calls timed, after a warm-up.
const PUSHES: usize = 20_000;
const PUSH_WARMUP: usize = 500;
/// Frames pushed back to back before the writer gets time to send them: half its queue.
const PUSH_BATCH: usize = 128;
/// Length of the real-time session whose CPU use is measured.
const CPU_SECONDS: usize = 30;
/// Clock ticks per second of `/proc` CPU times (`getconf CLK_TCK` on Linux).
const CLK_TCK: f64 = 100.0;
/// A loud tone: every frame passes the silence gate.
const TONE_AMPLITUDE: f32 = 8_000.0;

fn tone(seconds: usize) -> Vec<i16> {
    (0..seconds * 16_000).map(|i| ((i as f32 * 0.07).sin() * TONE_AMPLITUDE) as i16).collect()
}

fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    let mean = samples.iter().sum::<Duration>() / samples.len().max(1) as u32;
    format!("n {}, mean {mean:.2?}, p50 {:.2?}, p99 {:.2?}, max {:.2?}", samples.len(), pct(0.5), pct(0.99), pct(1.0))
}

async fn flood_daemon(fake: &FakeDeepgram) -> Result<TestDaemon> {
    let mut setup = Setup::new().with_fake_deepgram(fake, KEY);
    setup.config.live.frame_ms = 20;
    setup.config.live.idle_stop_secs = 0;
    setup.config.live.level_interval_ms = 1_000;
    // The point is the daemon's own latency, not Deepgram's pacing rule.
    setup.config.live.send_speed_limit = 1_000.0;
    setup.start().await
}

/// An events client recording when each flood word (`m<N>`) arrived, until the session
/// completes. `ready` fires once it is subscribed (its hello arrived).
fn events_client(url: String, ready: tokio::sync::oneshot::Sender<()>) -> tokio::task::JoinHandle<Result<Vec<(usize, Instant)>>> {
    tokio::spawn(async move {
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await?;
        let mut ready = Some(ready);
        let mut arrived = Vec::new();
        loop {
            let message = tokio::time::timeout(Duration::from_secs(120), socket.next())
                .await
                .context("events stalled")?
                .context("events closed")??;
            let Ok(text) = message.to_text() else { continue };
            let at = Instant::now();
            if let Some(ready) = ready.take() {
                let _ = ready.send(());
                continue;
            }
            // Read with string searches, not a JSON parse: 500 clients share two cores with
            // the daemon, and their own cost should not dominate the figure.
            if text.contains("\"complete\"") {
                return Ok(arrived);
            }
            if let Some(n) = flood_word(text) {
                arrived.push((n, at));
            }
        }
    })
}

/// N of the flood word `m<N>` in a transcript event.
fn flood_word(text: &str) -> Option<usize> {
    const MARK: &str = "\"text\":\"m";
    let start = text.find(MARK)? + MARK.len();
    let digits = text[start..].find(|c: char| !c.is_ascii_digit()).map_or(&text[start..], |end| &text[start..start + end]);
    digits.parse().ok()
}

/// When each flood word reached the daemon's event hub, until the session completes.
fn hub_listener(hub: &scribed::sinks::events::EventHub) -> tokio::task::JoinHandle<Vec<(usize, Instant)>> {
    use scribed::sinks::events::{Event, LiveStatus};
    let mut live = hub.subscribe(None).live;
    tokio::spawn(async move {
        let mut arrived = Vec::new();
        while let Ok(published) = live.recv().await {
            let at = Instant::now();
            match &published.event {
                Event::Transcript { words, .. } => {
                    if let Some(n) = words.first().and_then(|w| w.text.strip_prefix('m')).and_then(|n| n.parse().ok()) {
                        arrived.push((n, at));
                    }
                }
                Event::Live { status: LiveStatus::Complete, .. } => break,
                _ => {}
            }
        }
        arrived
    })
}

/// Latencies of a delivery, by the hub's and the clients' arrival times.
struct Delivery {
    to_hub: Vec<Duration>,
    to_clients: Vec<Duration>,
}

/// Streams `messages` frames through a session while `clients` events clients listen;
/// returns every delivery's latency.
async fn delivery(clients: usize, messages: usize, speed: f64) -> Result<Delivery> {
    let fake = FakeDeepgram::loopback(KEY).await;
    fake.live_flood();
    let daemon = flood_daemon(&fake).await?;
    let url = daemon.url("/api/v1/events").replacen("http", "ws", 1);
    let mut listeners = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (ready, subscribed) = tokio::sync::oneshot::channel();
        listeners.push(events_client(url.clone(), ready));
        subscribed.await.context("an events client could not subscribe")?;
    }
    let hub = hub_listener(daemon.daemon.events());
    let base = daemon.url("").trim_end_matches('/').to_string();
    let mut ingest = Ingest::start(&base, 16_000, 1, "bench").await?;
    let mut audio = tone(messages * 20 / 1000 + 1);
    dither(&mut audio, 1);
    ingest.send_at(&audio, 16_000, 1, 20, speed).await?;
    ingest.stop(Duration::from_secs(120)).await?;
    let sent = fake.flood_sent();
    let mut latencies = Vec::new();
    for listener in listeners {
        let arrived = listener.await??;
        ensure!(arrived.len() >= messages, "a client got {} of {messages} messages", arrived.len());
        for (n, at) in arrived {
            let sent_at = sent.get(n).context("a word the fake never sent")?;
            latencies.push(at.duration_since(*sent_at));
        }
    }
    let to_hub = hub
        .await?
        .into_iter()
        .map(|(n, at)| sent.get(n).map(|sent_at| at.duration_since(*sent_at)).context("a word the fake never sent"))
        .collect::<Result<_>>()?;
    daemon.daemon.shutdown().await?;
    Ok(Delivery { to_hub, to_clients: latencies })
}

/// Time of one `push-audio` call with a 20 ms frame, straight on the plugin.
async fn push_cost() -> Result<Vec<Duration>> {
    let fake = FakeDeepgram::loopback(KEY).await;
    let daemon = flood_daemon(&fake).await?;
    let handle = daemon.daemon.registry().handle("deepgram-live").cloned().context("deepgram-live loaded")?;
    let mut stt = LiveStt::new(&handle)?;
    let config = LiveConfig {
        format: AudioFormat { encoding: AudioEncoding::Linear16, sample_rate: 16_000, channels: 1 },
        language: None,
    };
    stt.start(config).await?.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let frame: Vec<u8> = tone(1)[..320].iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut samples = Vec::with_capacity(PUSHES);
    for i in 0..PUSH_WARMUP + PUSHES {
        let started = Instant::now();
        stt.push(frame.clone()).await?.map_err(|e| anyhow::anyhow!("push {i}: {e:?}"))?;
        if i >= PUSH_WARMUP {
            samples.push(started.elapsed());
        }
        // The host's writer sends frames on its own task, a real-time source gives it 20 ms
        // per frame; here it gets a pause after every half of its queue (not timed).
        if i % PUSH_BATCH == PUSH_BATCH - 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    drop(stt);
    daemon.daemon.shutdown().await?;
    Ok(samples)
}

/// This process's CPU time so far (user + system), from `/proc/self/stat`.
pub(crate) fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(Duration::from_secs_f64(ticks / CLK_TCK))
}

/// CPU share of one core while a session streams speech-like audio in real time.
async fn session_cpu() -> Result<(f64, Duration)> {
    let fake = FakeDeepgram::loopback(KEY).await;
    fake.live_default(Script::from_text(&"word ".repeat(CPU_SECONDS * 2), CPU_SECONDS as f64));
    let daemon = Setup::new().with_fake_deepgram(&fake, KEY).start().await?;
    let base = daemon.url("").trim_end_matches('/').to_string();
    // A browser's format: 48 kHz stereo, resampled by the daemon.
    let audio: Vec<i16> = tone(CPU_SECONDS).iter().flat_map(|&s| std::iter::repeat_n(s, 6)).collect();
    let mut ingest = Ingest::start(&base, 48_000, 2, "cpu").await?;
    let (cpu0, wall0) = (cpu_time().context("cpu time")?, Instant::now());
    ingest.send(&audio, 48_000, 2, 20, true).await?;
    let (cpu, wall) = (cpu_time().context("cpu time")? - cpu0, wall0.elapsed());
    let ended = ingest.stop(Duration::from_secs(120)).await?;
    ensure!(ended["status"] == "complete", "the session failed: {ended}");
    daemon.daemon.shutdown().await?;
    Ok((cpu.as_secs_f64() / wall.as_secs_f64() * 100.0, wall))
}

pub async fn run() -> Result<()> {
    let one = delivery(1, MESSAGES, MESSAGE_SPEED).await?;
    let rate = 50.0 * MESSAGE_SPEED;
    println!("provider message -> event hub, 1 client, {rate:.0} messages/s: {}", percentiles(one.to_hub));
    println!("provider message -> events client, 1 client, {rate:.0} messages/s: {}", percentiles(one.to_clients));
    let fan_out = delivery(FAN_OUT_CLIENTS, FAN_OUT_MESSAGES, FAN_OUT_SPEED).await?;
    println!(
        "provider message -> events client, {FAN_OUT_CLIENTS} clients x {FAN_OUT_MESSAGES} messages at {:.0}/s: {}",
        50.0 * FAN_OUT_SPEED,
        percentiles(fan_out.to_clients)
    );
    let pushes = push_cost().await?;
    println!("deepgram-live push-audio with a 20 ms frame (640 B): {}", percentiles(pushes));
    let (cpu, wall) = session_cpu().await?;
    println!(
        "live session, 48 kHz stereo speech-level audio in real time for {wall:.1?}: {cpu:.1} % of one core \
         (whole process: daemon, fake Deepgram and the sending client)"
    );
    Ok(())
}
