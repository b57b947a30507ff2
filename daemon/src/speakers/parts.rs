//! A long recording diarized on all of the diarizer's instances at once: it is cut into as
//! many equal parts as there are instances (each at least [`MIN_PART`]), the parts run side
//! by side, and their speakers are then linked by voice into the recording's speakers.
//!
//! Each part comes back with its turns and one mean embedding per speaker. Two speakers of
//! different parts are one person when their voices are as alike as a voice profile's
//! ([`SAME_VOICE`]): the parts' speakers are merged, most alike first, with centroid linkage
//! weighted by speech, and never two speakers of one part (its own clustering already told
//! them apart). A requested count is honoured the same way: the parts are asked for at most
//! that many, and the linking merges on down to it. A turn the cut splits in two is joined
//! again.

use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::voices::{SAME_VOICE, cosine, normalized};
use crate::clients::diarizer::{DiarizeOutcome, Diarization, Diarizer, SpeakerCount, SpeakerTurn};
use crate::plugin::capabilities::audio::AudioInput;
use crate::plugin::capabilities::work_progress::WorkSink;

/// Shortest part worth its own instance: a part needs enough of each voice for its
/// clustering (a few minutes of a meeting holds every regular speaker), and below this the
/// time saved is seconds.
pub const MIN_PART: Duration = Duration::from_secs(10 * 60);
/// Bytes of canonical PCM per second (16 kHz mono 16-bit).
const PCM_BYTES_PER_SECOND: u64 = 32_000;
/// Bytes per sample: parts are cut between samples.
const SAMPLE_BYTES: u64 = 2;

/// Diarizes `pcm` (canonical 16 kHz mono s16le) on as many of `diarizer`'s instances as it
/// has and the length allows, in parts of at least `min_part` ([`MIN_PART`] in the daemon);
/// the fraction done of all parts together goes to `progress`.
pub async fn diarize(diarizer: &Diarizer, pcm: AudioInput, count: SpeakerCount, min_part: Duration, progress: WorkSink) -> DiarizeOutcome {
    let parts = cuts(pcm.size, diarizer.instances(), min_part);
    if parts.len() < 2 {
        return diarizer.diarize(pcm, count, progress).await;
    }
    let per_part = match count {
        SpeakerCount::Any => SpeakerCount::Any,
        SpeakerCount::Exact(n) | SpeakerCount::Between((_, n)) => SpeakerCount::Between((1, n)),
    };
    let done = Arc::new(Mutex::new(vec![0.0f64; parts.len()]));
    let calls: Vec<_> = parts.iter().enumerate().map(|(i, range)| {
        let (diarizer, input, done, progress) = (diarizer.clone(), pcm.part(range.clone()), done.clone(), progress.clone());
        let sink = WorkSink::new(move |fraction| {
            let mut done = done.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            done[i] = fraction;
            progress.report(done.iter().sum::<f64>() / done.len() as f64);
        });
        async move { diarizer.diarize(input, per_part, sink).await }
    }).collect();
    let results = futures_util::future::join_all(calls).await;
    let mut found = Vec::with_capacity(parts.len());
    for (result, range) in results.into_iter().zip(&parts) {
        match result {
            Ok(Ok(diarization)) => found.push((range.start * 1000 / PCM_BYTES_PER_SECOND, diarization)),
            failed => return failed,
        }
    }
    Ok(Ok(link(found, count)))
}

/// The parts of `size` bytes for `instances`: equal, whole samples, each at least
/// `min_part` long.
fn cuts(size: u64, instances: usize, min_part: Duration) -> Vec<Range<u64>> {
    let samples = size / SAMPLE_BYTES;
    let by_length = (size / (min_part.as_secs().max(1) * PCM_BYTES_PER_SECOND)).max(1);
    let n = by_length.min(instances.max(1) as u64);
    (0..n).map(|i| (samples * i / n * SAMPLE_BYTES)..(samples * (i + 1) / n * SAMPLE_BYTES)).collect()
}

/// One part's speaker as the linking sees it.
struct Voice {
    /// Weighted sum of the members' embeddings: its direction is the centroid's.
    sum: Vec<f32>,
    /// The parts whose speakers it holds.
    parts: Vec<usize>,
}

/// The parts' diarizations (each with its start, ms) as one: speakers linked across parts,
/// turns moved to the recording's time, speakers numbered by first speech.
fn link(parts: Vec<(u64, Diarization)>, count: SpeakerCount) -> Diarization {
    let dimension = parts.iter().map(|(_, d)| d.dimension).max().unwrap_or(0);
    // Every part's speakers, weighted by how long they speak.
    let mut voices: Vec<Voice> = Vec::new();
    // Where each part's speakers start among `voices`.
    let mut first: Vec<usize> = Vec::with_capacity(parts.len());
    for (p, (_, d)) in parts.iter().enumerate() {
        let mut spoken = vec![0u64; d.speakers.len()];
        for t in &d.turns {
            if let Some(ms) = spoken.get_mut(t.speaker as usize) {
                *ms += t.end_ms.saturating_sub(t.start_ms);
            }
        }
        first.push(voices.len());
        for (embedding, ms) in d.speakers.iter().zip(spoken) {
            let weight = ms.max(1) as f32;
            voices.push(Voice { sum: normalized(embedding).iter().map(|x| x * weight).collect(), parts: vec![p] });
        }
    }
    let max = match count {
        SpeakerCount::Any => usize::MAX,
        SpeakerCount::Exact(n) | SpeakerCount::Between((_, n)) => n.max(1) as usize,
    };
    // Merge the most alike pair of clusters from different parts while they are one voice,
    // or while there are more than the caller allows.
    // A merged-away voice has no parts left.
    let alive = |voices: &[Voice], v: usize| !voices[v].parts.is_empty();
    let mut cluster: Vec<usize> = (0..voices.len()).collect();
    loop {
        let live = (0..voices.len()).filter(|&v| alive(&voices, v)).count();
        let mut best: Option<(f32, usize, usize)> = None;
        for a in (0..voices.len()).filter(|&a| alive(&voices, a)) {
            for b in (a + 1..voices.len()).filter(|&b| alive(&voices, b)) {
                if voices[a].parts.iter().any(|p| voices[b].parts.contains(p)) {
                    continue;
                }
                let similarity = cosine(&voices[a].sum, &voices[b].sum);
                if best.is_none_or(|(s, _, _)| similarity > s) {
                    best = Some((similarity, a, b));
                }
            }
        }
        let Some((similarity, keep, gone)) = best else { break };
        if similarity < SAME_VOICE && live <= max {
            break;
        }
        let absorbed = std::mem::take(&mut voices[gone].sum);
        for (into, x) in voices[keep].sum.iter_mut().zip(absorbed) {
            *into += x;
        }
        let parts_gone = std::mem::take(&mut voices[gone].parts);
        voices[keep].parts.extend(parts_gone);
        for c in cluster.iter_mut().filter(|c| **c == gone) {
            *c = keep;
        }
    }
    // Turns in recording time, then speakers numbered by first speech.
    let mut turns: Vec<(u64, u64, usize)> = Vec::new();
    for (p, (start, d)) in parts.iter().enumerate() {
        for t in d.turns.iter().filter(|t| (t.speaker as usize) < d.speakers.len()) {
            turns.push((start + t.start_ms, start + t.end_ms, cluster[first[p] + t.speaker as usize]));
        }
    }
    turns.sort_unstable();
    let mut numbers: Vec<Option<u32>> = vec![None; voices.len()];
    let mut speakers: Vec<Vec<f32>> = Vec::new();
    let mut joined: Vec<SpeakerTurn> = Vec::with_capacity(turns.len());
    for (start_ms, end_ms, c) in turns {
        let speaker = *numbers[c].get_or_insert_with(|| {
            speakers.push(normalized(&voices[c].sum));
            speakers.len() as u32 - 1
        });
        // A turn the cut split: the same speaker again where its last turn ended.
        match joined.iter_mut().rev().find(|t| t.speaker == speaker) {
            Some(last) if last.end_ms >= start_ms => last.end_ms = last.end_ms.max(end_ms),
            _ => joined.push(SpeakerTurn { start_ms, end_ms, speaker }),
        }
    }
    let mut warnings: Vec<String> = parts.iter().flat_map(|(_, d)| d.warnings.iter().cloned()).collect();
    if let SpeakerCount::Exact(k) | SpeakerCount::Between((k, _)) = count
        && speakers.len() < k as usize
    {
        warnings.push(format!("{k} speakers were asked for, but the audio holds only {} distinct voices", speakers.len()));
    }
    warnings.sort();
    warnings.dedup();
    Diarization { turns: joined, speakers, dimension, warnings }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(angle: f32) -> Vec<f32> {
        vec![angle.cos(), angle.sin()]
    }

    fn part(turns: &[(u64, u64, u32)], speakers: Vec<Vec<f32>>) -> Diarization {
        Diarization {
            turns: turns.iter().map(|&(start_ms, end_ms, speaker)| SpeakerTurn { start_ms, end_ms, speaker }).collect(),
            speakers,
            dimension: 2,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn parts_are_equal_whole_samples_and_long_enough() {
        let minute = 60 * PCM_BYTES_PER_SECOND;
        assert_eq!(cuts(5 * minute, 4, MIN_PART), vec![0..5 * minute], "shorter than two parts: one call");
        assert_eq!(cuts(60 * minute, 1, MIN_PART), vec![0..60 * minute]);
        assert_eq!(cuts(60 * minute, 2, MIN_PART), vec![0..30 * minute, 30 * minute..60 * minute]);
        assert_eq!(cuts(25 * minute, 8, MIN_PART).len(), 2, "each part at least ten minutes");
        let odd = cuts(20 * minute + 6, 2, MIN_PART);
        assert!(odd.iter().all(|r| r.start % SAMPLE_BYTES == 0 && r.end % SAMPLE_BYTES == 0));
        assert_eq!(odd.last().map(|r| r.end), Some(20 * minute + 6));
    }

    #[test]
    fn the_same_voice_in_two_parts_is_one_speaker_and_a_split_turn_is_joined() {
        // Part one: A then B; part two (from 600 s): B, whose turn crossed the cut, then A.
        let one = part(&[(0, 300_000, 0), (300_000, 600_000, 1)], vec![unit(0.0), unit(2.0)]);
        let two = part(&[(0, 100_000, 0), (100_000, 600_000, 1)], vec![unit(2.05), unit(0.1)]);
        let d = link(vec![(0, one), (600_000, two)], SpeakerCount::Any);
        let turns: Vec<(u64, u64, u32)> = d.turns.iter().map(|t| (t.start_ms, t.end_ms, t.speaker)).collect();
        assert_eq!(turns, vec![(0, 300_000, 0), (300_000, 700_000, 1), (700_000, 1_200_000, 0)]);
        assert_eq!(d.speakers.len(), 2);
        assert!(cosine(&d.speakers[0], &unit(0.05)) > 0.99);
    }

    #[test]
    fn speakers_of_one_part_are_never_merged_and_a_new_voice_stays_apart() {
        // Two alike speakers within part one stay two; part two's far voice is a third.
        let one = part(&[(0, 1000, 0), (1000, 2000, 1)], vec![unit(0.0), unit(0.2)]);
        let two = part(&[(0, 1000, 0)], vec![unit(3.0)]);
        let d = link(vec![(0, one), (2000, two)], SpeakerCount::Any);
        assert_eq!(d.speakers.len(), 3);
        let d = link(vec![(0, part(&[(0, 1000, 0), (1000, 2000, 1)], vec![unit(0.0), unit(0.2)])), (2000, part(&[(0, 1000, 0)], vec![unit(3.0)]))], SpeakerCount::Exact(2));
        assert_eq!(d.speakers.len(), 2, "merged down to the count asked for");
        let d = link(vec![(0, part(&[(0, 1000, 0)], vec![unit(0.0)])), (1000, part(&[(0, 1000, 0)], vec![unit(0.1)]))], SpeakerCount::Exact(3));
        assert_eq!(d.speakers.len(), 1);
        assert_eq!(d.warnings, vec!["3 speakers were asked for, but the audio holds only 1 distinct voices".to_string()]);
    }
}
