//! The offline diarizer's engine against its reference: the networks' outputs on a real
//! voice match what the models' own PyTorch code computes (`tests/reference/
//! diarize_reference.py`, recorded in `tests/fixtures/diarize-reference.json`).

use std::path::PathBuf;

use scribe_diarize::campplus::{CamPlus, DIMENSION};
use scribe_diarize::fbank::{BANDS, Fbank};
use scribe_diarize::pth::Checkpoint;
use scribe_diarize::segmentation::{CLASSES, FRAMES, Segmentation, WINDOW};
use scribe_diarize::cluster::SpeakerCount;
use scribe_diarize::pipeline::{Diarization, Models, diarize};
use scribe_tests::conversation::{self, Turn, Voice};
use scribe_tests::{diarizer_model_dir, human_speech};

/// Largest difference allowed between our log-probabilities and the reference's.
const SEGMENTATION_TOLERANCE: f32 = 1e-4;
/// Largest difference allowed between our log mel energies and kaldi-native-fbank's.
const FBANK_TOLERANCE: f32 = 1e-3;
/// Largest difference allowed between our embedding and the reference's.
const EMBEDDING_TOLERANCE: f32 = 1e-3;
/// Time either side of a reference turn's edges left out of the error rate (the usual
/// 250 ms).
const COLLAR_MS: u64 = 250;
/// Largest diarization error rate accepted on human voices, percent.
const MAX_DER: f64 = 10.0;

fn reference() -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/diarize-reference.json");
    serde_json::from_slice(&std::fs::read(path).expect("the reference numbers")).expect("reference JSON")
}

fn numbers(value: &serde_json::Value) -> Vec<f32> {
    match value {
        serde_json::Value::Array(items) => items.iter().flat_map(numbers).collect(),
        other => vec![other.as_f64().expect("a number") as f32],
    }
}

fn model_file(name: &str) -> (String, Vec<u8>) {
    (name.to_owned(), std::fs::read(diarizer_model_dir().join(name)).expect("model file"))
}

/// A 16 kHz mono 16-bit WAV's samples as the models take them.
fn wav_samples(path: &std::path::Path) -> Vec<f32> {
    let bytes = std::fs::read(path).expect("clip");
    let at = bytes.windows(4).position(|w| w == b"data").expect("a data chunk");
    let size = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]]) as usize;
    bytes[at + 8..at + 8 + size].chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0).collect()
}

/// The largest difference and where it is.
fn worst(ours: &[f32], expected: &[f32]) -> (f32, usize) {
    assert_eq!(ours.len(), expected.len());
    ours.iter().zip(expected).enumerate().map(|(i, (a, b))| ((a - b).abs(), i)).fold((0.0f32, 0), |m, x| if x.0 > m.0 { x } else { m })
}

#[tokio::test]
async fn segmentation_matches_pyannote_on_one_window() {
    let audio = wav_samples(&human_speech().await.expect("the human clip"));
    let mut window = vec![0.0f32; WINDOW];
    let n = audio.len().min(WINDOW);
    window[..n].copy_from_slice(&audio[..n]);

    let (name, bytes) = model_file("pytorch_model.bin");
    let model = Segmentation::load(&Checkpoint::read(&name, &bytes).expect("checkpoint")).expect("model");
    let ours = model.forward(&[&window]).expect("forward");

    let expected = numbers(&reference()["segmentation_log_probs"]);
    assert_eq!(ours.len(), FRAMES * CLASSES);
    let (diff, at) = worst(&ours, &expected);
    assert!(diff <= SEGMENTATION_TOLERANCE, "frame {} class {}: ours {} against {}", at / CLASSES, at % CLASSES, ours[at], expected[at]);
}

#[tokio::test]
async fn embeddings_match_3d_speaker_on_one_voice() {
    let audio = wav_samples(&human_speech().await.expect("the human clip"));
    let reference = reference();
    let span = numbers(&reference["embedding_span"]);
    let clip = &audio[span[0] as usize..span[1] as usize];

    let features = Fbank::new().compute(clip);
    let expected_features = numbers(&reference["fbank_first_frames"]);
    let (diff, at) = worst(&features[..expected_features.len()], &expected_features);
    assert!(diff <= FBANK_TOLERANCE, "frame {} band {}: ours {} against {}", at / BANDS, at % BANDS, features[at], expected_features[at]);

    let (name, bytes) = model_file("campplus_cn_en_common.pt");
    let model = CamPlus::load(&Checkpoint::read(&name, &bytes).expect("checkpoint")).expect("model");
    let ours = model.embed(&features).expect("embedding");
    let expected = numbers(&reference["embedding"]);
    assert_eq!(ours.len(), DIMENSION);
    let (diff, at) = worst(&ours, &expected);
    assert!(diff <= EMBEDDING_TOLERANCE, "dimension {at}: ours {} against {}", ours[at], expected[at]);
}

/// The diarizer's networks, loaded from the installed model folder.
fn models() -> Models {
    let checkpoint = |name: &str| {
        let (name, bytes) = model_file(name);
        Checkpoint::read(&name, &bytes).expect("checkpoint")
    };
    Models {
        vad: scribed::speech::Silero::load(&diarizer_model_dir().join(scribed::speech::MODEL_FILE)).expect("vad"),
        segmentation: Segmentation::load(&checkpoint("pytorch_model.bin")).expect("segmentation"),
        embedder: CamPlus::load(&checkpoint("campplus_cn_en_common.pt")).expect("embedder"),
        fbank: Fbank::new(),
    }
}

/// The human voices of the tests: two readers.
async fn human_voices(models: &Models) -> Vec<Voice> {
    let mut voices = Vec::new();
    for clip in [conversation::TWO_CITIES, conversation::ENDGAME] {
        voices.push(conversation::human_voice(clip, &models.vad).await.expect("clip"));
    }
    voices
}

fn hypothesis(result: &Diarization) -> Vec<Turn> {
    result.turns.iter().map(|t| Turn { start_ms: t.start_ms, end_ms: t.end_ms, speaker: t.speaker }).collect()
}

#[tokio::test]
async fn two_human_voices_in_turns() {
    let models = models();
    let voices = human_voices(&models).await;
    let talk = conversation::conversation(&[&voices[0], &voices[1]], &[0, 1, 0, 1, 0, 1, 0, 1, 0, 1]);
    let result = diarize(&models, &talk.audio, SpeakerCount::Any, &mut |_| {}).expect("diarize");
    let der = conversation::der(&talk.turns, &hypothesis(&result), COLLAR_MS);
    eprintln!("reference {:?}\nours {:?}\nDER {der:.1} %", talk.turns, hypothesis(&result));
    assert_eq!(result.speakers.len(), 2, "{:?}", result.turns);
    assert!(der <= MAX_DER, "DER {der:.1} %");
}

#[tokio::test]
async fn three_voices_with_and_without_the_count() {
    let models = models();
    let mut voices = human_voices(&models).await;
    voices.push(conversation::synthetic_voice("en-us+m3", &models.vad).expect("espeak"));
    let talk = conversation::conversation(&[&voices[0], &voices[1], &voices[2]], &[0, 1, 2, 0, 2, 1, 0, 1, 2, 1, 0, 2]);
    for count in [SpeakerCount::Any, SpeakerCount::Exact(3)] {
        let result = diarize(&models, &talk.audio, count, &mut |_| {}).expect("diarize");
        let der = conversation::der(&talk.turns, &hypothesis(&result), COLLAR_MS);
        eprintln!("{count:?}: reference {:?}\nours {:?}\nDER {der:.1} %", talk.turns, hypothesis(&result));
        assert_eq!(result.speakers.len(), 3, "{count:?}: {:?}", result.turns);
        assert!(der <= MAX_DER, "{count:?}: DER {der:.1} %");
    }
    // A smaller count is honoured: the two closest voices become one.
    let result = diarize(&models, &talk.audio, SpeakerCount::Exact(2), &mut |_| {}).expect("diarize");
    assert_eq!(result.speakers.len(), 2, "{:?}", result.turns);
}

#[tokio::test]
async fn silence_one_voice_a_short_clip_and_an_impossible_count() {
    let models = models();
    let silence = vec![0.0f32; 30 * conversation::RATE];
    let result = diarize(&models, &silence, SpeakerCount::Any, &mut |_| {}).expect("silence diarizes");
    assert!(result.turns.is_empty() && result.speakers.is_empty(), "{result:?}");

    let voices = human_voices(&models).await;
    let one = &voices[0].audio;
    let mut progress = Vec::new();
    let result = diarize(&models, one, SpeakerCount::Any, &mut |p: f32| progress.push(p)).expect("one voice");
    assert_eq!(result.speakers.len(), 1, "{:?}", result.turns);
    let heard: u64 = result.turns.iter().map(|t| t.end_ms - t.start_ms).sum();
    assert!(heard * 10 >= (one.len() as u64 * 1000 / conversation::RATE as u64) * 7, "most of the reading is speech: {heard} ms");
    assert!(progress.windows(2).all(|p| p[0] <= p[1]) && progress.last() == Some(&1.0), "{progress:?}");

    let short = &one[..3 * conversation::RATE];
    let result = diarize(&models, short, SpeakerCount::Any, &mut |_| {}).expect("a short clip");
    assert_eq!(result.speakers.len(), 1, "{:?}", result.turns);

    let talk = conversation::conversation(&[&voices[0], &voices[1]], &[0, 1, 0, 1]);
    let result = diarize(&models, &talk.audio, SpeakerCount::Exact(6), &mut |_| {}).expect("best effort");
    assert!(!result.speakers.is_empty() && result.speakers.len() < 6, "{:?}", result.turns);
    assert!(result.warnings.iter().any(|w| w.contains("6 speakers")), "{:?}", result.warnings);
}
