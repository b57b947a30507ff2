//! Live audio through a local recogniser (a batch plugin whose manifest sets `live_policy`,
//! such as whisper-live): the host's side of LocalAgreement-2, in place of the [`super::link`]
//! a cloud provider gets.
//!
//! Frames only append to the buffer of audio whose words are not final yet. On its own
//! instance, off the audio path, the recogniser reads that buffer again every step
//! ([`super::pace`]); the words two readings agree on become final ([`super::agreement`]),
//! the rest is interim text. A pause (the speech detector, or the level gate without one)
//! ends the utterance: its last reading makes every word final and the buffer starts afresh.
//! Long speech without a pause is cut at a committed sentence end. The final words cut out of
//! the buffer go with every reading as its prompt, the text said before its audio, so a name
//! or a spelling stays as it was heard. Words after speech a reading left out
//! ([`super::voiced`]) are not taken, and the next reading goes without the prompt: a step
//! keeps the words before the gap, and an utterance's last reading commits them and reads the
//! rest again, once. A reading that fails is tried again at the next step; a recogniser that
//! keeps failing takes the session offline, and the recording is transcribed as a file after
//! stop, as with a cloud provider. A client's `Finalize` (Deepgram's) closes the utterance at
//! once: the buffer is read, its words answer the request, and the audio after the last word
//! heard stays for the next reading.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::agreement::Agreement;
use super::frames::{Feed, Frame, SAMPLES_PER_MS};
use super::heard::{heard_words, invented};
use super::link::LinkEvent;
use super::pace::{Mode, Pace};
use super::voiced::Voiced;
use crate::clients::stt::{BatchStt, LocalRecogniser, Transcript, TranscriptUpdate, Word};
use crate::plugin::bindings::types::PluginError;
use crate::plugin::handle::CallError;
use crate::retry::Failure;
use crate::sinks::events::LiveStatus;
use crate::speech::silero::{self, Silero, Stream};

/// New audio a step needs before it reads again, ms: less holds no new word.
const MIN_NEW_AUDIO_MS: u64 = 250;
/// Silence kept before speech when the buffer holds none, ms, so a first word is not cut.
const KEEP_SILENCE_MS: u64 = 300;
/// A buffer longer than this, ms, is cut at its last committed sentence end: readings cost
/// in proportion to the buffer.
const TRIM_AFTER_MS: u64 = 10_000;
/// A buffer longer than this, ms, is cut at its last committed word even mid-sentence.
const TRIM_HARD_MS: u64 = 20_000;
/// Speech this long without a pause, ms, is read as an utterance of its own: Whisper reads
/// at most 30 s at once.
const MAX_UTTERANCE_MS: u64 = 28_000;
/// Readings in a row that may fail before the session goes offline.
const MAX_FAILURES: u32 = 3;
/// Most characters of final text a reading gets as its prompt: whisper_streaming's 200, a
/// sentence or two, which steers spelling without the model repeating it.
const MAX_PROMPT_CHARS: usize = 200;
/// Speech probability from which a detector frame holds speech (Silero's own threshold).
const SPEECH_PROBABILITY: f32 = crate::speech::spans::THRESHOLD;

/// Settings of the local policy, from `[live]`.
#[derive(Debug, Clone)]
pub struct LocalSettings {
    pub step: Duration,
    pub pause: Duration,
    pub language: Option<String>,
    /// Longest wait for the last reading after stop.
    pub finish_timeout: Duration,
}

/// Where speech is: Silero when installed, else the level gate's verdict.
enum Detector {
    Silero { stream: Box<Stream<Arc<Silero>>>, carry: Vec<f32> },
    Gate,
}

impl Detector {
    /// Whether `frame` holds speech; `sent` is the level gate's verdict on it.
    fn speech(&mut self, frame: &Frame, sent: bool) -> bool {
        let Detector::Silero { stream, carry } = self else { return sent };
        carry.extend(frame.samples.iter().map(|&s| f32::from(s) / 32768.0));
        let mut speech = false;
        while carry.len() >= silero::FRAME {
            speech |= stream.push(&carry[..silero::FRAME]) >= SPEECH_PROBABILITY;
            carry.drain(..silero::FRAME);
        }
        speech
    }
}

/// What a reading is for.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Interim: commit what agrees with the previous reading.
    Step,
    /// The utterance ended at `upto` samples: commit everything and start afresh there;
    /// `finalize` when a client asked for it ([`LinkEvent::Finalized`]).
    Close { upto: usize, speech_final: bool, finalize: bool },
}

/// A finished reading.
struct Reading {
    recogniser: Option<LocalRecogniser>,
    kind: Kind,
    /// Buffer samples the reading covered.
    samples: usize,
    result: Result<Result<Transcript, PluginError>, CallError>,
    took: Duration,
}

/// The local policy for one session.
pub struct LocalLink {
    stt: BatchStt,
    settings: LocalSettings,
    /// The recogniser's instance; `None` while a reading holds it.
    recogniser: Option<LocalRecogniser>,
    detector: Detector,
    /// Audio whose words are not all final, from `start_ms` on the session's clock.
    buffer: Vec<i16>,
    start_ms: u64,
    /// Words made final since the buffer last started, for cutting at a sentence end.
    committed: Vec<Word>,
    /// The last final words before the buffer (punctuated), at most [`MAX_PROMPT_CHARS`].
    said_before: VecDeque<String>,
    agreement: Agreement,
    pace: Pace,
    /// Buffer samples the last reading covered.
    read_upto: usize,
    /// Where the buffer holds speech.
    voiced: Voiced,
    /// The close being read is the rest of an utterance whose reading left speech out: it
    /// is taken as it is, so a reading that keeps leaving it out cannot loop.
    rereading: bool,
    /// The last reading left speech out: the next one goes without the prompt, which is
    /// what usually made it. Told what was just said, Whisper passes over a speaker
    /// repeating it ("laugh less heartily, so we have still that resource", said twice).
    skipped_last: bool,
    /// The buffer holds speech not yet closed.
    speech: bool,
    silence_ms: u64,
    close: Option<Kind>,
    next_step: Instant,
    reading: Option<JoinHandle<Reading>>,
    failures: u32,
    offline: bool,
    events: Vec<LinkEvent>,
}

impl LocalLink {
    pub fn new(stt: BatchStt, speech: Option<Arc<Silero>>, settings: LocalSettings) -> LocalLink {
        let detector = match speech {
            Some(model) => Detector::Silero { stream: Box::new(model.owned_stream()), carry: Vec::new() },
            None => Detector::Gate,
        };
        LocalLink {
            recogniser: Some(stt.dedicated()),
            pace: Pace::new(settings.step),
            stt,
            settings,
            detector,
            buffer: Vec::new(),
            start_ms: 0,
            committed: Vec::new(),
            said_before: VecDeque::new(),
            agreement: Agreement::default(),
            read_upto: 0,
            voiced: Voiced::default(),
            rereading: false,
            skipped_last: false,
            speech: false,
            silence_ms: 0,
            close: None,
            next_step: Instant::now(),
            reading: None,
            failures: 0,
            offline: false,
            events: Vec::new(),
        }
    }

    pub fn provider(&self) -> &str {
        self.stt.id()
    }

    /// Events since the last call.
    fn take_events(&mut self) -> Vec<LinkEvent> {
        std::mem::take(&mut self.events)
    }

    /// Says how the session will be read.
    fn open(&mut self) {
        let message = format!("{} reads the speech locally every {:.1} s", self.stt.id(), self.settings.step.as_secs_f64());
        self.events.push(LinkEvent::State { status: LiveStatus::Connected, message: Some(message) });
    }

    fn ms(samples: usize) -> u64 {
        samples as u64 / SAMPLES_PER_MS
    }

    fn buffer_ms(&self) -> u64 {
        Self::ms(self.buffer.len())
    }

    /// A frame of the session: appended, and looked at for speech and pauses.
    pub fn push(&mut self, frame: Frame, sent: bool) {
        let speech = self.detector.speech(&frame, sent);
        if self.buffer.is_empty() {
            self.start_ms = frame.start_ms;
        }
        self.buffer.extend_from_slice(&frame.samples);
        if self.offline {
            self.buffer.clear();
            return;
        }
        self.voiced.hear(frame.start_ms, frame.end_ms(), speech);
        if speech {
            self.speech = true;
            self.silence_ms = 0;
        } else {
            self.silence_ms += frame.duration_ms();
        }
        if self.close.is_none() && self.speech {
            let paused = self.silence_ms >= self.settings.pause.as_millis() as u64;
            if paused || self.buffer_ms() >= MAX_UTTERANCE_MS {
                self.close = Some(Kind::Close { upto: self.buffer.len(), speech_final: paused, finalize: false });
                self.speech = false;
            }
        }
        if !self.speech && self.close.is_none() && self.reading.is_none() && self.agreement_is_idle() {
            // Nothing but silence since the last utterance: keep a little of it only.
            let keep = (KEEP_SILENCE_MS * SAMPLES_PER_MS) as usize;
            if self.buffer.len() > 2 * keep {
                self.cut(self.buffer.len() - keep);
            }
        }
    }

    /// No interim words wait for agreement.
    fn agreement_is_idle(&self) -> bool {
        self.read_upto == 0
    }

    /// When the next reading is due: at once for a closed utterance, every step while there
    /// is new speech, never while a reading runs.
    fn next_wake(&self) -> Option<Instant> {
        if self.reading.is_some() || self.offline {
            return None;
        }
        if self.close.is_some() {
            return Some(Instant::now());
        }
        let fresh = Self::ms(self.buffer.len().saturating_sub(self.read_upto)) >= MIN_NEW_AUDIO_MS;
        match self.pace.mode() {
            Mode::Interim(_) if self.speech && fresh => Some(self.next_step),
            _ => None,
        }
    }

    /// Starts the reading that is due.
    fn start_reading(&mut self) {
        if self.reading.is_some() || self.offline {
            return;
        }
        let kind = self.close.take().unwrap_or(Kind::Step);
        let samples = match kind {
            Kind::Step => self.buffer.len(),
            Kind::Close { upto, .. } => upto.min(self.buffer.len()),
        };
        if let Mode::Interim(step) = self.pace.mode() {
            // A step that comes while this reading runs is skipped, not queued.
            self.next_step = Instant::now() + step;
        }
        let pcm: Arc<[u8]> = self.buffer[..samples].iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut recogniser = self.recogniser.take().unwrap_or_else(|| self.stt.dedicated());
        let language = self.settings.language.clone();
        let prompt = if self.skipped_last { None } else { self.prompt() };
        // From the request, not from the task's first poll: on a busy machine the task can
        // wait long to run, and that wait is part of how far behind the readings are.
        let started = Instant::now();
        self.reading = Some(tokio::spawn(async move {
            let result = recogniser.transcribe(pcm, language, prompt).await;
            Reading { recogniser: Some(recogniser), kind, samples, result, took: started.elapsed() }
        }));
    }

    /// The running reading's end; never resolves while none runs. Cancel-safe.
    async fn reading_done(&mut self) -> Reading {
        let Some(task) = &mut self.reading else { return std::future::pending().await };
        let done = task.await;
        self.reading = None;
        done.unwrap_or_else(|err| Reading {
            recogniser: None,
            kind: Kind::Step,
            samples: 0,
            result: Err(CallError::Trap { plugin: self.stt.id().to_string(), message: format!("the reading task failed: {err}") }),
            took: Duration::ZERO,
        })
    }

    /// Takes a finished reading's words.
    fn heard(&mut self, reading: Reading) {
        self.recogniser = reading.recogniser.or_else(|| Some(self.stt.dedicated()));
        let transcript = match reading.result {
            Ok(Ok(transcript)) => transcript,
            Ok(Err(err)) => match Failure::classify(err, self.stt.id()) {
                Failure::Retry { message, .. } => return self.failed(reading.kind, message),
                fatal => return self.go_offline(fatal.into_message()),
            },
            Err(call) => return self.failed(reading.kind, call.to_string()),
        };
        self.failures = 0;
        tracing::debug!(
            plugin = self.stt.id(),
            kind = ?reading.kind,
            from_ms = self.start_ms,
            audio_ms = Self::ms(reading.samples),
            took_ms = reading.took.as_millis() as u64,
            words = transcript.words.len(),
            "live reading"
        );
        let mut words: Vec<Word> = heard_words(transcript.words)
            .into_iter()
            .map(|w| Word { start_ms: w.start_ms + self.start_ms, end_ms: w.end_ms + self.start_ms, ..w })
            .collect();
        let skipped = match (reading.kind, std::mem::take(&mut self.rereading)) {
            (Kind::Close { .. }, true) => None,
            _ => self.voiced.skipped_at(self.start_ms, &words),
        };
        self.skipped_last = skipped.is_some();
        if let Some(at) = skipped {
            tracing::debug!(plugin = self.stt.id(), before = words.get(at).map(|w| w.text.as_str()), "a live reading left speech out");
            words.truncate(at);
        }
        match reading.kind {
            Kind::Step => {
                self.read_upto = reading.samples;
                let heard = self.agreement.hear(words);
                self.commit(heard.committed, false, false);
                let start_ms = self.agreement.committed_until_ms().max(self.start_ms);
                let end_ms = self.start_ms + Self::ms(reading.samples);
                let next_start_ms = heard.interim.first().map(|w| w.start_ms);
                self.events.push(LinkEvent::Update(TranscriptUpdate { words: heard.interim, is_final: false, speech_final: false, start_ms, end_ms }));
                self.trim(next_start_ms);
            }
            Kind::Close { upto, speech_final, finalize } => {
                // The words before the speech left out are final; the rest is read again.
                let again = skipped.map(|at| at.checked_sub(1).map_or(self.start_ms, |last| words[last].end_ms));
                let mut committed = self.agreement.commit_all(words);
                if self.committed.is_empty() && invented(&committed) {
                    // Nothing of the utterance was heard before: a breath or a noise.
                    committed.clear();
                }
                if let Some(heard_until) = again {
                    self.commit(committed, false, false);
                    let samples = ((heard_until.saturating_sub(self.start_ms) * SAMPLES_PER_MS) as usize).min(upto);
                    self.cut(samples);
                    self.read_upto = 0;
                    self.close_later(Kind::Close { upto: upto - samples, speech_final, finalize });
                    self.rereading = true;
                    return self.paced(reading.took, reading.samples);
                }
                if committed.is_empty() && (speech_final || finalize) {
                    // The interim text, if any, is withdrawn: the pause held no words.
                    let at = self.start_ms + Self::ms(upto);
                    self.push_final(TranscriptUpdate { words: Vec::new(), is_final: true, speech_final, start_ms: at, end_ms: at }, finalize);
                }
                // A client's Finalize comes at any moment, often inside a word the reading
                // could not hear whole: the audio after the last word heard is read again
                // with what follows.
                let upto = match (finalize, committed.last()) {
                    (false, _) => upto,
                    (true, None) => 0,
                    (true, Some(last)) => ((last.end_ms.saturating_sub(self.start_ms) * SAMPLES_PER_MS) as usize).min(upto),
                };
                self.commit(committed, speech_final, finalize);
                self.cut(upto);
                self.read_upto = 0;
            }
        }
        self.paced(reading.took, reading.samples);
    }

    /// Tells the pace how long a reading of `samples` took, after the reading's words: they
    /// are the last of the old pace.
    fn paced(&mut self, took: Duration, samples: usize) {
        if let Some(message) = self.pace.reading(took, Duration::from_millis(Self::ms(samples))) {
            let status = if matches!(self.pace.mode(), Mode::Interim(step) if step == self.settings.step) { LiveStatus::Connected } else { LiveStatus::Behind };
            self.events.push(LinkEvent::State { status, message: Some(message) });
        }
    }

    /// Publishes words made final; `finalize` when they answer a client's request.
    fn commit(&mut self, words: Vec<Word>, speech_final: bool, finalize: bool) {
        let (Some(first), Some(last)) = (words.first(), words.last()) else { return };
        let (start_ms, end_ms) = (first.start_ms, last.end_ms);
        self.committed.extend(words.iter().cloned());
        self.push_final(TranscriptUpdate { words, is_final: true, speech_final, start_ms, end_ms }, finalize);
    }

    fn push_final(&mut self, update: TranscriptUpdate, finalize: bool) {
        self.events.push(if finalize { LinkEvent::Finalized(update) } else { LinkEvent::Update(update) });
    }

    /// A client asked for the words so far to be final: the buffer is read now as a closed
    /// utterance, whose words answer it. With nothing to read, the answer is an empty final
    /// at once.
    fn finalize(&mut self) {
        let pending = self.speech || !self.agreement_is_idle() || self.close.is_some() || self.reading.is_some();
        if self.offline || !pending {
            let at = self.start_ms + self.buffer_ms();
            return self.push_final(TranscriptUpdate { words: Vec::new(), is_final: true, speech_final: false, start_ms: at, end_ms: at }, true);
        }
        self.close_later(Kind::Close { upto: self.buffer.len(), speech_final: false, finalize: true });
        self.speech = false;
    }

    /// A long buffer starts again after its last committed sentence (or word, when even
    /// longer), so readings stay short. `next_start_ms` is where the reading's first word
    /// not yet final starts.
    fn trim(&mut self, next_start_ms: Option<u64>) {
        let Some(cut_at) = cut_point(&self.committed, next_start_ms, self.buffer_ms()) else { return };
        let samples = (cut_at.saturating_sub(self.start_ms) * SAMPLES_PER_MS) as usize;
        self.cut(samples.min(self.buffer.len()));
    }

    /// Drops the first `samples` of the buffer.
    fn cut(&mut self, samples: usize) {
        self.buffer.drain(..samples);
        self.start_ms += Self::ms(samples);
        self.read_upto = self.read_upto.saturating_sub(samples);
        let start_ms = self.start_ms;
        let gone = self.committed.iter().position(|w| w.end_ms > start_ms).unwrap_or(self.committed.len());
        for word in self.committed.drain(..gone) {
            remember(&mut self.said_before, word.punctuated);
        }
        self.voiced.forget_before(start_ms);
        if let Some(Kind::Close { upto, .. }) = &mut self.close {
            *upto = upto.saturating_sub(samples);
        }
    }

    /// What was said before the buffer, for the reading's prompt.
    fn prompt(&self) -> Option<String> {
        (!self.said_before.is_empty()).then(|| self.said_before.iter().map(String::as_str).collect::<Vec<_>>().join(" "))
    }

    /// A reading failed in a way that may pass: the next step tries again on a fresh
    /// instance, and an utterance that was being closed is closed then.
    fn failed(&mut self, kind: Kind, message: String) {
        self.failures += 1;
        tracing::warn!(plugin = self.stt.id(), failures = self.failures, "a live reading failed: {message}");
        if self.failures >= MAX_FAILURES {
            return self.go_offline(format!("{} failed {} readings in a row ({message})", self.stt.id(), self.failures));
        }
        self.close_later(kind);
    }

    /// Reads the utterance `kind` closes (if it closes one) at the next chance, with a close
    /// that came meanwhile.
    fn close_later(&mut self, kind: Kind) {
        if let Kind::Close { upto, speech_final, finalize } = kind {
            let merged = match self.close.take() {
                Some(Kind::Close { upto: later, speech_final: pause, finalize: asked }) => {
                    Kind::Close { upto: later.max(upto), speech_final: pause || speech_final, finalize: asked || finalize }
                }
                _ => kind,
            };
            self.close = Some(merged);
        }
    }

    fn go_offline(&mut self, reason: String) {
        if self.offline {
            return;
        }
        tracing::warn!(plugin = self.stt.id(), "live transcription stopped: {reason}; the recording continues");
        self.offline = true;
        self.buffer.clear();
        let message = format!("{reason}; the recording continues and will be transcribed from the file when it stops");
        self.events.push(LinkEvent::State { status: LiveStatus::Offline, message: Some(message) });
    }

    /// The session stopped: the running reading ends, then the rest of the buffer is read
    /// and made final. True when every word of the session is final.
    async fn finish(&mut self) -> bool {
        let deadline = tokio::time::Instant::now() + self.settings.finish_timeout;
        loop {
            if self.reading.is_some() {
                let Ok(reading) = tokio::time::timeout_at(deadline, self.reading_done()).await else { return false };
                self.heard(reading);
            }
            if self.offline {
                return false;
            }
            if self.close.is_none() {
                if self.read_upto == 0 && !self.speech {
                    return true;
                }
                self.close = Some(Kind::Close { upto: self.buffer.len(), speech_final: true, finalize: false });
                self.speech = false;
            }
            self.start_reading();
        }
    }
}

/// Where a buffer of `buffer_ms` with the final words `committed` is cut: after its last
/// sentence end, or when even longer after its last word, but only where the reading heard a
/// word after it (`committed`'s next, or the interim word at `next_start_ms`), and halfway to
/// that word. A cut right at a word's end that nothing was heard after can fall inside the
/// word: "It was the best of time." was a buffer ending in the middle of "times", and the
/// reading after that cut started with its "s" and lost "it was the worst of times".
fn cut_point(committed: &[Word], next_start_ms: Option<u64>, buffer_ms: u64) -> Option<u64> {
    if buffer_ms <= TRIM_AFTER_MS {
        return None;
    }
    let after = |i: usize| committed.get(i + 1).map_or(next_start_ms, |w| Some(w.start_ms));
    let halfway = |i: usize| after(i).map(|next| committed[i].end_ms.midpoint(next.max(committed[i].end_ms)));
    let sentence_end = (0..committed.len()).rev().find(|&i| committed[i].punctuated.ends_with(['.', '?', '!']) && after(i).is_some());
    match sentence_end {
        Some(i) => halfway(i),
        None if buffer_ms > TRIM_HARD_MS => committed.len().checked_sub(1).and_then(halfway),
        None => None,
    }
}

/// Adds `word` to the final text before the buffer, and forgets its oldest words beyond
/// [`MAX_PROMPT_CHARS`].
fn remember(said: &mut VecDeque<String>, word: String) {
    said.push_back(word);
    let mut chars: usize = said.iter().map(|w| w.chars().count() + 1).sum();
    while chars > MAX_PROMPT_CHARS + 1 {
        let Some(oldest) = said.pop_front() else { break };
        chars -= oldest.chars().count() + 1;
    }
}

/// Runs a session's local policy until the capture side is done, then finishes it. True
/// when every word is final.
pub async fn drive(mut local: LocalLink, frames: &mut mpsc::UnboundedReceiver<Feed>, publish: &mut impl FnMut(Vec<LinkEvent>)) -> bool {
    local.open();
    publish(local.take_events());
    loop {
        let wake = local.next_wake();
        tokio::select! {
            frame = frames.recv() => match frame {
                Some(Feed::Frame(frame, sent)) => local.push(frame, sent),
                Some(Feed::Finalize) => local.finalize(),
                None => break,
            },
            reading = local.reading_done() => local.heard(reading),
            () = super::link::sleep_until(wake), if wake.is_some() => local.start_reading(),
        }
        publish(local.take_events());
    }
    let complete = local.finish().await;
    publish(local.take_events());
    complete
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words of `text` 400 ms apart from `start_ms`, each 300 ms long.
    fn words(text: &str, start_ms: u64) -> Vec<Word> {
        let word = |(i, w): (usize, &str)| {
            let start_ms = start_ms + 400 * i as u64;
            Word { text: w.to_lowercase(), punctuated: w.into(), start_ms, end_ms: start_ms + 300, confidence: 0.9, speaker: None }
        };
        text.split_whitespace().enumerate().map(word).collect()
    }

    #[test]
    fn a_long_buffer_is_cut_between_a_sentence_end_and_a_word_heard_after_it() {
        let long = TRIM_AFTER_MS + 1;
        let committed = words("It was the best of times. It was", 0);
        // "times." ends at 2,300 ms; "It" starts at 2,400.
        assert_eq!(cut_point(&committed, None, long), Some(2_350));
        assert_eq!(cut_point(&committed, None, TRIM_AFTER_MS), None, "a short buffer stays");
        // A sentence end that is the last word heard may be where the audio ran out.
        let frontier = words("It was the best of time.", 0);
        assert_eq!(cut_point(&frontier, None, long), None);
        // "time." ends at 2,300 ms.
        assert_eq!(cut_point(&frontier, Some(2_500), long), Some(2_400), "an interim word after it");
        // No sentence end: only a very long buffer is cut, after its last word heard past.
        let clause = words("it was the best of times it was", 0);
        // The last "was" ends at 3,100 ms.
        assert_eq!(cut_point(&clause, Some(3_300), long), None);
        assert_eq!(cut_point(&clause, Some(3_300), TRIM_HARD_MS + 1), Some(3_200));
        assert_eq!(cut_point(&clause, None, TRIM_HARD_MS + 1), None);
        assert_eq!(cut_point(&[], Some(3_300), TRIM_HARD_MS + 1), None);
    }

    #[test]
    fn the_prompt_keeps_the_last_whole_words_within_its_length() {
        let mut said = VecDeque::new();
        for word in "It was the best of times, it was the worst of times.".split(' ') {
            remember(&mut said, word.to_string());
        }
        assert_eq!(said.iter().cloned().collect::<Vec<_>>().join(" "), "It was the best of times, it was the worst of times.");
        let long = "word ".repeat(MAX_PROMPT_CHARS);
        for word in long.split_whitespace() {
            remember(&mut said, word.to_string());
        }
        let prompt = said.iter().cloned().collect::<Vec<_>>().join(" ");
        assert_eq!(prompt.len(), MAX_PROMPT_CHARS - 1, "{prompt}");
        assert!(prompt.starts_with("word word"), "only whole words, the newest: {prompt}");
        remember(&mut said, "x".repeat(2 * MAX_PROMPT_CHARS));
        assert_eq!(said.len(), 0, "a word longer than the prompt is not kept");
    }
}
