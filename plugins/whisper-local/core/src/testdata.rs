//! Test material shared by the unit tests: espeak-ng speech and the installed tiny.en model.

/// A fresh scratch file name for this test process.
fn scratch(stem: &str, ext: &str) -> std::path::PathBuf {
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("whisper-local-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(format!("{stem}-{n}.{ext}"))
}

/// `text` spoken by espeak-ng, as 16 kHz mono f32.
pub fn speech(text: &str) -> Vec<f32> {
    let wav = scratch("speech", "wav");
    let ok = std::process::Command::new("espeak-ng").arg("-w").arg(&wav).arg(text).status().is_ok_and(|s| s.success());
    assert!(ok, "espeak-ng makes the test speech");
    audio_file(&wav)
}

/// An audio file converted by sox to 16 kHz mono f32.
pub fn audio_file(path: &std::path::Path) -> Vec<f32> {
    converted(path, &[])
}

/// `text` in espeak-ng's `voice` at 130 words a minute (slower than its default: the
/// multilingual models hear it better), converted without dither: sox's dither is random,
/// and the same text would read differently from run to run.
pub fn speech_in(voice: &str, text: &str) -> Vec<f32> {
    let wav = scratch("speech", "wav");
    let ok = std::process::Command::new("espeak-ng").args(["-v", voice, "-s", "130", "-w"]).arg(&wav).arg(text).status().is_ok_and(|s| s.success());
    assert!(ok, "espeak-ng makes the test speech");
    converted(&wav, &["-D"])
}

/// `path` converted by sox, with `options` before the input, to 16 kHz mono f32.
fn converted(path: &std::path::Path, options: &[&str]) -> Vec<f32> {
    let raw = scratch("audio", "raw");
    let ok = std::process::Command::new("sox")
        .args(options)
        .arg(path)
        .args(["-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer"])
        .arg(&raw)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "sox converts {}", path.display());
    let bytes = std::fs::read(&raw).expect("raw");
    bytes.chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0).collect()
}

/// A file of the repository's shared test fixtures (`tests/fixtures/`).
pub fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../tests/fixtures").join(name)
}

/// The tiny.en model `cargo xtask test` installs; its absence is a failure, not a skip.
pub fn model_dir() -> std::path::PathBuf {
    std::env::var_os("SCRIBE_TEST_MODEL_DIR").map(std::path::PathBuf::from).expect("SCRIBE_TEST_MODEL_DIR is set by `cargo xtask test`")
}

/// Lower-case words without punctuation.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric() && c != '\'').map(|w| w.trim_matches('\'').to_lowercase()).filter(|w| !w.is_empty()).collect()
}

/// Word-level edit distance: (errors, longest run of reference words dropped in a row).
pub fn word_errors(reference: &[String], heard: &[String]) -> (usize, usize) {
    let (n, m) = (reference.len(), heard.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    d[0] = (0..=m).collect();
    for i in 1..=n {
        for j in 1..=m {
            let sub = d[i - 1][j - 1] + usize::from(reference[i - 1] != heard[j - 1]);
            d[i][j] = sub.min(d[i - 1][j] + 1).min(d[i][j - 1] + 1);
        }
    }
    // Walk back to find the longest run of deletions.
    let (mut i, mut j, mut run, mut longest) = (n, m, 0, 0);
    while i > 0 || j > 0 {
        if i > 0 && j > 0 && d[i][j] == d[i - 1][j - 1] + usize::from(reference[i - 1] != heard[j - 1]) {
            i -= 1;
            j -= 1;
            run = 0;
        } else if i > 0 && d[i][j] == d[i - 1][j] + 1 {
            i -= 1;
            run += 1;
            longest = longest.max(run);
        } else {
            j -= 1;
            run = 0;
        }
    }
    (d[n][m], longest)
}
