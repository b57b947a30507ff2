//! The plugin host: loading, sandboxing, calling and supervising WebAssembly component
//! plugins.
//!
//! - [`api_version`]: the `scribe:plugin` version a component was built against, checked
//!   before it is compiled;
//! - [`engine`]: the one `Engine`, its epoch ticker and the compiled-component cache;
//! - [`manifest`] and [`grants`]: what a plugin asks for and what it is granted;
//! - [`capabilities`]: the host functions plugins import (log, config, http, websocket,
//!   sqlite, audio, model, progress), one module per WIT interface;
//! - [`bindings`]: `bindgen!` output for the four worlds of `scribe:plugin@0.1.0` and the
//!   `stt-batch` of 0.2.0; [`batch_world`] calls a batch plugin of either version;
//! - [`state`] and [`services`]: the `Store` data and per-plugin host services;
//! - [`linker`]: each world's imports linked to the capabilities through projections of the
//!   state;
//! - [`handle`]: a cloneable handle that owns the instance, enforces limits, replaces a
//!   trapped instance and runs the circuit [`breaker`];
//! - [`snapshot`]: one loaded model shared copy-on-write by all of a plugin's instances;
//! - [`registry`]: loads every plugin against the operator's config;
//! - [`roles`]: which plugin plays each part, `auto` included.

pub mod api_version;
pub mod batch_world;
pub mod bindings;
pub mod breaker;
pub mod capabilities;
pub mod cpu;
pub mod engine;
pub mod grants;
pub mod handle;
pub mod linker;
pub mod manifest;
pub mod registry;
pub mod roles;
pub mod services;
pub mod snapshot;
pub mod state;
