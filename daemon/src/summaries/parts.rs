//! The transcript as a summarizer reads it: segments of one speaker's speech with their
//! times, the estimate of their size in tokens, the split of a long transcript into parts
//! that each fit the operator's budget, and action item times made to point at a segment.

use crate::sinks::export::Transcript;
use crate::clients::summarizer::TranscriptSegment;

/// Estimated characters per token. Claude's tokenizer averages about 3.5-4 characters per
/// token on English prose and fewer on other scripts; 3 overestimates, so a part never
/// exceeds the budget because the estimate was optimistic.
const CHARS_PER_TOKEN: usize = 3;
/// Tokens each segment costs beyond its text: the `[hh:mm:ss] Name:` prefix and newline.
const SEGMENT_OVERHEAD_TOKENS: usize = 6;

/// Segments of `transcript`, speaker names resolved (after renaming).
pub fn segments(transcript: &Transcript<'_>) -> Vec<TranscriptSegment> {
    transcript
        .segments()
        .into_iter()
        .map(|cue| TranscriptSegment {
            speaker: transcript.speaker_name(cue.speaker),
            start_ms: cue.start_ms,
            end_ms: cue.end_ms,
            text: cue.text,
        })
        .collect()
}

/// Estimated tokens of one segment in a request.
pub fn tokens(segment: &TranscriptSegment) -> usize {
    let chars = segment.text.chars().count() + segment.speaker.as_ref().map_or(0, |s| s.chars().count());
    chars.div_ceil(CHARS_PER_TOKEN) + SEGMENT_OVERHEAD_TOKENS
}

/// Estimated tokens of some text.
pub fn text_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(CHARS_PER_TOKEN)
}

/// Splits `segments` into consecutive parts of about equal size, each within `budget`
/// tokens (a single segment larger than the budget is a part of its own). One part when the
/// whole fits. Never drops a segment.
pub fn split(segments: Vec<TranscriptSegment>, budget: usize) -> Vec<Vec<TranscriptSegment>> {
    let total: usize = segments.iter().map(tokens).sum();
    let budget = budget.max(1);
    if total <= budget {
        return vec![segments];
    }
    // As many parts as the budget demands, filled evenly so the last is not a scrap.
    let count = total.div_ceil(budget);
    let target = total.div_ceil(count);
    let mut parts: Vec<Vec<TranscriptSegment>> = Vec::with_capacity(count);
    let mut current = Vec::new();
    let mut size = 0;
    for segment in segments {
        let cost = tokens(&segment);
        if !current.is_empty() && (size + cost > budget || size >= target) {
            parts.push(std::mem::take(&mut current));
            size = 0;
        }
        size += cost;
        current.push(segment);
    }
    if !current.is_empty() {
        parts.push(current);
    }
    parts
}

/// Moves an action item's time to the start of the segment it falls in (the model sees
/// whole seconds; the UI wants a time where a word starts). A time past the end of the
/// transcript is dropped rather than pointing at nothing.
pub fn snap(at_ms: Option<u64>, segments: &[TranscriptSegment]) -> Option<u64> {
    let at = at_ms?;
    let end = segments.iter().map(|s| s.end_ms).max()?;
    // The model's clock is whole seconds, floored.
    if at > end + 1_000 {
        return None;
    }
    let index = segments.partition_point(|s| s.start_ms <= at + 999);
    Some(segments[index.saturating_sub(1)].start_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(start_ms: u64, chars: usize) -> TranscriptSegment {
        TranscriptSegment { speaker: None, start_ms, end_ms: start_ms + 900, text: "x".repeat(chars) }
    }

    #[test]
    fn split_cases() {
        // Each segment costs 10 + 6 = 16 tokens.
        let ten: Vec<_> = (0..10).map(|i| segment(i * 1000, 30)).collect();
        let cases = [(1_000, vec![10]), (160, vec![10]), (159, vec![5, 5]), (80, vec![5, 5]), (50, vec![3, 3, 3, 1]), (60, vec![3, 3, 3, 1]), (1, vec![1; 10])];
        for (budget, want) in cases {
            let parts = split(ten.clone(), budget);
            let sizes: Vec<usize> = parts.iter().map(Vec::len).collect();
            assert_eq!(sizes, want, "budget {budget}");
            let flat: Vec<u64> = parts.iter().flatten().map(|s| s.start_ms).collect();
            assert_eq!(flat, (0..10).map(|i| i * 1000).collect::<Vec<_>>(), "nothing lost or reordered");
            if budget >= 16 {
                assert!(parts.iter().all(|p| p.iter().map(tokens).sum::<usize>() <= budget), "budget {budget}");
            }
        }
    }

    #[test]
    fn snap_cases() {
        let segments = vec![segment(1_500, 5), segment(4_200, 5), segment(9_000, 5)];
        let cases = [
            (None, None),
            (Some(0), Some(1_500)),
            (Some(1_000), Some(1_500)),
            (Some(4_000), Some(4_200)),
            (Some(5_000), Some(4_200)),
            (Some(9_000), Some(9_000)),
            (Some(10_000), Some(9_000)),
            (Some(60_000), None),
        ];
        for (at, want) in cases {
            assert_eq!(snap(at, &segments), want, "{at:?}");
        }
        assert_eq!(snap(Some(1), &[]), None);
    }
}
