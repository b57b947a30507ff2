//! OpenAI's speech-to-text API, for the clients that already speak it (Open WebUI, n8n-style
//! tools, Home Assistant integrations, the official SDKs): `POST /v1/audio/transcriptions`,
//! `POST /v1/audio/translations` and `GET /v1/models`, beside `/api/v1/` and behind the same
//! guard (the daemon's token is the bearer key).
//!
//! A transcription is a file job like an upload's ([`crate::files`]): the file becomes a
//! library session (source `openai-api`, the client's file name as its title), searchable and
//! summarised like any other, and the request waits for the job. A client that hangs up
//! loses nothing: the job runs on and the session is stored. `model` names a batch plugin
//! (`whisper-local`, `deepgram-batch`, ...); `whisper-1` and any other name mean
//! `roles.stt_batch`, and the `x-scribe-model` header of the answer says which plugin it was.

mod answer;
mod envelope;
mod form;

use axum::Router;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use self::answer::Asked;
use self::envelope::OpenAiError;
use super::AppState;
use super::compat::{self, Outcome};
use crate::queue::files::JobAsk;

/// The source of the sessions this API makes.
const SOURCE: &str = "openai-api";
/// When the listed models say they were made (Unix seconds; clients only show it).
const CREATED: u64 = 1_767_225_600;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/audio/transcriptions", post(transcriptions))
        .route("/v1/audio/translations", post(translations))
        .route("/v1/models", get(models))
        // The file is capped as it is streamed to disk (`files.max_upload_mb`).
        .layer(DefaultBodyLimit::disable())
}

fn unavailable(what: &str) -> OpenAiError {
    OpenAiError { status: StatusCode::SERVICE_UNAVAILABLE, message: format!("{what} is not loaded"), param: None, code: Some("unavailable") }
}

/// The multipart body, or OpenAI's 400 when there is none.
fn multipart(body: Result<Multipart, MultipartRejection>) -> Result<Multipart, OpenAiError> {
    body.map_err(|r| OpenAiError::invalid("file", format!("a multipart/form-data body with the audio as 'file' is required ({})", r.body_text())))
}

async fn transcriptions(State(state): State<AppState>, body: Result<Multipart, MultipartRejection>) -> Result<Response, OpenAiError> {
    let form = form::read(&state, multipart(body)?).await?;
    let ask = JobAsk { provider: compat::named_plugin(&state, Some(&form.model)), language: form.language.clone(), prompt: form.prompt.clone() };
    let (export, heard) = match compat::transcribe(&state, form.file, &form.file_name, SOURCE, &ask).await? {
        Outcome::Done { export, language, .. } => (export, language),
        Outcome::Failed(message) => {
            return Err(OpenAiError { status: StatusCode::UNPROCESSABLE_ENTITY, message, param: Some("file"), code: Some("transcription_failed") });
        }
    };
    let plugin = export.session.provider.clone().unwrap_or_default();
    // The language the recogniser heard, else the one the client named.
    let language = heard.or(form.language);
    let asked = Asked { format: form.format, words: form.words, segments: form.segments, stream: form.stream, language, plugin };
    Ok(answer::answer(&export, &asked))
}

/// No recogniser here translates (the batch world has no task for it), so a translation is
/// refused as OpenAI refuses what a model cannot do; the form is read first, so the client
/// gets the answer rather than a reset connection.
async fn translations(State(state): State<AppState>, body: Result<Multipart, MultipartRejection>) -> Result<Response, OpenAiError> {
    let form = form::read(&state, multipart(body)?).await?;
    drop(form);
    Err(OpenAiError::invalid(
        "model",
        "translation to English is not offered: none of this daemon's recognisers translates; use /v1/audio/transcriptions",
    ))
}

/// The batch plugins, and `whisper-1` for the default one.
async fn models(State(state): State<AppState>) -> Result<Response, OpenAiError> {
    let files = state.files.as_ref().ok_or_else(|| unavailable("the library store"))?;
    let (plugins, _) = files.plugins();
    let model = |id: &str| json!({"id": id, "object": "model", "created": CREATED, "owned_by": "scribed"});
    let data: Vec<_> = plugins.iter().map(|id| model(id)).chain(std::iter::once(model("whisper-1"))).collect();
    Ok(axum::Json(json!({"object": "list", "data": data})).into_response())
}
