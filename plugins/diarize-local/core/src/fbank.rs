//! Kaldi's log mel filterbank, the features CAM++ was trained on: 25 ms frames every 10 ms
//! (only whole frames), the DC offset removed, pre-emphasis, Povey's window, the power
//! spectrum of a 512-point FFT, 80 triangular mel bands from 20 Hz to 8 kHz, and the log.
//! The options are 3D-Speaker's (Kaldi's defaults without dither); the arithmetic follows
//! `kaldi-native-fbank`, which the reference check runs.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

/// Samples per second the features are defined for.
const SAMPLE_RATE: f32 = 16_000.0;
/// Samples in one frame: 25 ms.
pub const FRAME_LENGTH: usize = 400;
/// Samples between frames: 10 ms.
pub const FRAME_SHIFT: usize = 160;
/// The FFT size: the frame rounded up to a power of two.
const FFT: usize = 512;
/// Mel bands.
pub const BANDS: usize = 80;
/// Lowest frequency of the mel bands, Hz (the top is the Nyquist frequency).
const LOW_HZ: f32 = 20.0;
/// Kaldi's pre-emphasis coefficient.
const PREEMPHASIS: f32 = 0.97;
/// Exponent of Povey's window (a Hann window raised to it).
const POVEY_POWER: f32 = 0.85;

fn mel(hz: f32) -> f32 {
    1127.0 * (1.0 + hz / 700.0).ln()
}

/// The window, the mel weights and the FFT plan, made once.
pub struct Fbank {
    window: Vec<f32>,
    /// Per band: the first FFT bin it weighs and the weights from there.
    bands: Vec<(usize, Vec<f32>)>,
    fft: Arc<dyn RealToComplex<f32>>,
}

impl std::fmt::Debug for Fbank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fbank")
    }
}

impl Default for Fbank {
    fn default() -> Fbank {
        Fbank::new()
    }
}

impl Fbank {
    pub fn new() -> Fbank {
        let last = (FRAME_LENGTH - 1) as f32;
        let window = (0..FRAME_LENGTH).map(|i| (0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / last).cos()).powf(POVEY_POWER)).collect();
        let (low, high) = (mel(LOW_HZ), mel(SAMPLE_RATE / 2.0));
        let delta = (high - low) / (BANDS + 1) as f32;
        let bin_hz = SAMPLE_RATE / FFT as f32;
        let bands = (0..BANDS)
            .map(|b| {
                let (left, centre, right) = (low + b as f32 * delta, low + (b + 1) as f32 * delta, low + (b + 2) as f32 * delta);
                let weights: Vec<(usize, f32)> = (0..FFT / 2)
                    .filter_map(|i| {
                        let m = mel(bin_hz * i as f32);
                        if m <= left || m >= right {
                            return None;
                        }
                        Some((i, if m <= centre { (m - left) / (centre - left) } else { (right - m) / (right - centre) }))
                    })
                    .collect();
                let first = weights.first().map_or(0, |w| w.0);
                (first, weights.into_iter().map(|w| w.1).collect())
            })
            .collect();
        Fbank { window, bands, fft: RealFftPlanner::<f32>::new().plan_fft_forward(FFT) }
    }

    /// Frames that `samples` samples make.
    pub fn frames(samples: usize) -> usize {
        if samples < FRAME_LENGTH { 0 } else { 1 + (samples - FRAME_LENGTH) / FRAME_SHIFT }
    }

    /// `[frame][band]` log energies of `samples` (16 kHz, any scale), each band's mean over
    /// the frames removed (3D-Speaker's normalisation).
    pub fn compute(&self, samples: &[f32]) -> Vec<f32> {
        let frames = Fbank::frames(samples.len());
        let mut out = vec![0.0f32; frames * BANDS];
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut power = vec![0.0f32; FFT / 2 + 1];
        for f in 0..frames {
            let frame = &samples[f * FRAME_SHIFT..f * FRAME_SHIFT + FRAME_LENGTH];
            let mean = frame.iter().sum::<f32>() / FRAME_LENGTH as f32;
            input.fill(0.0);
            for (i, &s) in frame.iter().enumerate() {
                input[i] = s - mean;
            }
            for i in (1..FRAME_LENGTH).rev() {
                input[i] -= PREEMPHASIS * input[i - 1];
            }
            input[0] -= PREEMPHASIS * input[0];
            for (x, w) in input.iter_mut().zip(&self.window) {
                *x *= w;
            }
            // The buffers have the plan's sizes, so this cannot fail.
            if self.fft.process(&mut input, &mut spectrum).is_err() {
                continue;
            }
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            for (b, (first, weights)) in self.bands.iter().enumerate() {
                let energy: f32 = weights.iter().zip(&power[*first..]).map(|(w, p)| w * p).sum();
                out[f * BANDS + b] = energy.max(f32::EPSILON).ln();
            }
        }
        if frames > 0 {
            for b in 0..BANDS {
                let mean = (0..frames).map(|f| out[f * BANDS + b]).sum::<f32>() / frames as f32;
                for f in 0..frames {
                    out[f * BANDS + b] -= mean;
                }
            }
        }
        out
    }
}
