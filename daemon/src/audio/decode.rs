//! Probing and decoding with symphonia, down-mixed to mono `f32`, one packet at a time.
//!
//! Hostile files are expected: absurd parameters are refused before anything is allocated
//! from them, packet sizes are capped, a decoder panic becomes a "corrupt" error instead of
//! taking the daemon down, and a run of undecodable packets ends the file as corrupt.

use std::fs::File;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{
    CODEC_TYPE_ALAC, CODEC_TYPE_NULL, CODEC_TYPE_OPUS, CODEC_TYPE_SPEEX, CODEC_TYPE_WMA, CodecType, Decoder, DecoderOptions,
};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use super::AudioError;

/// Highest sample rate accepted; real recordings stop at 384 kHz.
const MAX_SAMPLE_RATE: u32 = 768_000;
/// Most channels accepted (7.1.4 and then some).
const MAX_CHANNELS: usize = 32;
/// Largest decoded packet accepted, in frames: real codecs stay far below (FLAC's maximum
/// block is 65,535), and a forged header must not make us allocate gigabytes.
const MAX_PACKET_FRAMES: usize = 1 << 20;
/// Frames a PCM block may hold when the container does not say (Matroska): blocks are tens
/// of milliseconds; this is over a second at 48 kHz, and its buffer a few MiB.
const MAX_PCM_BLOCK_FRAMES: u64 = 1 << 16;
/// Undecodable packets in a row after which the file is declared corrupt.
const MAX_CONSECUTIVE_ERRORS: usize = 32;

/// A decoder producing mono samples.
pub struct MonoDecoder {
    format: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    sample_rate: u32,
    channels: usize,
    codec: String,
    /// Frames the container says the track holds, when it says.
    declared_frames: Option<u64>,
    mono: Vec<f32>,
    buffer: Option<SampleBuffer<f32>>,
}

fn corrupt(err: impl std::fmt::Display) -> AudioError {
    AudioError::Corrupt(err.to_string())
}

/// A panic in symphonia, caught: the file is malformed in a way it does not check for.
fn decoder_panicked(payload: &(dyn std::any::Any + Send)) -> AudioError {
    AudioError::Corrupt(format!("the decoder failed on a malformed header or packet ({})", crate::panics::message(payload)))
}

/// A person's name for a codec symphonia can identify but not decode here.
fn codec_label(codec: CodecType) -> String {
    match codec {
        CODEC_TYPE_OPUS => "Opus".into(),
        CODEC_TYPE_SPEEX => "Speex".into(),
        CODEC_TYPE_ALAC => "Apple Lossless".into(),
        CODEC_TYPE_WMA => "WMA".into(),
        other => format!("an unsupported codec ({other})"),
    }
}

impl MonoDecoder {
    pub fn open(path: &Path) -> Result<MonoDecoder, AudioError> {
        let file = File::open(path)?;
        if file.metadata()?.len() == 0 {
            return Err(AudioError::Corrupt("the file is empty".into()));
        }
        let stream = MediaSourceStream::new(Box::new(file), Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        let probed = catch_unwind(AssertUnwindSafe(|| {
            symphonia::default::get_probe().format(&hint, stream, &FormatOptions::default(), &MetadataOptions::default())
        }))
        .map_err(|p| decoder_panicked(&*p))?
        .map_err(|err| match err {
            SymError::Unsupported(what) => AudioError::Unsupported(format!("not a recognised audio format ({what})")),
            SymError::IoError(e) => AudioError::Corrupt(format!("the file ends too early ({e})")),
            other => corrupt(other),
        })?;
        let format = probed.format;
        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or_else(|| AudioError::Unsupported("the file has no audio track".into()))?;
        let mut params = track.codec_params.clone();
        // Matroska names a layout instead of a channel set, and no packet size for PCM;
        // the decoders want both.
        if let (None, Some(layout)) = (params.channels, params.channel_layout) {
            params.with_channels(layout.into_channels());
        }
        let is_pcm = symphonia::default::get_codecs().get_codec(params.codec).is_some_and(|d| d.short_name.starts_with("pcm"));
        if params.max_frames_per_packet.is_none() && is_pcm {
            params.with_max_frames_per_packet(MAX_PCM_BLOCK_FRAMES);
        }
        let params = &params;
        let sample_rate = params.sample_rate.filter(|r| (1..=MAX_SAMPLE_RATE).contains(r)).ok_or_else(|| {
            AudioError::Corrupt(format!("sample rate {:?} is not plausible", params.sample_rate))
        })?;
        let channels = params.channels.map_or(0, |c| c.count());
        if channels == 0 || channels > MAX_CHANNELS {
            return Err(AudioError::Corrupt(format!("{channels} channels is not plausible")));
        }
        let decoder = symphonia::default::get_codecs()
            .make(params, &DecoderOptions::default())
            .map_err(|_| AudioError::UnsupportedCodec { codec: codec_label(params.codec) })?;
        let codec = symphonia::default::get_codecs()
            .get_codec(params.codec)
            .map(|d| d.short_name.to_string())
            .unwrap_or_else(|| "unknown".into());
        let track_id = track.id;
        let declared_frames = params.n_frames;
        Ok(MonoDecoder {
            format,
            decoder,
            track_id,
            sample_rate,
            channels,
            codec,
            declared_frames,
            mono: Vec::new(),
            buffer: None,
        })
    }

    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The track's length in frames as its header declares it; may be absent or wrong.
    pub fn declared_frames(&self) -> Option<u64> {
        self.declared_frames
    }

    pub fn codec_name(&self) -> String {
        self.codec.clone()
    }

    /// The next decoded packet as mono samples; `None` at the end of the stream.
    pub fn next_chunk(&mut self) -> Result<Option<&[f32]>, AudioError> {
        let mut errors = 0;
        loop {
            let packet = match self.format.next_packet() {
                Ok(packet) => packet,
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
                Err(SymError::ResetRequired) => return Ok(None),
                Err(err) => return Err(corrupt(err)),
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            let decoder = &mut self.decoder;
            let slot = &mut self.buffer;
            let channels = self.channels;
            // Decode and copy out inside the guard: a panic anywhere in symphonia's handling
            // of this packet becomes an error.
            let decoded = catch_unwind(AssertUnwindSafe(move || -> Result<(), SymError> {
                let audio = decoder.decode(&packet)?;
                let spec = *audio.spec();
                let frames = audio.capacity();
                if frames > MAX_PACKET_FRAMES || spec.channels.count() != channels {
                    return Err(SymError::DecodeError("a packet does not match the stream's parameters"));
                }
                let buffer = match slot {
                    Some(b) if b.capacity() >= frames * channels => b,
                    slot => slot.insert(SampleBuffer::<f32>::new(frames as u64, spec)),
                };
                buffer.copy_interleaved_ref(audio);
                Ok(())
            }));
            match decoded {
                Err(payload) => return Err(decoder_panicked(&*payload)),
                Ok(Err(SymError::DecodeError(_))) => {
                    errors += 1;
                    if errors > MAX_CONSECUTIVE_ERRORS {
                        return Err(AudioError::Corrupt("too many undecodable packets".into()));
                    }
                    continue;
                }
                Ok(Err(SymError::IoError(e))) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
                Ok(Err(err)) => return Err(corrupt(err)),
                Ok(Ok(())) => {}
            }
            let Some(buffer) = &self.buffer else { continue };
            let interleaved = buffer.samples();
            self.mono.clear();
            let scale = 1.0 / self.channels as f32;
            self.mono.extend(interleaved.chunks_exact(self.channels).map(|frame| frame.iter().sum::<f32>() * scale));
            return Ok(Some(&self.mono));
        }
    }
}
