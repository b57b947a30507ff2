//! `audio`: the current transcription's audio, read in pieces by the guest: a whole file, a
//! chunk of speech made of byte ranges of one (see [`crate::speech`]), which the guest sees
//! as one stretch of audio, or a live session's buffer held in memory. A whole file can
//! instead be streamed straight to a provider as an `http` body (see [`super::http`]).

use std::io::SeekFrom;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncSeekExt};

use wasmtime::component::HasData;

use crate::plugin::bindings::stt_batch::scribe::plugin::audio::{self, AudioError};
use crate::plugin::cpu::CpuMeter;

/// Largest piece handed to the guest per `read`.
const MAX_READ: u32 = 1 << 20;

/// The audio of the call in progress.
#[derive(Debug, Clone)]
pub struct AudioInput {
    /// Bytes the guest sees.
    pub size: u64,
    source: Source,
}

#[derive(Debug, Clone)]
enum Source {
    /// Byte ranges of the file the guest sees back to back; `None` is the whole file.
    File { path: PathBuf, ranges: Option<Vec<Range<u64>>> },
    /// Audio held by the host (a live session's buffer).
    Memory(Arc<[u8]>),
}

impl AudioInput {
    /// Describes a file on disk.
    pub fn from_path(path: impl Into<PathBuf>) -> std::io::Result<AudioInput> {
        let path = path.into();
        let size = std::fs::metadata(&path)?.len();
        Ok(AudioInput { size, source: Source::File { path, ranges: None } })
    }

    /// `ranges` of the file at `path`, seen as one stretch.
    pub fn from_ranges(path: impl Into<PathBuf>, ranges: Vec<Range<u64>>) -> AudioInput {
        let size = ranges.iter().map(|r| r.end.saturating_sub(r.start)).sum();
        AudioInput { size, source: Source::File { path: path.into(), ranges: Some(ranges) } }
    }

    /// Bytes in memory.
    pub fn from_memory(bytes: Arc<[u8]>) -> AudioInput {
        AudioInput { size: bytes.len() as u64, source: Source::Memory(bytes) }
    }

    /// Bytes `part` of what the guest would see, as an input of its own (a long recording
    /// split across instances).
    pub fn part(&self, part: Range<u64>) -> AudioInput {
        let start = part.start.min(self.size);
        let part = start..part.end.clamp(start, self.size);
        match &self.source {
            Source::Memory(bytes) => AudioInput::from_memory(bytes[part.start as usize..part.end as usize].into()),
            Source::File { path, ranges } => {
                let mut pieces = Vec::new();
                let mut offset = part.start;
                while offset < part.end {
                    let Some((at, available)) = AudioInput::locate(ranges.as_deref(), self.size, offset) else { break };
                    let len = available.min(part.end - offset);
                    pieces.push(at..at + len);
                    offset += len;
                }
                AudioInput::from_ranges(path.clone(), pieces)
            }
        }
    }

    /// Everything the guest would read, in pieces read from disk as they are taken, so a
    /// recording of any length reaches a provider without being held whole in memory. Fails
    /// when the audio ends short of its size (the file shrank).
    pub fn stream(&self) -> impl futures_util::Stream<Item = std::io::Result<axum::body::Bytes>> + Send + 'static {
        let input = self.clone();
        futures_util::stream::try_unfold(0u64, move |offset| {
            let input = input.clone();
            async move {
                if offset >= input.size {
                    return Ok(None);
                }
                let piece = read_at(&input, offset, MAX_READ).await.map_err(|err| std::io::Error::other(format!("reading the audio: {err:?}")))?;
                if piece.is_empty() {
                    return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the audio ended before its size"));
                }
                let next = offset + piece.len() as u64;
                Ok(Some((axum::body::Bytes::from(piece), next)))
            }
        })
    }

    /// Where byte `offset` of what the guest sees lies in the file, and how many bytes follow
    /// it there before the next range.
    fn locate(ranges: Option<&[Range<u64>]>, size: u64, offset: u64) -> Option<(u64, u64)> {
        let Some(ranges) = ranges else {
            return (offset < size).then(|| (offset, size - offset));
        };
        let mut skip = offset;
        for range in ranges {
            let len = range.end.saturating_sub(range.start);
            if skip < len {
                return Some((range.start + skip, len - skip));
            }
            skip -= len;
        }
        None
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
    let want = u64::from(max.min(MAX_READ)).min(input.size.saturating_sub(offset));
    let (path, ranges) = match &input.source {
        Source::Memory(bytes) => {
            let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
            let end = start.saturating_add(want as usize).min(bytes.len());
            return Ok(bytes[start..end].to_vec());
        }
        Source::File { path, ranges } => (path, ranges.as_deref()),
    };
    let mut buf = Vec::with_capacity(want as usize);
    let mut file = tokio::fs::File::open(path).await.map_err(io)?;
    // A read may span the end of one range and the start of the next.
    while (buf.len() as u64) < want {
        let Some((at, available)) = AudioInput::locate(ranges, input.size, offset + buf.len() as u64) else { break };
        let len = available.min(want - buf.len() as u64);
        file.seek(SeekFrom::Start(at)).await.map_err(io)?;
        let before = buf.len();
        (&mut file).take(len).read_to_end(&mut buf).await.map_err(io)?;
        if buf.len() == before {
            break;
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;

    /// Everything the guest would read, as the host streams it.
    async fn read_all(input: &AudioInput) -> std::io::Result<Vec<u8>> {
        input.stream().try_fold(Vec::new(), |mut all, piece| async move {
            all.extend_from_slice(&piece);
            Ok(all)
        })
        .await
    }

    #[tokio::test]
    async fn a_part_reads_the_bytes_it_covers_across_ranges() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("pcm");
        let bytes: Vec<u8> = (0..100u8).collect();
        std::fs::write(&path, &bytes).expect("write");
        // The guest sees 10..30 then 50..90: 60 bytes; its bytes 15..45 are file 25..30, 50..75.
        let input = AudioInput::from_ranges(&path, vec![10..30, 50..90]);
        let part = input.part(15..45);
        assert_eq!(part.size, 30);
        let want: Vec<u8> = (25..30).chain(50..75).collect();
        assert_eq!(read_all(&part).await.expect("read"), want);
        let whole = AudioInput::from_path(&path).expect("metadata").part(90..200);
        assert_eq!(read_all(&whole).await.expect("read"), (90..100).collect::<Vec<u8>>(), "clamped to the end");
        let memory = AudioInput::from_memory(bytes.into()).part(3..6);
        assert_eq!(read_all(&memory).await.expect("read"), vec![3, 4, 5]);
    }
}
