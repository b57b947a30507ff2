//! Online backup and restore with the real store, index, audio store and binary, and the
//! fake Deepgram and Anthropic. `scribed backup` finishes while files flow through the
//! inbox; restored into an empty dir, the backup gives a daemon whose sessions, words,
//! summaries and search answers equal the original's for every session its manifest lists.
//! A second backup to the same folder copies only the new audio; a corrupted file makes
//! `restore` fail, naming it; a non-empty data dir is refused.

use std::collections::HashMap;
use std::time::Duration;

use scribe_tests::fake_anthropic::FakeAnthropic;
use scribe_tests::fake_deepgram::{FakeDeepgram, Script};
use scribe_tests::{Events, Setup, TestDaemon, drop_into_inbox, sox_tone};
use serde_json::Value;

const DG_KEY: &str = "dg-backup-key";
const AN_KEY: &str = "an-backup-key";
/// A guard against a hung test, not a synchronisation delay.
const LIMIT: Duration = Duration::from_secs(180);
/// Files transcribed before the backup, and dropped into the inbox as it starts.
const BEFORE: u32 = 4;
const DURING: u32 = 6;

/// Words every session says, with one of its own, long enough to be summarised.
fn script(word: &str) -> String {
    format!(
        "the planning meeting about the {word} project agreed to hire two engineers and to ship the first version in \
         march while the budget stays as it is and the team meets again next week to review the {word} plan"
    )
}

fn word(n: u32) -> String {
    format!("zq{n}word")
}

/// Every session's latest change number in the library.
async fn changes(daemon: &TestDaemon) -> HashMap<String, u64> {
    let library = daemon.daemon.library().expect("library");
    let mut seen = HashMap::new();
    let mut after = 0;
    loop {
        let page = library.changes_since(after, 500).await.expect("changes");
        let Some(last) = page.last() else { return seen };
        after = last.seq;
        seen.extend(page.into_iter().map(|c| (c.session_id, c.seq)));
    }
}

/// What a session shows, without what a restore legitimately changes (the latest job and
/// summary request live in queues that keep running).
async fn view(daemon: &TestDaemon, id: &str) -> Value {
    let mut detail = daemon.get_json(&format!("/api/v1/sessions/{id}")).await.expect("session");
    for volatile in ["job", "summary_status"] {
        detail.as_object_mut().expect("object").remove(volatile);
    }
    let words = daemon.get_json(&format!("/api/v1/sessions/{id}/words?limit=10000")).await.expect("words");
    serde_json::json!({ "detail": detail, "words": words })
}

/// Waits until every session's summary request has ended.
async fn summarised(daemon: &TestDaemon, events: &mut Events) {
    loop {
        let page = daemon.get_json("/api/v1/sessions?limit=500").await.expect("sessions");
        let mut pending = 0;
        for session in page["sessions"].as_array().expect("sessions") {
            let id = session["id"].as_str().expect("id");
            let detail = daemon.get_json(&format!("/api/v1/sessions/{id}")).await.expect("session");
            if !["done", "failed", "empty"].contains(&detail["summary_status"]["state"].as_str().unwrap_or("queued")) {
                pending += 1;
            }
        }
        if pending == 0 {
            return;
        }
        // Any summary's end (read after the look, so one that ended meanwhile is still seen).
        events.until(LIMIT, |e| e["type"] == "summary" && ["complete", "error", "empty"].contains(&e["status"].as_str().unwrap_or(""))).await.expect("a summary ends");
    }
}

fn scribed(args: &[&std::ffi::OsStr]) -> std::process::Output {
    std::process::Command::new(scribe_tests::process::bin()).args(args).output().expect("scribed runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_restores_to_the_same_library() {
    let work = tempfile::tempdir().expect("tempdir");
    let deepgram = FakeDeepgram::loopback(DG_KEY).await;
    let anthropic = FakeAnthropic::loopback(AN_KEY).await;
    let mut setup = Setup::new().with_fake_deepgram(&deepgram, DG_KEY).with_fake_anthropic(&anthropic, AN_KEY);
    setup.config.inbox.stable_secs = 1;
    setup.config.inbox.rescan_secs = 1;
    setup.config.search.commit_interval_ms = 50;
    let daemon = setup.start().await.expect("daemon starts");
    let mut events = Events::connect(&daemon).await.expect("events");

    let mut tones = Vec::new();
    for n in 0..BEFORE + DURING {
        let bytes = sox_tone(work.path(), 200 + 50 * n, 16000, 1).expect("sox");
        deepgram.script(&bytes, Script::from_text(&script(&word(n)), 12.0));
        tones.push(bytes);
    }
    let mut before = Vec::new();
    for (n, bytes) in tones.iter().take(BEFORE as usize).enumerate() {
        let id = daemon.upload(&format!("before-{n}.wav"), bytes.clone()).await.expect("upload");
        assert_eq!(events.job_end(&id).await.expect("job ends")["status"], "complete");
        before.push(id);
    }
    summarised(&daemon, &mut events).await;

    // Files arrive in the inbox, and the backup starts once the first is being transcribed.
    for (n, bytes) in tones.iter().enumerate().skip(BEFORE as usize) {
        drop_into_inbox(&daemon.daemon.data_dir().join("inbox"), &format!("during-{n}.wav"), bytes).expect("into the inbox");
    }
    let known = before.clone();
    events.until(LIMIT, |e| e["type"] == "job" && e["status"] == "processing" && !known.iter().any(|id| e["session_id"] == id.as_str())).await.expect("the inbox takes a file");
    let dest = work.path().join("backup");
    let url = daemon.url("");
    let took = tokio::task::spawn_blocking({
        let dest = dest.clone();
        move || scribed(&["backup".as_ref(), dest.as_os_str(), "--url".as_ref(), url.as_ref()])
    })
    .await
    .expect("join");
    let said = String::from_utf8_lossy(&took.stdout);
    assert!(took.status.success(), "{said}{}", String::from_utf8_lossy(&took.stderr));
    assert!(said.contains("backed up"), "{said}");
    let manifest: Value = serde_json::from_slice(&std::fs::read(dest.join("manifest.json")).expect("manifest")).expect("json");
    let listed: HashMap<String, u64> = manifest["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| (s["id"].as_str().expect("id").to_string(), s["change"].as_u64().expect("change")))
        .collect();
    for id in &before {
        assert!(listed.contains_key(id), "{id} was settled before the backup, so it is listed");
    }
    assert!(manifest["files"].as_array().expect("files").iter().any(|f| f["path"] == "scribed.toml"), "the configuration is in it");
    assert!(!dest.join("data/index").exists(), "the index is not backed up");

    // The original settles: every file transcribed and summarised.
    let total = BEFORE + DURING;
    loop {
        let sessions = daemon.get_json("/api/v1/sessions?status=complete").await.expect("sessions");
        if sessions["total"] == total {
            break;
        }
        events.until(LIMIT, |e| e["type"] == "job" && e["status"] == "complete").await.expect("a job ends");
    }
    // ... and summarised, so nothing changes while the copies are compared.
    summarised(&daemon, &mut events).await;
    let original_changes = changes(&daemon).await;

    // Restored into an empty dir by the binary, then served.
    let restored_dir = work.path().join("restored");
    let restored = scribed(&["restore".as_ref(), dest.as_os_str(), "--data-dir".as_ref(), restored_dir.as_os_str(), "--no-serve".as_ref()]);
    assert!(restored.status.success(), "{}", String::from_utf8_lossy(&restored.stderr));
    let mut setup = Setup { data_dir: Some(restored_dir.clone()), ..Setup::new() }.with_fake_deepgram(&deepgram, DG_KEY).with_fake_anthropic(&anthropic, AN_KEY);
    setup.config.inbox.enabled = false;
    setup.config.search.commit_interval_ms = 50;
    let copy = setup.start().await.expect("the restored daemon starts");
    let mut copy_events = Events::connect(&copy).await.expect("events");
    copy.indexed(&mut copy_events).await.expect("indexed");
    daemon.indexed(&mut events).await.expect("indexed");

    let mut compared = 0;
    for (n, _) in tones.iter().enumerate() {
        let hits = daemon.search_ids(&word(n as u32)).await.expect("search");
        let [id] = hits.as_slice() else { panic!("one session says {}: {hits:?}", word(n as u32)) };
        // A listed session that the original changed after the backup (a summary landing)
        // differs legitimately.
        if listed.get(id).is_none_or(|seq| original_changes.get(id) != Some(seq)) {
            continue;
        }
        assert_eq!(view(&copy, id).await, view(&daemon, id).await, "session {id}");
        assert_eq!(copy.search_ids(&word(n as u32)).await.expect("search"), hits, "search for {}", word(n as u32));
        compared += 1;
    }
    assert!(compared >= BEFORE as usize, "at least the sessions settled before the backup compare: {compared}");
    drop(copy_events);
    copy.daemon.shutdown().await.expect("shutdown");

    // A second backup to the same folder brings only the new audio.
    let audio_before = scribed::backup::files::walk(&dest.join("data/audio")).len();
    // Subscribed afresh: the first backup's events are still unread on the old stream.
    drop(events);
    let mut events = Events::connect(&daemon).await.expect("events");
    let started = reqwest::Client::new().post(daemon.url("/api/v1/backup")).json(&serde_json::json!({ "dest": dest })).send().await.expect("backup");
    assert_eq!(started.status(), 202);
    let end = events.until(LIMIT, |e| e["type"] == "backup" && (e["stage"] == "done" || e["stage"] == "failed")).await.expect("backup ends");
    assert_eq!(end["stage"], "done", "{end}");
    let summary = &end["summary"];
    assert_eq!(summary["audio_present"], audio_before, "{end}");
    assert_eq!(summary["audio_linked"].as_u64().unwrap_or(0) + summary["audio_copied"].as_u64().unwrap_or(0), u64::from(total) - audio_before as u64, "{end}");
    assert_eq!(summary["sessions"], total, "all settled now, so all listed: {end}");

    // A refused destination and a corrupted backup.
    let refused = reqwest::Client::new()
        .post(daemon.url("/api/v1/backup"))
        .json(&serde_json::json!({ "dest": daemon.daemon.data_dir().join("inside") }))
        .send()
        .await
        .expect("backup");
    assert_eq!(refused.status(), 400);
    let victim = scribed::backup::files::walk(&dest.join("data/audio")).into_iter().next().expect("an audio file");
    // A hard link shares the original's bytes: the backup's copy is replaced, not edited.
    let mut bytes = std::fs::read(&victim).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::remove_file(&victim).expect("unlink");
    std::fs::write(&victim, bytes).expect("corrupt");
    let broken = scribed(&["restore".as_ref(), dest.as_os_str(), "--data-dir".as_ref(), work.path().join("broken").as_os_str(), "--no-serve".as_ref()]);
    let complaint = String::from_utf8_lossy(&broken.stderr);
    let name = victim.file_name().and_then(|n| n.to_str()).expect("name");
    assert!(!broken.status.success() && complaint.contains(name), "{complaint}");
    assert!(!work.path().join("broken").exists(), "nothing is restored from a corrupt backup");
    let full = scribed(&["restore".as_ref(), dest.as_os_str(), "--data-dir".as_ref(), restored_dir.as_os_str(), "--no-serve".as_ref()]);
    assert!(!full.status.success() && String::from_utf8_lossy(&full.stderr).contains("not empty"));
}
