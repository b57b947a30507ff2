//! Deepgram errors and host errors as plugin errors.
//!
//! The body is one of three shapes (docs/protocols/deepgram.md §2.4): legacy
//! `{"err_code","err_msg","request_id"}`, modern `{"category","message","details",
//! "request_id"}`, or plain text. The message shown to the user is `err_msg`, else
//! `message`, else the text, with the request id for support.

use scribe_plugin_api::headers::{self, find as header};
use scribe_plugin_api::stt_batch::http::HttpError;
use scribe_plugin_api::stt_batch::types::{PluginError, RateLimit};
use scribe_plugin_api::text;
use serde::Deserialize;

/// Longest provider text quoted in an error.
const MAX_MESSAGE: usize = 300;
/// Longest `retry-after` honoured: Deepgram asks for seconds; a longer wait is better left to
/// the host's back-off than slept through.
const MAX_RETRY_AFTER_MS: u64 = 10 * 60 * 1000;

#[derive(Deserialize, Default)]
struct ErrorBody {
    err_msg: Option<String>,
    message: Option<String>,
    details: Option<String>,
    request_id: Option<String>,
}

/// The provider's message for a failed response.
pub fn message(status: u16, headers: &[(String, String)], body: &[u8]) -> String {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let text = parsed
        .err_msg
        .or(parsed.message.map(|m| match parsed.details {
            Some(d) if !d.is_empty() => format!("{m} ({d})"),
            _ => m,
        }))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let text = if text.trim().is_empty() { format!("HTTP {status}") } else { text::truncate(&text, MAX_MESSAGE) };
    let request_id = parsed.request_id.or_else(|| header(headers, "dg-request-id").map(String::from));
    match request_id {
        Some(id) => format!("Deepgram: {text} (request {id})"),
        None => format!("Deepgram: {text}"),
    }
}

/// Maps a non-2xx response.
pub fn from_response(status: u16, headers: &[(String, String)], body: &[u8]) -> PluginError {
    let message = message(status, headers, body);
    match status {
        401 | 402 | 403 => PluginError::Unauthorized(message),
        429 => PluginError::RateLimited(RateLimit { message, retry_after_ms: headers::retry_after_ms(headers, MAX_RETRY_AFTER_MS) }),
        400 | 413 | 415 | 422 => PluginError::BadInput(message),
        408 | 500..=599 => PluginError::Unavailable(message),
        _ => PluginError::Other(message),
    }
}

/// Maps a failure of the host's HTTP capability.
pub fn from_host(err: HttpError) -> PluginError {
    scribe_plugin_api::stt_batch::host_error("Deepgram", err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn statuses_and_bodies() {
        let legacy_401 = br#"{"err_code":"INVALID_AUTH","err_msg":"Invalid credentials.","request_id":"8c8e"}"#;
        let modern_400 = br#"{"category":"INVALID_JSON","message":"Invalid JSON submitted.","details":"Json deserialize error","request_id":"r2"}"#;
        let legacy_429 = br#"{"err_code":"TOO_MANY_REQUESTS","err_msg":"Too many requests. Please try again later","request_id":"r3"}"#;
        let odd_503 = br#"{"error_code":"Service Unavailable","err_msg":"Please try again later","request_id":"r4"}"#;
        let cases: Vec<(u16, Vec<(String, String)>, &[u8], &str)> = vec![
            (401, h(&[]), legacy_401, "Unauthorized: Deepgram: Invalid credentials. (request 8c8e)"),
            (402, h(&[]), b"{\"err_msg\":\"no credits\"}", "Unauthorized: Deepgram: no credits"),
            (403, h(&[]), b"{\"err_msg\":\"no model\"}", "Unauthorized: Deepgram: no model"),
            (400, h(&[]), modern_400, "BadInput: Deepgram: Invalid JSON submitted. (Json deserialize error) (request r2)"),
            (413, h(&[("dg-request-id", "r5")]), b"", "BadInput: Deepgram: HTTP 413 (request r5)"),
            (429, h(&[("Retry-After", "7")]), legacy_429, "RateLimited(7000): Deepgram: Too many requests. Please try again later (request r3)"),
            (429, h(&[]), legacy_429, "RateLimited(-): Deepgram: Too many requests. Please try again later (request r3)"),
            (503, h(&[]), odd_503, "Unavailable: Deepgram: Please try again later (request r4)"),
            (404, h(&[]), b"UUID parsing failed: bad", "Other: Deepgram: UUID parsing failed: bad"),
        ];
        for (status, headers, body, want) in cases {
            let got = match from_response(status, &headers, body) {
                PluginError::Unauthorized(m) => format!("Unauthorized: {m}"),
                PluginError::BadInput(m) => format!("BadInput: {m}"),
                PluginError::Unavailable(m) => format!("Unavailable: {m}"),
                PluginError::Other(m) => format!("Other: {m}"),
                PluginError::Denied(m) => format!("Denied: {m}"),
                PluginError::RateLimited(r) => format!(
                    "RateLimited({}): {}",
                    r.retry_after_ms.map_or("-".to_string(), |ms| ms.to_string()),
                    r.message
                ),
            };
            assert_eq!(got, want, "status {status}");
        }
    }
}
