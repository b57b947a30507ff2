//! Segments to what Scribe stores: plain and displayed words with times in milliseconds from
//! the start of the audio, and one utterance per segment.

use crate::transcribe::Segment;

/// A recognised word, ready for the WIT `word` record.
#[derive(Debug, Clone, PartialEq)]
pub struct PlainWord {
    /// Lower case, no punctuation.
    pub text: String,
    /// As displayed.
    pub punctuated: String,
    pub start_ms: u64,
    pub end_ms: u64,
    pub confidence: f32,
}

/// A segment, ready for the WIT `utterance` record.
#[derive(Debug, Clone, PartialEq)]
pub struct PlainUtterance {
    pub text: String,
    pub start_ms: u64,
    pub end_ms: u64,
    pub confidence: f32,
}

/// Seconds to whole milliseconds, never negative.
pub fn ms(seconds: f32) -> u64 {
    (seconds.max(0.0) * 1000.0).round() as u64
}

/// The lower-case, unpunctuated form of a displayed word (`"Don't,"` → `"don't"`).
pub fn plain(word: &str) -> String {
    word.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase()
}

/// The words of `segments`, shifted by `offset_ms`; punctuation-only entries are dropped.
pub fn words(segments: &[Segment], offset_ms: u64) -> Vec<PlainWord> {
    segments
        .iter()
        .flat_map(|s| &s.words)
        .filter(|w| !plain(&w.word).is_empty())
        .map(|w| PlainWord {
            text: plain(&w.word),
            punctuated: w.word.trim().to_string(),
            start_ms: offset_ms + ms(w.start),
            end_ms: offset_ms + ms(w.end).max(ms(w.start)),
            confidence: w.probability.clamp(0.0, 1.0),
        })
        .collect()
}

/// One utterance per segment, shifted by `offset_ms`; the confidence is the segment's mean
/// token probability.
pub fn utterances(segments: &[Segment], offset_ms: u64) -> Vec<PlainUtterance> {
    segments
        .iter()
        .map(|s| PlainUtterance {
            text: s.text.trim().to_string(),
            start_ms: offset_ms + ms(s.start),
            end_ms: offset_ms + ms(s.end).max(ms(s.start)),
            confidence: s.avg_logprob.exp().clamp(0.0, 1.0),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displayed_words_lose_punctuation_but_not_apostrophes() {
        assert_eq!(plain(" Don't,"), "don't");
        assert_eq!(plain(" \"Hi!\""), "hi");
        assert_eq!(plain(" ..."), "");
        assert_eq!(ms(1.2345), 1235);
        assert_eq!(ms(-0.1), 0);
    }
}
