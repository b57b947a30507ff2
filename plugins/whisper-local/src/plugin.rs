//! The `stt-batch` exports: the model is read once per instance through the host's `model`
//! capability, the audio (16 kHz mono linear16, converted by the host) through `audio`, and
//! the transcript goes back as words with times plus one utterance per segment.

use std::cell::RefCell;

use scribe_plugin_api::stt_batch::scribe::plugin::types::{
    AudioEncoding, Capabilities, PluginError, PluginInfo, TranscriptStructure, Utterance, Word,
};
use scribe_plugin_api::stt_batch::scribe::plugin::{audio, log, model};
use scribe_plugin_api::stt_batch::{BatchRequest, BatchTranscript, Guest};

use crate::mel::SAMPLE_RATE;
use crate::transcribe::{Engine, ModelFiles, Samples, Segment, TranscribeError};

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
}

pub struct WhisperLocal;

fn model_error(err: model::ModelError) -> PluginError {
    match err {
        model::ModelError::NotGranted(message) => PluginError::Denied(format!(
            "{message}; set plugins.whisper-local.model to an installed model (scribed models list)"
        )),
        model::ModelError::Unavailable(message) => PluginError::Other(format!("the model is unusable: {message}")),
    }
}

/// Reads a whole model file.
fn read_model_file(name: &str) -> Result<Vec<u8>, model::ModelError> {
    let size = model::size(name)?;
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    loop {
        let chunk = model::read(name, bytes.len() as u64, MODEL_READ)?;
        if chunk.is_empty() {
            break;
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn load() -> Result<Engine, PluginError> {
    let name = model::name().map_err(model_error)?;
    let config = read_model_file("config.json").map_err(model_error)?;
    // Older conversions ship vocabulary.txt, newer ones vocabulary.json.
    let (vocab_name, vocab) = match read_model_file("vocabulary.txt") {
        Ok(bytes) => ("vocabulary.txt", bytes),
        Err(model::ModelError::Unavailable(_)) => ("vocabulary.json", read_model_file("vocabulary.json").map_err(model_error)?),
        Err(err) => return Err(model_error(err)),
    };
    let bin = read_model_file("model.bin").map_err(model_error)?;
    let engine = Engine::load(ModelFiles {
        model_bin: ("model.bin", &bin),
        config_json: ("config.json", &config),
        vocabulary: (vocab_name, &vocab),
    })
    .map_err(|err| PluginError::Other(format!("the model {name} is unusable: {err}")))?;
    log::log(log::Level::Info, &format!("loaded the Whisper model {name}"));
    Ok(engine)
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

fn ms(seconds: f32) -> u64 {
    (seconds.max(0.0) * 1000.0).round() as u64
}

/// The lower-case, unpunctuated form of a displayed word (`"Don't,"` → `"don't"`).
fn plain(word: &str) -> String {
    word.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase()
}

fn words_of(segment: &Segment) -> impl Iterator<Item = Word> + '_ {
    segment.words.iter().filter(|w| !plain(&w.word).is_empty()).map(|w| Word {
        text: plain(&w.word),
        punctuated: w.word.trim().to_string(),
        start_ms: ms(w.start),
        end_ms: ms(w.end).max(ms(w.start)),
        confidence: w.probability.clamp(0.0, 1.0),
        speaker: None,
    })
}

impl Guest for WhisperLocal {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: "whisper-local".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            name: "Whisper (offline)".into(),
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

    fn transcribe(request: BatchRequest) -> Result<BatchTranscript, PluginError> {
        let format = &request.format;
        if format.encoding != AudioEncoding::Linear16 || format.sample_rate as usize != SAMPLE_RATE || format.channels != 1 {
            return Err(PluginError::BadInput(format!(
                "whisper-local reads 16 kHz mono linear16, not {:?} at {} Hz with {} channels",
                format.encoding, format.sample_rate, format.channels
            )));
        }
        let loaded = ENGINE.with_borrow(Option::is_some);
        if !loaded {
            let engine = load()?;
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
        let transcript = ENGINE
            .with_borrow(|engine| match engine {
                Some(engine) => engine.transcribe(&mut audio, request.language.as_deref(), &mut progress),
                None => Err(TranscribeError::Inference("the model is not loaded".to_string())),
            })
            .map_err(|err| match err {
                TranscribeError::Language(m) => PluginError::BadInput(m),
                // The host's file went away or could not be read: worth another attempt.
                TranscribeError::Audio(m) => PluginError::Unavailable(m),
                TranscribeError::Inference(m) => PluginError::Other(m),
            })?;
        let utterances = transcript
            .segments
            .iter()
            .map(|s| Utterance {
                text: s.text.trim().to_string(),
                start_ms: ms(s.start),
                end_ms: ms(s.end).max(ms(s.start)),
                confidence: s.avg_logprob.exp().clamp(0.0, 1.0),
                speaker: None,
            })
            .collect();
        Ok(BatchTranscript {
            words: transcript.segments.iter().flat_map(words_of).collect(),
            language: transcript.language,
            duration_ms: Some(ms(transcript.duration)),
            structure: TranscriptStructure { paragraphs: Vec::new(), utterances },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displayed_words_lose_punctuation_but_not_apostrophes() {
        assert_eq!(plain(" Don't,"), "don't");
        assert_eq!(plain(" \"Hi!\""), "hi");
        assert_eq!(plain(" ..."), "");
        assert_eq!(ms(1.2345), 1235);
        assert_eq!(ms(-0.1), 0);
    }
}
