//! OpenAI's error envelope, `{"error": {"message", "type", "param", "code"}}`, which OpenAI
//! clients read (the official SDKs raise their typed errors from the status and this body).

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::api::ApiError;

/// An error answer of the OpenAI-compatible API.
#[derive(Debug, Clone)]
pub struct OpenAiError {
    pub status: StatusCode,
    pub message: String,
    /// The request field at fault.
    pub param: Option<&'static str>,
    pub code: Option<&'static str>,
}

impl OpenAiError {
    /// A 400 about `param`.
    pub fn invalid(param: &'static str, message: impl Into<String>) -> OpenAiError {
        OpenAiError { status: StatusCode::BAD_REQUEST, message: message.into(), param: Some(param), code: None }
    }
}

impl From<ApiError> for OpenAiError {
    fn from(err: ApiError) -> OpenAiError {
        OpenAiError { status: err.status, message: err.message, param: None, code: Some(err.code) }
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let kind = match self.status.as_u16() {
            401 => "authentication_error",
            429 => "rate_limit_error",
            500..=599 => "server_error",
            _ => "invalid_request_error",
        };
        let body = json!({"error": {"message": self.message, "type": kind, "param": self.param, "code": self.code}});
        let mut response = (self.status, Json(body)).into_response();
        response.headers_mut().insert(header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
        response
    }
}
