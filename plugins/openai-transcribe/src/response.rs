//! A server's answer as our transcript. `verbose_json` with word timestamps gives timed words
//! and the segments as utterances; a server that gives segments but no words gets words
//! spread over each segment by length, and says so; `json` (text alone) gives the words
//! without times, and says so. Every time is checked (never negative, an end never before its
//! start, words in time order), because the answer comes from the network.

use serde::Deserialize;

use scribe_plugin_api::stt_batch_0_2::types::{PluginError, TranscriptStructure, Utterance, Word};
use scribe_plugin_api::stt_batch_0_2::BatchTranscript;

use crate::languages;

/// Tokens of the text looked at, ahead of the last one matched, for a word's punctuated
/// form: the text and the words list agree but for punctuation, so a match is near.
const LOOKAHEAD: usize = 8;

#[derive(Deserialize)]
struct Verbose {
    text: String,
    language: Option<String>,
    duration: Option<f64>,
    #[serde(default)]
    words: Option<Vec<TimedWord>>,
    #[serde(default)]
    segments: Option<Vec<Segment>>,
}

#[derive(Deserialize)]
struct TimedWord {
    word: String,
    start: f64,
    end: f64,
}

#[derive(Deserialize)]
struct Segment {
    start: f64,
    end: f64,
    text: String,
    avg_logprob: Option<f64>,
}

#[derive(Deserialize)]
struct TextOnly {
    text: String,
}

/// What kind of times a transcript got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// The server's word timestamps.
    Words,
    /// Words spread over the server's segments.
    Segments,
    /// None: the server gave text alone.
    None,
}

/// Seconds as whole ms, never negative.
fn ms(seconds: f64) -> u64 {
    if seconds.is_finite() && seconds > 0.0 { (seconds * 1000.0).round() as u64 } else { 0 }
}

/// A word as the host stores it: lower case, without punctuation (apostrophes kept).
fn plain(word: &str) -> String {
    word.chars().filter(|c| c.is_alphanumeric() || *c == '\'').flat_map(char::to_lowercase).collect()
}

/// A confidence from a segment's mean log-probability; 1.0 when the server gave none.
fn confidence(avg_logprob: Option<f64>) -> f32 {
    avg_logprob.filter(|p| p.is_finite()).map_or(1.0, |p| p.exp().clamp(0.0, 1.0) as f32)
}

fn word(text: &str, start_ms: u64, end_ms: u64, confidence: f32) -> Option<Word> {
    let plain = plain(text);
    (!plain.is_empty()).then(|| Word { text: plain, punctuated: text.trim().to_string(), start_ms, end_ms: end_ms.max(start_ms), confidence, speaker: None })
}

/// Gives each word its form in `text`, which carries the punctuation the words list lacks.
fn punctuate(words: &mut [Word], text: &str) {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let mut next = 0;
    for word in words {
        let end = (next + LOOKAHEAD).min(tokens.len());
        if let Some(found) = (next..end).find(|&k| plain(tokens[k]) == word.text) {
            word.punctuated = tokens[found].to_string();
            next = found + 1;
        }
    }
}

/// Reads a `verbose_json` answer. `language` is the one asked for, if any.
pub fn verbose(body: &[u8], language: Option<String>) -> Result<(BatchTranscript, Timing), PluginError> {
    let answer: Verbose = serde_json::from_slice(body).map_err(|err| PluginError::Other(format!("the transcription server's answer is not the verbose_json it was asked for: {err}")))?;
    let segments = answer.segments.unwrap_or_default();
    let utterances: Vec<Utterance> = segments
        .iter()
        .filter(|s| !s.text.trim().is_empty())
        .map(|s| Utterance { text: s.text.trim().to_string(), start_ms: ms(s.start), end_ms: ms(s.end).max(ms(s.start)), confidence: confidence(s.avg_logprob), speaker: None })
        .collect();
    let segment_confidence = |at_ms: u64| utterances.iter().find(|u| (u.start_ms..=u.end_ms).contains(&at_ms)).map_or(1.0, |u| u.confidence);
    let (mut words, timing) = match answer.words.filter(|w| !w.is_empty()) {
        Some(timed) => {
            let words = timed.iter().filter_map(|w| word(&w.word, ms(w.start), ms(w.end), segment_confidence(ms(w.start)))).collect();
            (words, Timing::Words)
        }
        None if !utterances.is_empty() => (utterances.iter().flat_map(spread).collect(), Timing::Segments),
        None => (untimed(&answer.text), Timing::None),
    };
    words.sort_by_key(|w| w.start_ms);
    if timing == Timing::Words {
        punctuate(&mut words, &answer.text);
    }
    let transcript = BatchTranscript {
        words,
        language: language.or_else(|| answer.language.as_deref().and_then(languages::code)),
        duration_ms: answer.duration.map(ms),
        structure: TranscriptStructure { paragraphs: Vec::new(), utterances },
        notes: Vec::new(),
    };
    Ok((transcript, timing))
}

/// Reads a `json` answer: text alone.
pub fn text_only(body: &[u8], language: Option<String>) -> Result<BatchTranscript, PluginError> {
    let answer: TextOnly = serde_json::from_slice(body).map_err(|err| PluginError::Other(format!("the transcription server's answer is not the json it was asked for: {err}")))?;
    Ok(BatchTranscript {
        words: untimed(&answer.text),
        language,
        duration_ms: None,
        structure: TranscriptStructure { paragraphs: Vec::new(), utterances: Vec::new() },
        notes: Vec::new(),
    })
}

/// The words of a text without times: each at the start of the audio.
fn untimed(text: &str) -> Vec<Word> {
    text.split_whitespace().filter_map(|t| word(t, 0, 0, 1.0)).collect()
}

/// A segment's words, its time shared out by their length in characters.
fn spread(segment: &Utterance) -> Vec<Word> {
    let tokens: Vec<&str> = segment.text.split_whitespace().collect();
    let total: usize = tokens.iter().map(|t| t.chars().count()).sum::<usize>().max(1);
    let span = segment.end_ms - segment.start_ms;
    let mut before = 0;
    tokens
        .iter()
        .filter_map(|t| {
            let len = t.chars().count();
            let start = segment.start_ms + span * before as u64 / total as u64;
            before += len;
            let end = segment.start_ms + span * before as u64 / total as u64;
            word(t, start, end, segment.confidence)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OpenAI's documented `verbose_json` with both granularities.
    const VERBOSE: &str = r#"{
        "task": "transcribe", "language": "english", "duration": 3.1,
        "text": "The quick brown fox, it jumped.",
        "words": [
            {"word": "The", "start": 0.0, "end": 0.24}, {"word": "quick", "start": 0.24, "end": 0.52},
            {"word": "brown", "start": 0.52, "end": 0.8}, {"word": "fox", "start": 0.8, "end": 1.1},
            {"word": "it", "start": 1.6, "end": 1.7}, {"word": "jumped", "start": 1.7, "end": 2.2}
        ],
        "segments": [{"id": 0, "seek": 0, "start": 0.0, "end": 2.4, "text": " The quick brown fox, it jumped.",
            "tokens": [1, 2], "temperature": 0.0, "avg_logprob": -0.1, "compression_ratio": 1.1, "no_speech_prob": 0.01}],
        "usage": {"type": "duration", "seconds": 4}
    }"#;

    #[test]
    fn words_carry_their_times_and_the_text_s_punctuation() {
        let (t, timing) = verbose(VERBOSE.as_bytes(), None).expect("parsed");
        assert_eq!(timing, Timing::Words);
        let shown: Vec<_> = t.words.iter().map(|w| (w.text.as_str(), w.punctuated.as_str(), w.start_ms, w.end_ms)).collect();
        assert_eq!(shown[0], ("the", "The", 0, 240));
        assert_eq!(shown[3], ("fox", "fox,", 800, 1100));
        assert_eq!(shown[5], ("jumped", "jumped.", 1700, 2200));
        assert_eq!((t.language.as_deref(), t.duration_ms), (Some("en"), Some(3100)));
        assert_eq!(t.structure.utterances.len(), 1);
        assert!((t.words[0].confidence - (-0.1f64).exp() as f32).abs() < 1e-6);
    }

    #[test]
    fn segments_without_words_are_spread_and_hostile_times_are_tamed() {
        let body = r#"{"text": "hello there", "segments": [{"start": 1.0, "end": 2.0, "text": "hello there"}, {"start": -5, "end": -9, "text": "odd"}]}"#;
        let (t, timing) = verbose(body.as_bytes(), Some("en".into())).expect("parsed");
        assert_eq!(timing, Timing::Segments);
        let times: Vec<_> = t.words.iter().map(|w| (w.text.as_str(), w.start_ms, w.end_ms)).collect();
        assert_eq!(times, vec![("odd", 0, 0), ("hello", 1000, 1500), ("there", 1500, 2000)]);
    }

    #[test]
    fn text_alone_gives_untimed_words() {
        let t = text_only(br#"{"text": "Hello, world."}"#, None).expect("parsed");
        let words: Vec<_> = t.words.iter().map(|w| (w.text.as_str(), w.punctuated.as_str(), w.start_ms)).collect();
        assert_eq!(words, vec![("hello", "Hello,", 0), ("world", "world.", 0)]);
        assert!(text_only(b"<html>", None).is_err());
    }
}
