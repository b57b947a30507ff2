//! `scribed`: the Scribe daemon.
//!
//! Speech comes in from microphones, browsers, an inbox folder and uploads; sandboxed
//! WebAssembly plugins turn it into transcripts and summaries; a store plugin keeps the
//! library; an HTTP/WebSocket API and an embedded PWA serve it.
//!
//! # Layout
//!
//! - [`config`]: the operator's typed configuration (`config/scribed.toml` is the default);
//! - [`secret`]: `${VAR}` secrets and their redacting wrapper;
//! - [`plugin`]: the wasmtime host — engine, component cache, manifests, capability grants,
//!   limits, instance supervision and circuit breakers;
//! - [`host`]: the capabilities plugins import (log, config, http, websocket, sqlite);
//! - [`library`]: typed client of the store plugin;
//! - [`api`]: the axum router and its security middleware;
//! - [`daemon`]: start-up and shutdown of the whole.

// A panic must never take the daemon down: requests, plugin calls and decoding catch theirs,
// which an abort-on-panic build would silently undo.
#[cfg(panic = "abort")]
compile_error!("scribed must be built with panic = \"unwind\" (see [profile.release] in the workspace Cargo.toml)");

pub mod api;
pub mod audio;
pub mod audio_store;
pub mod capture;
pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
pub mod data_dir_lock;
pub mod events;
pub mod export;
pub mod files;
pub mod host;
pub mod inbox;
pub mod jobs;
pub mod library;
pub mod live;
pub mod models;
pub mod outbox;
pub mod panics;
pub mod retry;
pub mod plugin;
pub mod search;
pub mod secret;
pub mod stt;
pub mod summaries;
pub mod summarizer;

pub use config::Config;
pub use daemon::Daemon;
