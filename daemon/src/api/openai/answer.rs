//! A finished session's transcript in the shape OpenAI answers with: `json` (`text`, `usage`),
//! `text`, `srt` and `vtt` (the export's cues), `verbose_json` (`words` and `segments` as
//! asked), or with `stream=true` the server-sent events `transcript.text.delta` and
//! `transcript.text.done`.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::form::Format;
use crate::sinks::export::{ExportFormat, SessionExport};

/// The header naming the plugin that transcribed, since `model` may have been an alias.
pub const MODEL_HEADER: &str = "x-scribe-model";

/// What the answer holds besides the transcript.
pub struct Asked {
    pub format: Format,
    pub words: bool,
    pub segments: bool,
    pub stream: bool,
    /// The language heard (or named by the client), as the recogniser tags it (`en`).
    pub language: Option<String>,
    /// The plugin that transcribed.
    pub plugin: String,
    /// The words are an English translation (`/v1/audio/translations`).
    pub translated: bool,
}

fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// The answer for `export` as `asked`.
pub fn answer(export: &SessionExport, asked: &Asked) -> Response {
    let text = SessionExport::displayed(&export.words);
    let duration_ms = export.duration_ms();
    let usage = json!({"type": "duration", "seconds": duration_ms.div_ceil(1000)});
    let mut response = if asked.stream {
        stream(&text, usage)
    } else {
        match asked.format {
            Format::Json => axum::Json(json!({"text": text, "usage": usage})).into_response(),
            Format::Text => plain(format!("{text}\n"), "text/plain; charset=utf-8"),
            Format::Srt => plain(export.render(ExportFormat::Srt), "text/plain; charset=utf-8"),
            Format::Vtt => plain(export.render(ExportFormat::Vtt), "text/vtt; charset=utf-8"),
            Format::VerboseJson => axum::Json(verbose(export, asked, text, duration_ms, usage)).into_response(),
        }
    };
    if let Ok(value) = HeaderValue::from_str(&asked.plugin) {
        response.headers_mut().insert(MODEL_HEADER, value);
    }
    response
}

/// `verbose_json`: the segments are the export's (one speaker's sentences), the words every
/// word with its times.
fn verbose(export: &SessionExport, asked: &Asked, text: String, duration_ms: u64, usage: Value) -> Value {
    // A translation's language is its output's, "always english" as OpenAI documents it.
    let (task, language) = match asked.translated {
        true => ("translate", "english".to_string()),
        false => ("transcribe", asked.language.clone().unwrap_or_else(|| "unknown".into())),
    };
    let mut body = json!({
        "task": task,
        "language": language,
        "duration": seconds(duration_ms),
        "text": text,
        "usage": usage,
    });
    if asked.segments {
        let segments: Vec<Value> = export
            .transcript()
            .segments_with_words()
            .into_iter()
            .enumerate()
            .map(|(id, (segment, words))| {
                let confidence = SessionExport::confidence(words);
                json!({
                    "id": id,
                    "seek": 0,
                    "start": seconds(segment.start_ms),
                    "end": seconds(segment.end_ms),
                    "text": format!(" {}", segment.text),
                    "tokens": [],
                    "temperature": 0.0,
                    // A word's confidence is a probability; the log of their mean stands in.
                    "avg_logprob": confidence.max(f64::MIN_POSITIVE).ln(),
                    "compression_ratio": 1.0,
                    "no_speech_prob": 0.0,
                })
            })
            .collect();
        body["segments"] = segments.into();
    }
    if asked.words {
        let words: Vec<Value> = export.words.iter().map(|w| json!({"word": w.punctuated, "start": seconds(w.start_ms), "end": seconds(w.end_ms)})).collect();
        body["words"] = words.into();
    }
    body
}

/// OpenAI's streamed transcription: the text in deltas of a word each, then the whole.
fn stream(text: &str, usage: Value) -> Response {
    let mut events: Vec<String> = Vec::new();
    let mut first = true;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let delta = if first { word.to_string() } else { format!(" {word}") };
        first = false;
        events.push(event(&json!({"type": "transcript.text.delta", "delta": delta})));
    }
    events.push(event(&json!({"type": "transcript.text.done", "text": text, "usage": usage})));
    let body = Body::from_stream(futures_util::stream::iter(events.into_iter().map(|e| Ok::<Bytes, Infallible>(Bytes::from(e)))));
    let mut response = Response::new(body);
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream; charset=utf-8"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn event(data: &Value) -> String {
    format!("data: {data}\n\n")
}

fn plain(body: String, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
