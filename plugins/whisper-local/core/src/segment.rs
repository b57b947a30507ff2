//! Live audio cut into speech segments for the live plugin: an energy gate with hangover
//! finds speech; a segment closes at the first pause after it, or at a length the model can
//! take in one window. Silence before speech is dropped but for a short pre-roll, so an
//! always-on microphone holds little memory and costs no inference.

use crate::mel::SAMPLE_RATE;

/// Samples per loudness measurement (20 ms).
const FRAME: usize = SAMPLE_RATE / 50;
/// A 20 ms frame louder than this RMS (-40 dBFS) counts as speech: well above a quiet room
/// and a microphone's self-noise, well below conversational speech at the usual gain.
const SPEECH_RMS: f32 = 0.01;
/// Silence that closes a segment: a pause between sentences, longer than the gaps between
/// words.
const PAUSE: usize = SAMPLE_RATE * 7 / 10;
/// Audio kept from before the first loud frame, so soft word onsets are not clipped.
const PRE_ROLL: usize = SAMPLE_RATE * 3 / 10;
/// Longest segment: under the model's 30 s window, with room for the pre-roll.
const MAX_SEGMENT: usize = SAMPLE_RATE * 28;

/// A closed segment.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechSegment {
    /// Position of the first sample since the stream started.
    pub start: usize,
    pub samples: Vec<f32>,
    /// True when a pause closed it (the speaker stopped); false when it reached the length
    /// limit or the stream ended.
    pub paused: bool,
}

/// The segmenter of one live stream.
#[derive(Debug, Default)]
pub struct Segmenter {
    buffer: Vec<f32>,
    /// Stream position of `buffer[0]`.
    start: usize,
    /// Samples not yet forming a whole frame.
    partial: Vec<f32>,
    in_speech: bool,
    silence: usize,
}

fn rms(frame: &[f32]) -> f32 {
    (frame.iter().map(|s| s * s).sum::<f32>() / frame.len().max(1) as f32).sqrt()
}

impl Segmenter {
    /// Adds samples; returns the segments they closed.
    pub fn push(&mut self, samples: &[f32]) -> Vec<SpeechSegment> {
        self.partial.extend_from_slice(samples);
        let whole = self.partial.len() / FRAME * FRAME;
        let frames: Vec<f32> = self.partial.drain(..whole).collect();
        let mut closed = Vec::new();
        for frame in frames.chunks(FRAME) {
            self.buffer.extend_from_slice(frame);
            let loud = rms(frame) > SPEECH_RMS;
            if !self.in_speech {
                if loud {
                    self.in_speech = true;
                    self.silence = 0;
                } else if self.buffer.len() > PRE_ROLL {
                    let drop = self.buffer.len() - PRE_ROLL;
                    self.buffer.drain(..drop);
                    self.start += drop;
                }
                continue;
            }
            self.silence = if loud { 0 } else { self.silence + FRAME };
            if self.silence >= PAUSE {
                closed.push(self.cut(true));
                self.in_speech = false;
            } else if self.buffer.len() >= MAX_SEGMENT {
                closed.push(self.cut(false));
            }
        }
        closed
    }

    /// Ends the stream: the segment in progress, if it holds speech.
    pub fn finish(&mut self) -> Option<SpeechSegment> {
        let mut rest = std::mem::take(&mut self.partial);
        self.buffer.append(&mut rest);
        let speech = self.in_speech || self.buffer.chunks(FRAME).any(|f| rms(f) > SPEECH_RMS);
        self.in_speech = false;
        let segment = self.cut(false);
        speech.then_some(segment)
    }

    fn cut(&mut self, paused: bool) -> SpeechSegment {
        let samples = std::mem::take(&mut self.buffer);
        let start = self.start;
        self.start += samples.len();
        self.silence = 0;
        SpeechSegment { start, samples, paused }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(seconds: f32) -> Vec<f32> {
        (0..(seconds * SAMPLE_RATE as f32) as usize).map(|i| 0.3 * (i as f32 * 0.1).sin()).collect()
    }

    fn quiet(seconds: f32) -> Vec<f32> {
        vec![0.0005; (seconds * SAMPLE_RATE as f32) as usize]
    }

    /// Feeds `audio` in 20 ms frames, as the host sends it.
    fn feed(s: &mut Segmenter, audio: &[f32]) -> Vec<SpeechSegment> {
        audio.chunks(FRAME).flat_map(|f| s.push(f)).collect()
    }

    #[test]
    fn a_pause_closes_a_segment_and_silence_alone_closes_nothing() {
        let mut s = Segmenter::default();
        assert!(feed(&mut s, &quiet(5.0)).is_empty(), "silence is not speech");
        let closed = feed(&mut s, &[tone(2.0), quiet(1.0)].concat());
        assert_eq!(closed.len(), 1);
        let seg = &closed[0];
        assert!(seg.paused);
        // Starts with the pre-roll before the tone, at 5 s into the stream.
        assert_eq!(seg.start, 5 * SAMPLE_RATE - PRE_ROLL);
        assert_eq!(seg.samples.len(), PRE_ROLL + 2 * SAMPLE_RATE + PAUSE);
        // The rest of the pause is dropped, and nothing more is pending.
        assert!(feed(&mut s, &quiet(3.0)).is_empty());
        assert_eq!(s.finish(), None);
    }

    #[test]
    fn long_speech_is_cut_at_the_window_limit_and_the_end_flushes() {
        let mut s = Segmenter::default();
        let closed = feed(&mut s, &tone(40.0));
        assert_eq!(closed.len(), 1);
        assert!(!closed[0].paused);
        assert_eq!((closed[0].start, closed[0].samples.len()), (0, MAX_SEGMENT));
        // Odd-sized pushes are fine; the rest comes out at the end, contiguous.
        s.push(&tone(0.013));
        let last = s.finish().expect("speech pending");
        assert_eq!(last.start, MAX_SEGMENT);
        assert_eq!(last.start + last.samples.len(), 40 * SAMPLE_RATE + (0.013 * SAMPLE_RATE as f32) as usize);
    }
}
