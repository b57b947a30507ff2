//! `openai-transcribe`: speech-to-text through any server that speaks OpenAI's
//! `POST /v1/audio/transcriptions` (`stt-batch` world, 0.2.0): OpenAI, Groq, speaches,
//! LocalAI, whisper.cpp's server.
//!
//! Sits between the host's file job queue and the server. The host posts the audio as the
//! form's file (`upload`, streamed from disk; this plugin never holds it) with the fields this
//! plugin chooses, and adds any `Authorization` header (this plugin never sees a key). A
//! file larger than the server takes (`max_file_mb`) never reaches this plugin whole: the
//! plugin declares the limit, and the host sends the speech in parts under it and stitches
//! the times. The answer is asked for as `verbose_json` with word and segment timestamps
//! ([`response`]); a server that refuses that format is asked again for `json`, text alone,
//! and the transcript's notes say it has no word times ([`errors`] tells the refusal apart).

mod errors;
mod languages;
mod response;
mod settings;

use std::cell::Cell;

use scribe_plugin_api::stt_batch_0_2::log::{self, Level};
use scribe_plugin_api::stt_batch_0_2::types::{Capabilities, PluginError, PluginInfo};
use scribe_plugin_api::stt_batch_0_2::upload::{self, Form};
use scribe_plugin_api::stt_batch_0_2::{BatchRequest, BatchTranscript, Guest, config};

use errors::Refused;
use response::Timing;
use settings::Settings;

/// The plugin's id, as its settings are named in the operator's config.
const ID: &str = "openai-transcribe";
/// Deadline of one request: OpenAI takes about a tenth of the audio's length, a small
/// self-hosted server may take the audio's whole length for 25 MB of it.
const REQUEST_TIMEOUT_MS: u32 = 30 * 60 * 1000;

thread_local! {
    /// The server refused timestamps once: later files ask for text alone straight away.
    static TEXT_ONLY: Cell<bool> = const { Cell::new(false) };
}

struct OpenAiTranscribe;

fn settings() -> Result<Settings, PluginError> {
    Settings::read(config::get).map_err(|err| PluginError::Other(format!("plugins.{ID}.settings: {err}")))
}

impl Guest for OpenAiTranscribe {
    fn describe() -> PluginInfo {
        // The limit the host cuts files for; a setting it cannot read is reported on the
        // first transcription, and OpenAI's limit stands in until then.
        let max_file_bytes = Settings::read(config::get).or_else(|_| Settings::read(|_| None)).map(|s| s.max_file_bytes()).ok();
        PluginInfo {
            id: ID.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            name: "Transcription (OpenAI-compatible)".into(),
            capabilities: Capabilities {
                languages: Vec::new(),
                diarization: false,
                word_timing: true,
                // What OpenAI's endpoint takes; raw PCM goes as WAV.
                encodings: scribe_plugin_api::stt_batch_0_2::every_encoding(),
                max_file_bytes,
            },
        }
    }

    fn transcribe(request: BatchRequest) -> Result<BatchTranscript, PluginError> {
        if request.size == 0 {
            return Err(PluginError::BadInput("the audio is empty".into()));
        }
        let settings = settings()?;
        if request.size > settings.max_file_bytes() {
            return Err(PluginError::BadInput(format!(
                "the audio is {} bytes, more than the server takes (plugins.{ID}.settings.max_file_mb = {})",
                request.size, settings.max_file_mb
            )));
        }
        let language = request.language.as_deref().and_then(settings::primary_language).or_else(|| settings.language.clone());
        if !TEXT_ONLY.get() {
            match post(&settings, &request, language.as_deref(), true) {
                Ok(body) => {
                    let (mut transcript, timing) = response::verbose(&body, language)?;
                    transcript.notes.extend(timing_note(&settings, timing));
                    return Ok(transcript);
                }
                Err(Refused::Timestamps(why)) => {
                    log::log(Level::Warn, &format!("{} gives no timestamps for {} ({why}); asking for text alone from now on", settings.base_url, settings.model));
                    TEXT_ONLY.set(true);
                }
                Err(Refused::Plugin(err)) => return Err(err),
            }
        }
        let body = post(&settings, &request, language.as_deref(), false).map_err(|refused| match refused {
            Refused::Timestamps(why) => PluginError::BadInput(format!("the transcription server at {} refused the request: {why}", settings.base_url)),
            Refused::Plugin(err) => err,
        })?;
        let mut transcript = response::text_only(&body, language)?;
        transcript.notes.extend(timing_note(&settings, Timing::None));
        Ok(transcript)
    }
}

/// Posts the call's audio; `timestamps` asks for `verbose_json` with word and segment times.
fn post(settings: &Settings, request: &BatchRequest, language: Option<&str>, timestamps: bool) -> Result<Vec<u8>, Refused> {
    let mut fields = vec![("model".to_string(), settings.model.clone())];
    if timestamps {
        fields.push(("response_format".into(), "verbose_json".into()));
        fields.push(("timestamp_granularities[]".into(), "word".into()));
        fields.push(("timestamp_granularities[]".into(), "segment".into()));
    } else {
        fields.push(("response_format".into(), "json".into()));
    }
    fields.extend(language.map(|l| ("language".to_string(), l.to_string())));
    fields.extend(settings.prompt_with(request.prompt.as_deref()).map(|p| ("prompt".to_string(), p)));
    let form = Form { url: settings.url(), headers: Vec::new(), fields, file_field: "file".into(), timeout_ms: Some(REQUEST_TIMEOUT_MS) };
    let names: Vec<&str> = form.fields.iter().map(|(name, _)| name.as_str()).collect();
    log::log(Level::Debug, &format!("posting {} bytes to {} with fields {names:?} and headers {:?}", request.size, form.url, form.headers));
    let response = upload::post(&form).map_err(|err| Refused::Plugin(errors::from_host(err, settings)))?;
    if !(200..300).contains(&response.status) {
        return Err(errors::from_response(response.status, &response.headers, &response.body, settings));
    }
    Ok(response.body)
}

/// What the transcript's notes say of its times.
fn timing_note(settings: &Settings, timing: Timing) -> Option<String> {
    let server = format!("{} ({})", settings.base_url, settings.model);
    match timing {
        Timing::Words => None,
        Timing::Segments => Some(format!("{server} gave no word timestamps: word times are estimated from its segments")),
        Timing::None => Some(format!("{server} gives no timestamps: the transcript is text alone, without word times")),
    }
}

scribe_plugin_api::register_plugin!(stt_batch_0_2, OpenAiTranscribe);
