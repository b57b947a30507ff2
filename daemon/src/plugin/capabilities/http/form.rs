//! `upload`: the call's audio posted as the file of a `multipart/form-data` form, the way
//! OpenAI-style transcription APIs take it. The request goes through [`HttpShared::open`], so
//! it meets every rule of outbound HTTP (grants, credentials, redirects, deadline, caps); this
//! module only shapes the body. The audio streams from disk into the form; raw PCM gets a WAV
//! header first, because no such API takes headerless samples.

use axum::body::Bytes;
use futures_util::StreamExt;

use super::{HttpShared, HttpView};
use crate::plugin::bindings::http::{HttpError, Method, Request, RequestBody, Response};
use crate::plugin::bindings::stt_batch_0_2::scribe::plugin0_2_0::upload::{self, Form};
use crate::plugin::bindings::types::{AudioEncoding, AudioFormat};
use crate::plugin::capabilities::audio::AudioInput;

/// Length of the canonical WAV header written before raw PCM: RIFF chunk (12 bytes), `fmt `
/// chunk (24) and the `data` chunk's header (8).
const WAV_HEADER_LEN: u64 = 44;
/// Bits per sample of the `linear16` encoding.
const LINEAR16_BITS: u16 = 16;

/// The audio of a form: what is sent, under which name and type.
#[derive(Debug, Clone)]
pub struct FormAudio {
    input: AudioInput,
    /// The WAV header sent before raw PCM.
    header: Option<Vec<u8>>,
    file_name: &'static str,
    mime: &'static str,
}

impl FormAudio {
    pub fn new(input: AudioInput, format: AudioFormat) -> FormAudio {
        let (file_name, mime) = file_for(format.encoding);
        let header = (format.encoding == AudioEncoding::Linear16).then(|| wav_header(&format, input.size));
        FormAudio { input, header, file_name, mime }
    }

    /// Bytes of the file part.
    fn size(&self) -> u64 {
        self.header.as_ref().map_or(0, |h| h.len() as u64) + self.input.size
    }

    /// The file part, read from disk as reqwest sends it.
    fn part(&self) -> Result<reqwest::multipart::Part, HttpError> {
        let header = futures_util::stream::iter(self.header.clone().map(|h| Ok(Bytes::from(h))));
        let body = reqwest::Body::wrap_stream(header.chain(self.input.stream()));
        reqwest::multipart::Part::stream_with_length(body, self.size())
            .file_name(self.file_name)
            .mime_str(self.mime)
            .map_err(|err| HttpError::InvalidRequest(format!("the audio's type: {err}")))
    }
}

/// The file name and MIME type a provider recognises an encoding by (OpenAI goes by the
/// extension).
fn file_for(encoding: AudioEncoding) -> (&'static str, &'static str) {
    match encoding {
        AudioEncoding::Linear16 | AudioEncoding::Wav => ("audio.wav", "audio/wav"),
        AudioEncoding::Flac => ("audio.flac", "audio/flac"),
        AudioEncoding::Mp3 => ("audio.mp3", "audio/mpeg"),
        AudioEncoding::OggVorbis | AudioEncoding::OggOpus => ("audio.ogg", "audio/ogg"),
        AudioEncoding::WebmOpus => ("audio.webm", "audio/webm"),
        AudioEncoding::Aac => ("audio.m4a", "audio/mp4"),
    }
}

/// The canonical 44-byte header of a PCM WAV file holding `data_len` bytes of `format`.
fn wav_header(format: &AudioFormat, data_len: u64) -> Vec<u8> {
    let channels = u16::from(format.channels.max(1));
    let block_align = channels * LINEAR16_BITS / 8;
    let byte_rate = format.sample_rate * u32::from(block_align);
    // A RIFF size is 32 bits; a longer file says "as long as it goes", as streaming writers do.
    let data_len = u32::try_from(data_len).unwrap_or(u32::MAX - WAV_HEADER_LEN as u32);
    let mut h = Vec::with_capacity(WAV_HEADER_LEN as usize);
    h.extend(b"RIFF");
    h.extend((data_len + WAV_HEADER_LEN as u32 - 8).to_le_bytes());
    h.extend(b"WAVEfmt ");
    h.extend(16u32.to_le_bytes()); // size of the PCM `fmt ` body
    h.extend(1u16.to_le_bytes()); // PCM
    h.extend(channels.to_le_bytes());
    h.extend(format.sample_rate.to_le_bytes());
    h.extend(byte_rate.to_le_bytes());
    h.extend(block_align.to_le_bytes());
    h.extend(LINEAR16_BITS.to_le_bytes());
    h.extend(b"data");
    h.extend(data_len.to_le_bytes());
    h
}

impl HttpShared {
    /// Posts a guest's form with `audio` as its file.
    pub async fn post_form(&self, form: Form, audio: Option<FormAudio>) -> Result<Response, HttpError> {
        if form.headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-type")) {
            return Err(HttpError::InvalidRequest("header \"content-type\" of a form is set by the host, not by plugins".into()));
        }
        let audio = audio.ok_or_else(|| HttpError::InvalidRequest("a form upload needs a transcription in progress".into()))?;
        let request = Request { method: Method::Post, url: form.url, headers: form.headers, body: RequestBody::Bytes(Vec::new()), timeout_ms: form.timeout_ms };
        let fields = Fields { text: form.fields, file_field: form.file_field, audio };
        self.send_with(request, super::Body::Form(fields)).await
    }
}

/// A form as the host sends it.
#[derive(Debug, Clone)]
pub struct Fields {
    text: Vec<(String, String)>,
    file_field: String,
    audio: FormAudio,
}

impl Fields {
    /// The form for one attempt (a redirect sends it again from the start).
    pub fn form(&self) -> Result<reqwest::multipart::Form, HttpError> {
        let form = self.text.iter().fold(reqwest::multipart::Form::new(), |form, (name, value)| form.text(name.clone(), value.clone()));
        Ok(form.part(self.file_field.clone(), self.audio.part()?))
    }
}

impl upload::Host for HttpView<'_> {
    async fn post(&mut self, form: Form) -> wasmtime::Result<Result<Response, HttpError>> {
        let audio = self.audio.cloned().zip(self.format).map(|(input, format)| FormAudio::new(input, format));
        Ok(self.cpu.host_io(self.shared.post_form(form, audio)).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::capabilities::http::{Credentials, HttpLimits};
    use crate::plugin::grants::Grants;
    use crate::plugin::manifest::{Manifest, World};

    fn shared() -> HttpShared {
        let manifest = Manifest::asking_for(World::SttBatch, &["http://127.0.0.1:9"]);
        let config = toml::from_str("allow_outbound = [\"http://127.0.0.1:9\"]").expect("config");
        let limits = HttpLimits { timeout: std::time::Duration::from_secs(1), connect_timeout: std::time::Duration::from_secs(1), max_request_body: 1, max_response_body: 1 };
        HttpShared::new("p".into(), Grants::configure(&manifest, &config).grants, limits, Credentials::default())
    }

    fn form(headers: &[(&str, &str)]) -> Form {
        let headers = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Form { url: "http://127.0.0.1:9/v1/audio/transcriptions".into(), headers, fields: Vec::new(), file_field: "file".into(), timeout_ms: None }
    }

    #[tokio::test]
    async fn the_host_owns_the_form_s_type_and_its_credentials_and_needs_a_call_s_audio() {
        let shared = shared();
        let audio = || Some(FormAudio::new(AudioInput::from_memory(vec![0u8; 4].into()), AudioFormat { encoding: AudioEncoding::Linear16, sample_rate: 16_000, channels: 1 }));
        for header in ["Content-Type", "authorization"] {
            let refused = shared.post_form(form(&[(header, "x")]), audio()).await;
            assert!(matches!(&refused, Err(HttpError::InvalidRequest(m)) if m.contains(&header.to_ascii_lowercase()) || m.contains(header)), "{header}: {refused:?}");
        }
        let refused = shared.post_form(form(&[]), None).await;
        assert!(matches!(&refused, Err(HttpError::InvalidRequest(m)) if m.contains("transcription in progress")), "{refused:?}");
    }

    #[test]
    fn a_pcm_header_makes_a_wav_that_a_reader_accepts() {
        let format = AudioFormat { encoding: AudioEncoding::Linear16, sample_rate: 16_000, channels: 1 };
        let samples: Vec<i16> = (0..1600).map(|i| (i % 100) as i16).collect();
        let mut file = wav_header(&format, samples.len() as u64 * 2);
        file.extend(samples.iter().flat_map(|s| s.to_le_bytes()));
        let reader = hound::WavReader::new(std::io::Cursor::new(file)).expect("a valid WAV");
        assert_eq!(reader.spec().sample_rate, 16_000);
        assert_eq!(reader.spec().channels, 1);
        assert_eq!(reader.into_samples::<i16>().map(|s| s.expect("sample")).collect::<Vec<_>>(), samples);
    }
}
