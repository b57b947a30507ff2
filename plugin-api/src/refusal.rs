//! A provider's refusal, read the same way by every plugin that calls an HTTP API: the text of
//! its error body in the envelopes providers use, and what its status says. The world modules
//! turn a status into the plugin's error (`status_error`), so the host retries what is worth
//! retrying.

use serde_json::Value;

/// The message of an error body: OpenAI's `{"error": {"message"}}`, a bare string in `error`
/// (Ollama), `{"message"}`, FastAPI's `{"detail"}` (speaches), else the body as text; cut to
/// `max` characters, and `HTTP <status>` when there is nothing to quote.
pub fn error_text(status: u16, body: &[u8], max: usize) -> String {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let quoted = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    let text = value
        .get("error")
        .and_then(|e| e.get("message").and_then(Value::as_str).or_else(|| e.as_str()))
        .map(str::to_string)
        .or_else(|| value.get("message").and_then(Value::as_str).map(str::to_string))
        .or_else(|| value.get("detail").map(quoted))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    match text.trim() {
        "" => format!("HTTP {status}"),
        text => crate::text::truncate(text, max),
    }
}

/// A refusing response as a plugin quotes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    /// The provider's message ([`error_text`]).
    pub text: String,
    /// ` (request <id>)` when the provider sent `x-request-id`, for support; else empty.
    pub request: String,
    /// The provider's wait, when it asked for one of at most the plugin's longest.
    pub retry_after_ms: Option<u64>,
}

impl Refusal {
    /// Reads a non-2xx response: its message cut to `max_message` characters, a wait of at
    /// most `max_retry_ms`.
    pub fn read(status: u16, headers: &[(String, String)], body: &[u8], max_message: usize, max_retry_ms: u64) -> Refusal {
        Refusal {
            status,
            text: error_text(status, body, max_message),
            request: crate::headers::find(headers, "x-request-id").map(|id| format!(" (request {id})")).unwrap_or_default(),
            retry_after_ms: crate::headers::retry_after_ms(headers, max_retry_ms),
        }
    }

    /// Whether it is a 400 or 422 whose message names one of `fields`: the server does not
    /// take that part of the request, and a plugin may ask another way.
    pub fn names_field(&self, fields: &[&str]) -> bool {
        let lower = self.text.to_lowercase();
        matches!(self.status, 400 | 422) && fields.iter().any(|field| lower.contains(field))
    }
}

/// What a refusing status says, to follow "the server at X": "rejected the API key", ...
pub fn status_phrase(status: u16) -> String {
    match status {
        401 => "rejected the API key".into(),
        403 => "refused access with this API key".into(),
        413 => "refused a request this large".into(),
        400 | 415 | 422 => "refused the request".into(),
        429 => "rate limit".into(),
        408 | 409 | 500..=599 => format!("is unavailable (HTTP {status})"),
        _ => format!("answered HTTP {status}"),
    }
}

/// How the host treats a refusing status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    /// The key is missing, wrong or without permission: never retried.
    Unauthorized,
    /// Slow down; retried after the provider's wait.
    RateLimited,
    /// The input is at fault (malformed, too large, unsupported): not retried.
    BadInput,
    /// The provider is down or overloaded: retried.
    Unavailable,
    Other,
}

/// The class of a non-2xx status.
pub fn classify(status: u16) -> StatusClass {
    match status {
        401 | 403 => StatusClass::Unauthorized,
        429 => StatusClass::RateLimited,
        400 | 413 | 415 | 422 => StatusClass::BadInput,
        408 | 409 | 500..=599 => StatusClass::Unavailable,
        _ => StatusClass::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_envelope_gives_its_message() {
        let cases: [(&[u8], &str); 6] = [
            (br#"{"error": {"message": "Incorrect API key", "type": "invalid_request_error"}}"#, "Incorrect API key"),
            (br#"{"error": "model 'llama9' not found"}"#, "model 'llama9' not found"),
            (br#"{"message": "slow down"}"#, "slow down"),
            (br#"{"detail": "timestamp_granularities is not supported"}"#, "timestamp_granularities is not supported"),
            (b"Maximum content size limit exceeded", "Maximum content size limit exceeded"),
            (b"  ", "HTTP 503"),
        ];
        for (body, want) in cases {
            assert_eq!(error_text(503, body, 300), want);
        }
        assert_eq!(error_text(500, &[b'x'; 50], 10).chars().count(), 11, "cut, with an ellipsis");
    }

    #[test]
    fn a_refusal_names_a_field_only_as_a_bad_request() {
        let headers = vec![("x-request-id".to_string(), "req_7".to_string()), ("retry-after".to_string(), "2".to_string())];
        let body = br#"{"error": {"message": "Unsupported response_format"}}"#;
        let refusal = Refusal::read(400, &headers, body, 300, 60_000);
        assert_eq!((refusal.request.as_str(), refusal.retry_after_ms), (" (request req_7)", Some(2000)));
        assert!(refusal.names_field(&["response_format"]) && !refusal.names_field(&["tools"]));
        assert!(!Refusal::read(500, &headers, body, 300, 60_000).names_field(&["response_format"]));
    }

    #[test]
    fn statuses_fall_in_classes() {
        let cases = [(401, StatusClass::Unauthorized), (403, StatusClass::Unauthorized), (429, StatusClass::RateLimited), (413, StatusClass::BadInput), (503, StatusClass::Unavailable), (404, StatusClass::Other)];
        for (status, class) in cases {
            assert_eq!(classify(status), class, "{status}");
        }
    }
}
