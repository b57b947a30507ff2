//! Anthropic's errors as plugin errors (docs/protocols/anthropic.md §6), so the host knows what to
//! retry: rate limits (with `retry-after`) and overloads are retried, a refused key never is.
//! Every message names Anthropic and carries the `request-id` for support.

use scribe_plugin_api::headers::{find as header, retry_after_ms};
use scribe_plugin_api::summarizer::http::HttpError;
use scribe_plugin_api::summarizer::types::{PluginError, RateLimit};
use serde::Deserialize;

/// Longest provider text quoted in an error.
const MAX_MESSAGE: usize = 300;
/// Longest wait a `retry-after` may ask for before it is ignored, as the SDKs do: a longer
/// one is better handled by the host's own back-off.
const MAX_RETRY_AFTER_MS: u64 = 60_000;

#[derive(Deserialize, Default)]
struct Envelope {
    error: Option<ErrorObject>,
    request_id: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct ErrorObject {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub message: Option<String>,
}

fn truncate(text: &str) -> String {
    scribe_plugin_api::text::truncate(text, MAX_MESSAGE)
}

fn with_request(text: String, request_id: Option<&str>) -> String {
    match request_id {
        Some(id) => format!("{text} (request {id})"),
        None => text,
    }
}

/// Maps a non-2xx response.
pub fn from_response(status: u16, headers: &[(String, String)], body: &[u8]) -> PluginError {
    let envelope: Envelope = serde_json::from_slice(body).unwrap_or_default();
    let error = envelope.error.unwrap_or_default();
    let request_id = header(headers, "request-id").map(String::from).or(envelope.request_id);
    let text = error
        .message
        .map(|m| truncate(&m))
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| match String::from_utf8_lossy(body).trim() {
            "" => format!("HTTP {status}"),
            other => truncate(other),
        });
    let message = |what: &str| with_request(format!("Anthropic {what}: {text}"), request_id.as_deref());
    // The server may say a failure is not worth retrying, whatever its status.
    let no_retry = header(headers, "x-should-retry").is_some_and(|v| v.trim() == "false");
    match status {
        401 => PluginError::Unauthorized(message("rejected the API key")),
        403 => PluginError::Unauthorized(message("refused access with this API key")),
        402 => PluginError::Other(message("billing problem")),
        404 => PluginError::Other(message("does not know the model; check plugins.claude-summary.settings.model")),
        413 => PluginError::BadInput(message("refused a request this large")),
        400 | 422 => PluginError::BadInput(message("refused the request")),
        _ if no_retry => PluginError::Other(message(&format!("failed (HTTP {status})"))),
        429 => PluginError::RateLimited(RateLimit { message: message("rate limit"), retry_after_ms: retry_after_ms(headers, MAX_RETRY_AFTER_MS) }),
        408 | 409 | 500..=599 => PluginError::Unavailable(message(&format!("is unavailable (HTTP {status})"))),
        _ => PluginError::Other(message(&format!("answered HTTP {status}"))),
    }
}

/// Maps an `error` event inside a stream (after HTTP 200), by its `error.type`.
pub fn from_stream_error(error: ErrorObject, request_id: Option<&str>) -> PluginError {
    let kind = error.kind.unwrap_or_default();
    let text = truncate(error.message.as_deref().unwrap_or(&kind));
    let message = with_request(format!("Anthropic stream error {kind}: {text}"), request_id);
    match kind.as_str() {
        "rate_limit_error" => PluginError::RateLimited(RateLimit { message, retry_after_ms: None }),
        "overloaded_error" | "api_error" | "timeout_error" => PluginError::Unavailable(message),
        "authentication_error" | "permission_error" => PluginError::Unauthorized(message),
        "invalid_request_error" | "request_too_large" => PluginError::BadInput(message),
        _ => PluginError::Other(message),
    }
}

/// Maps a failure of the host's HTTP capability.
pub fn from_host(err: HttpError) -> PluginError {
    scribe_plugin_api::summarizer::host_error("Anthropic", err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn body(kind: &str, message: &str) -> Vec<u8> {
        format!(r#"{{"type": "error", "error": {{"type": "{kind}", "message": "{message}"}}, "request_id": "req_body"}}"#).into_bytes()
    }

    #[test]
    fn statuses_map_to_what_the_host_does_with_them() {
        let id = h(&[("request-id", "req_018EeWyXxfu5pfWkrYcMdjWG")]);
        type Case = (u16, Vec<(String, String)>, Vec<u8>, &'static str);
        let cases: Vec<Case> = vec![
            (400, id.clone(), body("invalid_request_error", "messages: field required"), "bad-input"),
            (401, id.clone(), body("authentication_error", "invalid x-api-key"), "unauthorized"),
            (403, id.clone(), body("permission_error", "no"), "unauthorized"),
            (404, id.clone(), body("not_found_error", "model: claude-nonexistent"), "other"),
            (413, id.clone(), body("request_too_large", "too big"), "bad-input"),
            (429, h(&[("retry-after", "7")]), body("rate_limit_error", "slow down"), "rate-limited"),
            (500, id.clone(), body("api_error", "Internal server error"), "unavailable"),
            (529, id.clone(), body("overloaded_error", "Overloaded"), "unavailable"),
            (503, h(&[("x-should-retry", "false")]), b"".to_vec(), "other"),
        ];
        for (status, headers, body, want) in cases {
            let err = from_response(status, &headers, &body);
            let (kind, text) = match &err {
                PluginError::BadInput(m) => ("bad-input", m.clone()),
                PluginError::Unauthorized(m) => ("unauthorized", m.clone()),
                PluginError::RateLimited(l) => ("rate-limited", l.message.clone()),
                PluginError::Unavailable(m) => ("unavailable", m.clone()),
                PluginError::Other(m) => ("other", m.clone()),
                PluginError::Denied(m) => ("denied", m.clone()),
            };
            assert_eq!(kind, want, "{status}: {text}");
            assert!(text.starts_with("Anthropic"), "{text}");
            if status != 503 {
                assert!(text.contains("(request req_"), "request id kept: {text}");
            }
        }
        let PluginError::Unauthorized(text) = from_response(401, &id, &body("authentication_error", "invalid x-api-key")) else { unreachable!() };
        assert!(text.contains("API key") && text.contains("req_018EeWyXxfu5pfWkrYcMdjWG"), "{text}");
    }


    #[test]
    fn stream_errors_by_type() {
        let overloaded = ErrorObject { kind: Some("overloaded_error".into()), message: Some("Overloaded".into()) };
        assert!(matches!(from_stream_error(overloaded, Some("req_1")), PluginError::Unavailable(m) if m.contains("Overloaded") && m.contains("req_1")));
        let odd = ErrorObject { kind: Some("new_error".into()), message: None };
        assert!(matches!(from_stream_error(odd, None), PluginError::Other(_)));
    }
}
