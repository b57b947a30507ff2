//! The inbox end to end: generated speech in four containers, a slowly written file, the
//! same bytes twice, and broken files, with the real components and the fake Deepgram.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use scribe_tests::fake_deepgram::{FakeDeepgram, Script};
use scribe_tests::{Events, Setup, TestDaemon};
use scribed::sinks::export::ExportFormat;

const KEY: &str = "dg-inbox-key";
const SPEECH: &str = "Scribe turns speech into a searchable library.";

fn run(cmd: &mut Command) {
    let status = cmd.status().unwrap_or_else(|err| panic!("{cmd:?}: {err} (install sox and espeak-ng)"));
    assert!(status.success(), "{cmd:?} failed");
}

/// `SPEECH` spoken by espeak-ng, converted by sox into `name` (its extension picks the
/// container).
fn speech(dir: &Path, name: &str) -> PathBuf {
    let wav = dir.join("speech-source.wav");
    if !wav.exists() {
        run(Command::new("espeak-ng").arg("-w").arg(&wav).arg(SPEECH));
    }
    let out = dir.join(name);
    run(Command::new("sox").arg(&wav).arg(&out));
    out
}

async fn daemon(fake: &FakeDeepgram) -> TestDaemon {
    let mut setup = Setup::new().with_fake_deepgram(fake, KEY);
    setup.config.inbox.stable_secs = 1;
    setup.config.inbox.rescan_secs = 1;
    setup.config.outbox.enabled = true;
    setup.config.outbox.formats = vec![ExportFormat::Srt, ExportFormat::Json];
    setup.start().await.expect("daemon starts")
}

/// Parses SRT strictly: numbered cues from 1, `HH:MM:SS,mmm --> HH:MM:SS,mmm` with the end
/// not before the start, at least one text line. Returns (start ms, end ms, text) per cue.
fn parse_srt(srt: &str) -> Vec<(u64, u64, String)> {
    let time = |t: &str| -> u64 {
        let (hms, ms) = t.split_once(',').unwrap_or_else(|| panic!("time {t:?}"));
        let parts: Vec<u64> = hms.split(':').map(|p| p.parse().unwrap_or_else(|_| panic!("time {t:?}"))).collect();
        assert!(parts.len() == 3 && ms.len() == 3 && hms.len() == 8, "time {t:?}");
        ((parts[0] * 60 + parts[1]) * 60 + parts[2]) * 1000 + ms.parse::<u64>().unwrap_or_else(|_| panic!("time {t:?}"))
    };
    let mut cues = Vec::new();
    for (index, block) in srt.split("\n\n").filter(|b| !b.trim().is_empty()).enumerate() {
        let lines: Vec<&str> = block.lines().collect();
        assert!(lines.len() >= 3, "cue {block:?}");
        assert_eq!(lines[0], (index + 1).to_string(), "cue numbers count from 1");
        let (start, end) = lines[1].split_once(" --> ").unwrap_or_else(|| panic!("timing line {:?}", lines[1]));
        let (start, end) = (time(start), time(end));
        assert!(end >= start, "{block:?}");
        cues.push((start, end, lines[2..].join(" ")));
    }
    cues
}

fn inbox(daemon: &TestDaemon) -> PathBuf {
    daemon.daemon.data_dir().join("inbox")
}

/// Waits for the inbox to report `name`'s outcome.
async fn outcome(events: &mut Events, name: &str) -> String {
    outcomes(events, &[name]).await.remove(name).unwrap_or_default()
}

/// Waits for the outcomes of several files, in whatever order they come.
async fn outcomes(events: &mut Events, names: &[&str]) -> std::collections::HashMap<String, String> {
    let mut seen = std::collections::HashMap::new();
    while seen.len() < names.len() {
        let event = events
            .until(Duration::from_secs(120), |e| e["type"] == "inbox-file" && names.iter().any(|n| e["name"] == *n))
            .await
            .unwrap_or_else(|err| panic!("{names:?}: {err}; seen {seen:?}"));
        seen.insert(event["name"].as_str().unwrap_or_default().to_string(), event["outcome"].as_str().unwrap_or_default().to_string());
    }
    seen
}

/// Copies into the inbox under a temporary name, then renames, as a careful tool would.
fn drop_file(daemon: &TestDaemon, from: &Path, name: &str) {
    scribe_tests::drop_into_inbox(&inbox(daemon), name, &std::fs::read(from).expect("read")).expect("into the inbox");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_in_every_container_is_transcribed_and_filed() {
    let work = tempfile::tempdir().expect("tempdir");
    let fake = FakeDeepgram::loopback(KEY).await;
    fake.default_script(Script::from_text(SPEECH, 3.0));
    let daemon = daemon(&fake).await;
    let mut events = Events::connect(&daemon).await.expect("events");
    let names = ["talk.wav", "talk.flac", "talk.mp3", "talk.ogg"];
    for name in names {
        drop_file(&daemon, &speech(work.path(), name), name);
    }
    let done = outcomes(&mut events, &names).await;
    for name in names {
        assert_eq!(done[name], "done", "{name}");
        assert!(inbox(&daemon).join("done").join(name).exists(), "{name} moved to done/");
    }
    let page = daemon.get_json("/api/v1/sessions?status=complete").await.expect("sessions");
    assert_eq!(page["total"], 4, "{page}");
    let id = page["sessions"][0]["id"].as_str().expect("id").to_string();
    let srt = reqwest::get(daemon.url(&format!("/api/v1/sessions/{id}/export?format=srt"))).await.expect("srt").text().await.expect("srt");
    let cues = parse_srt(&srt);
    let joined = cues.iter().map(|c| c.2.as_str()).collect::<Vec<_>>().join(" ");
    for word in SPEECH.split_whitespace() {
        assert!(joined.contains(word), "{word} in the SRT: {srt}");
    }
    assert!(cues.windows(2).all(|w| w[0].0 <= w[1].0), "cues in time order: {cues:?}");
    assert!(cues.last().is_some_and(|c| c.1 <= 3_000), "within the audio: {cues:?}");

    // The outbox got both formats of every file, named after it; the SRT is the API's.
    let outbox = daemon.daemon.data_dir().join("outbox");
    let mut exported: Vec<String> = std::fs::read_dir(&outbox)
        .expect("outbox exists")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    exported.sort();
    assert_eq!(exported.len(), 8, "{exported:?}");
    assert!(exported.iter().all(|n| n.starts_with("talk-f") && (n.ends_with(".srt") || n.ends_with(".json"))), "{exported:?}");
    let from_outbox = std::fs::read_to_string(outbox.join(format!("talk-{id}.srt"))).expect("exported srt");
    assert_eq!(from_outbox, srt);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(outbox.join(format!("talk-{id}.json"))).expect("json")).expect("valid JSON");
    assert!(json.to_string().contains("searchable"), "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_writes_duplicates_and_broken_files() {
    let work = tempfile::tempdir().expect("tempdir");
    let fake = FakeDeepgram::loopback(KEY).await;
    fake.default_script(Script::from_text(SPEECH, 3.0));
    let daemon = daemon(&fake).await;
    let mut events = Events::connect(&daemon).await.expect("events");

    // Written in pieces, each within the stability window: taken once, when complete.
    let source = std::fs::read(speech(work.path(), "slow.wav")).expect("read");
    let target = inbox(&daemon).join("slow.wav");
    let pieces = 8;
    let step = source.len().div_ceil(pieces);
    for (i, piece) in source.chunks(step).enumerate() {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&target).expect("open");
        file.write_all(piece).expect("write");
        drop(file);
        if i + 1 < pieces {
            // Pacing of the simulated slow copy, shorter than the 1 s window.
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
    }
    assert_eq!(outcome(&mut events, "slow.wav").await, "done");
    assert_eq!(fake.requests().len(), 1, "one job for the slowly written file");
    assert_eq!(fake.requests()[0].body_len, source.len(), "the whole file was sent");

    // The same bytes under another name: no new session.
    std::fs::write(inbox(&daemon).join("again.wav"), &source).expect("write");
    assert_eq!(outcome(&mut events, "again.wav").await, "done");
    assert_eq!(daemon.get_json("/api/v1/sessions").await.expect("sessions")["total"], 1);
    assert_eq!(fake.requests().len(), 1);

    // Broken files end in failed/ with the reason beside them; nothing reaches the provider.
    let broken: [(&str, &[u8]); 3] = [("empty.wav", b""), ("notes.wav", b"meeting notes, not audio"), ("noise.mp3", &[0x5a; 2048])];
    for (name, bytes) in broken {
        std::fs::write(inbox(&daemon).join(name), bytes).expect("write");
    }
    let ended = outcomes(&mut events, &broken.map(|(name, _)| name)).await;
    for (name, _) in broken {
        assert_eq!(ended[name], "failed", "{name}");
        let reason = std::fs::read_to_string(inbox(&daemon).join("failed").join(format!("{name}.error.txt"))).expect("error note");
        assert!(reason.contains("audio"), "{name}: {reason}");
    }
    assert_eq!(fake.requests().len(), 1);
    // Hidden and partial files are never taken: a file dropped after them is, and they
    // are still lying there untouched when it is done.
    std::fs::write(inbox(&daemon).join(".hidden.wav"), &source).expect("write");
    std::fs::write(inbox(&daemon).join("download.wav.crdownload"), &source).expect("write");
    drop_file(&daemon, &speech(work.path(), "marker.flac"), "marker.flac");
    assert_eq!(outcome(&mut events, "marker.flac").await, "done");
    assert!(inbox(&daemon).join(".hidden.wav").exists() && inbox(&daemon).join("download.wav.crdownload").exists());
    // Two transcribed files; the three broken ones are sessions in error, saying why.
    assert_eq!(daemon.get_json("/api/v1/sessions?status=complete").await.expect("sessions")["total"], 2);
    assert_eq!(daemon.get_json("/api/v1/sessions?status=error").await.expect("sessions")["total"], 3);
    assert_eq!(fake.requests().len(), 2);
    assert_eq!(daemon.get_json("/healthz").await.expect("healthz")["status"], "ok", "the daemon is unaffected");
}

/// Waits for the session's job to end and returns its status.
async fn job_status(events: &mut Events, session: &str) -> String {
    events.job_end(session).await.expect("job ends")["status"].as_str().unwrap_or_default().to_string()
}

/// Waits for the next session the inbox creates; returns its id.
async fn created(events: &mut Events) -> String {
    let event = events.until(Duration::from_secs(60), |e| e["type"] == "library" && e["change"] == "created").await.expect("a session is created");
    event["session_id"].as_str().expect("id").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_pauses_past_the_window_leaves_one_whole_session() {
    use std::io::Write;
    let work = tempfile::tempdir().expect("tempdir");
    let fake = FakeDeepgram::loopback(KEY).await;
    fake.default_script(Script::from_text(SPEECH, 3.0));
    // The first job is still at the provider when the writer resumes (and ends after its
    // session was dropped, freeing the worker for the whole file).
    fake.push_fault(scribe_tests::fake_deepgram::Fault::Latency(Duration::from_secs(5)));
    let daemon = daemon(&fake).await;
    let mut events = Events::connect(&daemon).await.expect("events");
    let source = std::fs::read(speech(work.path(), "paused.wav")).expect("read");
    let target = inbox(&daemon).join("paused.wav");
    let mut file = std::fs::File::create(&target).expect("create");
    file.write_all(&source[..source.len() / 2]).expect("first half");
    file.flush().expect("flush");
    // The writer stalls longer than the window: the half is taken...
    let first = created(&mut events).await;
    tokio::time::timeout(Duration::from_secs(60), fake.wait_for_requests(1)).await.expect("the half went to the provider");
    // ...then the rest arrives, and the whole file replaces it.
    file.write_all(&source[source.len() / 2..]).expect("second half");
    drop(file);
    let second = created(&mut events).await;
    assert_eq!(outcome(&mut events, "paused.wav").await, "superseded");
    assert_eq!(job_status(&mut events, &second).await, "complete");
    assert_eq!(outcome(&mut events, "paused.wav").await, "done");
    let done = std::fs::read(inbox(&daemon).join("done").join("paused.wav")).expect("moved to done/");
    assert_eq!(done.len(), source.len(), "the file was moved only when whole");
    let sessions = daemon.get_json("/api/v1/sessions").await.expect("sessions");
    assert_eq!(sessions["total"], 1, "the half-written session is gone: {sessions}");
    assert_eq!(sessions["sessions"][0]["id"], second.as_str());
    assert!(daemon.get_json(&format!("/api/v1/sessions/{first}")).await.is_err(), "{first} was dropped");
    assert_eq!(fake.requests().last().map(|r| r.body_len), Some(source.len()), "the whole file was transcribed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_grows_after_its_transcript_is_done_is_transcribed_whole() {
    use std::io::Write;
    let work = tempfile::tempdir().expect("tempdir");
    let fake = FakeDeepgram::loopback(KEY).await;
    fake.default_script(Script::from_text(SPEECH, 3.0));
    let mut setup = Setup::new().with_fake_deepgram(&fake, KEY);
    setup.config.inbox.stable_secs = 1;
    setup.config.inbox.rescan_secs = 1;
    setup.config.inbox.after_success = scribed::config::AfterSuccess::Keep;
    let daemon = setup.start().await.expect("daemon starts");
    let mut events = Events::connect(&daemon).await.expect("events");
    let source = std::fs::read(speech(work.path(), "grown.wav")).expect("read");
    let target = inbox(&daemon).join("grown.wav");
    let mut file = std::fs::File::create(&target).expect("create");
    file.write_all(&source[..source.len() / 3]).expect("first third");
    file.flush().expect("flush");
    let first = created(&mut events).await;
    assert_eq!(job_status(&mut events, &first).await, "complete");
    assert_eq!(outcome(&mut events, "grown.wav").await, "kept");
    file.write_all(&source[source.len() / 3..]).expect("the rest");
    drop(file);
    let second = created(&mut events).await;
    assert_eq!(outcome(&mut events, "grown.wav").await, "superseded");
    assert_eq!(job_status(&mut events, &second).await, "complete");
    let sessions = daemon.get_json("/api/v1/sessions").await.expect("sessions");
    assert_eq!(sessions["total"], 1, "{sessions}");
    assert_eq!(sessions["sessions"][0]["id"], second.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_name_that_is_not_utf8_is_taken() {
    use std::os::unix::ffi::OsStrExt;
    let work = tempfile::tempdir().expect("tempdir");
    let fake = FakeDeepgram::loopback(KEY).await;
    fake.default_script(Script::from_text(SPEECH, 3.0));
    let daemon = daemon(&fake).await;
    let mut events = Events::connect(&daemon).await.expect("events");
    // "café.wav" in Latin-1, as old tools and Samba shares write names.
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.wav");
    std::fs::copy(speech(work.path(), "latin1.wav"), inbox(&daemon).join(name)).expect("copy");
    let id = created(&mut events).await;
    assert_eq!(job_status(&mut events, &id).await, "complete");
    let session = daemon.get_json(&format!("/api/v1/sessions/{id}")).await.expect("session");
    assert_eq!(session["session"]["title"], "caf\u{FFFD}", "{session}");
    assert_eq!(outcome(&mut events, "caf\u{FFFD}.wav").await, "done");
    assert!(inbox(&daemon).join("done").join(name).exists(), "moved under its own name");
}
