//! The host's speech detector (Silero VAD v6) on real audio: frame by frame against the
//! wheel's own reference implementation, and the chunks it cuts from speech between long
//! silences and from silence alone.

use std::path::Path;
use std::process::Command;

use scribe_tests::{human_speech, speech_detector_dir, test_python, wheel_folder};
use scribed::speech::{self, Silero, silero::FRAME};

/// The silero-vad wheel, whose `silero_vad/` folder holds the reference implementation.
const SILERO_WHEEL: (&str, &str, &str) = ("silero-vad", "6.2.3", "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8");
/// Largest difference allowed between our probabilities and the reference's.
const TOLERANCE: f32 = 1e-3;
const RATE: usize = 16_000;

fn model() -> Silero {
    Silero::load(&speech_detector_dir().join(speech::MODEL_FILE)).expect("the speech detector loads")
}

/// `path` (any format sox reads) as 16 kHz mono s16le samples.
fn samples(path: &Path) -> Vec<i16> {
    let out = Command::new("sox").arg(path).args(["-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer", "-t", "raw", "-"]).output().expect("sox");
    assert!(out.status.success(), "sox: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect()
}

fn write_pcm(path: &Path, samples: &[i16]) {
    std::fs::write(path, samples.iter().flat_map(|s| s.to_le_bytes()).collect::<Vec<u8>>()).expect("pcm");
}

#[tokio::test]
async fn silero_matches_its_reference_frame_by_frame() {
    let package = wheel_folder("test-silero-vad", SILERO_WHEEL, "silero_vad/").await.expect("the silero-vad wheel");
    let dir = tempfile::tempdir().expect("tempdir");
    // Human speech, a second of silence, and espeak at another pitch: speech, pauses and
    // the edges between them.
    let mut audio = samples(&human_speech().await.expect("clip"));
    audio.extend(std::iter::repeat_n(0, RATE));
    let espeak = dir.path().join("espeak.wav");
    assert!(Command::new("espeak-ng").args(["-p", "70", "-w"]).arg(&espeak).arg("Checked frame by frame.").status().expect("espeak-ng").success());
    audio.extend(samples(&espeak));
    let pcm = dir.path().join("audio.pcm");
    write_pcm(&pcm, &audio);

    let weights = speech_detector_dir().join(speech::MODEL_FILE);
    let out = Command::new(test_python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("reference/silero_tinygrad.py"))
        .arg(&package)
        .arg(&weights)
        .arg(&pcm)
        .env("DEV", "CPU")
        .output()
        .expect("the reference runs");
    assert!(out.status.success(), "reference: {}", String::from_utf8_lossy(&out.stderr));
    let reference: Vec<f32> = serde_json::from_slice(&out.stdout).expect("reference probabilities");

    let (ours, total) = speech::probabilities(&model(), &pcm, |_| {}).expect("probabilities");
    assert_eq!(total, audio.len());
    assert_eq!(ours.len(), audio.len().div_ceil(FRAME));
    assert_eq!(ours.len(), reference.len(), "one probability per frame on both sides");
    let (worst, at) = ours.iter().zip(&reference).enumerate().map(|(i, (a, b))| ((a - b).abs(), i)).fold((0.0f32, 0), |m, x| if x.0 > m.0 { x } else { m });
    eprintln!("{} frames, largest difference {worst:e} at frame {at}", ours.len());
    assert!(worst <= TOLERANCE, "frame {at}: ours {} against {}", ours[at], reference[at]);
    // The comparison means something: the clip has both speech and silence.
    assert!(reference.iter().any(|p| *p > 0.9) && reference.iter().any(|p| *p < 0.1), "{reference:?}");
}

#[tokio::test]
async fn speech_between_long_silences_is_one_chunk_and_silence_is_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let voice = samples(&human_speech().await.expect("clip"));
    let silence = vec![0i16; 20 * RATE];
    let audio: Vec<i16> = silence.iter().chain(&voice).chain(&silence).copied().collect();
    let pcm = dir.path().join("audio.pcm");
    write_pcm(&pcm, &audio);
    let chunks = speech::chunks(&model(), &pcm, 30 * RATE, |_| {}).expect("chunks");
    assert_eq!(chunks.len(), 1, "{chunks:?}");
    let range = chunks[0].file_range_ms();
    let speech_ms = 20_000..20_000 + (voice.len() * 1000 / RATE) as u64;
    // The chunk holds the speech and no more than the padding around it.
    let pad_ms = (speech::spans::PAD * 1000 / RATE) as u64;
    assert!(range.start >= speech_ms.start - pad_ms && range.end <= speech_ms.end + pad_ms, "{range:?} for speech at {speech_ms:?}");
    assert!(range.end - range.start <= speech_ms.end - speech_ms.start + 2 * pad_ms);

    write_pcm(&pcm, &vec![0i16; 60 * RATE]);
    assert!(speech::chunks(&model(), &pcm, 30 * RATE, |_| {}).expect("chunks").is_empty(), "silence holds no speech");
}
