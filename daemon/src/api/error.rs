//! API errors: a stable machine-readable code, a human message, and the HTTP status.
//! Internal error text is logged, never returned. [`json_errors`] puts the rejections axum
//! answers by itself (a path that is not UTF-8, a body over the default limit) in the same
//! shape, so a client parses one error format everywhere.

use axum::Json;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds the client should wait before trying again, sent as `Retry-After`.
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), retry_after_secs: None }
    }

    /// Tells the client when to try again.
    pub fn retry_after(self, secs: u64) -> ApiError {
        ApiError { retry_after_secs: Some(secs), ..self }
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// A failure whose details belong in the log only.
    pub fn internal(context: &str, err: &dyn std::fmt::Display) -> ApiError {
        tracing::error!("{context}: {err}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "something went wrong; see the daemon log")
    }
}

impl From<crate::speakers::voices::VoiceError> for ApiError {
    fn from(err: crate::speakers::voices::VoiceError) -> ApiError {
        use crate::speakers::voices::VoiceError;
        match err {
            VoiceError::NoProfile(_) | VoiceError::NoVoice { .. } => ApiError::not_found(err.to_string()),
            VoiceError::NameTaken(_) | VoiceError::NotEnrolled { .. } => ApiError::new(StatusCode::CONFLICT, "conflict", err.to_string()),
            VoiceError::Store(err) => ApiError::internal("the voice profiles", &format!("{err:#}")),
        }
    }
}

/// `507 Insufficient Storage`, saying how much is free and what to do.
impl From<crate::disk::LowDisk> for ApiError {
    fn from(low: crate::disk::LowDisk) -> ApiError {
        ApiError::new(StatusCode::INSUFFICIENT_STORAGE, "insufficient_storage", low.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": { "code": self.code, "message": self.message } }));
        let mut response = (self.status, body).into_response();
        if let Some(secs) = self.retry_after_secs {
            response.headers_mut().insert(header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
        }
        response
    }
}

/// Longest plain-text rejection carried over into a JSON error, bytes; axum's are one line.
const MAX_REJECTION_BYTES: usize = 1024;

/// The stable code for an error status that was answered without one.
fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_type",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "invalid",
    }
}

/// Rewrites error answers of the API that are not JSON into the API's error shape.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !api || is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let message = if status.is_server_error() {
        "something went wrong; see the daemon log".to_string()
    } else {
        let bytes = axum::body::to_bytes(response.into_body(), MAX_REJECTION_BYTES).await.unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).trim().to_string();
        if text.is_empty() { status.canonical_reason().unwrap_or("invalid request").to_string() } else { text }
    };
    ApiError::new(status, code_for(status), message).into_response()
}

/// The answer to a request whose handler panicked: the panic is logged, the client gets the
/// API's 500, and the daemon goes on.
pub fn panicked(payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = crate::panics::message(&*payload);
    ApiError::internal("a request handler panicked", &message).into_response()
}
