//! One Wyoming client: `describe` → `info`; `select-program`; `transcribe` (program or
//! model `name`, `language`) → `audio-start` / `audio-chunk`s / `audio-stop` → `transcript`.
//! A streaming program (the live role's recogniser) sends `transcript-start`, then a
//! `transcript-chunk` for each run of words as it becomes final, while the audio still comes,
//! and `transcript-stop` after the `transcript`. A malformed or oversized event is answered
//! with an `error` and the connection closes; a request that cannot be served gets an `error`
//! and the connection stays.

use std::sync::Arc;

use serde_json::json;
use tokio::io::{AsyncWrite, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::programs::{self, Program};
use super::wire::{self, Event, WireError};
use crate::api::AppState;
use crate::api::compat::{self, Outcome};
use crate::audio::TARGET_RATE;
use crate::clients::stt::{AudioEncoding, AudioFormat, BatchStt};
use crate::live::convert::{Converter, SampleFormat};
use crate::live::utterance::{Heard, Utterance};
use crate::live::{INPUT_QUEUE, Input, SessionSpec};
use crate::plugin::capabilities::audio::AudioInput;
use crate::queue::files::JobAsk;
use crate::retry::Failure;
use crate::sinks::export::SessionExport;
use crate::sinks::events::{Event as DaemonEvent, LiveStatus};

/// The source of the sessions this server keeps (`wyoming.store_sessions`).
pub const SOURCE: &str = "wyoming";
/// Events read ahead of the one being handled.
const READ_AHEAD: usize = 64;
/// Longest utterance a program that reads it whole takes, ms: Whisper reads 30 s at once,
/// and a voice command is a few seconds.
const MAX_WHOLE_MS: u64 = 30_000;
/// The sample width a client may send, bytes: 16-bit integers, as every Wyoming satellite
/// and Home Assistant send.
const WIDTH: u64 = 2;

/// What every connection shares.
pub struct Shared {
    pub state: AppState,
    pub programs: Vec<Program>,
    pub store_sessions: bool,
}

/// Serves one client until it closes the connection or breaks the protocol.
pub async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let (read, mut write) = stream.into_split();
    // Events are read on a task of their own, so the transcript's words can go out while
    // the audio comes in without a read ever being cut short.
    let (events_tx, mut events) = mpsc::channel(READ_AHEAD);
    let reader = tokio::spawn(async move {
        let mut reader = BufReader::new(read);
        loop {
            let event = wire::read(&mut reader).await;
            let last = !matches!(event, Ok(Some(_)));
            if events_tx.send(event).await.is_err() || last {
                break;
            }
        }
    });
    let mut connection = Connection { shared, selected: None, asked: Asked::default(), audio: None };
    loop {
        let step = tokio::select! {
            incoming = events.recv() => match incoming {
                Some(Ok(Some(event))) => connection.event(event, &mut write).await,
                Some(Ok(None)) | None => break,
                Some(Err(err)) => {
                    let code = if matches!(err, WireError::TooLarge(..)) { "too-large" } else { "bad-event" };
                    let _ = send_error(&mut write, &err.to_string(), code).await;
                    break;
                }
            },
            heard = connection.heard() => connection.on_heard(heard, &mut write).await,
        };
        if step.is_err() {
            break;
        }
    }
    reader.abort();
}

async fn send(writer: &mut (impl AsyncWrite + Unpin), kind: &str, data: serde_json::Value) -> std::io::Result<()> {
    wire::write(writer, &Event::new(kind, data)).await
}

async fn send_error(writer: &mut (impl AsyncWrite + Unpin), text: &str, code: &str) -> std::io::Result<()> {
    send(writer, "error", json!({"text": text, "code": code})).await
}

/// What the last `transcribe` asked for.
#[derive(Debug, Default)]
struct Asked {
    name: Option<String>,
    language: Option<String>,
}

/// An utterance coming in.
struct Audio {
    /// Until `audio-stop`.
    converter: Option<Converter>,
    program: Program,
    language: Option<String>,
    work: Work,
}

/// Who transcribes the utterance.
enum Work {
    /// The live role's recogniser, outside the library.
    Utterance { utterance: Utterance, text: Vec<String> },
    /// The live role's recogniser, as a live session kept in the library.
    Session { input: Option<mpsc::Sender<Input>>, heard: mpsc::UnboundedReceiver<Heard>, text: Vec<String> },
    /// A program that reads the utterance whole once it ends.
    Whole { pcm: Vec<i16> },
}

struct Connection {
    shared: Arc<Shared>,
    /// The program `select-program` chose for the connection.
    selected: Option<String>,
    asked: Asked,
    audio: Option<Audio>,
}

impl Connection {
    async fn event(&mut self, event: Event, writer: &mut (impl AsyncWrite + Unpin)) -> std::io::Result<()> {
        let text = |key: &str| event.data.get(key).and_then(|v| v.as_str()).map(String::from);
        match event.kind.as_str() {
            "describe" => send(writer, "info", programs::info(&self.shared.programs)).await,
            "select-program" => {
                self.selected = text("name");
                Ok(())
            }
            "ping" => send(writer, "pong", json!({"text": text("text")})).await,
            "transcribe" => {
                self.asked = Asked { name: text("name"), language: text("language") };
                Ok(())
            }
            "audio-start" | "audio-chunk" => {
                if self.audio.is_none() {
                    match self.start(&event.data).await {
                        Ok(audio) => {
                            if audio.program.streaming {
                                send(writer, "transcript-start", json!({"language": audio.language})).await?;
                            }
                            self.audio = Some(audio);
                        }
                        Err(message) => return send_error(writer, &message, "bad-request").await,
                    }
                }
                match event.payload {
                    Some(payload) if event.kind == "audio-chunk" => self.chunk(&payload, writer).await,
                    _ => Ok(()),
                }
            }
            "audio-stop" => self.stop(writer).await,
            // Wyoming servers drop events they do not know.
            _ => Ok(()),
        }
    }

    /// Starts an utterance in the format `data` gives (`rate`, `width`, `channels`).
    async fn start(&mut self, data: &serde_json::Map<String, serde_json::Value>) -> Result<Audio, String> {
        let number = |key: &str| data.get(key).and_then(|v| v.as_u64()).ok_or_else(|| format!("audio-start needs {key}"));
        let (rate, width, channels) = (number("rate")?, number("width")?, number("channels")?);
        if width != WIDTH {
            return Err(format!("audio of width {width} is not supported: send 16-bit audio (width {WIDTH})"));
        }
        let format = SampleFormat::S16le;
        let rate = u32::try_from(rate).map_err(|_| format!("rate {rate} is out of range"))?;
        let channels = u16::try_from(channels).map_err(|_| format!("channels {channels} is out of range"))?;
        let converter = Converter::new(rate, channels, format).map_err(|err| err.to_string())?;
        let name = self.asked.name.clone().or_else(|| self.selected.clone());
        let program = programs::choose(&self.shared.programs, name.as_deref())?.clone();
        let language = self.asked.language.clone();
        let state = &self.shared.state;
        let work = match (program.streaming, self.shared.store_sessions) {
            (true, false) => Work::Utterance { utterance: state.live.utterance(language.clone()).map_err(|err| err.to_string())?, text: Vec::new() },
            (true, true) => {
                let (input, heard) = kept_session(state, language.clone()).await?;
                Work::Session { input: Some(input), heard, text: Vec::new() }
            }
            (false, _) => Work::Whole { pcm: Vec::new() },
        };
        Ok(Audio { converter: Some(converter), program, language, work })
    }

    async fn chunk(&mut self, payload: &[u8], writer: &mut (impl AsyncWrite + Unpin)) -> std::io::Result<()> {
        let Some(audio) = self.audio.as_mut() else { return Ok(()) };
        let Some(converter) = audio.converter.as_mut() else { return Ok(()) };
        let samples = match converter.push_bytes(payload) {
            Ok(samples) => samples,
            Err(err) => {
                self.audio = None;
                return send_error(writer, &format!("the audio could not be converted: {err}"), "bad-audio").await;
            }
        };
        match &mut audio.work {
            Work::Utterance { utterance, .. } => utterance.push(&samples),
            Work::Session { input: Some(input), .. } => {
                let _ = input.send(Input::Samples(samples)).await;
            }
            Work::Session { input: None, .. } => {}
            Work::Whole { pcm } => {
                pcm.extend_from_slice(&samples);
                if pcm.len() as u64 > MAX_WHOLE_MS * u64::from(TARGET_RATE) / 1000 {
                    let message = format!("{} reads at most {} s at once; use {} for longer speech", audio.program.plugin, MAX_WHOLE_MS / 1000, self.shared.programs[0].plugin);
                    self.audio = None;
                    return send_error(writer, &message, "too-long").await;
                }
            }
        }
        Ok(())
    }

    /// The utterance is over: a streaming program reads the rest (its words come through
    /// [`Connection::heard`]); any other reads it all now.
    async fn stop(&mut self, writer: &mut (impl AsyncWrite + Unpin)) -> std::io::Result<()> {
        let Some(mut audio) = self.audio.take() else {
            return send_error(writer, "audio-stop without audio", "bad-request").await;
        };
        let Some(converter) = audio.converter.take() else { return Ok(()) };
        // The resampler's last samples; a failure to flush them loses a few ms at most.
        let rest = converter.finish().unwrap_or_default();
        match &mut audio.work {
            Work::Utterance { utterance, .. } => {
                utterance.push(&rest);
                utterance.finish();
            }
            Work::Session { input, .. } => {
                if let Some(input) = input.take() {
                    let _ = input.send(Input::Samples(rest)).await;
                }
            }
            Work::Whole { pcm } => {
                pcm.extend_from_slice(&rest);
                let pcm = std::mem::take(pcm);
                return match read_whole(&self.shared, &audio.program, pcm, audio.language.clone()).await {
                    Ok(text) => send(writer, "transcript", json!({"text": text, "language": audio.language})).await,
                    Err(message) => send_error(writer, &message, "transcription-failed").await,
                };
            }
        }
        self.audio = Some(audio);
        Ok(())
    }

    /// The streaming recogniser's next words; never resolves without one.
    async fn heard(&mut self) -> Heard {
        let heard = match self.audio.as_mut().map(|a| &mut a.work) {
            Some(Work::Utterance { utterance, .. }) => utterance.heard.recv().await,
            Some(Work::Session { heard, .. }) => heard.recv().await,
            _ => return std::future::pending().await,
        };
        heard.unwrap_or(Heard::Ended { complete: false })
    }

    async fn on_heard(&mut self, heard: Heard, writer: &mut (impl AsyncWrite + Unpin)) -> std::io::Result<()> {
        let Some(audio) = self.audio.as_mut() else { return Ok(()) };
        let (Work::Utterance { text, .. } | Work::Session { text, .. }) = &mut audio.work else { return Ok(()) };
        match heard {
            Heard::Final(words) => {
                send(writer, "transcript-chunk", json!({"text": words})).await?;
                text.push(words);
                Ok(())
            }
            Heard::Ended { complete } => {
                let text = text.join(" ");
                let language = audio.language.clone();
                self.audio = None;
                if !complete && text.is_empty() {
                    return send_error(writer, "the recogniser could not transcribe the audio", "transcription-failed").await;
                }
                send(writer, "transcript", json!({"text": text, "language": language})).await?;
                send(writer, "transcript-stop", json!({})).await
            }
        }
    }
}

/// A live session kept in the library, fed by the returned input; its final words and its
/// end come as [`Heard`].
async fn kept_session(state: &AppState, language: Option<String>) -> Result<(mpsc::Sender<Input>, mpsc::UnboundedReceiver<Heard>), String> {
    // Subscribed before the session exists, so none of its events is missed.
    let mut events = state.events.subscribe(None).live;
    let (input, rx) = mpsc::channel(INPUT_QUEUE);
    let spec = SessionSpec { source: SOURCE.into(), title: None, language };
    let id = state.live.start(spec, rx).await.map_err(|err| err.to_string())?;
    let (heard_tx, heard) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(published) = events.recv().await {
            if published.event.session_id() != Some(id.as_str()) {
                continue;
            }
            let heard = match &published.event {
                DaemonEvent::Transcript { is_final: true, words, .. } if !words.is_empty() => {
                    Heard::Final(words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" "))
                }
                DaemonEvent::Live { status, .. } if status.ends_session() => Heard::Ended { complete: *status != LiveStatus::Error },
                _ => continue,
            };
            let ended = matches!(heard, Heard::Ended { .. });
            if heard_tx.send(heard).is_err() || ended {
                break;
            }
        }
    });
    Ok((input, heard))
}

/// Reads a whole utterance with `program`: in memory, or as a library session when sessions
/// are kept.
async fn read_whole(shared: &Shared, program: &Program, pcm: Vec<i16>, language: Option<String>) -> Result<String, String> {
    let state = &shared.state;
    if shared.store_sessions {
        let wav = wav_bytes(&pcm).map_err(|err| err.to_string())?;
        let body = futures_util::stream::iter([Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(wav))]);
        let received = crate::api::uploads::receive(state, body).await.map_err(|err| err.message)?;
        let ask = JobAsk { provider: Some(program.plugin.clone()), language, prompt: None };
        return match compat::transcribe(state, received, "wyoming.wav", SOURCE, &ask).await.map_err(|err| err.message)? {
            Outcome::Done { export, .. } => Ok(SessionExport::displayed(&export.words)),
            Outcome::Failed(message) => Err(message),
        };
    }
    let handle = state.registry.handle(&program.plugin).cloned().ok_or_else(|| format!("{} is not loaded", program.plugin))?;
    let stt = BatchStt::new(handle).map_err(|err| err.to_string())?;
    let duration = std::time::Duration::from_millis(pcm.len() as u64 * 1000 / u64::from(TARGET_RATE));
    let bytes: Arc<[u8]> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
    let format = AudioFormat { encoding: AudioEncoding::Linear16, sample_rate: TARGET_RATE, channels: 1 };
    match stt.transcribe(format, AudioInput::from_memory(bytes), language, Some(duration)).await {
        Ok(Ok(transcript)) => Ok(SessionExport::displayed(&transcript.words)),
        Ok(Err(err)) => Err(Failure::classify(err, &program.plugin).into_message()),
        Err(call) => Err(call.to_string()),
    }
}

/// `pcm` as a WAV file, for the file pipeline.
fn wav_bytes(pcm: &[i16]) -> Result<Vec<u8>, hound::Error> {
    let spec = hound::WavSpec { channels: 1, sample_rate: TARGET_RATE, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut out = Vec::new();
    let mut writer = hound::WavWriter::new(std::io::Cursor::new(&mut out), spec)?;
    for &sample in pcm {
        writer.write_sample(sample)?;
    }
    writer.finalize()?;
    Ok(out)
}
