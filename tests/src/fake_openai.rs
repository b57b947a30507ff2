//! A fake OpenAI-compatible server for tests, written from OpenAI's API reference: `POST
//! /v1/chat/completions`, whole or streamed (`chat.completion.chunk` events, `data: [DONE]`,
//! usage in a last chunk when `stream_options.include_usage`), and `POST
//! /v1/audio/transcriptions` in every response format ([`transcriptions`]).
//!
//! It checks what OpenAI refuses: a bearer key when it was started with one (Ollama needs
//! none), a JSON body with `model` and `messages`, `temperature` within 0-2, a `json_schema`
//! response format whose schema follows the strict rules (every property required, no other
//! properties), `json_object` only when a message says "JSON", and a `tool_choice` naming a
//! declared function. It answers with the summary scripted from the request's transcript
//! lines ([`crate::fake_anthropic::reply::tool_input`]) as the message content or as the
//! forced tool call's arguments ([`chat`]). Errors use OpenAI's envelope. A [`Mode`] makes
//! it behave like a smaller server; faults are queued and consumed one per request.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::fake_server::Journal;

pub mod chat;
pub mod transcriptions;

pub use transcriptions::SeenUpload;

/// How the server behaves beyond OpenAI's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Everything OpenAI takes.
    #[default]
    Full,
    /// Refuses `response_format: json_schema` with a 400 naming the field, as llama.cpp
    /// builds and Ollama releases without structured outputs do.
    NoJsonSchema,
    /// Refuses `json_schema` and tools alike (llama.cpp without `--jinja`).
    JsonObjectOnly,
}

/// A fault for the next request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer this status with OpenAI's error envelope, and `retry-after` seconds when given.
    Status { status: u16, retry_after: Option<u64> },
    /// The answer's JSON is cut short (as a small model writes it), finish reason `stop`.
    InvalidJson,
    /// The answer stops at `max_tokens`: finish reason `length`, the JSON unfinished.
    Length,
    /// Send only the first N events of the stream, then end the body (no `[DONE]`).
    CutAfter(usize),
}

pub use crate::fake_server::SeenRequest;

/// A running fake; its [`Journal`] (faults to play, requests seen) is reached through it.
#[derive(Clone)]
pub struct FakeOpenAi {
    pub addr: SocketAddr,
    key: Option<Arc<str>>,
    mode: Mode,
    journal: Journal<Fault, SeenRequest>,
    /// The transcription forms seen, and their faults.
    pub uploads: Journal<Fault, SeenUpload>,
    /// What the transcriptions endpoint hears in speech; `None` is a word per stretch.
    script: Arc<Mutex<Option<String>>>,
    ids: Arc<AtomicU64>,
}

impl std::ops::Deref for FakeOpenAi {
    type Target = Journal<Fault, SeenRequest>;

    fn deref(&self) -> &Self::Target {
        &self.journal
    }
}

impl FakeOpenAi {
    /// Starts on `addr`, requiring `Authorization: Bearer <key>` when `key` is given.
    pub async fn start(addr: SocketAddr, key: Option<&str>, mode: Mode) -> anyhow::Result<FakeOpenAi> {
        let mut fake = FakeOpenAi {
            addr,
            key: key.map(Arc::from),
            mode,
            journal: Journal::default(),
            uploads: Journal::default(),
            script: Arc::default(),
            ids: Arc::new(AtomicU64::new(1)),
        };
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            // The handler enforces OpenAI's own limit, with OpenAI's answer.
            .route("/v1/audio/transcriptions", post(transcriptions::transcriptions).layer(DefaultBodyLimit::disable()))
            .with_state(fake.clone());
        fake.addr = crate::fake_server::serve(addr, app).await?;
        Ok(fake)
    }

    /// Starts on an ephemeral loopback port; panics when it cannot.
    pub async fn loopback(key: Option<&str>, mode: Mode) -> FakeOpenAi {
        FakeOpenAi::start(SocketAddr::from(([127, 0, 0, 1], 0)), key, mode).await.expect("the fake OpenAI server starts on loopback")
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The words the transcriptions endpoint hears in speech, laid over it in order.
    pub fn set_script(&self, text: &str) {
        *self.script.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(text.to_string());
    }

    fn script(&self) -> Option<String> {
        self.script.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

/// OpenAI's error envelope for `status`.
fn error(status: u16, message: &str, param: Option<&str>, retry_after: Option<u64>) -> Response {
    let kind = match status {
        401 => "invalid_api_key",
        404 => "model_not_found",
        429 => "rate_limit_exceeded",
        500..=599 => "server_error",
        _ => "invalid_request_error",
    };
    let body = json!({"error": {"message": message, "type": if status >= 500 { "server_error" } else { "invalid_request_error" }, "param": param, "code": kind}});
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (code, axum::Json(body)).into_response();
    if let Some(seconds) = retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// Why the fake refuses a request: status, message and the field at fault.
type Refusal = (u16, String, Option<&'static str>);

/// Whether `schema` follows structured outputs' strict rules at every object.
fn strict_schema_problem(schema: &Value, path: &str) -> Option<String> {
    match schema.get("type") {
        Some(Value::String(t)) if t == "object" => {
            let properties = schema.get("properties").and_then(Value::as_object)?;
            if schema.get("additionalProperties") != Some(&Value::Bool(false)) {
                return Some(format!("Invalid schema for response_format: In context=({path}), 'additionalProperties' is required to be supplied and to be false."));
            }
            let required: Vec<&str> = schema.get("required").and_then(Value::as_array).map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            if let Some(missing) = properties.keys().find(|k| !required.contains(&k.as_str())) {
                return Some(format!("Invalid schema for response_format: In context=({path}), 'required' is required to include every key in properties. Missing '{missing}'."));
            }
            properties.iter().find_map(|(k, v)| strict_schema_problem(v, &format!("{path}, '{k}'")))
        }
        _ => schema.get("items").and_then(|items| strict_schema_problem(items, &format!("{path}, 'items'"))),
    }
}

/// The body's checks; returns how the summary is asked for.
fn check(body: &Value, mode: Mode) -> Result<chat::Shape, Refusal> {
    body["model"].as_str().filter(|m| !m.is_empty()).ok_or((400, "you must provide a model parameter".to_string(), Some("model")))?;
    let messages = body["messages"].as_array().filter(|m| !m.is_empty()).ok_or((400, "'messages' must be a non-empty array".to_string(), Some("messages")))?;
    if let Some(bad) = messages.iter().find(|m| !["system", "developer", "user", "assistant", "tool"].contains(&m["role"].as_str().unwrap_or(""))) {
        return Err((400, format!("Invalid value for 'role': {}", bad["role"]), Some("messages")));
    }
    if body.get("temperature").is_some_and(|t| t.as_f64().is_none_or(|t| !(0.0..=2.0).contains(&t))) {
        return Err((400, "temperature must be between 0 and 2".into(), Some("temperature")));
    }
    if body.get("stream_options").is_some() && body["stream"] != Value::Bool(true) {
        return Err((400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.".into(), Some("stream_options")));
    }
    let tools = body.get("tools").and_then(Value::as_array).cloned().unwrap_or_default();
    if !tools.is_empty() && mode == Mode::JsonObjectOnly {
        return Err((400, "\"tools\" param requires --jinja flag".into(), Some("tools")));
    }
    for tool in &tools {
        if tool["type"] != "function" || tool["function"]["name"].as_str().is_none_or(str::is_empty) {
            return Err((400, "each tool needs type function and a function name".into(), Some("tools")));
        }
    }
    if let Some(choice) = body.get("tool_choice").filter(|c| c.is_object()) {
        let name = choice["function"]["name"].as_str().unwrap_or_default();
        if !tools.iter().any(|t| t["function"]["name"] == name) {
            return Err((400, format!("Invalid 'tool_choice': no function named '{name}' in 'tools'"), Some("tool_choice")));
        }
        return Ok(chat::Shape::Tool(name.to_string()));
    }
    match body.pointer("/response_format/type").and_then(Value::as_str) {
        Some("json_schema") => {
            if mode != Mode::Full {
                return Err((400, "Unsupported response_format type - json_schema".into(), Some("response_format")));
            }
            let spec = &body["response_format"]["json_schema"];
            let name = spec["name"].as_str().unwrap_or_default();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                return Err((400, "Invalid 'response_format.json_schema.name'".into(), Some("response_format")));
            }
            if spec["strict"] == Value::Bool(true)
                && let Some(problem) = strict_schema_problem(&spec["schema"], "")
            {
                return Err((400, problem, Some("response_format")));
            }
            Ok(chat::Shape::Content { strict: spec["strict"] == Value::Bool(true) })
        }
        Some("json_object") => {
            let says_json = messages.iter().any(|m| m["content"].as_str().is_some_and(|c| c.to_lowercase().contains("json")));
            if !says_json {
                return Err((400, "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.".into(), Some("messages")));
            }
            Ok(chat::Shape::Content { strict: false })
        }
        Some("text") | None => Ok(chat::Shape::Content { strict: false }),
        Some(other) => Err((400, format!("Invalid value: '{other}'. Supported values are: 'json_object', 'json_schema', and 'text'."), Some("response_format.type"))),
    }
}

/// The text of every user message.
fn user_text(body: &Value) -> String {
    let users = body["messages"].as_array().into_iter().flatten().filter(|m| m["role"] == "user");
    users.filter_map(|m| m["content"].as_str()).collect::<Vec<_>>().join("\n")
}

async fn completions(State(fake): State<FakeOpenAi>, headers: HeaderMap, body: Bytes) -> Response {
    let id = fake.ids.fetch_add(1, Ordering::Relaxed);
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let text = user_text(&parsed);
    let (fault, delay) = fake.arrived(SeenRequest { at: Instant::now(), headers: headers.clone(), body: parsed.clone(), text: text.clone() });
    if let Some(key) = &fake.key {
        let bearer = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        if bearer != Some(&**key) {
            return error(401, "Incorrect API key provided.", None, None);
        }
    }
    if parsed.is_null() {
        return error(400, "We could not parse the JSON body of your request.", None, None);
    }
    let shape = match check(&parsed, fake.mode) {
        Ok(shape) => shape,
        Err((status, message, param)) => return error(status, &message, param, None),
    };
    if let Some(Fault::Status { status, retry_after }) = &fault {
        return error(*status, "The fake was told to fail this request.", None, *retry_after);
    }
    let answer = chat::Answer::new(&parsed, &text, shape, id, fault.as_ref());
    if parsed["stream"] != Value::Bool(true) {
        fake.answered();
        return axum::Json(answer.completion()).into_response();
    }
    let include_usage = parsed.pointer("/stream_options/include_usage") == Some(&Value::Bool(true));
    let mut events = answer.chunks(include_usage);
    if let Some(Fault::CutAfter(n)) = fault {
        events.truncate(n);
    }
    crate::fake_server::event_stream(events, delay, move || fake.answered())
}
