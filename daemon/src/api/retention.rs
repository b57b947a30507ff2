//! Retention on demand (see [`crate::retention`]):
//!
//! - `POST /api/v1/retention`: `{"dry_run": true}` lists the audio the `[retention]` rules
//!   would remove now and the space that frees; without `dry_run` they run now, as they do
//!   daily. The answer is the sweep's report: `removals` (`session_id`, `title`,
//!   `created_ms`, `bytes`, `reason`), `reductions` (originals that give way to their 16 kHz
//!   copy), `freed_bytes`, `stored_bytes` and `skipped`.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;

use super::sessions::json_body;
use super::{ApiError, AppState};
use crate::retention::Report;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/retention", post(sweep))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepRequest {
    #[serde(default)]
    dry_run: bool,
}

async fn sweep(State(state): State<AppState>, body: Result<Json<SweepRequest>, JsonRejection>) -> Result<Json<Report>, ApiError> {
    let request = json_body(body)?;
    let retention = state.retention.as_ref().ok_or_else(|| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", "retention needs the library store")
    })?;
    let report = retention.sweep(request.dry_run).await.map_err(|e| ApiError::internal("applying retention", &format!("{e:#}")))?;
    Ok(Json(report))
}
