//! What the compatible APIs (OpenAI's and Deepgram's) share: a received file goes through the
//! file pipeline as a library session like an upload's, the request waits for its job, and
//! the transcript is read back. The job does not depend on the request: a client that hangs
//! up loses nothing.

use axum::http::StatusCode;

use super::uploads::Received;
use super::{ApiError, AppState};
use crate::queue::files::{JobAsk, JobState};
use crate::sinks::export::SessionExport;

/// How a transcription ended.
pub enum Outcome {
    /// The session with its transcript, the hex SHA-256 of the file, and the language the
    /// recogniser heard.
    Done { export: Box<SessionExport>, sha256: String, language: Option<String> },
    /// The job failed; the reason.
    Failed(String),
}

/// The batch plugin a client's `model` names, if it names one; any other name (an alias
/// such as `whisper-1` or `nova-3`) means `roles.stt_batch`.
pub fn named_plugin(state: &AppState, model: Option<&str>) -> Option<String> {
    let (plugins, _) = state.files.as_ref()?.plugins();
    plugins.into_iter().find(|id| Some(id.as_str()) == model)
}

fn unavailable(what: &str) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", format!("{what} is not loaded"))
}

/// Transcribes `file` (the client called it `file_name`) as a session from `source`, with
/// what the client asked of the job, and waits for it.
pub async fn transcribe(state: &AppState, file: Received, file_name: &str, source: &str, ask: &JobAsk) -> Result<Outcome, ApiError> {
    let files = state.files.as_ref().ok_or_else(|| unavailable("the library store"))?;
    let library = state.library.as_ref().ok_or_else(|| unavailable("the library store"))?;
    let (_, default) = files.plugins();
    if ask.provider.is_none() && default.is_none() {
        return Err(unavailable("a speech-to-text plugin (roles.stt_batch)"));
    }
    let submitted = files.submit_asking(file.path(), file_name, source, ask).await.map_err(|e| ApiError::internal("queueing a transcription", &e))?;
    file.handed_on();
    let job = files.until_job_ended(&submitted.session_id).await.map_err(|e| ApiError::internal("waiting for a transcription", &e))?;
    if job.state == JobState::Failed {
        return Ok(Outcome::Failed(job.last_error.unwrap_or_else(|| "the transcription failed".into())));
    }
    let export = SessionExport::load_latest(library, &submitted.session_id)
        .await
        .map_err(|e| ApiError::internal("reading a transcript", &e))?
        .ok_or_else(|| ApiError::internal("reading a transcript", &"the session is gone"))?;
    Ok(Outcome::Done { export: Box::new(export), sha256: submitted.sha256, language: job.heard_language })
}
