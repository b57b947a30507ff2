//! Conversations with known speaker turns, built from real recordings, and the diarization
//! error rate (DER) of a diarizer's turns against them: what the diarizer's tests and its
//! benchmark measure.
//!
//! Each voice's recording is cut into phrases at its pauses (Silero VAD); a conversation
//! takes turns of one or more phrases from each voice in a given order, with a short silence
//! between turns. The reference turns are where the speech of each phrase lands.

use std::ops::Range;
use std::path::Path;

use anyhow::{Context, Result};
use scribed::speech::Silero;

/// Samples per second.
pub const RATE: usize = 16_000;
/// A pause at least this long ends a phrase, Silero frames (≈ 0.3 s).
const PHRASE_PAUSE_FRAMES: usize = 10;
/// Phrases shorter than this are not used (a breath, a click), samples.
const MIN_PHRASE: usize = RATE / 2;
/// Audio kept around a phrase's speech so no word loses its edges, samples (0.1 s).
const PHRASE_MARGIN: usize = RATE / 10;
/// A turn holds phrases of one voice until it lasts at least this long, samples (3 s).
const MIN_TURN: usize = 3 * RATE;
/// Silence between turns, samples (0.5 s).
const TURN_GAP: usize = RATE / 2;
/// Frame of the DER's time grid, ms.
const GRID_MS: u64 = 10;

/// A recording as 16 kHz mono f32, converted by sox.
pub fn samples(path: &Path) -> Result<Vec<f32>> {
    let out = std::process::Command::new("sox")
        .arg(path)
        .args(["-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer", "-t", "raw", "-"])
        .output()
        .context("running sox")?;
    anyhow::ensure!(out.status.success(), "sox: {}", String::from_utf8_lossy(&out.stderr));
    Ok(out.stdout.chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0).collect())
}

/// `text` spoken by espeak-ng's `voice`, as 16 kHz mono f32.
pub fn espeak(voice: &str, text: &str, dir: &Path) -> Result<Vec<f32>> {
    let wav = dir.join(format!("{}.wav", voice.replace(['+', '/'], "_")));
    let ok = std::process::Command::new("espeak-ng").args(["-v", voice, "-w"]).arg(&wav).arg(text).status()?.success();
    anyhow::ensure!(ok, "espeak-ng failed for {voice}");
    samples(&wav)
}

/// One voice: a recording and its phrases.
#[derive(Debug, Clone)]
pub struct Voice {
    pub audio: Vec<f32>,
    pub phrases: Vec<Range<usize>>,
}

impl Voice {
    pub fn new(audio: Vec<f32>, vad: &Silero) -> Voice {
        let phrases = phrases(&audio, vad);
        Voice { audio, phrases }
    }
}

/// moonshine-voice's human readers: `two_cities.wav` and `beckett.wav` are one reader,
/// `endgame_nagg_nell.wav` another.
pub const TWO_CITIES: &str = "two_cities.wav";
pub const BECKETT: &str = "beckett.wav";
pub const ENDGAME: &str = "endgame_nagg_nell.wav";

/// A moonshine-voice clip as a voice.
pub async fn human_voice(clip: &str, vad: &Silero) -> Result<Voice> {
    let dir = crate::human_speech().await?.parent().context("the clips' folder")?.to_path_buf();
    Ok(Voice::new(samples(&dir.join(clip))?, vad))
}

/// A passage read by espeak-ng's `voice`: long enough for several turns, and with one
/// promise ("I will send the notes") a summary turns into an action item.
pub fn synthetic_voice(voice: &str, vad: &Silero) -> Result<Voice> {
    let dir = tempfile::tempdir()?;
    let text = "The meeting starts at nine. We have three items today. First, the budget for next year, \
        which is still open. Second, the new office, which opens in March. Third, the hiring plan. \
        I will send the notes after lunch. Please read them before Friday. Any questions so far? \
        Then let us begin with the budget. The numbers are on the shared drive.";
    Ok(Voice::new(espeak(voice, text, dir.path())?, vad))
}

/// A conversation as a 16 kHz mono 16-bit WAV file.
pub fn wav(audio: &[f32]) -> Vec<u8> {
    let pcm: Vec<i16> = audio.iter().map(|s| (s * 32768.0).clamp(-32768.0, 32767.0) as i16).collect();
    crate::corpus::wav(RATE as u32, 1, &pcm)
}

/// The phrases of a recording: spans of speech between pauses, in samples.
pub fn phrases(audio: &[f32], vad: &Silero) -> Vec<Range<usize>> {
    let frame = scribed::speech::silero::FRAME;
    let mut stream = vad.stream();
    let speech: Vec<bool> = audio.chunks(frame).map(|f| stream.push(f) >= 0.5).collect();
    let mut out: Vec<Range<usize>> = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    for (i, &s) in speech.iter().enumerate() {
        if !s {
            continue;
        }
        current = match current {
            Some((start, end)) if i - end <= PHRASE_PAUSE_FRAMES => Some((start, i)),
            Some((start, end)) => {
                out.push(start * frame..(end + 1) * frame);
                Some((i, i))
            }
            None => Some((i, i)),
        };
    }
    if let Some((start, end)) = current {
        out.push(start * frame..((end + 1) * frame).min(audio.len()));
    }
    out.retain(|p| p.len() >= MIN_PHRASE);
    out
}

/// One reference turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Turn {
    pub start_ms: u64,
    pub end_ms: u64,
    pub speaker: usize,
}

/// A conversation and its reference turns.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub audio: Vec<f32>,
    pub turns: Vec<Turn>,
}

fn ms(samples: usize) -> u64 {
    (samples * 1000 / RATE) as u64
}

/// Turns taken by `voices` (each a recording and its phrases) in `order`, each turn at
/// least [`MIN_TURN`] of one voice's next phrases, until a voice the order names runs out.
pub fn conversation(voices: &[&Voice], order: &[usize]) -> Conversation {
    let mut next = vec![0usize; voices.len()];
    let mut audio = vec![0.0f32; TURN_GAP];
    let mut turns = Vec::new();
    for &speaker in order {
        let (recording, phrases) = (&voices[speaker].audio, &voices[speaker].phrases);
        let start = audio.len();
        let mut taken = 0;
        while taken < MIN_TURN && next[speaker] < phrases.len() {
            let phrase = &phrases[next[speaker]];
            next[speaker] += 1;
            let from = phrase.start.saturating_sub(PHRASE_MARGIN);
            let to = (phrase.end + PHRASE_MARGIN).min(recording.len());
            if taken > 0 {
                audio.extend(std::iter::repeat_n(0.0, PHRASE_MARGIN));
            }
            let at = audio.len();
            audio.extend_from_slice(&recording[from..to]);
            // One turn for the whole run of phrases: the pauses inside a turn are the
            // speaker's own.
            let (speech_start, speech_end) = (at + phrase.start - from, at + phrase.end - from);
            match turns.last_mut() {
                Some(Turn { end_ms, speaker: s, .. }) if *s == speaker && taken > 0 => *end_ms = ms(speech_end),
                _ => turns.push(Turn { start_ms: ms(speech_start), end_ms: ms(speech_end), speaker }),
            }
            taken += phrase.len();
        }
        if audio.len() == start {
            break;
        }
        audio.extend(std::iter::repeat_n(0.0, TURN_GAP));
    }
    Conversation { audio, turns }
}

/// `talk` repeated until it lasts `seconds`, with its reference turns shifted along.
pub fn repeated(talk: &Conversation, seconds: usize) -> Conversation {
    let mut audio = Vec::with_capacity(seconds * RATE);
    let mut reference = Vec::new();
    while audio.len() < seconds * RATE {
        let offset = (audio.len() * 1000 / RATE) as u64;
        reference.extend(talk.turns.iter().map(|t| Turn { start_ms: t.start_ms + offset, end_ms: t.end_ms + offset, speaker: t.speaker }));
        audio.extend_from_slice(&talk.audio);
    }
    Conversation { audio, turns: reference }
}

/// Diarization error rate, in percent: missed speech, false alarms and speaker confusion
/// over the reference's speech time, on a 10 ms grid, with `collar_ms` either side of every
/// reference boundary left out, under the mapping of hypothesis speakers to reference ones
/// that fits best.
pub fn der(reference: &[Turn], hypothesis: &[Turn], collar_ms: u64) -> f64 {
    let end = reference.iter().chain(hypothesis).map(|t| t.end_ms).max().unwrap_or(0);
    let cells = (end / GRID_MS + 1) as usize;
    let speakers = |turns: &[Turn]| turns.iter().map(|t| t.speaker + 1).max().unwrap_or(0);
    let (n_ref, n_hyp) = (speakers(reference), speakers(hypothesis));
    let grid = |turns: &[Turn], n: usize| {
        let mut g = vec![vec![false; n]; cells];
        for t in turns {
            for cell in g.iter_mut().take((t.end_ms / GRID_MS) as usize).skip((t.start_ms / GRID_MS) as usize) {
                cell[t.speaker] = true;
            }
        }
        g
    };
    let (r, h) = (grid(reference, n_ref), grid(hypothesis, n_hyp));
    let mut scored = vec![true; cells];
    for t in reference {
        for edge in [t.start_ms, t.end_ms] {
            let (from, to) = (edge.saturating_sub(collar_ms) / GRID_MS, (edge + collar_ms) / GRID_MS);
            for cell in scored.iter_mut().take(to as usize + 1).skip(from as usize) {
                *cell = false;
            }
        }
    }
    // Every injective mapping of hypothesis speakers to reference speakers (or to none).
    let mut best = f64::INFINITY;
    let mut mapping = vec![None; n_hyp];
    fn each(i: usize, n_ref: usize, mapping: &mut Vec<Option<usize>>, f: &mut dyn FnMut(&[Option<usize>])) {
        if i == mapping.len() {
            return f(mapping);
        }
        for choice in std::iter::once(None).chain((0..n_ref).map(Some)) {
            if choice.is_some() && mapping[..i].contains(&choice) {
                continue;
            }
            mapping[i] = choice;
            each(i + 1, n_ref, mapping, f);
        }
    }
    let mut total = 0.0;
    for c in 0..cells {
        if scored[c] {
            total += r[c].iter().filter(|x| **x).count() as f64;
        }
    }
    each(0, n_ref, &mut mapping, &mut |map| {
        let mut errors = 0.0;
        for c in (0..cells).filter(|&c| scored[c]) {
            let n_r = r[c].iter().filter(|x| **x).count();
            let n_h = h[c].iter().filter(|x| **x).count();
            let correct = (0..n_hyp).filter(|&s| h[c][s] && map[s].is_some_and(|m| r[c][m])).count();
            errors += (n_r.max(n_h) - correct) as f64;
        }
        best = best.min(errors);
    });
    100.0 * best / total.max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(start_ms: u64, end_ms: u64, speaker: usize) -> Turn {
        Turn { start_ms, end_ms, speaker }
    }

    #[test]
    fn der_counts_miss_false_alarm_and_confusion_under_the_best_mapping() {
        let reference = [t(0, 1000, 0), t(1000, 2000, 1)];
        // Labels swapped: no error.
        assert_eq!(der(&reference, &[t(0, 1000, 1), t(1000, 2000, 0)], 0), 0.0);
        // The second half missed.
        assert_eq!(der(&reference, &[t(0, 1000, 0)], 0), 50.0);
        // Everything given to one speaker: half confused.
        assert_eq!(der(&reference, &[t(0, 2000, 0)], 0), 50.0);
        // A boundary 100 ms off counts nothing inside a 250 ms collar.
        assert_eq!(der(&reference, &[t(0, 1100, 0), t(1100, 2000, 1)], 250), 0.0);
        // Speech where there is none is a false alarm.
        assert_eq!(der(&reference, &[t(0, 1000, 0), t(1000, 3000, 1)], 0), 50.0);
    }
}
