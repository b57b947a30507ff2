//! Decoding in a child process. A file from a user is hostile until it has been decoded:
//! symphonia panics on some malformed headers (a panic aborts a `panic = "abort"` build), a
//! forged header can make a decoder allocate without bound, and a decoder can loop. So the
//! daemon runs `scribed decode-audio` for each file: the child decodes with the same
//! in-process code ([`super::convert_bounded`]), writes the canonical PCM when asked, and
//! reports progress and its result as JSON lines on stdout. Whatever the child does —
//! crash, abort, run out of its memory limit, stop making progress — ends as an
//! [`AudioError`] for that one file, and the daemon goes on.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use super::{AudioError, AudioSummary, TARGET_RATE, convert_bounded};

/// The hidden `scribed` subcommand that runs the child.
pub const SUBCOMMAND: &str = "decode-audio";
/// The child reports how far it got at most this often.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);
/// A child silent this long is stuck: it is killed. One packet decodes in milliseconds; a
/// minute leaves room for a machine under heavy load.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// The child's address space. It holds one packet and one resampler chunk at a time (a few
/// MiB) besides the mapped binary, so reaching this means a forged header made it allocate.
const MEMORY_LIMIT_BYTES: u64 = 2 << 30;
/// Decoding is background work: live audio and the API come first.
const NICENESS: i32 = 10;
/// Bytes of the child's stderr kept to explain a crash.
const STDERR_TAIL_BYTES: usize = 4096;

/// One line from the child.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Report {
    Progress { decoded_ms: u64 },
    Done(AudioSummary),
    Failed(Failure),
}

/// An [`AudioError`] on the wire.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Failure {
    Unsupported { message: String },
    UnsupportedCodec { codec: String },
    Corrupt { message: String },
    TooLong { limit_ms: u64 },
    Io { message: String },
}

impl From<AudioError> for Failure {
    fn from(err: AudioError) -> Failure {
        match err {
            AudioError::Unsupported(message) => Failure::Unsupported { message },
            AudioError::UnsupportedCodec { codec } => Failure::UnsupportedCodec { codec },
            AudioError::Corrupt(message) => Failure::Corrupt { message },
            AudioError::TooLong { limit } => Failure::TooLong { limit_ms: limit.as_millis() as u64 },
            AudioError::Io(err) => Failure::Io { message: err.to_string() },
        }
    }
}

impl From<Failure> for AudioError {
    fn from(failure: Failure) -> AudioError {
        match failure {
            Failure::Unsupported { message } => AudioError::Unsupported(message),
            Failure::UnsupportedCodec { codec } => AudioError::UnsupportedCodec { codec },
            Failure::Corrupt { message } => AudioError::Corrupt(message),
            Failure::TooLong { limit_ms } => AudioError::TooLong { limit: Duration::from_millis(limit_ms) },
            Failure::Io { message } => AudioError::Io(std::io::Error::other(message)),
        }
    }
}

/// Converts files for the daemon, each in a child process.
#[derive(Debug, Clone)]
pub struct FileDecoder {
    /// The `scribed` binary; `None` decodes in the daemon (see [`locate_program`]).
    program: Option<PathBuf>,
    max_duration: Option<Duration>,
    /// A child silent this long is killed.
    stall_timeout: Duration,
}

/// The `scribed` binary to run the child: this process when it is `scribed` (through
/// `/proc/self/exe`, which still works after the file was replaced by an upgrade), else
/// `SCRIBE_BIN` for programs that embed the daemon (the test suite).
fn locate_program() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok();
    let is_scribed = exe.as_deref().and_then(Path::file_name).and_then(|n| n.to_str()).is_some_and(|n| {
        // A replaced binary reads as "scribed (deleted)".
        n == "scribed" || n.starts_with("scribed ")
    });
    if is_scribed {
        let proc_exe = PathBuf::from("/proc/self/exe");
        return Some(if proc_exe.exists() { proc_exe } else { exe? });
    }
    std::env::var_os("SCRIBE_BIN").map(PathBuf::from).filter(|p| p.is_file())
}

impl FileDecoder {
    /// A decoder refusing audio longer than `max_duration`.
    pub fn new(max_duration: Option<Duration>) -> FileDecoder {
        let program = locate_program();
        if program.is_none() {
            tracing::warn!(
                "no scribed binary to decode files in a child process (set SCRIBE_BIN); decoding inside this process"
            );
        }
        FileDecoder { program, max_duration, stall_timeout: STALL_TIMEOUT }
    }

    /// A decoder running `program` (any executable speaking the child's protocol), silent
    /// for at most `stall_timeout`.
    pub fn with_program(program: PathBuf, max_duration: Option<Duration>, stall_timeout: Duration) -> FileDecoder {
        FileDecoder { program: Some(program), max_duration, stall_timeout }
    }

    /// Converts `input`, writing 16 kHz mono s16le to `pcm` when given. `progress` hears
    /// how much audio has been decoded, about once a second.
    pub async fn convert(
        &self,
        input: &Path,
        pcm: Option<&Path>,
        mut progress: impl FnMut(Duration),
    ) -> Result<AudioSummary, AudioError> {
        let Some(program) = &self.program else {
            let (input, pcm, max) = (input.to_path_buf(), pcm.map(Path::to_path_buf), self.max_duration);
            return tokio::task::spawn_blocking(move || convert_to(&input, pcm.as_deref(), max, &mut |_| {}))
                .await
                .map_err(|err| AudioError::Corrupt(format!("the decoder failed: {err}")))?;
        };
        let mut command = tokio::process::Command::new(program);
        command.arg(SUBCOMMAND).arg(input);
        if let Some(pcm) = pcm {
            command.arg("--pcm").arg(pcm);
        }
        if let Some(max) = self.max_duration {
            command.arg("--max-duration-ms").arg(max.as_millis().to_string());
        }
        // A crash is explained by its message, not by a backtrace.
        command.env("RUST_BACKTRACE", "0");
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|err| AudioError::Io(std::io::Error::new(err.kind(), format!("starting the decoder: {err}"))))?;
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(AudioError::Io(std::io::Error::other("the decoder has no output pipes")));
        };
        let stderr = tokio::spawn(tail(stderr));
        let mut lines = BufReader::new(stdout).lines();
        let reported = loop {
            match tokio::time::timeout(self.stall_timeout, lines.next_line()).await {
                Err(_) => {
                    let _ = child.kill().await;
                    return Err(AudioError::Corrupt(format!(
                        "the decoder made no progress for {} s on this file and was stopped",
                        self.stall_timeout.as_secs_f32()
                    )));
                }
                Ok(Ok(Some(line))) => match serde_json::from_str::<Report>(&line) {
                    Ok(Report::Progress { decoded_ms }) => progress(Duration::from_millis(decoded_ms)),
                    Ok(Report::Done(summary)) => break Some(Ok(summary)),
                    Ok(Report::Failed(failure)) => break Some(Err(AudioError::from(failure))),
                    Err(_) => tracing::debug!("unexpected line from the decoder: {line:?}"),
                },
                // The child closed its output: it ended without a result.
                Ok(Ok(None) | Err(_)) => break None,
            }
        };
        let status = child.wait().await;
        match reported {
            Some(result) => result,
            None => {
                let stderr = stderr.await.unwrap_or_default();
                let reason = crash_reason(&stderr);
                if reason.contains(ALLOCATION_FAILED) {
                    return Err(AudioError::Corrupt(format!(
                        "decoding this file needs more memory than the decoder's limit of {} MiB (a forged size in its header: {reason}); the file is corrupt or hostile",
                        MEMORY_LIMIT_BYTES >> 20
                    )));
                }
                let status = status.map_or_else(|err| err.to_string(), |s| s.to_string());
                Err(AudioError::Corrupt(format!("the decoder crashed on this file ({status}: {reason})")))
            }
        }
    }
}

/// The last bytes of a child's stderr.
async fn tail(mut stderr: tokio::process::ChildStderr) -> String {
    let mut kept = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n) = stderr.read(&mut buf).await {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > STDERR_TAIL_BYTES {
            kept.drain(..kept.len() - STDERR_TAIL_BYTES);
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// What Rust's allocator prints before it aborts on a refused allocation.
const ALLOCATION_FAILED: &str = "memory allocation of";

/// What a crashed child said last, minus the backtrace hint: for a panic, its message.
fn crash_reason(stderr: &str) -> String {
    stderr
        .lines()
        .map(str::trim)
        .rfind(|line| !line.is_empty() && !line.starts_with("note:"))
        .unwrap_or("no message")
        .to_string()
}

/// Converts `input`, writing PCM to `pcm` when given; `progress` hears the number of
/// canonical samples written so far after every chunk.
fn convert_to(
    input: &Path,
    pcm: Option<&Path>,
    max_duration: Option<Duration>,
    progress: &mut dyn FnMut(u64),
) -> Result<AudioSummary, AudioError> {
    let mut samples = 0u64;
    let Some(pcm) = pcm else {
        return convert_bounded(input, max_duration, &mut |chunk| {
            samples += chunk.len() as u64;
            progress(samples);
            Ok(())
        });
    };
    if let Some(dir) = pcm.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(pcm)?);
    let mut bytes = Vec::new();
    let summary = convert_bounded(input, max_duration, &mut |chunk| {
        bytes.clear();
        bytes.extend(chunk.iter().flat_map(|s| s.to_le_bytes()));
        samples += chunk.len() as u64;
        progress(samples);
        out.write_all(&bytes)
    })?;
    out.flush()?;
    Ok(summary)
}

/// Confines the child: killed with the daemon, a memory ceiling, a lower priority. Each is
/// a safeguard on top of the parent's own checks, so one that the system refuses is only
/// logged.
fn confine() {
    use rustix::process::{Resource, Rlimit, Signal, nice, set_parent_process_death_signal, setrlimit};
    if let Err(err) = set_parent_process_death_signal(Some(Signal::KILL)) {
        tracing::warn!("decoder: no parent-death signal: {err}");
    }
    let limit = Rlimit { current: Some(MEMORY_LIMIT_BYTES), maximum: Some(MEMORY_LIMIT_BYTES) };
    if let Err(err) = setrlimit(Resource::As, limit) {
        tracing::warn!("decoder: no memory limit: {err}");
    }
    if let Err(err) = nice(NICENESS) {
        tracing::debug!("decoder: priority unchanged: {err}");
    }
}

/// Writes one report line to stdout, for the parent.
fn send(report: &Report) -> std::io::Result<()> {
    let line = serde_json::to_string(report).map_err(std::io::Error::other)?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{line}")?;
    stdout.flush()
}

/// The child's main: decodes `input` and reports on stdout. Returns the exit code: 0 when a
/// result (success or a clear error) was reported.
pub fn child_main(input: &Path, pcm: Option<&Path>, max_duration: Option<Duration>) -> i32 {
    confine();
    let mut last_report = Instant::now();
    let result = convert_to(input, pcm, max_duration, &mut |samples| {
        if last_report.elapsed() >= PROGRESS_INTERVAL {
            last_report = Instant::now();
            // A parent gone is noticed at the end; its death signal ends us sooner.
            let _ = send(&Report::Progress { decoded_ms: samples * 1000 / u64::from(TARGET_RATE) });
        }
    });
    let outcome = match result {
        Ok(summary) => Report::Done(summary),
        Err(err) => Report::Failed(err.into()),
    };
    match send(&outcome) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_cross_the_pipe_unchanged() {
        let cases = [
            AudioError::Unsupported("not a recognised audio format".into()),
            AudioError::UnsupportedCodec { codec: "Opus".into() },
            AudioError::Corrupt("too many undecodable packets".into()),
            AudioError::TooLong { limit: Duration::from_secs(43_200) },
        ];
        for err in cases {
            let want = err.to_string();
            let line = serde_json::to_string(&Report::Failed(err.into())).expect("serialises");
            let Ok(Report::Failed(failure)) = serde_json::from_str::<Report>(&line) else { panic!("{line}") };
            assert_eq!(AudioError::from(failure).to_string(), want);
        }
    }

    /// An executable script standing in for the child.
    fn script(dir: &Path, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("decoder.sh");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    #[tokio::test]
    async fn a_child_that_aborts_or_hangs_fails_the_file_not_the_daemon() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = dir.path().join("in.wav");
        std::fs::write(&input, b"RIFF").expect("write");
        // What a panic = "abort" build does on a decoder panic.
        let abort = script(dir.path(), "echo 'TimeBase cannot have 0 denominator' >&2; kill -ABRT $$");
        let decoder = FileDecoder::with_program(abort, None, Duration::from_secs(30));
        let err = decoder.convert(&input, None, |_| {}).await.expect_err("a crash is an error");
        let message = err.to_string();
        assert!(message.contains("crashed") && message.contains("TimeBase cannot have 0 denominator"), "{message}");

        let hang = script(dir.path(), "echo '{\"progress\":{\"decoded_ms\":1000}}'; exec sleep 600");
        let decoder = FileDecoder::with_program(hang, None, Duration::from_millis(300));
        let mut heard = Vec::new();
        let err = decoder.convert(&input, None, |d| heard.push(d)).await.expect_err("a hang is an error");
        assert!(err.to_string().contains("no progress"), "{err}");
        assert_eq!(heard, [Duration::from_secs(1)], "progress before the hang was passed on");
    }

    #[test]
    fn a_crash_is_explained_by_the_last_line_before_the_hint() {
        let panic = "\nthread 'main' panicked at symphonia-core/src/units.rs:85:9:\nTimeBase cannot have 0 denominator\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(crash_reason(panic), "TimeBase cannot have 0 denominator");
        assert_eq!(crash_reason(""), "no message");
    }
}
