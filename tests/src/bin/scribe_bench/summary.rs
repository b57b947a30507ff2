//! `--summary`: how long a summary takes end to end with each summarizer against its fake,
//! excluding the fake's own time: request to the daemon → transcript read from the store →
//! segments and parts → the plugin in the sandbox (claude-summary with the fake Anthropic,
//! openai-summary with the fake OpenAI-compatible server) → streamed answer parsed and
//! checked, partials published → the summary stored → the `complete` event on an events
//! socket. Transcripts of several lengths, the longest over the default token budget (and
//! openai-summary's 8k context) so the parts and merge path is measured too.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use scribe_tests::fake_anthropic::FakeAnthropic;
use scribe_tests::fake_openai::{FakeOpenAi, Mode};
use scribe_tests::fake_server::{Journal, SeenRequest};
use scribe_tests::{Events, Setup, TestDaemon};
use scribed::clients::library::{NewSession, SessionKind, SessionStatus, Word};

const KEY: &str = "bench-anthropic-key";
/// Spoken words per hour at a conversational 150 words a minute.
const WORDS_PER_HOUR: usize = 9_000;
/// Transcript lengths measured, hours.
const HOURS: &[f64] = &[1.0 / 6.0, 1.0, 5.0, 10.0];
/// Summaries per length; the median is reported.
const RUNS: usize = 5;
/// Words per library call when seeding.
const WORDS_PER_APPEND: usize = 2_000;
const LIMIT: Duration = Duration::from_secs(300);

const VOCABULARY: &[&str] = &[
    "budget", "forecast", "customers", "release", "roadmap", "hiring", "venue", "contract", "review", "numbers",
    "quarter", "design", "testing", "support", "pricing", "launch", "feedback", "schedule", "risks", "metrics",
];

/// A transcript of `count` words: sentences of 12 words by two alternating speakers, every
/// tenth sentence a commitment ("will"), 400 ms per word.
fn words(count: usize) -> Vec<Word> {
    (0..count)
        .map(|i| {
            let sentence = i / 12;
            let position = i % 12;
            let text = match position {
                0 if sentence % 10 == 3 => "Alex".to_string(),
                1 if sentence % 10 == 3 => "will".to_string(),
                _ => VOCABULARY[(i * 7 + sentence) % VOCABULARY.len()].to_string(),
            };
            let punctuated = if position == 11 { format!("{text}.") } else { text.clone() };
            Word {
                text,
                punctuated,
                start_ms: i as u64 * 400,
                end_ms: i as u64 * 400 + 350,
                confidence: 0.95,
                speaker: Some((sentence % 2) as u32),
            }
        })
        .collect()
}

async fn seed(daemon: &TestDaemon, id: &str, count: usize) -> Result<()> {
    let library = daemon.daemon.library().context("library")?;
    library
        .create_session(NewSession {
            id: id.to_string(),
            kind: SessionKind::File,
            status: SessionStatus::Complete,
            source: "bench".into(),
            title: format!("Bench {count} words"),
            created_ms: 1,
            provider: Some("bench".into()),
        })
        .await?;
    let version = library.create_version(id.to_string(), "bench".into(), 1).await?;
    for chunk in words(count).chunks(WORDS_PER_APPEND) {
        library.append_words(version.id, chunk.to_vec()).await?;
    }
    Ok(())
}

/// Asks for a summary of `id` and waits for it.
async fn summarize(daemon: &TestDaemon, client: &reqwest::Client, events: &mut Events, id: &str) -> Result<()> {
    let response = client.post(daemon.url(&format!("/api/v1/sessions/{id}/summary"))).send().await?;
    ensure!(response.status() == 202, "summary request: {}", response.status());
    let end = events
        .until(LIMIT, |e| e["type"] == "summary" && e["session_id"] == id && ["complete", "error"].contains(&e["status"].as_str().unwrap_or("")))
        .await?;
    ensure!(end["status"] == "complete", "{end}");
    Ok(())
}

pub async fn run() -> Result<()> {
    let anthropic = FakeAnthropic::loopback(KEY).await;
    let daemon = Setup::new().with_fake_anthropic(&anthropic, KEY).start().await?;
    measure("claude-summary, fake Anthropic", &daemon, &anthropic).await?;
    let openai = FakeOpenAi::loopback(None, Mode::Full).await;
    let daemon = Setup::new().with_fake_openai(&openai, "llama3.2", None).start().await?;
    measure("openai-summary, fake OpenAI-compatible server, strict JSON schema", &daemon, &openai).await
}

/// Summaries of every length through `daemon`'s summarizer, whose fake keeps `journal`.
async fn measure<F>(name: &str, daemon: &TestDaemon, journal: &Journal<F, SeenRequest>) -> Result<()> {
    let mut events = Events::connect(daemon).await?;
    let client = reqwest::Client::new();
    println!("summary end to end ({name}, streaming, default budget), median of {RUNS}:");
    for &hours in HOURS {
        let count = (WORDS_PER_HOUR as f64 * hours).round() as usize;
        let id = format!("bench{count}");
        seed(daemon, &id, count).await?;
        // One summary first, unmeasured: instantiating the plugin and warming the store.
        summarize(daemon, &client, &mut events, &id).await?;
        let mut totals = Vec::with_capacity(RUNS);
        let mut daemon_shares = Vec::with_capacity(RUNS);
        let mut requests_per_summary = 0;
        for _ in 0..RUNS {
            let before = journal.requests().len();
            let started = Instant::now();
            summarize(daemon, &client, &mut events, &id).await?;
            let total = started.elapsed();
            let seen = journal.requests();
            let finished = journal.finished();
            let fake_time: Duration = seen[before..].iter().zip(&finished[before..]).map(|(r, f)| f.duration_since(r.at)).sum();
            requests_per_summary = seen.len() - before;
            totals.push(total);
            daemon_shares.push(total.saturating_sub(fake_time));
        }
        totals.sort();
        daemon_shares.sort();
        let session = daemon.get_json(&format!("/api/v1/sessions/{id}")).await?;
        println!(
            "  {:>5.1} h, {count:>6} words: {requests_per_summary} request(s), total {:.1?}, excluding the fake {:.1?} ({} input tokens reported)",
            hours,
            totals[RUNS / 2],
            daemon_shares[RUNS / 2],
            session["summary"]["input_tokens"],
        );
    }
    Ok(())
}
