//! Audio ingest on real files made by sox and espeak-ng: every accepted container converts
//! to 16 kHz mono with the right length, level and pitch; broken files are clear errors.

use std::path::{Path, PathBuf};
use std::process::Command;

use scribed::audio::{AudioError, AudioSummary, TARGET_RATE, convert, peaks::WINDOW_MS};

fn run(cmd: &mut Command) {
    let status = cmd.status().unwrap_or_else(|err| panic!("{cmd:?} could not start ({err}); install sox and espeak-ng"));
    assert!(status.success(), "{cmd:?} failed");
}

/// A 3 s, 440 Hz sine at half scale, 44.1 kHz stereo, in the container `ext` implies.
fn tone(dir: &Path, ext: &str) -> PathBuf {
    let path = dir.join(format!("tone.{ext}"));
    run(Command::new("sox").args(["-n", "-r", "44100", "-c", "2"]).arg(&path).args(["synth", "3", "sine", "440", "vol", "0.5"]));
    path
}

fn decode(path: &Path) -> (Result<AudioSummary, AudioError>, Vec<i16>) {
    let mut samples = Vec::new();
    let result = convert(path, &mut |chunk| {
        samples.extend_from_slice(chunk);
        Ok(())
    });
    (result, samples)
}

#[test]
fn containers_convert_with_the_right_length_level_and_pitch() {
    let dir = tempfile::tempdir().expect("tempdir");
    // (extension, tolerated length error in ms: lossy codecs add encoder padding)
    for (ext, slack_ms) in [("wav", 2), ("flac", 2), ("mp3", 80), ("ogg", 30)] {
        let path = tone(dir.path(), ext);
        let (result, samples) = decode(&path);
        let summary = result.unwrap_or_else(|err| panic!("{ext}: {err}"));
        assert_eq!(summary.source_rate, 44_100, "{ext}");
        assert_eq!(summary.source_channels, 2, "{ext}");
        assert_eq!(summary.samples, samples.len() as u64, "{ext}");
        assert!(summary.duration_ms.abs_diff(3_000) <= slack_ms, "{ext}: {} ms", summary.duration_ms);
        let expected_peaks = summary.duration_ms.div_ceil(WINDOW_MS) as usize;
        assert!(summary.peaks.len().abs_diff(expected_peaks) <= 1, "{ext}: {} peaks", summary.peaks.len());

        // Skip the edges, where encoders fade in and out.
        let body = &samples[TARGET_RATE as usize / 4..samples.len() - TARGET_RATE as usize / 4];
        let rms = (body.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / body.len() as f64).sqrt();
        let want_rms = 0.5 * f64::from(i16::MAX) / 2f64.sqrt();
        assert!((rms / want_rms - 1.0).abs() < 0.05, "{ext}: rms {rms:.0}, want {want_rms:.0}");
        let crossings = body.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count() as f64;
        let hz = crossings / 2.0 / (body.len() as f64 / f64::from(TARGET_RATE));
        assert!((hz - 440.0).abs() < 3.0, "{ext}: pitch {hz:.1} Hz");
    }
}

#[test]
fn lengths_that_fill_whole_resampler_chunks_convert() {
    // The resampler takes 1,024 frames at a time; a file that decodes to a whole number of
    // them left it nothing at the end, and the flush failed ("resampling failed").
    let dir = tempfile::tempdir().expect("tempdir");
    for rate in [8_000u32, 22_050, 44_100, 48_000] {
        for chunks in [1u64, 48, 97] {
            let frames = 1_024 * chunks;
            let path = dir.path().join(format!("tone-{rate}-{frames}.wav"));
            let rate_arg = rate.to_string();
            // The rate is given for the generator too, or sox makes 48 kHz and resamples.
            run(Command::new("sox")
                .args(["-D", "-r", &rate_arg, "-n", "-r", &rate_arg, "-c", "1", "-b", "16"])
                .arg(&path)
                .args(["synth", &format!("{frames}s"), "sine", "440", "vol", "0.5"]));
            let (result, samples) = decode(&path);
            let summary = result.unwrap_or_else(|err| panic!("{rate} Hz, {frames} frames: {err}"));
            let want = (frames * u64::from(TARGET_RATE)).div_ceil(u64::from(rate));
            assert_eq!((summary.samples, samples.len() as u64), (want, want), "{rate} Hz, {frames} frames");
        }
    }
    // MP3 decodes 1,152 frames a packet: one file in eight is a whole number of chunks.
    // Eight consecutive packet counts cover every remainder.
    for packets in 64..72u64 {
        let path = dir.path().join(format!("tone-{packets}.mp3"));
        run(Command::new("sox")
            .args(["-D", "-r", "48000", "-n", "-r", "48000", "-c", "1"])
            .arg(&path)
            .args(["synth", &format!("{}s", packets * 1_152), "sine", "440", "vol", "0.5"]));
        let (result, samples) = decode(&path);
        let summary = result.unwrap_or_else(|err| panic!("{packets} packets of MP3: {err}"));
        assert_eq!(summary.samples, samples.len() as u64);
        assert!(summary.duration_ms.abs_diff(packets * 1_152 * 1_000 / 48_000) <= 80, "{packets}: {} ms", summary.duration_ms);
    }
}

#[test]
fn canonical_input_passes_through_sample_exact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("canonical.wav");
    run(Command::new("sox").args(["-n", "-r", "16000", "-c", "1", "-b", "16"]).arg(&path).args(["synth", "2", "sine", "300", "vol", "0.25"]));
    let (result, samples) = decode(&path);
    let summary = result.expect("converts");
    assert_eq!(summary.samples, 32_000);
    assert_eq!(samples.len(), 32_000);
    assert_eq!(summary.duration_ms, 2_000);
    assert_eq!(summary.peaks.len(), 20);
}

#[test]
fn speech_keeps_its_duration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("speech.wav");
    run(Command::new("espeak-ng").arg("-w").arg(&path).arg("The quick brown fox jumps over the lazy dog."));
    let seconds: f64 = String::from_utf8(Command::new("soxi").arg("-D").arg(&path).output().expect("soxi").stdout)
        .expect("utf8")
        .trim()
        .parse()
        .expect("duration");
    let (result, _) = decode(&path);
    let summary = result.expect("speech converts");
    assert!((summary.duration_ms as f64 - seconds * 1000.0).abs() <= 2.0, "{} ms vs {seconds} s", summary.duration_ms);
    assert!(summary.peaks.iter().any(|&p| p > 30), "speech is audible in the peaks");
}

#[test]
fn broken_files_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        path
    };
    let wav = std::fs::read(tone(dir.path(), "wav")).expect("wav");
    let mut forged = wav.clone();
    forged[22] = 0; // channel count → 0
    forged[23] = 0;
    let mut zero_rate = wav.clone();
    zero_rate[24..28].copy_from_slice(&0u32.to_le_bytes());
    let cases = [
        write("empty.wav", b""),
        write("notes.wav", b"this is a text file, not audio\n"),
        write("noise.mp3", &[0x5a; 4096]),
        write("forged-channels.wav", &forged),
        write("zero-rate.wav", &zero_rate),
        write("header-only.flac", b"fLaC\x00\x00\x00\x22"),
    ];
    for path in cases {
        let (result, _) = decode(&path);
        match result {
            Err(AudioError::Corrupt(_) | AudioError::Unsupported(_)) => {}
            other => panic!("{}: expected a corrupt/unsupported error, got {other:?}", path.display()),
        }
    }
    // A file cut short still yields what it holds.
    let truncated = write("truncated.wav", &wav[..wav.len() / 2]);
    let (result, _) = decode(&truncated);
    let summary = result.expect("truncated wav decodes its first half");
    assert!(summary.duration_ms.abs_diff(1_500) < 20, "{} ms", summary.duration_ms);
}

#[test]
fn opus_is_named_as_the_codec_that_cannot_be_decoded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("voice-note.opus");
    std::fs::write(&path, scribe_tests::ogg_opus(2)).expect("write");
    let (result, _) = decode(&path);
    match result {
        Err(err @ AudioError::UnsupportedCodec { .. }) => {
            let message = err.to_string();
            assert!(message.contains("Opus") && message.contains("convert it to FLAC"), "{message}");
        }
        other => panic!("expected the Opus codec to be named, got {other:?}"),
    }
}
