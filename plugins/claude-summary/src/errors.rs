//! Anthropic's errors as plugin errors (docs/protocols/anthropic.md §6), so the host knows what to
//! retry: rate limits (with `retry-after`) and overloads are retried, a refused key never is.
//! Every message names Anthropic and carries the `request-id` for support.

use scribe_plugin_api::summarizer::scribe::plugin::http::HttpError;
use scribe_plugin_api::summarizer::scribe::plugin::types::{PluginError, RateLimit};
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

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

fn truncate(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(MAX_MESSAGE) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

fn with_request(text: String, request_id: Option<&str>) -> String {
    match request_id {
        Some(id) => format!("{text} (request {id})"),
        None => text,
    }
}

/// How long the server asked us to wait: `retry-after-ms`, else `retry-after` in seconds,
/// honoured only when 0 < wait ≤ 60 s.
fn retry_after_ms(headers: &[(String, String)]) -> Option<u64> {
    let ms = header(headers, "retry-after-ms")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .or_else(|| header(headers, "retry-after").and_then(|v| v.trim().parse::<f64>().ok()).map(|s| s * 1000.0))?;
    (ms.is_finite() && ms > 0.0 && ms <= MAX_RETRY_AFTER_MS as f64).then(|| ms.round() as u64)
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
        429 => PluginError::RateLimited(RateLimit { message: message("rate limit"), retry_after_ms: retry_after_ms(headers) }),
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
    match err {
        HttpError::Denied(m) => PluginError::Denied(m),
        HttpError::Timeout => PluginError::Unavailable("Anthropic did not answer in time".into()),
        HttpError::Connection(m) => PluginError::Unavailable(format!("could not reach Anthropic: {m}")),
        HttpError::TooLarge(n) => PluginError::Other(format!("Anthropic's answer exceeded {n} bytes")),
        HttpError::InvalidRequest(m) => PluginError::Other(format!("invalid request: {m}")),
    }
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
    fn retry_after_forms() {
        let cases = [
            (vec![("retry-after", "7")], Some(7_000)),
            (vec![("retry-after-ms", "1500"), ("retry-after", "7")], Some(1_500)),
            (vec![("retry-after", "0")], None),
            (vec![("retry-after", "3600")], None),
            (vec![("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")], None),
            (vec![], None),
        ];
        for (headers, want) in cases {
            assert_eq!(retry_after_ms(&h(&headers)), want, "{headers:?}");
        }
    }

    #[test]
    fn stream_errors_by_type() {
        let overloaded = ErrorObject { kind: Some("overloaded_error".into()), message: Some("Overloaded".into()) };
        assert!(matches!(from_stream_error(overloaded, Some("req_1")), PluginError::Unavailable(m) if m.contains("Overloaded") && m.contains("req_1")));
        let odd = ErrorObject { kind: Some("new_error".into()), message: None };
        assert!(matches!(from_stream_error(odd, None), PluginError::Other(_)));
    }
}
