//! A transcription server's errors as plugin errors, so the host knows what to retry: rate
//! limits (with `retry-after`) and outages are retried, a refused key never is
//! ([`scribe_plugin_api::refusal`] reads the envelope and classes the status). A 400 that
//! names the timestamped format is told apart, so the plugin can ask again for text alone.

use scribe_plugin_api::refusal::{Refusal, status_phrase};
use scribe_plugin_api::stt_batch_0_2::http::HttpError;
use scribe_plugin_api::stt_batch_0_2::status_error;
use scribe_plugin_api::stt_batch_0_2::types::PluginError;

use crate::settings::Settings;

/// Longest server text quoted in an error.
const MAX_MESSAGE: usize = 300;
/// Longest wait a `retry-after` may ask for before it is ignored, as the official SDKs do: a
/// longer one is better handled by the host's own back-off.
const MAX_RETRY_AFTER_MS: u64 = 60_000;
/// Words of a 400 that refuses the timestamped answer: OpenAI's gpt-4o models say
/// "response_format 'verbose_json' is not compatible", other servers name the field.
const TIMESTAMP_FIELDS: &[&str] = &["response_format", "verbose_json", "timestamp_granularities"];

/// A failed request: the server does not give timestamps, or anything else.
#[derive(Debug)]
pub enum Refused {
    Timestamps(String),
    Plugin(PluginError),
}

/// Maps a non-2xx response from `settings`' server.
pub fn from_response(status: u16, headers: &[(String, String)], body: &[u8], settings: &Settings) -> Refused {
    let refusal = Refusal::read(status, headers, body, MAX_MESSAGE, MAX_RETRY_AFTER_MS);
    if refusal.names_field(TIMESTAMP_FIELDS) {
        return Refused::Timestamps(refusal.text);
    }
    let what = match status {
        404 => format!("does not know the model {:?} (check plugins.openai-transcribe.settings.model) or has no /v1/audio/transcriptions", settings.model),
        413 => format!("refused a file this large (check plugins.openai-transcribe.settings.max_file_mb, now {})", settings.max_file_mb),
        400 | 415 | 422 => "refused the audio".into(),
        _ => status_phrase(status),
    };
    let message = format!("the transcription server at {} {what}: {}{}", settings.base_url, refusal.text, refusal.request);
    Refused::Plugin(status_error(status, message, refusal.retry_after_ms))
}

/// Maps a failure of the host's HTTP capability.
pub fn from_host(err: HttpError, settings: &Settings) -> PluginError {
    scribe_plugin_api::stt_batch_0_2::host_error(&format!("the transcription server at {}", settings.base_url), err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(refused: Refused) -> (&'static str, String) {
        match refused {
            Refused::Timestamps(m) => ("timestamps", m),
            Refused::Plugin(err) => {
                let (kind, message) = scribe_plugin_api::stt_batch_0_2::error_parts(&err);
                (kind, message.to_string())
            }
        }
    }

    #[test]
    fn statuses_map_to_what_the_host_does_with_them() {
        let s = Settings::read(|_| None).expect("settings");
        let openai = |message: &str| format!(r#"{{"error": {{"message": "{message}", "type": "invalid_request_error", "param": null, "code": null}}}}"#).into_bytes();
        let cases: Vec<(u16, Vec<u8>, &str)> = vec![
            (400, openai("response_format 'verbose_json' is not compatible with model 'gpt-4o-transcribe'. Use 'json' or 'text' instead."), "timestamps"),
            (400, br#"{"detail": "timestamp_granularities is not supported"}"#.to_vec(), "timestamps"),
            (400, openai("Audio file might be corrupted or unsupported"), "bad-input"),
            (401, openai("Incorrect API key provided"), "unauthorized"),
            (404, br#"{"error": "model 'whisper-9' not found"}"#.to_vec(), "other"),
            (413, b"Maximum content size limit (26214400) exceeded".to_vec(), "bad-input"),
            (429, openai("Rate limit reached"), "rate-limited"),
            (503, b"".to_vec(), "unavailable"),
        ];
        for (status, body, want) in cases {
            let (got, text) = kind(from_response(status, &[("x-request-id".into(), "req_7".into())], &body, &s));
            assert_eq!(got, want, "{status}: {text}");
            assert!(!text.is_empty());
        }
        let (_, text) = kind(from_response(404, &[], br#"{"error": "model 'whisper-9' not found"}"#, &s));
        assert!(text.contains("model 'whisper-9' not found") && text.contains("settings.model"), "{text}");
        let (_, text) = kind(from_response(413, &[], b"too big", &s));
        assert!(text.contains("max_file_mb, now 25"), "{text}");
    }
}
