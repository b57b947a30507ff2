//! One session timeline across provider connections.
//!
//! A provider's times count the audio it received on its connection, from 0. The session
//! sends only speech (silence is gated) and starts a new connection after a drop, replaying
//! the audio no final result covers yet. [`Timeline`] records which stretch of the session
//! each connection received, maps the provider's times back to the session's, and keeps
//! final words exactly once: a replayed word that was final already is dropped, so the
//! stored transcript has no gaps, no repeats and times that only grow.

use crate::clients::stt::TranscriptUpdate;

/// A stretch of session audio a connection received without a break.
#[derive(Debug, Clone, Copy)]
struct Run {
    provider_start: u64,
    session_start: u64,
    len: u64,
}

/// Maps provider time to session time and deduplicates finals.
#[derive(Debug, Default)]
pub struct Timeline {
    /// The current connection's runs; contiguous on the provider's clock.
    runs: Vec<Run>,
    /// Audio sent on the current connection, ms.
    sent_ms: u64,
    /// End of the last final word kept, session ms.
    final_until: u64,
    /// End of the last final span, session ms: audio before it needs no replay.
    covered_until: u64,
}

impl Timeline {
    /// A new connection: its clock starts at 0.
    pub fn new_connection(&mut self) {
        self.runs.clear();
        self.sent_ms = 0;
    }

    /// Records that `len` ms of session audio starting at `session_start` went out.
    pub fn sent(&mut self, session_start: u64, len: u64) {
        match self.runs.last_mut() {
            Some(run) if run.session_start + run.len == session_start => run.len += len,
            _ => self.runs.push(Run { provider_start: self.sent_ms, session_start, len }),
        }
        self.sent_ms += len;
    }

    /// Session time of provider time `t` taken as the start of something.
    fn start(&self, t: u64) -> u64 {
        let run = self.runs.iter().rev().find(|r| r.provider_start <= t);
        run.map_or(t, |r| r.session_start + (t - r.provider_start))
    }

    /// Session time of provider time `t` taken as an end: a time on the border of two runs
    /// belongs to the earlier one.
    fn end(&self, t: u64) -> u64 {
        let run = self.runs.iter().rev().find(|r| r.provider_start < t).or(self.runs.first());
        run.map_or(t, |r| r.session_start + t.saturating_sub(r.provider_start))
    }

    /// Moves `update` onto the session's clock. Final words are kept once; interim words
    /// that are final already are dropped from the interim too.
    pub fn map(&mut self, mut update: TranscriptUpdate) -> TranscriptUpdate {
        update.start_ms = self.start(update.start_ms);
        update.end_ms = self.end(update.end_ms).max(update.start_ms);
        for word in &mut update.words {
            word.start_ms = self.start(word.start_ms);
            word.end_ms = self.end(word.end_ms).max(word.start_ms);
        }
        let final_until = self.final_until;
        update.words.retain(|w| w.start_ms >= final_until);
        if update.is_final {
            if let Some(last) = update.words.last() {
                self.final_until = last.end_ms;
            }
            self.covered_until = self.covered_until.max(update.end_ms).max(self.final_until);
        }
        update
    }

    /// Session audio before this point is covered by finals and needs no replay, ms.
    pub fn covered_until(&self) -> u64 {
        self.covered_until
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::stt::TranscriptUpdate;
    use crate::plugin::bindings::types::Word;

    fn word(text: &str, start_ms: u64, end_ms: u64) -> Word {
        Word { text: text.into(), punctuated: text.into(), start_ms, end_ms, confidence: 0.9, speaker: None }
    }

    fn update(is_final: bool, start_ms: u64, end_ms: u64, words: Vec<Word>) -> TranscriptUpdate {
        TranscriptUpdate { words, is_final, speech_final: false, start_ms, end_ms }
    }

    fn times(update: &TranscriptUpdate) -> Vec<(String, u64, u64)> {
        update.words.iter().map(|w| (w.text.clone(), w.start_ms, w.end_ms)).collect()
    }

    #[test]
    fn gaps_in_sent_audio_map_back_to_session_time() {
        let mut timeline = Timeline::default();
        timeline.sent(0, 1000);
        // 4 s of silence not sent, then speech again.
        timeline.sent(5000, 1000);
        let mapped = timeline.map(update(true, 0, 2000, vec![word("one", 200, 900), word("two", 1000, 1500)]));
        assert_eq!(times(&mapped), vec![("one".into(), 200, 900), ("two".into(), 5000, 5500)]);
        assert_eq!((mapped.start_ms, mapped.end_ms), (0, 6000));
        // A word ending exactly at the gap belongs before it.
        let edge = timeline.map(update(false, 0, 1000, vec![word("edge", 800, 1000)]));
        assert!(edge.words.is_empty(), "final already up to 5500: {edge:?}");
        assert_eq!(timeline.end(1000), 1000);
        assert_eq!(timeline.start(1000), 5000);
    }

    #[test]
    fn a_replay_after_reconnect_keeps_finals_once_and_monotonic() {
        let mut timeline = Timeline::default();
        timeline.sent(0, 3000);
        timeline.map(update(true, 0, 1500, vec![word("a", 100, 600), word("b", 700, 1490)]));
        assert_eq!(timeline.covered_until(), 1500);
        // The connection drops; the new one gets the audio from 1480 ms again (a frame
        // boundary just before what is covered).
        timeline.new_connection();
        timeline.sent(1480, 2000);
        // The provider hears "b"'s tail as a word again, then new words.
        let replayed = timeline.map(update(true, 0, 1800, vec![word("b", 0, 20), word("c", 100, 600), word("d", 700, 1700)]));
        assert_eq!(times(&replayed), vec![("c".into(), 1580, 2080), ("d".into(), 2180, 3180)]);
        assert_eq!(timeline.covered_until(), 3280);
        let interim = timeline.map(update(false, 1800, 2000, vec![word("d", 1000, 1700), word("e", 1800, 1900)]));
        assert_eq!(times(&interim), vec![("e".into(), 3280, 3380)]);
    }
}
