//! Where the speech detector heard speech in a local policy's buffer ([`super::local`]), and
//! where a reading's words leave some of it out. Whisper reading a short buffer of a text
//! that repeats itself ("it was the epoch of belief, it was the epoch of incredulity, it was
//! the season of light") can jump from one "of" to a later one: the words around the jump
//! are right, so two readings may agree on them, but the speech between has no words, or
//! hides under one word stretched over it.

use crate::clients::stt::Word;

/// Most speech one word and the pause before it may hold, ms: the longest word of the test
/// readings ("incredulity.", said slowly) held about 1.1 s, and the detector holds speech a
/// little past its end. More means words were left out.
const MAX_SPEECH_PER_WORD_MS: u64 = 1_600;

/// Runs of speech on the session's clock, ms, in order.
#[derive(Debug, Default)]
pub struct Voiced {
    runs: Vec<(u64, u64)>,
}

impl Voiced {
    /// A frame from `start_ms` to `end_ms`, speech or not.
    pub fn hear(&mut self, start_ms: u64, end_ms: u64, speech: bool) {
        if !speech {
            return;
        }
        match self.runs.last_mut() {
            Some((_, end)) if *end >= start_ms => *end = (*end).max(end_ms),
            _ => self.runs.push((start_ms, end_ms)),
        }
    }

    /// Forgets speech that ended before `ms` (the buffer's new start).
    pub fn forget_before(&mut self, ms: u64) {
        let gone = self.runs.iter().position(|&(_, end)| end > ms).unwrap_or(self.runs.len());
        self.runs.drain(..gone);
    }

    /// Speech between `from` and `to`, ms.
    fn speech_ms(&self, from: u64, to: u64) -> u64 {
        self.runs.iter().map(|&(start, end)| end.min(to).saturating_sub(start.max(from))).sum()
    }

    /// The first word of `words` (a reading of the buffer from `from_ms`) before which the
    /// reading left speech out: more speech lies between the previous word's end (the
    /// buffer's start for the first word) and its own end than one word holds.
    pub fn skipped_at(&self, from_ms: u64, words: &[Word]) -> Option<usize> {
        (0..words.len()).find(|&i| {
            let after = if i == 0 { from_ms } else { words[i - 1].end_ms };
            self.speech_ms(after, words[i].end_ms) > MAX_SPEECH_PER_WORD_MS
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(text: &str, start_ms: u64, end_ms: u64) -> Word {
        Word { text: text.into(), punctuated: text.into(), start_ms, end_ms, confidence: 0.9, speaker: None }
    }

    /// Speech in 20 ms frames over `spans`, silence elsewhere up to 10 s.
    fn voiced(spans: &[(u64, u64)]) -> Voiced {
        let mut voiced = Voiced::default();
        for start in (0..10_000).step_by(20) {
            voiced.hear(start, start + 20, spans.iter().any(|&(a, b)| start >= a && start < b));
        }
        voiced
    }

    #[test]
    fn a_reading_that_jumps_over_speech_is_caught_where_it_jumps() {
        // "it was the epoch of [incredulity, it was the season of] light", the speech
        // continuous from 0 to 5 s.
        let speech = voiced(&[(0, 5_000)]);
        let jumped = [word("epoch", 0, 300), word("of", 300, 500), word("light", 3_400, 3_900)];
        assert_eq!(speech.skipped_at(0, &jumped), Some(2));
        let stretched = [word("epoch", 0, 300), word("of", 300, 3_200), word("light", 3_200, 3_600)];
        assert_eq!(speech.skipped_at(0, &stretched), Some(1));
        // Every word there, a long one among them.
        let said = [word("epoch", 0, 300), word("of", 300, 500), word("incredulity.", 500, 1_580), word("it", 1_600, 1_700)];
        assert_eq!(speech.skipped_at(0, &said), None);
        // A reading that starts after the buffer's first words.
        let late = [word("light", 3_400, 3_900)];
        assert_eq!(speech.skipped_at(0, &late), Some(0));
        assert_eq!(speech.skipped_at(3_000, &late), None);
    }

    #[test]
    fn pauses_between_words_are_not_speech_left_out() {
        // Phrases with pauses between them, as read: the gaps hold no speech.
        let speech = voiced(&[(0, 1_000), (3_000, 4_000), (6_000, 6_500)]);
        let said = [word("of", 700, 1_000), word("light,", 3_000, 3_900), word("it", 6_000, 6_100)];
        assert_eq!(speech.skipped_at(0, &said), None);
        let mut forgotten = voiced(&[(0, 1_000), (3_000, 4_000)]);
        forgotten.forget_before(2_000);
        assert_eq!(forgotten.speech_ms(0, 10_000), 1_000);
        assert_eq!(forgotten.speech_ms(3_500, 3_700), 200);
    }
}
