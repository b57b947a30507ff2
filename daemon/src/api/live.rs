//! Live sessions over HTTP:
//!
//! - `POST /api/v1/live` `{"device"?, "title"?, "language"?}`: records from a capture device
//!   of the daemon's machine (`live.device` when none is named); `201 {"id", "source",
//!   "provider": {"plugin", "reason"}}`: the `roles.stt_live` plugin and why it was chosen;
//! - `POST /api/v1/live/{id}/stop`: ends a running session; it then finishes in the
//!   background (`live` events say when it is complete);
//! - `GET /api/v1/live`: the running sessions; `GET /api/v1/devices`: the input devices;
//! - `GET /api/v1/live/ingest`: a WebSocket for audio recorded elsewhere (a browser). The
//!   client sends `{"type":"start","sample_rate":N,"channels":N,"encoding"?:"s16le"|"f32le",
//!   "title"?,"language"?}`, then binary frames of interleaved PCM, then `{"type":"stop"}`
//!   (or closes). The daemon answers `{"type":"started","session_id","provider"}`, then the session's
//!   events as on `/api/v1/events`, and `{"type":"ended","status"}` once it is stored.

use axum::Json;
use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use super::{ApiError, AppState};
use crate::sources::microphone;
use crate::live::convert::{Converter, SampleFormat};
use crate::live::{INPUT_QUEUE, Input, LiveError, SessionSpec};

/// Sample rates a browser or client may send, Hz (here and on Deepgram's live socket).
pub(super) const RATES: std::ops::RangeInclusive<u32> = 8_000..=192_000;
/// Channels a client may send.
pub(super) const MAX_CHANNELS: u16 = 8;
/// Close code for a client that broke the ingest protocol.
const CLOSE_PROTOCOL: u16 = 1008;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/live", post(start).get(list))
        .route("/api/v1/live/{id}/stop", post(stop))
        .route("/api/v1/live/ingest", get(ingest))
        .route("/api/v1/devices", get(devices))
}

fn live_error(err: LiveError) -> ApiError {
    match err {
        LiveError::NoProvider | LiveError::NoLibrary => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", err.to_string()),
        LiveError::TooMany(_) => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_sessions", err.to_string()),
        LiveError::NotFound(_) => ApiError::not_found(err.to_string()),
        LiveError::LowDisk(low) => low.into(),
        LiveError::Library(_) | LiveError::Io(_) => ApiError::internal("starting a live session", &err),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartRequest {
    device: Option<String>,
    title: Option<String>,
    language: Option<String>,
}

async fn start(State(state): State<AppState>, body: Option<Json<StartRequest>>) -> Result<Response, ApiError> {
    let request = body.map(|Json(b)| b).unwrap_or_default();
    let device = request.device.or_else(|| state.live.settings().device.clone());
    let (tx, rx) = mpsc::channel(INPUT_QUEUE);
    let opened = tokio::task::spawn_blocking(move || microphone::start(device, tx))
        .await
        .map_err(|err| ApiError::internal("opening the capture device", &err))?;
    let capture = opened.map_err(|err| match err {
        microphone::CaptureError::NoSuchDevice(_) => ApiError::new(StatusCode::BAD_REQUEST, "no_such_device", err.to_string()),
        _ => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "device_unavailable", err.to_string()),
    })?;
    let spec = SessionSpec { source: capture.device.clone(), title: request.title, language: request.language };
    let id = state.live.start(spec, rx).await.map_err(live_error)?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id, "source": capture.device, "provider": state.live.provider() }))).into_response())
}

async fn stop(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    state.live.stop(&id).map_err(live_error)?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "id": id, "status": "stopping" }))).into_response())
}

async fn list(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({ "sessions": state.live.list() }))
}

async fn devices() -> Result<Json<serde_json::Value>, ApiError> {
    let devices = tokio::task::spawn_blocking(microphone::devices)
        .await
        .map_err(|err| ApiError::internal("listing devices", &err))?
        .map_err(|err| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "device_unavailable", err.to_string()))?;
    Ok(Json(json!({ "devices": devices })))
}

/// The first message on the ingest socket.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "lowercase")]
enum Control {
    Start {
        sample_rate: u32,
        channels: u16,
        #[serde(default)]
        encoding: Encoding,
        title: Option<String>,
        language: Option<String>,
    },
    Stop,
}

/// How long a new ingest socket may stay silent before its start message: a client that
/// connects and says nothing holds a connection and a task for nothing.
const START_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Encoding {
    #[default]
    S16le,
    F32le,
}

async fn ingest(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| run_ingest(socket, state))
}

async fn refuse(mut socket: WebSocket, message: String) {
    let error = json!({ "type": "error", "message": message });
    let _ = super::events::send_text(&mut socket, error.to_string()).await;
    let frame = CloseFrame { code: CLOSE_PROTOCOL, reason: "bad ingest request".into() };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

async fn run_ingest(mut socket: WebSocket, state: AppState) {
    let Ok(first) = tokio::time::timeout(START_TIMEOUT, socket.recv()).await else {
        let message = format!("no start message within {} s", START_TIMEOUT.as_secs());
        return refuse(socket, message).await;
    };
    let first = match first {
        Some(Ok(Message::Text(text))) => text,
        Some(Ok(_)) => return refuse(socket, "the first message must be the JSON start message".into()).await,
        _ => return,
    };
    let (sample_rate, channels, encoding, title, language) = match serde_json::from_str::<Control>(&first) {
        Ok(Control::Start { sample_rate, channels, encoding, title, language }) => (sample_rate, channels, encoding, title, language),
        Ok(Control::Stop) => return refuse(socket, "stop before start".into()).await,
        Err(err) => return refuse(socket, format!("bad start message: {err}")).await,
    };
    if !RATES.contains(&sample_rate) || !(1..=MAX_CHANNELS).contains(&channels) {
        let message = format!("sample_rate must be {} to {} Hz and channels 1 to {MAX_CHANNELS}", RATES.start(), RATES.end());
        return refuse(socket, message).await;
    }
    let format = match encoding {
        Encoding::S16le => SampleFormat::S16le,
        Encoding::F32le => SampleFormat::F32le,
    };
    let mut converter = match Converter::new(sample_rate, channels, format) {
        Ok(converter) => Some(converter),
        Err(err) => return refuse(socket, err.to_string()).await,
    };
    // Subscribed before the session exists, so none of its events is missed.
    let mut events = state.events.subscribe(None).live;
    let (tx, rx) = mpsc::channel(INPUT_QUEUE);
    let spec = SessionSpec { source: "browser".into(), title, language };
    let id = match state.live.start(spec, rx).await {
        Ok(id) => id,
        Err(err) => return refuse(socket, err.to_string()).await,
    };
    let started = json!({ "type": "started", "session_id": id, "provider": state.live.provider() });
    if super::events::send_text(&mut socket, started.to_string()).await.is_err() {
        return;
    }
    let mut input = Some(tx);
    let mut client_open = true;
    loop {
        tokio::select! {
            incoming = socket.recv(), if client_open => match incoming {
                Some(Ok(Message::Binary(bytes))) => {
                    let (Some(tx), Some(conversion)) = (&input, converter.as_mut()) else { continue };
                    match conversion.push_bytes(&bytes) {
                        Ok(samples) if samples.is_empty() => {}
                        Ok(samples) => {
                            // Waits when the session is behind: back-pressure on the client.
                            let _ = tx.send(Input::Samples(samples)).await;
                        }
                        Err(err) => {
                            let _ = tx.send(Input::Failed(format!("the browser's audio could not be converted: {err}"))).await;
                            input = None;
                        }
                    }
                }
                Some(Ok(Message::Text(text))) => {
                    if matches!(serde_json::from_str::<Control>(&text), Ok(Control::Stop)) {
                        end_input(&mut input, &mut converter).await;
                    }
                }
                Some(Ok(_)) => {}
                // The client went away: its audio so far is the session.
                Some(Err(_)) | None => {
                    client_open = false;
                    end_input(&mut input, &mut converter).await;
                }
            },
            event = events.recv() => match event {
                Ok(published) => {
                    if published.event.session_id() != Some(id.as_str()) {
                        continue;
                    }
                    if client_open && super::events::send_text(&mut socket, published.json.clone()).await.is_err() {
                        client_open = false;
                        end_input(&mut input, &mut converter).await;
                    }
                    if let crate::sinks::events::Event::Live { status, .. } = &published.event
                        && status.ends_session()
                    {
                        let ended = json!({ "type": "ended", "session_id": id, "status": status });
                        if client_open {
                            let _ = super::events::send_text(&mut socket, ended.to_string()).await;
                            let _ = socket.send(Message::Close(None)).await;
                        }
                        return;
                    }
                }
                // Missing some of this session's events is survivable: the client reloads.
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
        }
    }
}

/// The client is done sending: flushes the resampler and closes the session's input.
pub(super) async fn end_input(input: &mut Option<mpsc::Sender<Input>>, converter: &mut Option<Converter>) {
    let (Some(tx), Some(converter)) = (input.take(), converter.take()) else { return };
    match converter.finish() {
        Ok(samples) if !samples.is_empty() => {
            let _ = tx.send(Input::Samples(samples)).await;
        }
        Ok(_) => {}
        Err(err) => tracing::warn!("flushing browser audio failed: {err}"),
    }
}
