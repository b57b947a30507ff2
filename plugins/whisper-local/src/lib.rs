//! `whisper-local`: offline Whisper speech-to-text (`stt-batch` world), with
//! no network capability at all.
//!
//! - [`ct2`]: reads CTranslate2 (faster-whisper) `model.bin` files into named tensors;
//! - [`mel`]: 16 kHz mono samples to Whisper's 80-bin log-mel features;
//! - [`vocab`]: token ids to text through the byte-level BPE vocabulary, and the special
//!   tokens the decoder needs;
//! - [`model`]: the encoder and the key/value-cached decoder on candle-core;
//! - [`decode`]: one 30 s window to tokens under openai's timestamp rules;
//! - [`align`]: word times from the cross-attention of the alignment heads;
//! - [`transcribe`]: a whole recording, window after window, to timed segments and words;
//! - `plugin`: the `stt-batch` exports over the host's `model` and `audio` capabilities.

pub mod align;
pub mod ct2;
pub mod decode;
pub mod mel;
pub mod model;
pub mod transcribe;
pub mod vocab;

mod plugin;

use plugin::WhisperLocal;

#[cfg(test)]
mod testdata;

scribe_plugin_api::register_plugin!(stt_batch, WhisperLocal);
