//! The live side of the fake Deepgram: `wss /v1/listen`, following `docs/protocols/deepgram.md`
//! §1: credentials in `Authorization` or `Sec-WebSocket-Protocol`, `dg-request-id` on the 101,
//! lowercase booleans, KeepAlive/Finalize/CloseStream, Metadata then close 1000 after
//! CloseStream, 1011 `NET-0001` after 10 s without data, 1008 `DATA-0000` on audio that is
//! not linear16, and an empty binary frame closes the stream.
//!
//! It "hears" a scripted text: each script word has a time on a reference timeline and is
//! recognised once a connection has received the audio under it. With a reference recording
//! registered ([`FakeDeepgram::live_script`]), every frame a connection receives is located
//! in that recording by its bytes, so a client that reconnects and replays audio hears the
//! replayed words again, with times on the new connection's clock, exactly as the real
//! service would. Without one, the reference timeline is the connection's own clock.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::{FakeDeepgram, Script, ScriptWord, url_pairs};

/// deepgram.md §1.6: the connection closes after 10 s without audio or KeepAlive.
const INACTIVITY: Duration = Duration::from_secs(10);
/// An interim result goes out for every this much audio received.
const INTERIM_EVERY_MS: f64 = 1000.0;
/// Words not closed by a sentence end are made final after this much audio, as the real
/// service finalises long stretches of speech.
const FORCE_FINAL_MS: f64 = 5000.0;
/// Silence after a sentence's last word before it is final, when `endpointing` is not given
/// (deepgram.md §1.3 default: 10 ms; the fake waits a little longer so interims come first).
const DEFAULT_ENDPOINT_MS: f64 = 300.0;
/// Bytes that identify a position in the reference recording (8 samples of dithered speech).
const KEY_BYTES: usize = 16;

/// Query parameters `/v1/listen` accepts on the WebSocket (deepgram.md §1.3).
const KNOWN_PARAMS: &[&str] = &[
    "model", "language", "encoding", "sample_rate", "channels", "multichannel", "interim_results",
    "punctuate", "smart_format", "diarize", "diarize_model", "endpointing", "utterance_end_ms",
    "vad_events", "keyterm", "keywords", "tag", "extra", "numerals", "profanity_filter", "dictation",
    "detect_entities", "mip_opt_out", "redact", "replace", "search", "callback", "callback_method",
    "version",
];
const BOOL_PARAMS: &[&str] = &[
    "multichannel", "interim_results", "punctuate", "smart_format", "diarize", "numerals",
    "profanity_filter", "dictation", "detect_entities", "mip_opt_out", "vad_events",
];

/// A fault for the next live connection.
#[derive(Debug, Clone)]
pub enum LiveFault {
    /// Refuse the upgrade with this HTTP status.
    Refuse(u16),
    /// After this many seconds of audio on the connection, drop it: abruptly (no close frame)
    /// when `close` is none, else with that close code and reason.
    DropAfter { seconds: f64, close: Option<(u16, String)> },
    /// Hold every Results message back this long.
    DelayResults(Duration),
}

/// What the fake saw on one connection.
#[derive(Debug, Clone, Default)]
pub struct LiveConnectionSeen {
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub request_id: String,
    /// Audio received, bytes.
    pub audio_bytes: u64,
    pub empty_frames: u32,
    pub keep_alives: u32,
    pub finalizes: u32,
    pub close_streams: u32,
    /// Results messages sent (interim and final).
    pub results_sent: u32,
    /// The close the fake sent, or `1006` for a drop.
    pub closed_with: Option<(u16, String)>,
}

/// The scripted speech live connections hear.
pub(super) struct LiveScript {
    words: Vec<ScriptWord>,
    reference: Option<Reference>,
}

/// A recording the script's times refer to, indexed by content.
struct Reference {
    pcm: Vec<u8>,
    index: HashMap<[u8; KEY_BYTES], Vec<usize>>,
}

impl Reference {
    fn new(pcm: Vec<u8>) -> Reference {
        let mut index: HashMap<[u8; KEY_BYTES], Vec<usize>> = HashMap::new();
        let mut at = 0;
        while at + KEY_BYTES <= pcm.len() {
            let mut key = [0u8; KEY_BYTES];
            key.copy_from_slice(&pcm[at..at + KEY_BYTES]);
            index.entry(key).or_default().push(at);
            at += 2;
        }
        Reference { pcm, index }
    }

    /// Where `frame` sits in the recording, trying `hint` (the end of the previous frame)
    /// first; the earliest match otherwise.
    fn locate(&self, frame: &[u8], hint: Option<usize>) -> Option<usize> {
        let matches = |at: usize| self.pcm.get(at..at + frame.len()) == Some(frame);
        if let Some(hint) = hint.filter(|&h| matches(h)) {
            return Some(hint);
        }
        let key: [u8; KEY_BYTES] = frame.get(..KEY_BYTES)?.try_into().ok()?;
        self.index.get(&key)?.iter().copied().find(|&at| matches(at))
    }
}

impl FakeDeepgram {
    /// Live connections hear `script`, whose times are on the connection's own clock.
    pub fn live_default(&self, script: Script) {
        self.with(|i| i.live_script = Some(Arc::new(LiveScript { words: script.words, reference: None })));
    }

    /// Live connections hear `script`, whose times are positions in `reference` (16-bit PCM
    /// at the rate and channels the client will declare); each received frame is located in
    /// `reference` by its bytes. Audio should be dithered so positions are unique.
    pub fn live_script(&self, reference: &[i16], script: Script) {
        let pcm: Vec<u8> = reference.iter().flat_map(|s| s.to_le_bytes()).collect();
        let live = LiveScript { words: script.words, reference: Some(Reference::new(pcm)) };
        self.with(|i| i.live_script = Some(Arc::new(live)));
    }

    /// Benchmark mode: every audio frame is answered at once by an interim result whose one
    /// word is `m<N>`, N counting results over all connections; [`FakeDeepgram::flood_sent`]
    /// says when each left.
    pub fn live_flood(&self) {
        self.with(|i| i.live_flood = Some(Vec::new()));
    }

    /// When each flood result was sent, by N.
    pub fn flood_sent(&self) -> Vec<std::time::Instant> {
        self.with(|i| i.live_flood.clone().unwrap_or_default())
    }

    pub fn push_live_fault(&self, fault: LiveFault) {
        self.with(|i| i.live_faults.push_back(fault));
    }

    /// Every live connection so far, oldest first.
    pub fn live_connections(&self) -> Vec<LiveConnectionSeen> {
        self.with(|i| i.live_seen.clone())
    }

    /// Waits until `check` holds for the live connections seen.
    pub async fn wait_live(&self, check: impl Fn(&[LiveConnectionSeen]) -> bool) {
        loop {
            let notified = self.arrived.notified();
            if check(&self.live_connections()) {
                return;
            }
            notified.await;
        }
    }

    fn update_live(&self, index: usize, f: impl FnOnce(&mut LiveConnectionSeen)) {
        self.with(|i| {
            if let Some(seen) = i.live_seen.get_mut(index) {
                f(seen);
            }
        });
        self.arrived.notify_waiters();
    }
}

fn refuse(status: u16, request_id: &str, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, message.to_string()).into_response();
    if let Ok(value) = HeaderValue::from_str(message) {
        response.headers_mut().insert("dg-error", value);
    }
    super::with_request_id(response, request_id)
}

/// deepgram.md §1.2: `Authorization: Token|Bearer`, or the browser form `Sec-WebSocket-Protocol: token, KEY`.
fn live_authorized(fake: &FakeDeepgram, headers: &HeaderMap) -> Option<&'static str> {
    if super::authorized(fake, headers) {
        return Some("");
    }
    let offered = headers.get(header::SEC_WEBSOCKET_PROTOCOL)?.to_str().ok()?;
    let parts: Vec<&str> = offered.split(',').map(str::trim).collect();
    match parts.as_slice() {
        ["token", key, ..] if fake.with(|i| i.keys.iter().any(|k| k == key)) => Some("token"),
        ["bearer", jwt, ..] if jwt.starts_with("fake-jwt.") => Some("bearer"),
        _ => None,
    }
}

pub(super) async fn listen(
    State(fake): State<FakeDeepgram>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let request_id = fake.request_id();
    let query = query.map(|q| url_pairs(&q)).unwrap_or_default();
    let index = fake.with(|i| {
        i.live_seen.push(LiveConnectionSeen {
            query: query.clone(),
            headers: headers.clone(),
            request_id: request_id.clone(),
            ..LiveConnectionSeen::default()
        });
        i.live_seen.len() - 1
    });
    fake.arrived.notify_waiters();
    let mut faults: VecDeque<LiveFault> = VecDeque::new();
    // A refusal or drop applies to this connection; a delay rides along with it.
    while let Some(fault) = fake.with(|i| i.live_faults.pop_front()) {
        let last = !matches!(fault, LiveFault::DelayResults(_));
        faults.push_back(fault);
        if last {
            break;
        }
    }
    if let Some(status) = faults.iter().find_map(|f| if let LiveFault::Refuse(s) = f { Some(*s) } else { None }) {
        return refuse(status, &request_id, "Service unavailable (fault injected)");
    }
    let Some(protocol) = live_authorized(&fake, &headers) else {
        return refuse(401, &request_id, "Invalid credentials.");
    };
    for (key, value) in &query {
        if !KNOWN_PARAMS.contains(&key.as_str()) {
            return refuse(400, &request_id, &format!("Unknown query parameter: {key}"));
        }
        if BOOL_PARAMS.contains(&key.as_str()) && value != "true" && value != "false" {
            return refuse(400, &request_id, &format!("Invalid value for {key}: {value}"));
        }
    }
    let options = match Options::from_query(&query) {
        Ok(options) => options,
        Err(message) => return refuse(400, &request_id, &message),
    };
    let upgrade = if protocol.is_empty() { upgrade } else { upgrade.protocols([protocol]) };
    let id = request_id.clone();
    let response = upgrade.on_upgrade(move |socket| async move {
        let script = fake.with(|i| i.live_script.clone());
        let mut connection = Connection::new(fake, index, id, options, script, faults);
        connection.run(socket).await;
    });
    super::with_request_id(response, &request_id)
}

/// What the query asked for.
#[derive(Debug, Clone)]
struct Options {
    bytes_per_ms: f64,
    interim: bool,
    diarize: bool,
    punctuate: bool,
    endpoint_ms: f64,
    utterance_end: bool,
    vad_events: bool,
}

impl Options {
    fn from_query(query: &[(String, String)]) -> Result<Options, String> {
        let get = |key: &str| query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        let on = |key: &str| get(key) == Some("true");
        if get("encoding").is_some_and(|e| e != "linear16") {
            return Err("the fake decodes only encoding=linear16".into());
        }
        let rate: f64 = get("sample_rate").unwrap_or("16000").parse().map_err(|_| "sample_rate must be a number")?;
        let channels: f64 = get("channels").unwrap_or("1").parse().map_err(|_| "channels must be a number")?;
        let endpoint_ms = match get("endpointing") {
            None => DEFAULT_ENDPOINT_MS,
            Some("false") => f64::INFINITY,
            Some(ms) => ms.parse::<f64>().map_err(|_| "endpointing must be a number or false")?.max(DEFAULT_ENDPOINT_MS),
        };
        Ok(Options {
            bytes_per_ms: rate * channels * 2.0 / 1000.0,
            interim: on("interim_results"),
            diarize: on("diarize") || get("diarize_model").is_some(),
            punctuate: on("punctuate") || on("smart_format"),
            endpoint_ms,
            utterance_end: get("utterance_end_ms").is_some() && on("interim_results"),
            vad_events: on("vad_events"),
        })
    }
}

/// A contiguous stretch of received audio: where it sits in the reference and on the
/// connection's clock, ms.
#[derive(Debug, Clone, Copy)]
struct Run {
    reference_start: f64,
    reference_end: f64,
    own_start: f64,
}

/// One recognised word on the connection's clock.
struct Heard {
    index: usize,
    start: f64,
    end: f64,
}

struct Connection {
    fake: FakeDeepgram,
    seen: usize,
    request_id: String,
    options: Options,
    script: Option<Arc<LiveScript>>,
    faults: VecDeque<LiveFault>,
    delay: Duration,
    /// Audio received, ms on the connection's clock.
    received_ms: f64,
    runs: Vec<Run>,
    /// Byte position in the reference where the next frame is expected.
    next_reference_byte: Option<usize>,
    finalized: BTreeSet<usize>,
    speech_announced: BTreeSet<usize>,
    /// End of the last final span, own clock, ms.
    cursor_ms: f64,
    next_interim_ms: f64,
    audio_hash: Sha256,
    got_audio: bool,
}

enum Step {
    Continue,
    Close(u16, String),
    Drop,
}

impl Connection {
    fn new(
        fake: FakeDeepgram,
        seen: usize,
        request_id: String,
        options: Options,
        script: Option<Arc<LiveScript>>,
        faults: VecDeque<LiveFault>,
    ) -> Connection {
        let delay = faults
            .iter()
            .find_map(|f| if let LiveFault::DelayResults(d) = f { Some(*d) } else { None })
            .unwrap_or_default();
        Connection {
            fake,
            seen,
            request_id,
            options,
            script,
            faults,
            delay,
            received_ms: 0.0,
            runs: Vec::new(),
            next_reference_byte: None,
            finalized: BTreeSet::new(),
            speech_announced: BTreeSet::new(),
            cursor_ms: 0.0,
            next_interim_ms: INTERIM_EVERY_MS,
            audio_hash: Sha256::new(),
            got_audio: false,
        }
    }

    async fn run(&mut self, mut socket: WebSocket) {
        let mut deadline = Instant::now() + INACTIVITY;
        let outcome = loop {
            let message = tokio::select! {
                message = socket.recv() => message,
                () = tokio::time::sleep_until(deadline) => {
                    break Step::Close(1011, "NET-0001".into());
                }
            };
            let step = match message {
                Some(Ok(Message::Binary(bytes))) => {
                    deadline = Instant::now() + INACTIVITY;
                    self.audio(&mut socket, &bytes).await
                }
                Some(Ok(Message::Text(text))) => {
                    // deepgram.md §1.6: KeepAlive alone does not keep a connection that never had audio.
                    let control = self.control(&mut socket, text.as_str()).await;
                    if self.got_audio {
                        deadline = Instant::now() + INACTIVITY;
                    }
                    control
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break Step::Drop,
                Some(Ok(_)) => Step::Continue,
            };
            match step {
                Step::Continue => {}
                other => break other,
            }
        };
        match outcome {
            Step::Close(code, reason) => {
                self.fake.update_live(self.seen, |s| s.closed_with = Some((code, reason.clone())));
                let frame = CloseFrame { code, reason: reason.into() };
                let _ = socket.send(Message::Close(Some(frame))).await;
                // Wait (bounded) for the client's close reply so the frame is delivered.
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    while let Some(Ok(message)) = socket.recv().await {
                        if matches!(message, Message::Close(_)) {
                            break;
                        }
                    }
                })
                .await;
            }
            Step::Drop | Step::Continue => {
                self.fake.update_live(self.seen, |s| {
                    s.closed_with.get_or_insert((1006, String::new()));
                });
            }
        }
    }

    async fn control(&mut self, socket: &mut WebSocket, text: &str) -> Step {
        let kind = serde_json::from_str::<Value>(text).ok().and_then(|v| v["type"].as_str().map(String::from));
        match kind.as_deref() {
            Some("KeepAlive") => {
                self.fake.update_live(self.seen, |s| s.keep_alives += 1);
                Step::Continue
            }
            Some("Finalize") => {
                self.fake.update_live(self.seen, |s| s.finalizes += 1);
                self.finalize_heard(socket, false, true).await;
                Step::Continue
            }
            Some("CloseStream") => {
                self.fake.update_live(self.seen, |s| s.close_streams += 1);
                self.finalize_heard(socket, true, false).await;
                let metadata = self.metadata();
                if socket.send(Message::Text(metadata.to_string().into())).await.is_err() {
                    return Step::Drop;
                }
                Step::Close(1000, String::new())
            }
            _ => Step::Close(1008, "DATA-0000".into()),
        }
    }

    async fn audio(&mut self, socket: &mut WebSocket, bytes: &[u8]) -> Step {
        if bytes.is_empty() {
            self.fake.update_live(self.seen, |s| s.empty_frames += 1);
            return Step::Close(1000, String::new());
        }
        if !bytes.len().is_multiple_of(2) {
            return Step::Close(1008, "DATA-0000".into());
        }
        self.got_audio = true;
        self.audio_hash.update(bytes);
        self.fake.update_live(self.seen, |s| s.audio_bytes += bytes.len() as u64);
        let own_start = self.received_ms;
        let length = bytes.len() as f64 / self.options.bytes_per_ms;
        self.received_ms += length;
        self.place(bytes, own_start, length);
        if self.fake.with(|i| i.live_flood.is_some()) {
            return self.flood(socket, own_start).await;
        }

        let drop = self.faults.iter().find_map(|f| match f {
            LiveFault::DropAfter { seconds, close } => Some((*seconds, close.clone())),
            _ => None,
        });
        if let Some((seconds, close)) = drop
            && self.received_ms >= seconds * 1000.0
        {
            return match close {
                Some((code, reason)) => Step::Close(code, reason),
                None => Step::Drop,
            };
        }
        if self.send_speech_started(socket).await.is_err() {
            return Step::Drop;
        }
        let heard = self.unfinalized();
        // A sentence end followed by enough silence, or a long stretch: final.
        let endpoint = heard.iter().position(|h| {
            self.script_word(h.index).punctuated.ends_with(['.', '?', '!'])
                && self.received_ms >= h.end + self.options.endpoint_ms
        });
        let sent = if let Some(last) = endpoint {
            self.send_final(socket, &heard[..=last], true, false).await
        } else if heard.first().is_some_and(|h| self.received_ms - h.start >= FORCE_FINAL_MS) {
            self.send_final(socket, &heard, false, false).await
        } else if self.options.interim && self.received_ms >= self.next_interim_ms {
            self.next_interim_ms = self.received_ms + INTERIM_EVERY_MS;
            match heard.is_empty() {
                true => Ok(()),
                false => self.send_results(socket, &heard, false, false, false, self.cursor_ms, self.received_ms).await,
            }
        } else {
            Ok(())
        };
        match sent {
            Ok(()) => Step::Continue,
            Err(()) => Step::Drop,
        }
    }

    /// Answers a frame with a numbered interim result (benchmark mode).
    async fn flood(&mut self, socket: &mut WebSocket, at_ms: f64) -> Step {
        let n = self.fake.with(|i| i.live_flood.as_ref().map_or(0, Vec::len));
        let word = json!({"word": format!("m{n}"), "start": at_ms / 1000.0, "end": self.received_ms / 1000.0, "confidence": 0.9});
        let message = json!({
            "type": "Results", "channel_index": [0, 1], "start": at_ms / 1000.0, "duration": (self.received_ms - at_ms) / 1000.0,
            "is_final": false, "speech_final": false,
            "channel": {"alternatives": [{"transcript": format!("m{n}"), "confidence": 0.9, "words": [word]}]},
            "metadata": {"request_id": self.request_id, "model_info": {"name": "2-general-nova", "version": "2024-01-18.26916", "arch": "nova-3"}, "model_uuid": "c0d1a568-ce81-4fea-97e7-bd45cb1fdf3c"}
        })
        .to_string();
        self.fake.with(|i| {
            if let Some(sent) = i.live_flood.as_mut() {
                sent.push(std::time::Instant::now());
            }
        });
        match socket.send(Message::Text(message.into())).await {
            Ok(()) => Step::Continue,
            Err(_) => Step::Drop,
        }
    }

    /// Records where a frame sits on the reference timeline.
    fn place(&mut self, bytes: &[u8], own_start: f64, length: f64) {
        let reference_start = match self.script.as_ref().and_then(|s| s.reference.as_ref()) {
            None => own_start,
            Some(reference) => match reference.locate(bytes, self.next_reference_byte) {
                Some(at) => {
                    self.next_reference_byte = Some(at + bytes.len());
                    at as f64 / self.options.bytes_per_ms
                }
                // Audio that is not in the recording holds no scripted words.
                None => {
                    self.next_reference_byte = None;
                    return;
                }
            },
        };
        match self.runs.last_mut() {
            Some(run)
                if (run.reference_end - reference_start).abs() < 0.01
                    && (run.own_start + (run.reference_end - run.reference_start) - own_start).abs() < 0.01 =>
            {
                run.reference_end = reference_start + length;
            }
            _ => self.runs.push(Run { reference_start, reference_end: reference_start + length, own_start }),
        }
    }

    fn script_word(&self, index: usize) -> &ScriptWord {
        &self.script.as_ref().expect("words exist only with a script").words[index]
    }

    /// Words wholly received and not yet final, on the connection's clock, in order.
    fn unfinalized(&self) -> Vec<Heard> {
        let Some(script) = &self.script else { return Vec::new() };
        let mut heard = Vec::new();
        for (index, word) in script.words.iter().enumerate() {
            if self.finalized.contains(&index) {
                continue;
            }
            let (start, end) = (word.start * 1000.0, word.end * 1000.0);
            if let Some(run) = self.runs.iter().find(|r| r.reference_start <= start && end <= r.reference_end) {
                let offset = run.own_start - run.reference_start;
                heard.push(Heard { index, start: start + offset, end: end + offset });
            }
        }
        heard.sort_by(|a, b| a.start.total_cmp(&b.start));
        heard
    }

    /// deepgram.md §1.5.4: SpeechStarted when the audio under a new word's start arrives.
    async fn send_speech_started(&mut self, socket: &mut WebSocket) -> Result<(), ()> {
        if !self.options.vad_events {
            return Ok(());
        }
        let Some(script) = self.script.clone() else { return Ok(()) };
        for run in &self.runs.clone() {
            for (index, word) in script.words.iter().enumerate() {
                let start = word.start * 1000.0;
                let starts_utterance = index == 0 || script.words[index - 1].punctuated.ends_with(['.', '?', '!']);
                if starts_utterance && run.reference_start <= start && start < run.reference_end && self.speech_announced.insert(index) {
                    let at = run.own_start + start - run.reference_start;
                    let message = json!({"type": "SpeechStarted", "channel": [0, 1], "timestamp": at / 1000.0});
                    socket.send(Message::Text(message.to_string().into())).await.map_err(|_| ())?;
                }
            }
        }
        Ok(())
    }

    async fn finalize_heard(&mut self, socket: &mut WebSocket, speech_final: bool, from_finalize: bool) {
        let heard = self.unfinalized();
        if !heard.is_empty() {
            let _ = self.send_final(socket, &heard, speech_final, from_finalize).await;
        }
    }

    async fn send_final(&mut self, socket: &mut WebSocket, words: &[Heard], speech_final: bool, from_finalize: bool) -> Result<(), ()> {
        let end = words.last().map_or(self.cursor_ms, |h| h.end);
        let start = self.cursor_ms.min(words.first().map_or(end, |h| h.start));
        self.send_results(socket, words, true, speech_final, from_finalize, start, end).await?;
        self.finalized.extend(words.iter().map(|h| h.index));
        self.cursor_ms = end;
        if speech_final && self.options.utterance_end {
            let message = json!({"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": end / 1000.0});
            socket.send(Message::Text(message.to_string().into())).await.map_err(|_| ())?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_results(
        &mut self,
        socket: &mut WebSocket,
        words: &[Heard],
        is_final: bool,
        speech_final: bool,
        from_finalize: bool,
        start_ms: f64,
        end_ms: f64,
    ) -> Result<(), ()> {
        let list: Vec<Value> = words
            .iter()
            .map(|h| {
                let w = self.script_word(h.index);
                let mut word = json!({
                    "word": w.word, "start": h.start / 1000.0, "end": h.end / 1000.0, "confidence": 0.97,
                });
                if self.options.punctuate {
                    word["punctuated_word"] = json!(w.punctuated);
                }
                if self.options.diarize {
                    word["speaker"] = json!(w.speaker);
                }
                word
            })
            .collect();
        let transcript: Vec<&str> = words
            .iter()
            .map(|h| {
                let w = self.script_word(h.index);
                if self.options.punctuate { w.punctuated.as_str() } else { w.word.as_str() }
            })
            .collect();
        let message = json!({
            "type": "Results",
            "channel_index": [0, 1],
            "duration": ((end_ms - start_ms).max(0.0)) / 1000.0,
            "start": start_ms / 1000.0,
            "is_final": is_final,
            "speech_final": speech_final,
            "from_finalize": from_finalize,
            "channel": {"alternatives": [{"transcript": transcript.join(" "), "confidence": 0.97, "words": list}]},
            "metadata": {
                "request_id": self.request_id,
                "model_info": {"name": "2-general-nova", "version": "2024-01-18.26916", "arch": "nova-3"},
                "model_uuid": "c0d1a568-ce81-4fea-97e7-bd45cb1fdf3c"
            }
        });
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        socket.send(Message::Text(message.to_string().into())).await.map_err(|_| ())?;
        self.fake.update_live(self.seen, |s| s.results_sent += 1);
        Ok(())
    }

    /// deepgram.md §1.5.2, sent after CloseStream.
    fn metadata(&self) -> Value {
        json!({
            "type": "Metadata",
            "transaction_key": "deprecated",
            "request_id": self.request_id,
            "sha256": hex::encode(self.audio_hash.clone().finalize()),
            "created": "2026-11-28T00:00:00.000Z",
            "duration": self.received_ms / 1000.0,
            "channels": 1,
        })
    }
}
