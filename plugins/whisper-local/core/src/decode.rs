//! Decoding one 30 s window to tokens: greedy (or, on fallback, sampled) with openai-whisper's
//! logit rules — suppressed tokens, no blank start, and timestamp tokens that come in pairs,
//! never go backwards and start within the first second — plus the numbers the caller uses to
//! judge the result: average log-probability, compression ratio and no-speech probability.

use candle_core::Tensor;

use crate::model::{DecoderState, Whisper};

/// Latest first timestamp allowed, in 20 ms steps (openai's `max_initial_timestamp` of 1 s).
const MAX_INITIAL_TIMESTAMP: u32 = 50;
/// Longest repeating block of text tokens looked for at the end of what was sampled.
const MAX_LOOP_PERIOD: usize = 16;
/// Text tokens a repeating tail must cover before it counts as a loop: real speech repeats a
/// word or two a few times ("no, no, no"), a stuck decoder repeats until it is stopped.
const MIN_LOOP_TOKENS: usize = 16;
/// Copies of the block that make a loop, however long the block.
const MIN_LOOP_REPEATS: usize = 3;

/// The token rules of one model.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Never sampled (`suppress_ids` of the model's config: symbols that are not speech, and
    /// special tokens).
    pub suppress: Vec<u32>,
    /// Not sampled first (`suppress_ids_begin`: a lone space, end-of-text).
    pub suppress_begin: Vec<u32>,
    pub end_of_text: u32,
    pub no_timestamps: u32,
    pub timestamp_begin: u32,
    pub no_speech: Option<u32>,
    /// Most tokens sampled per window (half the text context, as openai).
    pub sample_len: usize,
}

/// What one decoding attempt produced.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// Sampled tokens, text and timestamps, without the end-of-text.
    pub tokens: Vec<u32>,
    /// Mean log-probability per token, end-of-text included.
    pub avg_logprob: f32,
    /// Probability of `<|nospeech|>` right after the start-of-transcript.
    pub no_speech_prob: f32,
    pub temperature: f32,
    /// Stopped because the text repeated itself (the repeats were cut): a failed attempt.
    pub looped: bool,
    /// Decoder steps this attempt ran.
    pub steps: usize,
}

/// A small deterministic generator for sampling at a temperature: the same file gives the
/// same transcript, and the guest needs no entropy source.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed | 1)
    }

    /// Uniform in [0, 1).
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Makes the tokens in `range` impossible.
fn ban(logits: &mut [f32], range: std::ops::Range<usize>) {
    let end = range.end.min(logits.len());
    logits[range.start.min(end)..end].iter_mut().for_each(|l| *l = f32::NEG_INFINITY);
}

fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = logits.iter().map(|&l| (l - max).exp()).sum();
    let log_sum = max + sum.ln();
    logits.iter().map(|&l| l - log_sum).collect()
}

fn log_sum_exp(values: &[f32]) -> f32 {
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return max;
    }
    max + values.iter().map(|&v| (v - max).exp()).sum::<f32>().ln()
}

impl Rules {
    /// Masks `logits` for the next token after `sampled` (the tokens of this window so far).
    pub fn apply(&self, logits: &mut [f32], sampled: &[u32]) {
        let ts = self.timestamp_begin as usize;
        if sampled.is_empty() {
            for &t in &self.suppress_begin {
                ban(logits, t as usize..t as usize + 1);
            }
        }
        for &t in &self.suppress {
            ban(logits, t as usize..t as usize + 1);
        }
        ban(logits, self.no_timestamps as usize..self.no_timestamps as usize + 1);

        let is_ts = |t: &u32| *t >= self.timestamp_begin;
        let last_was_ts = sampled.last().is_some_and(is_ts);
        let penultimate_was_ts = sampled.len() < 2 || is_ts(&sampled[sampled.len() - 2]);
        if last_was_ts {
            if penultimate_was_ts {
                // A pair closed a segment: text or end-of-text next.
                ban(logits, ts..logits.len());
            } else {
                // An opening timestamp needs text before the closing one.
                ban(logits, 0..self.end_of_text as usize);
            }
        }
        if let Some(&last) = sampled.iter().rev().find(|t| is_ts(t)) {
            // Timestamps never decrease, and a segment lasts at least one step.
            let floor = if last_was_ts && !penultimate_was_ts { last } else { last + 1 };
            ban(logits, ts..floor as usize);
        }
        if sampled.is_empty() {
            ban(logits, 0..ts);
            ban(logits, ts + MAX_INITIAL_TIMESTAMP as usize + 1..logits.len());
        }
        // When time is more likely than any single text token, it is time.
        let logprobs = log_softmax(logits);
        if ts < logprobs.len() {
            let time = log_sum_exp(&logprobs[ts..]);
            let best_text = logprobs[..ts].iter().copied().fold(f32::NEG_INFINITY, f32::max);
            if time > best_text {
                ban(logits, 0..ts);
            }
        }
    }
}

/// Where a loop at the end of `tokens` ends its first copy: when the text tokens (timestamps
/// aside) end in [`MIN_LOOP_REPEATS`] or more copies of one block covering
/// [`MIN_LOOP_TOKENS`], the number of tokens to keep so that one copy is left.
fn loop_cut(tokens: &[u32], timestamp_begin: u32) -> Option<usize> {
    let text: Vec<(usize, u32)> = tokens.iter().copied().enumerate().filter(|&(_, t)| t < timestamp_begin).collect();
    for period in 1..=MAX_LOOP_PERIOD {
        let repeats = MIN_LOOP_REPEATS.max(MIN_LOOP_TOKENS.div_ceil(period));
        let span = period * repeats;
        if text.len() < span {
            continue;
        }
        let periodic = |i: usize| text[i].1 == text[i + period].1;
        let mut start = text.len() - span;
        if !(start..text.len() - period).all(periodic) {
            continue;
        }
        // The loop may have begun before the tail that revealed it.
        while start > 0 && periodic(start - 1) {
            start -= 1;
        }
        return Some(text[start + period - 1].0 + 1);
    }
    None
}

/// Decodes the window `state` holds (its encoded audio; the cache is reset) after `previous`
/// (`<|startofprev|>` and the text said before the audio, or nothing) and `sot_sequence`, at
/// `temperature` (0 is greedy), sampling at most `max_tokens`.
#[allow(clippy::too_many_arguments)]
pub fn decode_window(
    model: &Whisper,
    state: &DecoderState,
    previous: &[u32],
    sot_sequence: &[u32],
    rules: &Rules,
    temperature: f32,
    max_tokens: usize,
    rng: &mut XorShift,
) -> candle_core::Result<Attempt> {
    let mut state = model.restart(state);
    let (first, rest) = sot_sequence.split_first().ok_or_else(|| candle_core::Error::Msg("empty prompt".into()))?;
    if !previous.is_empty() {
        model.step(&mut state, previous)?;
    }
    // The no-speech probability is read where the transcript starts, after any previous text.
    let mut logits = model.step(&mut state, &[*first])?;
    let no_speech_prob = match rules.no_speech {
        Some(id) => log_softmax(&logits).get(id as usize).map_or(0.0, |l| l.exp()),
        None => 0.0,
    };
    if !rest.is_empty() {
        logits = model.step(&mut state, rest)?;
    }
    let max_tokens = max_tokens.min(rules.sample_len).max(1);
    let mut tokens = Vec::new();
    let mut sum_logprob = 0.0f32;
    let mut looped = false;
    let mut steps = 1 + usize::from(!rest.is_empty()) + usize::from(!previous.is_empty());
    loop {
        rules.apply(&mut logits, &tokens);
        let logprobs = log_softmax(&logits);
        let next = if temperature > 0.0 { sample(&logits, temperature, rng) } else { argmax(&logits) };
        sum_logprob += logprobs.get(next as usize).copied().unwrap_or(f32::NEG_INFINITY);
        if next == rules.end_of_text || tokens.len() + 1 >= max_tokens || state.len() + 1 >= model.dims.text_ctx {
            if next != rules.end_of_text {
                tokens.push(next);
            }
            break;
        }
        tokens.push(next);
        if let Some(keep) = loop_cut(&tokens, rules.timestamp_begin) {
            tokens.truncate(keep);
            looped = true;
            break;
        }
        logits = model.step(&mut state, &[next])?;
        steps += 1;
    }
    Ok(Attempt { avg_logprob: sum_logprob / (tokens.len() + 1) as f32, tokens, no_speech_prob, temperature, looped, steps })
}

fn argmax(logits: &[f32]) -> u32 {
    logits.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i as u32)
}

fn sample(logits: &[f32], temperature: f32, rng: &mut XorShift) -> u32 {
    let scaled: Vec<f32> = logits.iter().map(|l| l / temperature).collect();
    let probs: Vec<f32> = log_softmax(&scaled).into_iter().map(f32::exp).collect();
    let mut target = rng.next() * probs.iter().sum::<f32>();
    for (i, p) in probs.iter().enumerate() {
        target -= p;
        if target <= 0.0 && *p > 0.0 {
            return i as u32;
        }
    }
    argmax(logits)
}

/// Text length over its zlib-compressed length: above about 2.4 the decoder is looping.
pub fn compression_ratio(text: &str) -> f32 {
    if text.is_empty() {
        return 0.0;
    }
    /// zlib's default level, which openai's ratio threshold was tuned with.
    const LEVEL: u8 = 6;
    let compressed = miniz_oxide::deflate::compress_to_vec_zlib(text.as_bytes(), LEVEL);
    text.len() as f32 / compressed.len().max(1) as f32
}

/// The probabilities of `tokens` at rows `first..` of `logits` (`[T, vocab]`), each taken
/// over the text tokens only (below `end_of_text`), as the word aligner reports confidence.
pub fn token_probabilities(logits: &Tensor, first: usize, tokens: &[u32], end_of_text: u32) -> candle_core::Result<Vec<f32>> {
    let rows = logits.narrow(0, first, tokens.len())?.narrow(1, 0, end_of_text as usize)?.to_vec2::<f32>()?;
    Ok(rows
        .iter()
        .zip(tokens)
        .map(|(row, &t)| log_softmax(row).get(t as usize).map_or(0.0, |l| l.exp()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy vocabulary: 0..10 text, 10 end-of-text, 11 no-timestamps, 12.. timestamps.
    fn rules() -> Rules {
        Rules {
            suppress: vec![3],
            suppress_begin: vec![1, 10],
            end_of_text: 10,
            no_timestamps: 11,
            timestamp_begin: 12,
            no_speech: None,
            sample_len: 224,
        }
    }

    fn allowed(logits: &[f32]) -> Vec<usize> {
        logits.iter().enumerate().filter(|(_, l)| l.is_finite()).map(|(i, _)| i).collect()
    }

    #[test]
    fn a_window_starts_with_an_early_timestamp() {
        let mut logits = vec![0.0; 12 + 100];
        rules().apply(&mut logits, &[]);
        let ok = allowed(&logits);
        assert_eq!(ok.first(), Some(&12));
        assert_eq!(ok.last(), Some(&(12 + MAX_INITIAL_TIMESTAMP as usize)));
    }

    #[test]
    fn timestamps_pair_up_and_never_go_back() {
        let r = rules();
        // After <|t=5|> "text": anything but suppressed tokens and earlier timestamps.
        let mut logits_text = vec![0.0; 40];
        // Text clearly more likely than time, so the probability rule stays out of the way.
        logits_text[4] = 10.0;
        r.apply(&mut logits_text, &[17, 4]);
        let ok = allowed(&logits_text);
        assert!(!ok.contains(&3) && !ok.contains(&11), "{ok:?}");
        assert!(ok.contains(&4) && ok.contains(&10));
        assert!(!ok.contains(&17) && ok.contains(&18), "{ok:?}");
        // After an opening timestamp: no end-of-text... text or a later timestamp.
        let mut after_open = vec![0.0; 40];
        r.apply(&mut after_open, &[12, 4, 17]);
        let ok = allowed(&after_open);
        assert!(ok.iter().all(|&t| t >= 10), "{ok:?}");
        // After a closing pair: no timestamp.
        let mut after_pair = vec![0.0; 40];
        r.apply(&mut after_pair, &[12, 4, 17, 17]);
        assert!(allowed(&after_pair).iter().all(|&t| t < 12));
    }

    #[test]
    fn likely_time_beats_text() {
        let mut logits = vec![0.0; 40];
        for l in &mut logits[12..] {
            *l = 1.0;
        }
        rules().apply(&mut logits, &[12, 4]);
        assert!(allowed(&logits).iter().all(|&t| t >= 12));
    }

    #[test]
    fn loops_are_cut_to_one_copy_and_speech_repeats_are_not() {
        // 12.. are timestamps in the toy vocabulary.
        let ts = 12;
        let mut nickel = vec![12, 1, 2];
        for _ in 0..16 {
            nickel.extend([5, 6]);
        }
        let keep = loop_cut(&nickel, ts).expect("a two-token loop");
        assert_eq!(&nickel[..keep], &[12, 1, 2, 5, 6]);
        // A long block three times over, timestamps between the copies ignored.
        let block: Vec<u32> = (0..9).collect();
        let mut three = Vec::new();
        for t in [13, 20, 27] {
            three.push(t);
            three.extend(&block);
        }
        assert_eq!(loop_cut(&three, ts), Some(10), "the first copy and its opening timestamp");
        // "no, no, no, no": a few repeats of a short block are speech.
        assert_eq!(loop_cut(&[12, 4, 4, 4, 4, 4, 4], ts), None);
        assert_eq!(loop_cut(&[12, 1, 2, 3, 1, 2, 3, 14], ts), None);
    }

    #[test]
    fn repetition_compresses_well() {
        assert!(compression_ratio(&"the cat sat on the mat. ".repeat(20)) > 2.4);
        assert!(compression_ratio("Ever tried. Ever failed. No matter. Try again. Fail again. Fail better.") < 2.4);
    }

    #[test]
    fn sampling_is_deterministic_and_follows_the_distribution() {
        let logits = [0.0, 5.0, 0.0];
        let mut a = XorShift::new(7);
        let picks: Vec<u32> = (0..50).map(|_| sample(&logits, 1.0, &mut a)).collect();
        let mut b = XorShift::new(7);
        assert_eq!(picks, (0..50).map(|_| sample(&logits, 1.0, &mut b)).collect::<Vec<_>>());
        assert!(picks.iter().filter(|&&p| p == 1).count() > 40);
    }
}
