//! Speaker embeddings → speakers: agglomerative clustering with centroid linkage on cosine
//! similarity (pyannote's choice), stopped at a similarity threshold or at a requested
//! number of speakers, then each window's local speakers assigned to distinct speakers.

/// Two groups of stretches whose mean embeddings are at least this similar (cosine) are the
/// same speaker. Tuned on the test conversations (human voices and espeak-ng voices): CAM++
/// put groups of one voice at 0.32 to 0.8 (a reader doing two characters lowest), and groups
/// of different voices at -0.03 to 0.18 (stretches of 4 s up to 0.28).
pub const SAME_SPEAKER: f32 = 0.3;

/// How many speakers the caller wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpeakerCount {
    /// As many as the voices say.
    #[default]
    Any,
    /// Exactly this many.
    Exact(usize),
    /// Within these bounds.
    Between { min: usize, max: usize },
}

/// `v` scaled to length one (a zero vector stays zero).
pub fn normalized(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 { v.iter().map(|x| x / norm).collect() } else { v.to_vec() }
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (na, nb) = (a.iter().map(|x| x * x).sum::<f32>().sqrt(), b.iter().map(|x| x * x).sum::<f32>().sqrt());
    if na == 0.0 || nb == 0.0 { 0.0 } else { a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() / (na * nb) }
}

/// The clusters of `embeddings` (each normalised): for each embedding its cluster, clusters
/// numbered from zero. `weights` are how much speech each embedding stands for; a cluster's
/// centroid is their weighted mean.
pub fn cluster(embeddings: &[Vec<f32>], weights: &[f32], count: SpeakerCount) -> Vec<usize> {
    let n = embeddings.len();
    if n == 0 {
        return Vec::new();
    }
    let by_threshold = merge(embeddings, weights, |clusters, best| clusters > 1 && best >= SAME_SPEAKER);
    let found = by_threshold.iter().max().map_or(0, |m| m + 1);
    let target = match count {
        SpeakerCount::Any => return by_threshold,
        SpeakerCount::Exact(k) => k.max(1),
        SpeakerCount::Between { min, max } => found.clamp(min.max(1), max.max(min).max(1)),
    };
    if target == found {
        return by_threshold;
    }
    merge(embeddings, weights, |clusters, _| clusters > target)
}

/// Merges the two most similar clusters while `go_on(clusters, their similarity)`. The
/// similarities live in a matrix and each cluster remembers its nearest neighbour, so a merge
/// costs one row of similarities and a scan, not every pair again: an hour's 1,500 or so
/// embeddings cluster in a fraction of a second instead of minutes.
fn merge(embeddings: &[Vec<f32>], weights: &[f32], go_on: impl Fn(usize, f32) -> bool) -> Vec<usize> {
    let n = embeddings.len();
    // Weighted sums of the members: their direction is the centroid's.
    let mut sums: Vec<Vec<f32>> = embeddings.iter().zip(weights).map(|(e, &w)| e.iter().map(|x| x * w).collect()).collect();
    let mut alive = vec![true; n];
    let mut sim = vec![f32::NEG_INFINITY; n * n];
    for i in 0..n {
        for j in i + 1..n {
            let s = cosine(&sums[i], &sums[j]);
            sim[i * n + j] = s;
            sim[j * n + i] = s;
        }
    }
    let nearest = |i: usize, sim: &[f32], alive: &[bool]| -> (f32, usize) {
        (0..n).filter(|&j| j != i && alive[j]).fold((f32::NEG_INFINITY, usize::MAX), |best, j| if sim[i * n + j] > best.0 { (sim[i * n + j], j) } else { best })
    };
    let mut best: Vec<(f32, usize)> = (0..n).map(|i| nearest(i, &sim, &alive)).collect();
    let mut owner: Vec<usize> = (0..n).collect();
    let mut clusters = n;
    while clusters > 1 {
        let (keep, (similarity, gone)) =
            (0..n).filter(|&i| alive[i]).map(|i| (i, best[i])).fold((usize::MAX, (f32::NEG_INFINITY, usize::MAX)), |b, x| if x.1.0 > b.1.0 { x } else { b });
        if gone == usize::MAX || !go_on(clusters, similarity) {
            break;
        }
        let absorbed = std::mem::take(&mut sums[gone]);
        for (into, x) in sums[keep].iter_mut().zip(&absorbed) {
            *into += x;
        }
        alive[gone] = false;
        clusters -= 1;
        for o in owner.iter_mut().filter(|o| **o == gone) {
            *o = keep;
        }
        for k in (0..n).filter(|&k| alive[k] && k != keep) {
            let s = cosine(&sums[keep], &sums[k]);
            sim[keep * n + k] = s;
            sim[k * n + keep] = s;
        }
        best[keep] = nearest(keep, &sim, &alive);
        for k in (0..n).filter(|&k| alive[k] && k != keep) {
            if best[k].1 == keep || best[k].1 == gone {
                best[k] = nearest(k, &sim, &alive);
            } else if sim[k * n + keep] > best[k].0 {
                best[k] = (sim[k * n + keep], keep);
            }
        }
    }
    // Clusters renumbered densely, in order of their first member.
    let mut numbers = vec![usize::MAX; n];
    let mut next = 0;
    owner
        .iter()
        .map(|&o| {
            if numbers[o] == usize::MAX {
                numbers[o] = next;
                next += 1;
            }
            numbers[o]
        })
        .collect()
}

/// The best assignment of a window's local speakers to distinct clusters: `similarity[l][c]`
/// is local speaker `l`'s similarity to cluster `c`. Returns each local speaker's cluster
/// (`None` when there are fewer clusters than local speakers and it lost out). A window has
/// at most three local speakers, so every assignment is tried.
pub fn assign(similarity: &[Vec<f32>]) -> Vec<Option<usize>> {
    let locals = similarity.len();
    let clusters = similarity.first().map_or(0, Vec::len);
    let mut best = (f32::NEG_INFINITY, vec![None; locals]);
    let mut current = vec![None; locals];
    fn search(l: usize, sim: &[Vec<f32>], clusters: usize, current: &mut Vec<Option<usize>>, score: f32, best: &mut (f32, Vec<Option<usize>>)) {
        if l == sim.len() {
            if score > best.0 {
                *best = (score, current.clone());
            }
            return;
        }
        for c in 0..clusters {
            if current[..l].contains(&Some(c)) {
                continue;
            }
            current[l] = Some(c);
            search(l + 1, sim, clusters, current, score + sim[l][c], best);
        }
        // Left out: only worth it when there are not enough clusters to go round.
        if clusters < sim.len() {
            current[l] = None;
            search(l + 1, sim, clusters, current, score, best);
        }
        current[l] = None;
    }
    search(0, similarity, clusters, &mut current, 0.0, &mut best);
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(angle: f32) -> Vec<f32> {
        vec![angle.cos(), angle.sin()]
    }

    #[test]
    fn close_embeddings_cluster_together_and_far_ones_apart() {
        let e = [unit(0.0), unit(0.1), unit(2.0), unit(2.1), unit(0.05)];
        let w = [1.0; 5];
        assert_eq!(cluster(&e, &w, SpeakerCount::Any), vec![0, 0, 1, 1, 0]);
        assert_eq!(cluster(&e, &w, SpeakerCount::Exact(1)), vec![0; 5]);
        assert_eq!(cluster(&e, &w, SpeakerCount::Exact(3)).iter().max(), Some(&2));
        assert_eq!(cluster(&e, &w, SpeakerCount::Between { min: 1, max: 4 }), vec![0, 0, 1, 1, 0]);
    }

    #[test]
    fn clustering_many_embeddings_is_quick_and_finds_the_groups() {
        // Three voices, 600 stretches each, a little spread around their direction.
        let e: Vec<Vec<f32>> = (0..1800).map(|i| unit((i % 3) as f32 * 2.0 + (i as f32 * 0.618).fract() * 0.2)).collect();
        let labels = cluster(&e, &vec![1.0; e.len()], SpeakerCount::Any);
        assert_eq!(labels.iter().max(), Some(&2));
        assert!(labels.iter().enumerate().all(|(i, &l)| l == labels[i % 3]), "each stretch with its voice");
    }

    #[test]
    fn a_count_beyond_the_embeddings_gives_one_cluster_each() {
        let e = [unit(0.0), unit(0.1)];
        assert_eq!(cluster(&e, &[1.0, 1.0], SpeakerCount::Exact(5)), vec![0, 1]);
        assert!(cluster(&[], &[], SpeakerCount::Exact(2)).is_empty());
    }

    #[test]
    fn local_speakers_get_distinct_clusters() {
        // Both prefer cluster 0: the assignment with the higher total wins.
        let sim = vec![vec![0.9, 0.5], vec![0.8, 0.1]];
        assert_eq!(assign(&sim), vec![Some(1), Some(0)]);
        let sim = vec![vec![0.9], vec![0.8]];
        assert_eq!(assign(&sim), vec![Some(0), None]);
    }
}
