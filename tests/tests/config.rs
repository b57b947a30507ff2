//! Configuration errors as the operator sees them.

use scribe_tests::Setup;
use scribed::Config;

#[test]
fn unknown_key_in_a_config_file_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("scribed.toml");
    let text = scribed::config::DEFAULT_CONFIG.replacen("[sandbox]\n", "[sandbox]\nmemroy_limit_mb = 5\n", 1);
    std::fs::write(&path, text).expect("write");
    let err = format!("{:#}", Config::load(&path).expect_err("typo rejected"));
    assert!(err.contains("memroy_limit_mb"), "{err}");
    assert!(err.contains(&path.display().to_string()), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_secret_affects_only_the_plugin_that_needs_it() {
    let daemon = Setup::new()
        .env("ANTHROPIC_API_KEY", "sk-ant-CANARY")
        .start()
        .await
        .expect("daemon starts without DEEPGRAM_API_KEY");
    let health = daemon.get_json("/healthz").await.expect("healthz");
    let plugins = health["plugins"].as_array().expect("plugins");
    assert_eq!(plugins.len(), 9, "{health}");
    for plugin in plugins {
        assert_eq!(plugin["state"], "healthy", "{plugin}");
        // The whisper and diarize plugins need no secret, but this data dir has no model
        // installed.
        // openai-summary has no model set until the operator names one; openai-transcribe
        // has no OPENAI_API_KEY.
        let lacking = plugin["id"].as_str().is_some_and(|id| id.starts_with("deepgram") || id.starts_with("whisper") || id == "diarize-local" || id.starts_with("openai"));
        assert_eq!(plugin["configured"], !lacking, "{plugin}");
    }
    let view = daemon.get_json("/api/v1/plugins/deepgram-batch").await.expect("view");
    let problems = view["problems"].to_string();
    assert!(problems.contains("DEEPGRAM_API_KEY"), "{problems}");
    assert!(problems.contains("plugins.deepgram-batch.credentials[0].value"), "{problems}");
    let openai = daemon.get_json("/api/v1/plugins/openai-summary").await.expect("view");
    assert!(openai["problems"].to_string().contains("plugins.openai-summary.settings.model is not set"), "{openai}");
    let transcribe = daemon.get_json("/api/v1/plugins/openai-transcribe").await.expect("view");
    assert!(transcribe["problems"].to_string().contains("OPENAI_API_KEY"), "{transcribe}");
    let claude = daemon.get_json("/api/v1/plugins/claude-summary").await.expect("view");
    assert_eq!(claude["problems"], serde_json::json!([]));
    assert!(!claude.to_string().contains("CANARY"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_beyond_the_manifest_are_all_reported() {
    let mut setup = Setup::new();
    let batch = setup.config.plugins.get_mut("deepgram-batch").expect("configured");
    batch.allow_outbound.push("https://evil.example".into());
    let store = setup.config.plugins.get_mut("sqlite-store").expect("configured");
    store.allow_outbound.push("http://10.0.0.1".into());
    let err = format!("{:#}", setup.start().await.err().expect("start refused"));
    assert!(err.contains("plugins.deepgram-batch.allow_outbound grants https://evil.example:443"), "{err}");
    assert!(err.contains("plugins.sqlite-store.allow_outbound grants http://10.0.0.1:80"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbox_inside_the_inbox_stops_the_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut setup = Setup::new();
    setup.config.inbox.dir = Some(dir.path().join("inbox"));
    setup.config.outbox.enabled = true;
    setup.config.outbox.dir = Some(dir.path().join("inbox/transcripts"));
    let err = format!("{:#}", setup.start().await.err().expect("start refused"));
    assert!(err.contains("outbox.dir") && err.contains("inbox/transcripts") && err.contains("overlap"), "{err}");
}
