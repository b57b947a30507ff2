//! PyTorch checkpoints (`torch.save`: a zip of one pickle and raw storages), read from memory
//! into named f32 tensors. The plugin has no filesystem, so candle's path-based reader does
//! not fit; its pickle machine does the parsing. A Lightning checkpoint's weights sit under
//! `state_dict`; its other entries (hyper-parameters naming Python classes) are skipped.

use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::path::Path;

use candle_core::pickle::{Object, Stack};
use candle_core::{DType, Device, Tensor};

/// Why a checkpoint could not be read. `file` names it for the operator.
#[derive(Debug, thiserror::Error)]
pub enum PthError {
    #[error("{file} is not a PyTorch checkpoint: {message}")]
    Format { file: String, message: String },
    #[error("{file} lacks the tensor {name}")]
    Missing { file: String, name: String },
    #[error("{file}: {name} is {found:?}, expected {expected:?}")]
    Shape { file: String, name: String, found: Vec<usize>, expected: Vec<usize> },
}

/// The tensors of one checkpoint, by their state-dict names.
pub struct Checkpoint {
    file: String,
    tensors: HashMap<String, Tensor>,
}

impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Checkpoint({}, {} tensors)", self.file, self.tensors.len())
    }
}

impl Checkpoint {
    /// Reads `bytes`, the contents of the checkpoint called `file`.
    pub fn read(file: &str, bytes: &[u8]) -> Result<Checkpoint, PthError> {
        let format = |message: String| PthError::Format { file: file.to_owned(), message };
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format(e.to_string()))?;
        let pickle_name = zip
            .file_names()
            .find(|n| n.ends_with("data.pkl"))
            .map(str::to_owned)
            .ok_or_else(|| format("no data.pkl".into()))?;
        let storage_dir = pickle_name.trim_end_matches(".pkl").to_owned();
        let mut pickle = Vec::new();
        zip.by_name(&pickle_name).and_then(|mut f| Ok(f.read_to_end(&mut pickle)?)).map_err(|e| format(e.to_string()))?;
        let mut stack = Stack::empty();
        stack.read_loop(&mut Cursor::new(pickle)).map_err(|e| format(format!("unreadable pickle: {e}")))?;
        let root = stack.finalize().map_err(|e| format(format!("unreadable pickle: {e}")))?;

        let Object::Dict(mut entries) = root else { return Err(format("the pickle holds no dictionary".into())) };
        // A Lightning checkpoint: the weights are one entry of the top dictionary.
        if let Some(at) = entries.iter().position(|(k, _)| *k == Object::Unicode("state_dict".into())) {
            match entries.swap_remove(at).1 {
                Object::Dict(inner) => entries = inner,
                _ => return Err(format("state_dict is not a dictionary".into())),
            }
        }
        let mut tensors = HashMap::new();
        for (name, value) in entries {
            let info = match value.into_tensor_info(name, Path::new(&storage_dir)) {
                Ok(Some(info)) => info,
                // Not a tensor (a counter, a config value): not needed.
                _ => continue,
            };
            if !info.layout.is_contiguous() {
                return Err(format(format!("{} is not stored contiguously", info.name)));
            }
            let mut storage = Vec::new();
            zip.by_name(&info.path).and_then(|mut f| Ok(f.read_to_end(&mut storage)?)).map_err(|e| format(e.to_string()))?;
            let size = info.dtype.size_in_bytes();
            // candle's reader records the offset in bytes already.
            let start = info.layout.start_offset();
            let end = start + info.layout.shape().elem_count() * size;
            let raw = storage.get(start..end).ok_or_else(|| format(format!("{} is shorter than its shape", info.name)))?;
            let tensor = Tensor::from_raw_buffer(raw, info.dtype, info.layout.dims(), &Device::Cpu)
                .and_then(|t| if info.dtype == DType::F32 { Ok(t) } else { t.to_dtype(DType::F32) })
                .map_err(|e| format(format!("{}: {e}", info.name)))?;
            tensors.insert(info.name, tensor);
        }
        Ok(Checkpoint { file: file.to_owned(), tensors })
    }

    /// The tensor `name`, which must have `shape`.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor, PthError> {
        let tensor = self.tensors.get(name).ok_or_else(|| PthError::Missing { file: self.file.clone(), name: name.to_owned() })?;
        if tensor.dims() != shape {
            return Err(PthError::Shape { file: self.file.clone(), name: name.to_owned(), found: tensor.dims().to_vec(), expected: shape.to_vec() });
        }
        Ok(tensor.clone())
    }

    /// The values of the tensor `name`, which must have `shape`.
    pub fn values(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, PthError> {
        let tensor = self.get(name, shape)?;
        tensor.flatten_all().and_then(|t| t.to_vec1::<f32>()).map_err(|e| PthError::Format { file: self.file.clone(), message: e.to_string() })
    }
}
