//! `deepgram-live`: Deepgram streaming speech-to-text (`stt-live` world).
//!
//! Sits between the host's live session and Deepgram's `/v1/listen` WebSocket
//! (docs/protocols/deepgram.md §1). `start` opens the stream with the operator's options
//! ([`options`]; the host adds the `Authorization` header, this plugin never sees the key),
//! `push-audio` forwards 16 kHz linear16 frames as binary messages, `on-socket-event` turns
//! Deepgram's messages into transcript updates ([`messages`]), `tick` sends `Finalize` when
//! audio pauses and `KeepAlive` while it stays paused, and `finish` sends `CloseStream`; the
//! host then delivers the last Results and Metadata until Deepgram closes.
//!
//! Reconnecting, replaying audio and keeping the session's timeline are the host's work: a
//! dropped stream is reported as `unavailable` ([`errors`]) and the host calls `start` again.

mod errors;
mod messages;
mod options;

use std::cell::RefCell;

use scribe_plugin_api::stt_live::config;
use scribe_plugin_api::stt_live::log::{self, Level};
use scribe_plugin_api::stt_live::types::{
    AudioEncoding, Capabilities, PluginError, PluginInfo, TranscriptUpdate,
};
use scribe_plugin_api::stt_live::websocket::{Connection, Message, SocketEvent};
use scribe_plugin_api::stt_live::{Guest, LiveConfig};

use messages::ServerMessage;
use options::Options;

/// Quiet time after which a KeepAlive is sent, ms. Deepgram closes a stream after 10 s
/// without data; its Rust SDK sends KeepAlive after 3 s and the docs advise every 3-5 s.
const KEEP_ALIVE_MS: u64 = 3_000;
/// Time without audio that counts as a pause, ms: Deepgram is asked to finalise what it
/// holds, so the last words of an utterance do not wait for the next one.
const PAUSE_MS: u64 = 1_000;

/// One open stream.
struct Stream {
    connection: Connection,
    socket: u64,
    /// Audio went out since the last tick.
    audio_since_tick: bool,
    /// Host clock of the last tick that saw audio, ms.
    last_audio_ms: Option<u64>,
    /// Host clock of the last tick that saw anything sent, ms.
    last_sent_ms: Option<u64>,
    /// A Finalize went out for the current pause.
    pause_finalized: bool,
    /// CloseStream went out: the close that follows is expected.
    closing: bool,
}

thread_local! {
    static STREAM: RefCell<Option<Stream>> = const { RefCell::new(None) };
}

fn send_text(stream: &Stream, text: &str) -> Result<(), PluginError> {
    stream.connection.send(&Message::Text(text.to_string())).map_err(errors::from_host)
}

struct DeepgramLive;

impl Guest for DeepgramLive {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: "deepgram-live".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            name: "Deepgram (live)".into(),
            capabilities: Capabilities {
                languages: Vec::new(),
                diarization: true,
                word_timing: true,
                encodings: vec![AudioEncoding::Linear16],
                max_file_bytes: None,
            },
        }
    }

    fn start(config: LiveConfig) -> Result<Vec<TranscriptUpdate>, PluginError> {
        // A second start is a reconnect: the old stream goes first.
        STREAM.with_borrow_mut(|s| *s = None);
        if config.format.encoding != AudioEncoding::Linear16 {
            return Err(PluginError::BadInput("deepgram-live streams linear16 audio only".into()));
        }
        let options = Options::from_settings(config::get).map_err(PluginError::BadInput)?;
        let url = options.listen_url(config.format.sample_rate, config.format.channels, config.language.as_deref());
        let connection = Connection::connect(&url, &[]).map_err(errors::from_host)?;
        let socket = connection.id();
        log::log(Level::Debug, &format!("stream {socket} open"));
        STREAM.with_borrow_mut(|s| {
            *s = Some(Stream {
                connection,
                socket,
                audio_since_tick: false,
                last_audio_ms: None,
                last_sent_ms: None,
                pause_finalized: false,
                closing: false,
            })
        });
        Ok(Vec::new())
    }

    fn push_audio(frame: Vec<u8>) -> Result<Vec<TranscriptUpdate>, PluginError> {
        // An empty binary message would end the stream (docs/protocols/deepgram.md §1.4).
        if frame.is_empty() {
            return Ok(Vec::new());
        }
        STREAM.with_borrow_mut(|s| {
            let stream = s.as_mut().ok_or_else(|| PluginError::Unavailable("the Deepgram stream is not open".into()))?;
            stream.connection.send(&Message::Binary(frame)).map_err(errors::from_host)?;
            stream.audio_since_tick = true;
            stream.pause_finalized = false;
            Ok(Vec::new())
        })
    }

    fn on_socket_event(socket: u64, event: SocketEvent) -> Result<Vec<TranscriptUpdate>, PluginError> {
        let current = STREAM.with_borrow(|s| s.as_ref().map(|s| (s.socket, s.closing)));
        let Some((open, closing)) = current else { return Ok(Vec::new()) };
        // Late events of a stream this plugin already replaced.
        if socket != open {
            return Ok(Vec::new());
        }
        match event {
            SocketEvent::Message(Message::Text(text)) => match messages::parse(&text) {
                Ok(ServerMessage::Results(update)) => Ok(vec![update]),
                // The end of an utterance: nothing more to add to the words already final.
                Ok(ServerMessage::UtteranceEnd { last_word_end_ms }) => Ok(vec![TranscriptUpdate {
                    words: Vec::new(),
                    is_final: true,
                    speech_final: true,
                    start_ms: last_word_end_ms,
                    end_ms: last_word_end_ms,
                }]),
                Ok(ServerMessage::SpeechStarted { at_ms }) => {
                    log::log(Level::Debug, &format!("speech started at {at_ms} ms"));
                    Ok(Vec::new())
                }
                Ok(ServerMessage::Metadata { request_id, duration_ms }) => {
                    log::log(Level::Info, &format!("stream closed by request: Deepgram request {request_id}, {duration_ms} ms of audio"));
                    Ok(Vec::new())
                }
                Ok(ServerMessage::Unknown(kind)) => {
                    log::log(Level::Debug, &format!("skipping a Deepgram message of type {kind}"));
                    Ok(Vec::new())
                }
                Err(message) => {
                    log::log(Level::Warn, &message);
                    Ok(Vec::new())
                }
            },
            SocketEvent::Message(Message::Binary(_)) => Ok(Vec::new()),
            SocketEvent::Closed(close) => {
                STREAM.with_borrow_mut(|s| *s = None);
                if errors::is_requested_end(closing, &close) {
                    return Ok(Vec::new());
                }
                Err(errors::from_close(&close))
            }
        }
    }

    fn tick(now_ms: u64) -> Result<Vec<TranscriptUpdate>, PluginError> {
        STREAM.with_borrow_mut(|s| {
            let Some(stream) = s.as_mut().filter(|s| !s.closing) else { return Ok(Vec::new()) };
            if std::mem::take(&mut stream.audio_since_tick) {
                stream.last_audio_ms = Some(now_ms);
                stream.last_sent_ms = Some(now_ms);
                return Ok(Vec::new());
            }
            let since = |at: Option<u64>| at.map(|at| now_ms.saturating_sub(at));
            if !stream.pause_finalized && since(stream.last_audio_ms).is_some_and(|ms| ms >= PAUSE_MS) {
                send_text(stream, r#"{"type":"Finalize"}"#)?;
                stream.pause_finalized = true;
                stream.last_sent_ms = Some(now_ms);
            }
            match since(stream.last_sent_ms) {
                None => stream.last_sent_ms = Some(now_ms),
                Some(quiet) if quiet >= KEEP_ALIVE_MS => {
                    send_text(stream, r#"{"type":"KeepAlive"}"#)?;
                    stream.last_sent_ms = Some(now_ms);
                }
                Some(_) => {}
            }
            Ok(Vec::new())
        })
    }

    fn finish() -> Result<Vec<TranscriptUpdate>, PluginError> {
        STREAM.with_borrow_mut(|s| {
            let Some(stream) = s.as_mut().filter(|s| !s.closing) else { return Ok(Vec::new()) };
            // Deepgram transcribes what it holds, sends the last Results and Metadata, then
            // closes; the host delivers those events.
            send_text(stream, r#"{"type":"CloseStream"}"#)?;
            stream.closing = true;
            Ok(Vec::new())
        })
    }
}

scribe_plugin_api::register_plugin!(stt_live, DeepgramLive);
