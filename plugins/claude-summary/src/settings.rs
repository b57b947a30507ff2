//! The operator's settings (`[plugins.claude-summary.settings]`), read through the `config`
//! import and checked once per call, so a typo is a clear error rather than a silent default.

/// Model used when the operator names none: a current alias (docs/protocols/anthropic.md §7)
/// that resolves to a dated Sonnet, the balance of quality and cost summaries want.
pub const DEFAULT_MODEL: &str = "claude-sonnet-4-5";
/// Where requests go unless the operator points the plugin at a compatible server.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// Output budget of one summary. A structured summary of an hour's meeting is 500-1,500
/// tokens; 4,096 leaves room for a long one without letting a runaway answer cost much.
pub const DEFAULT_MAX_TOKENS: u32 = 4_096;
/// Largest `max_tokens` accepted: above ~21,000 the API wants streaming anyway, and no
/// summary needs that much.
const MAX_MAX_TOKENS: u32 = 21_000;

/// How the answer is to be given, after the shared instructions.
const ANSWER_BY_TOOL: &str = "Always answer by calling the record_summary tool.";

/// Instructions the model gets for every summary.
pub fn default_system_prompt() -> String {
    format!("{} {ANSWER_BY_TOOL}", scribe_summarizer_kit::prompt::INSTRUCTIONS)
}

/// Parsed settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub base_url: String,
    pub model: String,
    pub max_tokens: u32,
    /// Stream the answer (server-sent events) and report partial summaries.
    pub stream: bool,
    pub system_prompt: String,
}

impl Settings {
    /// Reads the settings with `get` (the `config` import).
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let max_tokens = match get("max_tokens") {
            None => DEFAULT_MAX_TOKENS,
            Some(text) => match text.trim().parse::<u32>() {
                Ok(n) if (1..=MAX_MAX_TOKENS).contains(&n) => n,
                _ => return Err(format!("max_tokens must be a whole number from 1 to {MAX_MAX_TOKENS}, not {text:?}")),
            },
        };
        let stream = match get("stream").as_deref().map(str::trim) {
            None | Some("true") => true,
            Some("false") => false,
            Some(other) => return Err(format!("stream must be true or false, not {other:?}")),
        };
        let base_url = get("base_url").unwrap_or_else(|| DEFAULT_BASE_URL.into());
        Ok(Settings {
            base_url: base_url.trim_end_matches('/').to_string(),
            model: get("model").filter(|m| !m.trim().is_empty()).unwrap_or_else(|| DEFAULT_MODEL.into()),
            max_tokens,
            stream,
            system_prompt: get("system_prompt").filter(|p| !p.trim().is_empty()).unwrap_or_else(default_system_prompt),
        })
    }

    /// The Messages endpoint.
    pub fn messages_url(&self) -> String {
        format!("{}/v1/messages", self.base_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        Settings::read(|key| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn defaults_and_overrides() {
        let defaults = read(&[]).expect("defaults");
        assert_eq!((defaults.model.as_str(), defaults.max_tokens, defaults.stream), (DEFAULT_MODEL, DEFAULT_MAX_TOKENS, true));
        assert_eq!(defaults.messages_url(), "https://api.anthropic.com/v1/messages");
        let custom = read(&[("model", "claude-haiku-4-5"), ("max_tokens", "1024"), ("stream", "false"), ("base_url", "http://127.0.0.1:9/")])
            .expect("custom");
        assert_eq!((custom.model.as_str(), custom.max_tokens, custom.stream), ("claude-haiku-4-5", 1024, false));
        assert_eq!(custom.messages_url(), "http://127.0.0.1:9/v1/messages");
    }

    #[test]
    fn bad_values_are_named() {
        for (key, value) in [("max_tokens", "0"), ("max_tokens", "lots"), ("max_tokens", "50000"), ("stream", "yes")] {
            let err = read(&[(key, value)]).expect_err(key);
            assert!(err.contains(key) && err.contains(value), "{err}");
        }
    }

}
