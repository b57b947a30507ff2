//! Summary regeneration: `POST /api/v1/sessions/{id}/summary` with an optional
//! `{"template": "name"}` queues a new summary of a transcribed session (the earlier one
//! stays until the new one is complete). Progress arrives as `summary` events; the result
//! and its state are in `GET /api/v1/sessions/{id}`.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;

use super::sessions::bad_request;
use super::{ApiError, AppState};
use crate::summaries::RequestError;

/// Longest template name accepted; names are keys in the plugin's settings.
const MAX_TEMPLATE_CHARS: usize = 64;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/sessions/{id}/summary", post(regenerate))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SummaryBody {
    template: Option<String>,
}

impl From<RequestError> for ApiError {
    fn from(err: RequestError) -> Self {
        match err {
            RequestError::NoSummarizer => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no_summarizer", err.to_string()),
            RequestError::NotFound(_) => ApiError::not_found(err.to_string()),
            RequestError::NotReady(_) | RequestError::Busy => ApiError::new(StatusCode::CONFLICT, "conflict", err.to_string()),
            RequestError::Library(err) => err.into(),
            RequestError::Queue(err) => ApiError::internal("the summary queue", &err),
        }
    }
}

async fn regenerate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    // The body is optional: an empty one asks for the default template.
    let body: SummaryBody = if body.iter().all(u8::is_ascii_whitespace) {
        SummaryBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|err| bad_request(format!("invalid JSON body: {err}")))?
    };
    let template = body.template.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    if let Some(name) = &template
        && (name.chars().count() > MAX_TEMPLATE_CHARS
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    {
        return Err(bad_request(format!("template must be 1-{MAX_TEMPLATE_CHARS} letters, digits, '-' or '_'")));
    }
    let summaries = state.summaries.as_ref().ok_or_else(|| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", "the library store is not loaded; see /api/v1/plugins")
    })?;
    summaries.request(&id, template.as_deref()).await?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "session_id": id, "state": "queued", "template": template }))))
}
