//! What one plugin's instances share: its grants, settings and limits, and the per-plugin
//! part of each capability (outbound HTTP, its database, its model).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::capabilities::http::HttpShared;
use super::capabilities::model::ModelFiles;
use super::capabilities::postgres::PostgresDb;
use super::capabilities::sqlite::SqliteDb;
use super::grants::Grants;
use crate::config::{PluginConfig, SandboxConfig};

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
            max_sql_result: sandbox.max_sql_result_mb.saturating_mul(MIB),
        }
    }
}

/// Everything host functions need to serve one plugin.
pub struct PluginServices {
    pub id: Arc<str>,
    pub grants: Grants,
    pub limits: Limits,
    pub settings: BTreeMap<String, String>,
    pub http: HttpShared,
    pub sqlite: Option<SqliteDb>,
    pub postgres: Option<PostgresDb>,
    /// The model folder the plugin may read, when its manifest asks and the operator chose one.
    pub model: Option<ModelFiles>,
}
