//! The `stt-batch` glue of the Whisper plugins, shared by whisper-local (files) and
//! whisper-live (`live/`, live audio the host re-reads): the model is read once per instance
//! through the host's `model` capability, the audio (16 kHz mono linear16, converted by the
//! host) through `audio`, and the transcript goes back as timed words plus one utterance per
//! segment. A request's prompt (what was said before its audio) is read as the model's
//! previous text, tokenized by the model's `tokenizer.json`; its task may ask for the English
//! translation, which a multilingual model gives. The recogniser itself is
//! `scribe-whisper` (`core/`).

use std::cell::RefCell;

use scribe_plugin_api::stt_batch_0_3::types::{
    AudioEncoding, Capabilities, PluginError, PluginInfo, TranscriptStructure, Utterance, Word,
};
use scribe_plugin_api::stt_batch_0_3::{audio, log, model, setting};
use scribe_plugin_api::stt_batch_0_3::{BatchRequest, BatchTranscript, Task as RequestTask};
use scribe_whisper::bpe;
use scribe_whisper::load::{self, LoadError, ReadError};
use scribe_whisper::model::Precision;
use scribe_whisper::mel::SAMPLE_RATE;
use scribe_whisper::output::{self, ms};
use scribe_whisper::transcribe::{EncoderContext, Engine, Samples, Task, TranscribeError};

/// Bytes per model read; the host allows up to 16 MiB a call.
const MODEL_READ: u32 = 16 * 1024 * 1024;
/// Bytes per audio read; the host allows up to 1 MiB a call.
const AUDIO_READ: u32 = 1024 * 1024;
/// Bytes per sample of linear16.
const SAMPLE_BYTES: usize = 2;
/// Progress is logged at most this often, in percent of the audio.
const PROGRESS_STEP: usize = 10;

thread_local! {
    /// The loaded model; an instance keeps it between calls. A failed load is not cached,
    /// so a repaired model is picked up by the next call.
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
    /// The text-to-token encoder of the model, read at the first prompt. Unlike the engine, a
    /// failure is kept: without `tokenizer.json` prompts are ignored, not retried every call.
    static PROMPTS: RefCell<Option<Result<bpe::Encoder, String>>> = const { RefCell::new(None) };
}

/// The model file that turns text into tokens.
const TOKENIZER: &str = "tokenizer.json";

/// Who the plugin is: the same recogniser under two ids with their own settings.
pub struct Identity {
    pub id: &'static str,
    pub name: &'static str,
    /// The `encoder_context` when the setting is absent.
    pub encoder_context: EncoderContext,
}

fn read_error(err: model::ModelError) -> ReadError {
    match err {
        model::ModelError::NotGranted(m) => ReadError::Denied(m),
        model::ModelError::Unavailable(m) => ReadError::Unavailable(m),
    }
}

/// The whole of the model's `file`, read through the host in pieces.
fn read_model_file(file: &str) -> Result<Vec<u8>, ReadError> {
    let size = model::size(file).map_err(read_error)?;
    load::read_whole(size, |offset| model::read(file, offset, MODEL_READ)).map_err(read_error)
}

fn load_error(plugin: &Identity, err: LoadError) -> PluginError {
    match err {
        LoadError::Denied(m) => PluginError::Denied(format!("{m}; set plugins.{}.model to an installed model (scribed models list)", plugin.id)),
        LoadError::Unusable(m) => PluginError::Other(m),
    }
}

fn load_engine(plugin: &Identity) -> Result<Engine, PluginError> {
    let name = model::name().map_err(|err| {
        load_error(plugin, match read_error(err) {
            ReadError::Denied(m) => LoadError::Denied(m),
            ReadError::Unavailable(m) => LoadError::Unusable(m),
        })
    })?;
    let precision = Precision::from_setting(setting("weights").as_deref()).map_err(PluginError::Other)?;
    let context = EncoderContext::from_setting(setting("encoder_context").as_deref(), plugin.encoder_context).map_err(PluginError::Other)?;
    let engine = load::load(&name, precision, read_model_file).map_err(|err| load_error(plugin, err))?.with_encoder_context(context);
    log::log(log::Level::Info, &format!("loaded the Whisper model {name}"));
    Ok(engine)
}

/// The token ids of `prompt`, or none when the model has no usable `tokenizer.json` (said
/// once per instance in the log).
fn prompt_tokens(prompt: &str) -> Vec<u32> {
    PROMPTS.with_borrow_mut(|slot| {
        let encoder = slot.get_or_insert_with(|| {
            let loaded = read_model_file(TOKENIZER)
                .map_err(|(ReadError::Denied(m) | ReadError::Unavailable(m))| m)
                .and_then(|bytes| String::from_utf8(bytes).map_err(|err| err.to_string()))
                .and_then(|json| bpe::Encoder::parse(TOKENIZER, &json));
            if let Err(err) = &loaded {
                log::log(log::Level::Warn, &format!("prompts are ignored: the model's {TOKENIZER} is unusable: {err}"));
            }
            loaded
        });
        encoder.as_ref().map(|encoder| encoder.encode(prompt)).unwrap_or_default()
    })
}

/// The call's audio as samples, read from the host a window at a time.
struct HostAudio {
    samples: usize,
}

impl Samples for HostAudio {
    fn len(&self) -> usize {
        self.samples
    }

    fn read(&mut self, start: usize, count: usize) -> Result<Vec<f32>, String> {
        let end = (start + count).min(self.samples);
        let mut bytes = Vec::with_capacity(end.saturating_sub(start) * SAMPLE_BYTES);
        let (mut offset, stop) = ((start * SAMPLE_BYTES) as u64, (end * SAMPLE_BYTES) as u64);
        while offset < stop {
            let max = u32::try_from(stop - offset).unwrap_or(AUDIO_READ).min(AUDIO_READ);
            let chunk = audio::read(offset, max).map_err(|err| format!("reading the audio failed: {err:?}"))?;
            if chunk.is_empty() {
                break;
            }
            offset += chunk.len() as u64;
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes.chunks_exact(SAMPLE_BYTES).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0).collect())
    }
}

/// What the plugin says of itself.
pub fn describe(plugin: &Identity) -> PluginInfo {
    PluginInfo {
        id: plugin.id.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        name: plugin.name.into(),
        capabilities: Capabilities {
            // Whatever the configured model speaks; English-only models refuse others.
            languages: Vec::new(),
            diarization: false,
            word_timing: true,
            // The host converts every file to its canonical PCM for this plugin.
            encodings: vec![AudioEncoding::Linear16],
            max_file_bytes: None,
        },
    }
}

/// Transcribes the call's audio.
pub fn transcribe(plugin: &Identity, request: BatchRequest) -> Result<BatchTranscript, PluginError> {
    let format = &request.format;
    if format.encoding != AudioEncoding::Linear16 || format.sample_rate as usize != SAMPLE_RATE || format.channels != 1 {
        return Err(PluginError::BadInput(format!(
            "{} reads 16 kHz mono linear16, not {:?} at {} Hz with {} channels",
            plugin.id, format.encoding, format.sample_rate, format.channels
        )));
    }
    if ENGINE.with_borrow(Option::is_none) {
        let engine = load_engine(plugin)?;
        ENGINE.with_borrow_mut(|slot| *slot = Some(engine));
    }
    let mut audio = HostAudio { samples: usize::try_from(request.size).unwrap_or(usize::MAX) / SAMPLE_BYTES };
    let total = audio.samples.max(1);
    let mut logged = 0;
    let mut progress = |done: usize| {
        let percent = done * 100 / total;
        if percent >= logged + PROGRESS_STEP && percent < 100 {
            logged = percent - percent % PROGRESS_STEP;
            log::log(log::Level::Debug, &format!("transcribed {logged} %"));
        }
    };
    let previous = request.prompt.as_deref().filter(|p| !p.trim().is_empty()).map(prompt_tokens).unwrap_or_default();
    let task = match request.task {
        RequestTask::Transcribe => Task::Transcribe,
        RequestTask::Translate => Task::Translate,
    };
    let transcript = ENGINE
        .with_borrow(|engine| match engine {
            Some(engine) => engine.transcribe_after(&mut audio, request.language.as_deref(), &previous, task, &mut progress),
            None => Err(TranscribeError::Inference("the model is not loaded".to_string())),
        })
        .map_err(|err| match err {
            TranscribeError::Language(m) => PluginError::BadInput(m),
            // The host's file went away or could not be read: worth another attempt.
            TranscribeError::Audio(m) => PluginError::Unavailable(m),
            TranscribeError::Inference(m) => PluginError::Other(m),
        })?;
    let words = output::words(&transcript.segments, 0)
        .into_iter()
        .map(|w| Word { text: w.text, punctuated: w.punctuated, start_ms: w.start_ms, end_ms: w.end_ms, confidence: w.confidence, speaker: None })
        .collect();
    let utterances = output::utterances(&transcript.segments, 0)
        .into_iter()
        .map(|u| Utterance { text: u.text, start_ms: u.start_ms, end_ms: u.end_ms, confidence: u.confidence, speaker: None })
        .collect();
    Ok(BatchTranscript {
        words,
        language: transcript.language,
        duration_ms: Some(ms(transcript.duration)),
        structure: TranscriptStructure { paragraphs: Vec::new(), utterances },
        notes: Vec::new(),
    })
}
