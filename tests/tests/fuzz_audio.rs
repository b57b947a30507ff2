//! A seeded fuzz corpus through the daemon's real decode path: every accepted container as a
//! well-formed seed, each mutated a fixed number of times (forged sizes and rates, flipped
//! bits, truncation, splices), plus every input that ever crashed the decoder
//! (`tests/fixtures/audio/crashers/`). Each input runs through the same child process the
//! daemon uses and must end in a decoded result or a clear error: no crash, no hang.

use std::path::{Path, PathBuf};
use std::time::Duration;

use scribe_tests::corpus::{self, Rng};
use scribed::audio::AudioError;
use scribed::audio::isolated::FileDecoder;

/// Mutations per seed: with seven seeds, a few hundred inputs in about a minute.
const MUTATIONS_PER_SEED: u64 = 48;
/// The seed of the whole corpus: the same inputs on every run.
const CORPUS_SEED: u64 = 0x005C_21BE_F022;
/// Children decoding at once (the machine's cores).
const PARALLEL: usize = 2;
/// A child silent this long has hung: far above any of these small files' decoding time.
const STALL: Duration = Duration::from_secs(30);

fn crashers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/audio/crashers")
}

/// The well-formed seeds, named with the extension the probe is hinted with.
fn seeds(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut seeds = vec![
        ("seed.wav".to_string(), corpus::wav(16_000, 1, &corpus::tone(8_000))),
        ("seed.mkv".to_string(), corpus::matroska(1_000_000, false, &corpus::tone(8_000))),
        ("seed.webm".to_string(), corpus::matroska(1_000_000, true, &corpus::tone(8_000))),
        ("seed.opus".to_string(), scribe_tests::ogg_opus(1)),
    ];
    for (name, rate, channels) in [("seed.flac", 22_050, 2), ("seed.mp3", 44_100, 2), ("seed.ogg", 48_000, 1)] {
        seeds.push((name.to_string(), corpus::sox_tone(dir, name, rate, channels, 0.5)));
    }
    seeds
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mutated_file_decodes_or_fails_clearly() {
    let work = tempfile::tempdir().expect("tempdir");
    let program = PathBuf::from(std::env::var("SCRIBE_BIN").expect("SCRIBE_BIN is set by `cargo xtask test`"));
    let decoder = FileDecoder::with_program(program, Some(Duration::from_secs(3_600)), STALL);
    let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, seed) in seeds(work.path()) {
        inputs.push((name.clone(), seed.clone()));
        for i in 0..MUTATIONS_PER_SEED {
            let mut rng = Rng::new(CORPUS_SEED ^ (i << 8) ^ name.len() as u64 ^ u64::from(name.as_bytes()[5]));
            inputs.push((format!("{i:03}-{name}"), corpus::mutate(&seed, &mut rng)));
        }
    }
    for entry in std::fs::read_dir(crashers_dir()).expect("the crashers folder") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).expect("name").to_string();
        inputs.push((format!("crasher-{name}"), std::fs::read(&path).expect("read")));
    }
    let started = std::time::Instant::now();
    let total = inputs.len();
    let mut outcomes = Vec::new();
    for batch in inputs.chunks(PARALLEL) {
        let runs = batch.iter().map(|(name, bytes)| {
            let path = work.path().join(name);
            std::fs::write(&path, bytes).expect("write");
            let decoder = decoder.clone();
            let name = name.clone();
            tokio::spawn(async move { (name, decoder.convert(&path, None, |_| {}).await) })
        });
        for run in runs.collect::<Vec<_>>() {
            outcomes.push(run.await.expect("task"));
        }
    }
    let (mut decoded, mut refused, mut caught_panics, mut memory) = (0, 0, 0, 0);
    for (name, outcome) in &outcomes {
        match outcome {
            Ok(summary) => {
                decoded += 1;
                assert!(summary.duration_ms <= 3_600_000, "{name}: {summary:?}");
            }
            Err(err) => {
                refused += 1;
                let message = err.to_string();
                let contained = message.contains("more memory than the decoder's limit");
                if (message.contains("crashed") || message.contains("no progress")) && !contained {
                    // Kept for the regression folder (tests/fixtures/audio/crashers/).
                    let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-crashers");
                    let _ = std::fs::create_dir_all(&keep);
                    let _ = std::fs::copy(work.path().join(name), keep.join(name));
                    panic!("{name}: {message} (input kept in {})", keep.display());
                }
                assert!(
                    matches!(err, AudioError::Corrupt(_) | AudioError::Unsupported(_) | AudioError::UnsupportedCodec { .. } | AudioError::TooLong { .. }),
                    "{name}: {err:?}"
                );
                if message.contains("the decoder failed on a malformed") {
                    caught_panics += 1;
                }
                // A forged size that makes the decoder allocate gigabytes ends the child at
                // its memory limit: contained, and said so.
                if message.contains("more memory than the decoder's limit") {
                    memory += 1;
                }
            }
        }
    }
    eprintln!(
        "fuzz corpus: {total} inputs in {:.1} s: {decoded} decoded, {refused} refused ({caught_panics} decoder panics and {memory} runaway allocations contained)",
        started.elapsed().as_secs_f32()
    );
    assert_eq!(outcomes.len(), total);
    for (name, outcome) in outcomes.iter().filter(|(name, _)| name.starts_with("seed.") && !name.ends_with(".opus")) {
        assert!(outcome.is_ok(), "the well-formed {name} decodes: {outcome:?}");
    }
}
