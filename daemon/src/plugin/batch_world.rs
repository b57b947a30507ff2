//! The `stt-batch` world in each version the host speaks, behind one type: a 0.1.0 request
//! has no prompt, a 0.2.0 one may carry the text said before its audio, a 0.3.0 one says
//! whether to translate. Callers build one [`Request`] and get one transcript type back from
//! any; the component's stamp ([`super::api_version`]) says which bindings it gets. A
//! translation asked of a component older than 0.3.0 is refused here, as the plugin's own
//! `bad-input`, without a call.

use wasmtime::Store;
use wasmtime::component::{Instance, InstancePre};

use super::bindings::types::{AudioFormat, PluginError, PluginInfo};
use super::bindings::{stt_batch as v0_1, stt_batch_0_2 as v0_2, stt_batch_0_3 as v0_3};
use super::state::PluginState;

pub use v0_3::{BatchTranscript, Task};

/// A transcription call, in terms every version can take.
#[derive(Debug, Clone)]
pub struct Request {
    pub format: AudioFormat,
    pub size: u64,
    pub language: Option<String>,
    /// Read by 0.2.0 components and later; a 0.1.0 one transcribes without it.
    pub prompt: Option<String>,
    /// Only 0.3.0 components translate.
    pub task: Task,
}

/// The contract a batch component was built against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V0_1,
    V0_2,
    V0_3,
}

impl Version {
    /// The version of a component's stamp, one [`super::api_version::check`] accepted.
    pub fn from_stamp(stamp: &str) -> Version {
        match stamp {
            "0.2.0" => Version::V0_2,
            "0.3.0" => Version::V0_3,
            _ => Version::V0_1,
        }
    }
}

/// A batch component, linked and ready to instantiate.
pub enum SttBatchPre {
    V0_1(v0_1::SttBatchPre<PluginState>),
    V0_2(v0_2::SttBatchPre<PluginState>),
    V0_3(v0_3::SttBatchPre<PluginState>),
}

impl SttBatchPre {
    pub fn new(version: Version, pre: InstancePre<PluginState>) -> wasmtime::Result<SttBatchPre> {
        Ok(match version {
            Version::V0_1 => SttBatchPre::V0_1(v0_1::SttBatchPre::new(pre)?),
            Version::V0_2 => SttBatchPre::V0_2(v0_2::SttBatchPre::new(pre)?),
            Version::V0_3 => SttBatchPre::V0_3(v0_3::SttBatchPre::new(pre)?),
        })
    }

    pub async fn instantiate_async(&self, store: &mut Store<PluginState>) -> wasmtime::Result<SttBatch> {
        Ok(match self {
            SttBatchPre::V0_1(pre) => SttBatch::V0_1(pre.instantiate_async(store).await?),
            SttBatchPre::V0_2(pre) => SttBatch::V0_2(pre.instantiate_async(store).await?),
            SttBatchPre::V0_3(pre) => SttBatch::V0_3(pre.instantiate_async(store).await?),
        })
    }
}

/// The exports of a batch instance.
pub enum SttBatch {
    V0_1(v0_1::SttBatch),
    V0_2(v0_2::SttBatch),
    V0_3(v0_3::SttBatch),
}

impl SttBatch {
    pub fn new(version: Version, store: &mut Store<PluginState>, instance: &Instance) -> wasmtime::Result<SttBatch> {
        Ok(match version {
            Version::V0_1 => SttBatch::V0_1(v0_1::SttBatch::new(store, instance)?),
            Version::V0_2 => SttBatch::V0_2(v0_2::SttBatch::new(store, instance)?),
            Version::V0_3 => SttBatch::V0_3(v0_3::SttBatch::new(store, instance)?),
        })
    }

    pub async fn call_describe(&self, store: &mut Store<PluginState>) -> wasmtime::Result<PluginInfo> {
        match self {
            SttBatch::V0_1(b) => b.call_describe(store).await,
            SttBatch::V0_2(b) => b.call_describe(store).await,
            SttBatch::V0_3(b) => b.call_describe(store).await,
        }
    }

    pub async fn call_transcribe(&self, store: &mut Store<PluginState>, request: &Request) -> wasmtime::Result<Result<BatchTranscript, PluginError>> {
        let Request { format, size, language, prompt, task } = request.clone();
        if task == Task::Translate && !matches!(self, SttBatch::V0_3(_)) {
            return Ok(Err(PluginError::BadInput(CANNOT_TRANSLATE.to_string())));
        }
        let v0_2 = |t: v0_2::BatchTranscript| BatchTranscript { words: t.words, language: t.language, duration_ms: t.duration_ms, structure: t.structure, notes: t.notes };
        match self {
            SttBatch::V0_1(b) => {
                let answer = b.call_transcribe(store, &v0_1::BatchRequest { format, size, language }).await?;
                Ok(answer.map(|t| BatchTranscript { words: t.words, language: t.language, duration_ms: t.duration_ms, structure: t.structure, notes: Vec::new() }))
            }
            SttBatch::V0_2(b) => Ok(b.call_transcribe(store, &v0_2::BatchRequest { format, size, language, prompt }).await?.map(v0_2)),
            SttBatch::V0_3(b) => b.call_transcribe(store, &v0_3::BatchRequest { format, size, language, prompt, task }).await,
        }
    }
}

/// Why a component older than 0.3.0 does not translate.
const CANNOT_TRANSLATE: &str = "this recogniser cannot translate: it was built against a scribe:plugin version before 0.3.0, whose requests have no task";
