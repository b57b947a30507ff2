//! A deliberately misbehaving `stt-batch` plugin for the sandbox tests.
//!
//! The request's `language` field selects the behaviour, so one component covers every case:
//!
//! | language            | behaviour                                                    |
//! |---------------------|--------------------------------------------------------------|
//! | `echo`              | succeeds with one word: the audio size in the request        |
//! | `read`              | reads the audio through the `audio` import; one word: bytes read |
//! | `loop`              | spins forever                                                |
//! | `grow`              | allocates 1 MiB blocks until the allocator gives up          |
//! | `trap`              | panics (a trap under `panic = "abort"`)                      |
//! | `fetch <url>`       | GETs the URL; the status and body come back as two words    |
//! | `headers <url>`     | GETs the URL and returns the headers it can see of its own request |
//! | `auth <url>`        | tries to set its own `authorization` header                  |
//! | `model <file>`      | the model file's size, its first 16 bytes, and the model's name |
//!
//! Host errors come back as `plugin-error` values whose message starts with the error's case.

use scribe_plugin_api::stt_batch::audio;
use scribe_plugin_api::stt_batch::http::{self, HttpError, Method, Request, RequestBody};
use scribe_plugin_api::stt_batch::log::{self, Level};
use scribe_plugin_api::stt_batch::{config, model};
use scribe_plugin_api::stt_batch::types::{
    AudioEncoding, Capabilities, PluginError, PluginInfo, TranscriptStructure, Word,
};
use scribe_plugin_api::stt_batch::{BatchRequest, BatchTranscript, Guest};

struct Hostile;

fn word(text: String) -> Word {
    Word {
        punctuated: text.clone(),
        text,
        start_ms: 0,
        end_ms: 0,
        confidence: 1.0,
        speaker: None,
    }
}

fn transcript(words: Vec<String>) -> BatchTranscript {
    BatchTranscript {
        words: words.into_iter().map(word).collect(),
        language: None,
        duration_ms: None,
        structure: TranscriptStructure { paragraphs: Vec::new(), utterances: Vec::new() },
    }
}

fn host_error(err: HttpError) -> PluginError {
    match err {
        HttpError::Denied(msg) => PluginError::Denied(msg),
        HttpError::InvalidRequest(msg) => PluginError::BadInput(format!("invalid-request: {msg}")),
        HttpError::Timeout => PluginError::Unavailable("timeout".into()),
        HttpError::TooLarge(n) => PluginError::Other(format!("too-large: {n}")),
        HttpError::Connection(msg) => PluginError::Unavailable(format!("connection: {msg}")),
    }
}

fn get(url: &str, headers: Vec<(String, String)>) -> Result<http::Response, PluginError> {
    http::send(&Request {
        method: Method::Get,
        url: url.to_string(),
        headers,
        body: RequestBody::Bytes(Vec::new()),
        timeout_ms: None,
    })
    .map_err(host_error)
}

impl Guest for Hostile {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: "hostile".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            name: "Hostile test plugin".into(),
            capabilities: Capabilities {
                languages: Vec::new(),
                diarization: false,
                word_timing: false,
                // Files from the pipeline arrive as the host's canonical PCM.
                encodings: vec![AudioEncoding::Linear16],
                max_file_bytes: None,
            },
        }
    }

    fn transcribe(request: BatchRequest) -> Result<BatchTranscript, PluginError> {
        // A file from the pipeline carries no language: the operator's `command` setting
        // says what to do with it.
        let command = request.language.or_else(|| config::get("command")).unwrap_or_default();
        let (verb, arg) = command.split_once(' ').unwrap_or((command.as_str(), ""));
        match verb {
            "echo" => Ok(transcript(vec![request.size.to_string()])),
            "read" => {
                const PIECE: u32 = 64 * 1024;
                let mut total = 0u64;
                loop {
                    let piece = audio::read(total, PIECE)
                        .map_err(|err| PluginError::Other(format!("audio read failed: {err:?}")))?;
                    if piece.is_empty() {
                        break;
                    }
                    total += piece.len() as u64;
                }
                Ok(transcript(vec![total.to_string()]))
            }
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "grow" => {
                let mut blocks: Vec<Vec<u8>> = Vec::new();
                loop {
                    // Touch every page so the memory is really committed.
                    blocks.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&blocks);
                }
            }
            "trap" => panic!("hostile plugin traps on purpose"),
            "fetch" => {
                let response = get(arg, Vec::new())?;
                Ok(transcript(vec![
                    response.status.to_string(),
                    String::from_utf8_lossy(&response.body).into_owned(),
                ]))
            }
            "headers" => {
                let headers = vec![("x-test".to_string(), "hostile".to_string())];
                let response = get(arg, headers.clone())?;
                // Everything the guest can learn about its own request: what it set itself.
                let seen: Vec<String> = headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                log::log(Level::Info, &format!("my request headers: {seen:?}"));
                let mut words = seen;
                words.push(format!("status {}", response.status));
                Ok(transcript(words))
            }
            "auth" => {
                let headers = vec![("Authorization".to_string(), "Bearer stolen".to_string())];
                let response = get(arg, headers)?;
                Ok(transcript(vec![response.status.to_string()]))
            }
            "model" => {
                // The file's size, its first bytes as text, and the model's name.
                let size = model::size(arg).map_err(|err| PluginError::Denied(format!("{err:?}")))?;
                let head = model::read(arg, 0, 16).map_err(|err| PluginError::Denied(format!("{err:?}")))?;
                let name = model::name().map_err(|err| PluginError::Denied(format!("{err:?}")))?;
                Ok(transcript(vec![size.to_string(), String::from_utf8_lossy(&head).into_owned(), name]))
            }
            other => Err(PluginError::BadInput(format!("unknown command `{other}`"))),
        }
    }
}

scribe_plugin_api::register_plugin!(stt_batch, Hostile);
