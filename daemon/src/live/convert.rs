//! Source audio in any rate, channel count and sample format → canonical 16 kHz mono
//! samples: channels are averaged, the rate is converted with the same rubato resampler as
//! files. Byte input (the browser socket) may split samples across messages.

use crate::audio::{AudioError, TARGET_RATE};
use crate::audio::resample::ToCanonical;

/// How source samples are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleFormat {
    /// Signed 16-bit little-endian.
    S16le,
    /// 32-bit float little-endian, -1.0..=1.0.
    F32le,
}

impl SampleFormat {
    fn bytes(self) -> usize {
        match self {
            SampleFormat::S16le => 2,
            SampleFormat::F32le => 4,
        }
    }
}

/// Converts one source's audio.
pub struct Converter {
    channels: usize,
    format: SampleFormat,
    resampler: ToCanonical,
    /// Bytes of an incomplete frame (all channels of one instant) from the last message.
    carry: Vec<u8>,
    mono: Vec<f32>,
    /// The source is canonical s16le already.
    canonical: bool,
}

impl Converter {
    pub fn new(sample_rate: u32, channels: u16, format: SampleFormat) -> Result<Converter, AudioError> {
        if channels == 0 {
            return Err(AudioError::Unsupported("audio with no channels".into()));
        }
        let canonical = sample_rate == TARGET_RATE && channels == 1 && format == SampleFormat::S16le;
        Ok(Converter {
            channels: usize::from(channels),
            format,
            resampler: ToCanonical::new(sample_rate)?,
            carry: Vec::new(),
            mono: Vec::new(),
            canonical,
        })
    }

    /// Interleaved float samples (a capture callback's buffer).
    pub fn push_f32(&mut self, interleaved: &[f32]) -> Result<Vec<i16>, AudioError> {
        self.mono.clear();
        let scale = 1.0 / self.channels as f32;
        self.mono.extend(interleaved.chunks_exact(self.channels).map(|frame| frame.iter().sum::<f32>() * scale));
        self.resample()
    }

    /// Interleaved samples as bytes in the source's format, split anywhere.
    pub fn push_bytes(&mut self, bytes: &[u8]) -> Result<Vec<i16>, AudioError> {
        let frame_bytes = self.format.bytes() * self.channels;
        self.carry.extend_from_slice(bytes);
        let whole = self.carry.len() - self.carry.len() % frame_bytes;
        if self.canonical {
            // Already 16 kHz mono s16le: passed on sample for sample.
            let out = self.carry[..whole].chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
            self.carry.drain(..whole);
            return Ok(out);
        }
        let samples: Vec<f32> = match self.format {
            SampleFormat::S16le => {
                self.carry[..whole].chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0).collect()
            }
            SampleFormat::F32le => self.carry[..whole]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .map(|s| if s.is_finite() { s } else { 0.0 })
                .collect(),
        };
        self.carry.drain(..whole);
        self.push_f32(&samples)
    }

    fn resample(&mut self) -> Result<Vec<i16>, AudioError> {
        let mut out = Vec::new();
        let mono = std::mem::take(&mut self.mono);
        let result = self.resampler.push(&mono, &mut |chunk| {
            out.extend_from_slice(chunk);
            Ok(())
        });
        self.mono = mono;
        result?;
        Ok(out)
    }

    /// What the resampler still holds, at the end of the source.
    pub fn finish(self) -> Result<Vec<i16>, AudioError> {
        let mut out = Vec::new();
        self.resampler.finish(&mut |chunk| {
            out.extend_from_slice(chunk);
            Ok(())
        })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stereo_48k_bytes_split_anywhere_become_16k_mono_of_the_same_length() {
        // One second of a 440 Hz tone, left and right equal, as s16le.
        let bytes: Vec<u8> = (0..48_000)
            .flat_map(|i| {
                let s = ((i as f32 * 440.0 * std::f32::consts::TAU / 48_000.0).sin() * 10_000.0) as i16;
                [s, s]
            })
            .flat_map(i16::to_le_bytes)
            .collect();
        let mut converter = Converter::new(48_000, 2, SampleFormat::S16le).expect("converter");
        let mut out = Vec::new();
        for piece in bytes.chunks(1001) {
            out.extend(converter.push_bytes(piece).expect("push"));
        }
        out.extend(converter.finish().expect("finish"));
        assert_eq!(out.len(), 16_000);
        let peak = out.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
        assert!((9_000..=11_000).contains(&peak), "peak {peak}");
    }

    #[test]
    fn the_resampler_tail_is_flushed_when_input_ends_on_a_chunk_boundary() {
        // 48 × 1,024 frames at 48 kHz: nothing is pending at the end, and the flush failed
        // there, losing the tail of every eighth browser session.
        let frames = 48 * 1_024;
        let bytes: Vec<u8> = (0..frames)
            .map(|i| ((i as f32 * 440.0 * std::f32::consts::TAU / 48_000.0).sin() * 10_000.0) as i16)
            .flat_map(i16::to_le_bytes)
            .collect();
        let mut converter = Converter::new(48_000, 1, SampleFormat::S16le).expect("converter");
        let mut out = Vec::new();
        for piece in bytes.chunks(2 * 1_024) {
            out.extend(converter.push_bytes(piece).expect("push"));
        }
        out.extend(converter.finish().expect("the tail flushes"));
        assert_eq!(out.len(), frames / 3);
    }

    #[test]
    fn canonical_input_passes_through_exactly() {
        let mut floats = Converter::new(16_000, 1, SampleFormat::F32le).expect("converter");
        let bytes: Vec<u8> = [0.5f32, -0.25, f32::NAN].iter().flat_map(|s| s.to_le_bytes()).collect();
        assert_eq!(floats.push_bytes(&bytes).expect("push"), vec![16_384, -8_192, 0]);
        let mut pcm = Converter::new(16_000, 1, SampleFormat::S16le).expect("converter");
        let samples = [i16::MIN, -1, 0, 1, i16::MAX];
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut out = pcm.push_bytes(&bytes[..3]).expect("push");
        out.extend(pcm.push_bytes(&bytes[3..]).expect("push"));
        assert_eq!(out, samples);
    }
}
