//! A session's audio for the UI's player and waveform.
//!
//! - `GET /api/v1/sessions/{id}/audio`: the original file, with HTTP range requests (seeking
//!   in a long recording fetches only what is played) and conditional GETs; `410 Gone` once
//!   retention removed it;
//! - `GET /api/v1/sessions/{id}/waveform?points=N`: peak levels 0-255, reduced to at most
//!   `N` points by taking the maximum of neighbouring windows.

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use super::sessions::{bad_request, library, load, query};
use super::{ApiError, AppState};
use crate::audio::peaks::WINDOW_MS;

/// Most points a waveform request may ask for.
const MAX_POINTS: usize = 100_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/sessions/{id}/audio", get(audio))
        .route("/api/v1/sessions/{id}/waveform", get(waveform))
}

async fn audio(State(state): State<AppState>, Path(id): Path<String>, request: Request) -> Result<Response, ApiError> {
    let library = library(&state)?;
    load(library, &id).await?;
    let no_audio = || ApiError::not_found(format!("session {id:?} has no stored audio"));
    if let Some(retention) = &state.retention {
        if let Some(removed) = retention.removed(&id).map_err(|e| ApiError::internal("reading the retention records", &e))? {
            let when = removed.day();
            return Err(ApiError::new(
                StatusCode::GONE,
                "audio_removed",
                format!("the audio of session {id:?} was removed on {when} ({}); its transcript stays", removed.reason),
            ));
        }
        // Marked before serving: retention leaves audio being played alone.
        retention.playing(&id);
    }
    let file = library.get_audio_file(id.clone()).await?.ok_or_else(no_audio)?;
    let files = state.files.as_ref().ok_or_else(no_audio)?;
    let path = files.audio().find(&file.sha256).await.ok_or_else(no_audio)?;
    let response = ServeFile::new(path)
        .oneshot(request)
        .await
        .map_err(|err| ApiError::internal("serving audio", &err))?;
    let (mut parts, body) = response.into_parts();
    if parts.status == StatusCode::NOT_FOUND {
        return Err(no_audio());
    }
    // The type recorded at ingest, not one guessed from the stored name.
    if let Ok(mime) = HeaderValue::from_str(&file.mime) {
        parts.headers.insert(header::CONTENT_TYPE, mime);
    }
    parts.headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("inline"));
    Ok(Response::from_parts(parts, Body::new(body)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WaveformQuery {
    points: Option<usize>,
}

/// Reduces `peaks` to at most `points` by the maximum of each group; returns the group width.
fn reduce(peaks: &[u8], points: usize) -> (Vec<u8>, usize) {
    let group = peaks.len().div_ceil(points.max(1)).max(1);
    (peaks.chunks(group).map(|c| c.iter().copied().max().unwrap_or(0)).collect(), group)
}

async fn waveform(
    State(state): State<AppState>,
    Path(id): Path<String>,
    q: Result<Query<WaveformQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    if q.points.is_some_and(|p| !(1..=MAX_POINTS).contains(&p)) {
        return Err(bad_request(format!("points must be 1..={MAX_POINTS}")));
    }
    let library = library(&state)?;
    load(library, &id).await?;
    let peaks = library.get_audio_file(id.clone()).await?.map(|f| f.peaks).unwrap_or_default();
    let (peaks, group) = reduce(&peaks, q.points.unwrap_or(usize::MAX));
    Ok(Json(serde_json::json!({ "window_ms": WINDOW_MS * group as u64, "peaks": peaks })).into_response())
}

#[cfg(test)]
mod tests {
    use super::reduce;

    #[test]
    fn waveform_reduction() {
        let peaks = [1, 9, 3, 4, 5, 2, 7];
        assert_eq!(reduce(&peaks, 100), (peaks.to_vec(), 1));
        assert_eq!(reduce(&peaks, 3), (vec![9, 5, 7], 3));
        assert_eq!(reduce(&peaks, 1), (vec![9], 7));
        assert_eq!(reduce(&[], 5), (vec![], 1));
    }
}
