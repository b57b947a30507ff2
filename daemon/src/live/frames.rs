//! Canonical audio frames on the session's timeline, and the framer that cuts whatever a
//! source delivers (a device callback's buffer, a browser's message) into frames of equal
//! length.

use std::sync::Arc;

use crate::audio::TARGET_RATE;

/// Samples per ms at the canonical rate.
pub const SAMPLES_PER_MS: u64 = TARGET_RATE as u64 / 1000;

/// A frame of 16 kHz mono audio.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Position of the first sample on the session's timeline, ms.
    pub start_ms: u64,
    pub samples: Arc<[i16]>,
}

impl Frame {
    pub fn duration_ms(&self) -> u64 {
        self.samples.len() as u64 / SAMPLES_PER_MS
    }

    pub fn end_ms(&self) -> u64 {
        self.start_ms + self.duration_ms()
    }

    /// Little-endian bytes, as plugins receive audio.
    pub fn bytes(&self) -> Vec<u8> {
        self.samples.iter().flat_map(|s| s.to_le_bytes()).collect()
    }
}

/// What the capture side hands the provider side, in order.
#[derive(Debug)]
pub enum Feed {
    /// A frame, and whether the level gate lets it through to a cloud provider.
    Frame(Frame, bool),
    /// The client asked for the words of the audio so far to be made final now (Deepgram's
    /// `Finalize`), without ending the session.
    Finalize,
}

/// Cuts a stream of samples into frames of `frame_ms`.
pub struct Framer {
    frame_samples: usize,
    pending: Vec<i16>,
    /// Samples framed so far: the timeline's clock.
    position: u64,
}

impl Framer {
    pub fn new(frame_ms: u32) -> Framer {
        let frame_samples = (u64::from(frame_ms) * SAMPLES_PER_MS) as usize;
        Framer { frame_samples, pending: Vec::with_capacity(frame_samples), position: 0 }
    }

    /// Adds samples; returns the frames they complete.
    pub fn push(&mut self, mut samples: &[i16]) -> Vec<Frame> {
        let mut frames = Vec::new();
        while !samples.is_empty() {
            let take = (self.frame_samples - self.pending.len()).min(samples.len());
            self.pending.extend_from_slice(&samples[..take]);
            samples = &samples[take..];
            if self.pending.len() == self.frame_samples {
                frames.push(self.emit());
            }
        }
        frames
    }

    /// The last, shorter frame, if any samples are left (whole ms only).
    pub fn flush(&mut self) -> Option<Frame> {
        let whole = self.pending.len() - self.pending.len() % SAMPLES_PER_MS as usize;
        self.pending.truncate(whole);
        (!self.pending.is_empty()).then(|| self.emit())
    }

    fn emit(&mut self) -> Frame {
        let samples: Arc<[i16]> = std::mem::take(&mut self.pending).into();
        let frame = Frame { start_ms: self.position / SAMPLES_PER_MS, samples };
        self.position += frame.samples.len() as u64;
        self.pending.reserve(self.frame_samples);
        frame
    }

    /// Audio framed so far, ms.
    pub fn position_ms(&self) -> u64 {
        self.position / SAMPLES_PER_MS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_equal_and_contiguous() {
        let mut framer = Framer::new(20);
        let mut frames = framer.push(&[1; 500]);
        frames.extend(framer.push(&[2; 300]));
        frames.extend(framer.flush());
        let shape: Vec<(u64, usize)> = frames.iter().map(|f| (f.start_ms, f.samples.len())).collect();
        assert_eq!(shape, vec![(0, 320), (20, 320), (40, 160)]);
        assert_eq!(frames[1].samples[..180], [1; 180][..]);
        assert_eq!(frames[1].samples[180..], [2; 140][..]);
        assert_eq!(framer.position_ms(), 50);
        assert!(framer.flush().is_none());
    }
}
