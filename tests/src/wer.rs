//! Word error rate, the accuracy figure of every recogniser test and benchmark.

/// Lower-case words without punctuation (apostrophes kept: "don't" is one word).
pub fn plain_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric() && c != '\'').filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// Word error rate of `heard` against `said`, in percent: the word-level edit distance over
/// the number of words said.
pub fn wer(said: &[String], heard: &[String]) -> f64 {
    let mut row: Vec<usize> = (0..=heard.len()).collect();
    for (i, s) in said.iter().enumerate() {
        let mut next = vec![i + 1; heard.len() + 1];
        for (j, h) in heard.iter().enumerate() {
            next[j + 1] = (row[j] + usize::from(s != h)).min(row[j + 1] + 1).min(next[j] + 1);
        }
        row = next;
    }
    100.0 * row[heard.len()] as f64 / said.len().max(1) as f64
}

/// [`wer`] of two texts.
pub fn text_wer(said: &str, heard: &str) -> f64 {
    wer(&plain_words(said), &plain_words(heard))
}

#[cfg(test)]
mod tests {
    use super::text_wer;

    #[test]
    fn word_error_rate() {
        assert_eq!(text_wer("It was the best of times.", "it was the best of times"), 0.0);
        assert_eq!(text_wer("a b c d", "a x c"), 50.0);
        assert_eq!(text_wer("a b", "a b c d"), 100.0);
        assert_eq!(text_wer("Don't stop", "don't stop"), 0.0);
    }
}
