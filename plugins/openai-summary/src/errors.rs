//! An OpenAI-compatible server's errors as plugin errors, so the host knows what to retry:
//! rate limits (with `retry-after`) and outages are retried, a refused key never is
//! ([`scribe_plugin_api::refusal`] reads the envelope and classes the status). A 400 that
//! names a field of the structured-output request is told apart, so `structured = "auto"`
//! can fall back to a weaker mechanism.

use serde_json::Value;

use scribe_plugin_api::refusal::{Refusal, status_phrase};
use scribe_plugin_api::summarizer::http::HttpError;
use scribe_plugin_api::summarizer::status_error;
use scribe_plugin_api::summarizer::types::{PluginError, RateLimit};

use crate::settings::Settings;

/// Longest server text quoted in an error.
const MAX_MESSAGE: usize = 300;
/// Longest wait a `retry-after` may ask for before it is ignored, as the official SDKs do:
/// a longer one is better handled by the host's own back-off.
const MAX_RETRY_AFTER_MS: u64 = 60_000;
/// Request fields of the three structured-output mechanisms: a 400 naming one means the
/// server does not take that mechanism (Ollama, llama.cpp and vLLM name the field).
const MECHANISM_FIELDS: &[&str] = &["response_format", "json_schema", "json_object", "tool_choice", "tools"];

/// A failed request: the server refused the way the summary was asked for, or anything else.
#[derive(Debug)]
pub enum Refused {
    Mechanism(String),
    Plugin(PluginError),
}

/// Maps a non-2xx response to a request sent to `settings`' server.
pub fn from_response(status: u16, headers: &[(String, String)], body: &[u8], settings: &Settings) -> Refused {
    let refusal = Refusal::read(status, headers, body, MAX_MESSAGE, MAX_RETRY_AFTER_MS);
    if refusal.names_field(MECHANISM_FIELDS) {
        return Refused::Mechanism(refusal.text);
    }
    let what = match status {
        404 => format!(
            "does not know the model {:?} (check plugins.openai-summary.settings.model; for Ollama, `ollama pull {}`) or has no /v1/chat/completions",
            settings.model, settings.model
        ),
        _ => status_phrase(status),
    };
    let message = format!("the model server at {} {what}: {}{}", settings.base_url, refusal.text, refusal.request);
    Refused::Plugin(status_error(status, message, refusal.retry_after_ms))
}

/// Maps an `error` object inside a stream (after HTTP 200).
pub fn from_stream_error(error: &Value) -> PluginError {
    let text = error.get("message").and_then(Value::as_str).or_else(|| error.as_str()).unwrap_or("no message");
    let kind = error.get("type").or_else(|| error.get("code")).and_then(Value::as_str).unwrap_or_default();
    let message = format!("the model server's stream failed ({kind}): {}", scribe_plugin_api::text::truncate(text, MAX_MESSAGE));
    match kind {
        "rate_limit_exceeded" | "rate_limit_error" => PluginError::RateLimited(RateLimit { message, retry_after_ms: None }),
        "server_error" | "api_error" | "overloaded_error" | "timeout" => PluginError::Unavailable(message),
        _ => PluginError::Other(message),
    }
}

/// Maps a failure of the host's HTTP capability; a refused connection to this machine most
/// likely means the model server is not running.
pub fn from_host(err: HttpError, settings: &Settings) -> PluginError {
    let local = ["http://127.0.0.1", "http://localhost", "http://[::1]"].iter().any(|l| settings.base_url.starts_with(l));
    match err {
        HttpError::Connection(reason) if local => {
            PluginError::Unavailable(format!("no model server at {}; is Ollama running? ({reason})", settings.base_url))
        }
        other => scribe_plugin_api::summarizer::host_error(&format!("the model server at {}", settings.base_url), other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(base_url: &str) -> Settings {
        Settings::read(|key| match key {
            "model" => Some("llama3.2".into()),
            "base_url" => Some(base_url.into()),
            _ => None,
        })
        .expect("settings")
    }

    fn kind(refused: Refused) -> (&'static str, String) {
        match refused {
            Refused::Mechanism(m) => ("mechanism", m),
            Refused::Plugin(err) => {
                let (kind, message) = scribe_plugin_api::summarizer::error_parts(&err);
                (kind, message.to_string())
            }
        }
    }

    #[test]
    fn statuses_map_to_what_the_host_does_with_them() {
        let s = settings("http://127.0.0.1:11434");
        let openai = |message: &str| format!(r#"{{"error": {{"message": "{message}", "type": "invalid_request_error", "param": null, "code": null}}}}"#).into_bytes();
        let cases: Vec<(u16, Vec<u8>, &str)> = vec![
            (400, openai("response_format json_schema is not supported"), "mechanism"),
            (400, br#"{"error": {"code": 400, "message": "\"tools\" param requires --jinja flag", "type": "invalid_request_error"}}"#.to_vec(), "mechanism"),
            (400, openai("messages: too long"), "bad-input"),
            (401, openai("Incorrect API key provided"), "unauthorized"),
            (404, br#"{"error": "model 'llama9' not found"}"#.to_vec(), "other"),
            (429, openai("Rate limit reached"), "rate-limited"),
            (503, b"".to_vec(), "unavailable"),
        ];
        for (status, body, want) in cases {
            let (got, text) = kind(from_response(status, &[("x-request-id".into(), "req_7".into())], &body, &s));
            assert_eq!(got, want, "{status}: {text}");
            assert!(!text.is_empty());
        }
        let (_, text) = kind(from_response(404, &[], br#"{"error": "model 'llama9' not found"}"#, &s));
        assert!(text.contains("model 'llama9' not found") && text.contains("settings.model"), "{text}");
    }

    #[test]
    fn a_refused_local_connection_asks_whether_ollama_runs() {
        let local = from_host(HttpError::Connection("connection refused".into()), &settings("http://127.0.0.1:11434"));
        assert!(matches!(&local, PluginError::Unavailable(m) if m.contains("no model server at http://127.0.0.1:11434") && m.contains("Ollama")), "{local:?}");
        let remote = from_host(HttpError::Connection("reset".into()), &settings("https://api.groq.com/openai"));
        assert!(matches!(&remote, PluginError::Unavailable(m) if !m.contains("Ollama")), "{remote:?}");
    }

    #[test]
    fn stream_errors_by_type() {
        let e = serde_json::json!({"message": "boom", "type": "server_error"});
        assert!(matches!(from_stream_error(&e), PluginError::Unavailable(m) if m.contains("boom")));
    }
}
