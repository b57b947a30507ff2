//! Per-plugin host services shared by all instances of one plugin: its grants, settings,
//! credentials, HTTP client, SQLite connection and limits.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::grants::{Grants, Origin};
use crate::config::{Credential, PluginConfig, SandboxConfig};
use crate::plugin::capabilities::http::HttpClient;
use crate::plugin::capabilities::sqlite::SqliteDb;

const MIB: u64 = 1024 * 1024;

/// Numeric limits, resolved from the config.
#[derive(Debug, Clone)]
pub struct Limits {
    pub memory_bytes: usize,
    pub cpu_budget: Duration,
    /// Extra guest time a batch transcription gets per second of audio, for plugins that
    /// do the recognition themselves (offline models); none for those that call a provider.
    pub cpu_budget_per_audio_second: Option<Duration>,
    /// Instances that may run calls at once.
    pub instances: usize,
    pub http_timeout: Duration,
    pub connect_timeout: Duration,
    pub max_request_body: u64,
    pub max_response_body: u64,
    pub max_sql_result: u64,
}

impl Limits {
    pub fn from_config(sandbox: &SandboxConfig, plugin: &PluginConfig) -> Limits {
        let memory_mb = plugin.memory_limit_mb.unwrap_or(sandbox.memory_limit_mb);
        Limits {
            memory_bytes: usize::try_from(memory_mb.saturating_mul(MIB)).unwrap_or(usize::MAX),
            cpu_budget: Duration::from_millis(sandbox.call_cpu_budget_ms),
            cpu_budget_per_audio_second: plugin.cpu_ms_per_audio_second.map(Duration::from_millis),
            instances: plugin.instances.map_or(1, |n| n as usize),
            http_timeout: Duration::from_secs(sandbox.http_timeout_secs),
            connect_timeout: Duration::from_secs(sandbox.connect_timeout_secs),
            max_request_body: sandbox.max_request_body_mb.saturating_mul(MIB),
            max_response_body: sandbox.max_response_body_mb.saturating_mul(MIB),
            max_sql_result: sandbox.max_sql_result_mb.saturating_mul(MIB),
        }
    }
}

/// A credential ready to inject.
#[derive(Debug, Clone)]
pub struct InjectedHeader {
    pub origin: Origin,
    pub header: String,
    pub value: crate::secret::Secret,
}

/// Everything host functions need to serve one plugin.
pub struct PluginServices {
    pub id: Arc<str>,
    pub grants: Grants,
    pub limits: Limits,
    pub settings: BTreeMap<String, String>,
    pub credentials: Vec<InjectedHeader>,
    /// Credentials that could not be resolved (missing env vars): requests to their origins
    /// are refused as unauthorized instead of going out without a key.
    pub missing_credentials: Vec<(Origin, String)>,
    pub http: HttpClient,
    pub sqlite: Option<SqliteDb>,
    /// The model folder the plugin may read, when its manifest asks and the operator chose one.
    pub model: Option<ModelFiles>,
}

/// A model the plugin may read: the files its manifest lists, in one folder.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    /// The model's name, e.g. `tiny.en`.
    pub name: String,
    pub dir: std::path::PathBuf,
    /// Plain file names from the manifest's `model_files`.
    pub files: Vec<String>,
}

impl PluginServices {
    /// Turns resolved credentials into injectable headers (origins were validated when the
    /// grants were configured).
    pub fn injected(credentials: Vec<Credential>) -> Vec<InjectedHeader> {
        credentials
            .into_iter()
            .filter_map(|c| {
                Some(InjectedHeader {
                    origin: Origin::parse_rule(&c.origin).ok()?,
                    header: c.header.to_ascii_lowercase(),
                    value: c.value,
                })
            })
            .collect()
    }

    /// Header names the guest may not set: the host's own, and every injected one.
    pub fn header_forbidden(&self, name: &str) -> bool {
        const HOST_OWNED: &[&str] = &[
            "authorization",
            "proxy-authorization",
            "x-api-key",
            "cookie",
            "host",
            "connection",
            "content-length",
            "transfer-encoding",
            "te",
            "trailer",
            "upgrade",
            "keep-alive",
            "proxy-connection",
            "sec-websocket-key",
            "sec-websocket-version",
            "sec-websocket-extensions",
        ];
        let lower = name.to_ascii_lowercase();
        HOST_OWNED.contains(&lower.as_str())
            || self.credentials.iter().any(|c| c.header == lower)
            || self.missing_credentials.iter().any(|(_, h)| *h == lower)
    }

    /// Headers to add for a request to `origin`, or the reason it must not be sent.
    pub fn credentials_for(&self, origin: &Origin) -> Result<Vec<(&str, &str)>, String> {
        if let Some((_, header)) = self.missing_credentials.iter().find(|(o, _)| o == origin) {
            return Err(format!(
                "the credential for {} (header {header}) is not configured; set its environment \
                 variable (see plugins.{}.credentials)",
                origin.to_url_string(),
                self.id
            ));
        }
        Ok(self
            .credentials
            .iter()
            .filter(|c| &c.origin == origin)
            .map(|c| (c.header.as_str(), c.value.expose()))
            .collect())
    }
}
