//! Word timing from cross-attention, as openai-whisper's `word_timestamps` does it: the
//! alignment heads' attention over the audio, normalised and smoothed, is aligned to the text
//! tokens by dynamic time warping; a word starts where the path first reaches its first token.
//!
//! Everything here is plain arithmetic on the scores the decoder returned
//! ([`crate::model::Whisper::forward_all`]), so it is tested without a model.

use crate::vocab::Vocabulary;

/// Encoder positions per second of audio (100 mel frames, halved by the second convolution).
pub const POSITIONS_PER_SECOND: f32 = 50.0;
/// Width of the median filter over time applied to each head's attention, as openai uses.
const MEDIAN_WIDTH: usize = 7;
/// Punctuation that belongs to the following word.
const PREPENDED: &str = "\"'“¿([{-";
/// Punctuation that belongs to the preceding word.
const APPENDED: &str = "\"'.。,，!！?？:：”)]}、";
/// What Python's `string.punctuation` holds: a token made of one of these is its own word.
const ASCII_PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// One word and where it is in the window, seconds from the window start.
#[derive(Debug, Clone, PartialEq)]
pub struct WordTiming {
    /// The word as decoded, usually with its leading space.
    pub word: String,
    pub tokens: Vec<u32>,
    pub start: f32,
    pub end: f32,
    /// Mean probability of its tokens.
    pub probability: f32,
}

/// Turns each head's raw scores (`rows × frames`, row-major) into one alignment matrix:
/// softmax over time, standardised per time step across tokens, median-filtered over time,
/// averaged over heads.
pub fn attention_matrix(heads: &[Vec<f32>], rows: usize, frames: usize) -> Vec<f32> {
    let mut sum = vec![0f32; rows * frames];
    for scores in heads {
        let mut w = scores.clone();
        for row in w.chunks_mut(frames) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut total = 0.0;
            for v in row.iter_mut() {
                *v = (*v - max).exp();
                total += *v;
            }
            row.iter_mut().for_each(|v| *v /= total);
        }
        for col in 0..frames {
            let mean = (0..rows).map(|r| w[r * frames + col]).sum::<f32>() / rows as f32;
            let var = (0..rows).map(|r| (w[r * frames + col] - mean).powi(2)).sum::<f32>() / rows as f32;
            let std = var.sqrt();
            for r in 0..rows {
                let v = &mut w[r * frames + col];
                // One token row has no spread; openai divides by zero there and gets NaN,
                // which its DTW then ignores. Zero is the same, without the NaN.
                *v = if std > 0.0 { (*v - mean) / std } else { 0.0 };
            }
        }
        for (row, out) in w.chunks(frames).zip(sum.chunks_mut(frames)) {
            for (o, m) in out.iter_mut().zip(median_filter(row, MEDIAN_WIDTH)) {
                *o += m;
            }
        }
    }
    let n = heads.len().max(1) as f32;
    sum.iter_mut().for_each(|v| *v /= n);
    sum
}

/// Median over a sliding window, the edges mirrored (`reflect` padding).
fn median_filter(x: &[f32], width: usize) -> Vec<f32> {
    let pad = width / 2;
    if x.len() <= pad {
        return x.to_vec();
    }
    let at = |i: isize| -> f32 {
        let n = x.len() as isize;
        let j = if i < 0 { -i } else if i >= n { 2 * (n - 1) - i } else { i };
        x[j.clamp(0, n - 1) as usize]
    };
    let mut window = vec![0f32; width];
    (0..x.len() as isize)
        .map(|i| {
            for (k, w) in window.iter_mut().enumerate() {
                *w = at(i + k as isize - pad as isize);
            }
            window.sort_by(f32::total_cmp);
            window[pad]
        })
        .collect()
}

/// Dynamic time warping over a cost matrix (`rows × cols`): the cheapest monotonic path from
/// the top-left to the bottom-right corner, as (row, column) index lists.
pub fn dtw(cost: &[f32], rows: usize, cols: usize) -> (Vec<usize>, Vec<usize>) {
    let width = cols + 1;
    let mut acc = vec![f32::INFINITY; (rows + 1) * width];
    let mut trace = vec![0u8; (rows + 1) * width];
    acc[0] = 0.0;
    for j in 1..=cols {
        for i in 1..=rows {
            let (c0, c1, c2) = (acc[(i - 1) * width + j - 1], acc[(i - 1) * width + j], acc[i * width + j - 1]);
            let (c, t) = if c0 < c1 && c0 < c2 {
                (c0, 0)
            } else if c1 < c0 && c1 < c2 {
                (c1, 1)
            } else {
                (c2, 2)
            };
            acc[i * width + j] = cost[(i - 1) * cols + j - 1] + c;
            trace[i * width + j] = t;
        }
    }
    let (mut i, mut j) = (rows, cols);
    let (mut text, mut time) = (Vec::new(), Vec::new());
    while i > 0 && j > 0 {
        text.push(i - 1);
        time.push(j - 1);
        match trace[i * width + j] {
            0 => {
                i -= 1;
                j -= 1;
            }
            1 => i -= 1,
            _ => j -= 1,
        }
    }
    text.reverse();
    time.reverse();
    (text, time)
}

/// Splits text tokens (and a final end-of-text) into words: a word starts at a token that
/// begins with a space, is punctuation, or is special; characters split across tokens stay
/// together.
pub fn split_words(vocab: &Vocabulary, tokens: &[u32]) -> Vec<(String, Vec<u32>)> {
    // First, runs of tokens that decode to whole characters.
    let mut pieces: Vec<(String, Vec<u32>, bool)> = Vec::new();
    let mut pending: (Vec<u8>, Vec<u32>) = (Vec::new(), Vec::new());
    for &token in tokens {
        if !vocab.is_text(token) {
            pieces.push((String::new(), vec![token], true));
            continue;
        }
        pending.0.extend(vocab.bytes(token));
        pending.1.push(token);
        if let Ok(text) = std::str::from_utf8(&pending.0) {
            pieces.push((text.to_string(), std::mem::take(&mut pending.1), false));
            pending.0.clear();
        }
    }
    if !pending.1.is_empty() {
        pieces.push((String::from_utf8_lossy(&pending.0).into_owned(), pending.1, false));
    }
    let mut words: Vec<(String, Vec<u32>)> = Vec::new();
    for (text, ids, special) in pieces {
        let trimmed = text.trim();
        let punctuation = trimmed.is_empty() || ASCII_PUNCTUATION.contains(trimmed);
        match words.last_mut() {
            Some(last) if !(special || text.starts_with(' ') || punctuation) => {
                last.0.push_str(&text);
                last.1.extend(ids);
            }
            _ => words.push((text, ids)),
        }
    }
    words
}

/// Word timings for `text_tokens` from an alignment `matrix` (`rows × frames`: the
/// no-timestamps position and one row per text token) and the tokens' probabilities.
pub fn word_timings(vocab: &Vocabulary, text_tokens: &[u32], matrix: &[f32], frames: usize, token_probs: &[f32]) -> Vec<WordTiming> {
    let rows = text_tokens.len() + 1;
    if matrix.len() != rows * frames || frames == 0 {
        return Vec::new();
    }
    let negated: Vec<f32> = matrix.iter().map(|v| -v).collect();
    let (text_idx, time_idx) = dtw(&negated, rows, frames);
    let mut with_eot = text_tokens.to_vec();
    with_eot.push(vocab.specials().end_of_text);
    let words = split_words(vocab, &with_eot);
    if words.len() <= 1 {
        return Vec::new();
    }
    // Times where the path moves on to a new token.
    let jump_times: Vec<f32> = (0..text_idx.len())
        .filter(|&k| k == 0 || text_idx[k] != text_idx[k - 1])
        .map(|k| time_idx[k] as f32 / POSITIONS_PER_SECOND)
        .collect();
    let mut boundary = 0usize;
    let mut timings = Vec::new();
    for (word, tokens) in words.into_iter().take_while(|(_, t)| t.first().is_some_and(|&t| vocab.is_text(t))) {
        let next = boundary + tokens.len();
        let (Some(&start), Some(&end)) = (jump_times.get(boundary), jump_times.get(next)) else { break };
        let probs = &token_probs[boundary.min(token_probs.len())..next.min(token_probs.len())];
        let probability = if probs.is_empty() { 0.0 } else { probs.iter().sum::<f32>() / probs.len() as f32 };
        timings.push(WordTiming { word, tokens, start, end, probability });
        boundary = next;
    }
    constrain_long_words(&mut timings);
    merge_punctuation(&mut timings);
    timings
}

/// Words after or ending a sentence that the alignment stretched over a pause are cut to
/// twice the median word length (at most 1.4 s), as openai does.
fn constrain_long_words(words: &mut [WordTiming]) {
    /// Upper bound of the median word duration used, seconds.
    const MAX_MEDIAN: f32 = 0.7;
    let mut durations: Vec<f32> = words.iter().map(|w| w.end - w.start).filter(|d| *d > 0.0).collect();
    if durations.is_empty() {
        return;
    }
    durations.sort_by(f32::total_cmp);
    let mid = durations.len() / 2;
    let median = if durations.len() % 2 == 1 { durations[mid] } else { (durations[mid - 1] + durations[mid]) / 2.0 };
    let max = median.min(MAX_MEDIAN) * 2.0;
    const SENTENCE_ENDS: &str = ".。!！?？";
    for i in 1..words.len() {
        if words[i].end - words[i].start > max {
            if SENTENCE_ENDS.contains(words[i].word.as_str()) {
                words[i].end = words[i].start + max;
            } else if SENTENCE_ENDS.contains(words[i - 1].word.as_str()) {
                words[i].start = words[i].end - max;
            }
        }
    }
}

/// Moves opening punctuation onto the next word and closing punctuation onto the previous
/// one; the emptied entries keep their place (with no text and no tokens) so token counts
/// per segment still add up.
fn merge_punctuation(words: &mut [WordTiming]) {
    let is_in = |set: &str, w: &str| !w.is_empty() && set.contains(w);
    if words.len() >= 2 {
        let mut j = words.len() - 1;
        for i in (0..words.len() - 1).rev() {
            if words[i].word.starts_with(' ') && is_in(PREPENDED, words[i].word.trim()) {
                let (word, tokens) = (std::mem::take(&mut words[i].word), std::mem::take(&mut words[i].tokens));
                words[j].word = word + &words[j].word;
                let mut merged = tokens;
                merged.append(&mut words[j].tokens);
                words[j].tokens = merged;
            } else {
                j = i;
            }
        }
    }
    let mut i = 0;
    for j in 1..words.len() {
        if !words[i].word.ends_with(' ') && is_in(APPENDED, &words[j].word) {
            let (word, mut tokens) = (std::mem::take(&mut words[j].word), std::mem::take(&mut words[j].tokens));
            words[i].word.push_str(&word);
            words[i].tokens.append(&mut tokens);
        } else {
            i = j;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> Vocabulary {
        let mut lines = vec!["!".to_string(); 50_256];
        for (i, t) in ["ĠHello", ",", "Ġwor", "ld", ".", "Ġ\"", "Hi", "\"", "Ġcaf", "Ã", "©"].iter().enumerate() {
            lines[i] = (*t).to_string();
        }
        lines.extend(["<|endoftext|>", "<|startoftranscript|>", "<|notimestamps|>", "<|0.00|>"].map(String::from));
        Vocabulary::parse("vocabulary.txt", &lines.join("\n")).expect("parses")
    }

    #[test]
    fn words_split_at_spaces_and_punctuation_and_keep_split_characters() {
        let v = vocab();
        let words = split_words(&v, &[0, 1, 2, 3, 4, 8, 9, 10, 50_256]);
        let texts: Vec<&str> = words.iter().map(|(w, _)| w.as_str()).collect();
        assert_eq!(texts, [" Hello", ",", " world", ".", " café", ""]);
        assert_eq!(words[2].1, [2, 3]);
        assert_eq!(words[4].1, [8, 9, 10]);
    }

    #[test]
    fn dtw_follows_the_cheap_diagonal() {
        // 3 tokens over 6 frames; token k is cheap at frames 2k and 2k+1.
        let cost: Vec<f32> = (0..3).flat_map(|r| (0..6).map(move |c| if c / 2 == r { 0.0 } else { 1.0 })).collect();
        let (text, time) = dtw(&cost, 3, 6);
        assert_eq!(text, [0, 0, 1, 1, 2, 2]);
        assert_eq!(time, [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn median_filter_reflects_at_the_edges() {
        let x = [5.0, 1.0, 1.0, 1.0, 9.0, 1.0, 1.0, 1.0];
        assert_eq!(median_filter(&x, 3), [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
        assert_eq!(median_filter(&[1.0, 2.0], 7), [1.0, 2.0]);
    }

    #[test]
    fn timings_follow_the_attention_and_punctuation_joins_its_word() {
        let v = vocab();
        // " Hello" "," " wor" "ld" ".": attention walks along the frames, 4 per token.
        let tokens = [0u32, 1, 2, 3, 4];
        let rows = tokens.len() + 1;
        let frames = 4 * rows;
        let matrix: Vec<f32> = (0..rows).flat_map(|r| (0..frames).map(move |c| if c / 4 == r { 1.0 } else { 0.0 })).collect();
        let probs = [0.9, 0.5, 0.8, 0.6, 1.0];
        let words = word_timings(&v, &tokens, &matrix, frames, &probs);
        let shown: Vec<&WordTiming> = words.iter().filter(|w| !w.word.is_empty()).collect();
        let texts: Vec<&str> = shown.iter().map(|w| w.word.as_str()).collect();
        assert_eq!(texts, [" Hello,", " world."]);
        // Row 0 (the no-timestamps position) predicts the first word; merged punctuation keeps
        // the word's own times. The path may change rows a frame early where costs tie.
        let at = |frame: usize| frame as f32 / POSITIONS_PER_SECOND;
        let near = |got: f32, frame: usize| (got - at(frame)).abs() <= at(1) + 1e-6;
        assert!(near(shown[0].start, 0) && near(shown[0].end, 4), "{:?}", shown[0]);
        assert!(near(shown[1].start, 8) && near(shown[1].end, 16), "{:?}", shown[1]);
        assert!((words[2].probability - 0.7).abs() < 1e-6, "mean of its tokens: {:?}", words[2]);
        // The emptied punctuation entries keep their tokens' place: 5 tokens in all.
        assert_eq!(words.iter().map(|w| w.tokens.len()).sum::<usize>(), 5);
    }

    #[test]
    fn opening_quotes_move_to_the_next_word() {
        let mut words: Vec<WordTiming> = [" \"", "Hi", "\""]
            .iter()
            .map(|w| WordTiming { word: (*w).into(), tokens: vec![0], start: 0.0, end: 0.1, probability: 1.0 })
            .collect();
        merge_punctuation(&mut words);
        let texts: Vec<&str> = words.iter().map(|w| w.word.as_str()).collect();
        assert_eq!(texts, ["", " \"Hi\"", ""]);
    }
}
