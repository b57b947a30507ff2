//! CAM++ speaker embeddings (3D-Speaker, Apache-2.0): 80-band filterbanks of a stretch of one
//! voice in, 192 numbers out whose cosine similarity says whether two stretches are the same
//! speaker. The network: a 2-D convolutional front end (FCM: residual blocks over frequency
//! and time), a time-delay layer, three densely connected blocks of context-aware masked
//! layers with transitions, statistics pooling (mean and standard deviation over time) and a
//! dense layer. It follows 3D-Speaker's `speakerlab/models/campplus`; the batch norms are in
//! evaluation mode (their running statistics).

use candle_core::{D, Device, Tensor};

use crate::Error;
use crate::fbank::BANDS;
use crate::pth::Checkpoint;

/// Numbers in one embedding.
pub const DIMENSION: usize = 192;
/// `nn.BatchNorm`'s epsilon.
const NORM_EPS: f32 = 1e-5;
/// Channels of the front end's convolutions.
const FCM_CHANNELS: usize = 32;
/// Frequency rows left after the front end's three halvings.
const FCM_ROWS: usize = BANDS / 8;
/// Channels of the time-delay layer.
const TDNN_CHANNELS: usize = 128;
/// Channels each dense layer adds.
const GROWTH: usize = 32;
/// Width of a dense layer's bottleneck.
const BOTTLENECK: usize = 128;
/// The dense blocks: layers, and the dilation of their kernel-3 convolutions.
const BLOCKS: [(usize, usize); 3] = [(12, 1), (24, 2), (16, 2)];
/// Frames over which a masked layer's local context is averaged.
const SEGMENT: usize = 100;
/// Kernel of the masked layers' local convolution.
const LOCAL_KERNEL: usize = 3;

/// A batch norm in evaluation mode: a scale and a shift per channel, shaped to broadcast
/// over `shape_tail` trailing dimensions of size one.
struct Norm {
    scale: Tensor,
    shift: Tensor,
}

impl Norm {
    fn load(ck: &Checkpoint, name: &str, channels: usize, spatial: usize, affine: bool) -> Result<Norm, Error> {
        let mean = ck.values(&format!("{name}.running_mean"), &[channels])?;
        let var = ck.values(&format!("{name}.running_var"), &[channels])?;
        let (weight, bias) = if affine {
            (ck.values(&format!("{name}.weight"), &[channels])?, ck.values(&format!("{name}.bias"), &[channels])?)
        } else {
            (vec![1.0; channels], vec![0.0; channels])
        };
        let scale: Vec<f32> = (0..channels).map(|c| weight[c] / (var[c] + NORM_EPS).sqrt()).collect();
        let shift: Vec<f32> = (0..channels).map(|c| bias[c] - mean[c] * scale[c]).collect();
        let mut shape = vec![1, channels];
        shape.extend(std::iter::repeat_n(1, spatial));
        Ok(Norm { scale: Tensor::from_vec(scale, shape.as_slice(), &Device::Cpu)?, shift: Tensor::from_vec(shift, shape.as_slice(), &Device::Cpu)? })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor, Error> {
        Ok(x.broadcast_mul(&self.scale)?.broadcast_add(&self.shift)?)
    }

    fn relu(&self, x: &Tensor) -> Result<Tensor, Error> {
        Ok(self.forward(x)?.relu()?)
    }
}

/// Keeps every other frequency row of (1, channels, rows, time): a stride of 2 over
/// frequency and 1 over time, which candle's convolution cannot express.
fn every_other_row(x: &Tensor) -> Result<Tensor, Error> {
    let (batch, channels, rows, time) = x.dims4()?;
    Ok(x.reshape((batch, channels, rows / 2, 2, time))?.narrow(3, 0, 1)?.squeeze(3)?)
}

/// A 3×3 convolution (padding 1) over (1, channels, rows, time), then its batch norm.
struct Conv2d {
    weight: Tensor,
    norm: Norm,
    halve_rows: bool,
}

impl Conv2d {
    fn load(ck: &Checkpoint, conv: &str, norm: &str, inputs: usize, halve_rows: bool) -> Result<Conv2d, Error> {
        Ok(Conv2d {
            weight: ck.get(&format!("{conv}.weight"), &[FCM_CHANNELS, inputs, 3, 3])?,
            norm: Norm::load(ck, norm, FCM_CHANNELS, 2, true)?,
            halve_rows,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor, Error> {
        let y = x.conv2d(&self.weight, 1, 1, 1, 1)?;
        let y = if self.halve_rows { every_other_row(&y)? } else { y };
        self.norm.forward(&y)
    }
}

/// The front end's residual block.
struct ResBlock {
    conv1: Conv2d,
    conv2: Conv2d,
    /// A 1×1 convolution and norm where the block halves the rows.
    shortcut: Option<(Tensor, Norm)>,
}

impl ResBlock {
    fn load(ck: &Checkpoint, name: &str, halve_rows: bool) -> Result<ResBlock, Error> {
        let shortcut = if halve_rows {
            Some((
                ck.get(&format!("{name}.shortcut.0.weight"), &[FCM_CHANNELS, FCM_CHANNELS, 1, 1])?,
                Norm::load(ck, &format!("{name}.shortcut.1"), FCM_CHANNELS, 2, true)?,
            ))
        } else {
            None
        };
        Ok(ResBlock {
            conv1: Conv2d::load(ck, &format!("{name}.conv1"), &format!("{name}.bn1"), FCM_CHANNELS, halve_rows)?,
            conv2: Conv2d::load(ck, &format!("{name}.conv2"), &format!("{name}.bn2"), FCM_CHANNELS, false)?,
            shortcut,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor, Error> {
        let out = self.conv2.forward(&self.conv1.forward(x)?.relu()?)?;
        let skip = match &self.shortcut {
            Some((weight, norm)) => norm.forward(&every_other_row(x)?.conv2d(weight, 0, 1, 1, 1)?)?,
            None => x.clone(),
        };
        Ok((out + skip)?.relu()?)
    }
}

/// A pointwise (kernel 1) convolution over (1, channels, time), as a matrix product.
struct Pointwise {
    /// (outputs, inputs).
    weight: Tensor,
    /// (1, outputs, 1), when the layer has one.
    bias: Option<Tensor>,
}

impl Pointwise {
    fn load(ck: &Checkpoint, name: &str, inputs: usize, outputs: usize, bias: bool) -> Result<Pointwise, Error> {
        Ok(Pointwise {
            weight: ck.get(&format!("{name}.weight"), &[outputs, inputs, 1])?.squeeze(2)?,
            bias: if bias { Some(ck.get(&format!("{name}.bias"), &[outputs])?.reshape((1, outputs, 1))?) } else { None },
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor, Error> {
        let y = self.weight.broadcast_matmul(x)?;
        Ok(match &self.bias {
            Some(bias) => y.broadcast_add(bias)?,
            None => y,
        })
    }
}

/// One context-aware masked dense layer: a bottleneck, a local convolution, and a mask
/// computed from the mean of the whole input and of its 100-frame segment.
struct DenseLayer {
    norm1: Norm,
    bottleneck: Pointwise,
    norm2: Norm,
    local: Tensor,
    dilation: usize,
    mask1: Pointwise,
    mask2: Pointwise,
}

impl DenseLayer {
    fn load(ck: &Checkpoint, name: &str, inputs: usize, dilation: usize) -> Result<DenseLayer, Error> {
        let cam = format!("{name}.cam_layer");
        Ok(DenseLayer {
            norm1: Norm::load(ck, &format!("{name}.nonlinear1.batchnorm"), inputs, 1, true)?,
            bottleneck: Pointwise::load(ck, &format!("{name}.linear1"), inputs, BOTTLENECK, false)?,
            norm2: Norm::load(ck, &format!("{name}.nonlinear2.batchnorm"), BOTTLENECK, 1, true)?,
            local: ck.get(&format!("{cam}.linear_local.weight"), &[GROWTH, BOTTLENECK, LOCAL_KERNEL])?,
            dilation,
            mask1: Pointwise::load(ck, &format!("{cam}.linear1"), BOTTLENECK, BOTTLENECK / 2, true)?,
            mask2: Pointwise::load(ck, &format!("{cam}.linear2"), BOTTLENECK / 2, GROWTH, true)?,
        })
    }

    /// The channels this layer adds.
    fn forward(&self, x: &Tensor) -> Result<Tensor, Error> {
        let x = self.norm2.relu(&self.bottleneck.forward(&self.norm1.relu(x)?)?)?;
        let (batch, channels, time) = x.dims3()?;
        let y = x.conv1d(&self.local, self.dilation, 1, self.dilation, 1)?;
        // The context is constant over each segment, so the mask is computed per segment
        // and then spread over its frames (the pointwise layers commute with the spreading).
        let segments = time.div_ceil(SEGMENT);
        let padded = (x.pad_with_zeros(2, 0, segments * SEGMENT - time)?).reshape((batch, channels, segments, SEGMENT))?.sum(D::Minus1)?;
        let counts: Vec<f32> = (0..segments).map(|s| (time.min((s + 1) * SEGMENT) - s * SEGMENT) as f32).collect();
        let counts = Tensor::from_vec(counts, (1, 1, segments), &Device::Cpu)?;
        let context = padded.broadcast_div(&counts)?.broadcast_add(&x.mean_keepdim(D::Minus1)?)?;
        let mask = candle_core::Tensor::exp(&self.mask2.forward(&self.mask1.forward(&context)?.relu()?)?.neg()?)?;
        let mask = (mask + 1.0)?.recip()?;
        let mask = mask.unsqueeze(3)?.broadcast_as((batch, GROWTH, segments, SEGMENT))?.reshape((batch, GROWTH, segments * SEGMENT))?.narrow(2, 0, time)?;
        Ok((y * mask)?)
    }
}

/// The loaded network.
pub struct CamPlus {
    head: (Conv2d, [ResBlock; 4], Conv2d),
    tdnn: (Tensor, Norm),
    blocks: Vec<(Vec<DenseLayer>, Norm, Pointwise)>,
    out_norm: Norm,
    dense: (Pointwise, Norm),
}

impl std::fmt::Debug for CamPlus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CamPlus")
    }
}

impl CamPlus {
    /// Builds the network from 3D-Speaker's `campplus_cn_en_common.pt`.
    pub fn load(ck: &Checkpoint) -> Result<CamPlus, Error> {
        let head = (
            Conv2d::load(ck, "head.conv1", "head.bn1", 1, false)?,
            [
                ResBlock::load(ck, "head.layer1.0", true)?,
                ResBlock::load(ck, "head.layer1.1", false)?,
                ResBlock::load(ck, "head.layer2.0", true)?,
                ResBlock::load(ck, "head.layer2.1", false)?,
            ],
            Conv2d::load(ck, "head.conv2", "head.bn2", FCM_CHANNELS, true)?,
        );
        let tdnn = (
            ck.get("xvector.tdnn.linear.weight", &[TDNN_CHANNELS, FCM_CHANNELS * FCM_ROWS, 5])?,
            Norm::load(ck, "xvector.tdnn.nonlinear.batchnorm", TDNN_CHANNELS, 1, true)?,
        );
        let mut channels = TDNN_CHANNELS;
        let mut blocks = Vec::new();
        for (b, (layers, dilation)) in BLOCKS.into_iter().enumerate() {
            let dense = (0..layers)
                .map(|l| DenseLayer::load(ck, &format!("xvector.block{}.tdnnd{}", b + 1, l + 1), channels + l * GROWTH, dilation))
                .collect::<Result<Vec<_>, _>>()?;
            channels += layers * GROWTH;
            let transit = format!("xvector.transit{}", b + 1);
            blocks.push((
                dense,
                Norm::load(ck, &format!("{transit}.nonlinear.batchnorm"), channels, 1, true)?,
                Pointwise::load(ck, &format!("{transit}.linear"), channels, channels / 2, false)?,
            ));
            channels /= 2;
        }
        Ok(CamPlus {
            head,
            tdnn,
            blocks,
            out_norm: Norm::load(ck, "xvector.out_nonlinear.batchnorm", channels, 1, true)?,
            dense: (
                Pointwise::load(ck, "xvector.dense.linear", 2 * channels, DIMENSION, false)?,
                Norm::load(ck, "xvector.dense.nonlinear.batchnorm", DIMENSION, 1, false)?,
            ),
        })
    }

    /// The embedding of `features` (`[frame][band]`, from [`crate::fbank::Fbank`]); needs
    /// at least two frames.
    pub fn embed(&self, features: &[f32]) -> Result<Vec<f32>, Error> {
        let frames = features.len() / BANDS;
        let x = Tensor::from_slice(features, (frames, BANDS), &Device::Cpu)?.t()?.reshape((1, 1, BANDS, frames))?;
        let (conv1, res, conv2) = &self.head;
        let mut x = conv1.forward(&x)?.relu()?;
        for block in res {
            x = block.forward(&x)?;
        }
        let x = conv2.forward(&x)?.relu()?;
        let x = x.reshape((1, FCM_CHANNELS * FCM_ROWS, frames))?;
        let mut x = self.tdnn.1.relu(&x.conv1d(&self.tdnn.0, 2, 2, 1, 1)?)?;
        for (layers, norm, transit) in &self.blocks {
            for layer in layers {
                let added = layer.forward(&x)?;
                x = Tensor::cat(&[&x, &added], 1)?;
            }
            x = transit.forward(&norm.relu(&x)?)?;
        }
        let x = self.out_norm.relu(&x)?;
        let time = x.dim(2)?;
        let mean = x.mean_keepdim(D::Minus1)?;
        let var = x.broadcast_sub(&mean)?.sqr()?.sum_keepdim(D::Minus1)? / (time.max(2) - 1) as f64;
        let stats = Tensor::cat(&[&mean, &var?.sqrt()?], 1)?;
        let embedding = self.dense.1.forward(&self.dense.0.forward(&stats)?)?;
        Ok(embedding.flatten_all()?.to_vec1::<f32>()?)
    }
}
