//! One loaded model for all of a plugin's instances. A plugin whose manifest sets
//! `share_loaded_model` (an `stt-batch` plugin with a model) is run once with an empty
//! `transcribe` call, which loads its model, and that instance is snapshotted with Wizer: its
//! memory becomes the data segment of a new component. wasmtime maps a component's initial
//! memory copy-on-write from one image, so every instance started from the snapshot reads the
//! same physical pages of weights, and pays only for the pages it writes (its working memory).
//!
//! The snapshot is compiled once per plugin build, model and settings, and kept in the
//! component cache next to the other compiled components; another process building the same
//! entry is waited for, not repeated. Snapshots are large (the loaded model), so a plugin's
//! snapshots that no start has used for [`UNUSED_FOR`] are removed.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Instance, Linker, WasmList};
use wasmtime::{Engine, Store};
use wasmtime_wizer::{ComponentInstanceState, Wizer};

use super::batch_world::{Request, SttBatch, SttBatchPre, Task, Version};
use super::bindings::types::{AudioEncoding, AudioFormat};
use super::cpu::CpuTimed;
use super::engine;
use super::services::PluginServices;
use super::state::{PluginState, new_store};

/// Guest time the loading call may take: reading and converting the largest catalog model
/// takes well under a minute on a slow core; this only stops a guest that never returns.
const LOAD_BUDGET: Duration = Duration::from_secs(600);

/// How long a snapshot may go unused before it is removed: an old plugin build's or an old
/// model's, typically; a week keeps those of every setting a machine switches between.
const UNUSED_FOR: Duration = Duration::from_secs(7 * 24 * 3600);

/// Ending of a snapshot's cache entry.
const ENTRY_SUFFIX: &str = ".loaded.cwasm";
/// Length of an entry's key: a SHA-256 in hex.
const KEY_HEX: usize = 64;

/// Sample rate of the empty request; the plugins that share a model read 16 kHz PCM.
const LOAD_SAMPLE_RATE: u32 = 16_000;

/// What is needed to build a plugin's shared-model snapshot, kept until the first
/// transcription asks for it.
pub struct ModelSnapshot {
    pub engine: Engine,
    pub linker: Linker<PluginState>,
    pub wasm_path: PathBuf,
    pub cache_dir: PathBuf,
    pub version: Version,
}

impl ModelSnapshot {
    /// The pre-instantiated snapshot: from the cache, or built now by loading the model in
    /// a fresh instance.
    pub async fn prepare(&self, services: Arc<PluginServices>) -> Result<SttBatchPre> {
        let wasm = tokio::fs::read(&self.wasm_path).await.with_context(|| format!("reading {}", self.wasm_path.display()))?;
        let entry = self.cache_dir.join(format!("{}-{}{ENTRY_SUFFIX}", services.id, self.key(&wasm, &services)?));
        remove_unused(&self.cache_dir, &services.id, &entry, std::time::SystemTime::now());
        let component = match self.cached(&entry).await? {
            Some(component) => component,
            None => {
                let lock = lock_entry(&entry).await?;
                // Another process may have built it while this one waited for the lock.
                let component = match self.cached(&entry).await? {
                    Some(component) => component,
                    None => self.build(&wasm, services, &entry).await?,
                };
                drop(lock);
                component
            }
        };
        let pre = self.linker.instantiate_pre(&component).map_err(anyhow::Error::from)?;
        SttBatchPre::new(self.version, pre).map_err(anyhow::Error::from)
    }

    /// Names the snapshot by everything that shapes the loaded state: the plugin build, the
    /// model's files, the plugin's settings, and the engine.
    fn key(&self, wasm: &[u8], services: &PluginServices) -> Result<String> {
        let model = services.model.as_ref().context("no model is configured")?;
        let mut digest = Sha256::new();
        digest.update(wasm);
        digest.update(model.name.as_bytes());
        for file in &model.files {
            // Files the manifest lists but the model lacks are part of the identity too.
            let meta = std::fs::metadata(model.dir.join(file)).ok();
            let modified = meta.as_ref().and_then(|m| m.modified().ok()).and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
            digest.update(format!("{file}\0{:?}\0{:?}\0", meta.map(|m| m.len()), modified).as_bytes());
        }
        for (key, value) in &services.settings {
            digest.update(format!("{key}\0{value}\0").as_bytes());
        }
        let mut engine_hash = DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut engine_hash);
        digest.update(engine_hash.finish().to_le_bytes());
        Ok(hex::encode(digest.finalize()))
    }

    async fn cached(&self, entry: &Path) -> Result<Option<Component>> {
        let (engine, path) = (self.engine.clone(), entry.to_path_buf());
        tokio::task::spawn_blocking(move || {
            let component = engine::deserialize_entry(&engine, &path);
            if component.is_some() {
                // Its modification time says when it was last used.
                if let Err(err) = std::fs::File::options().write(true).open(&path).and_then(|f| f.set_modified(std::time::SystemTime::now())) {
                    tracing::debug!(path = %path.display(), error = %err, "could not mark the snapshot as used");
                }
            }
            component
        })
        .await
        .context("snapshot loader task failed")
    }

    async fn build(&self, wasm: &[u8], services: Arc<PluginServices>, entry: &Path) -> Result<Component> {
        let mut wizer = Wizer::new();
        // The component has no init function of its own: loading is its `transcribe` of
        // nothing, called below; nothing is renamed or removed.
        wizer.keep_init_func(true);
        let (cx, instrumented) = wizer.instrument_component(wasm).map_err(anyhow::Error::from).context("instrumenting the component")?;
        let instrumented = self.compile(instrumented).await.context("compiling the instrumented component")?;
        let mut store = new_store(&self.engine, services);
        store.data_mut().call_budget = LOAD_BUDGET;
        let meter = store.data().cpu.clone();
        let instance = CpuTimed::new(self.linker.instantiate_async(&mut store, &instrumented), meter.clone())
            .await
            .map_err(anyhow::Error::from)
            .context("instantiating the component")?;
        let bindings = SttBatch::new(self.version, &mut store, &instance).map_err(anyhow::Error::from)?;
        let nothing = Request {
            format: AudioFormat { encoding: AudioEncoding::Linear16, sample_rate: LOAD_SAMPLE_RATE, channels: 1 },
            size: 0,
            language: None,
            prompt: None,
            task: Task::Transcribe,
        };
        CpuTimed::new(bindings.call_transcribe(&mut store, &nothing), meter)
            .await
            .map_err(anyhow::Error::from)
            .context("the loading call trapped")?
            .map_err(|err| anyhow::anyhow!("the loading call failed: {err:?}"))?;
        // Wizer reads the whole memory as one list; the memory cap already bounds it.
        store.set_hostcall_fuel(usize::MAX);
        let snapshot = wizer
            .snapshot_component(&cx, &mut Loaded { store: &mut store, instance })
            .await
            .map_err(anyhow::Error::from)
            .context("snapshotting the loaded instance")?;
        drop(store);
        let component = self.compile(snapshot).await.context("compiling the snapshot")?;
        let serialized = component.serialize().map_err(anyhow::Error::from)?;
        engine::write_entry(entry, &serialized)?;
        Ok(component)
    }

    async fn compile(&self, wasm: Vec<u8>) -> Result<Component> {
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || Component::new(&engine, &wasm).map_err(anyhow::Error::from)).await.context("compiler task failed")?
    }
}

/// Removes `plugin`'s snapshots other than `current` that were last used longer than
/// [`UNUSED_FOR`] before `now`, with their lock files. Another process may still map one: the
/// kernel keeps its pages until it is unmapped.
fn remove_unused(cache_dir: &Path, plugin: &str, current: &Path, now: std::time::SystemTime) {
    let Ok(listing) = std::fs::read_dir(cache_dir) else { return };
    let prefix = format!("{plugin}-");
    for path in listing.flatten().map(|e| e.path()) {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        // `<plugin>-<sha256 hex><suffix>`: another plugin's id may start with this one's.
        let key = name.strip_prefix(&prefix).and_then(|rest| rest.strip_suffix(ENTRY_SUFFIX));
        if path == current || !key.is_some_and(|k| k.len() == KEY_HEX && k.bytes().all(|b| b.is_ascii_hexdigit())) {
            continue;
        }
        let used = std::fs::metadata(&path).and_then(|m| m.modified());
        if used.is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age > UNUSED_FOR)) {
            tracing::info!(path = %path.display(), "removing a snapshot unused for a week");
            let _ = std::fs::remove_file(path.with_extension("lock"));
            if let Err(err) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), error = %err, "could not remove an unused snapshot");
            }
        }
    }
}

/// Holds the cache entry's build lock: one builder per entry across processes.
async fn lock_entry(entry: &Path) -> Result<std::fs::File> {
    let path = entry.with_extension("lock");
    tokio::task::spawn_blocking(move || {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path)?;
        file.lock()?;
        Ok::<_, std::io::Error>(file)
    })
    .await
    .context("lock task failed")?
    .context("locking the snapshot cache entry")
}

/// What Wizer reads of the loaded instance: its memories and globals, through the accessor
/// functions it added to the component.
struct Loaded<'a> {
    store: &'a mut Store<PluginState>,
    instance: Instance,
}

impl Loaded<'_> {
    /// Calls the accessor `func` of the instrumented export `instance`. The accessors exist
    /// because Wizer added them, with these types, so a failure is a bug in this pairing.
    async fn call<R: wasmtime::component::Lift + Send + Sync + 'static>(&mut self, instance: &str, func: &str) -> R {
        let (_, group) = self.instance.get_export(&mut *self.store, None, instance).expect("wizer's accessor instance");
        let (_, index) = self.instance.get_export(&mut *self.store, Some(&group), func).expect("wizer's accessor");
        let typed = self.instance.get_typed_func::<(), (R,)>(&mut *self.store, index).expect("wizer's accessor type");
        typed.call_async(&mut *self.store, ()).await.expect("wizer's accessor call").0
    }
}

impl ComponentInstanceState for Loaded<'_> {
    async fn call_func_ret_list_u8(&mut self, instance: &str, func: &str, contents: impl FnOnce(&[u8]) + Send) {
        let list: WasmList<u8> = self.call(instance, func).await;
        contents(list.as_le_slice(&*self.store));
    }

    async fn call_func_ret_s32(&mut self, instance: &str, func: &str) -> i32 {
        self.call(instance, func).await
    }

    async fn call_func_ret_s64(&mut self, instance: &str, func: &str) -> i64 {
        self.call(instance, func).await
    }

    async fn call_func_ret_f32(&mut self, instance: &str, func: &str) -> u32 {
        self.call::<f32>(instance, func).await.to_bits()
    }

    async fn call_func_ret_f64(&mut self, instance: &str, func: &str) -> u64 {
        self.call::<f64>(instance, func).await.to_bits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_plugins_snapshots_unused_for_a_week_are_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let now = std::time::SystemTime::now();
        let file = |name: &str, age: Duration| {
            let path = dir.path().join(name);
            std::fs::write(&path, b"x").expect("write");
            std::fs::File::options().write(true).open(&path).and_then(|f| f.set_modified(now - age)).expect("mtime");
            path
        };
        let week = UNUSED_FOR + Duration::from_secs(60);
        let key = |c: char| c.to_string().repeat(KEY_HEX);
        let old = file(&format!("whisper-local-{}.loaded.cwasm", key('a')), week);
        let old_lock = file(&format!("whisper-local-{}.loaded.lock", key('a')), week);
        let current = file(&format!("whisper-local-{}.loaded.cwasm", key('b')), week);
        let recent = file(&format!("whisper-local-{}.loaded.cwasm", key('c')), Duration::from_secs(3600));
        let other_plugin = file(&format!("whisper-live-{}.loaded.cwasm", key('d')), week);
        let longer_id = file(&format!("whisper-local-x-{}.loaded.cwasm", key('e')), week);
        let component = file(&format!("{}-0123.cwasm", key('f')), week);
        remove_unused(dir.path(), "whisper-local", &current, now);
        assert!(!old.exists() && !old_lock.exists(), "the old snapshot and its lock go");
        assert!(current.exists() && recent.exists() && other_plugin.exists() && longer_id.exists() && component.exists());
    }
}
