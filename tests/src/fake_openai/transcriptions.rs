//! `POST /v1/audio/transcriptions`, as OpenAI's API reference gives it: a `multipart/form-data`
//! form with the audio as `file` and `model`, `response_format` (`json`, `text`, `srt`,
//! `verbose_json`, `vtt`), `timestamp_granularities[]`, `language`, `prompt`; the answer in
//! the shape of each format, errors in OpenAI's envelope.
//!
//! It checks what OpenAI refuses: a request over 25 MiB (413), no model or no file, a file
//! whose name has no extension OpenAI takes, a format other than `json` or `text` for the
//! gpt-4o models (which give no timestamps), and timestamp granularities without
//! `verbose_json`. It "recognises" a WAV file by its level: the stretches louder than
//! [`LEVEL`] are speech. With a script ([`super::FakeOpenAi::set_script`]) the script's words
//! are laid over the speech in order; without one each stretch is the word `speech`, so a
//! test knows where every word must land in the file.

use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{FakeOpenAi, Fault, error};

/// OpenAI's limit on a request, bytes ("Maximum content size limit (26214400) exceeded").
pub const MAX_CONTENT: usize = 25 * 1024 * 1024;
/// Extensions OpenAI takes (its "Invalid file format. Supported formats: ..." list).
const EXTENSIONS: &[&str] = &["flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm"];
/// Models that answer in `json` or `text` only (no timestamps).
const TEXT_ONLY_MODELS: &[&str] = &["gpt-4o-transcribe", "gpt-4o-mini-transcribe"];
/// RMS level (of full scale) above which a frame is speech: about -40 dBFS.
pub const LEVEL: f32 = 0.01;
/// Frame of the level, s.
const FRAME_S: f64 = 0.02;
/// Quiet shorter than this does not end a stretch (the gaps between a sentence's words).
const MIN_GAP_S: f64 = 0.3;
/// Louder stretches shorter than this are clicks, not speech.
const MIN_SPEECH_S: f64 = 0.1;

/// A form as the fake saw it.
#[derive(Debug, Clone)]
pub struct SeenUpload {
    pub at: Instant,
    pub headers: HeaderMap,
    /// Text fields in order.
    pub fields: Vec<(String, String)>,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    /// Bytes of the file.
    pub file_len: usize,
    /// Bytes of the whole request.
    pub request_len: usize,
}

impl SeenUpload {
    /// The values of field `name`, in order.
    pub fn field(&self, name: &str) -> Vec<&str> {
        self.fields.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }
}

/// The stretches of `samples` (mono, `rate` Hz) that are speech by their level, in seconds.
pub fn voiced(samples: &[f32], rate: u32) -> Vec<(f64, f64)> {
    let frame = ((f64::from(rate) * FRAME_S) as usize).max(1);
    let mut stretches: Vec<(f64, f64)> = Vec::new();
    for (i, chunk) in samples.chunks(frame).enumerate() {
        let rms = (chunk.iter().map(|s| s * s).sum::<f32>() / chunk.len() as f32).sqrt();
        if rms < LEVEL {
            continue;
        }
        let (start, end) = (i as f64 * FRAME_S, (i as f64 * FRAME_S + chunk.len() as f64 / f64::from(rate)));
        match stretches.last_mut() {
            Some(last) if start - last.1 < MIN_GAP_S => last.1 = end,
            _ => stretches.push((start, end)),
        }
    }
    stretches.retain(|(s, e)| e - s >= MIN_SPEECH_S);
    stretches
}

/// A WAV file's samples, mixed to mono, and its rate.
fn decode(bytes: &[u8]) -> Option<(Vec<f32>, u32)> {
    let reader = hound::WavReader::new(std::io::Cursor::new(bytes)).ok()?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Int => {
            let scale = (1i64 << (spec.bits_per_sample - 1)) as f32;
            reader.into_samples::<i32>().filter_map(Result::ok).map(|s| s as f32 / scale).collect()
        }
        hound::SampleFormat::Float => reader.into_samples::<f32>().filter_map(Result::ok).collect(),
    };
    let mono = samples.chunks(channels).map(|c| c.iter().sum::<f32>() / c.len() as f32).collect();
    Some((mono, spec.sample_rate))
}

/// One recognised word, s.
struct Heard {
    word: String,
    start: f64,
    end: f64,
    stretch: usize,
}

/// The words heard in `stretches`: the script's, laid over the speech by length, or `speech`
/// once per stretch.
fn hear(stretches: &[(f64, f64)], script: Option<&str>) -> Vec<Heard> {
    let Some(script) = script else {
        return stretches.iter().enumerate().map(|(i, (s, e))| Heard { word: "speech".into(), start: *s, end: *e, stretch: i }).collect();
    };
    let words: Vec<&str> = script.split_whitespace().collect();
    let total: f64 = stretches.iter().map(|(s, e)| e - s).sum();
    let weight: usize = words.iter().map(|w| w.len()).sum::<usize>().max(1);
    // A position along the speech alone, as a time in the audio and its stretch.
    let place = |along: f64| {
        let mut left = along;
        for (i, (s, e)) in stretches.iter().enumerate() {
            if left <= e - s {
                return (s + left, i);
            }
            left -= e - s;
        }
        stretches.last().map_or((0.0, 0), |(_, e)| (*e, stretches.len() - 1))
    };
    let mut before = 0;
    words
        .iter()
        .map(|w| {
            let (start, stretch) = place(total * before as f64 / weight as f64);
            before += w.len();
            let (end, _) = place(total * before as f64 / weight as f64);
            Heard { word: w.trim_matches(|c: char| !c.is_alphanumeric()).to_string(), start, end: end.min(stretches.get(stretch).map_or(end, |s| s.1)), stretch }
        })
        .collect()
}

/// `seconds` as `HH:MM:SS` with `sep` before the milliseconds (`,` for SRT, `.` for VTT).
fn cue_time(seconds: f64, sep: char) -> String {
    let ms = (seconds * 1000.0).round() as u64;
    format!("{:02}:{:02}:{:02}{sep}{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

/// The language name `verbose_json` reports for a code.
fn language_name(code: Option<&str>) -> &'static str {
    match code {
        Some("de") => "german",
        Some("fr") => "french",
        Some("es") => "spanish",
        _ => "english",
    }
}

pub(super) async fn transcriptions(State(fake): State<FakeOpenAi>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let headers = parts.headers.clone();
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    let bytes: Bytes = match axum::body::to_bytes(body, MAX_CONTENT * 4).await {
        Ok(bytes) => bytes,
        Err(_) => return error(413, "Maximum content size limit exceeded", None, None),
    };
    let request_len = declared.unwrap_or(bytes.len()).max(bytes.len());
    let mut multipart = Multipart::from_request(Request::from_parts(parts, Body::from(bytes)), &()).await.ok();
    let (mut fields, mut file) = (Vec::new(), None::<(Option<String>, Option<String>, Bytes)>);
    if let Some(form) = multipart.as_mut() {
        while let Ok(Some(field)) = form.next_field().await {
            let name = field.name().unwrap_or_default().to_string();
            if name == "file" {
                let (file_name, content_type) = (field.file_name().map(String::from), field.content_type().map(String::from));
                file = Some((file_name, content_type, field.bytes().await.unwrap_or_default()));
            } else {
                fields.push((name, field.text().await.unwrap_or_default()));
            }
        }
    }
    let seen = SeenUpload {
        at: Instant::now(),
        headers: headers.clone(),
        fields: fields.clone(),
        file_name: file.as_ref().and_then(|f| f.0.clone()),
        content_type: file.as_ref().and_then(|f| f.1.clone()),
        file_len: file.as_ref().map_or(0, |f| f.2.len()),
        request_len,
    };
    let (fault, _) = fake.uploads.arrived(seen);
    if let Some(key) = &fake.key {
        let bearer = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        if bearer != Some(&**key) {
            return error(401, "Incorrect API key provided.", None, None);
        }
    }
    if request_len > MAX_CONTENT {
        return error(413, &format!("Maximum content size limit ({MAX_CONTENT}) exceeded ({request_len} bytes read)"), None, None);
    }
    if multipart.is_none() {
        return error(400, "Could not parse multipart form", None, None);
    }
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let Some(model) = field("model").filter(|m| !m.is_empty()) else {
        return error(400, "you must provide a model parameter", Some("model"), None);
    };
    let Some((file_name, _, audio)) = file else {
        return error(400, "'file' is a required property", Some("file"), None);
    };
    let extension = file_name.as_deref().and_then(|n| n.rsplit_once('.')).map(|(_, e)| e.to_ascii_lowercase());
    if !extension.as_deref().is_some_and(|e| EXTENSIONS.contains(&e)) {
        return error(400, &format!("Invalid file format. Supported formats: {EXTENSIONS:?}"), Some("file"), None);
    }
    let format = field("response_format").unwrap_or("json");
    if !["json", "text", "srt", "verbose_json", "vtt"].contains(&format) {
        return error(400, &format!("Invalid value: '{format}'. Supported values are: 'json', 'text', 'srt', 'verbose_json', and 'vtt'."), Some("response_format"), None);
    }
    if TEXT_ONLY_MODELS.contains(&model) && !["json", "text"].contains(&format) {
        return error(400, &format!("response_format '{format}' is not compatible with model '{model}'. Use 'json' or 'text' instead."), Some("response_format"), None);
    }
    let granularities: Vec<&str> = fields.iter().filter(|(k, _)| k == "timestamp_granularities[]").map(|(_, v)| v.as_str()).collect();
    if !granularities.is_empty() && format != "verbose_json" {
        return error(400, "timestamp_granularities is only supported with response_format verbose_json", Some("timestamp_granularities"), None);
    }
    if let Some(bad) = granularities.iter().find(|g| !["word", "segment"].contains(g)) {
        return error(400, &format!("Invalid value: '{bad}'. Supported values are: 'word' and 'segment'."), Some("timestamp_granularities"), None);
    }
    if let Some(Fault::Status { status, retry_after }) = fault {
        return error(status, "The fake was told to fail this request.", None, retry_after);
    }
    let Some((samples, rate)) = decode(&audio) else {
        return error(400, "Audio file might be corrupted or unsupported (the fake decodes WAV only)", Some("file"), None);
    };
    let duration = samples.len() as f64 / f64::from(rate.max(1));
    let stretches = voiced(&samples, rate);
    let heard = hear(&stretches, fake.script().as_deref());
    let text = heard.iter().map(|h| h.word.as_str()).collect::<Vec<_>>().join(" ");
    let segments: Vec<(f64, f64, String)> = stretches
        .iter()
        .enumerate()
        .map(|(i, (s, e))| (*s, *e, heard.iter().filter(|h| h.stretch == i).map(|h| h.word.as_str()).collect::<Vec<_>>().join(" ")))
        .filter(|(_, _, t)| !t.is_empty())
        .collect();
    fake.uploads.answered();
    let usage = json!({"type": "duration", "seconds": duration.ceil() as u64});
    match format {
        "json" => axum::Json(json!({"text": text, "usage": usage})).into_response(),
        "text" => plain(format!("{text}\n"), "text/plain; charset=utf-8"),
        "srt" => {
            let cues: String = segments.iter().enumerate().map(|(i, (s, e, t))| format!("{}\n{} --> {}\n{t}\n\n", i + 1, cue_time(*s, ','), cue_time(*e, ','))).collect();
            plain(cues, "text/plain; charset=utf-8")
        }
        "vtt" => {
            let cues: String = segments.iter().map(|(s, e, t)| format!("{} --> {}\n{t}\n\n", cue_time(*s, '.'), cue_time(*e, '.'))).collect();
            plain(format!("WEBVTT\n\n{cues}"), "text/vtt; charset=utf-8")
        }
        _ => {
            let mut answer = json!({"task": "transcribe", "language": language_name(field("language")), "duration": duration, "text": text, "usage": usage});
            if granularities.is_empty() || granularities.contains(&"segment") {
                answer["segments"] = segments
                    .iter()
                    .enumerate()
                    .map(|(i, (s, e, t))| json!({"id": i, "seek": 0, "start": s, "end": e, "text": format!(" {t}"), "tokens": [], "temperature": 0.0, "avg_logprob": -0.25, "compression_ratio": 1.2, "no_speech_prob": 0.01}))
                    .collect::<Vec<Value>>()
                    .into();
            }
            if granularities.contains(&"word") {
                answer["words"] = heard.iter().map(|h| json!({"word": h.word, "start": h.start, "end": h.end})).collect::<Vec<Value>>().into();
            }
            axum::Json(answer).into_response()
        }
    }
}

fn plain(body: String, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stretches_of_sound_are_speech_and_short_gaps_do_not_split_them() {
        let rate = 16_000;
        let tone = |s: f64| (0..(s * 16_000.0) as usize).map(|i| (i as f32 * 0.05).sin() * 0.3).collect::<Vec<f32>>();
        let quiet = |s: f64| vec![0.0f32; (s * 16_000.0) as usize];
        let samples = [quiet(1.0), tone(0.5), quiet(0.1), tone(0.5), quiet(1.0), tone(0.04), quiet(1.0), tone(1.0)].concat();
        let found = voiced(&samples, rate);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!((found[0].0 - 1.0).abs() < 0.03 && (found[0].1 - 2.1).abs() < 0.03, "{found:?}");
        let words = hear(&found, Some("one two, three"));
        assert_eq!(words.iter().map(|w| w.word.as_str()).collect::<Vec<_>>(), ["one", "two", "three"]);
        assert!(words.windows(2).all(|w| w[0].start <= w[1].start));
        assert_eq!(words[2].stretch, 1);
    }
}
