//! `--backup`: online backup and restore of a library of 1,000 generated sessions (each with
//! 30 s of stored audio, a 600-word transcript and a summary), through the API a user's
//! `scribed backup` takes. Timed: the first backup to another filesystem (tmpfs: every byte
//! copied), the first to the data dir's filesystem (audio hard-linked), a second one to the
//! same place (nothing new to copy), and the restore of the first.

use std::time::{Duration, Instant};

use anyhow::Context;
use scribe_tests::{Events, Setup, TestDaemon};
use scribed::audio::store::{AudioStore, sha256_file};
use scribed::clients::library::{ActionItem, AudioFile, NewSession, SessionKind, SessionStatus, StoredSummary, Summary, Word, now_ms};

const SESSIONS: usize = 1_000;
/// Seconds of 16 kHz audio stored per session.
const AUDIO_SECS: usize = 30;
const WORDS: usize = 600;
/// A guard against a hung bench.
const LIMIT: Duration = Duration::from_secs(1_800);

pub async fn run() -> anyhow::Result<()> {
    let daemon = Setup::new().start().await?;
    let made = Instant::now();
    generate(&daemon).await?;
    println!("generated {SESSIONS} sessions in {:.1} s", made.elapsed().as_secs_f64());
    let mut events = Events::connect(&daemon).await?;

    let shm = tempfile::tempdir_in("/dev/shm").context("a tmpfs folder")?;
    let disk = tempfile::tempdir()?;
    let runs = [("first, to tmpfs (copied)", shm.path().join("b")), ("first, same filesystem (linked)", disk.path().join("b")), ("second, same place", disk.path().join("b"))];
    for (what, dest) in &runs {
        let started = Instant::now();
        let response = reqwest::Client::new().post(daemon.url("/api/v1/backup")).json(&serde_json::json!({ "dest": dest })).send().await?;
        anyhow::ensure!(response.status() == 202, "backup refused: {}", response.text().await?);
        let end = events.until(LIMIT, |e| e["type"] == "backup" && (e["stage"] == "done" || e["stage"] == "failed")).await?;
        anyhow::ensure!(end["stage"] == "done", "backup failed: {end}");
        let s = &end["summary"];
        println!(
            "backup {what}: {:.2} s wall, {} files, {:.1} MB held, {:.1} MB written, audio copied/linked/present {}/{}/{}, {} sessions listed",
            started.elapsed().as_secs_f64(),
            s["files"],
            s["bytes"].as_f64().unwrap_or(0.0) / 1e6,
            s["copied_bytes"].as_f64().unwrap_or(0.0) / 1e6,
            s["audio_copied"],
            s["audio_linked"],
            s["audio_present"],
            s["sessions"],
        );
    }
    let databases: u64 = scribed::backup::files::walk(&shm.path().join("b/data")).iter().filter(|p| p.extension().is_some_and(|e| e == "sqlite3")).map(|p| std::fs::metadata(p).map_or(0, |m| m.len())).sum();
    println!("databases in the backup: {:.1} MB", databases as f64 / 1e6);

    let target = disk.path().join("restored");
    let started = Instant::now();
    let restored = scribed::backup::restore::restore(&shm.path().join("b"), &target, |_, _, _| {})?;
    println!("restore (verify every digest, copy): {:.2} s for {} files", started.elapsed().as_secs_f64(), restored.manifest.files.len());
    Ok(())
}

/// Fills the library through the store plugin, as the pipelines would.
async fn generate(daemon: &TestDaemon) -> anyhow::Result<()> {
    let library = daemon.daemon.library().context("library")?.clone();
    let audio = AudioStore::new(daemon.daemon.data_dir().join("audio"));
    let scratch = tempfile::tempdir()?;
    let spec = hound::WavSpec { channels: 1, sample_rate: 16_000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut noise: u32 = 1;
    for n in 0..SESSIONS {
        let id = format!("f{n:016x}");
        let created_ms = now_ms() - (SESSIONS - n) as i64 * 3_600_000;
        library
            .create_session(NewSession {
                id: id.clone(),
                kind: SessionKind::File,
                status: SessionStatus::Complete,
                source: format!("meeting-{n}.wav"),
                title: format!("Meeting {n}"),
                created_ms,
                provider: Some("bench".into()),
            })
            .await?;
        let version = library.create_version(id.clone(), "bench".into(), created_ms).await?;
        let words: Vec<Word> = (0..WORDS)
            .map(|w| {
                let text = format!("word{}", (n * 7 + w * 13) % 5_000);
                Word { text: text.clone(), punctuated: text, start_ms: w as u64 * 400, end_ms: w as u64 * 400 + 350, confidence: 0.9, speaker: Some((w / 40 % 2) as u32) }
            })
            .collect();
        library.append_words(version.id, words).await?;
        let summary = Summary {
            title: Some(format!("Meeting {n}")),
            overview: format!("The team met for the {n}th time and agreed on the next steps."),
            key_points: vec!["The budget stays.".into(), "Two engineers are hired.".into()],
            action_items: vec![ActionItem { text: "Send the plan".into(), owner: Some("Alice".into()), at_ms: Some(1_000) }],
            decisions: vec!["Ship in March.".into()],
        };
        library
            .put_summary(id.clone(), StoredSummary { summary, model: "bench".into(), template: None, created_ms, input_tokens: Some(900), output_tokens: Some(200) })
            .await?;
        let wav = scratch.path().join(format!("{n}.wav"));
        let mut writer = hound::WavWriter::create(&wav, spec)?;
        for _ in 0..AUDIO_SECS * 16_000 {
            // A cheap generator: every file differs, as recordings do.
            noise ^= noise << 13;
            noise ^= noise >> 17;
            noise ^= noise << 5;
            writer.write_sample((noise >> 20) as i16 - 2_048)?;
        }
        writer.finalize()?;
        let sha = sha256_file(&wav)?;
        let stored = audio.put(&wav, &sha, "wav", true).await?;
        library
            .put_audio_file(id, AudioFile { sha256: sha, mime: "audio/wav".into(), size_bytes: stored.size, created_ms, peaks: vec![0; AUDIO_SECS * 10] })
            .await?;
    }
    Ok(())
}
