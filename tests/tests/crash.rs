//! The daemon killed with SIGKILL in the middle of a file job: after a restart the job runs
//! again and completes once, with no duplicate session.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use scribe_tests::fake_deepgram::{FakeDeepgram, Fault, Script};

const KEY: &str = "dg-crash-key";

/// The default config pointed at the fake, with a fast retry.
fn config(fake: &FakeDeepgram) -> String {
    let origin = fake.base_url();
    let text = scribed::config::DEFAULT_CONFIG
        .replacen("listen = \"127.0.0.1:8737\"", "listen = \"127.0.0.1:0\"", 1)
        .replacen("retry_base_secs = 10", "retry_base_secs = 1", 1)
        .replacen("stable_secs = 3", "stable_secs = 1", 1)
        .replacen(
            "allow_outbound = [\"https://api.deepgram.com\"]\n\n[[plugins.deepgram-batch.credentials]]",
            &format!("allow_outbound = [\"https://api.deepgram.com\", \"{origin}\"]\n\n[[plugins.deepgram-batch.credentials]]\norigin = \"{origin}\"\nheader = \"Authorization\"\nvalue = \"Token ${{DEEPGRAM_API_KEY}}\"\n\n[[plugins.deepgram-batch.credentials]]"),
            1,
        )
        .replacen("[plugins.deepgram-batch.settings]\n", &format!("[plugins.deepgram-batch.settings]\nbase_url = \"{origin}\"\n"), 1);
    assert!(text.contains(&format!("base_url = \"{origin}\"")) && text.contains(&format!("origin = \"{origin}\"")), "config edits applied");
    text
}

/// Starts `scribed serve` and returns it with its address, read from its first line.
fn start(config: &Path, data: &Path) -> (Child, String) {
    let bin = std::env::var("SCRIBE_BIN").expect("SCRIBE_BIN is set by `cargo xtask test`");
    let mut child = Command::new(bin)
        .args(["serve", "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .arg("--plugins-dir")
        .arg(scribe_tests::plugins_dir())
        .env("DEEPGRAM_API_KEY", KEY)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("daemon starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines.next().expect("the daemon printed its URL").expect("line");
        if let Some(url) = line.strip_prefix("scribed is serving on ") {
            break url.trim_end_matches('/').to_string();
        }
    };
    (child, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cut_by_sigkill_completes_once_after_restart() {
    let work = tempfile::tempdir().expect("tempdir");
    let fake = FakeDeepgram::start("127.0.0.1:0".parse().expect("addr"), KEY).await.expect("fake");
    fake.default_script(Script::from_text("Survived the crash.", 1.0));
    // The first request hangs long enough for the kill.
    fake.push_fault(Fault::Latency(Duration::from_secs(600)));
    let config_path = work.path().join("scribed.toml");
    std::fs::write(&config_path, config(&fake)).expect("config");
    let data = work.path().join("data");

    let audio = work.path().join("crash.wav");
    let status = Command::new("sox").args(["-n", "-r", "16000", "-c", "1"]).arg(&audio).args(["synth", "1", "sine", "500"]).status().expect("sox");
    assert!(status.success());

    let (mut first, url) = start(&config_path, &data);
    let response = reqwest::Client::new()
        .post(format!("{url}/api/v1/uploads?name=crash.wav"))
        .body(std::fs::read(&audio).expect("read"))
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), 202);
    let body: serde_json::Value = response.json().await.expect("json");
    let id = body["session_id"].as_str().expect("id").to_string();
    let arrived = |n| tokio::time::timeout(Duration::from_secs(120), fake.wait_for_requests(n));
    arrived(1).await.expect("the first attempt reached the provider");
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");

    let (mut second, url) = start(&config_path, &data);
    arrived(2).await.expect("the interrupted job was resumed after the restart");
    let mut events = {
        let (socket, _) = tokio_tungstenite::connect_async(format!("{}/api/v1/events", url.replacen("http", "ws", 1))).await.expect("events");
        socket
    };
    // The job may already be done by now; ask the library, and otherwise wait for its event.
    let status = |v: &serde_json::Value| v["session"]["status"].as_str().unwrap_or_default().to_string();
    let session: serde_json::Value = reqwest::get(format!("{url}/api/v1/sessions/{id}")).await.expect("get").json().await.expect("json");
    if status(&session) != "complete" {
        use futures_util::StreamExt;
        tokio::time::timeout(Duration::from_secs(120), async {
            while let Some(Ok(message)) = events.next().await {
                let event: serde_json::Value = serde_json::from_str(message.to_text().unwrap_or("{}")).unwrap_or_default();
                if event["session_id"] == id.as_str() && event["status"] == "complete" {
                    break;
                }
            }
        })
        .await
        .expect("the resumed job completes");
    }
    let list: serde_json::Value = reqwest::get(format!("{url}/api/v1/sessions")).await.expect("list").json().await.expect("json");
    assert_eq!(list["total"], 1, "no duplicate session: {list}");
    assert_eq!(list["sessions"][0]["id"], id.as_str());
    assert_eq!(list["sessions"][0]["status"], "complete");
    assert_eq!(fake.requests().len(), 2, "one aborted attempt, one that completed");
    second.kill().expect("stop");
    let _ = second.wait();
}
