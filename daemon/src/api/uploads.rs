//! `POST /api/v1/uploads?name=FILE`: a file to transcribe, as the raw request body.
//!
//! The body is streamed to a temp file under the data dir, never held in memory; past the
//! configured cap the upload is refused with 413 and the partial file removed. The answer
//! comes as soon as the job is queued (`202 {"session_id", "duplicate"}`); progress arrives as
//! `job` events on `/api/v1/events`.

use std::path::{Path, PathBuf};

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::{ApiError, AppState};
use crate::files::encoding_for;

pub const UPLOAD_PATH: &str = "/api/v1/uploads";
/// Longest file name kept, in characters.
const MAX_NAME_CHARS: usize = 255;

/// Where uploads go and how large they may be.
#[derive(Debug, Clone)]
pub struct UploadLimits {
    pub max_bytes: u64,
    /// Temp dir inside the data dir (same filesystem as the audio store, so files move
    /// there by rename).
    pub dir: PathBuf,
}

pub fn router() -> Router<AppState> {
    Router::new().route(UPLOAD_PATH, post(upload))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadQuery {
    name: String,
}

fn too_large(max: u64) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", format!("uploads are limited to {} MiB", max >> 20))
}

/// Removes the temp file unless it was handed on.
struct TempFile(Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

async fn upload(
    State(state): State<AppState>,
    query: Result<Query<UploadQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let Query(UploadQuery { name }) =
        query.map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, "invalid", r.body_text()))?;
    // Only the last path component: a name never chooses where anything is written.
    let name: String = Path::new(&name)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .chars()
        .take(MAX_NAME_CHARS)
        .collect();
    if name.is_empty() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid", "name must be a file name"));
    }
    if encoding_for(Path::new(&name)).is_none() {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_type",
            "accepted files: wav, flac, mp3, ogg, opus, webm, m4a, mp4, aac",
        ));
    }
    let files = state.files.as_ref().ok_or_else(|| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", "the library store is not loaded")
    })?;
    let limits = &state.uploads;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limits.max_bytes) {
        return Err(too_large(limits.max_bytes));
    }

    tokio::fs::create_dir_all(&limits.dir).await.map_err(|e| ApiError::internal("creating the upload dir", &e))?;
    let mut suffix = [0u8; 8];
    getrandom::fill(&mut suffix).map_err(|e| ApiError::internal("naming an upload", &e))?;
    let path = limits.dir.join(format!("upload-{}.part", hex::encode(suffix)));
    let mut temp = TempFile(Some(path.clone()));
    let mut file = tokio::fs::File::create(&path).await.map_err(|e| ApiError::internal("creating an upload file", &e))?;
    let mut written = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "upload_interrupted", format!("the upload broke off: {e}")))?;
        written += chunk.len() as u64;
        if written > limits.max_bytes {
            return Err(too_large(limits.max_bytes));
        }
        file.write_all(&chunk).await.map_err(|e| ApiError::internal("writing an upload", &e))?;
    }
    file.sync_all().await.map_err(|e| ApiError::internal("flushing an upload", &e))?;
    drop(file);
    if written == 0 {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "empty", "the upload is empty"));
    }
    let submitted = files.submit(&path, &name).await.map_err(|e| ApiError::internal("queueing an upload", &e))?;
    temp.0 = None;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "session_id": submitted.session_id, "duplicate": submitted.duplicate }))))
}
