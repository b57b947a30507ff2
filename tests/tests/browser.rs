//! The web UI end to end in headless Chromium (the Debian package), driven by playwright-core
//! from `tests/browser/ui.test.mjs` under node's test runner.
//!
//! This side provides what the browser tests cannot: the fake Deepgram (files and live) and
//! fake Anthropic on loopback, a config pointing the daemon at them, speech for Chromium's
//! fake microphone and files to upload. The node side starts, stops and restarts the real
//! `scribed serve` itself (the offline test needs the daemon gone and back on the same
//! port) and saves a screenshot of every main view under `<target>/ui-artifacts/`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use scribe_tests::fake_anthropic::FakeAnthropic;
use scribe_tests::fake_deepgram::{FakeDeepgram, Script};
use scribe_tests::process;

const DEEPGRAM_KEY: &str = "browser-deepgram-key";
const ANTHROPIC_KEY: &str = "browser-anthropic-key";
/// What every uploaded file "says": over 20 words (summaries need them), an action item,
/// a decision, and markup that must stay text.
const FILE_SCRIPT: &str = "Welcome to the weekly planning meeting everyone. We will ship the release on Friday after the review. \
     Dana will write the notes <script>alert(2)</script> for the team. We decided to keep the budget as it is.";
/// Seconds the file script's words are spread over; the uploaded speech is longer.
const FILE_SCRIPT_SECS: f64 = 9.0;
/// What a live stream hears over its first seconds of speech.
const LIVE_SCRIPT: &str = "Good morning this is a live recording from the browser microphone about the garden project. \
     We will order the seeds tomorrow. We decided to plant tomatoes first and peppers later in the spring.";
const LIVE_SCRIPT_SECS: f64 = 8.0;
/// Where Chromium lives unless SCRIBE_CHROMIUM says otherwise.
const CHROMIUM: &str = "/usr/bin/chromium";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// A port nobody listens on now, for a daemon that must come back on the same one.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// `text` spoken by espeak-ng, converted by sox to `path` (format from its extension).
fn speak(dir: &Path, text: &str, path: &Path, sox_args: &[&str]) {
    let raw = dir.join("espeak.wav");
    let spoke = Command::new("espeak-ng").arg("-w").arg(&raw).arg(text).status().expect("espeak-ng runs");
    assert!(spoke.success(), "espeak-ng failed");
    let converted = Command::new("sox").arg(&raw).args(sox_args).arg(path).status().expect("sox runs");
    assert!(converted.success(), "sox failed for {}", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_ui_in_chromium() {
    let chromium = std::env::var("SCRIBE_CHROMIUM").unwrap_or_else(|_| CHROMIUM.into());
    assert!(Path::new(&chromium).is_file(), "{chromium} is missing: install the Debian package `chromium` (.ci/run does)");
    let browser_tests = workspace().join("tests").join("browser");
    assert!(
        browser_tests.join("node_modules").join("playwright-core").is_dir(),
        "playwright-core is missing: run `npm ci` in tests/browser (`cargo xtask test` does)"
    );

    let deepgram = FakeDeepgram::start("127.0.0.1:0".parse().expect("addr"), DEEPGRAM_KEY).await.expect("fake Deepgram");
    deepgram.default_script(Script::from_text(FILE_SCRIPT, FILE_SCRIPT_SECS));
    deepgram.live_default(Script::from_text(LIVE_SCRIPT, LIVE_SCRIPT_SECS));
    let anthropic = FakeAnthropic::start("127.0.0.1:0".parse().expect("addr"), ANTHROPIC_KEY).await.expect("fake Anthropic");

    let dir = tempfile::tempdir().expect("tempdir");
    let base = process::config_text_with_anthropic(&deepgram, &anthropic);
    let listen = |port: u16| format!("listen = \"127.0.0.1:{port}\"");
    let open_config = dir.path().join("scribed.toml");
    std::fs::write(&open_config, base.replacen(&listen(0), &listen(free_port()), 1)).expect("config");
    let paired_config = dir.path().join("scribed-paired.toml");
    let paired = base.replacen(&listen(0), &listen(free_port()), 1).replacen("auth = \"auto\"", "auth = \"always\"", 1);
    assert!(paired.contains("auth = \"always\""), "auth edit applied");
    std::fs::write(&paired_config, paired).expect("config");
    // More free space kept than any disk here has: new work waits.
    let full_disk_config = dir.path().join("scribed-full-disk.toml");
    let full_disk = base.replacen(&listen(0), &listen(free_port()), 1).replacen("min_free_mb = 1024", "min_free_mb = 1099511627776", 1);
    assert!(full_disk.contains("min_free_mb = 1099511627776"), "storage edit applied");
    std::fs::write(&full_disk_config, full_disk).expect("config");

    let spoken = FILE_SCRIPT.replace("<script>alert(2)</script>", "");
    let microphone = dir.path().join("microphone.wav");
    speak(dir.path(), LIVE_SCRIPT, &microphone, &["-r", "48000", "-c", "1", "-b", "16"]);
    let uploads = [dir.path().join("planning-one.wav"), dir.path().join("planning-two.flac")];
    speak(dir.path(), &spoken, &uploads[0], &["-r", "16000"]);
    speak(dir.path(), &spoken, &uploads[1], &["-r", "22050"]);
    // Room for the first upload's audio, not for both: the second one's goes.
    let sizes: Vec<u64> = uploads.iter().map(|u| std::fs::metadata(u).expect("upload").len()).collect();
    let retention_config = dir.path().join("scribed-retention.toml");
    let limit_gb = (sizes[0] + sizes[1] / 2) as f64 / 1e9;
    let retention = base.replacen(&listen(0), &listen(free_port()), 1).replacen("keep_originals = true", &format!("max_audio_gb = {limit_gb}\nkeep_originals = true"), 1);
    assert!(retention.contains("max_audio_gb"), "retention edit applied");
    std::fs::write(&retention_config, retention).expect("config");

    let artifacts = scribe_tests::plugins_dir().with_file_name("ui-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let mut node = Command::new("node");
    node.args(["--test", "--test-concurrency=1", "--test-reporter=spec", "ui.test.mjs"])
        .current_dir(&browser_tests)
        .env("SCRIBE_BIN", process::bin())
        .env("SCRIBE_PLUGINS_DIR", scribe_tests::plugins_dir())
        .env("SCRIBE_CONFIG", &open_config)
        .env("SCRIBE_PAIRED_CONFIG", &paired_config)
        .env("SCRIBE_FULL_DISK_CONFIG", &full_disk_config)
        .env("SCRIBE_RETENTION_CONFIG", &retention_config)
        .env("SCRIBE_WORK", dir.path())
        .env("SCRIBE_CHROMIUM", &chromium)
        .env("SCRIBE_MICROPHONE", &microphone)
        .env("SCRIBE_UPLOADS", std::env::join_paths(&uploads).expect("paths"))
        .env("SCRIBE_ARTIFACTS", &artifacts)
        .env("SCRIBE_SECRETS", format!("{DEEPGRAM_KEY}:{ANTHROPIC_KEY}"))
        .env("DEEPGRAM_API_KEY", DEEPGRAM_KEY)
        .env("ANTHROPIC_API_KEY", ANTHROPIC_KEY);
    let status = tokio::task::spawn_blocking(move || node.status()).await.expect("join").expect("node runs");
    assert!(status.success(), "the browser tests failed (see their output above; screenshots in {})", artifacts.display());
    // The fakes saw the product at work, not only the page.
    assert!(!deepgram.live_connections().is_empty(), "a browser recording reached the live provider");
    assert!(anthropic.requests().len() >= 2, "sessions were summarised");
}
