//! The layers both networks share in PyTorch's layout: a linear layer, the leaky ReLU, and a
//! bidirectional LSTM layer whose recurrence runs here over the whole batch at once (one
//! small matrix-vector product per step is too fine-grained for candle's kernels).

use candle_core::{Device, Tensor};

use scribe_silero::dot;

use crate::Error;
use crate::pth::Checkpoint;

/// `nn.LeakyReLU`'s default slope.
const LEAKY_SLOPE: f64 = 0.01;

pub fn leaky_relu(x: &Tensor) -> Result<Tensor, Error> {
    Ok(x.maximum(&(x * LEAKY_SLOPE)?)?)
}

/// `nn.Linear` over the last dimension.
pub struct Linear {
    /// (inputs, outputs): the checkpoint's weight transposed, ready for a matmul.
    weight_t: Tensor,
    bias: Tensor,
}

impl Linear {
    pub fn load(ck: &Checkpoint, name: &str, inputs: usize, outputs: usize) -> Result<Linear, Error> {
        Ok(Linear {
            weight_t: ck.get(&format!("{name}.weight"), &[outputs, inputs])?.t()?.contiguous()?,
            bias: ck.get(&format!("{name}.bias"), &[outputs])?,
        })
    }

    /// `x` is (batch, time, inputs).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor, Error> {
        Ok(x.broadcast_matmul(&self.weight_t)?.broadcast_add(&self.bias)?)
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// One direction of an LSTM layer.
struct Direction {
    input: Linear,
    /// (4 × hidden, hidden), gates in PyTorch's order: input, forget, cell, output.
    weight_hh: Vec<f32>,
    reverse: bool,
}

/// One bidirectional layer of `nn.LSTM(batch_first=True)`.
pub struct Lstm {
    directions: [Direction; 2],
    hidden: usize,
}

impl Lstm {
    /// Layer `layer` of the LSTM called `name`.
    pub fn load(ck: &Checkpoint, name: &str, layer: usize, inputs: usize, hidden: usize) -> Result<Lstm, Error> {
        let direction = |suffix: &str, reverse: bool| -> Result<Direction, Error> {
            let gates = 4 * hidden;
            let bias_ih = ck.get(&format!("{name}.bias_ih_l{layer}{suffix}"), &[gates])?;
            let bias_hh = ck.get(&format!("{name}.bias_hh_l{layer}{suffix}"), &[gates])?;
            Ok(Direction {
                input: Linear {
                    weight_t: ck.get(&format!("{name}.weight_ih_l{layer}{suffix}"), &[gates, inputs])?.t()?.contiguous()?,
                    bias: (bias_ih + bias_hh)?,
                },
                weight_hh: ck.values(&format!("{name}.weight_hh_l{layer}{suffix}"), &[gates, hidden])?,
                reverse,
            })
        };
        Ok(Lstm { directions: [direction("", false)?, direction("_reverse", true)?], hidden })
    }

    /// `x` is (batch, time, inputs); returns (batch, time, 2 × hidden), the forward
    /// direction's state then the reverse one's.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor, Error> {
        let (batch, time, _) = x.dims3()?;
        let hidden = self.hidden;
        let gates = 4 * hidden;
        let mut out = vec![0.0f32; batch * time * 2 * hidden];
        for (d, direction) in self.directions.iter().enumerate() {
            // Every step's input contribution at once; only the recurrence is sequential.
            let pre = direction.input.forward(x)?.flatten_all()?.to_vec1::<f32>()?;
            let mut h = vec![0.0f32; batch * hidden];
            let mut c = vec![0.0f32; batch * hidden];
            let mut g = vec![0.0f32; batch * gates];
            for step in 0..time {
                let t = if direction.reverse { time - 1 - step } else { step };
                for b in 0..batch {
                    g[b * gates..(b + 1) * gates].copy_from_slice(&pre[(b * time + t) * gates..(b * time + t + 1) * gates]);
                }
                // Each weight row once for the whole batch, while it is in cache. (Scaling rows
                // of the transposed weights instead is twice as fast natively, but a third
                // slower in the wasm build, which is what runs.)
                for row in 0..gates {
                    let w = &direction.weight_hh[row * hidden..(row + 1) * hidden];
                    for b in 0..batch {
                        g[b * gates + row] += dot(w, &h[b * hidden..(b + 1) * hidden]);
                    }
                }
                for b in 0..batch {
                    let gb = &g[b * gates..(b + 1) * gates];
                    for j in 0..hidden {
                        let input = sigmoid(gb[j]);
                        let forget = sigmoid(gb[hidden + j]);
                        let cell = gb[2 * hidden + j].tanh();
                        let output = sigmoid(gb[3 * hidden + j]);
                        let cj = forget * c[b * hidden + j] + input * cell;
                        c[b * hidden + j] = cj;
                        let hj = output * cj.tanh();
                        h[b * hidden + j] = hj;
                        out[(b * time + t) * 2 * hidden + d * hidden + j] = hj;
                    }
                }
            }
        }
        Ok(Tensor::from_vec(out, (batch, time, 2 * hidden), &Device::Cpu)?)
    }
}
