//! Request options from the operator's `[plugins.deepgram-batch.settings]`.

use scribe_plugin_api::settings::flag;
use scribe_plugin_api::stt_batch::types::{AudioEncoding, AudioFormat};

/// Where requests go unless `base_url` says otherwise.
pub const DEFAULT_BASE_URL: &str = "https://api.deepgram.com";
/// Deepgram's current general model.
pub const DEFAULT_MODEL: &str = "nova-3";

/// Settings that shape a `/v1/listen` request.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub base_url: String,
    pub model: String,
    pub language: Option<String>,
    pub smart_format: bool,
    pub punctuate: bool,
    pub diarize: bool,
    pub utterances: bool,
    pub paragraphs: bool,
    pub keyterms: Vec<String>,
}

impl Options {
    /// Reads settings through `get` (the `config` import), applying defaults.
    pub fn from_settings(get: impl Fn(&str) -> Option<String>) -> Result<Options, String> {
        let base_url = get("base_url").unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
        let base_url = base_url.trim_end_matches('/').to_string();
        Ok(Options {
            base_url,
            model: get("model").unwrap_or_else(|| DEFAULT_MODEL.to_string()),
            language: get("language").filter(|l| !l.is_empty()),
            smart_format: flag(&get, "smart_format", true)?,
            punctuate: flag(&get, "punctuate", true)?,
            diarize: flag(&get, "diarize", true)?,
            utterances: flag(&get, "utterances", false)?,
            paragraphs: flag(&get, "paragraphs", false)?,
            keyterms: get("keyterms")
                .map(|k| k.split(',').map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect())
                .unwrap_or_default(),
        })
    }

    /// The request URL. Booleans are lower-case (`true`/`false`), as Deepgram expects;
    /// raw PCM needs its encoding, rate and channels spelled out, containers do not.
    pub fn listen_url(&self, format: &AudioFormat, language: Option<&str>) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("model", &self.model);
        if let Some(language) = language.or(self.language.as_deref()) {
            query.append_pair("language", language);
        }
        let bool_str = |b: bool| if b { "true" } else { "false" };
        query.append_pair("smart_format", bool_str(self.smart_format));
        query.append_pair("punctuate", bool_str(self.punctuate));
        query.append_pair("diarize", bool_str(self.diarize));
        if self.utterances {
            query.append_pair("utterances", "true");
        }
        if self.paragraphs {
            query.append_pair("paragraphs", "true");
        }
        for term in &self.keyterms {
            query.append_pair("keyterm", term);
        }
        if format.encoding == AudioEncoding::Linear16 {
            query.append_pair("encoding", "linear16");
            query.append_pair("sample_rate", &format.sample_rate.to_string());
            query.append_pair("channels", &format.channels.to_string());
        }
        format!("{}/v1/listen?{}", self.base_url, query.finish())
    }
}

/// Content type for the request body.
pub fn content_type(encoding: AudioEncoding) -> &'static str {
    match encoding {
        AudioEncoding::Linear16 => "application/octet-stream",
        AudioEncoding::Wav => "audio/wav",
        AudioEncoding::Flac => "audio/flac",
        AudioEncoding::Mp3 => "audio/mpeg",
        AudioEncoding::OggVorbis | AudioEncoding::OggOpus => "audio/ogg",
        AudioEncoding::WebmOpus => "audio/webm",
        AudioEncoding::Aac => "audio/mp4",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |key| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    fn wav() -> AudioFormat {
        AudioFormat { encoding: AudioEncoding::Wav, sample_rate: 44_100, channels: 2 }
    }

    #[test]
    fn urls() {
        let pcm = AudioFormat { encoding: AudioEncoding::Linear16, sample_rate: 16_000, channels: 1 };
        let cases: Vec<(Vec<(&str, &str)>, AudioFormat, Option<&str>, &str)> = vec![
            (vec![], wav(), None,
             "https://api.deepgram.com/v1/listen?model=nova-3&smart_format=true&punctuate=true&diarize=true"),
            (vec![("base_url", "http://127.0.0.1:9/"), ("model", "nova-2"), ("diarize", "false")], wav(), Some("de"),
             "http://127.0.0.1:9/v1/listen?model=nova-2&language=de&smart_format=true&punctuate=true&diarize=false"),
            (vec![("language", "en-US"), ("keyterms", "Scribe, tantivy ,"), ("utterances", "true")], pcm, None,
             "https://api.deepgram.com/v1/listen?model=nova-3&language=en-US&smart_format=true&punctuate=true&diarize=true&utterances=true&keyterm=Scribe&keyterm=tantivy&encoding=linear16&sample_rate=16000&channels=1"),
        ];
        for (pairs, format, language, want) in cases {
            let options = Options::from_settings(settings(&pairs)).expect("options");
            assert_eq!(options.listen_url(&format, language), want);
        }
    }

    #[test]
    fn bad_flags_are_named() {
        let err = Options::from_settings(settings(&[("punctuate", "yes")])).expect_err("rejected");
        assert!(err.contains("punctuate"), "{err}");
    }
}
