//! A whole recording to speaker turns, pyannote's way with CAM++ embeddings:
//!
//! 1. Silero VAD finds the speech; windows without any are skipped (silence costs nothing).
//! 2. Overlapping 10 s windows go through the segmentation network, a batch at a time: each
//!    frame of each window gets its active local speakers.
//! 3. Each local speaker of each window is embedded from the audio of the frames where it
//!    speaks alone (all its frames when those are too few).
//! 4. The embeddings are clustered; each window's local speakers are then assigned to
//!    distinct clusters, the best match first.
//! 5. Every frame of the recording gets as many speakers as the windows over it heard on
//!    average, the ones with the most weight; runs of frames become turns.

use scribe_silero::Silero;

use crate::Error;
use crate::campplus::CamPlus;
use crate::cluster::{self, SpeakerCount};
use crate::fbank::Fbank;
use crate::pth::Checkpoint;
use crate::segmentation::{self, FRAME_SPAN, FRAME_STEP, FRAMES, LOCAL_SPEAKERS, SAMPLE_RATE, Segmentation, WINDOW};

/// Samples between the starts of two windows: 5 s, so every frame is seen by two windows
/// (pyannote steps 1 s; a fifth of the windows, and of the embeddings, is the difference
/// between tens of minutes and minutes for an hour of audio on a small machine).
const STEP: usize = 5 * SAMPLE_RATE;
/// Windows run through the segmentation network at once.
const BATCH: usize = 8;
/// A frame at or above this Silero probability is speech (Silero's default).
const VAD_THRESHOLD: f32 = 0.5;
/// Fewest frames a local speaker needs for an embedding (≈ 0.25 s); a speaker heard less in
/// a window is left to the other windows over it.
const MIN_EMBED_FRAMES: usize = 15;
/// Most audio one embedding is computed from, samples (3 s): a longer stretch adds cost and
/// little certainty. The embeddings are most of the cost, but at 1.5 s (the subsegment
/// 3D-Speaker's own diarization embeds) a reader doing two characters became two speakers.
const MAX_EMBED_SAMPLES: usize = 3 * SAMPLE_RATE;
/// Offset of a frame's own 270 samples in its receptive field: the centre step.
const FRAME_CENTRE: usize = (FRAME_SPAN - FRAME_STEP) / 2;
/// Turns of one speaker this close together are one turn, frames (≈ 0.25 s).
const MIN_GAP_FRAMES: usize = 15;
/// Turns shorter than this are dropped, frames (≈ 0.1 s).
const MIN_TURN_FRAMES: usize = 6;

/// The networks, loaded once.
#[derive(Debug)]
pub struct Models {
    pub vad: Silero,
    pub segmentation: Segmentation,
    pub embedder: CamPlus,
    pub fbank: Fbank,
}

/// The model folder's files.
pub const SEGMENTATION_FILE: &str = "pytorch_model.bin";
pub const EMBEDDING_FILE: &str = "campplus_cn_en_common.pt";
pub const VAD_FILE: &str = "silero_vad_16k.safetensors";

impl Models {
    /// Loads the networks from the model folder's files, each read whole by `read`.
    pub fn load(mut read: impl FnMut(&str) -> Result<Vec<u8>, String>) -> Result<Models, Error> {
        let unusable = |file: &str, message: String| Error::Model { file: file.to_owned(), message };
        let mut checkpoint = |file: &str| -> Result<Checkpoint, Error> {
            let bytes = read(file).map_err(|m| unusable(file, m))?;
            Checkpoint::read(file, &bytes).map_err(|e| unusable(file, e.to_string()))
        };
        let segmentation = Segmentation::load(&checkpoint(SEGMENTATION_FILE)?).map_err(|e| unusable(SEGMENTATION_FILE, e.to_string()))?;
        let embedder = CamPlus::load(&checkpoint(EMBEDDING_FILE)?).map_err(|e| unusable(EMBEDDING_FILE, e.to_string()))?;
        let vad = read(VAD_FILE).map_err(|m| unusable(VAD_FILE, m)).and_then(|bytes| Silero::from_bytes(&bytes).map_err(|e| unusable(VAD_FILE, e.to_string())))?;
        Ok(Models { vad, segmentation, embedder, fbank: Fbank::new() })
    }
}

/// One stretch of one speaker.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub start_ms: u64,
    pub end_ms: u64,
    /// Index into [`Diarization::speakers`].
    pub speaker: usize,
}

/// The outcome: turns in time order, and per speaker the mean of its embeddings.
#[derive(Debug, Clone, Default)]
pub struct Diarization {
    pub turns: Vec<Turn>,
    /// One normalised embedding per speaker, in order of first speech.
    pub speakers: Vec<Vec<f32>>,
    /// What the caller asked for but did not get (a count the audio does not support).
    pub warnings: Vec<String>,
}

/// How far a long diarization has come, as a fraction.
pub trait Progress {
    fn advance(&mut self, done: f32);
}

impl<F: FnMut(f32)> Progress for F {
    fn advance(&mut self, done: f32) {
        self(done)
    }
}

/// Share of the work the speech detector is counted for in progress reports.
const VAD_SHARE: f32 = 0.1;
/// Share of the segmentation network.
const SEGMENTATION_SHARE: f32 = 0.4;

/// Start samples of the windows over `len` samples: every [`STEP`], and one more ending at
/// the end when the steps miss it.
fn window_starts(len: usize) -> Vec<usize> {
    if len <= WINDOW {
        return vec![0];
    }
    let mut starts: Vec<usize> = (0..=(len - WINDOW) / STEP).map(|i| i * STEP).collect();
    if starts.last().is_some_and(|&s| s + WINDOW < len) {
        starts.push(len - WINDOW);
    }
    starts
}

/// A window's samples, zero-padded past the end of the recording.
fn window(samples: &[f32], start: usize) -> Vec<f32> {
    let mut w = vec![0.0f32; WINDOW];
    let end = (start + WINDOW).min(samples.len());
    w[..end - start].copy_from_slice(&samples[start..end]);
    w
}

/// One local speaker of one window.
struct Local {
    window: usize,
    speaker: usize,
    embedding: Vec<f32>,
    /// Frames it speaks in (the embedding's weight).
    frames: usize,
}

pub fn diarize(models: &Models, samples: &[f32], count: SpeakerCount, progress: &mut dyn Progress) -> Result<Diarization, Error> {
    // 1. Speech.
    let mut stream = models.vad.stream();
    let speech: Vec<bool> = samples.chunks(scribe_silero::FRAME).map(|frame| stream.push(frame) >= VAD_THRESHOLD).collect();
    progress.advance(VAD_SHARE);
    let has_speech = |start: usize| {
        let (from, to) = (start / scribe_silero::FRAME, (start + WINDOW).div_ceil(scribe_silero::FRAME).min(speech.len()));
        speech[from.min(to)..to].iter().any(|s| *s)
    };
    let starts: Vec<usize> = window_starts(samples.len()).into_iter().filter(|&s| has_speech(s)).collect();
    if starts.is_empty() {
        progress.advance(1.0);
        return Ok(Diarization::default());
    }

    // 2. Local speakers per window and frame.
    let mut active: Vec<Vec<[bool; LOCAL_SPEAKERS]>> = Vec::with_capacity(starts.len());
    for (b, batch) in starts.chunks(BATCH).enumerate() {
        let windows: Vec<Vec<f32>> = batch.iter().map(|&s| window(samples, s)).collect();
        let refs: Vec<&[f32]> = windows.iter().map(Vec::as_slice).collect();
        let log_probs = models.segmentation.forward(&refs)?;
        for w in 0..batch.len() {
            let frames = (0..FRAMES)
                .map(|f| {
                    let at = (w * FRAMES + f) * segmentation::CLASSES;
                    let mut on = [false; LOCAL_SPEAKERS];
                    for &k in segmentation::active_speakers(&log_probs[at..at + segmentation::CLASSES]) {
                        on[k] = true;
                    }
                    on
                })
                .collect();
            active.push(frames);
        }
        let done = ((b + 1) * BATCH).min(starts.len()) as f32 / starts.len() as f32;
        progress.advance(VAD_SHARE + SEGMENTATION_SHARE * done);
    }

    // 3. Embeddings.
    let mut locals = Vec::new();
    for (w, frames) in active.iter().enumerate() {
        for k in 0..LOCAL_SPEAKERS {
            let alone: Vec<usize> = (0..FRAMES).filter(|&f| frames[f][k] && frames[f].iter().filter(|x| **x).count() == 1).collect();
            let all: Vec<usize> = (0..FRAMES).filter(|&f| frames[f][k]).collect();
            let chosen = if alone.len() >= MIN_EMBED_FRAMES { &alone } else { &all };
            if chosen.len() < MIN_EMBED_FRAMES {
                continue;
            }
            let audio = frames_audio(samples, starts[w], chosen);
            let embedding = models.embedder.embed(&models.fbank.compute(&audio))?;
            locals.push(Local { window: w, speaker: k, embedding: cluster::normalized(&embedding), frames: all.len() });
        }
        progress.advance(VAD_SHARE + SEGMENTATION_SHARE + (1.0 - VAD_SHARE - SEGMENTATION_SHARE) * (w + 1) as f32 / active.len() as f32);
    }
    if locals.is_empty() {
        return Ok(Diarization::default());
    }

    // 4. Clusters, then distinct clusters within each window.
    let embeddings: Vec<Vec<f32>> = locals.iter().map(|l| l.embedding.clone()).collect();
    let weights: Vec<f32> = locals.iter().map(|l| l.frames as f32).collect();
    let labels = cluster::cluster(&embeddings, &weights, count);
    let clusters = labels.iter().max().map_or(0, |m| m + 1);
    let mut centroids = vec![vec![0.0f32; embeddings[0].len()]; clusters];
    for (l, &c) in locals.iter().zip(&labels) {
        for (sum, x) in centroids[c].iter_mut().zip(&l.embedding) {
            *sum += x * l.frames as f32;
        }
    }
    let mut assigned = vec![[None; LOCAL_SPEAKERS]; starts.len()];
    for (w, slots) in assigned.iter_mut().enumerate() {
        let mine: Vec<&Local> = locals.iter().filter(|l| l.window == w).collect();
        let similarity: Vec<Vec<f32>> = mine.iter().map(|l| centroids.iter().map(|c| cluster::cosine(&l.embedding, c)).collect()).collect();
        for (l, c) in mine.iter().zip(cluster::assign(&similarity)) {
            slots[l.speaker] = c;
        }
    }

    // 5. Frames of the whole recording, then turns.
    let total_frames = samples.len().div_ceil(FRAME_STEP).max(FRAMES);
    let mut score = vec![vec![0.0f32; clusters]; total_frames];
    let mut heard = vec![0.0f32; total_frames];
    let mut weight = vec![0.0f32; total_frames];
    let hamming: Vec<f32> = (0..FRAMES).map(|i| 0.54 - 0.46 * (2.0 * std::f32::consts::PI * i as f32 / (FRAMES - 1) as f32).cos()).collect();
    for (w, frames) in active.iter().enumerate() {
        let first = (starts[w] as f32 / FRAME_STEP as f32).round() as usize;
        for (i, on) in frames.iter().enumerate() {
            let Some(g) = first.checked_add(i).filter(|g| *g < total_frames) else { break };
            weight[g] += hamming[i];
            heard[g] += hamming[i] * on.iter().filter(|x| **x).count() as f32;
            for k in 0..LOCAL_SPEAKERS {
                if let (true, Some(c)) = (on[k], assigned[w][k]) {
                    score[g][c] += hamming[i];
                }
            }
        }
    }
    let mut runs: Vec<Vec<(usize, usize)>> = vec![Vec::new(); clusters];
    for g in 0..total_frames {
        if weight[g] <= 0.0 {
            continue;
        }
        let speakers = (heard[g] / weight[g]).round() as usize;
        let mut order: Vec<usize> = (0..clusters).filter(|&c| score[g][c] > 0.0).collect();
        order.sort_by(|&a, &b| score[g][b].total_cmp(&score[g][a]));
        for &c in order.iter().take(speakers) {
            match runs[c].last_mut() {
                Some((_, end)) if g <= *end + MIN_GAP_FRAMES => *end = g + 1,
                _ => runs[c].push((g, g + 1)),
            }
        }
    }
    let mut result = turns(&runs, &centroids, samples.len());
    if let SpeakerCount::Exact(k) | SpeakerCount::Between { min: k, .. } = count
        && result.speakers.len() < k
    {
        result.warnings.push(format!("{k} speakers were asked for, but the audio holds only {} distinct voices", result.speakers.len()));
    }
    progress.advance(1.0);
    Ok(result)
}

/// The audio of `frames` (indices into a window starting at `start`): each frame's own
/// centre step, contiguous frames as one stretch, at most [`MAX_EMBED_SAMPLES`].
fn frames_audio(samples: &[f32], start: usize, frames: &[usize]) -> Vec<f32> {
    let mut audio = Vec::new();
    for &f in frames {
        let from = start + f * FRAME_STEP + FRAME_CENTRE;
        let to = (from + FRAME_STEP).min(samples.len());
        if from >= to {
            break;
        }
        audio.extend_from_slice(&samples[from..to]);
        if audio.len() >= MAX_EMBED_SAMPLES {
            audio.truncate(MAX_EMBED_SAMPLES);
            break;
        }
    }
    audio
}

/// Runs of frames per cluster → turns in time order, speakers numbered by first speech.
fn turns(runs: &[Vec<(usize, usize)>], centroids: &[Vec<f32>], len: usize) -> Diarization {
    let to_ms = |frame: usize| ((frame * FRAME_STEP + FRAME_CENTRE).min(len) as u64 * 1000) / SAMPLE_RATE as u64;
    let mut all: Vec<(usize, usize, usize)> =
        runs.iter().enumerate().flat_map(|(c, r)| r.iter().filter(|(s, e)| e - s >= MIN_TURN_FRAMES).map(move |&(s, e)| (s, e, c))).collect();
    all.sort();
    let mut numbers: Vec<Option<usize>> = vec![None; centroids.len()];
    let mut speakers = Vec::new();
    let turns = all
        .into_iter()
        .map(|(s, e, c)| {
            let speaker = *numbers[c].get_or_insert_with(|| {
                speakers.push(cluster::normalized(&centroids[c]));
                speakers.len() - 1
            });
            Turn { start_ms: to_ms(s), end_ms: to_ms(e), speaker }
        })
        .collect();
    Diarization { turns, speakers, warnings: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_recording_to_its_end() {
        assert_eq!(window_starts(100), vec![0]);
        assert_eq!(window_starts(WINDOW), vec![0]);
        assert_eq!(window_starts(WINDOW + STEP), vec![0, STEP]);
        assert_eq!(window_starts(WINDOW + STEP + 7), vec![0, STEP, STEP + 7]);
    }
}
