//! A cloneable handle to one plugin: it owns the plugin's instances (one, or as many as the
//! operator allows for plugins without per-session state), runs each call on an idle instance
//! under the execution budget and memory cap, throws a trapped instance away (the next call
//! gets a fresh one from the pre-instantiated component), and keeps the circuit breaker.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::future::BoxFuture;
use anyhow::Context;
use serde::Serialize;
use wasmtime::{Engine, Store};

use super::batch_world::{SttBatch, SttBatchPre};
use super::bindings::{diarizer, store, stt_live, summarizer, types};
use super::breaker::{Breaker, BreakerView};
use super::cpu::CpuTimed;
use super::manifest::{Manifest, World};
use super::services::PluginServices;
use super::snapshot::ModelSnapshot;
use super::state::{BudgetExceeded, PluginState, new_store, start_call};

/// A world's pre-instantiated component: type-checked and linked once, instantiated cheaply.
/// One lives per plugin, so the size difference between the variants does not matter.
#[allow(clippy::large_enum_variant)]
pub enum WorldPre {
    Store(store::StorePre<PluginState>),
    SttBatch(SttBatchPre),
    Summarizer(summarizer::SummarizerPre<PluginState>),
    SttLive(stt_live::SttLivePre<PluginState>),
    Diarizer(diarizer::DiarizerPre<PluginState>),
}

/// A world's typed exports. One lives per plugin instance, so the size difference between
/// the variants does not matter.
#[allow(clippy::large_enum_variant)]
pub enum WorldBindings {
    Store(store::Store),
    SttBatch(SttBatch),
    Summarizer(summarizer::Summarizer),
    SttLive(stt_live::SttLive),
    Diarizer(diarizer::Diarizer),
}

/// A live instance: its store and its exports.
pub struct Instance {
    pub store: Store<PluginState>,
    pub bindings: WorldBindings,
}

/// Why a call into a plugin failed. Guest error *values* (a provider said 401) are not
/// here: they are the call's successful result.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    #[error("plugin {plugin} used up its CPU budget of {budget_ms} ms on this call and was stopped")]
    Timeout { plugin: String, budget_ms: u128 },
    #[error("plugin {plugin} reached its memory limit of {limit_mb} MiB and was stopped")]
    MemoryLimit { plugin: String, limit_mb: usize },
    #[error("plugin {plugin} trapped: {message}")]
    Trap { plugin: String, message: String },
    #[error("plugin {plugin} is paused after repeated failures; next attempt in {retry_in_secs} s")]
    CircuitOpen { plugin: String, retry_in_secs: u64 },
    #[error("plugin {plugin} is a {actual} plugin, not {expected}")]
    WrongWorld { plugin: String, expected: &'static str, actual: &'static str },
}

/// What `describe` returned, in a form the API can serialise.
#[derive(Debug, Clone, Serialize)]
pub struct Description {
    pub id: String,
    pub version: String,
    pub name: String,
    pub languages: Vec<String>,
    pub diarization: bool,
    pub word_timing: bool,
    pub encodings: Vec<String>,
    pub max_file_bytes: Option<u64>,
}

impl From<types::PluginInfo> for Description {
    fn from(info: types::PluginInfo) -> Self {
        let caps = info.capabilities;
        Description {
            id: info.id,
            version: info.version,
            name: info.name,
            languages: caps.languages,
            diarization: caps.diarization,
            word_timing: caps.word_timing,
            encodings: caps.encodings.iter().map(|e| encoding_name(*e).to_string()).collect(),
            max_file_bytes: caps.max_file_bytes,
        }
    }
}

/// The WIT name of an audio encoding.
pub fn encoding_name(encoding: types::AudioEncoding) -> &'static str {
    use types::AudioEncoding as E;
    match encoding {
        E::Linear16 => "linear16",
        E::Wav => "wav",
        E::Flac => "flac",
        E::Mp3 => "mp3",
        E::OggVorbis => "ogg-vorbis",
        E::OggOpus => "ogg-opus",
        E::WebmOpus => "webm-opus",
        E::Aac => "aac",
    }
}

/// Health of a loaded plugin, for `/healthz` and the plugins API.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    /// `healthy`, `degraded` (recent failures) or `circuit-open`.
    pub state: &'static str,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub retry_in_secs: Option<u64>,
    /// Instances discarded after a trap, timeout or memory overrun since start.
    pub restarts: u64,
    /// Calls stopped at their CPU budget since start; they do not count toward the breaker.
    pub budget_timeouts: u64,
}

struct Inner {
    manifest: Manifest,
    engine: Engine,
    pre: WorldPre,
    /// How to build the shared-model snapshot, for plugins that share their loaded model.
    snapshot: Option<ModelSnapshot>,
    /// The snapshot every new instance starts from once the first transcription has asked
    /// for it; `None` inside when it could not be built (instances then load on their own).
    shared_model: tokio::sync::OnceCell<Option<SttBatchPre>>,
    services: Arc<PluginServices>,
    /// Instances not running a call.
    idle: Mutex<Vec<Instance>>,
    /// One permit per instance that may run at once.
    permits: Arc<tokio::sync::Semaphore>,
    breaker: Mutex<Breaker>,
    restarts: AtomicU64,
    /// Calls stopped at their CPU budget since start.
    budget_timeouts: AtomicU64,
}

/// Cloneable handle to one plugin.
#[derive(Clone)]
pub struct PluginHandle {
    inner: Arc<Inner>,
}

impl PluginHandle {
    pub fn new(
        manifest: Manifest,
        engine: Engine,
        pre: WorldPre,
        snapshot: Option<ModelSnapshot>,
        services: Arc<PluginServices>,
        breaker: Breaker,
    ) -> PluginHandle {
        let permits = Arc::new(tokio::sync::Semaphore::new(services.limits.instances.max(1)));
        PluginHandle {
            inner: Arc::new(Inner {
                manifest,
                engine,
                pre,
                snapshot,
                shared_model: tokio::sync::OnceCell::new(),
                services,
                idle: Mutex::new(Vec::new()),
                permits,
                breaker: Mutex::new(breaker),
                restarts: AtomicU64::new(0),
                budget_timeouts: AtomicU64::new(0),
            }),
        }
    }

    pub fn id(&self) -> &str {
        &self.inner.manifest.id
    }

    pub fn manifest(&self) -> &Manifest {
        &self.inner.manifest
    }

    pub fn services(&self) -> &PluginServices {
        &self.inner.services
    }

    /// Runs `f` on an idle instance of the plugin (instantiating one if needed).
    ///
    /// The call runs in its own task, so a caller that gives up cannot leave the instance
    /// half-way through a call. An instance runs one call at a time, as the guest is a
    /// single-threaded state machine; a plugin allowed several instances runs that many calls
    /// at once, the rest wait in arrival order.
    pub async fn call<R, F>(&self, f: F) -> Result<R, CallError>
    where
        R: Send + 'static,
        F: for<'a> FnOnce(&'a mut Instance) -> BoxFuture<'a, wasmtime::Result<R>> + Send + 'static,
    {
        let inner = self.inner.clone();
        inner.admit()?;
        let task = tokio::spawn(async move { inner.run(f).await });
        task.await.unwrap_or_else(|err| {
            Err(CallError::Trap { plugin: self.id().to_string(), message: format!("host task failed: {err}") })
        })
    }

    /// For a plugin that shares its loaded model: builds (or loads) the snapshot once, and
    /// from then on starts every instance from it. Idle instances that loaded the model on
    /// their own are dropped, so their memory goes back. A failure is logged and leaves the
    /// plugin as it was: each instance loads its own model.
    pub async fn share_loaded_model(&self) {
        if self.inner.snapshot.is_none() {
            return;
        }
        let inner = &self.inner;
        inner
            .shared_model
            .get_or_init(|| async {
                tracing::info!(plugin = %inner.manifest.id, "preparing the loaded model that all instances share (once per model)");
                // In a task of its own, so even a bug in the snapshotting cannot take the
                // caller down with it.
                let owner = inner.clone();
                let task = tokio::spawn(async move {
                    let snapshot = owner.snapshot.as_ref().context("the plugin shares no model")?;
                    snapshot.prepare(owner.services.clone()).await
                });
                match task.await.map_err(anyhow::Error::from).and_then(|built| built) {
                    Ok(pre) => {
                        inner.idle().clear();
                        tracing::info!(plugin = %inner.manifest.id, "instances now share one loaded model");
                        Some(pre)
                    }
                    Err(err) => {
                        tracing::warn!(plugin = %inner.manifest.id, error = %format!("{err:#}"), "could not share the loaded model; each instance loads its own");
                        None
                    }
                }
            })
            .await;
    }

    /// An instance reserved for one caller, for plugins that keep per-session state (live
    /// speech-to-text). It is created on the first call.
    pub fn dedicated(&self) -> Dedicated {
        Dedicated { inner: self.inner.clone(), instance: None }
    }

    /// Calls `describe`.
    pub async fn describe(&self) -> Result<Description, CallError> {
        let info = self
            .call(|instance| {
                Box::pin(async move {
                    let store = &mut instance.store;
                    match &instance.bindings {
                        WorldBindings::Store(b) => b.call_describe(store).await,
                        WorldBindings::SttBatch(b) => b.call_describe(store).await,
                        WorldBindings::Summarizer(b) => b.call_describe(store).await,
                        WorldBindings::SttLive(b) => b.call_describe(store).await,
                        WorldBindings::Diarizer(b) => b.call_describe(store).await,
                    }
                })
            })
            .await?;
        Ok(info.into())
    }

    pub fn health(&self) -> Health {
        let now = Instant::now();
        let view = match self.inner.breaker.lock() {
            Ok(b) => b.view(now),
            Err(poisoned) => poisoned.into_inner().view(now),
        };
        let restarts = self.inner.restarts.load(Ordering::Relaxed);
        let budget_timeouts = self.inner.budget_timeouts.load(Ordering::Relaxed);
        match view {
            BreakerView::Open { retry_in, consecutive_failures, last_error, .. } => Health {
                state: "circuit-open",
                consecutive_failures,
                last_error,
                retry_in_secs: Some(retry_in.as_secs().max(1)),
                restarts,
                budget_timeouts,
            },
            BreakerView::Closed { consecutive_failures, last_error } => Health {
                state: if consecutive_failures == 0 { "healthy" } else { "degraded" },
                consecutive_failures,
                last_error,
                retry_in_secs: None,
                restarts,
                budget_timeouts,
            },
        }
    }

    /// Largest linear memory of an idle instance, bytes; none when no instance is idle.
    pub fn instance_memory(&self) -> Option<usize> {
        self.inner.idle().iter().map(|i| i.store.data().limiter.peak).max()
    }

    /// Error for a call made to the wrong kind of plugin.
    pub fn wrong_world(&self, expected: World) -> CallError {
        CallError::WrongWorld {
            plugin: self.id().to_string(),
            expected: expected.as_str(),
            actual: self.inner.manifest.world.as_str(),
        }
    }
}

/// An instance driven call by call by one owner (a live session), outside the shared pool:
/// its state lives between calls and its sockets' events go to the owner. A failed call
/// discards the instance like any other; the next call starts a fresh one.
pub struct Dedicated {
    inner: Arc<Inner>,
    instance: Option<Instance>,
}

impl Dedicated {
    pub fn id(&self) -> &str {
        &self.inner.manifest.id
    }

    /// Runs `f` on the instance under the usual budget, memory cap and breaker. The caller
    /// must await the call to its end (the instance is not in a task of its own).
    pub async fn call<R, F>(&mut self, f: F) -> Result<R, CallError>
    where
        F: for<'a> FnOnce(&'a mut Instance) -> BoxFuture<'a, wasmtime::Result<R>>,
    {
        self.inner.admit()?;
        let mut instance = match self.instance.take() {
            Some(instance) => instance,
            None => match self.inner.instantiate().await {
                Ok(instance) => instance,
                Err((err, memory)) => return Err(self.inner.failed(err, memory, self.inner.services.limits.cpu_budget)),
            },
        };
        start_call(&mut instance.store);
        let meter = instance.store.data().cpu.clone();
        match CpuTimed::new(f(&mut instance), meter).await {
            Ok(value) => {
                self.inner.with_breaker(Breaker::success);
                self.instance = Some(instance);
                Ok(value)
            }
            Err(err) => {
                let (memory, budget) = (instance.store.data().limiter.refused, instance.store.data().call_budget);
                self.inner.restarts.fetch_add(1, Ordering::Relaxed);
                Err(self.inner.failed(err, memory, budget))
            }
        }
    }

    /// The next event of a socket the instance opened; never resolves while there is no
    /// instance. Cancel-safe.
    pub async fn socket_event(&mut self) -> (u64, crate::plugin::bindings::websocket::SocketEvent) {
        match &mut self.instance {
            Some(instance) => match instance.store.data_mut().websockets.events.recv().await {
                Some(event) => event,
                // The state holds a sender itself, so the queue never closes.
                None => std::future::pending().await,
            },
            None => std::future::pending().await,
        }
    }

    /// Whether the instance still has a connection open or events queued.
    pub fn sockets_busy(&self) -> bool {
        self.instance.as_ref().is_some_and(|i| {
            let sockets = &i.store.data().websockets;
            sockets.connected() > 0 || !sockets.events.is_empty()
        })
    }

    /// Drops the instance (closing its sockets); the next call starts a fresh one.
    pub fn reset(&mut self) {
        self.instance = None;
    }
}

impl Inner {
    fn plugin(&self) -> String {
        self.manifest.id.clone()
    }

    fn with_breaker<R>(&self, f: impl FnOnce(&mut Breaker) -> R) -> R {
        match self.breaker.lock() {
            Ok(mut b) => f(&mut b),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    fn admit(&self) -> Result<(), CallError> {
        self.with_breaker(|b| b.admit(Instant::now())).map_err(|wait| CallError::CircuitOpen {
            plugin: self.plugin(),
            retry_in_secs: wait.as_secs().max(1),
        })
    }

    async fn run<R, F>(self: Arc<Self>, f: F) -> Result<R, CallError>
    where
        F: for<'a> FnOnce(&'a mut Instance) -> BoxFuture<'a, wasmtime::Result<R>>,
    {
        // The semaphore is fair: waiting calls get instances in arrival order. It is never
        // closed, so acquiring only fails if that changes.
        let _permit = self.permits.clone().acquire_owned().await.map_err(|_| CallError::Trap {
            plugin: self.plugin(),
            message: "the plugin is shutting down".into(),
        })?;
        // The breaker may have opened while this call waited for an instance.
        self.admit()?;
        let idle = self.idle().pop();
        let mut instance = match idle {
            Some(instance) => instance,
            None => match self.instantiate().await {
                Ok(instance) => instance,
                Err((err, memory)) => return Err(self.failed(err, memory, self.services.limits.cpu_budget)),
            },
        };
        start_call(&mut instance.store);
        let meter = instance.store.data().cpu.clone();
        match CpuTimed::new(f(&mut instance), meter).await {
            Ok(value) => {
                self.with_breaker(Breaker::success);
                self.idle().push(instance);
                Ok(value)
            }
            Err(err) => {
                let (memory, budget) = (instance.store.data().limiter.refused, instance.store.data().call_budget);
                // A trap poisons a component instance; it is dropped and the next call gets
                // a fresh one.
                self.restarts.fetch_add(1, Ordering::Relaxed);
                Err(self.failed(err, memory, budget))
            }
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Instance>> {
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn instantiate(&self) -> Result<Instance, (wasmtime::Error, bool)> {
        let mut store = new_store(&self.engine, self.services.clone());
        let meter = store.data().cpu.clone();
        let bindings = CpuTimed::new(self.instantiate_bindings(&mut store), meter).await;
        match bindings {
            Ok(bindings) => Ok(Instance { store, bindings }),
            Err(err) => {
                let memory = store.data().limiter.refused;
                Err((err, memory))
            }
        }
    }

    async fn instantiate_bindings(&self, store: &mut Store<PluginState>) -> wasmtime::Result<WorldBindings> {
        if let Some(Some(pre)) = self.shared_model.get() {
            return pre.instantiate_async(store).await.map(WorldBindings::SttBatch);
        }
        match &self.pre {
            WorldPre::Store(pre) => pre.instantiate_async(store).await.map(WorldBindings::Store),
            WorldPre::SttBatch(pre) => pre.instantiate_async(store).await.map(WorldBindings::SttBatch),
            WorldPre::Summarizer(pre) => pre.instantiate_async(store).await.map(WorldBindings::Summarizer),
            WorldPre::SttLive(pre) => pre.instantiate_async(store).await.map(WorldBindings::SttLive),
            WorldPre::Diarizer(pre) => pre.instantiate_async(store).await.map(WorldBindings::Diarizer),
        }
    }

    /// Classifies a failure, records it in the breaker and logs it.
    fn failed(&self, err: wasmtime::Error, memory_refused: bool, budget: std::time::Duration) -> CallError {
        let plugin = self.plugin();
        let error = if err.downcast_ref::<BudgetExceeded>().is_some() {
            CallError::Timeout { plugin, budget_ms: budget.as_millis() }
        } else if memory_refused {
            CallError::MemoryLimit { plugin, limit_mb: self.services.limits.memory_bytes >> 20 }
        } else {
            CallError::Trap { plugin, message: format!("{err:#}") }
        };
        tracing::warn!(plugin = %self.manifest.id, "{error}; the instance was discarded");
        if matches!(error, CallError::Timeout { .. }) {
            // A budget overrun belongs to the input (one long or pathological file), not to
            // the plugin: it must not pause the plugin for everyone else's work.
            self.budget_timeouts.fetch_add(1, Ordering::Relaxed);
            self.with_breaker(|b| b.note(error.to_string()));
        } else {
            self.with_breaker(|b| b.failure(Instant::now(), error.to_string()));
        }
        error
    }
}

