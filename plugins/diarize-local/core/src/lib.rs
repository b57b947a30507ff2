//! Who spoke when, offline: the engine of Scribe's diarize-local plugin, built for
//! `wasm32-unknown-unknown` (one thread, no filesystem: the plugin hands in model bytes and
//! samples) and tested on the host.
//!
//! - [`pth`]: PyTorch checkpoints read from memory;
//! - [`layers`]: the linear, LSTM and activation layers the networks share;
//! - [`segmentation`]: pyannote segmentation-3.0, 10 s windows to local speakers per frame;
//! - [`fbank`]: Kaldi's log mel filterbank, CAM++'s input;
//! - [`campplus`]: CAM++, a stretch of one voice to a speaker embedding;
//! - [`cluster`]: embeddings to speakers;
//! - [`pipeline`]: a whole recording to speaker turns (Silero VAD from `scribe-silero`).

pub mod campplus;
pub mod cluster;
pub mod fbank;
pub mod layers;
pub mod pipeline;
pub mod pth;
pub mod segmentation;

/// Why diarization failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Checkpoint(#[from] pth::PthError),
    #[error("tensor maths failed: {0}")]
    Compute(#[from] candle_core::Error),
    /// A model file could not be read or is not the model it should be.
    #[error("the diarizer's model file {file} is unusable: {message}")]
    Model { file: String, message: String },
}
