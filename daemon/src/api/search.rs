//! Search:
//!
//! - `GET  /api/v1/search?q=&kind=&status=&from_ms=&before_ms=&speaker=&offset=&limit=`:
//!   sessions ranked by relevance, each with up to three hits (`field` transcript, title or
//!   summary; `start_ms` of the matched word; `speaker`; `snippet` as text pieces with `hit`
//!   flags). The last word of `q` matches as a prefix unless `q` ends with a space;
//!   `"quoted words"` must occur together.
//! - `GET  /api/v1/search/status`: documents, the last store change indexed, and whether
//!   the index has caught up with the store.
//! - `POST /api/v1/search/reindex`: empty the index and rebuild it from the store (202).

use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;

use super::sessions::{bad_request, query};
use super::{ApiError, AppState};
use crate::sinks::search::indexer::Indexer;
use crate::sinks::search::query::Filters;
use crate::sinks::search::{SearchError, SearchPage};

/// Default and largest page of sessions.
const DEFAULT_PAGE: usize = 20;
const MAX_PAGE: usize = 100;
/// Longest query accepted, characters: a sentence or two, not a document.
const MAX_QUERY_CHARS: usize = 500;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/search", get(search))
        .route("/api/v1/search/status", get(status))
        .route("/api/v1/search/reindex", post(reindex))
}

fn indexer(state: &AppState) -> Result<&std::sync::Arc<Indexer>, ApiError> {
    state.indexer.as_ref().ok_or_else(|| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", "the library store is not loaded; see /api/v1/plugins")
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    q: String,
    kind: Option<String>,
    status: Option<String>,
    from_ms: Option<i64>,
    before_ms: Option<i64>,
    speaker: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

async fn search(
    State(state): State<AppState>,
    q: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Json<SearchPage>, ApiError> {
    let q = query(q)?;
    if q.q.chars().count() > MAX_QUERY_CHARS {
        return Err(bad_request(format!("q is longer than {MAX_QUERY_CHARS} characters")));
    }
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(bad_request(format!("limit must be 1..={MAX_PAGE}")));
    }
    if let Some(kind) = q.kind.as_deref().filter(|k| !["live", "file"].contains(k)) {
        return Err(bad_request(format!("kind must be live or file, not {kind:?}")));
    }
    let filters = Filters { kind: q.kind, status: q.status, from_ms: q.from_ms, before_ms: q.before_ms, speaker: q.speaker };
    let index = indexer(&state)?.index().clone();
    let text = q.q;
    let offset = q.offset.unwrap_or(0);
    let page = tokio::task::spawn_blocking(move || index.search(&text, &filters, offset, limit))
        .await
        .map_err(|err| ApiError::internal("search task", &err))?;
    match page {
        Ok(page) => Ok(Json(page)),
        Err(err @ SearchError::EmptyQuery) => Err(bad_request(err.to_string())),
        Err(err) => Err(ApiError::internal("search", &err)),
    }
}

async fn status(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let index = indexer(&state)?.index();
    let watermark = index.watermark();
    let behind = super::sessions::library(&state)?.changes_since(watermark, 1).await?;
    Ok(Json(serde_json::json!({ "documents": index.documents(), "watermark": watermark, "up_to_date": behind.is_empty() })))
}

async fn reindex(State(state): State<AppState>) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    indexer(&state)?.rebuild().await.map_err(|err| ApiError::internal("clearing the index", &err))?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "state": "rebuilding" }))))
}
