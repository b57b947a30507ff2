//! Audio ingest: any accepted file → the canonical 16 kHz mono s16le stream.
//!
//! [`decode`] probes and decodes with symphonia packet by packet and down-mixes to mono,
//! [`resample`] converts the rate with rubato, [`peaks`] keeps a small waveform summary for
//! the UI. Nothing holds the whole file: memory stays bounded by one packet and one
//! resampler chunk, however long the recording.

pub mod decode;
pub mod peaks;
pub mod resample;

use std::path::Path;

/// The daemon's canonical sample rate.
pub const TARGET_RATE: u32 = 16_000;

/// Why a file could not be converted. Messages are meant for the user.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("unsupported audio: {0}")]
    Unsupported(String),
    /// The container is fine but its codec has no decoder here (Opus, for one).
    #[error("the audio is {codec}, which this daemon cannot decode; convert it to FLAC, WAV or MP3")]
    UnsupportedCodec { codec: String },
    #[error("corrupt or unsupported audio: {0}")]
    Corrupt(String),
    #[error("reading the audio failed: {0}")]
    Io(#[from] std::io::Error),
}

/// What a conversion found out about the file.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioSummary {
    /// Codec name as symphonia reports it.
    pub codec: String,
    pub source_rate: u32,
    pub source_channels: usize,
    /// Samples written at [`TARGET_RATE`].
    pub samples: u64,
    /// Length of the converted audio.
    pub duration_ms: u64,
    /// Peak level per [`peaks::WINDOW_MS`], 0..=255.
    pub peaks: Vec<u8>,
}

/// Converts `path` to 16 kHz mono s16le, handing the samples to `sink` in chunks.
pub fn convert(
    path: &Path,
    sink: &mut dyn FnMut(&[i16]) -> std::io::Result<()>,
) -> Result<AudioSummary, AudioError> {
    let mut decoder = decode::MonoDecoder::open(path)?;
    let mut resampler = resample::ToCanonical::new(decoder.sample_rate())?;
    let mut peaks = peaks::Peaks::default();
    let mut samples = 0u64;
    let mut emit = |chunk: &[i16]| -> std::io::Result<()> {
        peaks.push(chunk);
        samples += chunk.len() as u64;
        sink(chunk)
    };
    while let Some(mono) = decoder.next_chunk()? {
        resampler.push(mono, &mut emit)?;
    }
    resampler.finish(&mut emit)?;
    Ok(AudioSummary {
        codec: decoder.codec_name(),
        source_rate: decoder.sample_rate(),
        source_channels: decoder.channels(),
        samples,
        duration_ms: samples * 1000 / u64::from(TARGET_RATE),
        peaks: peaks.finish(),
    })
}
