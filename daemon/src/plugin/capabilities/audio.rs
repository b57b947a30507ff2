//! `audio`: the current transcription's audio, read in pieces by the guest. The same file
//! can instead be streamed straight to a provider as an `http` body (see [`super::http`]).

use std::io::SeekFrom;
use std::path::PathBuf;

use tokio::io::{AsyncReadExt, AsyncSeekExt};

use wasmtime::component::HasData;

use crate::plugin::bindings::stt_batch::scribe::plugin::audio::{self, AudioError};
use crate::plugin::cpu::CpuMeter;

/// Largest piece handed to the guest per `read`.
const MAX_READ: u32 = 1 << 20;

/// The audio file of the call in progress.
#[derive(Debug, Clone)]
pub struct AudioInput {
    pub path: PathBuf,
    pub size: u64,
}

impl AudioInput {
    /// Describes a file on disk.
    pub fn from_path(path: impl Into<PathBuf>) -> std::io::Result<AudioInput> {
        let path = path.into();
        let size = std::fs::metadata(&path)?.len();
        Ok(AudioInput { path, size })
    }
}

/// What the `audio` host functions see of one instance: the current call's audio, if any
/// (the per-instance state is an `Option<AudioInput>` the caller sets for the call).
pub struct AudioView<'a> {
    pub input: Option<&'a AudioInput>,
    pub cpu: &'a CpuMeter,
}

/// Links `audio` through [`AudioView`].
pub struct AudioCapability;

impl HasData for AudioCapability {
    type Data<'a> = AudioView<'a>;
}

async fn read_at(input: &AudioInput, offset: u64, max: u32) -> Result<Vec<u8>, AudioError> {
    let io = |err: std::io::Error| AudioError::Io(err.to_string());
    let len = u64::from(max.min(MAX_READ)).min(input.size.saturating_sub(offset));
    let mut file = tokio::fs::File::open(&input.path).await.map_err(io)?;
    file.seek(SeekFrom::Start(offset)).await.map_err(io)?;
    let mut buf = Vec::with_capacity(len as usize);
    file.take(len).read_to_end(&mut buf).await.map_err(io)?;
    Ok(buf)
}

impl audio::Host for AudioView<'_> {
    async fn size(&mut self) -> wasmtime::Result<Result<u64, AudioError>> {
        Ok(self.input.map(|a| a.size).ok_or(AudioError::None))
    }

    async fn read(&mut self, offset: u64, max: u32) -> wasmtime::Result<Result<Vec<u8>, AudioError>> {
        let Some(input) = self.input else { return Ok(Err(AudioError::None)) };
        Ok(self.cpu.host_io(read_at(input, offset, max)).await)
    }
}
