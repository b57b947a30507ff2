//! A fake Anthropic Messages API for tests and for trying Scribe without a key:
//! `POST /v1/messages`, whole or streamed, following `docs/protocols/anthropic.md`.
//!
//! It checks what a real server would refuse (key in `x-api-key` or `Authorization: Bearer`,
//! `anthropic-version`, JSON body, `model`, `max_tokens`, `messages`, no `temperature` other
//! than 1 and no `top_k`, tool schemas and a forced `tool_choice` naming a declared tool) and
//! answers a forced tool call with input built from the request's transcript lines
//! ([`reply`]). Responses carry a `request-id`; errors use the documented envelope. Faults are
//! queued and consumed one per request: an HTTP error (with `retry-after`), an overload
//! mid-stream, or a stream cut after N events; a delay between events slows every stream.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::fake_server::Journal;

pub mod reply;

/// API versions the fake accepts: the one the Messages API was frozen at and the one the
/// newest SDK sends (docs/protocols/anthropic.md §1).
const VERSIONS: &[&str] = &["2023-06-01", "2026-10-21"];
/// Tool input fields the fake knows how to fill.
const FILLABLE: &[&str] = &["title", "overview", "key_points", "action_items", "decisions"];

/// A fault for the next request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer this status with its error envelope, and `retry-after` seconds when given.
    Status { status: u16, retry_after: Option<u64> },
    /// Start the stream, then send `event: error` (`overloaded_error`) after this many
    /// events and close.
    OverloadedAfter(usize),
    /// Send only the first N events of the stream, then end the body.
    CutAfter(usize),
}

pub use crate::fake_server::SeenRequest;

/// A running fake; its [`Journal`] (faults to play, requests seen) is reached through it.
#[derive(Clone)]
pub struct FakeAnthropic {
    pub addr: SocketAddr,
    key: Arc<str>,
    journal: Journal<Fault, SeenRequest>,
    ids: Arc<AtomicU64>,
}

impl std::ops::Deref for FakeAnthropic {
    type Target = Journal<Fault, SeenRequest>;

    fn deref(&self) -> &Self::Target {
        &self.journal
    }
}

impl FakeAnthropic {
    /// Starts on `addr` (`127.0.0.1:0` in tests), accepting `key`.
    pub async fn start(addr: SocketAddr, key: &str) -> anyhow::Result<FakeAnthropic> {
        let mut fake = FakeAnthropic { addr, key: key.into(), journal: Journal::default(), ids: Arc::new(AtomicU64::new(1)) };
        let app = Router::new().route("/v1/messages", post(messages)).with_state(fake.clone());
        fake.addr = crate::fake_server::serve(addr, app).await?;
        Ok(fake)
    }

    /// Starts on an ephemeral loopback port; panics when it cannot.
    pub async fn loopback(key: &str) -> FakeAnthropic {
        FakeAnthropic::start(SocketAddr::from(([127, 0, 0, 1], 0)), key).await.expect("the fake Anthropic starts on loopback")
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }
}

fn request_id(id: u64) -> String {
    format!("req_fake{id:018}")
}

/// The documented error envelope for `status` (docs/protocols/anthropic.md §6).
fn error(status: u16, id: u64, message: Option<&str>, retry_after: Option<u64>) -> Response {
    let (kind, default) = match status {
        400 => ("invalid_request_error", "Invalid request"),
        401 => ("authentication_error", "invalid x-api-key"),
        402 => ("billing_error", "Billing error"),
        403 => ("permission_error", "Your API key does not have permission to use the specified resource."),
        404 => ("not_found_error", "Not found"),
        413 => ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
        429 => ("rate_limit_error", "This request would exceed your organization's rate limit."),
        504 => ("timeout_error", "Request timeout"),
        529 => ("overloaded_error", "Overloaded"),
        _ => ("api_error", "Internal server error"),
    };
    let request_id = request_id(id);
    let body = json!({"type": "error", "error": {"type": kind, "message": message.unwrap_or(default)}, "request_id": request_id});
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (code, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert("request-id", value);
    }
    let retry = matches!(status, 408 | 409 | 429) || status >= 500;
    headers.insert("x-should-retry", HeaderValue::from_static(if retry { "true" } else { "false" }));
    if let Some(seconds) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// Why the fake refuses a request: status and message.
type Refusal = (u16, String);

fn check_headers(headers: &HeaderMap, key: &str) -> Result<(), Refusal> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let bearer = text("authorization").and_then(|v| v.strip_prefix("Bearer "));
    if text("x-api-key").or(bearer) != Some(key) {
        return Err((401, "invalid x-api-key".into()));
    }
    match text("anthropic-version") {
        Some(version) if VERSIONS.contains(&version) => {}
        other => return Err((400, format!("anthropic-version: {other:?} is not a supported version"))),
    }
    if !text("content-type").is_some_and(|c| c.starts_with("application/json")) {
        return Err((400, "content-type must be application/json".into()));
    }
    Ok(())
}

/// The body's checks; returns the forced tool's name, if any.
fn check_body(body: &Value) -> Result<Option<String>, Refusal> {
    let model = body["model"].as_str().filter(|m| !m.is_empty()).ok_or((400, "model: field required".to_string()))?;
    if !model.starts_with("claude-") {
        return Err((404, format!("model: {model}")));
    }
    if body["max_tokens"].as_u64().is_none_or(|n| n < 1) {
        return Err((400, "max_tokens: field required and must be a positive integer".into()));
    }
    if body["messages"].as_array().is_none_or(Vec::is_empty) {
        return Err((400, "messages: field required".into()));
    }
    if body.get("temperature").is_some_and(|t| t.as_f64() != Some(1.0)) {
        return Err((400, "temperature: this model does not support setting temperature".into()));
    }
    if body.get("top_k").is_some() {
        return Err((400, "top_k: this model does not support top_k".into()));
    }
    let tools = body.get("tools").and_then(Value::as_array).cloned().unwrap_or_default();
    for tool in &tools {
        if tool["name"].as_str().is_none_or(str::is_empty) || tool["input_schema"]["type"] != "object" {
            return Err((400, "tools: each tool needs a name and an input_schema of type object".into()));
        }
    }
    let forced = match body.get("tool_choice") {
        Some(choice) if choice["type"] == "tool" => {
            let name = choice["name"].as_str().unwrap_or_default();
            let tool = tools.iter().find(|t| t["name"] == name).ok_or((400, format!("tool_choice: no tool named {name:?}")))?;
            let required = tool["input_schema"]["required"].as_array().cloned().unwrap_or_default();
            if let Some(field) = required.iter().filter_map(Value::as_str).find(|f| !FILLABLE.contains(f)) {
                return Err((400, format!("the fake cannot fill the required tool field {field:?}")));
            }
            Some(name.to_string())
        }
        _ => None,
    };
    Ok(forced)
}

/// The text of every user message.
fn user_text(body: &Value) -> String {
    let mut text = String::new();
    for message in body["messages"].as_array().into_iter().flatten().filter(|m| m["role"] == "user") {
        match &message["content"] {
            Value::String(s) => text.push_str(s),
            Value::Array(blocks) => {
                for block in blocks.iter().filter(|b| b["type"] == "text") {
                    text.push_str(block["text"].as_str().unwrap_or_default());
                }
            }
            _ => {}
        }
        text.push('\n');
    }
    text
}

async fn messages(State(fake): State<FakeAnthropic>, headers: HeaderMap, body: Bytes) -> Response {
    let id = fake.next_id();
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let text = user_text(&parsed);
    let (fault, delay) = fake.arrived(SeenRequest { at: Instant::now(), headers: headers.clone(), body: parsed.clone(), text: text.clone() });
    if let Err((status, message)) = check_headers(&headers, &fake.key) {
        return error(status, id, Some(&message), None);
    }
    if parsed.is_null() {
        return error(400, id, Some("the body is not JSON"), None);
    }
    let forced = match check_body(&parsed) {
        Ok(forced) => forced,
        Err((status, message)) => return error(status, id, Some(&message), None),
    };
    if let Some(Fault::Status { status, retry_after }) = &fault {
        return error(*status, id, None, *retry_after);
    }
    let model = parsed["model"].as_str().unwrap_or_default();
    let Some(tool) = forced else {
        // Without a forced tool the fake can only say hello, as recorded, and only streamed.
        if parsed["stream"] != Value::Bool(true) {
            return error(400, id, Some("the fake answers unforced requests only as a stream"), None);
        }
        return sse(reply::text_stream_events(model), delay, id, fake.clone());
    };
    let input = reply::tool_input(&text);
    // A rough count is enough: the plugin reports what the API says.
    let input_tokens = (body.len() / 4) as u64;
    let output_tokens = (input.to_string().len() / 4) as u64;
    if parsed["stream"] != Value::Bool(true) {
        let mut response = axum::Json(reply::message(model, &tool, &input, input_tokens, output_tokens, id)).into_response();
        if let Ok(value) = HeaderValue::from_str(&request_id(id)) {
            response.headers_mut().insert("request-id", value);
        }
        fake.answered();
        return response;
    }
    let mut events = reply::stream_events(model, &tool, &input, input_tokens, output_tokens, id);
    match fault {
        Some(Fault::CutAfter(n)) => events.truncate(n),
        Some(Fault::OverloadedAfter(n)) => {
            events.truncate(n);
            events.push("event: error\ndata: {\"type\": \"error\", \"error\": {\"type\": \"overloaded_error\", \"message\": \"Overloaded\"}}\n\n".into());
        }
        _ => {}
    }
    sse(events, delay, id, fake.clone())
}

/// A `text/event-stream` response sending `events` with `delay` before each; records when the
/// last one went out.
fn sse(events: Vec<String>, delay: Duration, id: u64, fake: FakeAnthropic) -> Response {
    let mut response = crate::fake_server::event_stream(events, delay, move || fake.answered());
    if let Ok(value) = HeaderValue::from_str(&request_id(id)) {
        response.headers_mut().insert("request-id", value);
    }
    response
}
