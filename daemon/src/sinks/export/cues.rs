//! A transcript cut into runs of words: subtitle cues a viewer can read, speaker turns for
//! prose, and segments for summarizers and the search index. A cue ends when the speaker
//! changes, at a pause, when it grows past [`MAX_CUE_MS`] or [`MAX_CUE_CHARS`], or at the end of
//! a sentence once it is long enough to stand alone. Every time is the word's own, so exports
//! line up with the audio.

use crate::clients::library::{Speaker, StoredSummary, Word};

/// Longest cue on screen: subtitle guidelines keep a cue under about 6-7 s.
pub(super) const MAX_CUE_MS: u64 = 6_000;
/// Two lines of 42 characters, the common broadcast limit.
pub(super) const MAX_CUE_CHARS: usize = 84;
/// A silence longer than this starts a new cue.
const MAX_GAP_MS: u64 = 1_000;
/// A silence this long starts a new paragraph even without a speaker change: in prose
/// exports, and in the web UI, which reads it from the words API.
pub const PARAGRAPH_GAP_MS: u64 = 3_000;
/// A cue may end at a sentence end once it holds this many characters.
const SENTENCE_BREAK_CHARS: usize = 40;
/// A segment given to a summarizer ends at a sentence end once it holds this many
/// characters (a few sentences: context for the model, few line prefixes)...
const SEGMENT_SENTENCE_CHARS: usize = 160;
/// ...and in any case after this long, so an action item's time lands within half a minute
/// of what was said.
const MAX_SEGMENT_MS: u64 = 30_000;

/// What an export is made of.
pub struct Transcript<'a> {
    pub title: &'a str,
    pub words: &'a [Word],
    pub speakers: &'a [Speaker],
    pub summary: Option<&'a StoredSummary>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cue {
    pub start_ms: u64,
    pub end_ms: u64,
    pub speaker: Option<u32>,
    pub text: String,
    /// Words it holds.
    pub words: usize,
}


impl Transcript<'_> {
    /// A speaker's display name: the name given, else "Speaker N".
    pub fn speaker_name(&self, speaker: Option<u32>) -> Option<String> {
        let number = speaker?;
        Some(
            self.speakers
                .iter()
                .find(|s| s.speaker == number)
                .map(|s| s.name.clone())
                .unwrap_or_else(|| format!("Speaker {}", number + 1)),
        )
    }

    /// Subtitle cues.
    pub fn cues(&self) -> Vec<Cue> {
        split(self.words, |cue, word| {
            let gap = word.start_ms.saturating_sub(cue.end_ms);
            let ends_sentence = cue.text.ends_with(['.', '?', '!']);
            word.speaker != cue.speaker
                || gap > MAX_GAP_MS
                || word.end_ms.saturating_sub(cue.start_ms) > MAX_CUE_MS
                || cue.text.chars().count() + 1 + word.punctuated.chars().count() > MAX_CUE_CHARS
                || (ends_sentence && cue.text.chars().count() >= SENTENCE_BREAK_CHARS)
        })
    }

    /// Runs of one speaker's sentences, for summarizers and the search index.
    pub fn segments(&self) -> Vec<Cue> {
        split(self.words, segment_break)
    }

    /// The words of each of [`Transcript::segments`].
    pub fn segment_words(&self) -> Vec<&[Word]> {
        self.segments_with_words().into_iter().map(|(_, words)| words).collect()
    }

    /// Each of [`Transcript::segments`] with its words, cut once.
    pub fn segments_with_words(&self) -> Vec<(Cue, &[Word])> {
        let mut start = 0;
        self.segments()
            .into_iter()
            .map(|cue| {
                let words = &self.words[start..start + cue.words];
                start += cue.words;
                (cue, words)
            })
            .collect()
    }

    /// Speaker turns, for the prose formats.
    pub(super) fn turns(&self) -> Vec<Cue> {
        split(self.words, |cue, word| word.speaker != cue.speaker || word.start_ms.saturating_sub(cue.end_ms) > PARAGRAPH_GAP_MS)
    }
}

/// Where a summarizer's or the index's segment ends.
fn segment_break(cue: &Cue, word: &Word) -> bool {
    word.speaker != cue.speaker
        || word.start_ms.saturating_sub(cue.end_ms) > PARAGRAPH_GAP_MS
        || word.end_ms.saturating_sub(cue.start_ms) > MAX_SEGMENT_MS
        || (cue.text.ends_with(['.', '?', '!']) && cue.text.chars().count() >= SEGMENT_SENTENCE_CHARS)
}

/// Groups consecutive words; `breaks(cue, next)` says whether `next` starts a new group.
fn split(words: &[Word], breaks: impl Fn(&Cue, &Word) -> bool) -> Vec<Cue> {
    let mut cues: Vec<Cue> = Vec::new();
    for word in words {
        match cues.last_mut() {
            Some(cue) if !breaks(cue, word) => {
                cue.text.push(' ');
                cue.text.push_str(&word.punctuated);
                cue.end_ms = cue.end_ms.max(word.end_ms);
                cue.words += 1;
            }
            _ => cues.push(Cue {
                start_ms: word.start_ms,
                end_ms: word.end_ms.max(word.start_ms),
                speaker: word.speaker,
                text: word.punctuated.clone(),
                words: 1,
            }),
        }
    }
    cues
}
