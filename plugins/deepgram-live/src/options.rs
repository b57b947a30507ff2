//! Stream options from the operator's `[plugins.deepgram-live.settings]`, and the
//! `/v1/listen` URL they make (docs/protocols/deepgram.md §1.3).

use scribe_plugin_api::settings::flag;

/// Where streams go unless `base_url` says otherwise.
pub const DEFAULT_BASE_URL: &str = "wss://api.deepgram.com";
/// Deepgram's current general model.
pub const DEFAULT_MODEL: &str = "nova-3";
/// Silence that ends an utterance (`speech_final`), ms: long enough not to split sentences
/// at breaths, short enough for captions to settle quickly.
pub const DEFAULT_ENDPOINTING_MS: u32 = 300;
/// Gap in words that sends `UtteranceEnd`, ms; Deepgram recommends 1000 or more.
pub const DEFAULT_UTTERANCE_END_MS: u32 = 1000;

/// Settings that shape a live stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub base_url: String,
    pub model: String,
    pub language: Option<String>,
    pub interim_results: bool,
    pub punctuate: bool,
    pub smart_format: bool,
    pub diarize: bool,
    /// `None`: endpointing off.
    pub endpointing_ms: Option<u32>,
    /// `None`: no UtteranceEnd messages.
    pub utterance_end_ms: Option<u32>,
    pub vad_events: bool,
    pub keyterms: Vec<String>,
}

/// A number of ms, or `false` for off.
fn millis(get: &impl Fn(&str) -> Option<String>, key: &str, default: u32) -> Result<Option<u32>, String> {
    match get(key).as_deref() {
        None => Ok(Some(default)),
        Some("false") => Ok(None),
        Some(value) => value
            .parse()
            .map(Some)
            .map_err(|_| format!("setting {key} must be a number of milliseconds or false, not {value:?}")),
    }
}

impl Options {
    /// Reads settings through `get` (the `config` import), applying defaults.
    pub fn from_settings(get: impl Fn(&str) -> Option<String>) -> Result<Options, String> {
        let base_url = get("base_url").unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
        let interim_results = flag(&get, "interim_results", true)?;
        let utterance_end_ms = millis(&get, "utterance_end_ms", DEFAULT_UTTERANCE_END_MS)?;
        if utterance_end_ms.is_some() && !interim_results {
            return Err("setting utterance_end_ms needs interim_results = true (or set it to false)".into());
        }
        Ok(Options {
            base_url: base_url.trim_end_matches('/').to_string(),
            model: get("model").unwrap_or_else(|| DEFAULT_MODEL.to_string()),
            language: get("language").filter(|l| !l.is_empty()),
            interim_results,
            punctuate: flag(&get, "punctuate", true)?,
            smart_format: flag(&get, "smart_format", true)?,
            diarize: flag(&get, "diarize", true)?,
            endpointing_ms: millis(&get, "endpointing", DEFAULT_ENDPOINTING_MS)?,
            utterance_end_ms,
            vad_events: flag(&get, "vad_events", true)?,
            keyterms: get("keyterms")
                .map(|k| k.split(',').map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect())
                .unwrap_or_default(),
        })
    }

    /// The stream URL for raw 16-bit PCM at `sample_rate` and `channels`. Booleans are
    /// lower-case: Deepgram rejects `True`/`False` on WebSocket query strings.
    pub fn listen_url(&self, sample_rate: u32, channels: u8, language: Option<&str>) -> String {
        let bool_str = |b: bool| if b { "true" } else { "false" };
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("model", &self.model);
        if let Some(language) = language.or(self.language.as_deref()) {
            query.append_pair("language", language);
        }
        query.append_pair("encoding", "linear16");
        query.append_pair("sample_rate", &sample_rate.to_string());
        query.append_pair("channels", &channels.to_string());
        query.append_pair("interim_results", bool_str(self.interim_results));
        query.append_pair("punctuate", bool_str(self.punctuate));
        query.append_pair("smart_format", bool_str(self.smart_format));
        query.append_pair("diarize", bool_str(self.diarize));
        match self.endpointing_ms {
            Some(ms) => query.append_pair("endpointing", &ms.to_string()),
            None => query.append_pair("endpointing", "false"),
        };
        if let Some(ms) = self.utterance_end_ms {
            query.append_pair("utterance_end_ms", &ms.to_string());
        }
        query.append_pair("vad_events", bool_str(self.vad_events));
        for term in &self.keyterms {
            query.append_pair("keyterm", term);
        }
        format!("{}/v1/listen?{}", self.base_url, query.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |key| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    /// Settings, a session's language, and the URL they make.
    type UrlCase = (Vec<(&'static str, &'static str)>, Option<&'static str>, &'static str);

    #[test]
    fn urls() {
        let cases: Vec<UrlCase> = vec![
            (vec![], None,
             "wss://api.deepgram.com/v1/listen?model=nova-3&encoding=linear16&sample_rate=16000&channels=1&interim_results=true&punctuate=true&smart_format=true&diarize=true&endpointing=300&utterance_end_ms=1000&vad_events=true"),
            (vec![("base_url", "ws://127.0.0.1:9/"), ("model", "nova-2"), ("endpointing", "false"), ("utterance_end_ms", "false"),
                  ("interim_results", "false"), ("vad_events", "false"), ("keyterms", "Scribe, nova three")], Some("de"),
             "ws://127.0.0.1:9/v1/listen?model=nova-2&language=de&encoding=linear16&sample_rate=16000&channels=1&interim_results=false&punctuate=true&smart_format=true&diarize=true&endpointing=false&vad_events=false&keyterm=Scribe&keyterm=nova+three"),
        ];
        for (pairs, language, want) in cases {
            let options = Options::from_settings(settings(&pairs)).expect("options");
            assert_eq!(options.listen_url(16_000, 1, language), want);
        }
    }

    #[test]
    fn bad_settings_are_named() {
        let cases = [
            (vec![("punctuate", "yes")], "punctuate"),
            (vec![("endpointing", "soon")], "endpointing"),
            (vec![("interim_results", "false")], "utterance_end_ms"),
        ];
        for (pairs, key) in cases {
            let err = Options::from_settings(settings(&pairs)).expect_err("rejected");
            assert!(err.contains(key), "{err}");
        }
    }
}
