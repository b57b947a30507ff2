//! Audio ingest: any accepted file → the canonical 16 kHz mono s16le stream.
//!
//! [`decode`] probes and decodes with symphonia packet by packet and down-mixes to mono,
//! [`resample`] converts the rate with rubato, [`peaks`] keeps a small waveform summary for
//! the UI. Nothing holds the whole file: memory stays bounded by one packet and one
//! resampler chunk, however long the recording. [`isolated`] runs all of it in a child
//! process for files from users, so a decoder that crashes or hangs costs one file, not the
//! daemon. [`store`] keeps each file once, named by its SHA-256.

pub mod decode;
pub mod isolated;
pub mod peaks;
pub mod resample;
pub mod store;

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

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
    /// Longer than `files.max_duration_secs`: refused from the header when it declares its
    /// length, or stopped once decoding passes the limit.
    #[error("the audio is longer than {}, the limit set by files.max_duration_secs", humantime::format_duration(*.limit))]
    TooLong { limit: Duration },
    #[error("reading the audio failed: {0}")]
    Io(#[from] std::io::Error),
}

/// What a conversion found out about the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    convert_bounded(path, None, sink)
}

/// [`convert`], refusing audio longer than `max_duration`: at the header when it declares
/// its length, else as soon as decoding passes the limit (a tiny file of compressed
/// silence can decode to hours).
pub fn convert_bounded(
    path: &Path,
    max_duration: Option<Duration>,
    sink: &mut dyn FnMut(&[i16]) -> std::io::Result<()>,
) -> Result<AudioSummary, AudioError> {
    let mut decoder = decode::MonoDecoder::open(path)?;
    let too_long = |limit: Duration| AudioError::TooLong { limit };
    let max_source_frames = max_duration.map(|d| d.as_millis() as u64 * u64::from(decoder.sample_rate()) / 1000);
    if let (Some(limit), Some(max), Some(declared)) = (max_duration, max_source_frames, decoder.declared_frames())
        && declared > max
    {
        return Err(too_long(limit));
    }
    let mut resampler = resample::ToCanonical::new(decoder.sample_rate())?;
    let mut peaks = peaks::Peaks::default();
    let mut samples = 0u64;
    let mut emit = |chunk: &[i16]| -> std::io::Result<()> {
        peaks.push(chunk);
        samples += chunk.len() as u64;
        sink(chunk)
    };
    let mut decoded = 0u64;
    while let Some(mono) = decoder.next_chunk()? {
        decoded += mono.len() as u64;
        if let (Some(limit), Some(max)) = (max_duration, max_source_frames)
            && decoded > max
        {
            return Err(too_long(limit));
        }
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
