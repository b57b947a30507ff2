//! `whisper-live`: offline Whisper for live audio (`stt-live` world), with no network
//! capability at all. Frames pushed by the host are cut into speech segments at pauses
//! (`scribe_whisper::segment`); each closed segment is transcribed at once and returned as a
//! final update, so words arrive a pause (and an inference) behind the speech. Nothing is
//! interim: a segment's words never change.

use std::cell::RefCell;

use scribe_plugin_api::stt_live::types::{AudioEncoding, Capabilities, PluginError, PluginInfo, TranscriptUpdate, Word};
use scribe_plugin_api::stt_live::websocket::SocketEvent;
use scribe_plugin_api::stt_live::{log, model, setting};
use scribe_plugin_api::stt_live::{Guest, LiveConfig};
use scribe_whisper::load::{self, LoadError, ReadError};
use scribe_whisper::model::Precision;
use scribe_whisper::mel::SAMPLE_RATE;
use scribe_whisper::output;
use scribe_whisper::segment::{Segmenter, SpeechSegment};
use scribe_whisper::transcribe::{Engine, Samples, TranscribeError};

/// Bytes per model read; the host allows up to 16 MiB a call.
const MODEL_READ: u32 = 16 * 1024 * 1024;

/// One live stream.
struct Stream {
    segmenter: Segmenter,
    language: Option<String>,
}

thread_local! {
    /// The loaded model, kept for the instance's life.
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
    static STREAM: RefCell<Option<Stream>> = const { RefCell::new(None) };
}

struct WhisperLive;

fn read_error(err: model::ModelError) -> ReadError {
    match err {
        model::ModelError::NotGranted(m) => ReadError::Denied(m),
        model::ModelError::Unavailable(m) => ReadError::Unavailable(m),
    }
}

fn load_error(err: LoadError) -> PluginError {
    match err {
        LoadError::Denied(m) => PluginError::Denied(format!("{m}; set plugins.whisper-live.model to an installed model (scribed models list)")),
        LoadError::Unusable(m) => PluginError::Other(m),
    }
}

fn ensure_engine() -> Result<(), PluginError> {
    if ENGINE.with_borrow(Option::is_some) {
        return Ok(());
    }
    let name = model::name().map_err(|err| {
        load_error(match read_error(err) {
            ReadError::Denied(m) => LoadError::Denied(m),
            ReadError::Unavailable(m) => LoadError::Unusable(m),
        })
    })?;
    let precision = Precision::from_setting(setting("weights").as_deref()).map_err(PluginError::Other)?;
    let engine = load::load(&name, precision, |file| {
        let size = model::size(file).map_err(read_error)?;
        load::read_whole(size, |offset| model::read(file, offset, MODEL_READ)).map_err(read_error)
    })
    .map_err(load_error)?;
    log::log(log::Level::Info, &format!("loaded the Whisper model {name}"));
    ENGINE.with_borrow_mut(|slot| *slot = Some(engine));
    Ok(())
}

struct InMemory(Vec<f32>);

impl Samples for InMemory {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn read(&mut self, start: usize, count: usize) -> Result<Vec<f32>, String> {
        let end = (start + count).min(self.0.len());
        Ok(self.0[start.min(end)..end].to_vec())
    }
}

/// Transcribes one closed segment into a final update on the stream's clock.
fn transcribe(segment: SpeechSegment, language: Option<&str>) -> Result<TranscriptUpdate, PluginError> {
    let offset_ms = (segment.start as u64 * 1000) / SAMPLE_RATE as u64;
    let end_ms = offset_ms + (segment.samples.len() as u64 * 1000) / SAMPLE_RATE as u64;
    let transcript = ENGINE
        .with_borrow(|engine| match engine {
            Some(engine) => engine.transcribe(&mut InMemory(segment.samples), language, &mut |_| {}),
            None => Err(TranscribeError::Inference("the model is not loaded".into())),
        })
        .map_err(|err| match err {
            TranscribeError::Language(m) => PluginError::BadInput(m),
            TranscribeError::Audio(m) | TranscribeError::Inference(m) => PluginError::Other(m),
        })?;
    let words = output::words(&transcript.segments, offset_ms)
        .into_iter()
        .map(|w| Word { text: w.text, punctuated: w.punctuated, start_ms: w.start_ms, end_ms: w.end_ms.min(end_ms), confidence: w.confidence, speaker: None })
        .collect();
    Ok(TranscriptUpdate { words, is_final: true, speech_final: segment.paused, start_ms: offset_ms, end_ms })
}

fn with_stream<R>(f: impl FnOnce(&mut Stream) -> R) -> Result<R, PluginError> {
    STREAM.with_borrow_mut(|stream| stream.as_mut().map(f)).ok_or_else(|| PluginError::BadInput("no live session: call start first".into()))
}

impl Guest for WhisperLive {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: "whisper-live".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            name: "Whisper live (offline)".into(),
            capabilities: Capabilities {
                languages: Vec::new(),
                diarization: false,
                word_timing: true,
                encodings: vec![AudioEncoding::Linear16],
                max_file_bytes: None,
            },
        }
    }

    fn start(config: LiveConfig) -> Result<Vec<TranscriptUpdate>, PluginError> {
        let format = &config.format;
        if format.encoding != AudioEncoding::Linear16 || format.sample_rate as usize != SAMPLE_RATE || format.channels != 1 {
            return Err(PluginError::BadInput(format!(
                "whisper-live takes 16 kHz mono linear16, not {:?} at {} Hz with {} channels",
                format.encoding, format.sample_rate, format.channels
            )));
        }
        ensure_engine()?;
        STREAM.with_borrow_mut(|stream| *stream = Some(Stream { segmenter: Segmenter::default(), language: config.language }));
        Ok(Vec::new())
    }

    fn push_audio(frame: Vec<u8>) -> Result<Vec<TranscriptUpdate>, PluginError> {
        let samples: Vec<f32> = frame.chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0).collect();
        let (closed, language) = with_stream(|s| (s.segmenter.push(&samples), s.language.clone()))?;
        closed.into_iter().map(|segment| transcribe(segment, language.as_deref())).collect()
    }

    fn on_socket_event(_socket: u64, _event: SocketEvent) -> Result<Vec<TranscriptUpdate>, PluginError> {
        // This plugin opens no sockets.
        Ok(Vec::new())
    }

    fn tick(_now_ms: u64) -> Result<Vec<TranscriptUpdate>, PluginError> {
        Ok(Vec::new())
    }

    fn finish() -> Result<Vec<TranscriptUpdate>, PluginError> {
        let Some(mut stream) = STREAM.with_borrow_mut(Option::take) else { return Ok(Vec::new()) };
        match stream.segmenter.finish() {
            Some(segment) => Ok(vec![transcribe(segment, stream.language.as_deref())?]),
            None => Ok(Vec::new()),
        }
    }
}

scribe_plugin_api::register_plugin!(stt_live, WhisperLive);
