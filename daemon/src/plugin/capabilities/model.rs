//! `model`: read-only access to the files of the model the operator chose for a plugin
//! (`plugins.<id>.model`), limited to the names its manifest lists. A name is never joined
//! onto a path unless it is one of those plain names, so nothing outside the model folder can
//! be reached.

use std::io::SeekFrom;

use tokio::io::{AsyncReadExt, AsyncSeekExt};

use wasmtime::component::HasData;

use crate::plugin::bindings::stt_batch::scribe::plugin::model::{self, ModelError};
use crate::plugin::cpu::CpuMeter;

/// Largest piece handed to the guest per `read`: large enough to load a 75 MB model in a few
/// calls, small enough to bound the host's buffer.
const MAX_READ: u32 = 16 << 20;

/// A model the plugin may read (its per-plugin part): the files its manifest lists, in one
/// folder.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    /// The model's name, e.g. `tiny.en`.
    pub name: String,
    pub dir: std::path::PathBuf,
    /// Plain file names from the manifest's `model_files`.
    pub files: Vec<String>,
}

/// What the `model` host functions see of one instance.
pub struct ModelView<'a> {
    pub model: Option<&'a ModelFiles>,
    pub cpu: &'a CpuMeter,
}

/// Links `model` through [`ModelView`].
pub struct ModelCapability;

impl HasData for ModelCapability {
    type Data<'a> = ModelView<'a>;
}

fn granted<'a>(model: Option<&'a ModelFiles>, file: &str) -> Result<(&'a ModelFiles, std::path::PathBuf), ModelError> {
    let model = model.ok_or_else(|| ModelError::NotGranted("no model is configured for this plugin".into()))?;
    if !model.files.iter().any(|f| f == file) {
        return Err(ModelError::NotGranted(format!("{file:?} is not among the model files in the plugin's manifest")));
    }
    Ok((model, model.dir.join(file)))
}

fn unavailable(model: &ModelFiles, file: &str, err: &std::io::Error) -> ModelError {
    ModelError::Unavailable(format!("{}/{file}: {err}", model.name))
}

impl model::Host for ModelView<'_> {
    async fn name(&mut self) -> wasmtime::Result<Result<String, ModelError>> {
        Ok(self.model.map(|m| m.name.clone()).ok_or_else(|| ModelError::NotGranted("no model is configured for this plugin".into())))
    }

    async fn size(&mut self, file: String) -> wasmtime::Result<Result<u64, ModelError>> {
        let (model, path) = match granted(self.model, &file) {
            Ok(found) => found,
            Err(err) => return Ok(Err(err)),
        };
        Ok(self.cpu.host_io(tokio::fs::metadata(&path)).await.map(|m| m.len()).map_err(|err| unavailable(model, &file, &err)))
    }

    async fn read(&mut self, file: String, offset: u64, max: u32) -> wasmtime::Result<Result<Vec<u8>, ModelError>> {
        let (model, path) = match granted(self.model, &file) {
            Ok(found) => found,
            Err(err) => return Ok(Err(err)),
        };
        let read = async {
            let mut handle = tokio::fs::File::open(&path).await?;
            handle.seek(SeekFrom::Start(offset)).await?;
            let mut buf = Vec::new();
            handle.take(u64::from(max.min(MAX_READ))).read_to_end(&mut buf).await?;
            Ok::<_, std::io::Error>(buf)
        };
        Ok(self.cpu.host_io(read).await.map_err(|err| unavailable(model, &file, &err)))
    }
}
