//! The operator's settings (`[plugins.openai-transcribe.settings]`), read through the `config`
//! import and checked on every call, so a typo is a clear error rather than a silent default.

/// Where requests go unless the operator says otherwise.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com";
/// OpenAI's model that gives word timestamps.
pub const DEFAULT_MODEL: &str = "whisper-1";
/// OpenAI's upload limit, MiB (its error reads "Maximum content size limit (26214400)").
pub const DEFAULT_MAX_FILE_MB: u64 = 25;
/// A sanity bound on `max_file_mb`: servers that take more take it in hours of audio.
const MAX_MAX_FILE_MB: u64 = 4096;
const MIB: u64 = 1024 * 1024;
/// What the form's text fields and boundaries may take of the server's limit, which counts
/// the whole request: a prompt is at most [`MAX_PROMPT_CHARS`] characters.
const FORM_ALLOWANCE: u64 = 64 * 1024;
/// Longest prompt sent: Whisper reads only its last 224 tokens, about this many characters.
pub const MAX_PROMPT_CHARS: usize = 1000;

/// Parsed settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub base_url: String,
    pub model: String,
    /// Language of the audio (ISO-639-1) unless a job names one.
    pub language: Option<String>,
    /// Words and spellings to expect (names, jargon).
    pub prompt: Option<String>,
    /// The server's limit on one request, MiB.
    pub max_file_mb: u64,
}

impl Settings {
    /// Reads the settings with `get` (the `config` import).
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let text = |key: &str| get(key).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let max_file_mb = match text("max_file_mb") {
            None => DEFAULT_MAX_FILE_MB,
            Some(value) => match value.parse::<u64>() {
                Ok(n) if (1..=MAX_MAX_FILE_MB).contains(&n) => n,
                _ => return Err(format!("max_file_mb must be a whole number from 1 to {MAX_MAX_FILE_MB}, not {value:?}")),
            },
        };
        let language = match text("language") {
            None => None,
            Some(tag) => Some(primary_language(&tag).ok_or_else(|| format!("language must be a language tag such as \"en\", not {tag:?}"))?),
        };
        let base_url = text("base_url").unwrap_or_else(|| DEFAULT_BASE_URL.into());
        Ok(Settings {
            base_url: base_url.trim_end_matches('/').trim_end_matches("/v1").to_string(),
            model: text("model").unwrap_or_else(|| DEFAULT_MODEL.into()),
            language,
            prompt: text("prompt"),
            max_file_mb,
        })
    }

    /// The transcriptions endpoint.
    pub fn url(&self) -> String {
        format!("{}/v1/audio/transcriptions", self.base_url)
    }

    /// The largest audio file one request may carry, bytes: the server's limit less what the
    /// form's fields take.
    pub fn max_file_bytes(&self) -> u64 {
        (self.max_file_mb * MIB).saturating_sub(FORM_ALLOWANCE)
    }

    /// The prompt of one request: the operator's words, then what was said just before the
    /// audio (`context`), cut from the front to what Whisper reads.
    pub fn prompt_with(&self, context: Option<&str>) -> Option<String> {
        let joined = [self.prompt.as_deref(), context.map(str::trim).filter(|c| !c.is_empty())].into_iter().flatten().collect::<Vec<_>>().join(" ");
        let count = joined.chars().count();
        (count > 0).then(|| joined.chars().skip(count.saturating_sub(MAX_PROMPT_CHARS)).collect())
    }
}

/// The ISO-639 code a server takes from a language tag (`en-US` → `en`), if it is one.
pub fn primary_language(tag: &str) -> Option<String> {
    let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
    ((2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_lowercase())).then_some(primary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        Settings::read(|key| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn defaults_are_openai_s() {
        let s = read(&[]).expect("defaults");
        assert_eq!(s.url(), "https://api.openai.com/v1/audio/transcriptions");
        assert_eq!((s.model.as_str(), s.language.as_deref(), s.max_file_mb), ("whisper-1", None, 25));
        assert_eq!(s.max_file_bytes(), 25 * MIB - FORM_ALLOWANCE);
    }

    #[test]
    fn groq_with_its_v1_and_a_language_tag() {
        let s = read(&[("base_url", "https://api.groq.com/openai/v1/"), ("model", "whisper-large-v3-turbo"), ("language", "en-GB"), ("max_file_mb", "100")]).expect("groq");
        assert_eq!(s.url(), "https://api.groq.com/openai/v1/audio/transcriptions");
        assert_eq!((s.language.as_deref(), s.max_file_mb), (Some("en"), 100));
    }

    #[test]
    fn bad_values_are_named() {
        for (key, value) in [("max_file_mb", "0"), ("max_file_mb", "big"), ("language", "english!")] {
            let err = read(&[(key, value)]).expect_err(key);
            assert!(err.contains(key) && err.contains(value), "{err}");
        }
    }

    #[test]
    fn the_prompt_keeps_its_end() {
        let s = read(&[("prompt", "Scribe, tantivy.")]).expect("prompt");
        assert_eq!(s.prompt_with(Some(" we met on Tuesday ")).as_deref(), Some("Scribe, tantivy. we met on Tuesday"));
        let long = "x".repeat(MAX_PROMPT_CHARS) + "end";
        let cut = s.prompt_with(Some(&long)).expect("cut");
        assert!(cut.ends_with("end") && cut.chars().count() == MAX_PROMPT_CHARS);
        assert_eq!(read(&[]).expect("none").prompt_with(None), None);
    }
}
