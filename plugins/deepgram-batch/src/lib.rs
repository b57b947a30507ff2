//! `deepgram-batch`: Deepgram pre-recorded speech-to-text (`stt-batch` world).
//!
//! Sits between the host's file job queue and Deepgram's `POST /v1/listen`: it builds the
//! request from the operator's settings ([`options`]), sends the audio through the host's
//! `http` capability as a host-streamed body (the host adds the `Authorization` header; this plugin never sees the
//! key), and turns the answer into our words ([`response`]) or a plugin error the host can
//! act on ([`errors`]: retry rate limits and outages, never retry credential problems).

mod errors;
mod options;
mod response;

use scribe_plugin_api::stt_batch::http::{self, Method, Request, RequestBody};
use scribe_plugin_api::stt_batch::types::{Capabilities, PluginError, PluginInfo};
use scribe_plugin_api::stt_batch::{BatchRequest, BatchTranscript, Guest};

use options::Options;

/// Deepgram's documented upper limit for a pre-recorded upload.
const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Deepgram stops processing a pre-recorded request after 10 minutes (20 for Whisper
/// models); wait a little longer than that before giving up.
const REQUEST_TIMEOUT_MS: u32 = 11 * 60 * 1000;

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
                encodings: scribe_plugin_api::stt_batch::every_encoding(),
                max_file_bytes: Some(MAX_FILE_BYTES),
            },
        }
    }

    fn transcribe(request: BatchRequest) -> Result<BatchTranscript, PluginError> {
        if request.size == 0 {
            return Err(PluginError::BadInput("the audio is empty".into()));
        }
        let options = Options::from_settings(|key| {
            scribe_plugin_api::stt_batch::config::get(key)
        })
        .map_err(PluginError::BadInput)?;
        let url = options.listen_url(&request.format, request.language.as_deref());
        let response = http::send(&Request {
            method: Method::Post,
            url,
            headers: vec![(
                "content-type".to_string(),
                options::content_type(request.format.encoding).to_string(),
            )],
            // The host streams the file from disk; it never passes through this plugin.
            body: RequestBody::Audio,
            timeout_ms: Some(REQUEST_TIMEOUT_MS),
        })
        .map_err(errors::from_host)?;
        if !(200..300).contains(&response.status) {
            return Err(errors::from_response(response.status, &response.headers, &response.body));
        }
        response::parse(&response.body, request.language)
    }
}

scribe_plugin_api::register_plugin!(stt_batch, DeepgramBatch);
