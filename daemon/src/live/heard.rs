//! What of a local reading was heard: the recogniser's words less those it invented. Between
//! a reading of the [`super::local`] policy and the [`super::agreement`] between readings.

use crate::clients::stt::Word;

/// This many words starting within [`STACK_SPAN_MS`] of each other were not heard: no audio
/// lies under them. A short buffer can send Whisper round its own text at the end of the
/// audio, and the aligner then stacks those words on the last frames.
const STACKED_WORDS: usize = 4;
const STACK_SPAN_MS: u64 = 20;

// openai-whisper's test for invented words (`word_anomaly_score`, `is_segment_anomaly`),
// which its `hallucination_silence_threshold` applies to speech between silences: a breath
// read as "I" or "you" is one unlikely word stretched over the sound.
/// A word below this probability is unlikely.
const UNLIKELY: f32 = 0.15;
/// Words shorter than this, ms, are suspect in proportion to how much shorter.
const SHORTEST_MS: f32 = 133.0;
/// Anomaly per second a word is shorter than [`SHORTEST_MS`].
const SHORT_WEIGHT: f32 = 15.0;
/// Words longer than this, ms, are suspect in proportion to how much longer.
const LONGEST_MS: f32 = 2_000.0;
/// Only the first words of an utterance are weighed.
const WEIGHED_WORDS: usize = 8;
/// From this score the words are invented, whatever their number.
const INVENTED_SCORE: f32 = 3.0;
/// Slack in comparing the score with the number of words.
const SCORE_SLACK: f32 = 0.01;
/// Longer utterances are never taken for invented: what Whisper makes up from a breath is a
/// word or a stock phrase ("Thank you for watching."). Dropping a sentence that was said
/// loses far more than keeping a made-up word, and a sentence whose first word Whisper
/// stretched over audio it skipped scores as invented (a busy machine's live session lost
/// 30 words so).
const MAX_INVENTED_WORDS: usize = 4;

/// The words of a reading up to the first stack of words with no audio under them.
pub fn heard_words(mut words: Vec<Word>) -> Vec<Word> {
    let stacked = (0..words.len().saturating_sub(STACKED_WORDS - 1))
        .find(|&i| words[i..i + STACKED_WORDS].iter().all(|w| w.start_ms.abs_diff(words[i].start_ms) <= STACK_SPAN_MS));
    if let Some(at) = stacked {
        words.truncate(at);
    }
    words
}

/// How unlike a spoken word `word` is: unlikely, too short or too long.
fn anomaly(word: &Word) -> f32 {
    let duration = word.end_ms.saturating_sub(word.start_ms) as f32;
    let mut score = 0.0;
    if word.confidence < UNLIKELY {
        score += 1.0;
    }
    if duration < SHORTEST_MS {
        score += (SHORTEST_MS - duration) / 1_000.0 * SHORT_WEIGHT;
    }
    if duration > LONGEST_MS {
        score += (duration - LONGEST_MS) / 1_000.0;
    }
    score
}

/// Whether the words of an utterance between pauses were invented rather than heard. One of
/// them at least must be unlikely: the copies a loop leaves at the end of a reading are
/// short but likely, and say the reading went round, not that nothing was said.
pub fn invented(words: &[Word]) -> bool {
    if words.len() > MAX_INVENTED_WORDS {
        return false;
    }
    let weighed = &words[..words.len().min(WEIGHED_WORDS)];
    if !weighed.iter().any(|w| w.confidence < UNLIKELY) {
        return false;
    }
    let score: f32 = weighed.iter().map(anomaly).sum();
    score >= INVENTED_SCORE || score + SCORE_SLACK >= weighed.len() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(text: &str, start_ms: u64, end_ms: u64, confidence: f32) -> Word {
        Word { text: text.into(), punctuated: text.into(), start_ms, end_ms, confidence, speaker: None }
    }

    #[test]
    fn words_stacked_on_one_instant_end_a_reading() {
        let at = |text: &str, start_ms| word(text, start_ms, start_ms + 200, 0.9);
        let reading = vec![at("the", 0), at("way.", 300), at("we", 700), at("were", 700), at("all", 700), at("going", 710), at("direct", 710)];
        let heard: Vec<String> = heard_words(reading).into_iter().map(|w| w.text).collect();
        assert_eq!(heard, ["the", "way."]);
        // Two words on one frame happen in real speech ("it was" said fast).
        let reading = vec![at("it", 2400), at("was", 2400), at("the", 2660), at("worst", 2820)];
        assert_eq!(heard_words(reading).len(), 4);
    }

    #[test]
    fn a_breath_read_as_one_unlikely_word_was_invented() {
        // Readings of the breath after two_cities.wav's last word, in the keyless live test.
        assert!(invented(&[word("I", 0, 820, 0.025)]));
        assert!(invented(&[word("you", 0, 1080, 0.108)]));
        // Real speech: likely words of ordinary length, even with one unlikely word among
        // them, and a short answer said clearly.
        let said = [word("the", 2400, 2520, 0.98), word("season", 2520, 2680, 0.99), word("of", 2680, 3020, 0.1), word("darkness", 3020, 3240, 0.99)];
        assert!(!invented(&said));
        assert!(!invented(&[word("Yes.", 0, 300, 0.8)]));
        assert!(!invented(&[]));
        // A sentence read after a cut, whose first word took the skipped audio: said, not
        // invented, however its first words score.
        let mut sentence = vec![word("It", 0, 5_200, 0.1)];
        for (i, text) in "was the age of wisdom, it was the age of foolishness.".split(' ').enumerate() {
            sentence.push(word(text, 5_200 + 300 * i as u64, 5_500 + 300 * i as u64, 0.9));
        }
        assert!(!invented(&sentence));
        assert!(invented(&sentence[..1]), "the same first word alone is");
        // A short reading that went round: its copies have no length, but were likely.
        let looped = [word("ever", 0, 400, 0.54), word("failed", 400, 560, 0.93), word("ever", 560, 560, 0.69), word("failed", 560, 600, 0.99)];
        assert!(!invented(&looped));
    }
}
