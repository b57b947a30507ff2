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
//! A translation makes the same session, then asks the recogniser for the English of its
//! audio ([`crate::files::FilePipeline::translate`]).

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
use super::uploads::Received;
use super::compat::{self, Outcome};
use crate::files::TranslateError;
use crate::queue::files::JobAsk;
use crate::sinks::export::SessionExport;

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
    let ask = job_ask(&state, &form);
    let (export, heard) = session(&state, form.file, &form.file_name, &ask).await?;
    let plugin = export.session.provider.clone().unwrap_or_default();
    // The language the recogniser heard, else the one the client named.
    let language = heard.or(ask.language);
    let asked = Asked { format: form.format, words: form.words, segments: form.segments, stream: form.stream, language, plugin, translated: false };
    Ok(answer::answer(&export, &asked))
}

/// What the form asks of the recogniser.
fn job_ask(state: &AppState, form: &form::AudioForm) -> JobAsk {
    JobAsk { provider: compat::named_plugin(state, Some(&form.model)), language: form.language.clone(), prompt: form.prompt.clone() }
}

/// The form's file as a library session, transcribed as the client asked: its export and
/// the language heard.
async fn session(state: &AppState, file: Received, file_name: &str, ask: &JobAsk) -> Result<(SessionExport, Option<String>), OpenAiError> {
    match compat::transcribe(state, file, file_name, SOURCE, ask).await? {
        Outcome::Done { export, language, .. } => Ok((*export, language)),
        Outcome::Failed(message) => Err(OpenAiError { status: StatusCode::UNPROCESSABLE_ENTITY, message, param: Some("file"), code: Some("transcription_failed") }),
    }
}

/// The file becomes a library session like a transcription's (its transcript in the language
/// spoken), then its audio is translated into English by the same recogniser, which must
/// be able to (a multilingual Whisper model): others are refused with a 400 that says why.
/// The translation is the answer; it is not stored.
async fn translations(State(state): State<AppState>, body: Result<Multipart, MultipartRejection>) -> Result<Response, OpenAiError> {
    let form = form::read(&state, multipart(body)?).await?;
    let ask = job_ask(&state, &form);
    let (export, heard) = session(&state, form.file, &form.file_name, &ask).await?;
    let files = state.files.as_ref().ok_or_else(|| unavailable("the library store"))?;
    let ask = JobAsk { language: ask.language.or(heard), ..ask };
    let translation = files.translate(&export.session.id, &ask).await.map_err(|err| match err {
        TranslateError::Unsupported(message) => OpenAiError::invalid("model", message),
        TranslateError::Unavailable(message) => OpenAiError { status: StatusCode::SERVICE_UNAVAILABLE, message, param: None, code: Some("unavailable") },
        TranslateError::Failed(message) => OpenAiError { status: StatusCode::UNPROCESSABLE_ENTITY, message, param: Some("file"), code: Some("translation_failed") },
    })?;
    let plugin = export.session.provider.clone().unwrap_or_default();
    let export = SessionExport { words: translation.words, speakers: Vec::new(), summary: None, ..export };
    let asked = Asked { format: form.format, words: form.words, segments: form.segments, stream: form.stream, language: None, plugin, translated: true };
    Ok(answer::answer(&export, &asked))
}

/// The batch plugins, and `whisper-1` for the default one.
async fn models(State(state): State<AppState>) -> Result<Response, OpenAiError> {
    let files = state.files.as_ref().ok_or_else(|| unavailable("the library store"))?;
    let (plugins, _) = files.plugins();
    let model = |id: &str| json!({"id": id, "object": "model", "created": CREATED, "owned_by": "scribed"});
    let data: Vec<_> = plugins.iter().map(|id| model(id)).chain(std::iter::once(model("whisper-1"))).collect();
    Ok(axum::Json(json!({"object": "list", "data": data})).into_response())
}
