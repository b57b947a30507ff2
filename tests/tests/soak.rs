//! A bounded kill -9 soak: speech files flow through the inbox to whisper-local while the
//! daemon is SIGKILLed at random moments and restarted. At the end every distinct file is
//! exactly one complete session (none lost, none duplicated, none stuck), search finds each
//! by its own word, and every SQLite database passes `PRAGMA integrity_check`.
//!
//! `SCRIBE_SOAK_ROUNDS` runs more rounds than the suite's few (the issue note reports one).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use scribe_tests::corpus::Rng;
use scribe_tests::process::{bin, serve_with};

/// Kill rounds in the suite: enough to cut a take, a job and an upload of the index.
const DEFAULT_ROUNDS: u64 = 3;
/// Latest kill after a start, ms: a file is taken, decoded and transcribed within this.
const MAX_KILL_DELAY_MS: u64 = 6_000;
/// A distinct word per file, so search can tell them apart.
const WORDS: [&str; 4] = ["zebra", "violin", "harbor", "pumpkin"];

fn config(work: &Path) -> std::path::PathBuf {
    let text = scribed::config::DEFAULT_CONFIG
        .replacen("listen = \"127.0.0.1:8737\"", "listen = \"127.0.0.1:0\"", 1)
        .replacen("stable_secs = 3", "stable_secs = 1", 1)
        .replacen("rescan_secs = 10", "rescan_secs = 1", 1)
        // Many kills may land on one file's job; none of them is the file's fault.
        .replacen("max_attempts = 5", "max_attempts = 100", 1);
    assert!(text.contains("stt_batch = \"auto\"") && text.contains("max_attempts = 100"), "config edits applied");
    let path = work.join("scribed.toml");
    std::fs::write(&path, format!("cache_dir = {:?}\n{text}", scribe_tests::shared_cache_dir())).expect("config");
    path
}

fn serve(config: &Path, data: &Path) -> (std::process::Child, String) {
    let mut command = Command::new(bin());
    command
        .arg("serve")
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .arg("--plugins-dir")
        .arg(scribe_tests::plugins_dir())
        // Keyless, whatever the environment holds: whisper-local transcribes.
        .env_remove("DEEPGRAM_API_KEY")
        .env("RUST_LOG", "warn");
    serve_with(command)
}

async fn get(url: &str) -> serde_json::Value {
    reqwest::get(url).await.expect("get").json().await.expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_and_duplicates_nothing() {
    let rounds: u64 = std::env::var("SCRIBE_SOAK_ROUNDS").ok().and_then(|n| n.parse().ok()).unwrap_or(DEFAULT_ROUNDS);
    let work = tempfile::tempdir().expect("tempdir");
    let data = work.path().join("data");
    let models = data.join("models");
    std::fs::create_dir_all(&models).expect("models");
    std::os::unix::fs::symlink(scribe_tests::test_model_dir(), models.join("tiny.en")).expect("model");
    let config = config(work.path());
    let inbox = data.join("inbox");
    let mut files = Vec::new();
    for word in WORDS {
        let path = work.path().join(format!("{word}.wav"));
        let said = format!("The word of this file is {word}.");
        let ok = Command::new("espeak-ng").arg("-w").arg(&path).arg(&said).status().is_ok_and(|s| s.success());
        assert!(ok, "espeak-ng");
        files.push(path);
    }

    let mut rng = Rng::new(rounds);
    let mut dropped = 0;
    for round in 0..rounds {
        let (mut daemon, _) = serve(&config, &data);
        // Files arrive over the rounds: some are taken before a kill, some during one.
        let due = ((round + 1) * WORDS.len() as u64).div_ceil(rounds) as usize;
        while dropped < due {
            let part = inbox.join(format!("{}.part", WORDS[dropped]));
            std::fs::copy(&files[dropped], &part).expect("copy");
            std::fs::rename(&part, inbox.join(format!("{}.wav", WORDS[dropped]))).expect("rename");
            dropped += 1;
        }
        // The moment of the kill is the random part of the test, not a wait for anything.
        tokio::time::sleep(Duration::from_millis(rng.next_u64() % MAX_KILL_DELAY_MS)).await;
        daemon.kill().expect("SIGKILL");
        daemon.wait().expect("reaped");
    }

    let (mut daemon, url) = serve(&config, &data);
    let settled = tokio::time::timeout(Duration::from_secs(600), async {
        loop {
            let page = get(&format!("{url}/api/v1/sessions?limit=100")).await;
            let sessions = page["sessions"].as_array().cloned().unwrap_or_default();
            let finished = sessions.iter().filter(|s| matches!(s["status"].as_str(), Some("complete" | "error"))).count();
            if sessions.len() >= WORDS.len() && finished == sessions.len() {
                return sessions;
            }
            // The library is polled: the inbox's progress has no single event to wait for
            // across restarts.
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await
    .expect("every file was transcribed after the last restart");
    assert_eq!(settled.len(), WORDS.len(), "one session per file: {settled:?}");
    assert!(settled.iter().all(|s| s["status"] == "complete"), "{settled:?}");
    for word in WORDS {
        let mut found = None;
        // The index catches up with the library within its commit interval.
        for _ in 0..40 {
            let page = get(&format!("{url}/api/v1/search?q={word}")).await;
            found = page["sessions"].as_array().and_then(|s| s.first()).map(|s| s["session_id"].clone());
            if found.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let id = found.unwrap_or_else(|| panic!("search finds {word}"));
        let session = settled.iter().find(|s| s["id"] == id).unwrap_or_else(|| panic!("{word}: {id} is one of the sessions"));
        assert_eq!(session["title"], word, "{session}");
    }
    let left: Vec<_> = std::fs::read_dir(&inbox).expect("inbox").flatten().filter(|e| e.path().is_file()).collect();
    assert!(left.is_empty(), "every file left the inbox for done/: {left:?}");
    daemon.kill().expect("stop");
    daemon.wait().expect("reaped");

    let mut databases = Vec::new();
    let mut stack = vec![data.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("dir").flatten() {
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "sqlite3") {
                databases.push(path);
            }
        }
    }
    assert!(databases.len() >= 3, "jobs, summaries and the library: {databases:?}");
    for path in databases {
        let db = rusqlite::Connection::open(&path).expect("open");
        let check: String = db.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity_check");
        assert_eq!(check, "ok", "{}", path.display());
    }
    eprintln!("soak: {rounds} SIGKILL rounds, {} files, each one complete session", WORDS.len());
}
