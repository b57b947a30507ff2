//! A summarizer that needs no model: the overview is the transcript's first words.

use scribe_plugin_api::summarizer::types::{Capabilities, PluginError, PluginInfo, Summary};
use scribe_plugin_api::summarizer::{self, CombineRequest, Guest, SummaryOutput, SummaryRequest};
use scribe_plugin_api::{register_plugin, settings};

/// Words in the overview unless `settings.words` says otherwise.
const DEFAULT_WORDS: usize = 12;

struct FirstWords;

fn output(title: &str, text: &str) -> Result<SummaryOutput, PluginError> {
    let words = settings::number(&summarizer::setting, "words", DEFAULT_WORDS).map_err(PluginError::BadInput)?;
    let overview = text.split_whitespace().take(words).collect::<Vec<_>>().join(" ");
    let summary = Summary {
        title: Some(title.to_string()),
        overview,
        key_points: Vec::new(),
        action_items: Vec::new(),
        decisions: Vec::new(),
    };
    Ok(SummaryOutput { summary, model: "first-words".into(), input_tokens: None, output_tokens: None })
}

impl Guest for FirstWords {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: "first-words".into(),
            version: "0.1.0".into(),
            name: "First words".into(),
            capabilities: Capabilities {
                languages: Vec::new(),
                diarization: false,
                word_timing: false,
                encodings: Vec::new(),
                max_file_bytes: None,
            },
        }
    }

    fn summarize(request: SummaryRequest) -> Result<SummaryOutput, PluginError> {
        let text: Vec<&str> = request.segments.iter().map(|s| s.text.as_str()).collect();
        output(&request.title, &text.join(" "))
    }

    fn combine(request: CombineRequest) -> Result<SummaryOutput, PluginError> {
        let text: Vec<&str> = request.parts.iter().map(|p| p.overview.as_str()).collect();
        output(&request.title, &text.join(" "))
    }
}

register_plugin!(summarizer, FirstWords);
