//! `POST /api/v1/uploads?name=FILE`: a file to transcribe, as the raw request body.
//!
//! The body is streamed to a temp file under the data dir, never held in memory; past the
//! configured cap the upload is refused with 413 and the partial file removed. The answer
//! comes as soon as the job is queued (`202 {"session_id", "duplicate"}`); progress arrives as
//! `job` events on `/api/v1/events`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
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
/// Uploads received at once. Each holds a temp file and a connection; a household's
/// browsers and scripts stay far below, and the rest wait for a slot.
pub const MAX_CONCURRENT_UPLOADS: usize = 16;
/// What a refused upload is told to wait, s.
const BUSY_RETRY_SECS: u64 = 5;
/// Prefix of upload temp files, so start-up removes only ours.
const TEMP_PREFIX: &str = "upload-";

/// Where uploads go and how large they may be.
#[derive(Debug, Clone)]
pub struct UploadLimits {
    pub max_bytes: u64,
    /// Temp dir inside the data dir (same filesystem as the audio store, so files move
    /// there by rename).
    pub dir: PathBuf,
    /// One permit per upload being received.
    pub in_flight: Arc<tokio::sync::Semaphore>,
    /// An upload silent this long is dropped.
    pub idle_timeout: Duration,
}

impl UploadLimits {
    /// Permits for [`MAX_CONCURRENT_UPLOADS`].
    pub fn slots() -> Arc<tokio::sync::Semaphore> {
        Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_UPLOADS))
    }
}

/// Removes upload temp files a stop left behind (nobody was answered for them).
pub fn clear_upload_leftovers(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut removed = 0;
    for entry in entries.flatten() {
        let ours = entry.file_name().to_str().is_some_and(|n| n.starts_with(TEMP_PREFIX));
        if ours && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    if removed > 0 {
        tracing::info!(removed, "removed uploads cut short by the last stop");
    }
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

/// An upload received whole into a temp file, holding its slot; the file is removed when
/// this is dropped unless it was handed on.
pub struct Received {
    temp: TempFile,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

impl Received {
    pub fn path(&self) -> &Path {
        self.temp.0.as_deref().unwrap_or(Path::new(""))
    }

    /// The file now belongs to whoever took it (the file pipeline moved it).
    pub fn handed_on(mut self) {
        self.temp.0 = None;
    }
}

/// Only the last path component of a client's file name, cut to [`MAX_NAME_CHARS`]: a name
/// never chooses where anything is written.
pub fn plain_name(name: &str) -> String {
    Path::new(name).file_name().and_then(|n| n.to_str()).unwrap_or_default().chars().take(MAX_NAME_CHARS).collect()
}

/// Bytes received between free-space checks during an upload: a check costs a microsecond,
/// and the minimum (a GiB by default) absorbs this much overshoot many times over.
const DISK_CHECK_BYTES: u64 = 16 << 20;

/// Receives `body` into a temp file under the upload dir: at most [`MAX_CONCURRENT_UPLOADS`]
/// at once (the rest wait as long as a silent upload may last, then are told to come back),
/// each capped by `files.max_upload_mb` and dropped when it goes silent. Nothing is received
/// while the disk is low (507, saying how much is free), and an upload during which it goes
/// low stops with the same answer, its partial file removed.
pub async fn receive<E: std::fmt::Display>(state: &AppState, body: impl futures_util::Stream<Item = Result<Bytes, E>>) -> Result<Received, ApiError> {
    state.disk.admit()?;
    let limits = &state.uploads;
    let slot = tokio::time::timeout(limits.idle_timeout, limits.in_flight.clone().acquire_owned()).await;
    let Ok(Ok(slot)) = slot else {
        let busy = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            format!("{MAX_CONCURRENT_UPLOADS} uploads are in progress already; try again shortly"),
        );
        return Err(busy.retry_after(BUSY_RETRY_SECS));
    };
    tokio::fs::create_dir_all(&limits.dir).await.map_err(|e| ApiError::internal("creating the upload dir", &e))?;
    let mut suffix = [0u8; 8];
    getrandom::fill(&mut suffix).map_err(|e| ApiError::internal("naming an upload", &e))?;
    let path = limits.dir.join(format!("{TEMP_PREFIX}{}.part", hex::encode(suffix)));
    let received = Received { temp: TempFile(Some(path.clone())), _slot: slot };
    let mut file = tokio::fs::File::create(&path).await.map_err(|e| ApiError::internal("creating an upload file", &e))?;
    let mut written = 0u64;
    let mut checked = 0u64;
    let mut stream = std::pin::pin!(body);
    loop {
        let next = tokio::time::timeout(limits.idle_timeout, stream.next()).await.map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "upload_stalled",
                format!("the upload sent nothing for {} s and was dropped", limits.idle_timeout.as_secs()),
            )
        })?;
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "upload_interrupted", format!("the upload broke off: {e}")))?;
        written += chunk.len() as u64;
        if written > limits.max_bytes {
            return Err(too_large(limits.max_bytes));
        }
        // An upload admitted just above the minimum must not take the space below it.
        if written - checked >= DISK_CHECK_BYTES {
            checked = written;
            state.disk.admit()?;
        }
        file.write_all(&chunk).await.map_err(|e| ApiError::internal("writing an upload", &e))?;
    }
    file.sync_all().await.map_err(|e| ApiError::internal("flushing an upload", &e))?;
    if written == 0 {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "empty", "the upload is empty"));
    }
    Ok(received)
}

async fn upload(
    State(state): State<AppState>,
    query: Result<Query<UploadQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let Query(UploadQuery { name }) =
        query.map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, "invalid", r.body_text()))?;
    let name = plain_name(&name);
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
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > state.uploads.max_bytes) {
        return Err(too_large(state.uploads.max_bytes));
    }
    let received = receive(&state, body.into_data_stream()).await?;
    let submitted = files.submit(received.path(), &name).await.map_err(|e| ApiError::internal("queueing an upload", &e))?;
    received.handed_on();
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "session_id": submitted.session_id, "duplicate": submitted.duplicate }))))
}
