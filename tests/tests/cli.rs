//! The command line as an operator runs it: `scribed transcribe` on its own and against a
//! running daemon, `scribed sessions` and `scribed export`, with the fake Deepgram.

use std::path::Path;
use std::process::{Command, Output};

use scribe_tests::fake_deepgram::{FakeDeepgram, Script};
use scribe_tests::process::{command, config_text, serve};

const KEY: &str = "dg-cli-key";

fn tone(dir: &Path, name: &str, hz: u32) -> Vec<u8> {
    let path = dir.join(name);
    let status = Command::new("sox").args(["-n", "-r", "16000", "-c", "1"]).arg(&path).args(["synth", "1", "sine", &hz.to_string()]).status().expect("sox");
    assert!(status.success());
    std::fs::read(path).expect("read")
}

/// Runs a blocking command off the async runtime, so the fake keeps answering.
async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("scribed runs")).await.expect("joined")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcribe_sessions_and_export_standalone_and_against_a_daemon() {
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    let fake = FakeDeepgram::loopback(KEY).await;
    let alpha = tone(dir, "alpha.wav", 440);
    fake.script(&alpha, Script::from_text("Alpha says hello.", 1.0));
    let beta = tone(dir, "beta.flac", 880);
    fake.script(&beta, Script::from_text("Beta answers back.", 1.0));
    std::fs::write(dir.join("notes.wav"), "a text file, not audio").expect("write");
    let config = dir.join("scribed.toml");
    std::fs::write(&config, config_text(&fake)).expect("config");
    let data = dir.join("data");
    let out = dir.join("transcripts");

    // Standalone: no daemon runs, so the command starts one for itself.
    let mut cmd = command("transcribe", &config, &data, KEY);
    cmd.args(["--format", "srt", "--out"]).arg(&out).arg(dir.join("alpha.wav")).arg(dir.join("beta.flac"));
    let done = run(cmd).await;
    let stderr = text(&done.stderr);
    assert!(done.status.success(), "{stderr}");
    let srt = std::fs::read_to_string(out.join("alpha.srt")).expect("alpha.srt");
    assert!(srt.starts_with("1\n00:00:00,000 --> ") && srt.contains("Alpha says hello."), "{srt}");
    assert!(std::fs::read_to_string(out.join("beta.srt")).expect("beta.srt").contains("Beta answers back."));
    assert!(stderr.contains("alpha.wav: done → ") && stderr.contains("beta.flac: done → "), "{stderr}");
    assert_eq!(scribed::data_dir_lock::running_url(&data).expect("probe"), None, "the command's daemon stopped with it");

    // A broken file: a clear reason and a failing exit status.
    let mut cmd = command("transcribe", &config, &data, KEY);
    cmd.args(["--out"]).arg(&out).arg(dir.join("notes.wav"));
    let failed = run(cmd).await;
    let stderr = text(&failed.stderr);
    assert_eq!(failed.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("notes.wav: failed: ") && stderr.contains("audio"), "{stderr}");
    assert!(!out.join("notes.txt").exists());

    // Against a running daemon on the same data dir: it is found through its lock file.
    let (mut daemon, url) = serve(&config, &data, KEY);
    std::fs::copy(dir.join("alpha.wav"), dir.join("alpha-copy.wav")).expect("copy");
    let mut cmd = command("transcribe", &config, &data, KEY);
    cmd.args(["--format", "vtt", "--out", "-"]).arg(dir.join("alpha.wav")).arg(dir.join("alpha-copy.wav"));
    let again = run(cmd).await;
    assert!(again.status.success(), "{}", text(&again.stderr));
    let vtt = text(&again.stdout);
    assert!(vtt.starts_with("WEBVTT") && vtt.contains("Alpha says hello."), "{vtt}");
    assert_eq!(vtt.matches("WEBVTT").count(), 2, "both names get the transcript of their one session: {vtt}");
    assert_eq!(fake.requests().len(), 2, "known bytes are not sent again");
    let listed: serde_json::Value = reqwest::get(format!("{url}/api/v1/sessions")).await.expect("list").json().await.expect("json");
    assert_eq!(listed["total"], 3, "the running daemon sees every session: {listed}");

    let cmd = command("sessions", &config, &data, KEY);
    let table = text(&run(cmd).await.stdout);
    let rows: Vec<&str> = table.lines().collect();
    assert_eq!(rows.len(), 4, "header and three sessions: {table}");
    assert!(rows[0].starts_with("ID ") && rows[0].ends_with("TITLE"), "{table}");
    assert!(rows.iter().any(|r| r.contains("complete") && r.contains("0:00:01") && r.ends_with("alpha")), "{table}");
    assert!(rows.iter().any(|r| r.contains("error") && r.ends_with("notes")), "{table}");

    let mut cmd = command("sessions", &config, &data, KEY);
    cmd.args(["--json", "--status", "complete"]);
    let lines = text(&run(cmd).await.stdout);
    let complete: Vec<serde_json::Value> = lines.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    assert_eq!(complete.len(), 2, "{lines}");
    let beta_id = complete.iter().find(|s| s["title"] == "beta").and_then(|s| s["id"].as_str()).expect("beta listed");

    let mut cmd = command("export", &config, &data, KEY);
    cmd.args([beta_id, "--format", "json"]);
    let exported = run(cmd).await;
    let json: serde_json::Value = serde_json::from_slice(&exported.stdout).expect("export is JSON");
    let words: Vec<&str> = json["words"].as_array().expect("words").iter().filter_map(|w| w["punctuated"].as_str()).collect();
    assert_eq!((json["title"].as_str(), words), (Some("beta"), vec!["Beta", "answers", "back."]), "{json}");
    let mut cmd = command("export", &config, &data, KEY);
    cmd.args(["no-such-session", "--format", "txt"]);
    let missing = run(cmd).await;
    assert!(!missing.status.success());
    assert!(text(&missing.stderr).contains("404"), "{}", text(&missing.stderr));

    // A second daemon on the same data dir is refused, naming the first.
    let cmd = command("serve", &config, &data, KEY);
    let second = run(cmd).await;
    assert!(!second.status.success());
    assert!(text(&second.stderr).contains("already using"), "{}", text(&second.stderr));
    daemon.kill().expect("stop");
    let _ = daemon.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_prints_a_link_and_qr_code_that_pair_a_browser() {
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    let fake = FakeDeepgram::loopback(KEY).await;
    let config = dir.join("scribed.toml");
    std::fs::write(&config, config_text(&fake).replacen("auth = \"auto\"", "auth = \"always\"", 1)).expect("config");
    let data = dir.join("data");

    // Before a daemon runs there is nothing to pair with.
    let none = run(command("pair", &config, &data, KEY)).await;
    assert!(!none.status.success() && text(&none.stderr).contains("no daemon is running"), "{}", text(&none.stderr));

    let (mut daemon, url) = serve(&config, &data, KEY);
    let paired = run(command("pair", &config, &data, KEY)).await;
    let stdout = text(&paired.stdout);
    assert!(paired.status.success(), "{}", text(&paired.stderr));
    let token = std::fs::read_to_string(data.join("api-token")).expect("token").trim().to_string();
    let link = format!("{url}/#pair={token}");
    assert!(stdout.contains(&link), "{stdout}");
    // The QR code: a square of half-block rows, as wide as the link needs (version 5+ for
    // a 64-character token), with its quiet zone.
    let rows: Vec<&str> = stdout.lines().filter(|l| l.contains('█') || l.contains('▀') || l.contains('▄')).collect();
    let width = rows.first().map(|r| r.chars().count()).expect("a QR code");
    assert!(width >= 37 + 8 && rows.iter().all(|r| r.chars().count() == width), "{stdout}");
    assert_eq!(rows.len(), width.div_ceil(2), "square: two modules a row");

    // The link's token pairs: the daemon answers with its cookie.
    let fragment_token = link.split("#pair=").nth(1).expect("fragment");
    let client = reqwest::Client::new();
    let answer = client.post(format!("{url}/api/v1/pair")).json(&serde_json::json!({ "token": fragment_token })).send().await.expect("pair");
    assert_eq!(answer.status(), 200);
    let cookie = answer.headers().get("set-cookie").expect("cookie").to_str().expect("ascii").to_string();
    assert!(cookie.starts_with("scribe_token=") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let sessions = client.get(format!("{url}/api/v1/sessions")).header("cookie", cookie.split(';').next().expect("pair")).send().await.expect("get");
    assert_eq!(sessions.status(), 200, "the cookie is accepted like the bearer token");
    let refused = client.get(format!("{url}/api/v1/sessions")).header("cookie", "scribe_token=wrong").send().await.expect("get");
    assert_eq!(refused.status(), 401);
    // A cookie does not make a foreign page's request acceptable.
    let forged = client
        .delete(format!("{url}/api/v1/sessions/any"))
        .header("cookie", cookie.split(';').next().expect("pair"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .expect("delete");
    assert_eq!(forged.status(), 403);
    let wrong = client.post(format!("{url}/api/v1/pair")).json(&serde_json::json!({ "token": "wrong" })).send().await.expect("pair");
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    daemon.kill().expect("kill");
    let _ = daemon.wait();
}
