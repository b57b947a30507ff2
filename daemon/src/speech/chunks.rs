//! Spans of speech → chunks a recogniser takes whole: each at most one window long (30 s
//! for Whisper), made of one or more pieces of the file played back to back, so the
//! silence between spans never reaches the recogniser. A span longer than a window is cut
//! at its quietest moment in the window's second half, inside a pause, so no word is cut in
//! two. [`Chunk::to_file_ms`] maps a time in the chunk back to the file.

use std::ops::Range;

use super::silero::FRAME;

/// Sample rate of the probabilities and spans.
const RATE: usize = 16_000;
/// Frames over which the quietest moment is looked for: a single quiet frame inside a word
/// is not a pause (≈ 100 ms).
const QUIET_FRAMES: usize = 3;

/// Pieces of the file, in order, that a recogniser gets as one stretch of audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Sample ranges of the file.
    pub pieces: Vec<Range<usize>>,
}

impl Chunk {
    /// Samples in the chunk.
    pub fn len(&self) -> usize {
        self.pieces.iter().map(Range::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where the chunk starts and ends in the file, ms.
    pub fn file_range_ms(&self) -> Range<u64> {
        let ms = |s: usize| (s * 1000 / RATE) as u64;
        let start = self.pieces.first().map_or(0, |p| p.start);
        let end = self.pieces.last().map_or(0, |p| p.end);
        ms(start)..ms(end)
    }

    /// A time in the chunk, ms, as a time in the file, ms. Times past the end (a recogniser
    /// rounds up) stay at the end.
    pub fn to_file_ms(&self, chunk_ms: u64) -> u64 {
        let mut sample = (chunk_ms as usize).saturating_mul(RATE) / 1000;
        for piece in &self.pieces {
            if sample < piece.len() {
                return ((piece.start + sample) * 1000 / RATE) as u64;
            }
            sample -= piece.len();
        }
        self.file_range_ms().end
    }
}

/// Packs `spans` (from [`super::spans::speech`]) into chunks of at most `max` samples.
/// `probs` are the frames' speech probabilities, used to cut spans longer than `max`.
pub fn pack(spans: &[Range<usize>], probs: &[f32], max: usize) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let mut current = Chunk { pieces: Vec::new() };
    for span in spans {
        for piece in cut_long(span.clone(), probs, max) {
            if current.len() + piece.len() > max && !current.is_empty() {
                chunks.push(std::mem::replace(&mut current, Chunk { pieces: Vec::new() }));
            }
            current.pieces.push(piece);
        }
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// `span` as pieces of at most `max` samples, each cut at the quietest moment of the second
/// half of what is left of the window.
fn cut_long(mut span: Range<usize>, probs: &[f32], max: usize) -> Vec<Range<usize>> {
    let mut pieces = Vec::new();
    while span.len() > max {
        // Frames wholly inside [start + max/2, start + max).
        let first = (span.start + max / 2).div_ceil(FRAME);
        let last = (span.start + max) / FRAME;
        let quiet = |f: usize| -> f32 {
            let window = f.saturating_sub(QUIET_FRAMES / 2)..(f + QUIET_FRAMES / 2 + 1).min(probs.len());
            probs.get(window).map_or(1.0, |w| w.iter().sum::<f32>() / w.len().max(1) as f32)
        };
        let cut = (first..last)
            .min_by(|a, b| quiet(*a).total_cmp(&quiet(*b)))
            .map_or(span.start + max, |f| f * FRAME)
            .clamp(span.start + 1, span.start + max);
        pieces.push(span.start..cut);
        span.start = cut;
    }
    if !span.is_empty() {
        pieces.push(span);
    }
    pieces
}

#[cfg(test)]
// A chunk of one piece is a list of one range on purpose.
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;

    const WINDOW: usize = 30 * RATE;

    #[test]
    fn short_spans_share_a_chunk_until_it_is_full() {
        let spans = [0..10 * RATE, 20 * RATE..35 * RATE, 40 * RATE..50 * RATE];
        let chunks = pack(&spans, &[], WINDOW);
        assert_eq!(chunks.len(), 2, "{chunks:?}");
        assert_eq!(chunks[0].pieces, vec![0..10 * RATE, 20 * RATE..35 * RATE]);
        assert_eq!(chunks[1].pieces, vec![40 * RATE..50 * RATE]);
        assert!(chunks.iter().all(|c| c.len() <= WINDOW));
    }

    #[test]
    fn a_long_span_is_cut_in_its_quietest_pause() {
        let frames = 80 * RATE / FRAME;
        let mut probs = vec![0.95f32; frames];
        // A pause at 22 s.
        let pause = 22 * RATE / FRAME;
        for p in &mut probs[pause - 2..pause + 3] {
            *p = 0.05;
        }
        let chunks = pack(&[0..frames * FRAME], &probs, WINDOW);
        let cut = chunks[0].pieces[0].end;
        assert!(chunks[0].pieces.len() == 1 && ((pause - 2) * FRAME..(pause + 3) * FRAME).contains(&cut), "{chunks:?}");
        let covered: usize = chunks.iter().map(Chunk::len).sum();
        assert_eq!(covered, frames * FRAME, "every sample lands in exactly one chunk");
        assert!(chunks.iter().all(|c| c.len() <= WINDOW));
    }

    #[test]
    fn chunk_times_map_back_over_the_removed_silence() {
        let chunk = Chunk { pieces: vec![RATE..3 * RATE, 10 * RATE..12 * RATE] };
        assert_eq!(chunk.to_file_ms(0), 1000);
        assert_eq!(chunk.to_file_ms(1500), 2500);
        assert_eq!(chunk.to_file_ms(2000), 10_000);
        assert_eq!(chunk.to_file_ms(3999), 11_999);
        assert_eq!(chunk.to_file_ms(60_000), 12_000);
        assert_eq!(chunk.file_range_ms(), 1000..12_000);
    }
}
