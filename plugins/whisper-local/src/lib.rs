//! `whisper-local`: offline Whisper speech-to-text (`stt-batch` and `stt-live` worlds), with
//! no network capability at all.
//!
//! Work in progress: the pieces that do not depend on the inference engine are here and
//! tested on the host. There is no `plugin.toml` yet, so the build does not ship it as a
//! plugin until it transcribes.
//!
//! - [`ct2`]: reads CTranslate2 (faster-whisper) `model.bin` files into named tensors;
//! - [`mel`]: 16 kHz mono samples to Whisper's 80-bin log-mel features;
//! - [`vocab`]: token ids to text through the byte-level BPE vocabulary, and the special
//!   tokens the decoder needs;
//! - [`model`]: the encoder and the key/value-cached decoder on candle-core.

pub mod align;
pub mod ct2;
pub mod decode;
pub mod mel;
pub mod model;
pub mod transcribe;
pub mod vocab;

#[cfg(test)]
mod testdata;
