//! `--whisper` side by side: faster-whisper, the tool a user would pick instead, on the same
//! CTranslate2 weights and clip, run by `tests/bench/run_faster_whisper.py` in the venv that
//! `cargo xtask bench` prepares (`SCRIBE_BENCH_PYTHON`), int8 and float32 with 1 and 2
//! threads, each in a process of its own so its peak RSS is its own. Word error rates are
//! against `--reference TEXT` when given, else against faster-whisper float32 with 2 threads
//! (and the table says so). Memory is the peak RSS of the process for faster-whisper and the
//! native build, and the guest's linear memory for the wasm component (the component shares
//! the bench process with the native run).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use scribe_tests::wer::text_wer;

/// One engine's result on the clip.
pub struct Row {
    pub label: String,
    pub load_s: f64,
    pub transcribe_s: f64,
    pub text: String,
    pub memory_mib: u64,
}

/// faster-whisper's rows, or none when no venv is configured.
pub fn faster_whisper(model_dir: &Path, audio: &Path) -> Result<Vec<Row>> {
    let Ok(python) = std::env::var("SCRIBE_BENCH_PYTHON") else {
        eprintln!("SCRIBE_BENCH_PYTHON is not set: no faster-whisper rows (cargo xtask bench sets it)");
        return Ok(Vec::new());
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/run_faster_whisper.py");
    let mut rows = Vec::new();
    for compute in ["int8", "float32"] {
        for threads in [1, 2] {
            let output = Command::new(&python)
                .arg(&script)
                .arg(model_dir)
                .arg(audio)
                .arg(compute)
                .arg(threads.to_string())
                .output()
                .with_context(|| format!("running {python}"))?;
            if !output.status.success() {
                bail!("faster-whisper failed: {}", String::from_utf8_lossy(&output.stderr));
            }
            let result: serde_json::Value = serde_json::from_slice(&output.stdout).context("faster-whisper's output")?;
            rows.push(Row {
                label: format!("faster-whisper {compute}, {threads} thread{}", if threads > 1 { "s" } else { "" }),
                load_s: result["load_s"].as_f64().unwrap_or(0.0),
                transcribe_s: result["transcribe_s"].as_f64().unwrap_or(0.0),
                text: result["text"].as_str().unwrap_or_default().to_string(),
                memory_mib: result["peak_rss_mib"].as_u64().unwrap_or(0),
            });
        }
    }
    Ok(rows)
}

/// Writes each row's transcript to `dir`, one file a row named for its label.
pub fn save_texts(rows: &[Row], dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    for row in rows {
        let name: String = row.label.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
        std::fs::write(dir.join(format!("{name}.txt")), &row.text)?;
    }
    Ok(())
}

/// Prints the table: time, real-time factor, WER and peak RSS per row.
pub fn print(rows: &[Row], seconds: f64, reference: Option<&str>) {
    let fallback = rows.iter().find(|r| r.label == "faster-whisper float32, 2 threads").map(|r| r.text.as_str());
    let (reference, against) = match (reference, fallback) {
        (Some(text), _) => (Some(text), "the reference text"),
        (None, Some(text)) => (Some(text), "faster-whisper float32, 2 threads"),
        (None, None) => (None, ""),
    };
    println!("side by side on {seconds:.1} s of audio (WER against {against}):");
    for row in rows {
        let wer = reference.map_or("-".to_string(), |r| format!("{:.1} %", text_wer(r, &row.text)));
        println!(
            "  {:<40} load {:>6.2} s  transcribe {:>7.2} s  RTF {:.3}  WER {wer:>7}  memory {} MiB",
            row.label,
            row.load_s,
            row.transcribe_s,
            row.transcribe_s / seconds,
            row.memory_mib
        );
    }
}
