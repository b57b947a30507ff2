//! A diarizer's turns laid over a transcript: each word gets the speaker whose turns cover
//! most of it (the nearest turn when none covers it), and an utterance that changes speaker
//! becomes one utterance per speaker.

use crate::clients::diarizer::SpeakerTurn;
use crate::plugin::bindings::types::{Paragraph, TranscriptStructure, Utterance, Word};

/// A word further than this from every turn keeps no speaker, ms: speech the diarizer did
/// not hear at all is better left unattributed than guessed.
const NEAREST_TURN_MS: u64 = 2_000;

fn overlap(a: (u64, u64), b: (u64, u64)) -> u64 {
    a.1.min(b.1).saturating_sub(a.0.max(b.0))
}

fn distance(word: (u64, u64), turn: (u64, u64)) -> u64 {
    if word.1 < turn.0 { turn.0 - word.1 } else { word.0.saturating_sub(turn.1) }
}

/// The speaker of a word from `start_ms` to `end_ms`.
pub fn speaker_of(start_ms: u64, end_ms: u64, turns: &[SpeakerTurn]) -> Option<u32> {
    let word = (start_ms, end_ms.max(start_ms));
    let mut covered: Vec<(u32, u64)> = Vec::new();
    for t in turns {
        let o = overlap(word, (t.start_ms, t.end_ms));
        if o > 0 {
            match covered.iter_mut().find(|(s, _)| *s == t.speaker) {
                Some((_, total)) => *total += o,
                None => covered.push((t.speaker, o)),
            }
        }
    }
    if let Some((speaker, _)) = covered.iter().max_by_key(|(s, o)| (*o, std::cmp::Reverse(*s))) {
        return Some(*speaker);
    }
    turns
        .iter()
        .map(|t| (distance(word, (t.start_ms, t.end_ms)), t.speaker))
        .filter(|(d, _)| *d <= NEAREST_TURN_MS)
        .min()
        .map(|(_, s)| s)
}

/// `words` with the speakers of `turns`.
pub fn label_words(words: &[Word], turns: &[SpeakerTurn]) -> Vec<Word> {
    words.iter().map(|w| Word { speaker: speaker_of(w.start_ms, w.end_ms, turns), ..w.clone() }).collect()
}

/// The most common speaker among `words`.
fn majority(words: &[&Word]) -> Option<u32> {
    let mut counts: Vec<(u32, usize)> = Vec::new();
    for s in words.iter().filter_map(|w| w.speaker) {
        match counts.iter_mut().find(|(x, _)| *x == s) {
            Some((_, n)) => *n += 1,
            None => counts.push((s, 1)),
        }
    }
    counts.into_iter().max_by_key(|(s, n)| (*n, std::cmp::Reverse(*s))).map(|(s, _)| s)
}

fn within(words: &[Word], start_ms: u64, end_ms: u64) -> Vec<&Word> {
    words.iter().filter(|w| w.start_ms >= start_ms && w.end_ms <= end_ms.max(start_ms)).collect()
}

/// The structure of a transcript whose words now carry speakers (`words`): each utterance
/// split where its words change speaker; each paragraph given its words' most common
/// speaker.
pub fn restructure(structure: &TranscriptStructure, words: &[Word]) -> TranscriptStructure {
    let mut utterances = Vec::new();
    for u in &structure.utterances {
        let mine = within(words, u.start_ms, u.end_ms);
        if mine.is_empty() {
            utterances.push(u.clone());
            continue;
        }
        let mut run: Vec<&Word> = Vec::new();
        let flush = |run: &mut Vec<&Word>, utterances: &mut Vec<Utterance>| {
            if let (Some(first), Some(last)) = (run.first(), run.last()) {
                let text = run.iter().map(|w| w.punctuated.as_str()).collect::<Vec<_>>().join(" ");
                utterances.push(Utterance { text, start_ms: first.start_ms, end_ms: last.end_ms, confidence: u.confidence, speaker: first.speaker });
            }
            run.clear();
        };
        for w in mine {
            if run.last().is_some_and(|last| last.speaker != w.speaker) {
                flush(&mut run, &mut utterances);
            }
            run.push(w);
        }
        flush(&mut run, &mut utterances);
    }
    let paragraphs = structure
        .paragraphs
        .iter()
        .map(|p| Paragraph { speaker: majority(&within(words, p.start_ms, p.end_ms)).or(p.speaker), ..p.clone() })
        .collect();
    TranscriptStructure { paragraphs, utterances }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(start_ms: u64, end_ms: u64, speaker: u32) -> SpeakerTurn {
        SpeakerTurn { start_ms, end_ms, speaker }
    }

    fn word(text: &str, start_ms: u64, end_ms: u64) -> Word {
        Word { text: text.into(), punctuated: text.into(), start_ms, end_ms, confidence: 1.0, speaker: None }
    }

    #[test]
    fn a_word_takes_the_speaker_covering_most_of_it_or_the_nearest() {
        let turns = [turn(0, 1000, 0), turn(900, 2000, 1), turn(5000, 6000, 0)];
        assert_eq!(speaker_of(100, 400, &turns), Some(0));
        // 900..1000 with speaker 0, 900..1200 with speaker 1.
        assert_eq!(speaker_of(850, 1200, &turns), Some(1));
        assert_eq!(speaker_of(2500, 2700, &turns), Some(1));
        assert_eq!(speaker_of(4500, 4700, &turns), Some(0));
        assert_eq!(speaker_of(20_000, 20_100, &turns), None);
    }

    #[test]
    fn an_utterance_that_changes_speaker_becomes_two() {
        let turns = [turn(0, 1000, 0), turn(1000, 3000, 1)];
        let words = label_words(&[word("Yes.", 100, 500), word("I", 1200, 1300), word("agree.", 1300, 1800)], &turns);
        let structure = TranscriptStructure {
            paragraphs: vec![],
            utterances: vec![Utterance { text: "Yes. I agree.".into(), start_ms: 100, end_ms: 1800, confidence: 0.9, speaker: None }],
        };
        let split = restructure(&structure, &words).utterances;
        assert_eq!(split.len(), 2);
        assert_eq!((split[0].text.as_str(), split[0].speaker, split[0].end_ms), ("Yes.", Some(0), 500));
        assert_eq!((split[1].text.as_str(), split[1].speaker, split[1].start_ms), ("I agree.", Some(1), 1200));
    }
}
