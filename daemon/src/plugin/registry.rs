//! Loading every plugin in the plugins directory against the operator's config.
//!
//! Configuration mistakes (a grant the manifest does not ask for, a role naming a missing
//! plugin, a malformed manifest) are collected and reported together, and stop start-up.
//! Problems that concern one plugin only (a missing secret, a component that fails to
//! compile) leave that plugin unconfigured or failed and the rest of the daemon running.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use wasmtime::Engine;

use super::batch_world;
use super::bindings::{diarizer, store, stt_live, summarizer};
use super::breaker::Breaker;
use super::grants::Grants;
use super::engine::{self, CacheOutcome};
use super::handle::{Description, Health, PluginHandle, WorldPre};
use super::manifest::{Manifest, World};
use super::capabilities::http::{Credentials, HttpLimits, HttpShared};
use super::capabilities::model::ModelFiles;
use super::capabilities::postgres::PostgresDb;
use super::capabilities::sqlite::SqliteDb;
use super::snapshot::ModelSnapshot;
use super::services::{Limits, PluginServices};
use crate::config::{AUTO, Config, PluginConfig};

/// One plugin as the registry knows it.
pub struct PluginEntry {
    pub manifest: Manifest,
    /// `None` when loading failed; `load_error` says why.
    pub handle: Option<PluginHandle>,
    pub description: Option<Description>,
    pub load_error: Option<String>,
    /// Things the operator should fix that do not stop the plugin (missing secrets,
    /// capabilities asked for but not granted).
    pub problems: Vec<String>,
    /// True when a credential could not be resolved: calls needing it are refused.
    pub unconfigured: bool,
}

/// The model folder a plugin may read: none when its manifest lists no model files, an
/// error (reported as a problem; the plugin still loads) when the operator chose no model or
/// the chosen one is not installed.
fn model_files(manifest: &Manifest, config: &PluginConfig, data_dir: &Path, limits: &Limits) -> Result<Option<ModelFiles>, String> {
    if manifest.model_files.is_empty() {
        return match &config.model {
            Some(_) => Err(format!("plugins.{}.model is set, but the plugin reads no model files; it is ignored", manifest.id)),
            None => Ok(None),
        };
    }
    let key = format!("plugins.{}.model", manifest.id);
    let name = config.model.as_deref().ok_or_else(|| format!("{key} is not set; choose an installed model (scribed models list)"))?;
    if !super::manifest::is_plain_name(name) {
        return Err(format!("{key} = {name:?} must be a model name such as tiny.en"));
    }
    let dir = data_dir.join("models").join(name);
    // Single files may be absent (a manifest lists alternatives, such as two vocabulary
    // formats); the plugin names the one it misses when it reads it.
    if !manifest.model_files.iter().any(|f| dir.join(f).is_file()) {
        return Err(format!("{key} = {name:?}: {} holds none of the model files; install it with `scribed models install {name}`", dir.display()));
    }
    // Refused before anything is loaded: an instance that runs out of memory half way
    // through its first file says much less.
    let limit_mib = (limits.memory_bytes >> 20) as u64;
    if let Some(entry) = crate::models::find(name)
        && entry.memory_mib > limit_mib
    {
        return Err(format!(
            "{key} = {name:?} needs about {} MiB per instance, and plugins.{}.memory_limit_mb allows {limit_mib} MiB; \
             raise the limit or choose a smaller model",
            entry.memory_mib, manifest.id
        ));
    }
    Ok(Some(ModelFiles { name: name.to_string(), dir, files: manifest.model_files.clone() }))
}

/// Share of the memory available at start-up that a recogniser's default instances may
/// fill: the rest is the daemon's, the page cache's and everything else's on the machine.
const INSTANCE_MEMORY_SHARE: u64 = 2;

/// Instances of a plugin that takes files as chunks of speech, or of a diarizer (which takes
/// a long recording as parts), when the operator set none:
/// one per core, as many as fit in half the memory available now at `per_instance_mib` each,
/// and at least one.
fn default_instances(per_instance_mib: u64) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let fit = available_mib().map_or(usize::MAX, |mib| (mib / INSTANCE_MEMORY_SHARE / per_instance_mib.max(1)) as usize);
    cores.min(fit).min(crate::config::MAX_PLUGIN_INSTANCES as usize).max(1)
}

/// `MemAvailable` of /proc/meminfo, MiB.
fn available_mib() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

/// Public view of a plugin for the API. Never contains a secret.
#[derive(Debug, Clone, Serialize)]
pub struct PluginView {
    pub id: String,
    pub version: String,
    pub world: World,
    /// `healthy`, `degraded` (recent traps), `circuit-open` or `failed` (not loaded).
    pub state: &'static str,
    /// False when a credential it needs is not set: it runs, but cannot authenticate.
    pub configured: bool,
    pub description: Option<Description>,
    pub declared_outbound: Vec<String>,
    pub granted_outbound: Vec<String>,
    pub sqlite: bool,
    /// The model the plugin reads, when it has one.
    pub model: Option<String>,
    /// Header names injected per origin; values are never shown.
    pub credentials: Vec<CredentialView>,
    pub problems: Vec<String>,
    pub health: Option<Health>,
    pub error: Option<String>,
}

/// A configured credential, without its value.
#[derive(Debug, Clone, Serialize)]
pub struct CredentialView {
    pub origin: String,
    pub header: String,
    pub configured: bool,
}

/// All loaded plugins.
pub struct PluginRegistry {
    entries: BTreeMap<String, PluginEntry>,
}

/// Where a plugin keeps its files.
pub fn plugin_data_dir(data_dir: &Path, id: &str) -> PathBuf {
    data_dir.join("plugin-data").join(id)
}

impl PluginRegistry {
    /// Loads every plugin under `plugins_dir`.
    pub async fn load(
        config: &Config,
        plugins_dir: &Path,
        data_dir: &Path,
        engine: &Engine,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<PluginRegistry> {
        let manifests = read_manifests(plugins_dir)?;
        let mut errors = Vec::new();
        let default_config = PluginConfig::default_grants();
        for id in config.plugins.keys() {
            if !manifests.iter().any(|(m, _)| &m.id == id) {
                errors.push(format!(
                    "plugins.{id} is configured but there is no plugin {id} in {}",
                    plugins_dir.display()
                ));
            }
        }
        let roles = &config.roles;
        let named = |id: &Option<String>| id.as_ref().filter(|id| *id != AUTO).cloned();
        let mut wanted = vec![
            ("roles.store", Some(roles.store.clone()), World::Store, true),
            ("roles.stt_live", named(&roles.stt_live), World::SttLive, true),
            ("roles.stt_batch", named(&roles.stt_batch), World::SttBatch, true),
            ("roles.summarizer", roles.summarizer.clone(), World::Summarizer, true),
            ("roles.diarizer", named(&roles.diarizer), World::Diarizer, true),
        ];
        // An auto role's candidates must exist and fit; a disabled one is passed over.
        wanted.extend(roles.auto.live.iter().map(|id| ("roles.auto.live", Some(id.clone()), World::SttLive, false)));
        wanted.extend(roles.auto.batch.iter().map(|id| ("roles.auto.batch", Some(id.clone()), World::SttBatch, false)));
        for (key, id, world, enabled) in wanted {
            let Some(id) = id else { continue };
            match manifests.iter().find(|(m, _)| m.id == id) {
                None => errors.push(format!("{key} = {id:?}: no such plugin in {}", plugins_dir.display())),
                Some((m, _)) if !m.plays(world) => errors.push(format!(
                    "{key} = {id:?}: plugin {id} implements {}, not {}{}",
                    m.world.as_str(),
                    world.as_str(),
                    if world == World::SttLive { " (nor does its manifest set live_policy)" } else { "" }
                )),
                Some((m, _)) if enabled && !config.plugins.get(&id).is_none_or(|p| p.enabled) => {
                    errors.push(format!("{key} = {id:?}: plugin {} is disabled", m.id));
                }
                Some(_) => {}
            }
        }
        let mut planned = Vec::new();
        for (manifest, dir) in manifests {
            let plugin_config = config.plugins.get(&manifest.id).unwrap_or(&default_config);
            if !plugin_config.enabled {
                tracing::info!(plugin = %manifest.id, "disabled in config; not loaded");
                continue;
            }
            let report = Grants::configure(&manifest, plugin_config);
            errors.extend(report.errors);
            planned.push((manifest, dir, plugin_config.clone(), report.grants, report.ungranted));
        }
        if !errors.is_empty() {
            bail!("the configuration has {} problem(s):\n  - {}", errors.len(), errors.join("\n  - "));
        }

        let cache_dir = config.cache_dir()?.join("components");
        let breaker = |c: &Config| {
            Breaker::new(
                c.sandbox.breaker_failures,
                Duration::from_secs(c.sandbox.breaker_cooldown_secs),
                Duration::from_secs(c.sandbox.breaker_max_cooldown_secs),
            )
        };
        let mut entries = BTreeMap::new();
        for (mut manifest, dir, plugin_config, grants, ungranted) in planned {
            let id = manifest.id.clone();
            // What the plugin offers and the operator allows: the loaded manifest is the
            // effective one.
            manifest.share_loaded_model &= plugin_config.share_model;
            let mut entry = PluginEntry {
                manifest: manifest.clone(),
                handle: None,
                description: None,
                load_error: None,
                problems: ungranted,
                unconfigured: false,
            };
            for problem in &entry.problems {
                tracing::warn!(plugin = %id, "{problem}");
            }
            let credentials = plugin_config.resolve_credentials(&id, &env);
            let mut missing = Vec::new();
            for (credential, error) in &credentials.missing {
                tracing::warn!(plugin = %id, "{error}; the plugin is loaded but cannot authenticate");
                entry.problems.push(error.clone());
                entry.unconfigured = true;
                if let Ok(origin) = super::grants::Origin::parse_rule(&credential.origin) {
                    missing.push((origin, credential.header.to_ascii_lowercase()));
                }
            }
            for key in manifest.required_settings.iter().filter(|key| !plugin_config.settings.contains_key(key.as_str())) {
                let problem = format!("plugins.{id}.settings.{key} is not set, and the plugin needs it");
                tracing::warn!(plugin = %id, "{problem}");
                entry.problems.push(problem);
                entry.unconfigured = true;
            }
            let mut limits = Limits::from_config(&config.sandbox, &plugin_config);
            let postgres = match postgres_db(&id, &plugin_config, &grants, &limits, &env) {
                Ok(db) => db,
                Err(problem) => {
                    tracing::warn!(plugin = %id, "{problem}");
                    entry.problems.push(problem);
                    entry.unconfigured = true;
                    None
                }
            };
            let model = model_files(&manifest, &plugin_config, data_dir, &limits);
            if let Err(problem) = &model {
                tracing::warn!(plugin = %id, "{problem}");
                entry.problems.push(problem.clone());
                entry.unconfigured = true;
            }
            if plugin_config.instances.is_none() && (manifest.speech_chunk_seconds.is_some() || manifest.world == World::Diarizer) {
                let per_instance = plugin_config.model.as_deref().and_then(crate::models::find).map(|e| e.memory_mib).filter(|m| *m > 0);
                limits.instances = default_instances(per_instance.unwrap_or((limits.memory_bytes >> 20) as u64));
            }
            if limits.instances > 1 && matches!(manifest.world, World::SttLive | World::Store) {
                let problem = format!(
                    "plugins.{id}.instances = {}: a {} plugin keeps its state in one instance; it runs one",
                    limits.instances,
                    manifest.world.as_str()
                );
                tracing::warn!(plugin = %id, "{problem}");
                entry.problems.push(problem);
                limits.instances = 1;
            }
            let loaded = load_one(
                engine,
                &manifest,
                &dir,
                &cache_dir,
                data_dir,
                PluginServices {
                    id: Arc::from(id.as_str()),
                    http: HttpShared::new(
                        Arc::from(id.as_str()),
                        grants.clone(),
                        HttpLimits::from_config(&config.sandbox),
                        Credentials::new(credentials.resolved, missing),
                    ),
                    sqlite: None,
                    postgres,
                    model: model.ok().flatten(),
                    grants,
                    limits,
                    settings: plugin_config.settings_as_strings(),
                },
                breaker(config),
            )
            .await;
            match loaded {
                Ok((handle, cache)) => {
                    tracing::info!(plugin = %id, world = manifest.world.as_str(), ?cache, "plugin loaded");
                    match handle.describe().await {
                        Ok(description)
                            if description.id == manifest.id && description.version == manifest.version =>
                        {
                            entry.description = Some(description);
                            entry.handle = Some(handle);
                        }
                        Ok(description) => {
                            entry.load_error = Some(format!(
                                "describe() says {} {} but plugin.toml says {} {}",
                                description.id, description.version, manifest.id, manifest.version
                            ));
                        }
                        Err(err) => entry.load_error = Some(format!("describe() failed: {err}")),
                    }
                }
                Err(err) => entry.load_error = Some(format!("{err:#}")),
            }
            if let Some(error) = &entry.load_error {
                tracing::error!(plugin = %id, "plugin not loaded: {error}");
            }
            entries.insert(id, entry);
        }
        Ok(PluginRegistry { entries })
    }

    pub fn get(&self, id: &str) -> Option<&PluginEntry> {
        self.entries.get(id)
    }

    /// The handle of a loaded plugin.
    pub fn handle(&self, id: &str) -> Option<&PluginHandle> {
        self.entries.get(id).and_then(|e| e.handle.as_ref())
    }

    pub fn entries(&self) -> impl Iterator<Item = &PluginEntry> {
        self.entries.values()
    }

    /// Public views of every plugin.
    pub fn views(&self) -> Vec<PluginView> {
        self.entries.values().map(PluginEntry::view).collect()
    }
}

impl PluginEntry {
    pub fn view(&self) -> PluginView {
        let health = self.handle.as_ref().map(PluginHandle::health);
        let state = match (&self.load_error, &health) {
            (None, Some(h)) => h.state,
            _ => "failed",
        };
        let services = self.handle.as_ref().map(PluginHandle::services);
        let mut credentials = Vec::new();
        if let Some(services) = services {
            credentials.extend(services.http.credentials.injected.iter().map(|c| CredentialView {
                origin: c.origin.to_url_string(),
                header: c.header.clone(),
                configured: true,
            }));
            credentials.extend(services.http.credentials.missing.iter().map(|(origin, header)| {
                CredentialView { origin: origin.to_url_string(), header: header.clone(), configured: false }
            }));
        }
        PluginView {
            id: self.manifest.id.clone(),
            version: self.manifest.version.clone(),
            world: self.manifest.world,
            state,
            configured: !self.unconfigured,
            description: self.description.clone(),
            declared_outbound: self.manifest.outbound_hosts.clone(),
            granted_outbound: services
                .map(|s| s.grants.outbound().map(|o| o.to_url_string()).collect())
                .unwrap_or_default(),
            sqlite: services.is_some_and(|s| s.grants.sqlite_granted()),
            model: services.and_then(|s| s.model.as_ref()).map(|m| m.name.clone()),
            credentials,
            problems: self.problems.clone(),
            health,
            error: self.load_error.clone(),
        }
    }
}

/// Reads `<dir>/*/plugin.toml`; every bad manifest is reported at once.
fn read_manifests(plugins_dir: &Path) -> Result<Vec<(Manifest, PathBuf)>> {
    let listing = std::fs::read_dir(plugins_dir).with_context(|| {
        format!(
            "reading the plugins directory {} (build the plugins with `cargo xtask build-plugins` \
             or pass --plugins-dir)",
            plugins_dir.display()
        )
    })?;
    let mut dirs: Vec<PathBuf> = listing.flatten().map(|e| e.path()).filter(|p| p.join("plugin.toml").is_file()).collect();
    dirs.sort();
    let mut manifests: Vec<(Manifest, PathBuf)> = Vec::new();
    let mut errors = Vec::new();
    for dir in dirs {
        match Manifest::load(&dir.join("plugin.toml")) {
            Ok(m) if manifests.iter().any(|(other, _)| other.id == m.id) => {
                errors.push(format!("plugin id {} appears twice (again in {})", m.id, dir.display()));
            }
            Ok(m) => manifests.push((m, dir)),
            Err(err) => errors.push(format!("{err:#}")),
        }
    }
    if !errors.is_empty() {
        bail!("invalid plugin manifests:\n  - {}", errors.join("\n  - "));
    }
    Ok(manifests)
}

/// The plugin's pool for its granted database, when it has one: the URL's `${VAR}`s
/// resolved, and parsed (nothing connects yet).
fn postgres_db(
    id: &str,
    plugin: &PluginConfig,
    grants: &Grants,
    limits: &Limits,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Option<PostgresDb>, String> {
    let Some(url) = plugin.postgres_url.as_deref().filter(|_| grants.postgres_granted()) else {
        return Ok(None);
    };
    let url = crate::secret::interpolate(url, env).map_err(|err| format!("plugins.{id}.postgres_url: {err}"))?;
    PostgresDb::open(&url, limits.max_sql_result).map(Some).map_err(|err| format!("plugins.{id}.postgres_url: {err:#}"))
}

/// Compiles (or loads from cache), links and pre-instantiates one plugin.
async fn load_one(
    engine: &Engine,
    manifest: &Manifest,
    dir: &Path,
    cache_dir: &Path,
    data_dir: &Path,
    mut services: PluginServices,
    breaker: Breaker,
) -> Result<(PluginHandle, CacheOutcome)> {
    let id = manifest.id.clone();
    if services.grants.sqlite_granted() {
        let path = plugin_data_dir(data_dir, &id).join(format!("{id}.sqlite3"));
        services.sqlite = Some(
            SqliteDb::open(&path, services.limits.max_sql_result)
                .with_context(|| format!("opening {}", path.display()))?,
        );
    }
    let wasm = dir.join(format!("{id}.wasm"));
    let engine::Loaded { component, cache, api_version } = {
        let (engine, cache_dir, wasm) = (engine.clone(), cache_dir.to_path_buf(), wasm.clone());
        tokio::task::spawn_blocking(move || engine::load_component(&engine, &wasm, &cache_dir))
            .await
            .context("component loader task failed")??
    };
    let linker = super::linker::for_world(engine, manifest.world)?;
    let world_error = || format!("plugin {id} does not match the {} world of scribe:plugin@{api_version}", manifest.world.as_str());
    let batch_version = batch_world::Version::from_stamp(&api_version);
    let pre = match manifest.world {
        World::Store => {
            WorldPre::Store(store::StorePre::new(linker.instantiate_pre(&component).map_err(anyhow::Error::from).with_context(world_error)?)?)
        }
        World::SttBatch => {
            WorldPre::SttBatch(batch_world::SttBatchPre::new(batch_version, linker.instantiate_pre(&component).map_err(anyhow::Error::from).with_context(world_error)?)?)
        }
        World::Summarizer => {
            WorldPre::Summarizer(summarizer::SummarizerPre::new(linker.instantiate_pre(&component).map_err(anyhow::Error::from).with_context(world_error)?)?)
        }
        World::SttLive => {
            WorldPre::SttLive(stt_live::SttLivePre::new(linker.instantiate_pre(&component).map_err(anyhow::Error::from).with_context(world_error)?)?)
        }
        World::Diarizer => {
            WorldPre::Diarizer(diarizer::DiarizerPre::new(linker.instantiate_pre(&component).map_err(anyhow::Error::from).with_context(world_error)?)?)
        }
    };
    let snapshot = (manifest.share_loaded_model && services.model.is_some()).then(|| ModelSnapshot {
        engine: engine.clone(),
        linker,
        wasm_path: wasm,
        cache_dir: cache_dir.to_path_buf(),
        version: batch_version,
    });
    Ok((PluginHandle::new(manifest.clone(), engine.clone(), pre, snapshot, Arc::new(services), breaker), cache))
}
