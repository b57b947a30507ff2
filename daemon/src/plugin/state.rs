//! What a plugin's `Store` holds: WASI with nothing granted, resource table, memory limiter,
//! execution-budget bookkeeping, the plugin's shared services and one field of per-instance
//! state for each capability that has some; and the store itself, set up under those limits.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime::{Engine, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bindings::types::AudioFormat;
use super::capabilities::audio::AudioInput;
use super::capabilities::http::HttpState;
use super::capabilities::progress::ProgressSink;
use super::capabilities::work_progress::WorkSink;
use super::capabilities::websocket::WsState;
use super::cpu::CpuMeter;
use super::services::PluginServices;

/// Instances, tables and table elements a plugin may create. Components built from Rust need
/// a handful; the caps stop a guest from making the host allocate without bound.
const MAX_INSTANCES: usize = 64;
const MAX_TABLES: usize = 64;
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Memory limiter that remembers whether it refused a growth, so the host can tell a memory
/// bomb from any other trap.
pub struct MemoryLimiter {
    limits: StoreLimits,
    pub refused: bool,
    /// Largest linear memory granted so far, bytes (wasm memories never shrink).
    pub peak: usize,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        if allowed {
            self.peak = self.peak.max(desired);
        } else {
            self.refused = true;
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// The data of one plugin instance's `Store`.
pub struct PluginState {
    pub services: Arc<PluginServices>,
    wasi: WasiCtx,
    pub table: ResourceTable,
    pub limiter: MemoryLimiter,
    /// CPU time the current call has used, host I/O excluded.
    pub cpu: Arc<CpuMeter>,
    /// Guest CPU time the current call may use: the sandbox's budget, raised for long work.
    pub call_budget: Duration,
    pub websockets: WsState,
    pub http: HttpState,
    /// Audio of the `transcribe` call in progress, if any.
    pub audio: Option<AudioInput>,
    /// Its format, for the host to name and type it (a form upload).
    pub audio_format: Option<AudioFormat>,
    /// Where a summarizer's partial summaries go during the current call.
    pub progress: Option<ProgressSink>,
    /// Where a diarizer's progress goes during the current call.
    pub work_progress: Option<WorkSink>,
}

impl PluginState {
    pub fn new(services: Arc<PluginServices>) -> PluginState {
        let limits = StoreLimitsBuilder::new()
            .memory_size(services.limits.memory_bytes)
            .instances(MAX_INSTANCES)
            .tables(MAX_TABLES)
            .table_elements(MAX_TABLE_ELEMENTS)
            .build();
        PluginState {
            // Nothing inherited: no env, args, preopened dirs, stdio or sockets.
            wasi: WasiCtxBuilder::new().build(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter { limits, refused: false, peak: 0 },
            cpu: Arc::new(CpuMeter::default()),
            call_budget: services.limits.cpu_budget,
            websockets: WsState::new(services.id.clone()),
            http: HttpState::default(),
            audio: None,
            audio_format: None,
            progress: None,
            work_progress: None,
            services,
        }
    }

    /// Guest CPU time of the current call so far.
    pub fn guest_time(&self) -> Duration {
        self.cpu.spent()
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// The guest used up its execution budget (raised from the epoch callback).
#[derive(Debug)]
pub struct BudgetExceeded;

impl fmt::Display for BudgetExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("execution budget exceeded")
    }
}

impl std::error::Error for BudgetExceeded {}

/// A store for a new instance of a plugin, under its memory cap and execution budget, ready
/// for its first call.
pub fn new_store(engine: &Engine, services: Arc<PluginServices>) -> Store<PluginState> {
    let mut store = Store::new(engine, PluginState::new(services));
    store.limiter(|state| &mut state.limiter);
    store.epoch_deadline_callback(move |ctx| {
        if ctx.data().guest_time() > ctx.data().call_budget {
            Err(BudgetExceeded.into())
        } else {
            Ok(UpdateDeadline::Yield(1))
        }
    });
    start_call(&mut store);
    store
}

/// Resets per-call bookkeeping: CPU meter, budget, the memory flag, the deadline.
pub fn start_call(store: &mut Store<PluginState>) {
    let state = store.data_mut();
    state.cpu.reset();
    state.call_budget = state.services.limits.cpu_budget;
    state.limiter.refused = false;
    store.set_epoch_deadline(1);
}
