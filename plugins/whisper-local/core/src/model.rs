//! The Whisper network on candle-core, with weights from a CTranslate2 model: the audio
//! encoder, and a text decoder that keeps a self-attention key/value cache so each new token
//! costs one row of work (candle-transformers' decoder recomputes the whole prefix).
//!
//! CTranslate2 fuses projections: self-attention `linear_0` is q, k and v stacked along the
//! output axis (k's bias is zero), cross-attention `linear_0` is q and `linear_1` is k and v,
//! and the last linear of each attention is the output projection. Everything runs on one
//! thread, in f32 except the linear layers' matrices, which [`Precision::Q8`] holds as
//! 8-bit blocks ([`crate::q8`]).

use candle_core::{D, DType, Device, Tensor};

use crate::ct2::{Model as Ct2Model, ModelError};
use crate::q8::Q8Matrix;
use crate::softmax::softmax_last;

/// Layer-norm epsilon of every Whisper model.
const LN_EPS: f64 = 1e-5;

/// Query rows whose attention scores exist at once in the encoder. The whole 1500 × 1500
/// score matrix of every head, and the softmax's copies of it, were most of an instance's
/// working memory (about 160 MB for tiny, which a linear memory never gives back); a block
/// of 250 rows holds a sixth of that at no cost in speed.
const QUERY_BLOCK: usize = 250;

type Result<T> = std::result::Result<T, ModelError>;

/// Turns a candle failure into a model error for `file`.
fn tensor_error(file: &str) -> impl Fn(candle_core::Error) -> ModelError + '_ {
    move |err| ModelError { file: file.to_string(), message: format!("tensor error: {err}") }
}

/// The sizes of a model, read from its weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    pub n_mels: usize,
    pub audio_ctx: usize,
    pub text_ctx: usize,
    pub state: usize,
    pub heads: usize,
    pub encoder_layers: usize,
    pub decoder_layers: usize,
    pub vocab: usize,
}

/// How the matrices of the linear layers (and the output projection) are held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// As the model's f32 (f16 weights widened).
    F32,
    /// 8-bit blocks with a scale each: about a quarter of the memory, and the products run
    /// as integer dot products (the activations are quantized per row).
    Q8,
}

impl Precision {
    /// The plugins' `weights` setting: `q8` (the default) or `f32`.
    pub fn from_setting(value: Option<&str>) -> std::result::Result<Precision, String> {
        match value.map(str::trim) {
            None | Some("q8") => Ok(Precision::Q8),
            Some("f32") => Ok(Precision::F32),
            Some(other) => Err(format!("the setting weights = {other:?} is not one of \"q8\" or \"f32\"")),
        }
    }
}

enum Matrix {
    /// `[in, out]`: transposed once at load for `x @ w`.
    F32(Tensor),
    Q8(Q8Matrix),
}

struct Linear {
    matrix: Matrix,
    bias: Option<Tensor>,
}

impl Linear {
    /// A layer of the `[out, in]` matrix `weight`.
    fn new(weight: &Tensor, bias: Option<Tensor>, precision: Precision) -> candle_core::Result<Linear> {
        // A matrix whose input width is not a multiple of the block stays f32.
        let quantized = match precision {
            Precision::Q8 => Q8Matrix::quantize(weight)?,
            Precision::F32 => None,
        };
        let matrix = match quantized {
            Some(q) => Matrix::Q8(q),
            None => Matrix::F32(weight.t()?.contiguous()?),
        };
        Ok(Linear { matrix, bias })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let y = match &self.matrix {
            Matrix::F32(w) => x.broadcast_matmul(w)?,
            Matrix::Q8(w) => w.forward(x)?,
        };
        match &self.bias {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }
}

struct LayerNorm {
    gamma: Tensor,
    beta: Tensor,
}

impl LayerNorm {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mean = x.mean_keepdim(D::Minus1)?;
        let centred = x.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        centred.broadcast_div(&(var + LN_EPS)?.sqrt()?)?.broadcast_mul(&self.gamma)?.broadcast_add(&self.beta)
    }
}

/// Where the network's weights come from, by CTranslate2 name (a CTranslate2 model, or a
/// Hugging Face one translated to those names).
pub trait Weights {
    /// Values and shape of a variable.
    fn values(&self, name: &str) -> Option<(Vec<f32>, Vec<usize>)>;
    /// Shape of a variable.
    fn shape(&self, name: &str) -> Option<Vec<usize>>;
    /// Attention heads per layer.
    fn heads(&self) -> Option<usize>;
}

impl Weights for Ct2Model<'_> {
    fn values(&self, name: &str) -> Option<(Vec<f32>, Vec<usize>)> {
        self.get(name).map(|t| (t.to_f32(), t.shape()))
    }

    fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.get(name).map(|t| t.shape())
    }

    fn heads(&self) -> Option<usize> {
        self.get("decoder/num_heads")?.scalar_i64().and_then(|n| usize::try_from(n).ok())
    }
}

/// Loads tensors by CTranslate2 name.
struct Loader<'a> {
    file: &'a str,
    model: &'a dyn Weights,
    device: Device,
    precision: Precision,
}

impl Loader<'_> {
    fn missing(&self, name: &str) -> ModelError {
        ModelError { file: self.file.into(), message: format!("variable {name} is missing; is this a Whisper model?") }
    }

    fn tensor(&self, name: &str) -> Result<Tensor> {
        let (values, shape) = self.model.values(name).ok_or_else(|| self.missing(name))?;
        Tensor::from_vec(values, shape, &self.device).map_err(tensor_error(self.file))
    }

    fn shape(&self, name: &str) -> Result<Vec<usize>> {
        self.model.shape(name).ok_or_else(|| self.missing(name))
    }

    fn linear(&self, prefix: &str) -> Result<Linear> {
        let weight = self.tensor(&format!("{prefix}/weight"))?;
        let bias = match self.model.shape(&format!("{prefix}/bias")) {
            Some(_) => Some(self.tensor(&format!("{prefix}/bias"))?),
            None => None,
        };
        Linear::new(&weight, bias, self.precision).map_err(tensor_error(self.file))
    }

    fn norm(&self, prefix: &str) -> Result<LayerNorm> {
        Ok(LayerNorm { gamma: self.tensor(&format!("{prefix}/gamma"))?, beta: self.tensor(&format!("{prefix}/beta"))? })
    }


}

/// Multi-head attention over already projected q, k, v: `[T, state]` each.
fn attend(q: &Tensor, k: &Tensor, v: &Tensor, heads: usize, causal_offset: Option<usize>) -> candle_core::Result<Tensor> {
    attend_keeping(q, k, v, heads, causal_offset, false).map(|(out, _)| out)
}

/// [`attend`], also returning the scaled scores before the softmax (`[heads, Tq, Tk]`) when
/// `keep_scores`: the word aligner reads them.
fn attend_keeping(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    heads: usize,
    causal_offset: Option<usize>,
    keep_scores: bool,
) -> candle_core::Result<(Tensor, Option<Tensor>)> {
    let (tq, state) = q.dims2()?;
    let tk = k.dim(0)?;
    let head_dim = state / heads;
    let split = |x: &Tensor, t: usize| x.reshape((t, heads, head_dim))?.transpose(0, 1)?.contiguous();
    // Scaling the queries costs T × state multiplications instead of heads × T × T.
    let scale = 1.0 / (head_dim as f64).sqrt();
    let (q, k, v) = ((split(q, tq)? * scale)?, split(k, tk)?, split(v, tk)?);
    let k_t = k.t()?;
    if causal_offset.is_none() && !keep_scores && tq > QUERY_BLOCK {
        let mut blocks = Vec::with_capacity(tq.div_ceil(QUERY_BLOCK));
        for start in (0..tq).step_by(QUERY_BLOCK) {
            let rows = q.narrow(1, start, QUERY_BLOCK.min(tq - start))?;
            blocks.push(softmax_last(&rows.matmul(&k_t)?)?.matmul(&v)?);
        }
        let out = Tensor::cat(&blocks, 1)?.transpose(0, 1)?.reshape((tq, state))?;
        return Ok((out, None));
    }
    let mut scores = q.matmul(&k_t)?;
    if let Some(offset) = causal_offset.filter(|_| tq > 1) {
        // Query i (at position offset + i) sees keys up to offset + i.
        let mask: Vec<f32> =
            (0..tq).flat_map(|i| (0..tk).map(move |j| if j > offset + i { f32::NEG_INFINITY } else { 0.0 })).collect();
        scores = scores.broadcast_add(&Tensor::from_vec(mask, (tq, tk), q.device())?)?;
    }
    let out = softmax_last(&scores)?.matmul(&v)?.transpose(0, 1)?.reshape((tq, state))?;
    Ok((out, keep_scores.then_some(scores)))
}

struct EncoderLayer {
    attn_norm: LayerNorm,
    qkv: Linear,
    out: Linear,
    ffn_norm: LayerNorm,
    ffn_in: Linear,
    ffn_out: Linear,
}

struct DecoderLayer {
    self_norm: LayerNorm,
    self_qkv: Linear,
    self_out: Linear,
    cross_norm: LayerNorm,
    cross_q: Linear,
    cross_kv: Linear,
    cross_out: Linear,
    ffn_norm: LayerNorm,
    ffn_in: Linear,
    ffn_out: Linear,
}

fn ffn(norm: &LayerNorm, fc1: &Linear, fc2: &Linear, x: &Tensor) -> candle_core::Result<Tensor> {
    x + fc2.forward(&fc1.forward(&norm.forward(x)?)?.gelu_erf()?)?
}

/// The network.
pub struct Whisper {
    pub dims: Dims,
    conv1: (Tensor, Tensor),
    conv2: (Tensor, Tensor),
    audio_positions: Tensor,
    encoder: Vec<EncoderLayer>,
    encoder_norm: LayerNorm,
    embeddings: Tensor,
    /// Logits from the last hidden state: the embeddings, transposed or quantized.
    output: Linear,
    text_positions: Tensor,
    decoder: Vec<DecoderLayer>,
    decoder_norm: LayerNorm,
}

/// Decoder state for one 30 s window: the cross-attention keys and values of its audio, and
/// the self-attention cache of the tokens so far.
pub struct DecoderState {
    cross: Vec<(Tensor, Tensor)>,
    cache: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl DecoderState {
    /// Tokens decoded so far (prompt included).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

fn count_layers(model: &dyn Weights, side: &str) -> usize {
    (0..).take_while(|i| model.shape(&format!("{side}/layer_{i}/ffn/linear_0/weight")).is_some()).count()
}

impl Whisper {
    /// Builds the network from its weights (`file` names them in errors).
    pub fn load(file: &str, model: &dyn Weights, precision: Precision) -> Result<Whisper> {
        let l = Loader { file, model, device: Device::Cpu, precision };
        let conv1 = l.shape("encoder/conv1/weight")?;
        let embeddings = l.shape("decoder/embeddings/weight")?;
        let audio_positions = l.shape("encoder/position_encodings/encodings")?;
        let text_positions = l.shape("decoder/position_encodings/encodings")?;
        let (encoder_layers, decoder_layers) = (count_layers(model, "encoder"), count_layers(model, "decoder"));
        let shape_error = |what: &str| ModelError { file: file.into(), message: format!("unexpected shape of {what}") };
        let dims = Dims {
            n_mels: *conv1.get(1).ok_or_else(|| shape_error("encoder/conv1/weight"))?,
            state: *conv1.first().ok_or_else(|| shape_error("encoder/conv1/weight"))?,
            audio_ctx: *audio_positions.first().ok_or_else(|| shape_error("encoder positions"))?,
            text_ctx: *text_positions.first().ok_or_else(|| shape_error("decoder positions"))?,
            vocab: *embeddings.first().ok_or_else(|| shape_error("decoder/embeddings/weight"))?,
            heads: model.heads().ok_or_else(|| ModelError { file: file.into(), message: "the number of attention heads is missing".into() })?,
            encoder_layers,
            decoder_layers,
        };
        if dims.heads == 0 || !dims.state.is_multiple_of(dims.heads) || encoder_layers == 0 || decoder_layers == 0 {
            return Err(shape_error("the attention layers"));
        }
        let encoder = (0..encoder_layers)
            .map(|i| {
                let p = format!("encoder/layer_{i}");
                Ok(EncoderLayer {
                    attn_norm: l.norm(&format!("{p}/self_attention/layer_norm"))?,
                    qkv: l.linear(&format!("{p}/self_attention/linear_0"))?,
                    out: l.linear(&format!("{p}/self_attention/linear_1"))?,
                    ffn_norm: l.norm(&format!("{p}/ffn/layer_norm"))?,
                    ffn_in: l.linear(&format!("{p}/ffn/linear_0"))?,
                    ffn_out: l.linear(&format!("{p}/ffn/linear_1"))?,
                })
            })
            .collect::<Result<_>>()?;
        let decoder = (0..decoder_layers)
            .map(|i| {
                let p = format!("decoder/layer_{i}");
                Ok(DecoderLayer {
                    self_norm: l.norm(&format!("{p}/self_attention/layer_norm"))?,
                    self_qkv: l.linear(&format!("{p}/self_attention/linear_0"))?,
                    self_out: l.linear(&format!("{p}/self_attention/linear_1"))?,
                    cross_norm: l.norm(&format!("{p}/attention/layer_norm"))?,
                    cross_q: l.linear(&format!("{p}/attention/linear_0"))?,
                    cross_kv: l.linear(&format!("{p}/attention/linear_1"))?,
                    cross_out: l.linear(&format!("{p}/attention/linear_2"))?,
                    ffn_norm: l.norm(&format!("{p}/ffn/layer_norm"))?,
                    ffn_in: l.linear(&format!("{p}/ffn/linear_0"))?,
                    ffn_out: l.linear(&format!("{p}/ffn/linear_1"))?,
                })
            })
            .collect::<Result<_>>()?;
        let embeddings = l.tensor("decoder/embeddings/weight")?;
        // The output projection is the embedding matrix again, read the other way.
        let output = Linear::new(&embeddings, None, precision).map_err(tensor_error(file))?;
        Ok(Whisper {
            dims,
            conv1: (l.tensor("encoder/conv1/weight")?, l.tensor("encoder/conv1/bias")?),
            conv2: (l.tensor("encoder/conv2/weight")?, l.tensor("encoder/conv2/bias")?),
            audio_positions: l.tensor("encoder/position_encodings/encodings")?,
            encoder,
            encoder_norm: l.norm("encoder/layer_norm")?,
            embeddings,
            output,
            text_positions: l.tensor("decoder/position_encodings/encodings")?,
            decoder,
            decoder_norm: l.norm("decoder/layer_norm")?,
        })
    }

    /// Encodes one window of features (`[n_mels][frames]`, row-major; `frames` even and at
    /// most `2 * audio_ctx`) to `[frames / 2, state]`. A window shorter than the model's
    /// 30 s uses the first positions only.
    pub fn encode(&self, mel: &[f32]) -> candle_core::Result<Tensor> {
        let frames = mel.len() / self.dims.n_mels.max(1);
        if frames == 0 || !frames.is_multiple_of(2) || frames > 2 * self.dims.audio_ctx || frames * self.dims.n_mels != mel.len() {
            return Err(candle_core::Error::Msg(format!("{} features are no window of {} mel bands", mel.len(), self.dims.n_mels)));
        }
        let positions = self.audio_positions.narrow(0, 0, frames / 2)?;
        let x = Tensor::from_slice(mel, (1, self.dims.n_mels, frames), &Device::Cpu)?;
        let conv = |x: &Tensor, (w, b): &(Tensor, Tensor), stride| -> candle_core::Result<Tensor> {
            x.conv1d(w, 1, stride, 1, 1)?.broadcast_add(&b.reshape((1, (), 1))?)?.gelu_erf()
        };
        let x = conv(&conv(&x, &self.conv1, 1)?, &self.conv2, 2)?;
        let mut x = x.squeeze(0)?.t()?.broadcast_add(&positions)?;
        for layer in &self.encoder {
            let h = layer.attn_norm.forward(&x)?;
            let qkv = layer.qkv.forward(&h)?;
            let s = self.dims.state;
            let (q, k, v) = (qkv.narrow(1, 0, s)?, qkv.narrow(1, s, s)?, qkv.narrow(1, 2 * s, s)?);
            x = (x + layer.out.forward(&attend(&q, &k, &v, self.dims.heads, None)?)?)?;
            x = ffn(&layer.ffn_norm, &layer.ffn_in, &layer.ffn_out, &x)?;
        }
        self.encoder_norm.forward(&x)
    }

    /// A fresh decoder for the encoded window `audio`.
    pub fn start(&self, audio: &Tensor) -> candle_core::Result<DecoderState> {
        let s = self.dims.state;
        let cross = self
            .decoder
            .iter()
            .map(|layer| {
                let kv = layer.cross_kv.forward(audio)?;
                Ok((kv.narrow(1, 0, s)?, kv.narrow(1, s, s)?))
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(DecoderState { cross, cache: vec![None; self.decoder.len()], len: 0 })
    }

    /// A decoder over the same audio as `state`, with no tokens yet (for a second attempt
    /// at a window, or the alignment pass).
    pub fn restart(&self, state: &DecoderState) -> DecoderState {
        DecoderState { cross: state.cross.clone(), cache: vec![None; self.decoder.len()], len: 0 }
    }

    /// Runs `tokens` through a fresh decoder over `state`'s audio in one pass and returns the
    /// logits at every position (`[T, vocab]`) and, for each `(layer, head)` of `heads`, the
    /// cross-attention scores before the softmax (`[T, audio_ctx]`).
    pub fn forward_all(
        &self,
        state: &DecoderState,
        tokens: &[u32],
        heads: &[(usize, usize)],
    ) -> candle_core::Result<(Tensor, Vec<Tensor>)> {
        let n = tokens.len();
        if n == 0 || n > self.dims.text_ctx {
            candle_core::bail!("the decoder holds at most {} tokens", self.dims.text_ctx);
        }
        let ids = Tensor::new(tokens, &Device::Cpu)?;
        let mut x = self.embeddings.index_select(&ids, 0)?.broadcast_add(&self.text_positions.narrow(0, 0, n)?)?;
        let s = self.dims.state;
        let mut scores = vec![None; heads.len()];
        for (i, layer) in self.decoder.iter().enumerate() {
            let h = layer.self_norm.forward(&x)?;
            let qkv = layer.self_qkv.forward(&h)?;
            let (q, k, v) = (qkv.narrow(1, 0, s)?, qkv.narrow(1, s, s)?, qkv.narrow(1, 2 * s, s)?);
            x = (x + layer.self_out.forward(&attend(&q, &k, &v, self.dims.heads, Some(0))?)?)?;
            let h = layer.cross_norm.forward(&x)?;
            let (ck, cv) = &state.cross[i];
            let keep = heads.iter().any(|&(l, _)| l == i);
            let (attended, layer_scores) =
                attend_keeping(&layer.cross_q.forward(&h)?, ck, cv, self.dims.heads, None, keep)?;
            if let Some(layer_scores) = layer_scores {
                for (j, &(l, head)) in heads.iter().enumerate() {
                    if l == i {
                        scores[j] = Some(layer_scores.get(head)?);
                    }
                }
            }
            x = (x + layer.cross_out.forward(&attended)?)?;
            x = ffn(&layer.ffn_norm, &layer.ffn_in, &layer.ffn_out, &x)?;
        }
        let logits = self.output.forward(&self.decoder_norm.forward(&x)?)?;
        let scores = scores
            .into_iter()
            .zip(heads)
            .map(|(s, (l, h))| s.ok_or_else(|| candle_core::Error::Msg(format!("no attention head {h} in decoder layer {l}"))))
            .collect::<candle_core::Result<_>>()?;
        Ok((logits, scores))
    }

    /// Feeds `tokens` and returns the logits after the last one (`[vocab]`).
    pub fn step(&self, state: &mut DecoderState, tokens: &[u32]) -> candle_core::Result<Vec<f32>> {
        let n = tokens.len();
        if n == 0 || state.len + n > self.dims.text_ctx {
            candle_core::bail!("the decoder holds at most {} tokens", self.dims.text_ctx);
        }
        let ids = Tensor::new(tokens, &Device::Cpu)?;
        let mut x = self.embeddings.index_select(&ids, 0)?.broadcast_add(&self.text_positions.narrow(0, state.len, n)?)?;
        let s = self.dims.state;
        for (i, layer) in self.decoder.iter().enumerate() {
            let h = layer.self_norm.forward(&x)?;
            let qkv = layer.self_qkv.forward(&h)?;
            let (q, k, v) = (qkv.narrow(1, 0, s)?, qkv.narrow(1, s, s)?, qkv.narrow(1, 2 * s, s)?);
            let (k, v) = match state.cache[i].take() {
                Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 0)?, Tensor::cat(&[&pv, &v], 0)?),
                None => (k, v),
            };
            let attended = attend(&q, &k, &v, self.dims.heads, Some(state.len))?;
            state.cache[i] = Some((k, v));
            x = (x + layer.self_out.forward(&attended)?)?;
            let h = layer.cross_norm.forward(&x)?;
            let (ck, cv) = &state.cross[i];
            x = (x + layer.cross_out.forward(&attend(&layer.cross_q.forward(&h)?, ck, cv, self.dims.heads, None)?)?)?;
            x = ffn(&layer.ffn_norm, &layer.ffn_in, &layer.ffn_out, &x)?;
        }
        state.len += n;
        let last = self.decoder_norm.forward(&x.narrow(0, n - 1, 1)?)?;
        self.output.forward(&last)?.squeeze(0)?.to_dtype(DType::F32)?.to_vec1()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mel::{HOP, MelSpectrogram, SAMPLE_RATE};
    use crate::testdata::{model_dir, speech};
    use crate::vocab::Vocabulary;

    #[test]
    fn greedy_decoding_of_espeak_speech() {
        let dir = model_dir();
        let bytes = std::fs::read(dir.join("model.bin")).expect("model.bin");
        let ct2 = Ct2Model::parse("model.bin", &bytes).expect("parses");
        let whisper = Whisper::load("model.bin", &ct2, Precision::F32).expect("loads");
        assert_eq!((whisper.dims.state, whisper.dims.heads, whisper.dims.encoder_layers, whisper.dims.vocab), (384, 6, 4, 51_864));
        let vocab = Vocabulary::parse("vocabulary.txt", &std::fs::read_to_string(dir.join("vocabulary.txt")).expect("vocab")).expect("vocab");
        let s = vocab.specials();

        const SAID: &str = "The quick brown fox jumps over the lazy dog.";
        let mut samples = speech(SAID);
        samples.resize(30 * SAMPLE_RATE, 0.0);
        let (mel, frames) = MelSpectrogram::default().compute(&samples);
        assert_eq!(frames, 30 * SAMPLE_RATE / HOP);
        let audio = whisper.encode(&mel).expect("encodes");
        let mut state = whisper.start(&audio).expect("starts");
        let mut tokens = Vec::new();
        let mut logits = whisper.step(&mut state, &[s.start_of_transcript, s.no_timestamps]).expect("prompt");
        while tokens.len() < 100 {
            // Text tokens only; end-of-text allowed once something was said.
            let best = (0..logits.len())
                .filter(|&t| vocab.is_text(t as u32) || (t as u32 == s.end_of_text && !tokens.is_empty()))
                .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
                .expect("a token") as u32;
            if best == s.end_of_text {
                break;
            }
            tokens.push(best);
            logits = whisper.step(&mut state, &[best]).expect("step");
        }
        // tiny.en on espeak's robotic voice is not perfect (about 13 % WER): most words, in
        // order, and nothing invented.
        let text = vocab.decode(&tokens).to_lowercase();
        let heard: Vec<&str> = text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
        let said: Vec<String> = SAID.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(String::from).collect();
        let matched = said.iter().filter(|w| heard.contains(&w.as_str())).count();
        assert!(matched * 10 >= said.len() * 7, "{matched} of {} words in {text:?}", said.len());
        assert!(heard.len() <= said.len() + 1, "nothing invented: {text:?}");
    }
}
