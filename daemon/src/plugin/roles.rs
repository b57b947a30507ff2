//! Which plugin plays a part (`roles.*`). A role set to a plugin id gets that plugin; a role
//! set to `auto` gets the first of its candidates that loaded with every credential and model
//! it needs, so a home server without keys transcribes locally and adding a key moves the
//! part to the cloud provider. Each choice carries its reason, for the status page and the
//! live sessions that use it.

use serde::Serialize;

use super::registry::{PluginEntry, PluginRegistry};
use crate::config::{AUTO, Config};

/// The plugin a role got, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RoleChoice {
    pub plugin: String,
    pub reason: String,
    /// The model it was configured with (`plugins.<id>.settings.model`), for the summarizer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// The roles as chosen at start-up.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Roles {
    pub stt_live: Option<RoleChoice>,
    pub stt_batch: Option<RoleChoice>,
    pub diarizer: Option<RoleChoice>,
    pub summarizer: Option<RoleChoice>,
}

impl Roles {
    pub fn choose(config: &Config, registry: &PluginRegistry) -> Roles {
        let roles = &config.roles;
        Roles {
            stt_live: choose(registry, roles.stt_live.as_deref(), &roles.auto.live),
            stt_batch: choose(registry, roles.stt_batch.as_deref(), &roles.auto.batch),
            diarizer: choose_diarizer(registry, roles.diarizer.as_deref()),
            summarizer: roles.summarizer.as_ref().map(|id| RoleChoice {
                plugin: id.clone(),
                reason: "set in the configuration".into(),
                model: config.plugins.get(id).and_then(|p| p.settings.get("model")).and_then(|m| m.as_str()).map(String::from),
            }),
        }
    }
}

/// The diarizer that plays its part: a named one, or for `auto` the local one when it is
/// ready. Unlike the speech-to-text roles there is no fallback: without a ready diarizer,
/// transcripts keep the speakers they came with.
fn choose_diarizer(registry: &PluginRegistry, configured: Option<&str>) -> Option<RoleChoice> {
    match configured? {
        AUTO => {
            let entry = registry.get(LOCAL_DIARIZER)?;
            match not_ready(entry) {
                None => Some(RoleChoice { plugin: LOCAL_DIARIZER.into(), reason: "auto: its model is installed".into(), model: None }),
                Some(why) => {
                    tracing::info!("transcripts are not diarized: {LOCAL_DIARIZER} is not ready ({why})");
                    None
                }
            }
        }
        id => Some(RoleChoice { plugin: id.into(), reason: "set in the configuration".into(), model: None }),
    }
}

/// The diarizer `roles.diarizer = "auto"` means.
const LOCAL_DIARIZER: &str = "diarize-local";

/// Why a loaded candidate cannot play the part yet: its first problem (a credential not
/// set, a model not installed), or its load error.
fn not_ready(entry: &PluginEntry) -> Option<String> {
    if let Some(error) = &entry.load_error {
        return Some(format!("it did not load: {error}"));
    }
    entry.unconfigured.then(|| entry.problems.first().cloned().unwrap_or_else(|| "it is not configured".into()))
}

/// The plugin for a role set to `configured`, with `candidates` for `auto`.
fn choose(registry: &PluginRegistry, configured: Option<&str>, candidates: &[String]) -> Option<RoleChoice> {
    let configured = configured?;
    if configured != AUTO {
        return Some(RoleChoice { plugin: configured.into(), reason: "set in the configuration".into(), model: None });
    }
    let mut passed = Vec::new();
    for id in candidates {
        let Some(entry) = registry.get(id) else {
            passed.push(format!("{id} is disabled"));
            continue;
        };
        match not_ready(entry) {
            None if passed.is_empty() => return Some(RoleChoice { plugin: id.clone(), reason: "auto: the first candidate, and ready".into(), model: None }),
            None => return Some(RoleChoice { plugin: id.clone(), reason: format!("auto: {}", passed.join("; ")), model: None }),
            Some(why) => passed.push(format!("{id} is not ready ({why})")),
        }
    }
    // None is ready: the last loaded candidate (the local one, by the defaults) says what is
    // missing when it is used, and a live session still records.
    let fallback = candidates.iter().rev().find(|id| registry.get(id).is_some_and(|e| e.handle.is_some()))?;
    Some(RoleChoice { plugin: fallback.clone(), reason: format!("auto: no candidate is ready: {}", passed.join("; ")), model: None })
}
