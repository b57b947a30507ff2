//! Whisper's input features: 16 kHz mono samples → 80-bin log-mel spectrogram, computed the
//! way openai/whisper's `log_mel_spectrogram` does (periodic Hann window of 400, hop 160,
//! centred frames with reflect padding, power spectrum, Slaney-scale and Slaney-normalised mel
//! filters as librosa builds them, log10, a floor 8 below the peak, then `(x + 4) / 4`).
//!
//! The filters are computed here rather than shipped as a table, and the FFT runs on one
//! thread: the guest has no threads.

use std::f64::consts::PI;

use realfft::RealFftPlanner;

/// Whisper's sample rate.
pub const SAMPLE_RATE: usize = 16_000;
/// Window and FFT length: 25 ms.
pub const N_FFT: usize = 400;
/// Hop between frames: 10 ms.
pub const HOP: usize = 160;
/// Mel bins of every Whisper model up to large-v2 (large-v3 has 128).
pub const N_MELS: usize = 80;
/// Frequency bins of one frame's spectrum.
const N_FREQS: usize = N_FFT / 2 + 1;
/// Floor of the power before the logarithm, as Whisper clamps it.
const POWER_FLOOR: f32 = 1e-10;
/// Dynamic range kept below the loudest bin, in log10 units (80 dB).
const DYNAMIC_RANGE: f32 = 8.0;

/// Slaney's mel scale (librosa's default, `htk=False`): linear below 1 kHz, logarithmic above.
fn hz_to_mel(hz: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let logstep = (6.4f64).ln() / 27.0;
    if hz >= MIN_LOG_HZ { min_log_mel + (hz / MIN_LOG_HZ).ln() / logstep } else { hz / F_SP }
}

fn mel_to_hz(mel: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let logstep = (6.4f64).ln() / 27.0;
    if mel >= min_log_mel { MIN_LOG_HZ * (logstep * (mel - min_log_mel)).exp() } else { F_SP * mel }
}

/// `librosa.filters.mel(sr=16000, n_fft=400, n_mels)`: triangles between mel-spaced edges from
/// 0 Hz to Nyquist, each scaled to unit area (`norm="slaney"`). Row-major `[n_mels][N_FREQS]`.
pub fn mel_filters(n_mels: usize) -> Vec<f32> {
    let fft_freqs: Vec<f64> = (0..N_FREQS).map(|i| i as f64 * SAMPLE_RATE as f64 / N_FFT as f64).collect();
    let (low, high) = (hz_to_mel(0.0), hz_to_mel(SAMPLE_RATE as f64 / 2.0));
    let edges: Vec<f64> = (0..n_mels + 2).map(|i| mel_to_hz(low + (high - low) * i as f64 / (n_mels + 1) as f64)).collect();
    let mut filters = vec![0f32; n_mels * N_FREQS];
    for m in 0..n_mels {
        let (left, centre, right) = (edges[m], edges[m + 1], edges[m + 2]);
        let norm = 2.0 / (right - left);
        for (k, &f) in fft_freqs.iter().enumerate() {
            let rising = (f - left) / (centre - left);
            let falling = (right - f) / (right - centre);
            filters[m * N_FREQS + k] = (rising.min(falling).max(0.0) * norm) as f32;
        }
    }
    filters
}

/// Computes log-mel features.
pub struct MelSpectrogram {
    filters: Vec<f32>,
    window: Vec<f32>,
    fft: std::sync::Arc<dyn realfft::RealToComplex<f32>>,
    n_mels: usize,
}

impl Default for MelSpectrogram {
    fn default() -> Self {
        MelSpectrogram::new(N_MELS)
    }
}

impl MelSpectrogram {
    pub fn new(n_mels: usize) -> MelSpectrogram {
        // torch.hann_window(400), periodic.
        let window = (0..N_FFT).map(|i| (0.5 - 0.5 * (2.0 * PI * i as f64 / N_FFT as f64).cos()) as f32).collect();
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT);
        MelSpectrogram { filters: mel_filters(n_mels), window, fft, n_mels }
    }

    /// Features of `samples`: `[n_mels][frames]` row-major, one frame per [`HOP`] samples
    /// (`samples.len() / HOP` frames, as Whisper drops the last STFT frame).
    pub fn compute(&self, samples: &[f32]) -> (Vec<f32>, usize) {
        let frames = samples.len() / HOP;
        let pad = N_FFT / 2;
        // Reflect padding (torch.stft(center=True, pad_mode="reflect")).
        let at = |i: isize| -> f32 {
            let n = samples.len() as isize;
            if n == 0 {
                return 0.0;
            }
            let mut j = i;
            if j < 0 {
                j = -j;
            }
            if j >= n {
                j = 2 * (n - 1) - j;
            }
            samples[j.clamp(0, n - 1) as usize]
        };
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0f32; N_FREQS];
        let mut mel = vec![0f32; self.n_mels * frames];
        for frame in 0..frames {
            let start = (frame * HOP) as isize - pad as isize;
            for (k, slot) in input.iter_mut().enumerate() {
                *slot = at(start + k as isize) * self.window[k];
            }
            // Lengths are the planner's own, so the FFT cannot fail.
            if self.fft.process_with_scratch(&mut input, &mut spectrum, &mut scratch).is_err() {
                continue;
            }
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            for m in 0..self.n_mels {
                let row = &self.filters[m * N_FREQS..(m + 1) * N_FREQS];
                mel[m * frames + frame] = row.iter().zip(&power).map(|(f, p)| f * p).sum();
            }
        }
        let mut peak = f32::MIN;
        for value in &mut mel {
            *value = value.max(POWER_FLOOR).log10();
            peak = peak.max(*value);
        }
        for value in &mut mel {
            *value = (value.max(peak - DYNAMIC_RANGE) + 4.0) / 4.0;
        }
        (mel, frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mel_scale_round_trips_and_bends_at_1_khz() {
        for hz in [0.0, 300.0, 999.0, 1000.0, 4321.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-6, "{hz}");
        }
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-9, "15 mels at 1 kHz on Slaney's scale");
        assert!((hz_to_mel(6400.0) - 42.0).abs() < 1e-9, "27 more per factor 6.4");
    }

    #[test]
    fn filters_match_librosa() {
        let filters = mel_filters(N_MELS);
        assert_eq!(filters.len(), N_MELS * N_FREQS);
        // Spot values of librosa.filters.mel(sr=16000, n_fft=400, n_mels=80), the table
        // openai/whisper ships as assets/mel_filters.npz.
        let cases = [(0, 1, 0.024_862_595), (0, 2, 0.0), (10, 10, 0.019_908_218), (10, 11, 0.004_954_375), (79, 199, 0.000_448_759), (79, 200, 0.0)];
        for (m, k, want) in cases {
            let got = filters[m * N_FREQS + k];
            assert!((got - want).abs() < 1e-6, "filter {m}, bin {k}: {got} vs {want}");
        }
        assert!(filters.iter().all(|&f| f >= 0.0));
        // And the table as a whole: its sum and sum of squares.
        let sum: f64 = filters.iter().map(|&f| f64::from(f)).sum();
        let squares: f64 = filters.iter().map(|&f| f64::from(f) * f64::from(f)).sum();
        assert!((sum - 1.999_024_092).abs() < 1e-5 && (squares - 0.021_185_515).abs() < 1e-7, "{sum} {squares}");
    }

    #[test]
    fn a_tone_lights_the_band_it_is_in() {
        let tone: Vec<f32> = (0..SAMPLE_RATE).map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / SAMPLE_RATE as f32).sin() * 0.5).collect();
        let mel = MelSpectrogram::default();
        let (features, frames) = mel.compute(&tone);
        assert_eq!(frames, 100, "one frame per 10 ms");
        let frame = 50;
        let column: Vec<f32> = (0..N_MELS).map(|m| features[m * frames + frame]).collect();
        let loudest = column.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(m, _)| m).unwrap_or_default();
        let filters = mel_filters(N_MELS);
        let bin_1khz = 1000 * N_FFT / SAMPLE_RATE;
        let best_filter = (0..N_MELS).max_by(|&a, &b| filters[a * N_FREQS + bin_1khz].total_cmp(&filters[b * N_FREQS + bin_1khz])).unwrap_or_default();
        assert_eq!(loudest, best_filter);
        // The scaled log range: the peak is (log10(peak) + 4) / 4 and nothing is more than 2 below it.
        let max = features.iter().copied().fold(f32::MIN, f32::max);
        let min = features.iter().copied().fold(f32::MAX, f32::min);
        assert!(max - min <= DYNAMIC_RANGE / 4.0 + 1e-6, "{max} {min}");
    }

    #[test]
    fn silence_and_empty_input_are_defined() {
        let mel = MelSpectrogram::default();
        let (features, frames) = mel.compute(&vec![0.0; 3 * HOP]);
        assert_eq!(frames, 3);
        assert!(features.iter().all(|&v| (v - (-10.0 + 4.0) / 4.0).abs() < 1e-6), "the floor: {features:?}");
        assert_eq!(mel.compute(&[]).1, 0);
    }
}
