//! Health and plugin status.

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
    plugins: Vec<PluginState>,
}

#[derive(Serialize)]
struct PluginState {
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
}

/// `GET /healthz`. Answers without calling into any plugin, so it stays fast while a
/// plugin is busy or stuck.
async fn get_healthz(State(state): State<AppState>) -> Json<Healthz> {
    let plugins: Vec<PluginState> = state
        .registry
        .views()
        .into_iter()
        .map(|v| PluginState { id: v.id, world: v.world, state: v.state, configured: v.configured })
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
