//! `whisper-live`: the offline Whisper of whisper-local for live audio, with no network
//! capability at all. It is a batch recogniser (`stt-batch` world) whose manifest sets
//! `live_policy`: the host re-reads a live session's growing buffer with it every step and
//! keeps the words two readings agree on (`daemon/src/live/local.rs`). Its own model,
//! weights and instance keep live reading off the file queue.

#[path = "../../src/glue.rs"]
mod glue;

use scribe_plugin_api::stt_batch_0_3::types::{PluginError, PluginInfo};
use scribe_plugin_api::stt_batch_0_3::{BatchRequest, BatchTranscript, Guest};
use scribe_whisper::transcribe::EncoderContext;

/// A live buffer of a few seconds is encoded alone, not padded to 30 s: the reading that
/// runs every second costs a fraction of a window.
const PLUGIN: glue::Identity = glue::Identity { id: "whisper-live", name: "Whisper live (offline)", encoder_context: EncoderContext::Audio };

struct WhisperLive;

impl Guest for WhisperLive {
    fn describe() -> PluginInfo {
        glue::describe(&PLUGIN)
    }

    fn transcribe(request: BatchRequest) -> Result<BatchTranscript, PluginError> {
        glue::transcribe(&PLUGIN, request)
    }
}

scribe_plugin_api::register_plugin!(stt_batch_0_3, WhisperLive);
