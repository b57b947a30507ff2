//! The process-wide wasmtime engine, its epoch ticker, and the on-disk cache of compiled
//! components that keeps start-up fast after the first run.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine};

/// How often the epoch advances. Execution budgets are checked at this granularity, and a
/// guest yields to the async executor at least this often, so one busy plugin cannot starve
/// the API's tasks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Wasm stack per call. Deep enough for real parsers; unbounded recursion traps here instead
/// of exhausting the host's stack.
const MAX_WASM_STACK: usize = 1 << 20;
/// Host stack per async call: must exceed the wasm stack, the rest is for host functions.
const ASYNC_STACK: usize = 4 << 20;

/// Set to `1` to have `perf` name plugin functions: wasmtime writes `/tmp/perf-<pid>.map`
/// (for profiling plugins; it names every compiled function, so it is off by default).
pub const PERF_MAP_ENV: &str = "SCRIBE_PLUGIN_PERF_MAP";

/// Builds the one engine of the process.
pub fn new_engine() -> Result<Engine> {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .max_wasm_stack(MAX_WASM_STACK)
        .async_stack_size(ASYNC_STACK);
    if std::env::var(PERF_MAP_ENV).is_ok_and(|v| v == "1") {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    Engine::new(&config).map_err(anyhow::Error::from).context("creating the wasmtime engine")
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the engine is dropped.
pub fn spawn_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(EPOCH_TICK);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            interval.tick().await;
            let Some(engine) = weak.upgrade() else { break };
            engine.increment_epoch();
        }
    });
}

/// Whether a component came from the cache or had to be compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    Hit,
    Compiled,
}

/// A component as loaded: its code, where the code came from, and the `scribe:plugin`
/// version it was built against.
pub struct Loaded {
    pub component: Component,
    pub cache: CacheOutcome,
    pub api_version: String,
}

/// Loads a component, from the compiled cache when a matching entry exists.
///
/// Entries are keyed by the SHA-256 of the component bytes and the engine's compatibility
/// hash, so a new plugin build or a new wasmtime never reuses stale native code. The cache
/// directory lives in the daemon's 0700 data dir: native code from it is trusted, so nothing
/// else may write there.
pub fn load_component(
    engine: &Engine,
    wasm_path: &Path,
    cache_dir: &Path,
) -> Result<Loaded> {
    let bytes = std::fs::read(wasm_path)
        .with_context(|| format!("reading component {}", wasm_path.display()))?;
    let api_version = super::api_version::check(&bytes)?;
    let entry = cache_entry(engine, &bytes, cache_dir);
    if let Some(component) = deserialize_entry(engine, &entry) {
        return Ok(Loaded { component, cache: CacheOutcome::Hit, api_version });
    }
    let component = Component::new(engine, &bytes)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("compiling component {}", wasm_path.display()))?;
    if let Err(err) = store_entry(&component, &entry) {
        tracing::warn!(path = %entry.display(), error = %err, "could not cache compiled component");
    }
    Ok(Loaded { component, cache: CacheOutcome::Compiled, api_version })
}

fn cache_entry(engine: &Engine, bytes: &[u8], cache_dir: &Path) -> PathBuf {
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let digest = Sha256::digest(bytes);
    cache_dir.join(format!("{}-{:016x}.cwasm", hex::encode(digest), hasher.finish()))
}

/// A compiled component from the cache; none when the entry is missing or unusable (then
/// it is logged and compiled anew).
pub fn deserialize_entry(engine: &Engine, entry: &Path) -> Option<Component> {
    if !entry.is_file() {
        return None;
    }
    // SAFETY: the entry was written by `Component::serialize` of this engine configuration
    // (the key includes the engine's compatibility hash) into a directory only the daemon
    // writes; wasmtime still validates the header and refuses mismatched artifacts.
    #[allow(unsafe_code)]
    let cached = unsafe { Component::deserialize_file(engine, entry) };
    cached
        .inspect_err(|err| tracing::warn!(path = %entry.display(), error = %err, "discarding unusable compiled-component cache entry"))
        .ok()
}

fn store_entry(component: &Component, entry: &Path) -> Result<()> {
    write_entry(entry, &component.serialize()?)
}

/// Writes a cache entry atomically: a crash mid-write never leaves a truncated entry under
/// the final name.
pub fn write_entry(entry: &Path, serialized: &[u8]) -> Result<()> {
    let dir = entry.parent().context("cache entry has no directory")?;
    std::fs::create_dir_all(dir)?;
    let tmp = entry.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, serialized)?;
    std::fs::rename(&tmp, entry)?;
    Ok(())
}
