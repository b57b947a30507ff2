//! CTranslate2 `model.bin`: the weights of a faster-whisper model directory.
//!
//! The file is little-endian: `u32` format version, the spec name (a string), `u32` spec
//! revision, `u32` variable count; per variable its name, `u8` rank, `u32` per dimension,
//! `u8` dtype, `u32` byte count and the bytes; then `u32` alias count and (alias, target)
//! name pairs. A string is a `u16` length that counts a trailing NUL, the bytes, the NUL.
//! (OpenNMT/CTranslate2 `python/ctranslate2/specs/model_spec.py`.)
//!
//! [`Model::parse`] checks the whole layout once and keeps offsets into the caller's buffer,
//! so a 75 MB model is not copied; [`Tensor::to_f32`] converts one variable when the engine
//! needs it. Every error names the file and what was being read.

use std::collections::BTreeMap;
use std::fmt;

/// The format version this reader understands: what CTranslate2 3.x and 4.x write, and so
/// every faster-whisper model on Hugging Face.
const SUPPORTED_VERSION: u32 = 6;
/// Highest rank a Whisper weight has is 3 (the convolutions); anything far above is garbage.
const MAX_RANK: u8 = 8;

/// Element type of a variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F32,
    I8,
    I16,
    I32,
    F16,
    Bf16,
}

impl DType {
    fn from_code(code: u8) -> Option<DType> {
        Some(match code {
            0 => DType::F32,
            1 => DType::I8,
            2 => DType::I16,
            3 => DType::I32,
            4 => DType::F16,
            5 => DType::Bf16,
            _ => return None,
        })
    }

    pub fn size(self) -> usize {
        match self {
            DType::I8 => 1,
            DType::I16 | DType::F16 | DType::Bf16 => 2,
            DType::F32 | DType::I32 => 4,
        }
    }
}

/// Why a model file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelError {
    /// The file, as the operator named it.
    pub file: String,
    pub message: String,
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

impl std::error::Error for ModelError {}

/// One variable, borrowing its bytes from the model buffer.
#[derive(Debug, Clone, Copy)]
pub struct Tensor<'a> {
    pub dtype: DType,
    dims: &'a [u8],
    bytes: &'a [u8],
}

impl Tensor<'_> {
    pub fn shape(&self) -> Vec<usize> {
        self.dims.chunks_exact(4).map(|d| u32::from_le_bytes([d[0], d[1], d[2], d[3]]) as usize).collect()
    }

    pub fn len(&self) -> usize {
        self.bytes.len() / self.dtype.size()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The values as f32 (integers converted by value; quantisation scales are separate
    /// variables in CTranslate2 and are applied by the caller).
    pub fn to_f32(&self) -> Vec<f32> {
        let size = self.dtype.size();
        self.bytes
            .chunks_exact(size)
            .map(|b| match self.dtype {
                DType::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                DType::F16 => half::f16::from_le_bytes([b[0], b[1]]).to_f32(),
                DType::Bf16 => half::bf16::from_le_bytes([b[0], b[1]]).to_f32(),
                DType::I8 => f32::from(i8::from_le_bytes([b[0]])),
                DType::I16 => f32::from(i16::from_le_bytes([b[0], b[1]])),
                DType::I32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32,
            })
            .collect()
    }

    /// A scalar integer (CTranslate2 stores flags such as `decoder/alignment_layer` so).
    pub fn scalar_i64(&self) -> Option<i64> {
        match self.dtype {
            DType::I8 => self.bytes.first().map(|&b| i64::from(b as i8)),
            DType::I16 => Some(i64::from(i16::from_le_bytes(self.bytes.get(..2)?.try_into().ok()?))),
            DType::I32 => Some(i64::from(i32::from_le_bytes(self.bytes.get(..4)?.try_into().ok()?))),
            _ => None,
        }
    }
}

/// A parsed `model.bin`.
#[derive(Debug)]
pub struct Model<'a> {
    pub version: u32,
    /// e.g. `WhisperSpec`.
    pub spec: String,
    pub revision: u32,
    variables: BTreeMap<String, Tensor<'a>>,
    aliases: BTreeMap<String, String>,
}

/// A cursor that turns every short read into an error naming what was being read.
struct Reader<'a> {
    file: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn error(&self, message: String) -> ModelError {
        ModelError { file: self.file.to_string(), message }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], ModelError> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.bytes.len()).ok_or_else(|| {
            self.error(format!("truncated: {what} needs {n} bytes at offset {}, the file has {}", self.at, self.bytes.len()))
        })?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn u8(&mut self, what: &str) -> Result<u8, ModelError> {
        Ok(self.take(1, what)?[0])
    }

    fn u32(&mut self, what: &str) -> Result<u32, ModelError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self, what: &str) -> Result<String, ModelError> {
        let b = self.take(2, what)?;
        let len = usize::from(u16::from_le_bytes([b[0], b[1]]));
        let bytes = self.take(len, what)?;
        let Some((&0, text)) = bytes.split_last() else {
            return Err(self.error(format!("{what} is not a NUL-terminated string")));
        };
        String::from_utf8(text.to_vec()).map_err(|_| self.error(format!("{what} is not UTF-8")))
    }
}

impl<'a> Model<'a> {
    /// Parses `bytes` (the contents of `file`), checking every size against the buffer.
    pub fn parse(file: &'a str, bytes: &'a [u8]) -> Result<Model<'a>, ModelError> {
        let mut r = Reader { file, bytes, at: 0 };
        let version = r.u32("the format version")?;
        if version != SUPPORTED_VERSION {
            return Err(r.error(format!(
                "format version {version} is not supported (expected {SUPPORTED_VERSION}); is this a CTranslate2 model.bin, converted by CTranslate2 3 or later?"
            )));
        }
        let spec = r.string("the spec name")?;
        let revision = r.u32("the spec revision")?;
        let count = r.u32("the variable count")?;
        let mut variables = BTreeMap::new();
        for index in 0..count {
            let name = r.string(&format!("the name of variable {index}"))?;
            let rank = r.u8(&format!("the rank of {name}"))?;
            if rank > MAX_RANK {
                return Err(r.error(format!("{name} has rank {rank}; the file is corrupt")));
            }
            let dims = r.take(usize::from(rank) * 4, &format!("the shape of {name}"))?;
            let code = r.u8(&format!("the type of {name}"))?;
            let dtype = DType::from_code(code).ok_or_else(|| r.error(format!("{name} has unknown type code {code}")))?;
            let byte_count = r.u32(&format!("the size of {name}"))? as usize;
            let elements = dims
                .chunks_exact(4)
                .try_fold(1usize, |acc, d| acc.checked_mul(u32::from_le_bytes([d[0], d[1], d[2], d[3]]) as usize));
            if elements.and_then(|n| n.checked_mul(dtype.size())) != Some(byte_count) {
                return Err(r.error(format!("{name}: {byte_count} bytes do not match its shape and type")));
            }
            let data = r.take(byte_count, &format!("the values of {name}"))?;
            variables.insert(name, Tensor { dtype, dims, bytes: data });
        }
        let mut aliases = BTreeMap::new();
        let count = r.u32("the alias count")?;
        for index in 0..count {
            let alias = r.string(&format!("alias {index}"))?;
            let target = r.string(&format!("the target of alias {alias}"))?;
            if !variables.contains_key(&target) {
                return Err(r.error(format!("alias {alias} points at {target}, which is not in the file")));
            }
            aliases.insert(alias, target);
        }
        if r.at != bytes.len() {
            return Err(r.error(format!("{} unexpected bytes after the alias table", bytes.len() - r.at)));
        }
        Ok(Model { version, spec, revision, variables, aliases })
    }

    /// A variable by name or alias.
    pub fn get(&self, name: &str) -> Option<Tensor<'a>> {
        let name = self.aliases.get(name).map_or(name, String::as_str);
        self.variables.get(name).copied()
    }

    /// Like [`Model::get`], with an error naming the missing variable.
    pub fn require(&self, file: &str, name: &str) -> Result<Tensor<'a>, ModelError> {
        self.get(name).ok_or_else(|| ModelError { file: file.into(), message: format!("variable {name} is missing; is this a Whisper model?") })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.variables.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend(((s.len() + 1) as u16).to_le_bytes());
        out.extend(s.as_bytes());
        out.push(0);
    }

    /// A two-variable model with an alias, as CTranslate2 writes them.
    fn sample() -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(6u32.to_le_bytes());
        string(&mut out, "WhisperSpec");
        out.extend(3u32.to_le_bytes());
        out.extend(2u32.to_le_bytes());
        string(&mut out, "decoder/embeddings/weight");
        out.push(2);
        out.extend(2u32.to_le_bytes());
        out.extend(2u32.to_le_bytes());
        out.push(4); // f16
        out.extend(8u32.to_le_bytes());
        for x in [1.0f32, -2.0, 0.5, 65504.0] {
            out.extend(half::f16::from_f32(x).to_le_bytes());
        }
        string(&mut out, "decoder/alignment_layer");
        out.push(0);
        out.push(2); // i16
        out.extend(2u32.to_le_bytes());
        out.extend((-1i16).to_le_bytes());
        out.extend(1u32.to_le_bytes());
        string(&mut out, "decoder/projection/weight");
        string(&mut out, "decoder/embeddings/weight");
        out
    }

    #[test]
    fn reads_variables_types_and_aliases() {
        let bytes = sample();
        let model = Model::parse("model.bin", &bytes).expect("parses");
        assert_eq!((model.version, model.spec.as_str(), model.revision), (6, "WhisperSpec", 3));
        let embeddings = model.get("decoder/embeddings/weight").expect("present");
        assert_eq!((embeddings.shape(), embeddings.dtype, embeddings.len()), (vec![2, 2], DType::F16, 4));
        assert_eq!(embeddings.to_f32(), vec![1.0, -2.0, 0.5, 65504.0]);
        let projection = model.get("decoder/projection/weight").expect("the alias resolves");
        assert_eq!(projection.to_f32(), embeddings.to_f32());
        assert_eq!(model.get("decoder/alignment_layer").and_then(|t| t.scalar_i64()), Some(-1));
        let missing = model.require("model.bin", "encoder/conv1/weight").expect_err("missing");
        assert!(missing.to_string().starts_with("model.bin: variable encoder/conv1/weight is missing"), "{missing}");
    }

    #[test]
    fn every_cut_and_corruption_is_a_clear_error() {
        let bytes = sample();
        // Every truncation fails (none panics) and names the file.
        for len in 0..bytes.len() {
            let err = Model::parse("tiny/model.bin", &bytes[..len]).expect_err("truncated");
            assert!(err.to_string().starts_with("tiny/model.bin: "), "{err}");
        }
        let mut wrong_version = bytes.clone();
        wrong_version[0] = 42;
        assert!(Model::parse("m", &wrong_version).expect_err("version").message.contains("format version 42"));
        let mut huge_dims = bytes.clone();
        // The first dimension of the first variable: 4 + (2 + 12) + 4 + 4 + (2 + 26) + 1.
        let dims_at = 4 + 14 + 4 + 4 + 28 + 1;
        huge_dims[dims_at..dims_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Model::parse("m", &huge_dims).expect_err("size").message.contains("do not match"));
        let mut trailing = bytes.clone();
        trailing.push(7);
        assert!(Model::parse("m", &trailing).expect_err("trailing").message.contains("unexpected bytes"));
    }
}
