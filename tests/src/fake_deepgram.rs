//! A fake Deepgram for tests and for trying Scribe without keys: the pre-recorded
//! `POST /v1/listen` and `POST /v1/auth/grant`, following `docs/protocols/deepgram.md` §2–3,
//! and the live `wss /v1/listen` of its §1 (see [`live`]).
//!
//! Deterministic: a test registers which words to return for which audio (by the SHA-256 of
//! the request body); unknown audio is "corrupt or unsupported data" unless a default script
//! is set. Faults are queued and consumed one per request: a status with Deepgram's error
//! body (and optionally `Retry-After`), extra latency, or a truncated body.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

mod live;
pub use live::{LiveConnectionSeen, LiveFault};

/// Query parameters `/v1/listen` accepts for pre-recorded audio (deepgram.md §2.2).
const KNOWN_PARAMS: &[&str] = &[
    "callback", "callback_method", "extra", "sentiment", "summarize", "tag", "topics", "custom_topic",
    "custom_topic_mode", "intents", "custom_intent", "custom_intent_mode", "detect_entities",
    "detect_language", "diarize", "diarize_model", "dictation", "encoding", "filler_words", "keyterm",
    "keywords", "language", "measurements", "model", "multichannel", "numerals", "paragraphs",
    "profanity_filter", "punctuate", "redact", "replace", "search", "smart_format", "utterances",
    "utt_split", "version", "mip_opt_out", "sample_rate", "channels",
];
/// Parameters whose values are booleans, which Deepgram wants in lower case.
const BOOL_PARAMS: &[&str] = &[
    "sentiment", "topics", "intents", "detect_entities", "detect_language", "diarize", "dictation",
    "filler_words", "measurements", "multichannel", "numerals", "paragraphs", "profanity_filter",
    "punctuate", "smart_format", "utterances", "mip_opt_out",
];

/// One scripted word.
#[derive(Debug, Clone)]
pub struct ScriptWord {
    pub word: String,
    pub punctuated: String,
    pub start: f64,
    pub end: f64,
    pub speaker: u32,
}

/// A transcript to return for some audio.
#[derive(Debug, Clone)]
pub struct Script {
    pub words: Vec<ScriptWord>,
    pub duration: f64,
}

impl Script {
    /// Words spread evenly over `duration` seconds, alternating two speakers per sentence.
    pub fn from_text(text: &str, duration: f64) -> Script {
        let tokens: Vec<&str> = text.split_whitespace().collect();
        let step = duration / tokens.len().max(1) as f64;
        let mut speaker = 0;
        let words = tokens
            .iter()
            .enumerate()
            .map(|(i, token)| {
                let word = ScriptWord {
                    word: token.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase(),
                    punctuated: token.to_string(),
                    start: i as f64 * step,
                    end: (i as f64 + 0.8) * step,
                    speaker,
                };
                if token.ends_with('.') {
                    speaker = 1 - speaker;
                }
                word
            })
            .collect();
        Script { words, duration }
    }
}

/// A fault to inject into the next request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and Deepgram's error body for it.
    Status { status: u16, retry_after: Option<u64> },
    /// Wait this long before answering normally.
    Latency(Duration),
    /// Answer 200 with only the first half of the body.
    Truncated,
}

/// A request as the fake saw it.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    /// When it arrived.
    pub at: std::time::Instant,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body_len: usize,
}

#[derive(Default)]
struct Inner {
    keys: Vec<String>,
    scripts: HashMap<String, Script>,
    default_script: Option<Script>,
    faults: VecDeque<Fault>,
    seen: Vec<SeenRequest>,
    live_script: Option<Arc<live::LiveScript>>,
    live_faults: VecDeque<LiveFault>,
    live_seen: Vec<LiveConnectionSeen>,
    /// Benchmark mode: one interim result per audio frame, and when each was sent.
    live_flood: Option<Vec<std::time::Instant>>,
}

/// A running fake.
#[derive(Clone)]
pub struct FakeDeepgram {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    /// Signalled on every `/v1/listen` request, so tests wait for one instead of polling.
    arrived: Arc<tokio::sync::Notify>,
    ids: Arc<AtomicU64>,
}

impl FakeDeepgram {
    /// Starts on `addr` (use `127.0.0.1:0` in tests), accepting `key`.
    pub async fn start(addr: SocketAddr, key: &str) -> anyhow::Result<FakeDeepgram> {
        let inner = Arc::new(Mutex::new(Inner { keys: vec![key.to_string()], ..Inner::default() }));
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let fake = FakeDeepgram {
            addr: listener.local_addr()?,
            inner,
            arrived: Arc::new(tokio::sync::Notify::new()),
            ids: Arc::new(AtomicU64::new(1)),
        };
        let app = Router::new()
            .route("/v1/listen", post(listen).get(live::listen))
            .route("/v1/auth/grant", post(grant))
            .with_state(fake.clone());
        // Results go out as they are made, as from a real server: without this, Nagle's
        // algorithm holds a small message until the previous one is acknowledged.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(fake)
    }

    /// Starts on an ephemeral loopback port, for tests; panics when it cannot.
    pub async fn loopback(key: &str) -> FakeDeepgram {
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        FakeDeepgram::start(addr, key).await.expect("the fake Deepgram starts on loopback")
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The same server for WebSocket clients (live streaming).
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let mut guard = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    /// Returns `script` for audio whose bytes hash to the SHA-256 of `audio`.
    pub fn script(&self, audio: &[u8], script: Script) {
        let key = hex::encode(Sha256::digest(audio));
        self.with(|i| i.scripts.insert(key, script));
    }

    /// Returns `script` for any audio not scripted otherwise.
    pub fn default_script(&self, script: Script) {
        self.with(|i| i.default_script = Some(script));
    }

    pub fn push_fault(&self, fault: Fault) {
        self.with(|i| i.faults.push_back(fault));
    }

    /// Waits until at least `count` listen requests have arrived.
    pub async fn wait_for_requests(&self, count: usize) {
        loop {
            let notified = self.arrived.notified();
            if self.requests().len() >= count {
                return;
            }
            notified.await;
        }
    }

    pub fn requests(&self) -> Vec<SeenRequest> {
        self.with(|i| i.seen.clone())
    }

    fn request_id(&self) -> String {
        let n = self.ids.fetch_add(1, Ordering::Relaxed);
        format!("00000000-0000-4000-8000-{n:012x}")
    }
}

fn error(status: u16, request_id: &str, retry_after: Option<u64>) -> Response {
    let (code, msg) = match status {
        400 => ("Bad Request", "Bad Request: failed to process audio: corrupt or unsupported data"),
        401 => ("INVALID_AUTH", "Invalid credentials."),
        402 => ("ASR_PAYMENT_REQUIRED", "Project does not have enough credits for an ASR request and does not have an overage agreement."),
        403 => ("INSUFFICIENT_PERMISSIONS", "Project does not have access to the requested model."),
        429 => ("TOO_MANY_REQUESTS", "Too many requests. Please try again later"),
        503 => ("Service Unavailable", "Please try again later"),
        _ => ("INTERNAL_SERVER_ERROR", "Internal server error"),
    };
    // The 503 body spells its code `error_code`, verbatim from Deepgram's docs.
    let body = if status == 503 {
        json!({ "error_code": code, "err_msg": msg, "request_id": request_id })
    } else {
        json!({ "err_code": code, "err_msg": msg, "request_id": request_id })
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(seconds) = retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    with_request_id(response, request_id)
}

fn with_request_id(mut response: Response, request_id: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("dg-request-id", value);
    }
    response
}

fn bad_query(request_id: &str, message: String) -> Response {
    let body = json!({ "err_code": "INVALID_QUERY_PARAMETER", "err_msg": message, "request_id": request_id });
    with_request_id((StatusCode::BAD_REQUEST, axum::Json(body)).into_response(), request_id)
}

/// `Authorization: Token <key>` or `Bearer <jwt>`, scheme in any case.
fn authorized(fake: &FakeDeepgram, headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some((scheme, credential)) = value.split_once(' ') else { return false };
    match scheme.to_ascii_lowercase().as_str() {
        "token" => fake.with(|i| i.keys.iter().any(|k| k == credential)),
        "bearer" => credential.starts_with("fake-jwt."),
        _ => false,
    }
}

/// Which optional parts of a response the query asked for.
#[derive(Debug, Clone, Copy, Default)]
struct Features {
    diarize: bool,
    paragraphs: bool,
    utterances: bool,
}

impl Features {
    fn from_query(query: &[(String, String)]) -> Features {
        let on = |key: &str| query.iter().any(|(k, v)| k == key && v == "true");
        // deepgram.md §2.3: smart_format implies paragraphs.
        Features { diarize: on("diarize"), paragraphs: on("paragraphs") || on("smart_format"), utterances: on("utterances") }
    }
}

/// The script's sentences: runs of words up to one ending in `.`, `?` or `!`.
fn sentences(script: &Script) -> Vec<&[ScriptWord]> {
    script.words.split_inclusive(|w| w.punctuated.ends_with(['.', '?', '!'])).collect()
}

fn sentence_text(words: &[ScriptWord]) -> String {
    words.iter().map(|w| w.punctuated.as_str()).collect::<Vec<_>>().join(" ")
}

fn word_json(w: &ScriptWord, diarize: bool) -> Value {
    let mut word = json!({
        "word": w.word, "start": w.start, "end": w.end, "confidence": 0.98, "punctuated_word": w.punctuated,
    });
    if diarize {
        word["speaker"] = json!(w.speaker);
        word["speaker_confidence"] = json!(0.9);
    }
    word
}

/// Paragraphs as Deepgram groups them: consecutive sentences of one speaker.
fn paragraphs_json(script: &Script, diarize: bool) -> Value {
    let mut paragraphs: Vec<Vec<&[ScriptWord]>> = Vec::new();
    for sentence in sentences(script) {
        match paragraphs.last_mut() {
            Some(current) if current[0][0].speaker == sentence[0].speaker => current.push(sentence),
            _ => paragraphs.push(vec![sentence]),
        }
    }
    let list: Vec<Value> = paragraphs
        .iter()
        .map(|p| {
            let sentences: Vec<Value> = p
                .iter()
                .map(|s| json!({ "text": sentence_text(s), "start": s[0].start, "end": s[s.len() - 1].end }))
                .collect();
            let last = p[p.len() - 1];
            let mut paragraph = json!({
                "sentences": sentences,
                "start": p[0][0].start,
                "end": last[last.len() - 1].end,
                "num_words": p.iter().map(|s| s.len()).sum::<usize>(),
            });
            if diarize {
                paragraph["speaker"] = json!(p[0][0].speaker);
            }
            paragraph
        })
        .collect();
    let text: Vec<String> = paragraphs.iter().map(|p| p.iter().map(|s| sentence_text(s)).collect::<Vec<_>>().join(" ")).collect();
    json!({ "transcript": format!("\n{}", text.join("\n\n")), "paragraphs": list })
}

/// One utterance per sentence, with the fields of deepgram.md §2.3.
fn utterances_json(script: &Script, diarize: bool) -> Value {
    let list: Vec<Value> = sentences(script)
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({
                "start": s[0].start,
                "end": s[s.len() - 1].end,
                "confidence": 0.98,
                "channel": 0,
                "transcript": sentence_text(s),
                "words": s.iter().map(|w| word_json(w, diarize)).collect::<Vec<_>>(),
                "speaker": s[0].speaker,
                "id": format!("00000000-0000-4000-9000-{i:012x}"),
            })
        })
        .collect();
    Value::Array(list)
}

fn transcript_json(script: &Script, request_id: &str, sha: &str, features: Features) -> Value {
    let words: Vec<Value> = script.words.iter().map(|w| word_json(w, features.diarize)).collect();
    let transcript: Vec<&str> = script.words.iter().map(|w| w.punctuated.as_str()).collect();
    let mut alternative = json!({ "transcript": transcript.join(" "), "confidence": 0.98, "words": words });
    if features.paragraphs && !script.words.is_empty() {
        alternative["paragraphs"] = paragraphs_json(script, features.diarize);
    }
    let mut results = json!({ "channels": [ { "alternatives": [ alternative ] } ] });
    if features.utterances {
        results["utterances"] = utterances_json(script, features.diarize);
    }
    json!({
        "metadata": {
            "transaction_key": "deprecated",
            "request_id": request_id,
            "sha256": sha,
            "created": "2026-11-28T00:00:00.000Z",
            "duration": script.duration,
            "channels": 1,
            "models": ["3b3aabe4-608a-46ac-9585-7960a25daf1a"],
            "model_info": {"3b3aabe4-608a-46ac-9585-7960a25daf1a": {"name": "general-nova-3", "version": "2024-12-20.0", "arch": "nova-3"}}
        },
        "results": results
    })
}

/// Largest JSON (`{"url"}`) body kept; audio bodies are only hashed and counted.
const MAX_JSON_BODY: usize = 64 * 1024;

/// What the fake keeps of a request body: streamed through, so an hour of audio costs no
/// memory.
struct BodySeen {
    len: usize,
    sha256: String,
    /// The first [`MAX_JSON_BODY`] bytes.
    head: Vec<u8>,
}

async fn read_body(body: axum::body::Body) -> Result<BodySeen, axum::Error> {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut hasher = Sha256::new();
    let (mut len, mut head) = (0, Vec::new());
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        hasher.update(&chunk);
        len += chunk.len();
        let room = MAX_JSON_BODY.saturating_sub(head.len());
        head.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    Ok(BodySeen { len, sha256: hex::encode(hasher.finalize()), head })
}

async fn listen(State(fake): State<FakeDeepgram>, RawQuery(query): RawQuery, headers: HeaderMap, body: axum::body::Body) -> Response {
    let request_id = fake.request_id();
    let Ok(body) = read_body(body).await else {
        return error(400, &request_id, None);
    };
    let query: Vec<(String, String)> = query
        .map(|q| url_pairs(&q))
        .unwrap_or_default();
    fake.with(|i| {
        i.seen.push(SeenRequest { at: std::time::Instant::now(), path: "/v1/listen".into(), query: query.clone(), headers: headers.clone(), body_len: body.len })
    });
    fake.arrived.notify_waiters();
    let fault = fake.with(|i| i.faults.pop_front());
    let mut truncate = false;
    match fault {
        Some(Fault::Status { status, retry_after }) => return error(status, &request_id, retry_after),
        Some(Fault::Latency(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::Truncated) => truncate = true,
        None => {}
    }
    if !authorized(&fake, &headers) {
        return error(401, &request_id, None);
    }
    for (key, value) in &query {
        if !KNOWN_PARAMS.contains(&key.as_str()) {
            return bad_query(&request_id, format!("Unknown query parameter: {key}"));
        }
        if BOOL_PARAMS.contains(&key.as_str()) && value != "true" && value != "false" {
            return bad_query(&request_id, format!("Invalid value for {key}: {value}"));
        }
    }
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let key = if json_body {
        match serde_json::from_slice::<Value>(&body.head).ok().and_then(|v| v["url"].as_str().map(String::from)) {
            Some(url) => hex::encode(Sha256::digest(url.as_bytes())),
            None => return bad_query(&request_id, "Content-type was application/json, but we could not process the JSON payload.".into()),
        }
    } else {
        body.sha256.clone()
    };
    let script = fake.with(|i| i.scripts.get(&key).cloned().or_else(|| i.default_script.clone()));
    let Some(script) = script.filter(|_| body.len > 0) else {
        return error(400, &request_id, None);
    };
    let mut text = transcript_json(&script, &request_id, &key, Features::from_query(&query)).to_string();
    if truncate {
        text.truncate(text.len() / 2);
    }
    let response = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], text).into_response();
    with_request_id(response, &request_id)
}

async fn grant(State(fake): State<FakeDeepgram>, headers: HeaderMap, body: Bytes) -> Response {
    let request_id = fake.request_id();
    if !headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .is_some_and(|(scheme, key)| scheme.eq_ignore_ascii_case("token") && fake.with(|i| i.keys.iter().any(|k| k == key)))
    {
        return error(401, &request_id, None);
    }
    let ttl = if body.is_empty() {
        30
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) => v.get("ttl_seconds").and_then(Value::as_u64).unwrap_or(30),
            Err(_) => return bad_query(&request_id, "Invalid JSON submitted.".into()),
        }
    };
    axum::Json(json!({ "access_token": format!("fake-jwt.{request_id}"), "expires_in": ttl })).into_response()
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}
