//! The plugin author's guide (`plugin-api/README.md`) holds a minimal plugin that builds: its
//! files are the ones `cargo xtask test` builds into a component, and that component, loaded
//! by the real daemon, summarises a transcribed session with the setting the operator gave it.
//! And what the SDK adds to a plugin (short paths, helpers, the version stamp) adds nothing to
//! what a component exports.

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

/// Functions and instances a component exports at its top level.
fn exported(wasm: &[u8]) -> Vec<String> {
    use wasmparser::{ComponentExternalKind, Parser, Payload};
    let mut depth = 0usize;
    let mut names = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.expect("a valid component") {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentExportSection(exports) if depth == 0 => {
                for export in exports {
                    let export = export.expect("an export");
                    if matches!(export.kind, ComponentExternalKind::Func | ComponentExternalKind::Instance) {
                        names.push(export.name.name.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    names.sort();
    names
}

#[test]
fn components_export_exactly_their_world() {
    let worlds: [(&str, &[&str]); 5] = [
        ("stt-batch", &["describe", "transcribe"]),
        ("stt-live", &["describe", "finish", "on-socket-event", "push-audio", "start", "tick"]),
        ("summarizer", &["combine", "describe", "summarize"]),
        ("store", &["describe", "scribe:plugin/library@0.1.0"]),
        ("diarizer", &["describe", "diarize"]),
    ];
    let mut components = Vec::new();
    for entry in std::fs::read_dir(scribe_tests::plugins_dir()).expect("plugins dir").flatten() {
        let id = entry.file_name().to_string_lossy().into_owned();
        let manifest = std::fs::read_to_string(entry.path().join("plugin.toml")).expect("manifest");
        components.push((entry.path().join(format!("{id}.wasm")), manifest));
    }
    let first_words = repo().join("tests/test-plugins/first-words/plugin.toml");
    components.push((scribe_tests::test_plugins_dir().join("first-words.wasm"), std::fs::read_to_string(first_words).expect("manifest")));
    assert!(components.len() >= 7, "{components:?}");
    for (wasm, manifest) in components {
        let manifest: toml::Table = toml::from_str(&manifest).expect("manifest parses");
        let world = manifest["world"].as_str().expect("world");
        let want = worlds.iter().find(|(w, _)| *w == world).map(|(_, e)| *e).expect("a known world");
        let bytes = std::fs::read(&wasm).expect("component");
        assert_eq!(exported(&bytes), want, "{}", wasm.display());
    }
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
    let id = scribe_tests::upload_tone(&daemon.url(""), "planning.wav").await.expect("upload");
    let done = events
        .until(LIMIT, |e| e["type"] == "summary" && e["session_id"] == id.as_str() && ["complete", "error"].contains(&e["status"].as_str().unwrap_or("")))
        .await
        .expect("summary event");
    assert_eq!(done["status"], "complete", "{done}");
    assert_eq!(done["summary"]["overview"], "Welcome to the planning meeting.", "the first five words: {done}");
    let session = daemon.get_json(&format!("/api/v1/sessions/{id}")).await.expect("session");
    assert_eq!(session["summary"]["model"], "first-words", "{session}");
}
