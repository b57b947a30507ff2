//! `diarize-local`: who spoke when, offline (`diarizer` world), with no network capability
//! at all. The networks are read once per instance through the host's `model` capability,
//! the audio (16 kHz mono linear16, converted by the host) through `audio`; progress goes to
//! `work-progress`. The engine is `scribe-diarize` (`core/`).

use std::cell::RefCell;

use scribe_diarize::cluster::SpeakerCount as Count;
use scribe_diarize::campplus::DIMENSION;
use scribe_diarize::pipeline::{self, Models};
use scribe_plugin_api::diarizer::types::{AudioEncoding, Capabilities, PluginError, PluginInfo};
use scribe_plugin_api::diarizer::{Diarization, DiarizeRequest, Guest, SpeakerCount, SpeakerTurn, audio, log, model, work_progress};

/// Bytes per model read; the host allows up to 16 MiB a call.
const MODEL_READ: u32 = 16 * 1024 * 1024;
/// Bytes per audio read; the host allows up to 1 MiB a call.
const AUDIO_READ: u32 = 1024 * 1024;
/// Bytes per sample of linear16.
const SAMPLE_BYTES: usize = 2;
/// Progress is reported in thousandths.
const PROGRESS_UNITS: u64 = 1000;

thread_local! {
    /// The loaded networks; an instance keeps them between calls. A failed load is not
    /// cached, so a repaired model folder is picked up by the next call.
    static MODELS: RefCell<Option<Models>> = const { RefCell::new(None) };
}

/// The whole of the model's `file`, read through the host in pieces.
fn read_model_file(file: &str) -> Result<Vec<u8>, String> {
    let message = |err: model::ModelError| match err {
        model::ModelError::NotGranted(m) | model::ModelError::Unavailable(m) => m,
    };
    let size = model::size(file).map_err(message)?;
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    loop {
        let chunk = model::read(file, bytes.len() as u64, MODEL_READ).map_err(message)?;
        if chunk.is_empty() {
            return Ok(bytes);
        }
        bytes.extend_from_slice(&chunk);
    }
}

/// The call's audio as samples, converted a read at a time (an hour's bytes are never held
/// beside its samples).
fn read_audio(size: u64) -> Result<Vec<f32>, PluginError> {
    let mut samples = Vec::with_capacity(usize::try_from(size).unwrap_or(0) / SAMPLE_BYTES);
    let mut offset = 0u64;
    while offset < size {
        let chunk = audio::read(offset, AUDIO_READ).map_err(|err| PluginError::Other(format!("reading the audio failed: {err:?}")))?;
        if chunk.is_empty() {
            break;
        }
        // Reads come in whole samples: the host's chunks are even in size.
        offset += chunk.len() as u64;
        samples.extend(chunk.chunks_exact(SAMPLE_BYTES).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0));
    }
    Ok(samples)
}

fn count(requested: SpeakerCount) -> Count {
    match requested {
        SpeakerCount::Any => Count::Any,
        SpeakerCount::Exact(n) => Count::Exact(n as usize),
        SpeakerCount::Between((min, max)) => Count::Between { min: min as usize, max: max as usize },
    }
}

struct DiarizeLocal;

impl Guest for DiarizeLocal {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: "diarize-local".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            name: "Speakers (offline)".into(),
            capabilities: Capabilities {
                languages: Vec::new(),
                diarization: true,
                word_timing: false,
                encodings: vec![AudioEncoding::Linear16],
                max_file_bytes: None,
            },
        }
    }

    fn diarize(request: DiarizeRequest) -> Result<Diarization, PluginError> {
        if MODELS.with_borrow(Option::is_none) {
            model::name().map_err(|_| PluginError::Denied("no model is configured: set plugins.diarize-local.model to pyannote-campplus (scribed models install pyannote-campplus)".into()))?;
            let models = Models::load(read_model_file).map_err(|err| PluginError::Other(err.to_string()))?;
            log::log(log::Level::Info, "loaded the diarizer's networks");
            MODELS.with_borrow_mut(|slot| *slot = Some(models));
        }
        let samples = read_audio(request.size)?;
        let mut progress = |done: f32| work_progress::report((done.clamp(0.0, 1.0) * PROGRESS_UNITS as f32) as u64, PROGRESS_UNITS);
        let result = MODELS
            .with_borrow(|models| models.as_ref().map(|models| pipeline::diarize(models, &samples, count(request.speakers), &mut progress)))
            .ok_or_else(|| PluginError::Other("the diarizer's networks are not loaded".into()))?
            .map_err(|err| PluginError::Other(err.to_string()))?;
        for warning in &result.warnings {
            log::log(log::Level::Warn, warning);
        }
        Ok(Diarization {
            turns: result.turns.iter().map(|t| SpeakerTurn { start_ms: t.start_ms, end_ms: t.end_ms, speaker: t.speaker as u32 }).collect(),
            speakers: result.speakers,
            dimension: DIMENSION as u32,
            warnings: result.warnings,
        })
    }
}

scribe_plugin_api::register_plugin!(diarizer, DiarizeLocal);
