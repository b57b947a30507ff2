//! One file transcribed as chunks of speech (see [`crate::speech`]): the chunks go to the
//! plugin's instances in parallel, at most as many at once as it has instances, and their
//! transcripts are stitched back in order with each time mapped to the file.
//!
//! Chunks are transcribed independently, without the previous chunk's text as a prompt:
//! that text is not known yet when the chunks run side by side, and a chunk holds whole
//! sentences cut in pauses, so the prompt has little to add (a prompt also carries a loop
//! from one window into the next). A chunk whose call traps, times out or runs out of memory
//! is tried once more on a fresh instance; a second failure fails the file and names the
//! chunk's place in it. Nothing is silently dropped.

use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;

use crate::clients::stt::{AudioEncoding, AudioFormat, AudioInput, BatchStt, Task, Transcript};
use crate::plugin::bindings::types::{Paragraph, Sentence, TranscriptStructure, Utterance, Word};
use crate::plugin::handle::CallError;
use crate::retry::Failure;
use crate::speech::Chunk;

/// Bytes per sample of the canonical PCM.
const SAMPLE_BYTES: u64 = 2;
/// Bytes a provider's file holds besides the samples: the WAV header the host writes before
/// PCM (44 bytes), rounded up for safety.
const FILE_OVERHEAD: u64 = 1024;

/// How long the chunks of a file's speech may be for `stt`, when it wants the file in chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub length: Duration,
    /// The file does not fit the plugin's upload limit: without chunks it cannot go at all
    /// (chunks for whisper-local's window only make it better).
    pub required: bool,
}

/// The window for sending `pcm_bytes` of canonical PCM to `stt`: its own chunk length, or a
/// length whose PCM fits its upload limit when the whole would not, whichever is shorter.
pub fn window(stt: &BatchStt, pcm_bytes: u64) -> Option<Window> {
    window_for(stt.speech_chunk(), stt.max_file_bytes(), pcm_bytes)
}

fn window_for(speech_chunk: Option<Duration>, max_file_bytes: Option<u64>, pcm_bytes: u64) -> Option<Window> {
    let limit = max_file_bytes.filter(|max| pcm_bytes.saturating_add(FILE_OVERHEAD) > *max).map(|max| {
        let samples = max.saturating_sub(FILE_OVERHEAD) / SAMPLE_BYTES;
        Duration::from_secs((samples / u64::from(crate::audio::TARGET_RATE)).max(1))
    });
    match (speech_chunk, limit) {
        (Some(chunk), Some(limit)) => Some(Window { length: chunk.min(limit), required: true }),
        (None, Some(limit)) => Some(Window { length: limit, required: true }),
        (Some(chunk), None) => Some(Window { length: chunk, required: false }),
        (None, None) => None,
    }
}
/// Calls per chunk: the first, and one more on a fresh instance after a sandbox failure.
const ATTEMPTS: usize = 2;

/// Transcribes (or translates, by `task`) `chunks` of the canonical PCM file `pcm` with
/// `stt`, in `language` when the client named one; `progress` hears the chunks done after
/// each one.
pub async fn transcribe(stt: &BatchStt, pcm: &Path, chunks: &[Chunk], language: Option<&str>, task: Task, progress: impl Fn(usize)) -> Result<Transcript, Failure> {
    let mut results: Vec<Option<Transcript>> = vec![None; chunks.len()];
    // Owned by each call, so the stream of calls is `Send` for any lifetime.
    let calls = chunks.iter().cloned().enumerate().map(|(i, chunk)| {
        let (stt, pcm, language) = (stt.clone(), pcm.to_path_buf(), language.map(String::from));
        async move { (i, transcribe_chunk(&stt, &pcm, &chunk, language, task).await) }
    });
    // Each file keeps at most `instances` calls waiting, and the plugin's instances are
    // handed out in arrival order, so files sharing the plugin take turns.
    let mut calls = futures_util::stream::iter(calls).buffer_unordered(stt.instances().max(1));
    let mut done = 0;
    while let Some((i, result)) = calls.next().await {
        results[i] = Some(result?);
        done += 1;
        progress(done);
    }
    Ok(stitch(chunks, results.into_iter().flatten().collect()))
}

async fn transcribe_chunk(stt: &BatchStt, pcm: &Path, chunk: &Chunk, language: Option<String>, task: Task) -> Result<Transcript, Failure> {
    let format = AudioFormat { encoding: AudioEncoding::Linear16, sample_rate: crate::audio::TARGET_RATE, channels: 1 };
    let ranges: Vec<_> = chunk.pieces.iter().map(|p| p.start as u64 * SAMPLE_BYTES..p.end as u64 * SAMPLE_BYTES).collect();
    let duration = Duration::from_millis(chunk.len() as u64 * 1000 / u64::from(crate::audio::TARGET_RATE));
    let mut attempt = 0;
    loop {
        attempt += 1;
        let input = AudioInput::from_ranges(pcm, ranges.clone());
        match stt.transcribe_asking(format, input, language.clone(), None, task, Some(duration)).await {
            Ok(Ok(transcript)) => return Ok(transcript),
            Ok(Err(err)) => return Err(Failure::classify(err, stt.id())),
            Err(call @ (CallError::Trap { .. } | CallError::Timeout { .. } | CallError::MemoryLimit { .. })) => {
                let place = place(chunk);
                if attempt >= ATTEMPTS {
                    return Err(Failure::Fatal(format!("the speech at {place} failed twice: {call}")));
                }
                tracing::warn!(plugin = stt.id(), "the speech at {place} failed ({call}); trying it again on a fresh instance");
            }
            Err(call) => return Err(Failure::Retry { message: call.to_string(), after: None }),
        }
    }
}

/// Where a chunk lies in the file, for messages: `12:30.0–12:58.4`.
fn place(chunk: &Chunk) -> String {
    let clock = |ms: u64| format!("{}:{:02}.{}", ms / 60_000, ms / 1000 % 60, ms / 100 % 10);
    let range = chunk.file_range_ms();
    format!("{}–{}", clock(range.start), clock(range.end))
}

/// The chunks' transcripts as one, in file order, every time mapped to the file.
fn stitch(chunks: &[Chunk], parts: Vec<Transcript>) -> Transcript {
    let mut words = Vec::new();
    let mut utterances = Vec::new();
    let mut paragraphs = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    // The language heard in the most speech.
    let mut languages: Vec<(String, usize)> = Vec::new();
    for (chunk, part) in chunks.iter().zip(parts) {
        let span = |start: u64, end: u64| {
            let start = chunk.to_file_ms(start);
            (start, chunk.to_file_ms(end).max(start))
        };
        words.extend(part.words.into_iter().map(|w| {
            let (start_ms, end_ms) = span(w.start_ms, w.end_ms);
            Word { start_ms, end_ms, ..w }
        }));
        utterances.extend(part.structure.utterances.into_iter().map(|u| {
            let (start_ms, end_ms) = span(u.start_ms, u.end_ms);
            Utterance { start_ms, end_ms, ..u }
        }));
        paragraphs.extend(part.structure.paragraphs.into_iter().map(|p| {
            let (start_ms, end_ms) = span(p.start_ms, p.end_ms);
            let sentences = p
                .sentences
                .into_iter()
                .map(|s| {
                    let (start_ms, end_ms) = span(s.start_ms, s.end_ms);
                    Sentence { start_ms, end_ms, ..s }
                })
                .collect();
            Paragraph { start_ms, end_ms, sentences, ..p }
        }));
        for note in part.notes {
            if !notes.contains(&note) {
                notes.push(note);
            }
        }
        if let Some(language) = part.language {
            match languages.iter_mut().find(|(l, _)| *l == language) {
                Some((_, samples)) => *samples += chunk.len(),
                None => languages.push((language, chunk.len())),
            }
        }
    }
    let language = languages.into_iter().max_by_key(|(_, samples)| *samples).map(|(l, _)| l);
    Transcript { words, language, duration_ms: None, structure: TranscriptStructure { paragraphs, utterances }, notes }
}

#[cfg(test)]
// A chunk of one piece is a list of one range on purpose.
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;

    fn word(text: &str, start_ms: u64, end_ms: u64) -> Word {
        Word { text: text.into(), punctuated: text.into(), start_ms, end_ms, confidence: 0.9, speaker: None }
    }

    fn part(words: Vec<Word>, language: &str) -> Transcript {
        Transcript { words, language: Some(language.into()), duration_ms: None, structure: TranscriptStructure { paragraphs: Vec::new(), utterances: Vec::new() }, notes: Vec::new() }
    }

    #[test]
    fn stitched_words_keep_their_order_and_land_at_their_place_in_the_file() {
        // Speech at 1–3 s and 10–12 s of the file in the first chunk, 40–55 s in the second.
        let chunks = [
            Chunk { pieces: vec![16_000..48_000, 160_000..192_000] },
            Chunk { pieces: vec![640_000..880_000] },
        ];
        let parts = vec![
            part(vec![word("one", 100, 900), word("two", 2_100, 2_600)], "en"),
            part(vec![word("three", 0, 400), word("four", 14_800, 15_500)], "de"),
        ];
        let stitched = stitch(&chunks, parts);
        let got: Vec<(&str, u64, u64)> = stitched.words.iter().map(|w| (w.text.as_str(), w.start_ms, w.end_ms)).collect();
        assert_eq!(got, vec![("one", 1_100, 1_900), ("two", 10_100, 10_600), ("three", 40_000, 40_400), ("four", 54_800, 55_000)]);
        // The second chunk is longer.
        assert_eq!(stitched.language.as_deref(), Some("de"));
    }

    #[test]
    fn a_file_over_the_upload_limit_must_go_in_chunks_that_fit_it() {
        const MIB: u64 = 1024 * 1024;
        // 25 MiB of 16 kHz PCM is 819 s; the chunk leaves room for the WAV header.
        let over = window_for(None, Some(25 * MIB), 60 * MIB).expect("a window");
        assert!(over.required && over.length == Duration::from_secs(819), "{over:?}");
        assert_eq!(window_for(None, Some(25 * MIB), 10 * MIB), None, "fits whole");
        let whisper = window_for(Some(Duration::from_secs(30)), None, 60 * MIB).expect("whisper's window");
        assert!(!whisper.required && whisper.length == Duration::from_secs(30));
        let both = window_for(Some(Duration::from_secs(30)), Some(MIB), 60 * MIB).expect("both");
        assert!(both.required && both.length == Duration::from_secs(30), "the shorter wins: {both:?}");
    }

    #[test]
    fn a_place_reads_as_minutes_and_seconds() {
        let chunk = Chunk { pieces: vec![16_000 * 750..16_000 * 778 + 6_400] };
        assert_eq!(place(&chunk), "12:30.0–12:58.4");
    }
}
