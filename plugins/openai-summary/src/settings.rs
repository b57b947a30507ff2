//! The operator's settings (`[plugins.openai-summary.settings]`), read through the `config`
//! import and checked once per call, so a typo is a clear error rather than a silent default.

use scribe_summarizer_kit::prompt::INSTRUCTIONS;

/// Where requests go unless the operator says otherwise: Ollama on this machine.
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:11434";
/// Output budget of one summary. A structured summary of an hour's meeting is 500-1,500
/// tokens; 4,096 leaves room for a long one and fits the smallest local contexts beside a
/// part of the transcript.
pub const DEFAULT_MAX_TOKENS: u32 = 4_096;
/// Largest `max_tokens` accepted: no summary needs more, and a local model asked for more
/// than its context fails late.
const MAX_MAX_TOKENS: u32 = 32_768;
/// Sampling temperature unless set: low, for a faithful summary rather than a creative one.
pub const DEFAULT_TEMPERATURE: f64 = 0.2;
/// The range OpenAI's API accepts.
const MAX_TEMPERATURE: f64 = 2.0;

/// How the answer's structure is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Structured {
    /// `response_format` with the strict JSON schema (OpenAI, vLLM, llama.cpp, recent Ollama).
    JsonSchema,
    /// A forced call of one tool whose parameters are the schema.
    Tool,
    /// `response_format: json_object`, with the schema in the prompt.
    JsonObject,
}

impl Structured {
    /// The setting's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Structured::JsonSchema => "json_schema",
            Structured::Tool => "tool",
            Structured::JsonObject => "json_object",
        }
    }

    /// The next weaker mechanism, for `auto`.
    pub fn weaker(self) -> Option<Structured> {
        match self {
            Structured::JsonSchema => Some(Structured::Tool),
            Structured::Tool => Some(Structured::JsonObject),
            Structured::JsonObject => None,
        }
    }
}

/// Parsed settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub base_url: String,
    pub model: String,
    pub max_tokens: u32,
    pub temperature: f64,
    /// Stream the answer (server-sent events) and report partial summaries.
    pub stream: bool,
    /// A fixed mechanism, or `None` for `auto`: the strongest the server takes.
    pub structured: Option<Structured>,
    pub system_prompt: String,
}

impl Settings {
    /// Reads the settings with `get` (the `config` import).
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let model = get("model").map(|m| m.trim().to_string()).filter(|m| !m.is_empty()).ok_or_else(|| {
            "not configured: set model to a model the server has (for Ollama, a name from `ollama list`, e.g. \"llama3.2\")".to_string()
        })?;
        let max_tokens = match get("max_tokens") {
            None => DEFAULT_MAX_TOKENS,
            Some(text) => match text.trim().parse::<u32>() {
                Ok(n) if (1..=MAX_MAX_TOKENS).contains(&n) => n,
                _ => return Err(format!("max_tokens must be a whole number from 1 to {MAX_MAX_TOKENS}, not {text:?}")),
            },
        };
        let temperature = match get("temperature") {
            None => DEFAULT_TEMPERATURE,
            Some(text) => match text.trim().parse::<f64>() {
                Ok(t) if (0.0..=MAX_TEMPERATURE).contains(&t) => t,
                _ => return Err(format!("temperature must be a number from 0 to {MAX_TEMPERATURE}, not {text:?}")),
            },
        };
        let stream = match get("stream").as_deref().map(str::trim) {
            None | Some("true") => true,
            Some("false") => false,
            Some(other) => return Err(format!("stream must be true or false, not {other:?}")),
        };
        let structured = match get("structured").as_deref().map(str::trim) {
            None | Some("auto") => None,
            Some("json_schema") => Some(Structured::JsonSchema),
            Some("tool") => Some(Structured::Tool),
            Some("json_object") => Some(Structured::JsonObject),
            Some(other) => return Err(format!("structured must be auto, json_schema, tool or json_object, not {other:?}")),
        };
        let base_url = get("base_url").unwrap_or_else(|| DEFAULT_BASE_URL.into());
        Ok(Settings {
            base_url: base_url.trim().trim_end_matches('/').trim_end_matches("/v1").to_string(),
            model,
            max_tokens,
            temperature,
            stream,
            structured,
            system_prompt: get("system_prompt").filter(|p| !p.trim().is_empty()).unwrap_or_else(|| INSTRUCTIONS.into()),
        })
    }

    /// The Chat Completions endpoint.
    pub fn chat_url(&self) -> String {
        format!("{}/v1/chat/completions", self.base_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        Settings::read(|key| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn a_model_is_required_and_the_rest_has_defaults() {
        let err = read(&[]).expect_err("no model");
        assert!(err.starts_with("not configured") && err.contains("model"), "{err}");
        let s = read(&[("model", "llama3.2")]).expect("defaults");
        assert_eq!((s.max_tokens, s.temperature, s.stream, s.structured), (DEFAULT_MAX_TOKENS, DEFAULT_TEMPERATURE, true, None));
        assert_eq!(s.chat_url(), "http://127.0.0.1:11434/v1/chat/completions");
        assert_eq!(s.system_prompt, INSTRUCTIONS);
    }

    #[test]
    fn overrides_and_a_base_url_given_with_its_v1() {
        let s = read(&[("model", "m"), ("base_url", "http://127.0.0.1:8080/v1/"), ("stream", "false"), ("structured", "tool"), ("temperature", "0")])
            .expect("custom");
        assert_eq!(s.chat_url(), "http://127.0.0.1:8080/v1/chat/completions");
        assert_eq!((s.stream, s.structured, s.temperature), (false, Some(Structured::Tool), 0.0));
    }

    #[test]
    fn bad_values_are_named() {
        for (key, value) in [("max_tokens", "0"), ("max_tokens", "lots"), ("temperature", "3"), ("stream", "yes"), ("structured", "xml")] {
            let err = read(&[("model", "m"), (key, value)]).expect_err(key);
            assert!(err.contains(key) && err.contains(value), "{err}");
        }
    }
}
