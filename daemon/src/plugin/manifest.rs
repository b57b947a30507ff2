//! `plugin.toml`: what a plugin is and which capabilities it asks for.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// The WIT world a plugin implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum World {
    SttLive,
    SttBatch,
    Summarizer,
    Store,
    Diarizer,
}

impl World {
    pub fn as_str(self) -> &'static str {
        match self {
            World::SttLive => "stt-live",
            World::SttBatch => "stt-batch",
            World::Summarizer => "summarizer",
            World::Store => "store",
            World::Diarizer => "diarizer",
        }
    }
}

/// A plugin's manifest.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Stable id: lower-case letters, digits and `-`; names the config table and data dir.
    pub id: String,
    /// Semver of the plugin.
    pub version: String,
    pub world: World,
    /// Outbound URLs (`scheme://host[:port]`) the plugin wants to reach.
    #[serde(default)]
    pub outbound_hosts: Vec<String>,
    /// Names of settings holding a URL the plugin wants to reach (a configurable base URL);
    /// the origin of the operator's value is asked for as if listed in `outbound_hosts`.
    #[serde(default)]
    pub outbound_hosts_from_settings: Vec<String>,
    /// Settings the plugin cannot work without (`model` of a model server): until the
    /// operator sets each one, the plugin is loaded but reported as not configured, and a role
    /// that needs a configured plugin (automatic summaries) does not use it.
    #[serde(default)]
    pub required_settings: Vec<String>,
    /// Whether the plugin wants its own SQLite database.
    #[serde(default)]
    pub sqlite: bool,
    /// Whether the plugin wants a PostgreSQL database (the operator names it).
    #[serde(default)]
    pub postgres: bool,
    /// Files of a model folder the plugin reads (plain names, e.g. `model.bin`); the operator
    /// chooses the model with `plugins.<id>.model`.
    #[serde(default)]
    pub model_files: Vec<String>,
    /// For an `stt-batch` plugin that reads 16 kHz PCM: it transcribes best in chunks of
    /// speech at most this long (Whisper's window is 30 s). The host then finds the speech
    /// and hands the plugin one chunk per call, on as many instances as it may run, instead
    /// of the whole file.
    #[serde(default)]
    pub speech_chunk_seconds: Option<u32>,
    /// For an `stt-batch` plugin with a model: a `transcribe` of no audio loads the model
    /// and returns. The host then loads it once, snapshots that instance, and starts every
    /// instance from the snapshot, so all of them share one copy of the loaded weights.
    #[serde(default)]
    pub share_loaded_model: bool,
    /// For an `stt-batch` plugin that recognises speech itself: the host may play the live
    /// role with it by the named policy. `"local-agreement"`: the host re-reads the live
    /// buffer every step and keeps the words two readings agree on (see
    /// [`crate::live::local`]).
    #[serde(default)]
    pub live_policy: Option<LivePolicy>,
}

/// How the host streams live audio through a batch recogniser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LivePolicy {
    LocalAgreement,
}

/// A file name with no directory part that could lead elsewhere.
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// Longest speech chunk a plugin may ask for: 10 minutes; longer is no longer a chunk.
const MAX_SPEECH_CHUNK_SECONDS: u32 = 600;

/// Longest id accepted; ids become directory names and log fields.
const MAX_ID_LEN: usize = 64;

impl Manifest {
    /// A manifest of `world` asking for `outbound_hosts` alone, for tests of the capabilities.
    #[cfg(test)]
    pub fn asking_for(world: World, outbound_hosts: &[&str]) -> Manifest {
        Manifest {
            id: "p".into(),
            version: "1".into(),
            world,
            outbound_hosts: outbound_hosts.iter().map(|s| s.to_string()).collect(),
            outbound_hosts_from_settings: Vec::new(),
            required_settings: Vec::new(),
            sqlite: false,
            postgres: false,
            model_files: Vec::new(),
            speech_chunk_seconds: None,
            share_loaded_model: false,
            live_policy: None,
        }
    }

    /// Whether the plugin can play a role of `world`: its own world's, or the live role for
    /// a batch recogniser the host streams by its `live_policy`.
    pub fn plays(&self, world: World) -> bool {
        self.world == world || (world == World::SttLive && self.live_policy.is_some())
    }

    pub fn load(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading {}", path.display()))?;
        let manifest: Manifest = toml::from_str(&text)
            .map_err(|err| anyhow::anyhow!("{}", err.to_string().trim_end()))
            .with_context(|| format!("parsing {}", path.display()))?;
        manifest.validate().with_context(|| format!("in {}", path.display()))?;
        Ok(manifest)
    }

    fn validate(&self) -> Result<()> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= MAX_ID_LEN
            && self
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !self.id.starts_with('-');
        anyhow::ensure!(
            id_ok,
            "id {:?} must be 1-{MAX_ID_LEN} lower-case letters, digits or '-'",
            self.id
        );
        anyhow::ensure!(!self.version.is_empty(), "version is empty");
        for file in &self.model_files {
            anyhow::ensure!(is_plain_name(file), "model_files: {file:?} must be a plain file name");
        }
        if let Some(seconds) = self.speech_chunk_seconds {
            anyhow::ensure!(self.world == World::SttBatch, "speech_chunk_seconds is for stt-batch plugins");
            anyhow::ensure!((1..=MAX_SPEECH_CHUNK_SECONDS).contains(&seconds), "speech_chunk_seconds = {seconds}: must be 1 to {MAX_SPEECH_CHUNK_SECONDS}");
        }
        if self.live_policy.is_some() {
            anyhow::ensure!(self.world == World::SttBatch, "live_policy is for stt-batch plugins");
        }
        if self.share_loaded_model {
            anyhow::ensure!(self.world == World::SttBatch && !self.model_files.is_empty(), "share_loaded_model is for stt-batch plugins that read a model");
        }
        Ok(())
    }
}
