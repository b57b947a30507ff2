//! `claude-summary`: summaries with Anthropic's Messages API (`summarizer` world).
//!
//! Sits after a session completes: the host hands it the transcript and stores the summary it
//! returns. This release describes the plugin; the Messages API mapping arrives with the
//! summaries work and until then `summarize` answers a clear `other` error.

use scribe_plugin_api::summarizer::scribe::plugin::types::{
    Capabilities, PluginError, PluginInfo, Summary,
};
use scribe_plugin_api::summarizer::{Guest, SummaryRequest};

struct ClaudeSummary;

impl Guest for ClaudeSummary {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: "claude-summary".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            name: "Claude summaries".into(),
            capabilities: Capabilities {
                languages: Vec::new(),
                diarization: false,
                word_timing: false,
                encodings: Vec::new(),
                max_file_bytes: None,
            },
        }
    }

    fn summarize(_request: SummaryRequest) -> Result<Summary, PluginError> {
        Err(PluginError::Other(
            "claude-summary is not implemented in this release".into(),
        ))
    }
}

scribe_plugin_api::register_plugin!(summarizer, ClaudeSummary);
