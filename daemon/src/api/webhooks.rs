//! `GET /api/v1/webhooks/deliveries?limit=N`: the most recent webhook deliveries, newest
//! first (`webhooks.endpoints`): the receiver, the event and session, `state` (`pending`,
//! `delivered`, `failed`), `attempts`, `last_status`, `last_error`, when it is next tried.

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, AppState};

/// Deliveries listed when the client names no limit.
const DEFAULT_LIMIT: u32 = 100;
/// Most deliveries one request lists.
const MAX_LIMIT: u32 = 1_000;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/webhooks/deliveries", get(deliveries))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<u32>,
}

async fn deliveries(State(state): State<AppState>, Query(query): Query<ListQuery>) -> Result<Json<serde_json::Value>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_request", format!("limit must be 1..={MAX_LIMIT}")));
    }
    let Some(queue) = &state.webhooks else { return Ok(Json(json!({ "deliveries": [] }))) };
    let queue = queue.clone();
    let list = tokio::task::spawn_blocking(move || queue.recent(limit))
        .await
        .map_err(|err| ApiError::internal("listing webhook deliveries", &err))?
        .map_err(|err| ApiError::internal("listing webhook deliveries", &err))?;
    Ok(Json(json!({ "deliveries": list })))
}
