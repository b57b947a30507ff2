//! pyannote segmentation-3.0 (PyanNet, MIT): 10 s of 16 kHz audio in, for each of 589 frames
//! the log-probabilities of seven "powerset" classes: nobody, one of three local speakers, or
//! two of them at once. The network: a SincNet front end (80 learnt band-pass filters, then
//! two convolutions, each followed by max-pooling and instance normalisation), four
//! bidirectional LSTM layers of 128, two linear layers and the classifier. It follows
//! pyannote.audio's `PyanNet` and asteroid-filterbanks' `ParamSincFB` (the filters are
//! computed from their learnt cut-off frequencies at load).

use candle_core::{D, DType, Device, Tensor};

use crate::Error;
use crate::layers::{Linear, Lstm, leaky_relu};
use crate::pth::Checkpoint;

/// Samples per second the model takes.
pub const SAMPLE_RATE: usize = 16_000;
/// Samples in one window: the 10 s the model was trained on.
pub const WINDOW: usize = 10 * SAMPLE_RATE;
/// Frames the model returns for one window.
pub const FRAMES: usize = 589;
/// Samples between the starts of two frames (the product of the front end's strides).
pub const FRAME_STEP: usize = 270;
/// Samples one frame sees (its receptive field).
pub const FRAME_SPAN: usize = 991;
/// Speakers one window can tell apart.
pub const LOCAL_SPEAKERS: usize = 3;
/// Powerset classes: {}, {0}, {1}, {2}, {0,1}, {0,2}, {1,2}.
pub const CLASSES: usize = 7;
/// Which local speakers each class holds.
pub const POWERSET: [&[usize]; CLASSES] = [&[], &[0], &[1], &[2], &[0, 1], &[0, 2], &[1, 2]];

/// Band-pass filters of the front end: 40 cosine and 40 sine ones.
const SINC_FILTERS: usize = 80;
/// Taps of a band-pass filter.
const SINC_TAPS: usize = 251;
/// Stride of the band-pass convolution.
const SINC_STRIDE: usize = 10;
/// asteroid's floor under each filter's low cut-off and bandwidth, Hz.
const MIN_LOW_HZ: f32 = 50.0;
const MIN_BAND_HZ: f32 = 50.0;
/// Channels of the two convolutions after the filters.
const CONV_CHANNELS: usize = 60;
/// Their kernel width.
const CONV_KERNEL: usize = 5;
/// Max-pooling width and stride after each convolution.
const POOL: usize = 3;
/// `nn.InstanceNorm1d`'s epsilon.
const NORM_EPS: f64 = 1e-5;
/// LSTM layers, each bidirectional.
const LSTM_LAYERS: usize = 4;
/// Width of each direction's state.
const HIDDEN: usize = 128;

/// Instance normalisation with a learnt scale and shift per channel: `x` is (batch,
/// channels, time). The statistics are summed in f64: over a window's 160 000 samples an f32
/// sum drifts by parts in ten thousand, more than the tolerance against PyTorch.
struct InstanceNorm {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl InstanceNorm {
    fn load(ck: &Checkpoint, name: &str, channels: usize) -> Result<InstanceNorm, Error> {
        Ok(InstanceNorm { weight: ck.values(&format!("{name}.weight"), &[channels])?, bias: ck.values(&format!("{name}.bias"), &[channels])? })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor, Error> {
        let (batch, channels, len) = x.dims3()?;
        let mut values = x.flatten_all()?.to_vec1::<f32>()?;
        for (row, series) in values.chunks_exact_mut(len).enumerate() {
            let channel = row % channels;
            let mean = series.iter().map(|&v| f64::from(v)).sum::<f64>() / len as f64;
            let var = series.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / len as f64;
            let scale = f64::from(self.weight[channel]) / (var + NORM_EPS).sqrt();
            let shift = f64::from(self.bias[channel]) - mean * scale;
            for v in series.iter_mut() {
                *v = (f64::from(*v) * scale + shift) as f32;
            }
        }
        Ok(Tensor::from_vec(values, (batch, channels, len), &Device::Cpu)?)
    }
}

/// Max over non-overlapping runs of [`POOL`] along time, dropping a partial last run.
fn max_pool(x: &Tensor) -> Result<Tensor, Error> {
    let (batch, channels, len) = x.dims3()?;
    let out = len / POOL;
    Ok(x.narrow(2, 0, out * POOL)?.reshape((batch, channels, out, POOL))?.max(D::Minus1)?)
}

/// A convolution with a bias, as `nn.Conv1d` without padding.
struct Conv {
    weight: Tensor,
    bias: Tensor,
}

impl Conv {
    fn load(ck: &Checkpoint, name: &str, inputs: usize) -> Result<Conv, Error> {
        Ok(Conv {
            weight: ck.get(&format!("{name}.weight"), &[CONV_CHANNELS, inputs, CONV_KERNEL])?,
            bias: ck.get(&format!("{name}.bias"), &[CONV_CHANNELS])?.reshape((1, CONV_CHANNELS, 1))?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor, Error> {
        Ok(x.conv1d(&self.weight, 0, 1, 1, 1)?.broadcast_add(&self.bias)?)
    }
}

/// The loaded network.
pub struct Segmentation {
    wav_norm: InstanceNorm,
    /// (80, 1, 251), computed from the learnt cut-offs.
    sinc: Tensor,
    convs: [Conv; 2],
    norms: [InstanceNorm; 3],
    lstm: Vec<Lstm>,
    linear: [Linear; 2],
    classifier: Linear,
}

impl std::fmt::Debug for Segmentation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Segmentation")
    }
}

/// asteroid's `ParamSincFB.filters()`: cosine then sine band-pass filters between each
/// filter's low and high cut-off, windowed, scaled by their bandwidth.
fn sinc_filters(low_hz: &[f32], band_hz: &[f32], window: &[f32], n: &[f32]) -> Vec<f32> {
    let half = SINC_TAPS / 2;
    let count = low_hz.len();
    let mut filters = vec![0.0f32; 2 * count * SINC_TAPS];
    for f in 0..count {
        let low = MIN_LOW_HZ + low_hz[f].abs();
        let high = (low + MIN_BAND_HZ + band_hz[f].abs()).clamp(MIN_LOW_HZ, SAMPLE_RATE as f32 / 2.0);
        let band = high - low;
        let cos = &mut filters[f * SINC_TAPS..(f + 1) * SINC_TAPS];
        for k in 0..half {
            let left = ((high * n[k]).sin() - (low * n[k]).sin()) / (n[k] / 2.0) * window[k];
            cos[k] = left / (2.0 * band);
            cos[SINC_TAPS - 1 - k] = left / (2.0 * band);
        }
        // asteroid's centre tap, 2 × band, scaled by 1 / (2 × band) like the others.
        cos[half] = 1.0;
        let sin = &mut filters[(count + f) * SINC_TAPS..(count + f + 1) * SINC_TAPS];
        for k in 0..half {
            let left = ((low * n[k]).cos() - (high * n[k]).cos()) / (n[k] / 2.0) * window[k];
            sin[k] = left / (2.0 * band);
            sin[SINC_TAPS - 1 - k] = -left / (2.0 * band);
        }
        sin[half] = 0.0;
    }
    filters
}

impl Segmentation {
    /// Builds the network from pyannote's `pytorch_model.bin`.
    pub fn load(ck: &Checkpoint) -> Result<Segmentation, Error> {
        let half = SINC_TAPS / 2;
        let bank = "sincnet.conv1d.0.filterbank";
        let filters = sinc_filters(
            &ck.values(&format!("{bank}.low_hz_"), &[SINC_FILTERS / 2, 1])?,
            &ck.values(&format!("{bank}.band_hz_"), &[SINC_FILTERS / 2, 1])?,
            &ck.values(&format!("{bank}.window_"), &[half])?,
            &ck.values(&format!("{bank}.n_"), &[1, half])?,
        );
        let mut lstm = Vec::with_capacity(LSTM_LAYERS);
        for layer in 0..LSTM_LAYERS {
            let inputs = if layer == 0 { CONV_CHANNELS } else { 2 * HIDDEN };
            lstm.push(Lstm::load(ck, "lstm", layer, inputs, HIDDEN)?);
        }
        Ok(Segmentation {
            wav_norm: InstanceNorm::load(ck, "sincnet.wav_norm1d", 1)?,
            sinc: Tensor::from_vec(filters, (SINC_FILTERS, 1, SINC_TAPS), &Device::Cpu)?,
            convs: [Conv::load(ck, "sincnet.conv1d.1", SINC_FILTERS)?, Conv::load(ck, "sincnet.conv1d.2", CONV_CHANNELS)?],
            norms: [
                InstanceNorm::load(ck, "sincnet.norm1d.0", SINC_FILTERS)?,
                InstanceNorm::load(ck, "sincnet.norm1d.1", CONV_CHANNELS)?,
                InstanceNorm::load(ck, "sincnet.norm1d.2", CONV_CHANNELS)?,
            ],
            lstm,
            linear: [Linear::load(ck, "linear.0", 2 * HIDDEN, HIDDEN)?, Linear::load(ck, "linear.1", HIDDEN, HIDDEN)?],
            classifier: Linear::load(ck, "classifier", HIDDEN, CLASSES)?,
        })
    }

    /// Log-probabilities of the powerset classes, `[window][frame][class]` flattened, for
    /// `windows` (each exactly [`WINDOW`] samples) run as one batch.
    pub fn forward(&self, windows: &[&[f32]]) -> Result<Vec<f32>, Error> {
        let batch = windows.len();
        let mut samples = Vec::with_capacity(batch * WINDOW);
        for w in windows {
            debug_assert_eq!(w.len(), WINDOW);
            samples.extend_from_slice(w);
        }
        let x = Tensor::from_vec(samples, (batch, 1, WINDOW), &Device::Cpu)?;
        let x = self.wav_norm.forward(&x)?;
        let x = x.conv1d(&self.sinc, 0, SINC_STRIDE, 1, 1)?.abs()?;
        let mut x = leaky_relu(&self.norms[0].forward(&max_pool(&x)?)?)?;
        for (conv, norm) in self.convs.iter().zip(&self.norms[1..]) {
            x = leaky_relu(&norm.forward(&max_pool(&conv.forward(&x)?)?)?)?;
        }
        let (_, _, frames) = x.dims3()?;
        debug_assert_eq!(frames, FRAMES);
        // (batch, time, features) rows for the recurrent and linear layers.
        let mut x = x.transpose(1, 2)?.contiguous()?;
        for layer in &self.lstm {
            x = layer.forward(&x)?;
        }
        for linear in &self.linear {
            x = leaky_relu(&linear.forward(&x)?)?;
        }
        let logits = self.classifier.forward(&x)?;
        let max = logits.max_keepdim(D::Minus1)?;
        let shifted = logits.broadcast_sub(&max)?;
        let log_sum = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
        let log_probs = shifted.broadcast_sub(&log_sum)?;
        Ok(log_probs.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
    }
}

/// The local speakers active in one frame: the most likely powerset class's members.
pub fn active_speakers(log_probs: &[f32]) -> &'static [usize] {
    let best = log_probs.iter().enumerate().fold((0, f32::NEG_INFINITY), |best, (i, &p)| if p > best.1 { (i, p) } else { best }).0;
    POWERSET[best]
}
