//! Hugging Face Whisper models (`model.safetensors`, `config.json`,
//! `generation_config.json`, `tokenizer.json`), translated to the CTranslate2 names the
//! network is built from: q, k and v projections fused into one matrix (k has no bias, so a
//! zero one is added), cross-attention k and v fused, layer-norm weight/bias as gamma/beta.

use std::collections::HashMap;

use serde::Deserialize;

use crate::ct2::ModelError;
use crate::model::Weights;
use crate::transcribe::ModelConfig;

type Values = (Vec<f32>, Vec<usize>);

/// The weights of a Hugging Face model under CTranslate2 names.
pub struct HfWeights {
    tensors: HashMap<String, Values>,
    heads: usize,
}

impl Weights for HfWeights {
    fn values(&self, name: &str) -> Option<Values> {
        self.tensors.get(name).cloned()
    }

    fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.tensors.get(name).map(|(_, shape)| shape.clone())
    }

    fn heads(&self) -> Option<usize> {
        Some(self.heads)
    }
}

#[derive(Deserialize)]
struct HfConfig {
    decoder_attention_heads: usize,
}

fn error(file: &str, message: impl std::fmt::Display) -> ModelError {
    ModelError { file: file.into(), message: message.to_string() }
}

/// Reads every tensor of a safetensors file as f32, names without the `model.` prefix.
fn read_safetensors(file: &str, bytes: &[u8]) -> Result<HashMap<String, Values>, ModelError> {
    use safetensors::Dtype;
    let tensors = safetensors::SafeTensors::deserialize(bytes).map_err(|err| error(file, format!("not a safetensors file: {err}")))?;
    let mut out = HashMap::new();
    for (name, view) in tensors.tensors() {
        let data = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            Dtype::F16 => data.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            Dtype::BF16 => data.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            other => return Err(error(file, format!("{name} is {other:?}; only f32, f16 and bf16 weights are supported"))),
        };
        out.insert(name.strip_prefix("model.").unwrap_or(&name).to_string(), (values, view.shape().to_vec()));
    }
    Ok(out)
}

/// Stacks `parts` along the first axis.
fn stack(parts: &[&Values]) -> Values {
    let mut shape = parts[0].1.clone();
    shape[0] = parts.iter().map(|p| p.1[0]).sum();
    (parts.iter().flat_map(|p| p.0.iter().copied()).collect(), shape)
}

/// The Hugging Face tensors not yet translated.
struct Source<'a> {
    file: &'a str,
    tensors: HashMap<String, Values>,
}

/// One attention block's projections.
struct Attention {
    q: (Values, Values),
    /// k has no bias in Whisper; a zero one stands in.
    k: (Values, Values),
    v: (Values, Values),
    out: (Values, Values),
}

impl Source<'_> {
    fn take(&mut self, name: &str) -> Result<Values, ModelError> {
        let values = self.tensors.remove(name).ok_or_else(|| error(self.file, format!("tensor {name} is missing; is this a Whisper model?")))?;
        // Every Whisper tensor has at least one axis; stacking relies on it.
        if values.1.first().is_none_or(|&n| n == 0) {
            return Err(error(self.file, format!("tensor {name} has shape {:?}", values.1)));
        }
        Ok(values)
    }

    /// A linear layer's weight and bias.
    fn linear(&mut self, prefix: &str) -> Result<(Values, Values), ModelError> {
        Ok((self.take(&format!("{prefix}.weight"))?, self.take(&format!("{prefix}.bias"))?))
    }

    fn attention(&mut self, prefix: &str) -> Result<Attention, ModelError> {
        let k = self.take(&format!("{prefix}.k_proj.weight"))?;
        let k_bias = (vec![0.0; k.1[0]], vec![k.1[0]]);
        Ok(Attention {
            q: self.linear(&format!("{prefix}.q_proj"))?,
            k: (k, k_bias),
            v: self.linear(&format!("{prefix}.v_proj"))?,
            out: self.linear(&format!("{prefix}.out_proj"))?,
        })
    }
}

/// Inserts a linear layer under CTranslate2's `<to>/weight` and `<to>/bias`.
fn put_linear(out: &mut HashMap<String, Values>, to: &str, (weight, bias): (Values, Values)) {
    out.insert(format!("{to}/weight"), weight);
    out.insert(format!("{to}/bias"), bias);
}

/// Inserts a layer norm under CTranslate2's `<to>/gamma` and `<to>/beta`.
fn put_norm(out: &mut HashMap<String, Values>, to: &str, (weight, bias): (Values, Values)) {
    out.insert(format!("{to}/gamma"), weight);
    out.insert(format!("{to}/beta"), bias);
}

impl HfWeights {
    /// Parses `model.safetensors` (`file`) with the `config.json` beside it.
    pub fn parse(file: &str, bytes: &[u8], config_json: &[u8]) -> Result<HfWeights, ModelError> {
        let config: HfConfig = serde_json::from_slice(config_json)
            .map_err(|err| error("config.json", format!("not a Hugging Face Whisper configuration: {err}")))?;
        let mut src = Source { file, tensors: read_safetensors(file, bytes)? };
        let mut out = HashMap::new();
        let plain = [
            ("encoder.conv1.weight", "encoder/conv1/weight"),
            ("encoder.conv1.bias", "encoder/conv1/bias"),
            ("encoder.conv2.weight", "encoder/conv2/weight"),
            ("encoder.conv2.bias", "encoder/conv2/bias"),
            ("encoder.embed_positions.weight", "encoder/position_encodings/encodings"),
            ("decoder.embed_tokens.weight", "decoder/embeddings/weight"),
            ("decoder.embed_positions.weight", "decoder/position_encodings/encodings"),
        ];
        for (from, to) in plain {
            out.insert(to.to_string(), src.take(from)?);
        }
        for side in ["encoder", "decoder"] {
            put_norm(&mut out, &format!("{side}/layer_norm"), src.linear(&format!("{side}.layer_norm"))?);
            for i in 0.. {
                let (from, to) = (format!("{side}.layers.{i}"), format!("{side}/layer_{i}"));
                if !src.tensors.contains_key(&format!("{from}.fc1.weight")) {
                    break;
                }
                put_linear(&mut out, &format!("{to}/ffn/linear_0"), src.linear(&format!("{from}.fc1"))?);
                put_linear(&mut out, &format!("{to}/ffn/linear_1"), src.linear(&format!("{from}.fc2"))?);
                put_norm(&mut out, &format!("{to}/ffn/layer_norm"), src.linear(&format!("{from}.final_layer_norm"))?);
                put_norm(&mut out, &format!("{to}/self_attention/layer_norm"), src.linear(&format!("{from}.self_attn_layer_norm"))?);
                let a = src.attention(&format!("{from}.self_attn"))?;
                let qkv = (stack(&[&a.q.0, &a.k.0, &a.v.0]), stack(&[&a.q.1, &a.k.1, &a.v.1]));
                put_linear(&mut out, &format!("{to}/self_attention/linear_0"), qkv);
                put_linear(&mut out, &format!("{to}/self_attention/linear_1"), a.out);
                if side == "decoder" {
                    put_norm(&mut out, &format!("{to}/attention/layer_norm"), src.linear(&format!("{from}.encoder_attn_layer_norm"))?);
                    let a = src.attention(&format!("{from}.encoder_attn"))?;
                    let kv = (stack(&[&a.k.0, &a.v.0]), stack(&[&a.k.1, &a.v.1]));
                    put_linear(&mut out, &format!("{to}/attention/linear_0"), a.q);
                    put_linear(&mut out, &format!("{to}/attention/linear_1"), kv);
                    put_linear(&mut out, &format!("{to}/attention/linear_2"), a.out);
                }
            }
        }
        Ok(HfWeights { tensors: out, heads: config.decoder_attention_heads })
    }
}

#[derive(Deserialize)]
struct GenerationConfig {
    #[serde(default)]
    alignment_heads: Vec<(usize, usize)>,
    #[serde(default)]
    suppress_tokens: Vec<u32>,
    #[serde(default)]
    begin_suppress_tokens: Vec<u32>,
    #[serde(default)]
    lang_to_id: HashMap<String, u32>,
}

/// The decoding configuration of a Hugging Face model, from `generation_config.json`.
pub fn model_config(file: &str, bytes: &[u8]) -> Result<ModelConfig, ModelError> {
    let g: GenerationConfig = serde_json::from_slice(bytes).map_err(|err| error(file, format!("not a Whisper generation configuration: {err}")))?;
    let mut lang_ids: Vec<u32> = g.lang_to_id.into_values().collect();
    lang_ids.sort_unstable();
    Ok(ModelConfig { alignment_heads: g.alignment_heads, lang_ids, suppress_ids: g.suppress_tokens, suppress_ids_begin: g.begin_suppress_tokens })
}

#[derive(Deserialize)]
struct Tokenizer {
    model: TokenizerModel,
    #[serde(default)]
    added_tokens: Vec<AddedToken>,
}

#[derive(Deserialize)]
struct TokenizerModel {
    vocab: HashMap<String, u32>,
}

#[derive(Deserialize)]
struct AddedToken {
    id: u32,
    content: String,
}

/// The tokens of `tokenizer.json`, one per line in id order (the `vocabulary.txt` layout).
pub fn vocabulary_lines(file: &str, bytes: &[u8]) -> Result<String, ModelError> {
    let t: Tokenizer = serde_json::from_slice(bytes).map_err(|err| error(file, format!("not a tokenizer: {err}")))?;
    let entries: Vec<(u32, String)> = t.model.vocab.into_iter().map(|(token, id)| (id, token)).chain(t.added_tokens.into_iter().map(|a| (a.id, a.content))).collect();
    let size = entries.iter().map(|(id, _)| *id as usize + 1).max().unwrap_or(0);
    let mut lines = vec![String::new(); size];
    for (id, token) in entries {
        if token.contains('\n') {
            return Err(error(file, format!("token {id} contains a line break")));
        }
        lines[id as usize] = token;
    }
    Ok(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ct2::Model as Ct2Model;
    use crate::load::{self, ReadError};
    use crate::model::Precision;
    use crate::testdata::{model_dir, speech};
    use crate::transcribe::Samples;

    /// tiny.en rewritten the way Hugging Face lays Whisper out: separate q/k/v projections,
    /// `weight`/`bias` norms, `model.` names, and the configuration in its own files.
    fn hugging_face_tiny_en() -> HashMap<String, Vec<u8>> {
        let dir = model_dir();
        let bin = std::fs::read(dir.join("model.bin")).expect("model.bin");
        let ct2 = Ct2Model::parse("model.bin", &bin).expect("parses");
        let get = |name: &str| ct2.values(name).unwrap_or_else(|| panic!("{name}"));
        // Rows `from..from + n` of a matrix or vector.
        let rows = |(values, shape): &Values, from: usize, n: usize| -> Values {
            let width: usize = shape[1..].iter().product();
            let mut s = shape.clone();
            s[0] = n;
            (values[from * width..(from + n) * width].to_vec(), s)
        };
        let mut hf: Vec<(String, Values)> = Vec::new();
        for (from, to) in [
            ("encoder/conv1/weight", "encoder.conv1.weight"),
            ("encoder/conv1/bias", "encoder.conv1.bias"),
            ("encoder/conv2/weight", "encoder.conv2.weight"),
            ("encoder/conv2/bias", "encoder.conv2.bias"),
            ("encoder/position_encodings/encodings", "encoder.embed_positions.weight"),
            ("decoder/embeddings/weight", "decoder.embed_tokens.weight"),
            ("decoder/position_encodings/encodings", "decoder.embed_positions.weight"),
        ] {
            hf.push((to.into(), get(from)));
        }
        let state = get("encoder/conv1/weight").1[0];
        let heads = ct2.heads().expect("heads");
        for side in ["encoder", "decoder"] {
            hf.push((format!("{side}.layer_norm.weight"), get(&format!("{side}/layer_norm/gamma"))));
            hf.push((format!("{side}.layer_norm.bias"), get(&format!("{side}/layer_norm/beta"))));
            let layers = (0..).take_while(|i| ct2.get(&format!("{side}/layer_{i}/ffn/linear_0/weight")).is_some()).count();
            for i in 0..layers {
                let (to, from) = (format!("{side}.layers.{i}"), format!("{side}/layer_{i}"));
                let mut norm = |ct2_name: &str, hf_name: &str| {
                    hf.push((format!("{to}.{hf_name}.weight"), get(&format!("{from}/{ct2_name}/gamma"))));
                    hf.push((format!("{to}.{hf_name}.bias"), get(&format!("{from}/{ct2_name}/beta"))));
                };
                norm("self_attention/layer_norm", "self_attn_layer_norm");
                norm("ffn/layer_norm", "final_layer_norm");
                if side == "decoder" {
                    norm("attention/layer_norm", "encoder_attn_layer_norm");
                }
                for (ct2_name, hf_name) in [("ffn/linear_0", "fc1"), ("ffn/linear_1", "fc2"), ("self_attention/linear_1", "self_attn.out_proj")] {
                    hf.push((format!("{to}.{hf_name}.weight"), get(&format!("{from}/{ct2_name}/weight"))));
                    hf.push((format!("{to}.{hf_name}.bias"), get(&format!("{from}/{ct2_name}/bias"))));
                }
                let (w, b) = (get(&format!("{from}/self_attention/linear_0/weight")), get(&format!("{from}/self_attention/linear_0/bias")));
                for (k, p) in ["q_proj", "k_proj", "v_proj"].iter().enumerate() {
                    hf.push((format!("{to}.self_attn.{p}.weight"), rows(&w, k * state, state)));
                    if *p != "k_proj" {
                        hf.push((format!("{to}.self_attn.{p}.bias"), rows(&b, k * state, state)));
                    }
                }
                if side == "decoder" {
                    for (ct2_name, hf_name) in [("attention/linear_0", "encoder_attn.q_proj"), ("attention/linear_2", "encoder_attn.out_proj")] {
                        hf.push((format!("{to}.{hf_name}.weight"), get(&format!("{from}/{ct2_name}/weight"))));
                        hf.push((format!("{to}.{hf_name}.bias"), get(&format!("{from}/{ct2_name}/bias"))));
                    }
                    let (w, b) = (get(&format!("{from}/attention/linear_1/weight")), get(&format!("{from}/attention/linear_1/bias")));
                    hf.push((format!("{to}.encoder_attn.k_proj.weight"), rows(&w, 0, state)));
                    hf.push((format!("{to}.encoder_attn.v_proj.weight"), rows(&w, state, state)));
                    hf.push((format!("{to}.encoder_attn.v_proj.bias"), rows(&b, state, state)));
                }
            }
        }
        let bytes: Vec<(String, Vec<u8>, Vec<usize>)> =
            hf.into_iter().map(|(name, (v, shape))| (format!("model.{name}"), v.iter().flat_map(|x| x.to_le_bytes()).collect(), shape)).collect();
        let views = bytes.iter().map(|(name, data, shape)| {
            (name.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data).expect("view"))
        });
        let weights = safetensors::tensor::serialize(views, &None).expect("serialises");
        let ct2_config: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("config.json")).expect("config")).expect("json");
        let generation = serde_json::json!({
            "alignment_heads": ct2_config["alignment_heads"],
            "suppress_tokens": ct2_config["suppress_ids"],
            "begin_suppress_tokens": ct2_config["suppress_ids_begin"],
        });
        let vocab = std::fs::read_to_string(dir.join("vocabulary.txt")).expect("vocabulary");
        let tokens: serde_json::Map<String, serde_json::Value> = vocab.lines().enumerate().map(|(i, t)| (t.to_string(), serde_json::json!(i))).collect();
        HashMap::from([
            ("model.safetensors".to_string(), weights),
            ("config.json".to_string(), serde_json::to_vec(&serde_json::json!({ "decoder_attention_heads": heads })).expect("json")),
            ("generation_config.json".to_string(), serde_json::to_vec(&generation).expect("json")),
            ("tokenizer.json".to_string(), serde_json::to_vec(&serde_json::json!({ "model": { "vocab": tokens }, "added_tokens": [] })).expect("json")),
        ])
    }

    struct InMemory(Vec<f32>);

    impl Samples for InMemory {
        fn len(&self) -> usize {
            self.0.len()
        }

        fn read(&mut self, start: usize, count: usize) -> Result<Vec<f32>, String> {
            let end = (start + count).min(self.0.len());
            Ok(self.0[start.min(end)..end].to_vec())
        }
    }

    #[test]
    fn a_hugging_face_model_transcribes_as_its_ctranslate2_twin() {
        let files = hugging_face_tiny_en();
        let from_files = |files: &HashMap<String, Vec<u8>>| {
            let files = files.clone();
            move |name: &str| files.get(name).cloned().ok_or_else(|| ReadError::Unavailable(format!("{name}: No such file")))
        };
        let hf = load::load("tiny.en-hf", Precision::F32, from_files(&files)).expect("the Hugging Face layout loads");
        let dir = model_dir();
        let ct2 = load::load("tiny.en", Precision::F32, |name| std::fs::read(dir.join(name)).map_err(|e| ReadError::Unavailable(e.to_string()))).expect("CT2 loads");
        let audio = speech("Ever tried. Ever failed. No matter. Try again.");
        let text = |engine: &crate::transcribe::Engine| -> String {
            let t = engine.transcribe(&mut InMemory(audio.clone()), None, &mut |_| {}).expect("transcribes");
            t.segments.iter().map(|s| s.text.clone()).collect()
        };
        let (a, b) = (text(&hf), text(&ct2));
        assert!(a.to_lowercase().contains("no matter"), "{a}");
        assert_eq!(a, b, "same weights, same words");

        // A damaged Hugging Face model is named as such.
        let mut broken = files.clone();
        broken.insert("model.safetensors".into(), b"not safetensors at all".to_vec());
        let err = load::load("tiny.en-hf", Precision::F32, from_files(&broken)).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("model.safetensors: not a safetensors file"), "{err}");
        broken.remove("model.safetensors");
        let err = load::load("tiny.en-hf", Precision::F32, from_files(&broken)).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("model.bin: No such file"), "a folder with neither names the CTranslate2 file: {err}");
    }
}
