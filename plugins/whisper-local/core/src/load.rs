//! Loading a model from its files, however the plugin reaches them (the host's read-only
//! `model` capability in the components, the filesystem in tests and benchmarks).

use crate::ct2::ModelError;
use crate::hf;
use crate::model::{Precision, Whisper};
use crate::transcribe::{Engine, ModelFiles};
use crate::vocab::Vocabulary;

/// Why a model file could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadError {
    /// The plugin may not read it (no model configured, file not in the manifest).
    Denied(String),
    /// The file is missing or unreadable.
    Unavailable(String),
}

/// Why no engine could be built.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadError {
    /// No model is configured, or a file is not granted.
    Denied(String),
    /// A file is missing, unreadable or not a Whisper model; the message names it.
    Unusable(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Denied(m) | LoadError::Unusable(m) => f.write_str(m),
        }
    }
}

/// Reads a whole file of `size` bytes through `read(offset)`, which returns the next piece
/// (empty at the end).
pub fn read_whole<E>(size: u64, mut read: impl FnMut(u64) -> Result<Vec<u8>, E>) -> Result<Vec<u8>, E> {
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    loop {
        let chunk = read(bytes.len() as u64)?;
        if chunk.is_empty() {
            return Ok(bytes);
        }
        bytes.extend_from_slice(&chunk);
    }
}

/// Builds the engine of the model `name` from its files, read by `read`. A CTranslate2
/// folder has `model.bin`, `config.json` and `vocabulary.txt` (or `vocabulary.json` in newer
/// conversions); a Hugging Face one has `model.safetensors`, `config.json`,
/// `generation_config.json` and `tokenizer.json`.
pub fn load(name: &str, precision: Precision, mut read: impl FnMut(&str) -> Result<Vec<u8>, ReadError>) -> Result<Engine, LoadError> {
    let failed = |err: ReadError| match err {
        ReadError::Denied(m) => LoadError::Denied(m),
        ReadError::Unavailable(m) => LoadError::Unusable(format!("the model {name} is unusable: {m}")),
    };
    let unusable = |err: ModelError| LoadError::Unusable(format!("the model {name} is unusable: {err}"));
    let config = read("config.json").map_err(failed)?;
    let bin = match read("model.bin") {
        Ok(bin) => bin,
        // No CTranslate2 weights: a Hugging Face model, if it is one.
        Err(ReadError::Unavailable(ct2_missing)) => {
            let weights = match read("model.safetensors") {
                Ok(bytes) => bytes,
                Err(ReadError::Unavailable(_)) => return Err(failed(ReadError::Unavailable(ct2_missing))),
                Err(err) => return Err(failed(err)),
            };
            let generation = read("generation_config.json").map_err(failed)?;
            let tokenizer = read("tokenizer.json").map_err(failed)?;
            let lines = hf::vocabulary_lines("tokenizer.json", &tokenizer).map_err(unusable)?;
            let vocab = Vocabulary::parse("tokenizer.json", &lines).map_err(|message| unusable(ModelError { file: "tokenizer.json".into(), message }))?;
            let model = Whisper::load("model.safetensors", &hf::HfWeights::parse("model.safetensors", &weights, &config).map_err(unusable)?, precision).map_err(unusable)?;
            drop(weights);
            let model_config = hf::model_config("generation_config.json", &generation).map_err(unusable)?;
            return Engine::new(model, ("tokenizer.json", vocab), ("generation_config.json", model_config)).map_err(unusable);
        }
        Err(err) => return Err(failed(err)),
    };
    let (vocab_name, vocab) = match read("vocabulary.txt") {
        Ok(bytes) => ("vocabulary.txt", bytes),
        Err(ReadError::Unavailable(_)) => ("vocabulary.json", read("vocabulary.json").map_err(failed)?),
        Err(err) => return Err(failed(err)),
    };
    Engine::load(ModelFiles { model_bin: ("model.bin", &bin), config_json: ("config.json", &config), vocabulary: (vocab_name, &vocab) }, precision).map_err(unusable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_are_joined_and_read_errors_name_the_model() {
        let data: Vec<u8> = (0..10).collect();
        let whole = read_whole::<()>(10, |offset| Ok(data[offset as usize..].iter().take(3).copied().collect()));
        assert_eq!(whole, Ok(data));
        let err = load("tiny.en", Precision::F32, |file| Err(ReadError::Unavailable(format!("tiny.en/{file}: No such file")))).err();
        assert_eq!(err, Some(LoadError::Unusable("the model tiny.en is unusable: tiny.en/config.json: No such file".into())));
        let err = load("x", Precision::F32, |_| Err(ReadError::Denied("no model is configured".into()))).err();
        assert_eq!(err, Some(LoadError::Denied("no model is configured".into())));
    }

    #[test]
    fn a_truncated_model_names_its_file() {
        let dir = crate::testdata::model_dir();
        let err = load("tiny.en", Precision::F32, |file| {
            let bytes = std::fs::read(dir.join(file)).map_err(|e| ReadError::Unavailable(e.to_string()))?;
            Ok(if file == "model.bin" { bytes[..1 << 20].to_vec() } else { bytes })
        })
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.starts_with("the model tiny.en is unusable: model.bin: "), "{err}");
    }
}
