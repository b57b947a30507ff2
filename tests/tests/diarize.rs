//! The offline diarizer's engine against its reference: the networks' outputs on a real
//! voice match what the models' own PyTorch code computes (`tests/reference/
//! diarize_reference.py`, recorded in `tests/fixtures/diarize-reference.json`).

use std::path::PathBuf;

use scribe_diarize::campplus::{CamPlus, DIMENSION};
use scribe_diarize::fbank::{BANDS, Fbank};
use scribe_diarize::pth::Checkpoint;
use scribe_diarize::segmentation::{CLASSES, FRAMES, Segmentation, WINDOW};
use scribe_tests::{diarizer_model_dir, human_speech};

/// Largest difference allowed between our log-probabilities and the reference's.
const SEGMENTATION_TOLERANCE: f32 = 1e-4;
/// Largest difference allowed between our log mel energies and kaldi-native-fbank's.
const FBANK_TOLERANCE: f32 = 1e-3;
/// Largest difference allowed between our embedding and the reference's.
const EMBEDDING_TOLERANCE: f32 = 1e-3;

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
