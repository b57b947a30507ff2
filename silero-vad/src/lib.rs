//! Silero VAD v6 (16 kHz): the probability that each 32 ms frame of audio holds speech. The
//! daemon cuts files and live audio at speech with it; the diarizer skips silence with it.
//! The network is small enough (about 0.7 M multiply-adds a frame) that plain loops beat pulling in a tensor library: a short-time Fourier transform
//! as a strided convolution, four 1-D convolutions with ReLU, one LSTM cell carried from
//! frame to frame, and a sigmoid output. Weights come from the silero-vad wheel's
//! `silero_vad_16k.safetensors`; the arithmetic follows the wheel's own reference for that
//! file (`tinygrad_model.py`), which a test checks frame by frame.

use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

use safetensors::{Dtype, SafeTensors};

/// Samples in one frame at 16 kHz: the only window the 16 kHz model takes.
pub const FRAME: usize = 512;
/// Samples of the previous frame the model sees before each frame.
const CONTEXT: usize = 64;
/// Window of the Fourier transform, samples.
const FFT: usize = 256;
/// Hop of the Fourier transform, samples.
const HOP: usize = 128;
/// Frequency bins of the transform: FFT / 2 + 1.
const BINS: usize = FFT / 2 + 1;
/// Samples the model reflects past the end of its input before the transform.
const REFLECT: usize = 64;
/// Width of the LSTM cell's state.
const HIDDEN: usize = 128;
/// Largest weights file accepted: the real one is 1.24 MB.
const MAX_FILE_BYTES: u64 = 8 << 20;

/// Why the weights could not be used. Messages are meant for the operator.
#[derive(Debug, thiserror::Error)]
pub enum SileroError {
    #[error("reading the speech detector's weights {path}: {message}")]
    Read { path: String, message: String },
    #[error("the speech detector's weights are not Silero VAD v6 (16 kHz): {0}")]
    Format(String),
}

/// A 1-D convolution with a kernel of 3, padding 1 and a bias.
struct Conv {
    /// `[out][in][3]`.
    weight: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
    stride: usize,
}

/// Kernel width of the encoder's convolutions.
const KERNEL: usize = 3;

impl Conv {
    /// `input` is `[inputs][len]`; returns `[outputs][out_len]` after ReLU.
    fn forward_relu(&self, input: &[f32], len: usize) -> (Vec<f32>, usize) {
        // Padding 1 on each side.
        let out_len = (len + 2 - KERNEL) / self.stride + 1;
        let mut out = vec![0.0; self.outputs * out_len];
        for o in 0..self.outputs {
            let kernel = &self.weight[o * self.inputs * KERNEL..(o + 1) * self.inputs * KERNEL];
            for t in 0..out_len {
                let mut sum = self.bias[o];
                for k in 0..KERNEL {
                    // Position in the unpadded input; outside it is the zero padding.
                    let Some(pos) = (t * self.stride + k).checked_sub(1).filter(|p| *p < len) else { continue };
                    for i in 0..self.inputs {
                        sum += kernel[i * KERNEL + k] * input[i * len + pos];
                    }
                }
                out[o * out_len + t] = sum.max(0.0);
            }
        }
        (out, out_len)
    }
}

/// The loaded network, shared read-only by every file being cut.
pub struct Silero {
    /// `[2 * BINS][FFT]`: real parts then imaginary parts of the windowed Fourier basis.
    basis: Vec<f32>,
    encoder: [Conv; 4],
    /// `[4 * HIDDEN][HIDDEN]` each, gates in PyTorch's order: input, forget, cell, output.
    weight_ih: Vec<f32>,
    weight_hh: Vec<f32>,
    /// `bias_ih + bias_hh`.
    bias: Vec<f32>,
    out_weight: Vec<f32>,
    out_bias: f32,
}

impl std::fmt::Debug for Silero {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Silero")
    }
}

fn tensor(file: &SafeTensors<'_>, name: &str, shape: &[usize]) -> Result<Vec<f32>, SileroError> {
    let view = file.tensor(name).map_err(|_| SileroError::Format(format!("no tensor {name}")))?;
    if view.dtype() != Dtype::F32 || view.shape() != shape {
        return Err(SileroError::Format(format!("{name} is {:?} {:?}, expected F32 {shape:?}", view.dtype(), view.shape())));
    }
    Ok(view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

impl Silero {
    /// Reads `silero_vad_16k.safetensors`.
    pub fn load(path: &Path) -> Result<Silero, SileroError> {
        let read = |message: String| SileroError::Read { path: path.display().to_string(), message };
        let size = std::fs::metadata(path).map_err(|e| read(e.to_string()))?.len();
        if size > MAX_FILE_BYTES {
            return Err(read(format!("{size} bytes is too large for this model")));
        }
        let bytes = std::fs::read(path).map_err(|e| read(e.to_string()))?;
        Silero::from_bytes(&bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Silero, SileroError> {
        let file = SafeTensors::deserialize(bytes).map_err(|e| SileroError::Format(e.to_string()))?;
        let conv = |name: &str, inputs: usize, outputs: usize, stride: usize| -> Result<Conv, SileroError> {
            Ok(Conv {
                weight: tensor(&file, &format!("{name}.weight"), &[outputs, inputs, KERNEL])?,
                bias: tensor(&file, &format!("{name}.bias"), &[outputs])?,
                inputs,
                outputs,
                stride,
            })
        };
        let bias_ih = tensor(&file, "lstm_cell.bias_ih", &[4 * HIDDEN])?;
        let bias_hh = tensor(&file, "lstm_cell.bias_hh", &[4 * HIDDEN])?;
        let out_bias = tensor(&file, "final_conv.bias", &[1])?;
        Ok(Silero {
            basis: tensor(&file, "stft_conv.weight", &[2 * BINS, 1, FFT])?,
            encoder: [conv("conv1", BINS, 128, 1)?, conv("conv2", 128, 64, 2)?, conv("conv3", 64, 64, 2)?, conv("conv4", 64, HIDDEN, 1)?],
            weight_ih: tensor(&file, "lstm_cell.weight_ih", &[4 * HIDDEN, HIDDEN])?,
            weight_hh: tensor(&file, "lstm_cell.weight_hh", &[4 * HIDDEN, HIDDEN])?,
            bias: bias_ih.iter().zip(&bias_hh).map(|(a, b)| a + b).collect(),
            out_weight: tensor(&file, "final_conv.weight", &[1, HIDDEN, 1])?,
            out_bias: out_bias[0],
        })
    }

    /// A fresh pass over one stream of audio.
    pub fn stream(&self) -> Stream<&Silero> {
        Stream::new(self)
    }

    /// A pass that owns its share of the model, for a stream that lives on its own (a live
    /// session).
    pub fn owned_stream(self: Arc<Self>) -> Stream<Arc<Silero>> {
        Stream::new(self)
    }
}

/// A dot product the compiler vectorises: eight independent sums instead of one chain. Also
/// the diarizer's LSTM step, which has the same shape of work.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let mut sums = [0.0f32; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_chunks.remainder().iter().zip(b_chunks.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..LANES {
            sums[lane] += x[lane] * y[lane];
        }
    }
    sums.iter().sum::<f32>() + tail
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// The state carried from one frame to the next.
pub struct Stream<M> {
    model: M,
    /// The last samples of the previous frame.
    context: [f32; CONTEXT],
    h: [f32; HIDDEN],
    c: [f32; HIDDEN],
}

impl<M: Deref<Target = Silero>> Stream<M> {
    fn new(model: M) -> Stream<M> {
        Stream { model, context: [0.0; CONTEXT], h: [0.0; HIDDEN], c: [0.0; HIDDEN] }
    }

    /// The speech probability of the next [`FRAME`] samples (a shorter last frame is padded
    /// with silence).
    pub fn push(&mut self, frame: &[f32]) -> f32 {
        let m: &Silero = &self.model;
        // Context, the frame, then REFLECT samples mirrored about the last one.
        let mut input = Vec::with_capacity(CONTEXT + FRAME + REFLECT);
        input.extend_from_slice(&self.context);
        input.extend(frame.iter().take(FRAME));
        input.resize(CONTEXT + FRAME, 0.0);
        let last = input.len() - 1;
        for k in 1..=REFLECT {
            input.push(input[last - k]);
        }
        self.context.copy_from_slice(&input[FRAME..FRAME + CONTEXT]);

        // Magnitude spectrum, `[BINS][steps]`.
        let steps = (input.len() - FFT) / HOP + 1;
        let mut spectrum = vec![0.0; BINS * steps];
        for t in 0..steps {
            let window = &input[t * HOP..t * HOP + FFT];
            for bin in 0..BINS {
                let re = dot(&m.basis[bin * FFT..(bin + 1) * FFT], window);
                let im = dot(&m.basis[(BINS + bin) * FFT..(BINS + bin + 1) * FFT], window);
                spectrum[bin * steps + t] = (re * re + im * im).sqrt();
            }
        }
        let (mut x, mut len) = (spectrum, steps);
        for conv in &m.encoder {
            (x, len) = conv.forward_relu(&x, len);
        }
        // The encoder ends at one step of HIDDEN features.
        debug_assert_eq!(len, 1);

        let mut gates = m.bias.clone();
        for (g, gate) in gates.iter_mut().enumerate() {
            let row = g * HIDDEN..(g + 1) * HIDDEN;
            *gate += dot(&m.weight_ih[row.clone()], &x[..HIDDEN]) + dot(&m.weight_hh[row], &self.h);
        }
        for j in 0..HIDDEN {
            let input_gate = sigmoid(gates[j]);
            let forget = sigmoid(gates[HIDDEN + j]);
            let cell = gates[2 * HIDDEN + j].tanh();
            let output = sigmoid(gates[3 * HIDDEN + j]);
            self.c[j] = forget * self.c[j] + input_gate * cell;
            self.h[j] = output * self.c[j].tanh();
        }
        let relu: Vec<f32> = self.h.iter().map(|v| v.max(0.0)).collect();
        sigmoid(dot(&m.out_weight, &relu) + m.out_bias)
    }
}
