//! `deepgram-batch`: Deepgram pre-recorded speech-to-text (`stt-batch` world).
//!
//! Sits between the host's file job queue and Deepgram's `POST /v1/listen`. This release
//! describes the plugin; the request and response mapping arrives with the file-transcription
//! work and until then `transcribe` answers a clear `other` error.

use scribe_plugin_api::stt_batch::scribe::plugin::types::{
    AudioEncoding, Capabilities, PluginError, PluginInfo,
};
use scribe_plugin_api::stt_batch::{BatchRequest, BatchTranscript, Guest};

/// Deepgram's documented upper limit for a pre-recorded upload.
const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

struct DeepgramBatch;

impl Guest for DeepgramBatch {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: "deepgram-batch".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            name: "Deepgram (pre-recorded)".into(),
            capabilities: Capabilities {
                languages: Vec::new(),
                diarization: true,
                word_timing: true,
                encodings: vec![
                    AudioEncoding::Linear16,
                    AudioEncoding::Wav,
                    AudioEncoding::Flac,
                    AudioEncoding::Mp3,
                    AudioEncoding::OggVorbis,
                    AudioEncoding::OggOpus,
                    AudioEncoding::WebmOpus,
                    AudioEncoding::Aac,
                ],
                max_file_bytes: Some(MAX_FILE_BYTES),
            },
        }
    }

    fn transcribe(_request: BatchRequest) -> Result<BatchTranscript, PluginError> {
        Err(PluginError::Other(
            "deepgram-batch transcription is not implemented in this release".into(),
        ))
    }
}

scribe_plugin_api::register_plugin!(stt_batch, DeepgramBatch);
