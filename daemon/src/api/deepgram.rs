//! Deepgram's API, for apps built on a Deepgram SDK, behind the same guard as `/api/v1/`
//! (the daemon's token goes as `Authorization: Token …` or `Bearer …`, or on a browser's
//! socket as the `token` subprotocol):
//!
//! - `POST /v1/listen`, pre-recorded, with the audio as the body (docs/protocols/deepgram.md
//!   §2). The file becomes a library session like an upload's (source `deepgram-api`), and
//!   the answer has Deepgram's shape ([`answer`]). `model` names a batch plugin
//!   (`whisper-local`, `deepgram-batch`, ...); any other name (`nova-3`) means
//!   `roles.stt_batch`. A remote `{"url"}` is not fetched.
//! - `GET /v1/listen`, a live WebSocket ([`stream`]), transcribed by `roles.stt_live`.

mod answer;
mod stream;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;

use super::compat::{self, Outcome};
use super::{ApiError, AppState, uploads};
use crate::queue::files::JobAsk;

/// The source of the sessions this API makes.
const SOURCE: &str = "deepgram-api";
/// Bytes read to tell the audio's container, for a body sent without an audio type (the
/// SDKs send `application/octet-stream`).
const SNIFF_BYTES: usize = 12;

pub fn router() -> Router<AppState> {
    // The body is capped as it is streamed to disk (`files.max_upload_mb`).
    Router::new().route("/v1/listen", post(listen).get(stream::upgrade)).layer(DefaultBodyLimit::disable())
}

/// Deepgram's legacy error body, the one `/v1/listen` answers with.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let code = status.canonical_reason().unwrap_or("Error");
    (status, axum::Json(json!({"err_code": code, "err_msg": message.into(), "request_id": ""}))).into_response()
}

/// A refusal of the shared code, in Deepgram's shape.
fn refused(err: ApiError) -> Response {
    error(err.status, err.message)
}

/// The query options this API reads; the rest of Deepgram's are accepted and have no effect.
#[derive(Debug, Default)]
struct Options {
    model: Option<String>,
    language: Option<String>,
    /// `punctuate` or `smart_format`: the transcript as displayed.
    punctuate: bool,
    utterances: bool,
    /// Words to expect (`keyterm`, `keywords`), for a recogniser that reads a prompt.
    terms: Vec<String>,
    /// The live socket's audio: `linear16`, or none for a WAV stream.
    encoding: Option<String>,
    sample_rate: Option<u32>,
    channels: Option<u16>,
    /// Interim guesses too, not only finals (live).
    interim_results: bool,
    /// `UtteranceEnd` after this gap past the last final word, ms (live).
    utterance_end_ms: Option<u64>,
    /// `SpeechStarted` when words start (live).
    vad_events: bool,
}

impl Options {
    fn parse(pairs: &[(String, String)]) -> Result<Options, String> {
        let mut options = Options::default();
        for (key, value) in pairs {
            let flag = || match value.as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(format!("{key} must be true or false, not {value:?}")),
            };
            let number = || value.parse::<u32>().map_err(|_| format!("{key} must be a whole number, not {value:?}"));
            match key.as_str() {
                "model" => options.model = Some(value.clone()),
                "language" => options.language = Some(value.clone()),
                "punctuate" | "smart_format" => options.punctuate |= flag()?,
                "utterances" => options.utterances = flag()?,
                "encoding" => options.encoding = Some(value.clone()),
                "sample_rate" => options.sample_rate = Some(number()?),
                "channels" => options.channels = Some(u16::try_from(number()?).map_err(|_| format!("channels {value} is out of range"))?),
                "interim_results" => options.interim_results = flag()?,
                "utterance_end_ms" => options.utterance_end_ms = Some(u64::from(number()?)),
                "vad_events" => options.vad_events = flag()?,
                // `keywords` carry an optional boost after a colon.
                "keyterm" | "keywords" => options.terms.push(value.split(':').next().unwrap_or_default().to_string()),
                _ => {}
            }
        }
        Ok(options)
    }
}

/// The container of audio that starts with `head`, as a file extension, by its magic bytes.
fn sniff(head: &[u8]) -> Option<&'static str> {
    match head {
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'A', b'V', b'E', ..] => Some("wav"),
        [b'f', b'L', b'a', b'C', ..] => Some("flac"),
        [b'O', b'g', b'g', b'S', ..] => Some("ogg"),
        [0x1A, 0x45, 0xDF, 0xA3, ..] => Some("webm"),
        [_, _, _, _, b'f', b't', b'y', b'p', ..] => Some("m4a"),
        [b'I', b'D', b'3', ..] => Some("mp3"),
        [0xFF, second, ..] if second & 0xE0 == 0xE0 => Some("mp3"),
        _ => None,
    }
}

async fn listen(State(state): State<AppState>, query: Query<Vec<(String, String)>>, headers: HeaderMap, body: Body) -> Response {
    let options = match Options::parse(&query.0) {
        Ok(options) => options,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if content_type.starts_with("application/json") {
        return error(StatusCode::BAD_REQUEST, "this server does not fetch remote audio: send the audio itself as the body");
    }
    let received = match uploads::receive(&state, body.into_data_stream()).await {
        Ok(received) => received,
        Err(err) => return refused(err),
    };
    let mut head = [0u8; SNIFF_BYTES];
    let read = match tokio::fs::File::open(received.path()).await {
        Ok(mut file) => tokio::io::AsyncReadExt::read(&mut file, &mut head).await.unwrap_or(0),
        Err(_) => 0,
    };
    let Some(extension) = sniff(&head[..read]) else {
        return error(StatusCode::BAD_REQUEST, "the body is not audio this server recognises (wav, flac, ogg, webm, m4a or mp3)");
    };
    let ask = JobAsk {
        provider: compat::named_plugin(&state, options.model.as_deref()),
        language: options.language.clone(),
        prompt: (!options.terms.is_empty()).then(|| options.terms.join(", ")),
    };
    match compat::transcribe(&state, received, &format!("listen.{extension}"), SOURCE, &ask).await {
        Ok(Outcome::Done { export, sha256, .. }) => axum::Json(answer::response(&export, &sha256, options.punctuate, options.utterances)).into_response(),
        Ok(Outcome::Failed(message)) => error(StatusCode::BAD_REQUEST, message),
        Err(err) => refused(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_are_told_by_their_first_bytes() {
        assert_eq!(sniff(b"RIFF\x24\0\0\0WAVEfmt "), Some("wav"));
        assert_eq!(sniff(b"fLaC\0\0\0\x22"), Some("flac"));
        assert_eq!(sniff(b"\0\0\0\x20ftypM4A "), Some("m4a"));
        assert_eq!(sniff(&[0xFF, 0xFB, 0x90, 0x64]), Some("mp3"));
        assert_eq!(sniff(b"{\"url\": \"x\"}"), None);
    }

    #[test]
    fn options_read_deepgram_s_spelling() {
        let pairs: Vec<(String, String)> = [("model", "nova-3"), ("smart_format", "true"), ("keyterm", "Scribe"), ("keywords", "tantivy:2"), ("tier", "x")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let options = Options::parse(&pairs).expect("parsed");
        assert!(options.punctuate && !options.utterances);
        assert_eq!((options.model.as_deref(), options.terms.join(",")), (Some("nova-3"), "Scribe,tantivy".to_string()));
        let bad = Options::parse(&[("punctuate".to_string(), "yes".to_string())]).expect_err("not a flag");
        assert!(bad.contains("punctuate"), "{bad}");
    }
}
