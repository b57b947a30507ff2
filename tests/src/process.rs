//! The `scribed` binary as its own process, for tests of what an operator runs: a config
//! file pointed at a fake Deepgram, `scribed serve`, and client commands.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::fake_anthropic::FakeAnthropic;
use crate::fake_deepgram::FakeDeepgram;
use crate::fake_openai::FakeOpenAi;

/// The binary built by `cargo xtask test`.
pub fn bin() -> String {
    std::env::var("SCRIBE_BIN").expect("SCRIBE_BIN is set by `cargo xtask test`")
}

/// The default config on `127.0.0.1:0`, pointed at the fake (which the `auto` roles choose
/// when the daemon has a key), with a fast retry, a short
/// inbox stability window and the suite's shared component cache.
pub fn config_text(fake: &FakeDeepgram) -> String {
    let origin = fake.base_url();
    let ws = fake.ws_url();
    let text = scribed::config::DEFAULT_CONFIG
        .replacen("listen = \"127.0.0.1:8737\"", "listen = \"127.0.0.1:0\"", 1)
        .replacen("retry_base_secs = 10", "retry_base_secs = 1", 1)
        .replacen("stable_secs = 3", "stable_secs = 1", 1)
        .replacen(
            "allow_outbound = [\"https://api.deepgram.com\"]\n\n[[plugins.deepgram-batch.credentials]]",
            &format!("allow_outbound = [\"https://api.deepgram.com\", \"{origin}\"]\n\n[[plugins.deepgram-batch.credentials]]\norigin = \"{origin}\"\nheader = \"Authorization\"\nvalue = \"Token ${{DEEPGRAM_API_KEY}}\"\n\n[[plugins.deepgram-batch.credentials]]"),
            1,
        )
        .replacen("[plugins.deepgram-batch.settings]\n", &format!("[plugins.deepgram-batch.settings]\nbase_url = \"{origin}\"\n"), 1)
        .replacen(
            "allow_outbound = [\"wss://api.deepgram.com\"]\n\n[[plugins.deepgram-live.credentials]]",
            &format!("allow_outbound = [\"wss://api.deepgram.com\", \"{ws}\"]\n\n[[plugins.deepgram-live.credentials]]\norigin = \"{ws}\"\nheader = \"Authorization\"\nvalue = \"Token ${{DEEPGRAM_API_KEY}}\"\n\n[[plugins.deepgram-live.credentials]]"),
            1,
        )
        .replacen("[plugins.deepgram-live.settings]\n", &format!("[plugins.deepgram-live.settings]\nbase_url = \"{ws}\"\n"), 1);
    assert!(
        text.contains(&format!("base_url = \"{origin}\""))
            && text.contains(&format!("origin = \"{origin}\""))
            && text.contains(&format!("base_url = \"{ws}\""))
            && text.contains(&format!("origin = \"{ws}\"")),
        "config edits applied"
    );
    // Top-level keys go before the first table.
    format!("cache_dir = {:?}\n{text}", crate::shared_cache_dir())
}

/// The default config as a keyless user runs it (whisper-local transcribes), on
/// `127.0.0.1:0` with the suite's shared component cache, and `whisper_local` (TOML lines)
/// added to `[plugins.whisper-local]`.
pub fn offline_config_text(whisper_local: &str) -> String {
    let table = "[plugins.whisper-local]\n";
    let text = scribed::config::DEFAULT_CONFIG
        .replacen("listen = \"127.0.0.1:8737\"", "listen = \"127.0.0.1:0\"", 1)
        .replacen(table, &format!("{table}{whisper_local}\n"), 1);
    assert!(text.contains(whisper_local) && text.contains("listen = \"127.0.0.1:0\""), "config edits applied");
    format!("cache_dir = {:?}\n{text}", crate::shared_cache_dir())
}

/// [`config_text`] with claude-summary pointed at a fake Anthropic (key from
/// `ANTHROPIC_API_KEY`).
pub fn config_text_with_anthropic(fake: &FakeDeepgram, anthropic: &FakeAnthropic) -> String {
    let origin = anthropic.base_url();
    let text = config_text(fake)
        .replacen(
            "allow_outbound = [\"https://api.anthropic.com\"]\n\n[[plugins.claude-summary.credentials]]",
            &format!("allow_outbound = [\"https://api.anthropic.com\", \"{origin}\"]\n\n[[plugins.claude-summary.credentials]]\norigin = \"{origin}\"\nheader = \"x-api-key\"\nvalue = \"${{ANTHROPIC_API_KEY}}\"\n\n[[plugins.claude-summary.credentials]]"),
            1,
        )
        .replacen("[plugins.claude-summary.settings]\n", &format!("[plugins.claude-summary.settings]\nbase_url = \"{origin}\"\n"), 1);
    assert!(text.contains(&format!("base_url = \"{origin}\"")) && text.contains(&format!("origin = \"{origin}\"")), "config edits applied");
    text
}

/// [`config_text`] with files going to openai-transcribe pointed at a fake OpenAI (key from
/// `OPENAI_API_KEY`).
pub fn config_text_with_openai_transcribe(fake: &FakeDeepgram, openai: &FakeOpenAi) -> String {
    let origin = openai.base_url();
    let text = config_text(fake)
        .replacen("stt_batch = \"auto\"", "stt_batch = \"openai-transcribe\"", 1)
        .replacen(
            "allow_outbound = [\"https://api.openai.com\"]\n\n# The key",
            &format!("allow_outbound = [\"https://api.openai.com\", \"{origin}\"]\n\n[[plugins.openai-transcribe.credentials]]\norigin = \"{origin}\"\nheader = \"authorization\"\nvalue = \"Bearer ${{OPENAI_API_KEY}}\"\n\n# The key"),
            1,
        )
        .replacen("[plugins.openai-transcribe.settings]\n", &format!("[plugins.openai-transcribe.settings]\nbase_url = \"{origin}\"\n"), 1);
    assert!(text.contains("stt_batch = \"openai-transcribe\"") && text.contains(&format!("base_url = \"{origin}\"")) && text.contains(&format!("origin = \"{origin}\"")), "config edits applied");
    text
}

/// `scribed <subcommand>` on `config` and `data`, with the built plugins and `key` as the
/// Deepgram key.
pub fn command(subcommand: &str, config: &Path, data: &Path, key: &str) -> Command {
    let mut command = Command::new(bin());
    command
        .arg(subcommand)
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .arg("--plugins-dir")
        .arg(crate::plugins_dir())
        .env("DEEPGRAM_API_KEY", key)
        .env("RUST_LOG", "warn")
        .env_remove("SCRIBE_URL")
        .env_remove("SCRIBE_TOKEN");
    command
}

/// Starts `scribed serve` and returns it with its URL (no trailing slash), read from its
/// first line.
pub fn serve(config: &Path, data: &Path, key: &str) -> (Child, String) {
    serve_with(command("serve", config, data, key))
}

/// Like [`serve`], with the command prepared by the caller (extra environment).
pub fn serve_with(command: Command) -> (Child, String) {
    spawn_serving(command, Stdio::null())
}

/// Like [`serve_with`], with the daemon's log (stderr) written to `log`.
pub fn serve_logged(command: Command, log: &Path) -> (Child, String) {
    let file = std::fs::File::create(log).expect("log file");
    spawn_serving(command, Stdio::from(file))
}

fn spawn_serving(mut command: Command, stderr: Stdio) -> (Child, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(stderr)
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

/// The memory of a keyless daemon (its own process, in `dir`) once it has transcribed `clip`
/// with `whisper_local` (TOML lines) added to its `[plugins.whisper-local]`. Idle instances
/// stay in memory after the job, so the figure holds every instance the job used.
pub async fn memory_after(dir: &Path, clip: &Path, whisper_local: &str) -> Memory {
    let data = dir.join("data");
    crate::link_models(&data, true, true).expect("models");
    let config = dir.join("scribed.toml");
    std::fs::write(&config, offline_config_text(whisper_local)).expect("config");
    let (mut daemon, _url) = serve(&config, &data, "");
    let mut transcribe = command("transcribe", &config, &data, "");
    transcribe.args(["--out", "-"]).arg(clip);
    let done = tokio::process::Command::from(transcribe).output().await.expect("scribed transcribe");
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    assert!(!done.stdout.is_empty(), "a transcript came back");
    let memory = Memory::of(daemon.id());
    let _ = daemon.kill();
    let _ = daemon.wait();
    memory
}

/// A process's memory, bytes.
pub struct Memory {
    /// Physical memory it uses: each page once, shared pages divided among their mappings.
    /// The kernel's VmRSS counts a page once per mapping, so pages that two instances map
    /// from the one model image appear twice there while existing once.
    pub proportional: u64,
    pub resident: u64,
}

impl Memory {
    pub fn of(pid: u32) -> Memory {
        let field = |file: &str, name: &str| -> u64 {
            let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).expect("proc file");
            let kib: u64 = text
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .expect("memory field");
            kib * 1024
        };
        Memory { proportional: field("smaps_rollup", "Pss:"), resident: field("status", "VmRSS:") }
    }
}
