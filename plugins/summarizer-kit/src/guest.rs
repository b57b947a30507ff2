//! The summarizer world's calls as every summarizer plugin takes them before it asks its
//! model: what it says of itself, and the user message of a request (with the operator's
//! template), or why there is nothing to ask.

use scribe_plugin_api::summarizer::types::{Capabilities, PluginError, PluginInfo};
use scribe_plugin_api::summarizer::{CombineRequest, SummaryRequest};

use crate::prompt;

/// A summarizer's description: it takes no audio, so it claims no audio capabilities.
pub fn info(id: &str, version: &str, name: &str) -> PluginInfo {
    PluginInfo {
        id: id.into(),
        version: version.into(),
        name: name.into(),
        capabilities: Capabilities { languages: Vec::new(), diarization: false, word_timing: false, encodings: Vec::new(), max_file_bytes: None },
    }
}

/// The extra instructions of template `name`, from the settings of `plugin`
/// (`templates.<name>`, read with `get`).
fn template(plugin: &str, name: Option<&str>, get: &impl Fn(&str) -> Option<String>) -> Result<Option<String>, PluginError> {
    let Some(name) = name else { return Ok(None) };
    get(&format!("templates.{name}"))
        .map(Some)
        .ok_or_else(|| PluginError::BadInput(format!("there is no summary template {name:?}; define it as plugins.{plugin}.settings.templates.{name}")))
}

/// The user message summarising `request`; an empty transcript or an unknown template is
/// bad input.
pub fn summary_message(plugin: &str, request: &SummaryRequest, get: impl Fn(&str) -> Option<String>) -> Result<String, PluginError> {
    if request.segments.iter().all(|s| s.text.trim().is_empty()) {
        return Err(PluginError::BadInput("the transcript is empty: nothing to summarise".into()));
    }
    let template = template(plugin, request.template.as_deref(), &get)?;
    Ok(prompt::summarize(request, template.as_deref()))
}

/// The user message merging `request`'s part summaries.
pub fn combine_message(plugin: &str, request: &CombineRequest, get: impl Fn(&str) -> Option<String>) -> Result<String, PluginError> {
    if request.parts.is_empty() {
        return Err(PluginError::BadInput("there are no part summaries to merge".into()));
    }
    let template = template(plugin, request.template.as_deref(), &get)?;
    Ok(prompt::combine(request, template.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use scribe_plugin_api::summarizer::TranscriptSegment;

    fn request(text: &str, template: Option<&str>) -> SummaryRequest {
        SummaryRequest {
            title: "Sync".into(),
            segments: vec![TranscriptSegment { speaker: None, start_ms: 0, end_ms: 1_000, text: text.into() }],
            template: template.map(String::from),
            part: None,
        }
    }

    #[test]
    fn templates_are_looked_up_by_name_and_empty_input_is_refused() {
        let get = |key: &str| (key == "templates.standup").then(|| "List blockers first.".to_string());
        let message = summary_message("claude-summary", &request("Hello.", Some("standup")), get).expect("message");
        assert!(message.contains("List blockers first.") && message.contains("Hello."), "{message}");
        let unknown = summary_message("openai-summary", &request("Hello.", Some("retro")), get).expect_err("unknown");
        assert!(matches!(&unknown, PluginError::BadInput(m) if m.contains("plugins.openai-summary.settings.templates.retro")), "{unknown:?}");
        assert!(matches!(summary_message("x", &request("  ", None), get), Err(PluginError::BadInput(m)) if m.contains("empty")));
        let nothing = CombineRequest { title: "Sync".into(), parts: Vec::new(), template: None };
        assert!(matches!(combine_message("x", &nothing, get), Err(PluginError::BadInput(_))));
    }
}
