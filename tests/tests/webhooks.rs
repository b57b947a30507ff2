//! Webhooks to a receiver that checks them with the PyPI `standardwebhooks` package: a
//! receiver down for two tries gets exactly one signed delivery; a URL that resolves to a
//! private address without a grant is refused and reported; a delivery pending when the
//! daemon is killed arrives after the restart.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use scribe_tests::Setup;
use scribe_tests::fake_deepgram::{FakeDeepgram, Script};
use scribed::config::{WebhookEndpoint, WebhookEvent, WebhooksConfig};
use serde_json::Value;

const KEY: &str = "dg-webhook-key";
/// A Standard Webhooks secret: `whsec_` and the base64 of the key.
const SECRET: &str = "whsec_c2NyaWJlLXdlYmhvb2stdGVzdC1zZWNyZXQtMDEyMw==";
/// Retries this soon, so the test does not wait for the default back-off.
const RETRY_BASE_MS: u64 = 200;
const RETRY_MAX_MS: u64 = 1_000;
/// Guard against a hung test, not a synchronisation delay.
const LIMIT: Duration = Duration::from_secs(120);
/// How often the deliveries are looked at: they publish no event.
const POLL: Duration = Duration::from_millis(100);

/// The receiver script, killed when dropped.
struct Receiver {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Receiver {
    /// Listens on `port` (0: any); answers the first `fail_first` requests 503.
    fn start(dir: &Path, port: u16, fail_first: u32) -> Receiver {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients").join("webhook_receiver.py");
        let log = dir.join(format!("received-{port}-{fail_first}.jsonl"));
        let mut child = Command::new(scribe_tests::test_python())
            .arg(script)
            .args([SECRET, log.to_str().expect("utf-8"), &port.to_string(), &fail_first.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("the receiver starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("its port");
        Receiver { child, port: line.trim().parse().expect("a port"), log }
    }

    /// The deliveries it accepted or rejected, in order.
    fn received(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().map(|line| serde_json::from_str(line).expect("a JSON line")).collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn endpoint(url: String, allow_private: bool) -> WebhookEndpoint {
    WebhookEndpoint { url, events: vec![WebhookEvent::SessionCompleted], secret: SECRET.into(), allow_private }
}

/// The deliveries once `done` holds for them.
async fn deliveries_until(base: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let list: Value = reqwest::get(format!("{base}/api/v1/webhooks/deliveries")).await.expect("list").json().await.expect("json");
        let list = list["deliveries"].as_array().cloned().unwrap_or_default();
        if done(&list) {
            return list;
        }
        assert!(started.elapsed() < LIMIT, "deliveries never settled: {list:?}");
        tokio::time::sleep(POLL).await;
    }
}

/// A loopback port nothing listens on (until a receiver is started on it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_twice_gets_one_signed_delivery_and_a_private_url_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = FakeDeepgram::loopback(KEY).await;
    fake.default_script(Script::from_text("The hook fires.", 1.0));
    let receiver = Receiver::start(dir.path(), 0, 2);
    let granted = format!("http://127.0.0.1:{}/hook", receiver.port);
    // Resolves to loopback, and is not granted: never reached, whoever listens there.
    let private = format!("http://localhost:{}/hook", receiver.port);
    let mut setup = Setup::new().with_fake_deepgram(&fake, KEY);
    setup.config.webhooks = WebhooksConfig {
        retry_base_ms: RETRY_BASE_MS,
        retry_max_ms: RETRY_MAX_MS,
        give_up_hours: 24,
        endpoints: vec![endpoint(granted.clone(), true), endpoint(private.clone(), false)],
    };
    let daemon = setup.start().await.expect("daemon starts");
    let base = daemon.url("");
    let base = base.trim_end_matches('/');
    let session = scribe_tests::upload_tone(base, "hook.wav").await.expect("upload");

    let list = deliveries_until(base, |list| list.len() == 2 && list.iter().all(|d| d["state"] != "pending")).await;
    let by_url = |url: &str| list.iter().find(|d| d["endpoint"] == url).cloned().expect("a delivery");
    let sent = by_url(&granted);
    assert_eq!((sent["state"].as_str(), sent["attempts"].as_u64(), sent["last_status"].as_u64()), (Some("delivered"), Some(3), Some(204)), "{sent}");
    assert_eq!((sent["event"].as_str(), sent["session_id"].as_str()), (Some("session.completed"), Some(session.as_str())));
    let refused = by_url(&private);
    assert_eq!((refused["state"].as_str(), refused["attempts"].as_u64()), (Some("failed"), Some(1)), "{refused}");
    assert!(refused["last_error"].as_str().is_some_and(|e| e.contains("not granted")), "{refused}");

    let received = receiver.received();
    assert_eq!(received.len(), 1, "exactly one accepted delivery: {received:?}");
    let accepted = &received[0];
    assert_eq!((accepted["verified"].as_bool(), accepted["attempt"].as_u64()), (Some(true), Some(3)), "{accepted}");
    assert_eq!(accepted["id"], sent["id"], "the same webhook-id on every attempt");
    let payload = &accepted["payload"];
    assert_eq!(payload["type"], "session.completed");
    assert_eq!((payload["data"]["session"]["id"].as_str(), payload["data"]["session"]["status"].as_str()), (Some(session.as_str()), Some("complete")), "{payload}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_pending_when_the_daemon_is_killed_arrives_after_the_restart() {
    use scribe_tests::process::{command, config_text, serve_with};
    let work = tempfile::tempdir().expect("tempdir");
    let fake = FakeDeepgram::loopback(KEY).await;
    fake.default_script(Script::from_text("Still delivered.", 1.0));
    let port = free_port();
    let hooks = format!(
        "give_up_hours = 24\n\n[[webhooks.endpoints]]\nurl = \"http://127.0.0.1:{port}/hook\"\nevents = [\"session.completed\"]\nsecret = \"${{HOOK_SECRET}}\"\nallow_private = true\n"
    );
    let config = config_text(&fake)
        .replacen("retry_base_ms = 5000", &format!("retry_base_ms = {RETRY_BASE_MS}"), 1)
        .replacen("retry_max_ms = 3600000", &format!("retry_max_ms = {RETRY_MAX_MS}"), 1)
        .replacen("give_up_hours = 24\n", &hooks, 1);
    assert!(config.contains(&format!("127.0.0.1:{port}")) && config.contains(&format!("retry_base_ms = {RETRY_BASE_MS}")), "config edits applied");
    let config_path = work.path().join("scribed.toml");
    std::fs::write(&config_path, config).expect("config");
    let data = work.path().join("data");
    let daemon = || {
        let mut serve = command("serve", &config_path, &data, KEY);
        serve.env("HOOK_SECRET", SECRET);
        serve_with(serve)
    };

    // Nothing listens yet: the delivery fails and waits for its next attempt.
    let (mut first, url) = daemon();
    let session = scribe_tests::upload_tone(&url, "killed.wav").await.expect("upload");
    let list = deliveries_until(&url, |list| list.first().is_some_and(|d| d["attempts"].as_u64() >= Some(1))).await;
    assert_eq!(list[0]["state"], "pending", "{list:?}");
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");

    let receiver = Receiver::start(work.path(), port, 0);
    let (mut second, url) = daemon();
    let list = deliveries_until(&url, |list| list.first().is_some_and(|d| d["state"] == "delivered")).await;
    let received = receiver.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!((received[0]["verified"].as_bool(), &received[0]["id"]), (Some(true), &list[0]["id"]));
    assert_eq!(received[0]["payload"]["data"]["session"]["id"].as_str(), Some(session.as_str()));
    second.kill().expect("stop");
    second.wait().expect("reaped");
}
