//! `deepgram-live`: Deepgram streaming speech-to-text (`stt-live` world).
//!
//! Sits between the host's live session (which pushes 16 kHz mono linear16 frames and
//! delivers socket events) and Deepgram's `/v1/listen` WebSocket. This release describes the
//! plugin; the streaming protocol arrives with the live-transcription work and until then every
//! session call answers a clear `other` error instead of pretending to transcribe.

use scribe_plugin_api::stt_live::scribe::plugin::types::{
    AudioEncoding, Capabilities, PluginError, PluginInfo, TranscriptUpdate,
};
use scribe_plugin_api::stt_live::scribe::plugin::websocket::SocketEvent;
use scribe_plugin_api::stt_live::{Guest, LiveConfig};

const NOT_YET: &str = "deepgram-live streaming is not implemented in this release";

struct DeepgramLive;

impl Guest for DeepgramLive {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: "deepgram-live".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            name: "Deepgram (live)".into(),
            capabilities: Capabilities {
                languages: Vec::new(),
                diarization: true,
                word_timing: true,
                encodings: vec![AudioEncoding::Linear16],
                max_file_bytes: None,
            },
        }
    }

    fn start(_config: LiveConfig) -> Result<Vec<TranscriptUpdate>, PluginError> {
        Err(PluginError::Other(NOT_YET.into()))
    }

    fn push_audio(_frame: Vec<u8>) -> Result<Vec<TranscriptUpdate>, PluginError> {
        Err(PluginError::Other(NOT_YET.into()))
    }

    fn on_socket_event(_socket: u64, _event: SocketEvent) -> Result<Vec<TranscriptUpdate>, PluginError> {
        Err(PluginError::Other(NOT_YET.into()))
    }

    fn tick(_now_ms: u64) -> Result<Vec<TranscriptUpdate>, PluginError> {
        Ok(Vec::new())
    }

    fn finish() -> Result<Vec<TranscriptUpdate>, PluginError> {
        Ok(Vec::new())
    }
}

scribe_plugin_api::register_plugin!(stt_live, DeepgramLive);
