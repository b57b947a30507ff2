//! Deepgram's live API, for apps built on a Deepgram SDK: a WebSocket at `GET /v1/listen`
//! (docs/protocols/deepgram.md §1). The audio becomes a live session (source `deepgram-api`)
//! that `roles.stt_live` transcribes and the library keeps like any other; the session's
//! transcript events go back in Deepgram's shape ([`Reply`]). `KeepAlive` holds the
//! connection, `Finalize` makes the words so far final, `CloseStream` (or an empty binary
//! frame) ends the audio: the last `Results` follow, then `Metadata` once the session is
//! stored, then a normal close.
//!
//! The audio is `encoding=linear16` with `sample_rate` (and `channels`), or with no
//! `encoding` a WAV stream, whose header comes first and says the format.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use super::answer::{self, seconds};
use super::{Options, SOURCE, error};
use crate::api::AppState;
use crate::api::live::{MAX_CHANNELS, RATES, end_input};
use crate::live::convert::{Converter, SampleFormat};
use crate::clients::library::Word;
use crate::live::{INPUT_QUEUE, Input, SessionSpec};
use crate::sinks::events::{Event, EventWord, LiveStatus};

/// Deepgram closes a stream that sent neither audio nor `KeepAlive` for this long (§1.6).
const NO_TRAFFIC: Duration = Duration::from_secs(10);
/// The close for that (§1.7).
const CLOSE_IDLE: (u16, &str) = (1011, "NET-0001");
/// The close for audio that cannot be decoded (§1.7).
const CLOSE_DATA: (u16, &str) = (1008, "DATA-0000");
/// The close when the session could not run or failed.
const CLOSE_ERROR: u16 = 1011;
/// Most bytes of a WAV stream's start kept while its header is incomplete: a header with
/// every optional chunk fits many times over.
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Canonical samples per ms, for the stream's clock.
const SAMPLES_PER_MS: u64 = crate::audio::TARGET_RATE as u64 / 1000;
/// Longest close reason a WebSocket frame carries, bytes (RFC 6455 §5.5).
const MAX_CLOSE_REASON: usize = 123;

/// A control message (§1.4).
#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
enum Control {
    KeepAlive,
    Finalize,
    CloseStream,
}

pub async fn upgrade(State(state): State<AppState>, query: Query<Vec<(String, String)>>, upgrade: WebSocketUpgrade) -> Response {
    let options = match Options::parse(&query.0).and_then(|options| audio_format(&options).map(|format| (options, format))) {
        Ok(parsed) => parsed,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    if state.live.provider().is_none() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "no live speech-to-text plugin is loaded (roles.stt_live)");
    }
    // A browser offers its credential as the `token` (or `bearer`) subprotocol and fails the
    // handshake unless one offered protocol is echoed (§1.2).
    upgrade.protocols(["token", "bearer"]).on_upgrade(move |socket| run(socket, state, options.0, options.1)).into_response()
}

/// How the audio is framed: raw PCM of a known format, or a WAV stream to read.
#[derive(Debug, Clone, Copy)]
enum AudioFormat {
    Pcm { sample_rate: u32, channels: u16 },
    Wav,
}

fn audio_format(options: &Options) -> Result<AudioFormat, String> {
    match options.encoding.as_deref() {
        None => Ok(AudioFormat::Wav),
        Some("linear16") => {
            let sample_rate = options.sample_rate.ok_or("sample_rate is required with encoding=linear16")?;
            let channels = options.channels.unwrap_or(1);
            if !RATES.contains(&sample_rate) || !(1..=MAX_CHANNELS).contains(&channels) {
                return Err(format!("sample_rate must be {} to {} Hz and channels 1 to {MAX_CHANNELS}", RATES.start(), RATES.end()));
            }
            Ok(AudioFormat::Pcm { sample_rate, channels })
        }
        Some(other) => Err(format!("encoding {other} is not supported here: send linear16, or a WAV stream with no encoding")),
    }
}

/// Turns the client's bytes into canonical samples.
enum Decoder {
    /// The start of a WAV stream, until its header is whole.
    Header(Vec<u8>),
    Pcm(Box<Converter>),
}

impl Decoder {
    fn new(format: AudioFormat) -> Result<Decoder, String> {
        match format {
            AudioFormat::Wav => Ok(Decoder::Header(Vec::new())),
            AudioFormat::Pcm { sample_rate, channels } => Converter::new(sample_rate, channels, SampleFormat::S16le).map(|c| Decoder::Pcm(Box::new(c))).map_err(|err| err.to_string()),
        }
    }

    /// The samples in `bytes`; an error when the audio cannot be decoded.
    fn push(&mut self, bytes: &[u8]) -> Result<Vec<i16>, String> {
        let header = match self {
            Decoder::Pcm(converter) => return converter.push_bytes(bytes).map_err(|err| err.to_string()),
            Decoder::Header(header) => header,
        };
        header.extend_from_slice(bytes);
        let mut cursor = std::io::Cursor::new(header.as_slice());
        let spec = match hound::WavReader::new(&mut cursor) {
            Ok(reader) => reader.spec(),
            Err(hound::Error::IoError(_)) if header.len() < MAX_HEADER_BYTES => return Ok(Vec::new()),
            Err(err) => return Err(format!("the audio is neither a WAV stream nor declared with encoding and sample_rate: {err}")),
        };
        let format = match (spec.sample_format, spec.bits_per_sample) {
            (hound::SampleFormat::Int, 16) => SampleFormat::S16le,
            (hound::SampleFormat::Float, 32) => SampleFormat::F32le,
            (format, bits) => return Err(format!("{bits}-bit {format:?} WAV is not supported: send 16-bit PCM")),
        };
        if !RATES.contains(&spec.sample_rate) || !(1..=MAX_CHANNELS).contains(&spec.channels) {
            return Err(format!("the WAV stream's {} Hz, {} channels are out of range", spec.sample_rate, spec.channels));
        }
        let data = cursor.position() as usize;
        let rest = header[data..].to_vec();
        let converter = Converter::new(spec.sample_rate, spec.channels, format).map_err(|err| err.to_string())?;
        *self = Decoder::Pcm(Box::new(converter));
        self.push(&rest)
    }

    fn converter(self) -> Option<Converter> {
        match self {
            Decoder::Pcm(converter) => Some(*converter),
            Decoder::Header(_) => None,
        }
    }
}

async fn close(socket: &mut WebSocket, code: u16, reason: &str) {
    let mut end = reason.len().min(MAX_CLOSE_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let frame = CloseFrame { code, reason: reason[..end].into() };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

async fn run(mut socket: WebSocket, state: AppState, options: Options, format: AudioFormat) {
    let decoder = match Decoder::new(format) {
        Ok(decoder) => decoder,
        Err(message) => return close(&mut socket, CLOSE_DATA.0, &format!("{} {message}", CLOSE_DATA.1)).await,
    };
    // Subscribed before the session exists, so none of its events is missed.
    let mut events = state.events.subscribe(None).live;
    let (tx, rx) = mpsc::channel(INPUT_QUEUE);
    let spec = SessionSpec { source: SOURCE.into(), title: None, language: options.language.clone() };
    let id = match state.live.start(spec, rx).await {
        Ok(id) => id,
        Err(err) => return close(&mut socket, CLOSE_ERROR, &err.to_string()).await,
    };
    let plugin = state.live.provider().map(|choice| choice.plugin.clone()).unwrap_or_default();
    let mut stream = Stream { reply: Reply::new(id, plugin, options), decoder: Some(decoder), input: Some(tx), hash: Sha256::new(), samples: 0 };
    let mut idle = Box::pin(tokio::time::sleep(NO_TRAFFIC));
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                idle.as_mut().reset(tokio::time::Instant::now() + NO_TRAFFIC);
                let message = match incoming {
                    Some(Ok(message)) => message,
                    // The client went away: its audio so far is the session, stored as usual.
                    Some(Err(_)) | None => return stream.end_input().await,
                };
                if let Err(message) = stream.receive(message).await {
                    stream.end_input().await;
                    return close(&mut socket, CLOSE_DATA.0, &format!("{} {message}", CLOSE_DATA.1)).await;
                }
                if let Some(reply) = stream.reply.audio_until(stream.heard_ms())
                    && super::super::events::send_text(&mut socket, reply.to_string()).await.is_err()
                {
                    return stream.end_input().await;
                }
            }
            () = &mut idle, if stream.input.is_some() => {
                stream.end_input().await;
                return close(&mut socket, CLOSE_IDLE.0, CLOSE_IDLE.1).await;
            }
            event = events.recv() => match event {
                Ok(published) => {
                    if published.event.session_id() != Some(stream.reply.id.as_str()) {
                        continue;
                    }
                    if let Event::Live { status, message, .. } = &published.event
                        && status.ends_session()
                    {
                        return stream.ended(&mut socket, *status, message.as_deref()).await;
                    }
                    let heard_ms = stream.heard_ms();
                    for reply in stream.reply.event(&published.event, heard_ms) {
                        if super::super::events::send_text(&mut socket, reply.to_string()).await.is_err() {
                            return stream.end_input().await;
                        }
                    }
                }
                // Missing some results is survivable: the session keeps every final word.
                Err(RecvError::Lagged(skipped)) => tracing::warn!(session = %stream.reply.id, skipped, "a Deepgram-API client fell behind the events"),
                Err(RecvError::Closed) => return,
            },
        }
    }
}

/// One connection's audio side.
struct Stream {
    reply: Reply,
    decoder: Option<Decoder>,
    /// The session's input, until the client ends the audio.
    input: Option<mpsc::Sender<Input>>,
    /// Of every audio byte received, for `Metadata`.
    hash: Sha256,
    /// Canonical samples sent on: the stream's clock.
    samples: u64,
}

impl Stream {
    /// Takes one client message; an error when its audio cannot be decoded.
    async fn receive(&mut self, message: Message) -> Result<(), String> {
        match message {
            // An empty binary frame ends the stream (§1.4).
            Message::Binary(bytes) if bytes.is_empty() => self.end_input().await,
            Message::Binary(bytes) => {
                self.hash.update(&bytes);
                let (Some(tx), Some(decoder)) = (&self.input, self.decoder.as_mut()) else { return Ok(()) };
                let samples = decoder.push(&bytes)?;
                if !samples.is_empty() {
                    self.samples += samples.len() as u64;
                    // Waits when the session is behind: back-pressure on the client.
                    let _ = tx.send(Input::Samples(samples)).await;
                }
            }
            Message::Text(text) => match serde_json::from_str::<Control>(&text) {
                Ok(Control::KeepAlive) => {}
                Ok(Control::Finalize) => {
                    if let Some(tx) = &self.input {
                        let _ = tx.send(Input::Finalize).await;
                    }
                }
                Ok(Control::CloseStream) => self.end_input().await,
                Err(err) => tracing::debug!(session = %self.reply.id, "an unknown Deepgram control message was ignored: {err}"),
            },
            Message::Close(_) => self.end_input().await,
            Message::Ping(_) | Message::Pong(_) => {}
        }
        Ok(())
    }

    /// Audio received so far, ms.
    fn heard_ms(&self) -> u64 {
        self.samples / SAMPLES_PER_MS
    }

    /// The client is done sending.
    async fn end_input(&mut self) {
        let mut converter = self.decoder.take().and_then(Decoder::converter);
        end_input(&mut self.input, &mut converter).await;
    }

    /// The session is over: `Metadata` and a normal close, or the error.
    async fn ended(mut self, socket: &mut WebSocket, status: LiveStatus, message: Option<&str>) {
        self.end_input().await;
        if status == LiveStatus::Error {
            return close(socket, CLOSE_ERROR, message.unwrap_or("the session failed")).await;
        }
        let duration_ms = self.samples / SAMPLES_PER_MS;
        let metadata = self.reply.metadata(&hex::encode(self.hash.finalize()), duration_ms);
        let _ = super::super::events::send_text(socket, metadata.to_string()).await;
        close(socket, 1000, "").await;
    }
}

/// A displayed word as Deepgram's plain `word`: lower case, without the punctuation around it.
fn plain(displayed: &str) -> String {
    displayed.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase()
}

/// The session's events as Deepgram's messages (§1.5), with what the options ask for.
struct Reply {
    /// The session, as `request_id`.
    id: String,
    plugin: String,
    options: Options,
    created: std::time::SystemTime,
    /// Words were heard since the last end of speech (for `SpeechStarted`).
    speaking: bool,
    /// The end of the last final word, ms, while no word came after it (for `UtteranceEnd`).
    last_final_end: Option<u64>,
}

impl Reply {
    fn new(id: String, plugin: String, options: Options) -> Reply {
        Reply { id, plugin, options, created: std::time::SystemTime::now(), speaking: false, last_final_end: None }
    }

    fn channel() -> Value {
        json!([0, 1])
    }

    /// The messages for one of the session's events, with the audio received up to
    /// `heard_ms`.
    fn event(&mut self, event: &Event, heard_ms: u64) -> Vec<Value> {
        let Event::Transcript { is_final, speech_final, from_finalize, start_ms, end_ms, words, .. } = event else { return Vec::new() };
        let mut replies = Vec::new();
        if let Some(first) = words.first()
            && !self.speaking
        {
            self.speaking = true;
            if self.options.vad_events {
                replies.push(json!({"type": "SpeechStarted", "channel": Reply::channel(), "timestamp": seconds(first.start_ms)}));
            }
        }
        if let Some(last) = words.last() {
            self.last_final_end = is_final.then_some(last.end_ms);
        }
        if *speech_final {
            self.speaking = false;
        }
        if *is_final || self.options.interim_results {
            replies.push(self.results(*is_final, *speech_final, *from_finalize, *start_ms, *end_ms, words));
        }
        replies.extend(self.audio_until(heard_ms));
        replies
    }

    /// `UtteranceEnd` when the audio received, up to `heard_ms`, has run `utterance_end_ms`
    /// past the last final word with no word after it.
    fn audio_until(&mut self, heard_ms: u64) -> Option<Value> {
        let (Some(gap), Some(end)) = (self.options.utterance_end_ms, self.last_final_end) else { return None };
        if heard_ms < end + gap {
            return None;
        }
        self.last_final_end = None;
        Some(json!({"type": "UtteranceEnd", "channel": Reply::channel(), "last_word_end": seconds(end)}))
    }

    fn results(&self, is_final: bool, speech_final: bool, from_finalize: bool, start_ms: u64, end_ms: u64, words: &[EventWord]) -> Value {
        // An event's word is as displayed; Deepgram's plain `word` is made from it.
        let words: Vec<Word> = words
            .iter()
            .map(|w| Word { text: plain(&w.text), punctuated: w.text.clone(), start_ms: w.start_ms, end_ms: w.end_ms, confidence: w.confidence, speaker: w.speaker })
            .collect();
        json!({
            "type": "Results",
            "channel_index": Reply::channel(),
            "start": seconds(start_ms),
            "duration": seconds(end_ms.saturating_sub(start_ms)),
            "is_final": is_final,
            "speech_final": speech_final,
            "from_finalize": from_finalize,
            "channel": {"alternatives": [answer::alternative(&words, self.options.punctuate)]},
            "metadata": {"request_id": self.id, "model_info": answer::model_info(&self.plugin), "model_uuid": self.plugin},
        })
    }

    fn metadata(&self, sha256: &str, duration_ms: u64) -> Value {
        let mut metadata = answer::metadata(&self.id, sha256, self.created, duration_ms, &self.plugin);
        metadata["type"] = "Metadata".into();
        metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> Options {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Options::parse(&pairs).expect("options")
    }

    fn word(text: &str, start_ms: u64, end_ms: u64) -> EventWord {
        EventWord { text: text.into(), start_ms, end_ms, confidence: 0.9, speaker: None }
    }

    fn transcript(is_final: bool, speech_final: bool, words: Vec<EventWord>) -> Event {
        let (start_ms, end_ms) = (words.first().map_or(0, |w| w.start_ms), words.last().map_or(0, |w| w.end_ms));
        Event::Transcript { session_id: "s".into(), is_final, speech_final, from_finalize: false, start_ms, end_ms, words }
    }

    #[test]
    fn the_audio_format_comes_from_the_query_or_the_stream() {
        assert!(matches!(audio_format(&options(&[])), Ok(AudioFormat::Wav)));
        let pcm = audio_format(&options(&[("encoding", "linear16"), ("sample_rate", "48000"), ("channels", "2")]));
        assert!(matches!(pcm, Ok(AudioFormat::Pcm { sample_rate: 48_000, channels: 2 })), "{pcm:?}");
        let no_rate = audio_format(&options(&[("encoding", "linear16")])).expect_err("no rate");
        assert!(no_rate.contains("sample_rate"), "{no_rate}");
        let opus = audio_format(&options(&[("encoding", "opus")])).expect_err("opus");
        assert!(opus.contains("opus"), "{opus}");
    }

    #[test]
    fn a_wav_stream_s_header_may_come_in_pieces() {
        let mut wav = Vec::new();
        let spec = hound::WavSpec { channels: 1, sample_rate: 16_000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
        let mut writer = hound::WavWriter::new(std::io::Cursor::new(&mut wav), spec).expect("writer");
        for sample in [100i16, -200, 300, -400] {
            writer.write_sample(sample).expect("sample");
        }
        writer.finalize().expect("finalized");
        let mut decoder = Decoder::new(AudioFormat::Wav).expect("decoder");
        assert_eq!(decoder.push(&wav[..20]).expect("partial header"), Vec::<i16>::new());
        assert_eq!(decoder.push(&wav[20..46]).expect("header and a sample"), vec![100]);
        assert_eq!(decoder.push(&wav[46..]).expect("samples"), vec![-200, 300, -400]);
        let err = Decoder::new(AudioFormat::Wav).expect("decoder").push(&[0x1A; 64]).expect_err("not a WAV");
        assert!(err.contains("WAV"), "{err}");
    }

    #[test]
    fn events_become_deepgram_s_messages() {
        let mut reply = Reply::new("s".into(), "whisper-local".into(), options(&[("vad_events", "true"), ("utterance_end_ms", "1000"), ("smart_format", "true")]));
        let interim = reply.event(&transcript(false, false, vec![word("Hello,", 500, 800)]), 900);
        assert_eq!(interim.len(), 1, "no interim results unless asked: {interim:?}");
        assert_eq!(interim[0]["type"], "SpeechStarted");
        assert_eq!(interim[0]["timestamp"], 0.5);
        let last = reply.event(&transcript(true, true, vec![word("Hello,", 500, 800), word("World.", 900, 1200)]), 1_500);
        assert_eq!(last.len(), 1);
        let alternative = &last[0]["channel"]["alternatives"][0];
        assert_eq!(alternative["transcript"], "Hello, World.");
        assert_eq!((alternative["words"][1]["word"].as_str(), alternative["words"][1]["punctuated_word"].as_str()), (Some("world"), Some("World.")));
        assert_eq!((last[0]["is_final"].as_bool(), last[0]["speech_final"].as_bool(), last[0]["from_finalize"].as_bool()), (Some(true), Some(true), Some(false)));
        assert!(reply.audio_until(2_100).is_none(), "1 s after the last word has not passed");
        let end = reply.audio_until(2_200).expect("UtteranceEnd");
        assert_eq!((end["type"].as_str(), end["last_word_end"].as_f64()), (Some("UtteranceEnd"), Some(1.2)));
        assert!(reply.audio_until(5_000).is_none(), "once per utterance");
        let again = reply.event(&transcript(true, false, vec![word("Again", 3_000, 3_300)]), 3_500);
        assert_eq!(again[0]["type"], "SpeechStarted", "a new utterance starts");
        let late = reply.event(&transcript(true, true, vec![word("then", 3_400, 3_500)]), 4_600);
        assert_eq!(late.last().map(|r| r["type"].clone()), Some("UtteranceEnd".into()), "a final that comes late is followed by its end at once");
        reply.event(&transcript(true, false, vec![word("And", 6_000, 6_200)]), 6_300);
        reply.event(&transcript(false, false, vec![word("so", 6_400, 6_500)]), 6_600);
        assert!(reply.audio_until(9_000).is_none(), "a word after the last final cancels the utterance's end");
    }
}
