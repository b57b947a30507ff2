//! Health and status:
//!
//! - `GET /healthz`: liveness, version and each plugin's state;
//! - `GET /api/v1/plugins`, `GET /api/v1/plugins/{id}`: plugins, capabilities, grants, health;
//! - `GET /api/v1/status`: what the status page shows: inbox folder, queue depths, live
//!   sessions, which plugin each speech-to-text role got and why, storage used under the
//!   data dir, the free space and whether new work waits for more, whether a token is
//!   required.

use std::path::{Path as FsPath, PathBuf};

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::{ApiError, AppState};
use crate::plugin::manifest::World;
use crate::plugin::registry::PluginView;

#[derive(Serialize)]
struct Healthz {
    /// `ok` when every plugin is healthy, `degraded` otherwise.
    status: &'static str,
    version: &'static str,
    plugins: Vec<PluginRow>,
}

#[derive(Serialize)]
struct PluginRow {
    id: String,
    world: World,
    state: &'static str,
    configured: bool,
}

#[derive(Serialize)]
struct PluginList {
    plugins: Vec<PluginView>,
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(get_healthz))
        .route("/api/v1/plugins", get(list_plugins))
        .route("/api/v1/plugins/{id}", get(get_plugin))
        .route("/api/v1/status", get(get_status))
}

/// Where the daemon keeps things, for the status page.
#[derive(Debug, Clone)]
pub struct DaemonPaths {
    pub data_dir: PathBuf,
    /// The watched inbox, when it is enabled.
    pub inbox: Option<PathBuf>,
}

/// Bytes under the data dir, by what they hold.
#[derive(Serialize, Default)]
struct Storage {
    total_bytes: u64,
    audio_bytes: u64,
    index_bytes: u64,
    models_bytes: u64,
}

/// `GET /api/v1/status`.
async fn get_status(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let data_dir = state.paths.data_dir.clone();
    let audio_dir = match &state.files {
        Some(files) => files.audio().dir().to_path_buf(),
        None => data_dir.join(crate::config::AUDIO_DIR),
    };
    let storage = tokio::task::spawn_blocking(move || storage(&data_dir, &audio_dir))
        .await
        .map_err(|err| ApiError::internal("measuring storage", &err))?;
    let depth = |result: anyhow::Result<u64>| result.map_err(|err| ApiError::internal("reading a queue", &err));
    // On a cluster the file queue is in its database, which may be out of reach; the
    // status still answers.
    let files = match &state.files {
        Some(files) => match files.queue_depth().await {
            Ok(depth) => Some(depth),
            Err(err) if state.cluster.is_some() => {
                tracing::warn!("the status lists no file queue: {err:#}");
                None
            }
            Err(err) => return Err(ApiError::internal("reading a queue", &err)),
        },
        None => None,
    };
    let summaries = state.summaries.as_ref().map(|s| depth(s.queue_depth())).transpose()?;
    let cluster = state.cluster.as_ref().map(|cluster| cluster.view());
    Ok(Json(serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "library": state.library.is_some(),
        "library_error": state.library_error,
        // With [cluster]: this node's name, the nodes and their last heartbeat.
        "cluster": cluster,
        "token_required": state.security.token.is_some(),
        "data_dir": state.paths.data_dir,
        // Free space against storage.min_free_mb: `low` means new work waits.
        "disk": state.disk.measure(),
        "inbox": state.paths.inbox,
        "queues": { "files": files, "summaries": summaries },
        "live_sessions": state.live.list().len(),
        "roles": state.roles,
        "storage": storage,
    })))
}

/// What the data dir holds; the audio store may be elsewhere (`storage.audio_dir`).
fn storage(data_dir: &FsPath, audio_dir: &FsPath) -> Storage {
    let mut storage = Storage { total_bytes: dir_bytes(data_dir), ..Storage::default() };
    storage.audio_bytes = dir_bytes(audio_dir) + dir_bytes(&data_dir.join("live"));
    storage.index_bytes = dir_bytes(&data_dir.join("index"));
    storage.models_bytes = dir_bytes(&data_dir.join("models"));
    storage
}

/// Bytes of the files under `dir`; unreadable entries count as nothing. Symlinks are not
/// followed, so a link cannot make the walk loop or leave the data dir.
fn dir_bytes(dir: &FsPath) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_file())
        .filter_map(|entry| entry.metadata().ok())
        .map(|meta| meta.len())
        .sum()
}

/// `GET /healthz`. Answers without calling into any plugin, so it stays fast while a
/// plugin is busy or stuck.
async fn get_healthz(State(state): State<AppState>) -> Json<Healthz> {
    let plugins: Vec<PluginRow> = state
        .registry
        .views()
        .into_iter()
        .map(|v| PluginRow { id: v.id, world: v.world, state: v.state, configured: v.configured })
        .collect();
    let status = if plugins.iter().all(|p| p.state == "healthy") { "ok" } else { "degraded" };
    Json(Healthz { status, version: env!("CARGO_PKG_VERSION"), plugins })
}

/// `GET /api/v1/plugins`.
async fn list_plugins(State(state): State<AppState>) -> Json<PluginList> {
    Json(PluginList { plugins: state.registry.views() })
}

/// `GET /api/v1/plugins/{id}`.
async fn get_plugin(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<PluginView>, ApiError> {
    state
        .registry
        .get(&id)
        .map(|entry| Json(entry.view()))
        .ok_or_else(|| ApiError::not_found(format!("no plugin {id:?}")))
}
