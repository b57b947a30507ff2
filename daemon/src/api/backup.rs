//! Online backups for scripts (see [`crate::backup`]):
//!
//! - `POST /api/v1/backup`: `{"dest": "/absolute/folder"}` starts a backup of the data dir
//!   into a folder outside it (new, empty, or an earlier backup, which is updated: only new
//!   audio is copied). `202` with the folder; `409` while one runs; `400` for a folder that
//!   cannot take it. Progress and the end are `backup` events;
//! - `GET /api/v1/backup`: the latest backup's `{dest, stage: databases|audio|done|failed,
//!   done_bytes, total_bytes, message, summary}`.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;

use super::sessions::{bad_request, json_body};
use super::{ApiError, AppState};
use crate::backup::{BackupError, Backups};
use crate::sinks::events::BackupStatus;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/backup", post(start).get(latest))
}

fn backups(state: &AppState) -> Result<&std::sync::Arc<Backups>, ApiError> {
    state.backups.as_ref().ok_or_else(|| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", "backups need the library store")
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupRequest {
    dest: std::path::PathBuf,
}

async fn start(
    State(state): State<AppState>,
    body: Result<Json<BackupRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let request = json_body(body)?;
    let dest = backups(&state)?.start(&request.dest).map_err(|err| match err {
        BackupError::Busy => ApiError::new(StatusCode::CONFLICT, "busy", err.to_string()),
        BackupError::Destination(message) => bad_request(message),
    })?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "dest": dest }))))
}

async fn latest(State(state): State<AppState>) -> Result<Json<BackupStatus>, ApiError> {
    backups(&state)?.latest().map(Json).ok_or_else(|| ApiError::not_found("no backup was started since the daemon started"))
}
