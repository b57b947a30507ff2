//! Sandbox tests with the hostile test plugin: runaway CPU, memory bombs, traps and the
//! circuit breaker, network policy, and credentials that never reach the guest.

use scribe_tests::recorder::Recorder;
use scribe_tests::{Setup, TestDaemon, rss_bytes};
use scribed::plugin::handle::CallError;
use scribed::clients::stt::{AudioEncoding, AudioFormat, AudioInput, BatchStt};
use scribed::plugin::bindings::types::PluginError;

/// A 20 ms frame of 16 kHz mono s16le.
const FRAME_BYTES: usize = 640;

type Outcome = Result<Result<scribed::clients::stt::Transcript, PluginError>, CallError>;

/// Calls the hostile plugin with `command`, over an audio file of `size` bytes.
async fn run_sized(stt: &BatchStt, command: &str, size: usize) -> Outcome {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), vec![0x11u8; size]).expect("write audio");
    let audio = AudioInput::from_path(file.path()).expect("audio");
    let format = AudioFormat { encoding: AudioEncoding::Linear16, sample_rate: 16_000, channels: 1 };
    stt.transcribe(format, audio, Some(command.to_string()), None).await
}

async fn run(stt: &BatchStt, command: &str) -> Outcome {
    run_sized(stt, command, FRAME_BYTES).await
}

fn hostile(daemon: &TestDaemon) -> BatchStt {
    let handle = daemon.daemon.registry().handle("hostile").expect("hostile plugin loaded");
    BatchStt::new(handle.clone()).expect("stt-batch world")
}

/// The words of a successful transcript.
fn words(result: Outcome) -> Vec<String> {
    match result {
        Ok(Ok(t)) => t.words.into_iter().map(|w| w.punctuated).collect(),
        other => panic!("expected a transcript, got {other:?}"),
    }
}

async fn plugin_health(daemon: &TestDaemon) -> serde_json::Value {
    daemon.get_json("/api/v1/plugins/hostile").await.expect("plugin view")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinite_loop_is_interrupted_and_the_next_call_gets_a_fresh_instance() {
    let mut setup = Setup::new().with_hostile(&[], "");
    setup.config.sandbox.call_cpu_budget_ms = 2_000;
    let daemon = setup.start().await.expect("daemon starts");
    let stt = hostile(&daemon);
    assert_eq!(words(run(&stt, "echo").await), vec![FRAME_BYTES.to_string()]);

    let looping = tokio::spawn({
        let stt = stt.clone();
        async move { run(&stt, "loop").await }
    });
    // The daemon keeps answering while the plugin spins.
    let health = daemon.get_json("/healthz").await.expect("healthz answers during the loop");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert!(!looping.is_finished(), "healthz answered while the loop was still running");

    let outcome = looping.await.expect("task");
    assert!(matches!(outcome, Err(CallError::Timeout { .. })), "{outcome:?}");

    assert_eq!(words(run(&stt, "echo").await), vec![FRAME_BYTES.to_string()]);
    let view = plugin_health(&daemon).await;
    assert_eq!(view["health"]["restarts"], 1, "{view}");
    assert_eq!(view["state"], "healthy", "a success closes the breaker again: {view}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budget_overruns_fail_their_call_without_pausing_the_plugin() {
    // One pathological input must not pause a plugin for everyone else's work: overruns are
    // counted apart from traps.
    let mut setup = Setup::new().with_hostile(&[], "");
    setup.config.sandbox.call_cpu_budget_ms = 300;
    setup.config.sandbox.breaker_failures = 2;
    setup.config.sandbox.breaker_cooldown_secs = 600;
    let daemon = setup.start().await.expect("daemon starts");
    let stt = hostile(&daemon);
    for attempt in 1..=3 {
        let outcome = run(&stt, "loop").await;
        assert!(matches!(outcome, Err(CallError::Timeout { budget_ms: 300, .. })), "attempt {attempt}: {outcome:?}");
    }
    assert_eq!(words(run(&stt, "echo").await), vec![FRAME_BYTES.to_string()], "the plugin still works");
    let view = plugin_health(&daemon).await;
    assert_eq!(view["state"], "healthy", "{view}");
    assert_eq!(view["health"]["budget_timeouts"], 3, "{view}");
    assert!(view["health"]["last_error"].as_str().is_some_and(|e| e.contains("CPU budget")), "{view}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_bomb_stops_at_the_cap_and_host_memory_stays_bounded() {
    const CAP_MB: u64 = 48;
    let setup = Setup::new().with_hostile(&[], &format!("memory_limit_mb = {CAP_MB}"));
    let daemon = setup.start().await.expect("daemon starts");
    let stt = hostile(&daemon);
    let before = rss_bytes().expect("rss");
    let outcome = run(&stt, "grow").await;
    let after = rss_bytes().expect("rss");
    assert!(matches!(outcome, Err(CallError::MemoryLimit { limit_mb: 48, .. })), "{outcome:?}");
    let grown_mb = after.saturating_sub(before) >> 20;
    // The guest may commit up to the cap; the host must not grow far beyond it. Other tests
    // run in this process at the same time, hence the slack; without the cap the guest would
    // take its whole 4 GiB address space.
    assert!(grown_mb < CAP_MB + 64, "host RSS grew by {grown_mb} MiB for a {CAP_MB} MiB cap");
    assert_eq!(words(run(&stt, "echo").await), vec![FRAME_BYTES.to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_traps_open_the_circuit_breaker_and_it_is_reported() {
    let mut setup = Setup::new().with_hostile(&[], "");
    setup.config.sandbox.breaker_failures = 3;
    setup.config.sandbox.breaker_cooldown_secs = 600;
    let daemon = setup.start().await.expect("daemon starts");
    let stt = hostile(&daemon);
    for attempt in 1..=3 {
        let outcome = run(&stt, "trap").await;
        assert!(matches!(outcome, Err(CallError::Trap { .. })), "attempt {attempt}: {outcome:?}");
    }
    let outcome = run(&stt, "echo").await;
    assert!(matches!(outcome, Err(CallError::CircuitOpen { .. })), "{outcome:?}");

    let view = plugin_health(&daemon).await;
    assert_eq!(view["state"], "circuit-open", "{view}");
    assert_eq!(view["health"]["consecutive_failures"], 3, "{view}");
    assert!(view["health"]["retry_in_secs"].as_u64().is_some_and(|s| s > 0), "{view}");
    assert!(view["health"]["last_error"].as_str().is_some_and(|e| e.contains("trapped")), "{view}");
    let health = daemon.get_json("/healthz").await.expect("healthz");
    assert_eq!(health["status"], "degraded");
    let entry = health["plugins"].as_array().expect("plugins").iter().find(|p| p["id"] == "hostile").cloned();
    assert_eq!(entry.expect("hostile listed")["state"], "circuit-open");
}

fn denied(result: Outcome) -> String {
    match result {
        Ok(Err(PluginError::Denied(message))) => message,
        other => panic!("expected a denial as an error value, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_requests_are_checked_and_credentials_stay_in_the_host() {
    const CANARY: &str = "canary-7f3a9c";
    let granted = Recorder::start().await.expect("granted server");
    let forbidden = Recorder::start().await.expect("ungranted server");
    let grants = format!(
        "allow_outbound = [{origin:?}]\n\
         [[credentials]]\norigin = {origin:?}\nheader = \"Authorization\"\nvalue = \"Token ${{TEST_PROVIDER_KEY}}\"\n",
        origin = granted.origin()
    );
    let setup = Setup::new()
        .with_hostile(&[granted.origin()], &grants)
        .env("TEST_PROVIDER_KEY", CANARY);
    let daemon = setup.start().await.expect("daemon starts");
    let stt = hostile(&daemon);
    let fetch = |url: String| {
        let stt = stt.clone();
        async move { run(&stt, &format!("fetch {url}")).await }
    };

    let message = denied(fetch("http://api.ungranted.example/".into()).await);
    assert!(message.contains("plugins.hostile.allow_outbound"), "the denial names the config key: {message}");
    denied(fetch("http://169.254.169.254/latest/meta-data/".into()).await);
    denied(fetch(forbidden.url("/direct")).await);
    denied(fetch(format!("http://localhost:{}/", granted.addr.port())).await);
    let redirect = granted.url(&format!("/redirect?to={}", forbidden.url("/via-redirect")));
    denied(fetch(redirect).await);
    assert!(forbidden.requests().is_empty(), "nothing reached the ungranted server");

    // The granted server answers, and sees the injected credential.
    assert_eq!(words(fetch(granted.url("/ok")).await), vec!["200", "ok"]);
    let seen = words(run(&stt, &format!("headers {}", granted.url("/headers"))).await);
    assert!(seen.iter().all(|w| !w.contains(CANARY)), "the guest never sees the credential: {seen:?}");
    assert_eq!(seen, vec!["x-test: hostile", "status 200"]);
    let recorded = granted.requests();
    let last = recorded.iter().rev().find(|r| r.path == "/headers").expect("request recorded");
    assert_eq!(last.headers.get("authorization").and_then(|v| v.to_str().ok()), Some(format!("Token {CANARY}").as_str()));
    assert_eq!(last.headers.get("x-test").and_then(|v| v.to_str().ok()), Some("hostile"));

    // A plugin cannot set its own Authorization header.
    let before = granted.requests().len();
    let outcome = run(&stt, &format!("auth {}", granted.url("/steal"))).await;
    assert!(matches!(&outcome, Ok(Err(PluginError::BadInput(m))) if m.contains("invalid-request")), "{outcome:?}");
    assert_eq!(granted.requests().len(), before, "the request was not sent");

    // Nor does the plugins API show the secret.
    let body = reqwest::get(daemon.url("/api/v1/plugins")).await.expect("get").text().await.expect("body");
    assert!(!body.contains(CANARY), "no secret in the plugins API");
    assert!(body.contains("\"header\":\"authorization\""), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_needing_a_missing_credential_are_not_sent() {
    let provider = Recorder::start().await.expect("server");
    let grants = format!(
        "allow_outbound = [{origin:?}]\n\
         [[credentials]]\norigin = {origin:?}\nheader = \"x-api-key\"\nvalue = \"${{UNSET_TEST_KEY}}\"\n",
        origin = provider.origin()
    );
    let daemon = Setup::new().with_hostile(&[provider.origin()], &grants).start().await.expect("daemon starts");
    let view = plugin_health(&daemon).await;
    assert_eq!(view["configured"], false, "{view}");
    let message = denied(run(&hostile(&daemon), &format!("fetch {}", provider.url("/"))).await);
    assert!(message.contains("not configured"), "{message}");
    assert!(provider.requests().is_empty(), "no unauthenticated request went out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audio_of_the_call_is_readable_in_pieces() {
    let daemon = Setup::new().with_hostile(&[], "").start().await.expect("daemon starts");
    let stt = hostile(&daemon);
    // 200,000 bytes take several 64 KiB reads, the last one short.
    assert_eq!(words(run_sized(&stt, "read", 200_000).await), vec!["200000"]);
    assert_eq!(words(run_sized(&stt, "read", 0).await), vec!["0"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_files_are_readable_only_as_the_manifest_lists_them() {
    let data = tempfile::tempdir().expect("tempdir");
    let model = data.path().join("models/fake.en");
    std::fs::create_dir_all(&model).expect("model dir");
    std::fs::write(model.join("model.bin"), b"CT2 weights, 31 bytes of them..").expect("model.bin");
    std::fs::write(model.join("vocabulary.txt"), b"a\nb\n").expect("vocabulary");
    std::fs::write(model.join("notes.txt"), b"not listed").expect("notes");
    std::fs::write(data.path().join("api-token"), b"secret").expect("token");
    let manifest = "model_files = [\"model.bin\", \"vocabulary.txt\"]\n";
    let setup = Setup { data_dir: Some(data.path().to_path_buf()), ..Setup::new() }.with_hostile_manifest(&[], manifest, "model = \"fake.en\"");
    let daemon = setup.start().await.expect("daemon starts");
    let stt = hostile(&daemon);
    assert_eq!(words(run(&stt, "model model.bin").await), vec!["31", "CT2 weights, 31 ", "fake.en"]);
    for file in ["notes.txt", "../../api-token", "/etc/passwd", ""] {
        match run(&stt, &format!("model {file}")).await {
            Ok(Err(PluginError::Denied(message))) => assert!(message.contains("NotGranted"), "{file}: {message}"),
            other => panic!("{file}: expected a denial, got {other:?}"),
        }
    }
    let view = plugin_health(&daemon).await;
    assert_eq!((view["model"].as_str(), view["configured"].as_bool()), (Some("fake.en"), Some(true)), "{view}");
    daemon.daemon.shutdown().await.expect("shutdown");

    // A model that is not installed: the plugin loads, says what to do, and reads nothing.
    let missing = Setup::new().with_hostile_manifest(&[], manifest, "model = \"base.en\"").start().await.expect("daemon starts");
    let view = plugin_health(&missing).await;
    assert_eq!(view["configured"], false, "{view}");
    assert!(view["problems"].to_string().contains("scribed models install base.en"), "{view}");
    match run(&hostile(&missing), "model model.bin").await {
        Ok(Err(PluginError::Denied(message))) => assert!(message.contains("no model is configured"), "{message}"),
        other => panic!("expected a denial, got {other:?}"),
    }
}
