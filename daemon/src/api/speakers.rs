//! Voice profiles ([`crate::speakers::voices`]):
//!
//! - `GET    /api/v1/speakers`: the profiles, by name (never their embeddings);
//! - `PATCH  /api/v1/speakers/{id}`: `{"name": "..."}` renames one;
//! - `DELETE /api/v1/speakers/{id}`: deletes one and its embedding;
//! - `POST   /api/v1/sessions/{id}/speakers/{speaker}/forget`: takes a session speaker's
//!   voice out of the profile it was enrolled in (a wrong enrolment).
//!
//! A profile is made or refined by naming a speaker (`PUT /api/v1/sessions/{id}/speakers/
//! {speaker}`, in [`super::sessions`]).

use axum::Json;
use axum::Router;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use serde::Deserialize;

use super::sessions::{MAX_NAME_CHARS, bad_request, json_body, path};
use super::{ApiError, AppState};
use crate::clients::library::now_ms;
use crate::speakers::voices::VoiceError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/speakers", get(list))
        .route("/api/v1/speakers/{id}", patch(rename).delete(delete))
        .route("/api/v1/sessions/{id}/speakers/{speaker}/forget", post(forget))
}

/// Runs a voice-profile operation off the async threads (SQLite with a durable commit).
async fn blocking<R: Send + 'static>(state: &AppState, f: impl FnOnce(&crate::speakers::voices::Voices) -> Result<R, VoiceError> + Send + 'static) -> Result<R, ApiError> {
    let voices = state.voices.clone();
    tokio::task::spawn_blocking(move || f(&voices)).await.map_err(|e| ApiError::internal("the voice profiles", &e))?.map_err(ApiError::from)
}

async fn list(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let profiles = blocking(&state, |v| v.profiles().map_err(VoiceError::Store)).await?;
    Ok(Json(serde_json::json!({ "profiles": profiles })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rename {
    name: String,
}

async fn rename(
    State(state): State<AppState>,
    id: Result<Path<i64>, PathRejection>,
    body: Result<Json<Rename>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = path(id)?;
    let name = json_body(body)?.name.trim().to_string();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(bad_request(format!("name must be 1-{MAX_NAME_CHARS} characters")));
    }
    let profile = blocking(&state, move |v| v.rename(id, &name, now_ms())).await?;
    Ok(Json(serde_json::json!(profile)))
}

async fn delete(State(state): State<AppState>, id: Result<Path<i64>, PathRejection>) -> Result<StatusCode, ApiError> {
    let id = path(id)?;
    match blocking(&state, move |v| v.delete(id).map_err(VoiceError::Store)).await? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(VoiceError::NoProfile(id).into()),
    }
}

async fn forget(State(state): State<AppState>, ids: Result<Path<(String, u32)>, PathRejection>) -> Result<StatusCode, ApiError> {
    let (session, speaker) = path(ids)?;
    blocking(&state, move |v| v.forget(&session, speaker, now_ms())).await?;
    Ok(StatusCode::NO_CONTENT)
}
