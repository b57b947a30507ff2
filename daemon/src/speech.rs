//! Where the speech is in a decoded file, and the chunks a recogniser gets instead of the
//! whole file: the stage between decoding ([`crate::audio`]) and transcription
//! ([`crate::files`]) for recognisers that read samples (whisper-local).
//!
//! [`silero`] (Silero VAD) gives each 32 ms frame a speech probability, [`spans`] turns them into spans
//! of speech, [`chunks`] packs the spans into window-sized chunks cut inside pauses. The
//! silence between spans never reaches the recogniser (Whisper invents words in long
//! silence), and the chunks can be transcribed in parallel.

pub mod chunks;
pub mod spans;

use std::io::Read;
use std::path::Path;

pub use chunks::Chunk;
/// Silero VAD, a crate of its own because the diarizer component runs it too.
pub use scribe_silero::{self as silero, Silero};

/// The model in the models folder, and its one file (see [`crate::models::CATALOG`]).
pub const MODEL: &str = "silero-vad";
pub const MODEL_FILE: &str = "silero_vad_16k.safetensors";
/// Bytes per sample of the canonical PCM (s16le).
const SAMPLE_BYTES: usize = 2;
/// Frames between two progress reports (≈ 1 minute of audio).
const PROGRESS_FRAMES: usize = 60 * 16_000 / silero::FRAME;

/// The speech probability of every frame of a canonical PCM file (16 kHz mono s16le).
/// `progress` hears the samples read so far now and then.
pub fn probabilities(model: &Silero, pcm: &Path, mut progress: impl FnMut(usize)) -> std::io::Result<(Vec<f32>, usize)> {
    let mut reader = std::io::BufReader::new(std::fs::File::open(pcm)?);
    let mut stream = model.stream();
    let mut probs = Vec::new();
    let mut bytes = vec![0u8; silero::FRAME * SAMPLE_BYTES];
    let mut samples = 0;
    loop {
        let filled = read_full(&mut reader, &mut bytes)?;
        if filled < SAMPLE_BYTES {
            break;
        }
        let frame: Vec<f32> = bytes[..filled].chunks_exact(SAMPLE_BYTES).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0).collect();
        samples += frame.len();
        probs.push(stream.push(&frame));
        if probs.len() % PROGRESS_FRAMES == 0 {
            progress(samples);
        }
        if filled < bytes.len() {
            break;
        }
    }
    Ok((probs, samples))
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

/// The chunks of at most `max_samples` that hold the speech of a canonical PCM file; none
/// when the file is silent.
pub fn chunks(model: &Silero, pcm: &Path, max_samples: usize, progress: impl FnMut(usize)) -> std::io::Result<Vec<Chunk>> {
    let (probs, total) = probabilities(model, pcm, progress)?;
    let spans = spans::speech(&probs, total);
    Ok(chunks::pack(&spans, &probs, max_samples))
}
