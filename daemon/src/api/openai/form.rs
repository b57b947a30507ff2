//! The `multipart/form-data` request of `/v1/audio/transcriptions` and `/translations`, read
//! as it arrives: the file streamed to an upload temp file (never held in memory, capped by
//! `files.max_upload_mb`), the text fields kept and checked as OpenAI checks them.

use axum::extract::Multipart;

use super::envelope::OpenAiError;
use crate::api::AppState;
use crate::api::uploads::{self, Received};

/// Longest text field kept, bytes: a prompt is a few hundred characters.
const MAX_FIELD_BYTES: usize = 64 * 1024;
/// Fields read at most; a form has under ten.
const MAX_FIELDS: usize = 64;

/// How the answer is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Text,
    Srt,
    VerboseJson,
    Vtt,
}

/// A checked form.
pub struct AudioForm {
    pub file: Received,
    /// The client's name of the file.
    pub file_name: String,
    pub model: String,
    pub language: Option<String>,
    pub prompt: Option<String>,
    pub format: Format,
    pub words: bool,
    pub segments: bool,
    pub stream: bool,
}

/// Reads and checks the form.
pub async fn read(state: &AppState, mut multipart: Multipart) -> Result<AudioForm, OpenAiError> {
    let broken = |err: axum::extract::multipart::MultipartError| OpenAiError::invalid("file", format!("the form could not be read: {}", err.body_text()));
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut file = None;
    while let Some(field) = multipart.next_field().await.map_err(broken)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            let file_name = field.file_name().map(uploads::plain_name).unwrap_or_default();
            let received = uploads::receive(state, field).await?;
            file = Some((received, file_name));
            continue;
        }
        if fields.len() >= MAX_FIELDS {
            return Err(OpenAiError::invalid("form", format!("a form of more than {MAX_FIELDS} fields")));
        }
        let value = field.bytes().await.map_err(broken)?;
        if value.len() > MAX_FIELD_BYTES {
            return Err(OpenAiError::invalid("form", format!("field {name} is longer than {MAX_FIELD_BYTES} bytes")));
        }
        fields.push((name, String::from_utf8_lossy(&value).into_owned()));
    }
    let field = |name: &str| fields.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_string()).filter(|v| !v.is_empty());
    let (file, file_name) = file.ok_or_else(|| OpenAiError::invalid("file", "'file' is a required property"))?;
    if crate::files::encoding_for(std::path::Path::new(&file_name)).is_none() {
        return Err(OpenAiError::invalid("file", "Invalid file format. Supported formats: ['flac', 'm4a', 'mp3', 'mp4', 'ogg', 'opus', 'wav', 'webm']"));
    }
    let model = field("model").ok_or_else(|| OpenAiError::invalid("model", "you must provide a model parameter"))?;
    let format = match field("response_format").as_deref() {
        None | Some("json") => Format::Json,
        Some("text") => Format::Text,
        Some("srt") => Format::Srt,
        Some("verbose_json") => Format::VerboseJson,
        Some("vtt") => Format::Vtt,
        Some(other) => {
            return Err(OpenAiError::invalid("response_format", format!("Invalid value: '{other}'. Supported values are: 'json', 'text', 'srt', 'verbose_json', and 'vtt'.")));
        }
    };
    let granularities: Vec<&str> = fields.iter().filter(|(k, _)| k == "timestamp_granularities[]" || k == "timestamp_granularities").map(|(_, v)| v.trim()).collect();
    if let Some(bad) = granularities.iter().find(|g| !["word", "segment"].contains(g)) {
        return Err(OpenAiError::invalid("timestamp_granularities", format!("Invalid value: '{bad}'. Supported values are: 'word' and 'segment'.")));
    }
    if !granularities.is_empty() && format != Format::VerboseJson {
        return Err(OpenAiError::invalid("timestamp_granularities", "timestamp_granularities is only supported with response_format verbose_json"));
    }
    if let Some(t) = field("temperature")
        && !t.parse::<f64>().is_ok_and(|t| (0.0..=1.0).contains(&t))
    {
        return Err(OpenAiError::invalid("temperature", format!("temperature must be a number from 0 to 1, not {t:?}")));
    }
    let stream = match field("stream").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => return Err(OpenAiError::invalid("stream", format!("stream must be true or false, not {other:?}"))),
    };
    if stream && !matches!(format, Format::Json | Format::Text) {
        return Err(OpenAiError::invalid("stream", "streaming answers in json or text only"));
    }
    Ok(AudioForm {
        file,
        file_name,
        model,
        language: field("language"),
        prompt: field("prompt"),
        format,
        // OpenAI's default granularity is the segment.
        words: granularities.contains(&"word"),
        segments: granularities.is_empty() || granularities.contains(&"segment"),
        stream,
    })
}
