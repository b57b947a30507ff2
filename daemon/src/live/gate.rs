//! Level metering and the silence gate: an always-on microphone should not stream silence
//! to a paid API. Frames whose level stays under the threshold are recorded but not sent;
//! speech opens the gate together with a little audio from before it (pre-roll), and the gate
//! stays open a while after the level drops (hangover) so quiet word endings survive.

use std::collections::VecDeque;

use super::frames::Frame;

/// Full scale of a 16-bit sample.
const FULL_SCALE: f32 = 32768.0;

/// RMS and peak of some audio, as fractions of full scale.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Level {
    pub rms: f32,
    pub peak: f32,
}

/// The level of `samples`.
pub fn level(samples: &[i16]) -> Level {
    if samples.is_empty() {
        return Level::default();
    }
    let (mut sum, mut peak) = (0f64, 0u16);
    for &s in samples {
        sum += f64::from(s) * f64::from(s);
        peak = peak.max(s.unsigned_abs());
    }
    Level { rms: ((sum / samples.len() as f64).sqrt() as f32) / FULL_SCALE, peak: f32::from(peak) / FULL_SCALE }
}

/// dBFS as a linear RMS level.
pub fn db_to_linear(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

/// Averages the level over intervals for the meter.
pub struct Meter {
    interval_ms: u64,
    sum_squares: f64,
    samples: u64,
    peak: f32,
    elapsed_ms: u64,
}

impl Meter {
    pub fn new(interval_ms: u32) -> Meter {
        Meter { interval_ms: u64::from(interval_ms), sum_squares: 0.0, samples: 0, peak: 0.0, elapsed_ms: 0 }
    }

    /// Adds a frame; returns the interval's level once an interval is full.
    pub fn push(&mut self, frame: &Frame, level: Level) -> Option<Level> {
        let n = frame.samples.len() as u64;
        self.sum_squares += f64::from(level.rms) * f64::from(level.rms) * n as f64;
        self.samples += n;
        self.peak = self.peak.max(level.peak);
        self.elapsed_ms += frame.duration_ms();
        if self.elapsed_ms < self.interval_ms {
            return None;
        }
        let rms = (self.sum_squares / self.samples.max(1) as f64).sqrt() as f32;
        let out = Level { rms, peak: self.peak };
        *self = Meter::new(self.interval_ms as u32);
        Some(out)
    }
}

/// What the gate does with a frame.
#[derive(Debug)]
pub struct Verdict {
    /// Earlier silent frames to send first, oldest first.
    pub preroll: Vec<Frame>,
    /// Whether the frame itself is sent.
    pub send: bool,
}

/// The silence gate.
pub struct Gate {
    threshold: f32,
    hangover_ms: u64,
    preroll_ms: u64,
    /// Recent silent frames, sent if speech follows.
    preroll: VecDeque<Frame>,
    /// Hangover left, ms; the gate is open while above zero.
    open_for_ms: u64,
    /// Continuous silence so far, ms (for the idle stop).
    silent_ms: u64,
}

impl Gate {
    pub fn new(threshold_db: f32, hangover_ms: u32, preroll_ms: u32) -> Gate {
        Gate {
            threshold: db_to_linear(threshold_db),
            hangover_ms: u64::from(hangover_ms),
            preroll_ms: u64::from(preroll_ms),
            preroll: VecDeque::new(),
            open_for_ms: 0,
            silent_ms: 0,
        }
    }

    /// Takes a frame and its level; says whether it is sent, and which earlier silent frames
    /// go out before it (the pre-roll, when speech starts).
    pub fn push(&mut self, frame: &Frame, level: Level) -> Verdict {
        if level.rms >= self.threshold {
            self.silent_ms = 0;
            self.open_for_ms = self.hangover_ms;
            return Verdict { preroll: self.preroll.drain(..).collect(), send: true };
        }
        self.silent_ms += frame.duration_ms();
        if self.open_for_ms > 0 {
            self.open_for_ms = self.open_for_ms.saturating_sub(frame.duration_ms());
            return Verdict { preroll: Vec::new(), send: true };
        }
        self.preroll.push_back(frame.clone());
        while self.preroll.iter().map(Frame::duration_ms).sum::<u64>() > self.preroll_ms {
            self.preroll.pop_front();
        }
        Verdict { preroll: Vec::new(), send: false }
    }

    /// Continuous silence so far, ms.
    pub fn silent_ms(&self) -> u64 {
        self.silent_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(start_ms: u64, amplitude: i16) -> Frame {
        Frame { start_ms, samples: vec![amplitude; 320].into() }
    }

    #[test]
    fn levels() {
        let cases: [(&[i16], f32, f32); 3] = [(&[], 0.0, 0.0), (&[0, 0], 0.0, 0.0), (&[16384, -16384], 0.5, 0.5)];
        for (samples, rms, peak) in cases {
            let got = level(samples);
            assert!((got.rms - rms).abs() < 1e-6 && (got.peak - peak).abs() < 1e-6, "{samples:?}: {got:?}");
        }
        assert!((db_to_linear(-20.0) - 0.1).abs() < 1e-6);
    }

    #[test]
    fn the_gate_sends_speech_with_preroll_and_hangover() {
        // Threshold -40 dBFS = 0.01 of full scale = 328; frames are 20 ms.
        let mut gate = Gate::new(-40.0, 40, 40);
        let mut sent = Vec::new();
        let loudness = [0, 0, 0, 5000, 5000, 0, 0, 0, 0, 5000];
        for (i, amplitude) in loudness.into_iter().enumerate() {
            let start = i as u64 * 20;
            let verdict = gate.push(&frame(start, amplitude), level(&[amplitude]));
            sent.extend(verdict.preroll.iter().map(|f| f.start_ms));
            if verdict.send {
                sent.push(start);
            }
        }
        // Two silent frames of pre-roll before each onset, two of hangover after speech.
        assert_eq!(sent, vec![20, 40, 60, 80, 100, 120, 140, 160, 180]);
        assert_eq!(gate.silent_ms(), 0);
    }

    #[test]
    fn the_meter_reports_once_per_interval() {
        let mut meter = Meter::new(60);
        let reports: Vec<Option<Level>> =
            (0..6).map(|i| meter.push(&frame(i * 20, 100), Level { rms: 0.25, peak: 0.5 })).collect();
        assert_eq!(reports.iter().filter(|r| r.is_some()).count(), 2);
        let report = reports[2].expect("third frame fills the interval");
        assert!((report.rms - 0.25).abs() < 1e-6 && (report.peak - 0.5).abs() < 1e-6);
    }
}
