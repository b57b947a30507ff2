//! LocalAgreement-2, the streaming policy of whisper_streaming and WhisperLiveKit: a local
//! recogniser re-reads the growing, not yet committed audio every step, and a word becomes
//! final once two consecutive readings agree on it and on every word before it. What the
//! latest reading says past that is interim text, which the next reading may still change.
//!
//! Words carry times on the session's clock, so a reading of a buffer that was trimmed at
//! the front lines up with the readings before it.

use crate::clients::stt::Word;

/// How far, ms, a word of a new reading may start before the end of the last committed word
/// and still be new: Whisper's word times move by a frame or two between readings.
const OVERLAP_TOLERANCE_MS: u64 = 100;
/// A reading that starts this close, ms, to the end of the committed words may repeat their
/// last few words (Whisper re-reads a word the buffer cut through).
const REPEAT_WINDOW_MS: u64 = 1_000;
/// Longest run of committed words a new reading may repeat at its start.
const MAX_REPEAT: usize = 5;

/// What one reading gave.
#[derive(Debug, Default, Clone)]
pub struct Heard {
    /// Words that just became final, in order.
    pub committed: Vec<Word>,
    /// The rest of the reading: interim, replaced by the next one.
    pub interim: Vec<Word>,
}

/// The agreement between consecutive readings of one stream.
#[derive(Debug, Default)]
pub struct Agreement {
    /// The previous reading's words past the committed ones.
    previous: Vec<Word>,
    /// The last few committed words, compared without case or punctuation.
    recent: Vec<String>,
    /// End of the last committed word, ms.
    committed_until_ms: u64,
}

/// A word as compared between readings: lower case, letters and digits only.
fn key(word: &Word) -> String {
    word.text.chars().filter(|c| c.is_alphanumeric() || *c == '\'').flat_map(char::to_lowercase).collect()
}

impl Agreement {
    /// End of the last committed word, ms on the session's clock.
    pub fn committed_until_ms(&self) -> u64 {
        self.committed_until_ms
    }

    /// A new reading of the uncommitted audio: commits what it and the previous reading
    /// agree on.
    pub fn hear(&mut self, reading: Vec<Word>) -> Heard {
        let reading = self.unheard(reading);
        let agreed = self.previous.iter().zip(&reading).take_while(|(a, b)| key(a) == key(b)).count();
        // The new reading's times: it saw more of the audio after these words.
        let committed: Vec<Word> = reading[..agreed].to_vec();
        self.previous = reading[agreed..].to_vec();
        self.remember(&committed);
        Heard { committed, interim: self.previous.clone() }
    }

    /// The utterance ended (a pause, a forced cut, the end of the stream): every word of the
    /// final reading is committed.
    pub fn commit_all(&mut self, reading: Vec<Word>) -> Vec<Word> {
        let committed = self.unheard(reading);
        self.previous.clear();
        self.remember(&committed);
        committed
    }

    /// The part of `reading` not committed yet: words that start before the committed ones
    /// end are dropped, and so is a repeat of the last committed words at its start.
    fn unheard(&self, reading: Vec<Word>) -> Vec<Word> {
        let floor = self.committed_until_ms.saturating_sub(OVERLAP_TOLERANCE_MS);
        let mut reading: Vec<Word> = reading.into_iter().filter(|w| self.committed_until_ms == 0 || w.start_ms >= floor).collect();
        let near = reading.first().is_some_and(|w| w.start_ms < self.committed_until_ms + REPEAT_WINDOW_MS);
        if near {
            let longest = MAX_REPEAT.min(self.recent.len()).min(reading.len());
            if let Some(n) = (1..=longest).rev().find(|&n| self.recent[self.recent.len() - n..].iter().zip(&reading[..n]).all(|(a, b)| *a == key(b))) {
                reading.drain(..n);
            }
        }
        reading
    }

    fn remember(&mut self, committed: &[Word]) {
        if let Some(last) = committed.last() {
            self.committed_until_ms = self.committed_until_ms.max(last.end_ms);
        }
        self.recent.extend(committed.iter().map(key));
        let excess = self.recent.len().saturating_sub(MAX_REPEAT);
        self.recent.drain(..excess);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words of `text` 400 ms apart from `start_ms`, each 300 ms long.
    fn words(text: &str, start_ms: u64) -> Vec<Word> {
        text.split_whitespace()
            .enumerate()
            .map(|(i, w)| {
                let start = start_ms + 400 * i as u64;
                Word { text: w.to_lowercase(), punctuated: w.into(), start_ms: start, end_ms: start + 300, confidence: 0.9, speaker: None }
            })
            .collect()
    }

    fn texts(words: &[Word]) -> Vec<&str> {
        words.iter().map(|w| w.punctuated.as_str()).collect()
    }

    #[test]
    fn two_agreeing_readings_commit_their_common_start() {
        let mut agreement = Agreement::default();
        let first = agreement.hear(words("good morning every", 0));
        assert!(first.committed.is_empty(), "one reading commits nothing");
        assert_eq!(texts(&first.interim), ["good", "morning", "every"]);
        let second = agreement.hear(words("good morning everybody let", 0));
        assert_eq!(texts(&second.committed), ["good", "morning"]);
        assert_eq!(texts(&second.interim), ["everybody", "let"]);
        assert_eq!(agreement.committed_until_ms(), 700);
        // The next reading starts after the committed words; the agreed part goes on.
        let third = agreement.hear(words("everybody let us", 800));
        assert_eq!(texts(&third.committed), ["everybody", "let"]);
        assert_eq!(texts(&third.interim), ["us"]);
    }

    #[test]
    fn punctuation_and_case_do_not_block_agreement() {
        let mut agreement = Agreement::default();
        agreement.hear(words("Hello there", 0));
        let mut second = words("hello there.", 0);
        second[0].text = "Hello,".into();
        let heard = agreement.hear(second);
        assert_eq!(texts(&heard.committed), ["hello", "there."], "the newer reading's form is kept");
    }

    #[test]
    fn a_reading_that_repeats_committed_words_does_not_double_them() {
        let mut agreement = Agreement::default();
        agreement.hear(words("we were all going", 0));
        let heard = agreement.hear(words("we were all going direct", 0));
        assert_eq!(texts(&heard.committed), ["we", "were", "all", "going"]);
        // The buffer was cut inside "going": the next reading hears it again, with a time
        // just after the committed words.
        let heard = agreement.hear(words("going direct to heaven", 1_500));
        assert_eq!((texts(&heard.committed), texts(&heard.interim)), (vec!["direct"], vec!["to", "heaven"]));
    }

    #[test]
    fn words_before_the_committed_end_are_not_heard_again() {
        let mut agreement = Agreement::default();
        agreement.hear(words("one two three", 0));
        agreement.hear(words("one two three four", 0));
        // A late reading still holding the early words (times before 1,100 ms).
        let heard = agreement.hear(words("one two three four five", 0));
        assert_eq!(texts(&heard.committed), ["four"], "only the new agreement");
        assert_eq!(texts(&heard.interim), ["five"]);
    }

    #[test]
    fn a_pause_commits_the_whole_last_reading_once() {
        let mut agreement = Agreement::default();
        agreement.hear(words("let us begin", 0));
        let committed = agreement.commit_all(words("let us begin the meeting", 0));
        assert_eq!(texts(&committed), ["let", "us", "begin", "the", "meeting"]);
        let heard = agreement.hear(words("the meeting", 1_200));
        assert!(heard.committed.is_empty() && heard.interim.is_empty(), "nothing doubled: {heard:?}");
    }

    #[test]
    fn disagreement_commits_nothing() {
        let mut agreement = Agreement::default();
        agreement.hear(words("it was the best", 0));
        let heard = agreement.hear(words("it is the best", 0));
        assert_eq!(texts(&heard.committed), ["it"]);
        assert_eq!(texts(&heard.interim), ["is", "the", "best"]);
    }
}
