//! The library API: sessions, their transcripts, speakers, summaries and exports.
//!
//! - `GET    /api/v1/sessions?kind=&status=&from_ms=&before_ms=&cursor=&limit=`
//! - `GET    /api/v1/sessions/{id}`: metadata, transcript versions, the current version's
//!   paragraphs and utterances, speakers, summary, audio, latest job
//! - `PATCH  /api/v1/sessions/{id}`: `{"title": "..."}` and/or `{"pinned": true}` (a pinned
//!   session keeps its audio whatever `[retention]` says)
//! - `DELETE /api/v1/sessions/{id}`: with its transcripts, jobs and stored audio
//! - `POST   /api/v1/sessions/{id}/transcribe`: `{"provider": "..."}` (optional): transcribe
//!   the audio again; the result is a new version, the old ones stay
//! - `GET    /api/v1/sessions/{id}/words?version=&offset=&limit=`
//! - `PUT    /api/v1/sessions/{id}/speakers/{speaker}`: `{"name": "..."}`; the speaker's
//!   voice, when diarized here, joins the voice profile of that name ([`super::speakers`])
//! - `GET    /api/v1/sessions/{id}/export?format=txt|srt|vtt|json|md&version=`
//!
//! `summary` in a session is `{summary: {title, overview, key_points, action_items,
//! decisions}, model, template, created_ms, input_tokens, output_tokens}`;
//! `summary_status` is the latest summary request: `{state: queued|running|done|failed|
//! empty, message, template, updated_ms}`.

use axum::Json;
use axum::Router;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};

use super::{ApiError, AppState};
use crate::sinks::export::{ExportFormat, PARAGRAPH_GAP_MS, SessionExport, safe_id};
use crate::files::RetranscribeError;
use crate::sinks::events::{Event, LibraryChange};
use crate::summaries::SummaryDoc;
use crate::speakers::voices::VoiceError;
use crate::clients::library::{
    Library, LibraryError, Session, SessionFilter, SessionKind, SessionPatch, SessionStatus, SessionView, StoredSummary,
    TranscriptStructure, TranscriptVersion, Word, now_ms, status_name,
};

/// Default and largest page of sessions.
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;
/// Default and largest page of words.
const DEFAULT_WORDS: u32 = 1_000;
const MAX_WORDS: u32 = 10_000;
/// Longest title and speaker name accepted, in characters.
const MAX_TITLE_CHARS: usize = 500;
pub(super) const MAX_NAME_CHARS: usize = 100;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/sessions", get(list_sessions))
        .route("/api/v1/sessions/{id}", get(get_session).patch(patch_session).delete(delete_session))
        .route("/api/v1/sessions/{id}/words", get(get_words))
        .route("/api/v1/sessions/{id}/speakers/{speaker}", put(rename_speaker))
        .route("/api/v1/sessions/{id}/export", get(export))
        .route("/api/v1/sessions/{id}/transcribe", post(retranscribe))
}

impl From<LibraryError> for ApiError {
    fn from(err: LibraryError) -> Self {
        match err {
            LibraryError::NotFound(m) => ApiError::not_found(m),
            LibraryError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            LibraryError::Invalid(m) => ApiError::new(StatusCode::BAD_REQUEST, "invalid", m),
            LibraryError::Storage(m) => ApiError::internal("library storage", &m),
            LibraryError::Plugin(e) => {
                tracing::error!("store plugin call failed: {e}");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", "the library store is not available right now")
            }
        }
    }
}

pub(super) fn library(state: &AppState) -> Result<&Library, ApiError> {
    state.library.as_ref().ok_or_else(|| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", "the library store is not loaded; see /api/v1/plugins")
    })
}

pub(super) fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid", message)
}

// axum's own rejections answer in plain text; these keep every error in the API's format.
pub(super) fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(v)| v).map_err(|rejection| bad_request(rejection.body_text()))
}

pub(super) fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query.map(|Query(v)| v).map_err(|rejection| bad_request(rejection.body_text()))
}

pub(super) fn path<T>(path: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    path.map(|Path(v)| v).map_err(|rejection| bad_request(rejection.body_text()))
}

fn parse_kind(s: &str) -> Result<SessionKind, ApiError> {
    match s {
        "live" => Ok(SessionKind::Live),
        "file" => Ok(SessionKind::File),
        _ => Err(bad_request(format!("kind must be live or file, not {s:?}"))),
    }
}

fn parse_status(s: &str) -> Result<SessionStatus, ApiError> {
    [
        SessionStatus::Queued,
        SessionStatus::Recording,
        SessionStatus::Processing,
        SessionStatus::Complete,
        SessionStatus::Error,
        SessionStatus::Interrupted,
    ]
    .into_iter()
    .find(|st| status_name(*st) == s)
    .ok_or_else(|| bad_request(format!("unknown status {s:?}")))
}

#[derive(Serialize)]
struct VersionView {
    id: u64,
    provider: String,
    created_ms: i64,
    word_count: u64,
}

impl From<TranscriptVersion> for VersionView {
    fn from(v: TranscriptVersion) -> Self {
        VersionView { id: v.id, provider: v.provider, created_ms: v.created_ms, word_count: v.word_count }
    }
}

#[derive(Serialize)]
struct WordView {
    text: String,
    punctuated: String,
    start_ms: u64,
    end_ms: u64,
    confidence: f32,
    speaker: Option<u32>,
}

impl From<Word> for WordView {
    fn from(w: Word) -> Self {
        WordView { text: w.text, punctuated: w.punctuated, start_ms: w.start_ms, end_ms: w.end_ms, confidence: w.confidence, speaker: w.speaker }
    }
}

fn summary_view(s: StoredSummary) -> serde_json::Value {
    serde_json::json!({
        "summary": SummaryDoc::from(&s.summary),
        "model": s.model,
        "template": s.template,
        "created_ms": s.created_ms,
        "input_tokens": s.input_tokens,
        "output_tokens": s.output_tokens,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    kind: Option<String>,
    status: Option<String>,
    from_ms: Option<i64>,
    before_ms: Option<i64>,
    cursor: Option<String>,
    limit: Option<u32>,
}

async fn list_sessions(
    State(state): State<AppState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let q = query(q)?;
    let filter = SessionFilter {
        kind: q.kind.as_deref().map(parse_kind).transpose()?,
        status: q.status.as_deref().map(parse_status).transpose()?,
        created_from_ms: q.from_ms,
        created_before_ms: q.before_ms,
    };
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(bad_request(format!("limit must be 1..={MAX_PAGE}")));
    }
    let page = library(&state)?.list_sessions(filter, q.cursor, limit).await?;
    let sessions: Vec<SessionView> = page.sessions.into_iter().map(Into::into).collect();
    Ok(Json(serde_json::json!({ "sessions": sessions, "next_cursor": page.next_cursor, "total": page.total })))
}

pub(super) async fn load(library: &Library, id: &str) -> Result<Session, ApiError> {
    library.get_session(id.to_string()).await?.ok_or_else(|| ApiError::not_found(format!("no session {id:?}")))
}

async fn get_session(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    let library = library(&state)?;
    let session = load(library, &id).await?;
    let versions: Vec<VersionView> = library.list_versions(id.clone()).await?.into_iter().map(Into::into).collect();
    let voices = state.voices.clone();
    let voice_id = id.clone();
    let voices = tokio::task::spawn_blocking(move || voices.session(&voice_id))
        .await
        .map_err(|e| ApiError::internal("the voice profiles", &e))?
        .map_err(|e| ApiError::internal("the voice profiles", &format!("{e:#}")))?;
    let names = library.list_speakers(id.clone()).await?;
    // Every speaker with a name or a voice: whether its name came from a voice profile
    // (recognised), is in one (enrolled), or it is new to the profiles.
    let mut numbers: Vec<u32> = names.iter().map(|s| s.speaker).chain(voices.iter().map(|v| v.speaker)).collect();
    numbers.sort_unstable();
    numbers.dedup();
    let speakers: Vec<_> = numbers
        .into_iter()
        .map(|n| {
            let name = names.iter().find(|s| s.speaker == n).map(|s| s.name.clone());
            let voice = voices.iter().find(|v| v.speaker == n);
            serde_json::json!({
                "speaker": n,
                "name": name,
                "voice": voice.map(|v| serde_json::json!({ "profile": v.profile, "recognised": v.recognised, "enrolled": v.enrolled })),
            })
        })
        .collect();
    let summary = library.get_summary(id.clone()).await?.map(summary_view);
    let structure = match versions.last() {
        Some(current) => Some(library.get_structure(current.id).await?),
        None => None,
    };
    let (paragraphs, utterances) = structure.map(structure_view).unwrap_or_default();
    let (pinned, removed) = match &state.retention {
        Some(retention) => (
            retention.pinned(&id).map_err(|e| ApiError::internal("reading the retention records", &e))?,
            retention.removed(&id).map_err(|e| ApiError::internal("reading the retention records", &e))?,
        ),
        None => (false, None),
    };
    let audio = library.get_audio_file(id.clone()).await?.map(|file| match removed {
        // The waveform stays: it is the shape of what was said, and costs a few bytes.
        Some(removed) => serde_json::json!({
            "state": "removed",
            "removed": removed,
            "mime": file.mime,
            "size_bytes": file.size_bytes,
            "url": null,
            "waveform_url": format!("/api/v1/sessions/{id}/waveform"),
        }),
        None => serde_json::json!({
            "state": "kept",
            "mime": file.mime,
            "size_bytes": file.size_bytes,
            "url": format!("/api/v1/sessions/{id}/audio"),
            "waveform_url": format!("/api/v1/sessions/{id}/waveform"),
        }),
    });
    let job = match &state.files {
        Some(files) => files.session_job(&id).await.map_err(|e| ApiError::internal("reading the job queue", &e))?,
        None => None,
    }
    .map(|job| {
        serde_json::json!({
            "state": job.state.as_str(),
            "provider": job.provider,
            "attempts": job.attempts,
            "last_error": job.last_error,
            "note": job.note,
        })
    });
    let summary_status = state.summaries.as_ref().and_then(|s| s.job(&id));
    Ok(Json(serde_json::json!({
        "session": SessionView::from(session),
        "pinned": pinned,
        "versions": versions,
        "paragraphs": paragraphs,
        "utterances": utterances,
        "speakers": speakers,
        "summary": summary,
        "summary_status": summary_status,
        "audio": audio,
        "job": job,
    })))
}

fn structure_view(structure: TranscriptStructure) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    let paragraphs = structure
        .paragraphs
        .into_iter()
        .map(|p| {
            let sentences: Vec<_> = p
                .sentences
                .into_iter()
                .map(|s| serde_json::json!({ "text": s.text, "start_ms": s.start_ms, "end_ms": s.end_ms }))
                .collect();
            serde_json::json!({ "speaker": p.speaker, "start_ms": p.start_ms, "end_ms": p.end_ms, "sentences": sentences })
        })
        .collect();
    let utterances = structure
        .utterances
        .into_iter()
        .map(|u| {
            serde_json::json!({
                "speaker": u.speaker, "start_ms": u.start_ms, "end_ms": u.end_ms, "confidence": u.confidence, "text": u.text,
            })
        })
        .collect();
    (paragraphs, utterances)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionChange {
    title: Option<String>,
    pinned: Option<bool>,
}

async fn patch_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<SessionChange>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let change = json_body(body)?;
    if change.title.is_none() && change.pinned.is_none() {
        return Err(bad_request("give a title or pinned"));
    }
    let title = match change.title {
        Some(title) => {
            let title = title.trim().to_string();
            if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
                return Err(bad_request(format!("title must be 1-{MAX_TITLE_CHARS} characters")));
            }
            Some(title)
        }
        None => None,
    };
    let library = library(&state)?;
    let session = match title {
        Some(title) => {
            let patch = SessionPatch { status: None, title: Some(title), duration_ms: None, provider: None, error: None };
            library.update_session(id.clone(), patch).await?
        }
        None => load(library, &id).await?,
    };
    let retention = state.retention.as_ref();
    if let Some(pinned) = change.pinned {
        let retention = retention.ok_or_else(|| {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", "pinning needs the library store")
        })?;
        retention.set_pinned(&id, pinned).map_err(|e| ApiError::internal("saving the pin", &e))?;
    }
    let pinned = match retention {
        Some(retention) => retention.pinned(&id).map_err(|e| ApiError::internal("reading the pin", &e))?,
        None => false,
    };
    state.events.publish(Event::Library { session_id: id, change: LibraryChange::Updated });
    let mut view = serde_json::to_value(SessionView::from(session)).map_err(|e| ApiError::internal("the session", &e))?;
    view["pinned"] = pinned.into();
    Ok(Json(view))
}

async fn delete_session(State(state): State<AppState>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let deleted = match &state.files {
        Some(files) => files.delete_session(&id).await?,
        None => library(&state)?.delete_session(id.clone()).await?,
    };
    if deleted {
        if let Some(summaries) = &state.summaries {
            summaries.forget(&id);
        }
        if let Some(retention) = &state.retention {
            retention.forget(&id);
        }
        let voices = state.voices.clone();
        if let Err(err) = tokio::task::spawn_blocking(move || voices.drop_session(&id)).await.map_err(anyhow::Error::from).and_then(|r| r) {
            tracing::warn!("forgetting a deleted session's voices failed: {err:#}");
        }
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no session {id:?}")))
    }
}

/// The version asked for, or the newest.
async fn pick_version(library: &Library, id: &str, version: Option<u64>) -> Result<Option<TranscriptVersion>, ApiError> {
    let versions = library.list_versions(id.to_string()).await?;
    match version {
        None => Ok(versions.into_iter().last()),
        Some(v) => versions
            .into_iter()
            .find(|x| x.id == v)
            .map(Some)
            .ok_or_else(|| ApiError::not_found(format!("session {id:?} has no transcript version {v}"))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WordsQuery {
    version: Option<u64>,
    offset: Option<u64>,
    limit: Option<u32>,
}

async fn get_words(
    State(state): State<AppState>,
    Path(id): Path<String>,
    q: Result<Query<WordsQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let q = query(q)?;
    let library = library(&state)?;
    load(library, &id).await?;
    let limit = q.limit.unwrap_or(DEFAULT_WORDS);
    if !(1..=MAX_WORDS).contains(&limit) {
        return Err(bad_request(format!("limit must be 1..={MAX_WORDS}")));
    }
    let Some(version) = pick_version(library, &id, q.version).await? else {
        return Ok(Json(serde_json::json!({ "version": null, "words": [], "next_offset": null, "paragraph_gap_ms": PARAGRAPH_GAP_MS })));
    };
    let offset = q.offset.unwrap_or(0);
    let words: Vec<WordView> = library.get_words(version.id, offset, limit).await?.into_iter().map(Into::into).collect();
    let end = offset + words.len() as u64;
    let next_offset = (end < version.word_count).then_some(end);
    // Shown paragraphs follow the exports' rule, so the page and a download agree.
    Ok(Json(serde_json::json!({ "version": version.id, "words": words, "next_offset": next_offset, "paragraph_gap_ms": PARAGRAPH_GAP_MS })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpeakerName {
    name: String,
}

async fn rename_speaker(
    State(state): State<AppState>,
    ids: Result<Path<(String, u32)>, PathRejection>,
    body: Result<Json<SpeakerName>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let (id, speaker) = path(ids)?;
    let name = json_body(body)?.name.trim().to_string();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(bad_request(format!("name must be 1-{MAX_NAME_CHARS} characters")));
    }
    library(&state)?.set_speaker_name(id.clone(), speaker, name.clone()).await?;
    // The name is the user's word for this voice: it joins (or starts) the voice profile of
    // that name. A speaker with no voice on record (diarized by a cloud provider) has only
    // the name.
    let voices = state.voices.clone();
    let enrolled = tokio::task::spawn_blocking(move || voices.enrol(&id, speaker, &name, now_ms()))
        .await
        .map_err(|e| ApiError::internal("the voice profiles", &e))?;
    match enrolled {
        Ok(()) | Err(VoiceError::NoVoice { .. }) => Ok(StatusCode::NO_CONTENT),
        Err(err) => Err(err.into()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    format: String,
    version: Option<u64>,
}

async fn export(
    State(state): State<AppState>,
    Path(id): Path<String>,
    q: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let format: ExportFormat = q.format.parse().map_err(bad_request)?;
    let library = library(&state)?;
    let session = load(library, &id).await?;
    let version = pick_version(library, &id, q.version).await?;
    let export = SessionExport::load(library, session, version.as_ref()).await?;
    // The file name is derived from the id only: titles are user text and do not belong in
    // a header.
    let disposition = format!("attachment; filename=\"scribe-{}.{}\"", safe_id(&id), format.extension());
    let body = export.render(format);
    Ok(([(header::CONTENT_TYPE, format.mime().to_string()), (header::CONTENT_DISPOSITION, disposition)], body).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RetranscribeBody {
    provider: Option<String>,
}

async fn retranscribe(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    // The body is optional: no body transcribes with the configured provider.
    let body: RetranscribeBody = if body.iter().all(u8::is_ascii_whitespace) {
        RetranscribeBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|err| bad_request(format!("invalid JSON body: {err}")))?
    };
    let files = state.files.as_ref().ok_or_else(|| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", "file transcription needs the library store")
    })?;
    let provider = files.retranscribe(&id, body.provider.as_deref()).await.map_err(|err| match err {
        RetranscribeError::NotFound(_) => ApiError::not_found(err.to_string()),
        RetranscribeError::UnknownProvider(_) => bad_request(err.to_string()),
        RetranscribeError::NoAudio(_) => ApiError::new(StatusCode::CONFLICT, "no_audio", err.to_string()),
        RetranscribeError::Busy(_) => ApiError::new(StatusCode::CONFLICT, "busy", err.to_string()),
        RetranscribeError::Library(err) => err.into(),
        RetranscribeError::Other(err) => ApiError::internal("queueing a re-transcription", &err),
    })?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "session_id": id, "provider": provider }))))
}
