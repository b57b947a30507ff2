//! `whisper-local`: offline Whisper speech-to-text for files (`stt-batch` world), with no
//! network capability at all. The recogniser is `scribe-whisper` (`core/`); [`glue`] is what
//! this plugin and whisper-live (`live/`) share.

mod glue;

use scribe_plugin_api::stt_batch_0_3::types::{PluginError, PluginInfo};
use scribe_plugin_api::stt_batch_0_3::{BatchRequest, BatchTranscript, Guest};
use scribe_whisper::transcribe::EncoderContext;

/// Files are read in whole 30 s windows, as the model was trained.
const PLUGIN: glue::Identity = glue::Identity { id: "whisper-local", name: "Whisper (offline)", encoder_context: EncoderContext::Window };

struct WhisperLocal;

impl Guest for WhisperLocal {
    fn describe() -> PluginInfo {
        glue::describe(&PLUGIN)
    }

    fn transcribe(request: BatchRequest) -> Result<BatchTranscript, PluginError> {
        glue::transcribe(&PLUGIN, request)
    }
}

scribe_plugin_api::register_plugin!(stt_batch_0_3, WhisperLocal);
