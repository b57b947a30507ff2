//! What a plugin's `Store` holds: WASI with nothing granted, resource table, memory limiter,
//! execution-budget bookkeeping, and the plugin's host services.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::cpu::CpuMeter;
use super::services::PluginServices;
use crate::plugin::capabilities::audio::AudioInput;
use crate::plugin::capabilities::websocket::WsState;

/// Instances, tables and table elements a plugin may create. Components built from Rust need
/// a handful; the caps stop a guest from making the host allocate without bound.
const MAX_INSTANCES: usize = 64;
const MAX_TABLES: usize = 64;
const MAX_TABLE_ELEMENTS: usize = 100_000;
/// Host resources (sockets, ...) a plugin may hold open at once.
pub const MAX_RESOURCES: usize = 256;

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
    /// Audio of the `transcribe` call in progress, if any.
    pub audio: Option<AudioInput>,
    /// Response bodies the plugin holds open (`http.open`).
    pub open_bodies: usize,
    /// Where a summarizer's partial summaries go during the current call.
    pub progress: Option<crate::plugin::capabilities::progress::ProgressSink>,
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
            audio: None,
            open_bodies: 0,
            progress: None,
            services,
        }
    }

    /// Guest CPU time of the current call so far.
    pub fn guest_time(&self) -> Duration {
        self.cpu.spent()
    }

    /// Runs host I/O, not charged to the guest's budget.
    pub async fn host_io<R>(&mut self, io: impl Future<Output = R>) -> R {
        self.cpu.pause();
        let result = io.await;
        self.cpu.resume();
        result
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}
