//! The plugin author's guide (`plugin-api/README.md`) holds a minimal plugin that builds: its
//! files are the ones `cargo xtask test` builds into a component, and that component, loaded
//! by the real daemon, summarises a transcribed session with the setting the operator gave it.

use std::path::Path;
use std::time::Duration;

use scribe_tests::fake_deepgram::{FakeDeepgram, Script};
use scribe_tests::{Events, Setup};

const DG_KEY: &str = "dg-sdk-key";
/// A guard against a hung test, not a synchronisation delay.
const LIMIT: Duration = Duration::from_secs(60);
const SPOKEN: &str = "Welcome to the planning meeting. We will first look at the roadmap for the spring, \
    then at the hiring plan, and we finish with questions from the team about the new office.";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repository root")
}

/// The fenced blocks of `markdown` that follow a line naming `file` in backticks.
fn block_after(markdown: &str, file: &str) -> Option<String> {
    let heading = format!("`{file}`:");
    let after = &markdown[markdown.find(&heading)? + heading.len()..];
    let start = after.find("```")?;
    let body = &after[start..];
    let body = &body[body.find('\n')? + 1..];
    Some(body[..body.find("\n```")?].to_string())
}

#[test]
fn the_guide_shows_the_plugin_that_is_built() {
    let guide = std::fs::read_to_string(repo().join("plugin-api/README.md")).expect("guide");
    let crate_dir = repo().join("tests/test-plugins/first-words");
    for file in ["Cargo.toml", "plugin.toml", "src/lib.rs"] {
        let shown = block_after(&guide, file).unwrap_or_else(|| panic!("the guide shows {file}"));
        let built = std::fs::read_to_string(crate_dir.join(file)).expect("plugin file");
        assert_eq!(shown.trim_end(), built.trim_end(), "{file} in the guide differs from the plugin that is built");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guides_plugin_summarises_a_session() {
    let deepgram = FakeDeepgram::loopback(DG_KEY).await;
    deepgram.default_script(Script::from_text(SPOKEN, 12.0));
    let mut setup = Setup::new().with_fake_deepgram(&deepgram, DG_KEY);
    let manifest = std::fs::read_to_string(repo().join("tests/test-plugins/first-words/plugin.toml")).expect("manifest");
    setup.test_plugins.push(("first-words".into(), manifest));
    let plugin: scribed::config::PluginConfig = toml::from_str("settings = { words = \"5\" }").expect("plugin config");
    setup.config.plugins.insert("first-words".into(), plugin);
    setup.config.roles.summarizer = Some("first-words".into());
    let daemon = setup.start().await.expect("daemon starts");
    let info = daemon.get_json("/api/v1/plugins/first-words").await.expect("plugin");
    assert_eq!(info["health"]["state"], "healthy", "{info}");

    let mut events = Events::connect(&daemon).await.expect("events");
    let dir = tempfile::tempdir().expect("tempdir");
    let tone = dir.path().join("planning.wav");
    let made = std::process::Command::new("sox")
        .args(["-n", "-r", "16000", "-c", "1"])
        .arg(&tone)
        .args(["synth", "1", "sine", "440"])
        .status()
        .expect("sox");
    assert!(made.success());
    let response = reqwest::Client::new()
        .post(daemon.url("/api/v1/uploads?name=planning.wav"))
        .body(std::fs::read(&tone).expect("tone"))
        .send()
        .await
        .expect("upload");
    assert!(response.status().is_success(), "{}", response.status());
    let body: serde_json::Value = response.json().await.expect("json");
    let id = body["session_id"].as_str().expect("session id").to_string();
    let done = events
        .until(LIMIT, |e| e["type"] == "summary" && e["session_id"] == id.as_str() && ["complete", "error"].contains(&e["status"].as_str().unwrap_or("")))
        .await
        .expect("summary event");
    assert_eq!(done["status"], "complete", "{done}");
    assert_eq!(done["summary"]["overview"], "Welcome to the planning meeting.", "the first five words: {done}");
    let session = daemon.get_json(&format!("/api/v1/sessions/{id}")).await.expect("session");
    assert_eq!(session["summary"]["model"], "first-words", "{session}");
}
