//! Frame probabilities → spans of speech, in samples: Silero's hysteresis (speech starts
//! above one threshold and ends only after a long enough run below a lower one), then
//! padding on both sides so no word loses its edges. The parameters are faster-whisper's,
//! the tool users compare us with: pauses shorter than two seconds stay inside the speech,
//! where Whisper reads them as punctuation.

use std::ops::Range;

use super::silero::FRAME;

/// A frame at or above this probability is speech (Silero's default).
pub const THRESHOLD: f32 = 0.5;
/// Speech ends only below this probability (Silero's default: 0.15 under the threshold).
const NEG_THRESHOLD: f32 = THRESHOLD - 0.15;
/// Silence shorter than this stays inside a span, samples (2 s, faster-whisper's default).
const MIN_SILENCE: usize = 2 * 16_000;
/// Speech shorter than this is dropped as a click or a breath, samples (Silero's 250 ms).
const MIN_SPEECH: usize = 16_000 / 4;
/// Audio kept on each side of a span, samples (400 ms, faster-whisper's default).
pub const PAD: usize = 16_000 * 2 / 5;

/// Spans of speech in `total` samples whose frames had `probs`, in order, not overlapping.
pub fn speech(probs: &[f32], total: usize) -> Vec<Range<usize>> {
    let mut raw = Vec::new();
    let mut start = None;
    let mut silence_from = None;
    for (i, &p) in probs.iter().enumerate() {
        let at = i * FRAME;
        if p >= THRESHOLD {
            silence_from = None;
            start.get_or_insert(at);
        } else if let Some(s) = start
            && p < NEG_THRESHOLD
        {
            let from = *silence_from.get_or_insert(at);
            if at + FRAME - from >= MIN_SILENCE {
                raw.push(s..from);
                start = None;
                silence_from = None;
            }
        }
    }
    if let Some(s) = start {
        raw.push(s..silence_from.unwrap_or(total).min(total));
    }
    let mut spans: Vec<Range<usize>> = Vec::new();
    for span in raw.into_iter().filter(|s| s.len() >= MIN_SPEECH) {
        let padded = span.start.saturating_sub(PAD)..(span.end + PAD).min(total);
        match spans.last_mut() {
            Some(last) if padded.start <= last.end => last.end = padded.end,
            _ => spans.push(padded),
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probs(pattern: &[(f32, usize)]) -> Vec<f32> {
        pattern.iter().flat_map(|&(p, n)| std::iter::repeat_n(p, n)).collect()
    }

    /// Frames in a second.
    const SECOND: usize = 16_000 / FRAME;

    #[test]
    fn silence_gives_no_speech() {
        let p = probs(&[(0.01, 10 * SECOND)]);
        assert!(speech(&p, p.len() * FRAME).is_empty());
    }

    #[test]
    fn speech_between_silences_is_one_padded_span() {
        let p = probs(&[(0.0, 100), (0.9, 50), (0.0, 100)]);
        assert_eq!(speech(&p, p.len() * FRAME), vec![100 * FRAME - PAD..150 * FRAME + PAD]);
    }

    #[test]
    fn a_short_pause_stays_inside_and_a_long_one_splits() {
        let short = probs(&[(0.9, 50), (0.1, SECOND), (0.9, 50)]);
        assert_eq!(speech(&short, short.len() * FRAME).len(), 1);
        let long = probs(&[(0.9, 50), (0.1, 3 * SECOND), (0.9, 50)]);
        let spans = speech(&long, long.len() * FRAME);
        assert_eq!(spans.len(), 2, "{spans:?}");
        assert_eq!(spans[0].end, 50 * FRAME + PAD);
    }

    #[test]
    fn between_the_thresholds_speech_goes_on() {
        // 0.4 neither starts speech nor ends it.
        let p = probs(&[(0.4, 50), (0.9, 20), (0.4, 5 * SECOND), (0.0, 3 * SECOND)]);
        let spans = speech(&p, p.len() * FRAME);
        assert_eq!(spans, vec![50 * FRAME - PAD..(70 + 5 * SECOND) * FRAME + PAD]);
    }

    #[test]
    fn a_click_is_dropped_and_speech_at_the_end_is_kept() {
        let p = probs(&[(0.9, 3), (0.0, 5 * SECOND), (0.9, 40)]);
        let total = p.len() * FRAME - 100;
        assert_eq!(speech(&p, total), vec![(3 + 5 * SECOND) * FRAME - PAD..total]);
    }
}
