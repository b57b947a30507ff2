//! Whisper speech recognition for Scribe's offline plugins, built for `wasm32-unknown-unknown`
//! (one thread, no clock, no filesystem: the plugins hand in model bytes and samples) and
//! tested on the host.
//!
//! - [`ct2`]: reads CTranslate2 (faster-whisper) `model.bin` files into named tensors;
//! - [`hf`]: reads Hugging Face models (safetensors) under the same names;
//! - [`mel`]: 16 kHz mono samples to Whisper's log-mel features;
//! - [`vocab`]: token ids to text through the byte-level BPE vocabulary, and the special
//!   tokens the decoder needs;
//! - [`bpe`]: text to token ids by the model's BPE merges, for a prompt;
//! - [`model`]: the encoder and the key/value-cached decoder on candle-core;
//! - [`q8`]: the 8-bit linear layers (SIMD integer dot products in the wasm build);
//! - [`softmax`]: the attention softmax, fused, with an exponential that vectorizes;
//! - [`tensors`]: a tensor's values as a slice, for those loops;
//! - [`decode`]: one 30 s window to tokens under openai's timestamp rules;
//! - [`align`]: word times from the cross-attention of the alignment heads;
//! - [`transcribe`]: a whole recording, window after window, to timed segments and words;
//! - [`load`]: a model's files, read through whatever the plugin is given, to an engine;
//! - [`output`]: segments to the plain words and utterances Scribe stores;
//! - [`segment`]: live audio cut into speech segments at pauses, for the live plugin.

pub mod align;
pub mod bpe;
pub mod ct2;
pub mod decode;
pub mod hf;
pub mod load;
pub mod mel;
pub mod model;
pub mod output;
pub mod q8;
pub mod segment;
pub mod softmax;
pub mod tensors;
pub mod transcribe;
pub mod vocab;

#[cfg(test)]
mod testdata;
