//! One pass of a recogniser over a stored file, shared by a job (which then stores the
//! transcript, [`super::FilePipeline`]) and a translation (which hands it back,
//! [`super::translation`]). The file is decoded first, in a child process: a corrupt file
//! fails here, before anything is sent or paid for, and the duration is measured. The
//! canonical PCM is written by the same pass when the recogniser reads samples (whisper-local),
//! when the diarizer will, or when the file is over the provider's upload limit. The
//! recogniser then gets the whole file, or chunks of its speech ([`super::chunked`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::{FilePipeline, Scratch, chunked, encoding_for};
use crate::audio::{self, AudioError, AudioSummary};
use crate::clients::stt::{AudioEncoding, AudioFormat, AudioInput, BatchStt, Task, Transcript};
use crate::plugin::handle::CallError;
use crate::queue::files::Job;
use crate::retry::Failure;
use crate::sinks::events::{Event, JobProgress, JobStatus};
use crate::speech::{self, Silero};

/// A job's file, checked and ready for its recogniser.
pub(super) struct Prepared<'a> {
    pub stt: &'a BatchStt,
    /// The stored recording.
    path: PathBuf,
    pub encoding: AudioEncoding,
    pub size_bytes: u64,
    /// What decoding measured; none for a codec only the provider decodes.
    pub summary: Option<AudioSummary>,
    /// The canonical PCM, when anything reads samples.
    pub pcm: Option<Scratch>,
    /// The recogniser gets the PCM rather than the file.
    stt_reads_pcm: bool,
    task: Task,
}

impl FilePipeline {
    /// Decodes `job`'s file for `task`, writing the canonical PCM (as `scratch` in the audio
    /// store's scratch space) when the recogniser reads it or the diarizer will. A
    /// transcription reports its progress as the session's job; a translation is no job of
    /// the session (its request waits for it) and is neither reported nor diarized.
    pub(super) async fn prepare(&self, job: &Job, scratch: &str, task: Task) -> Result<Prepared<'_>, Failure> {
        let stt = self.providers.get(job.provider.as_deref()).ok_or_else(|| {
            Failure::Fatal(match &job.provider {
                Some(id) => format!("the speech-to-text plugin {id} is not loaded"),
                None => "no speech-to-text plugin is configured (roles.stt_batch)".into(),
            })
        })?;
        // Found by its hash: on a cluster the job's path is where the submitting node keeps
        // it, and this node's view of the shared store may be mounted elsewhere.
        let path = self.audio.find(&job.sha256).await.ok_or_else(|| {
            Failure::Fatal(format!("the recording is not in the audio store ({}); the nodes of a cluster need one shared audio_dir", self.audio.dir().display()))
        })?;
        let encoding = encoding_for(&path).ok_or_else(|| Failure::Fatal("unsupported file type".into()))?;
        let size_bytes = tokio::fs::metadata(&path).await.map(|m| m.len()).unwrap_or(0);
        let oversized = stt.accepts(encoding) && stt.max_file_bytes().is_some_and(|max| size_bytes > max);
        let stt_reads_pcm = (!stt.accepts(encoding) || oversized) && stt.accepts(AudioEncoding::Linear16);
        let reported = task == Task::Transcribe;
        let for_speakers = reported && self.speakers.is_some();
        let pcm = (stt_reads_pcm || for_speakers).then(|| Scratch(self.audio.scratch(scratch)));
        let progress = |decoded: Duration| {
            if !reported {
                return;
            }
            let message = format!("decoding: {} of audio so far", humantime::format_duration(Duration::from_secs(decoded.as_secs())));
            self.publish(&job.session_id, JobStatus::Processing, Some(message));
        };
        let summary = match self.decoder.convert(&path, pcm.as_ref().map(|p| p.0.as_path()), progress).await {
            Ok(summary) => Some(summary),
            // A codec this daemon cannot decode (Opus: voice notes, browser recordings) still
            // goes, unchecked, to a provider that decodes it itself; the provider measures
            // the duration and there is no waveform.
            Err(AudioError::UnsupportedCodec { .. }) if stt.accepts(encoding) && !oversized => None,
            Err(err @ AudioError::UnsupportedCodec { .. }) if oversized => {
                return Err(Failure::Fatal(format!("{err}, and the file is larger than {} takes in one file, so it cannot be cut into parts", stt.id())));
            }
            Err(err @ AudioError::UnsupportedCodec { .. }) => {
                return Err(Failure::Fatal(format!("{err}, or choose a provider that accepts it")));
            }
            Err(err) => return Err(Failure::Fatal(err.to_string())),
        };
        Ok(Prepared { stt, path, encoding, size_bytes, summary, pcm, stt_reads_pcm, task })
    }

    /// Runs the recogniser over a prepared file: whole, or as chunks of speech.
    pub(super) async fn recognise(&self, job: &Job, prepared: &Prepared<'_>) -> Result<Transcript, Failure> {
        let Prepared { stt, path, encoding, summary, pcm, stt_reads_pcm, task, .. } = prepared;
        let task = *task;
        let unreadable = |err: std::io::Error| Failure::Fatal(format!("the stored audio is unreadable: {err}"));
        let sent_pcm = pcm.as_ref().filter(|_| *stt_reads_pcm);
        let (input, format) = match sent_pcm {
            Some(pcm) => (
                AudioInput::from_path(&pcm.0).map_err(unreadable)?,
                AudioFormat { encoding: AudioEncoding::Linear16, sample_rate: audio::TARGET_RATE, channels: 1 },
            ),
            // Rate and channels are advisory for containers; 0 says "not measured".
            None => (
                AudioInput::from_path(path).map_err(unreadable)?,
                AudioFormat {
                    encoding: *encoding,
                    sample_rate: summary.as_ref().map_or(0, |s| s.source_rate),
                    channels: summary.as_ref().map_or(0, |s| u8::try_from(s.source_channels).unwrap_or(u8::MAX)),
                },
            ),
        };
        let duration = summary.as_ref().map(|s| Duration::from_millis(s.duration_ms));
        let window = sent_pcm.and_then(|pcm| chunked::window(stt, std::fs::metadata(&pcm.0).map_or(0, |m| m.len())));
        match (sent_pcm, window, &self.providers.speech) {
            (Some(pcm), Some(window), Some(detector)) => self.transcribe_speech(job, stt, &pcm.0, window.length, detector.clone(), task).await,
            (_, Some(window), None) if window.required => Err(Failure::Fatal(format!(
                "the audio is larger than {} takes in one file ({} bytes), and cutting it needs the speech detector: install it with `scribed models install {}`",
                stt.id(),
                stt.max_file_bytes().unwrap_or_default(),
                speech::MODEL
            ))),
            _ => match stt.transcribe_asking(format, input, job.language.clone(), job.prompt.clone(), task, duration).await {
                Ok(Ok(transcript)) => Ok(transcript),
                Ok(Err(err)) => Err(Failure::classify(err, stt.id())),
                // The CPU budget scales with the audio's length: a call that used it all up
                // would do the same again.
                Err(call @ CallError::Timeout { .. }) => Err(Failure::Fatal(call.to_string())),
                Err(call) => Err(Failure::Retry { message: call.to_string(), after: None }),
            },
        }
    }

    /// Finds the speech in the canonical PCM `pcm`, then transcribes it as chunks of at most
    /// `window` on the plugin's instances, with progress events as chunks finish. A file with
    /// no speech gives an empty transcript without calling the plugin.
    async fn transcribe_speech(&self, job: &Job, stt: &BatchStt, pcm: &Path, window: Duration, detector: Arc<Silero>, task: Task) -> Result<Transcript, Failure> {
        let max_samples = window.as_secs() as usize * audio::TARGET_RATE as usize;
        let reported = task == Task::Transcribe;
        let (events, session_id, path) = (self.events.clone(), job.session_id.clone(), pcm.to_path_buf());
        let found = tokio::task::spawn_blocking(move || {
            speech::chunks(&detector, &path, max_samples, |samples| {
                if !reported {
                    return;
                }
                let heard = Duration::from_secs((samples / audio::TARGET_RATE as usize) as u64);
                let message = format!("finding speech: {} of audio so far", humantime::format_duration(heard));
                events.publish(Event::Job { session_id: session_id.clone(), status: JobStatus::Processing, message: Some(message), progress: None });
            })
        })
        .await;
        let chunks = match found {
            Ok(Ok(chunks)) => chunks,
            Ok(Err(err)) => return Err(Failure::Retry { message: format!("reading the decoded audio failed: {err}"), after: None }),
            Err(err) => return Err(Failure::Fatal(format!("finding the speech failed: {err}"))),
        };
        let total = chunks.len();
        let started = std::time::Instant::now();
        let progress = |done: usize| {
            if !reported {
                return;
            }
            // The pace so far, for what is left.
            let eta = (done > 0).then(|| (started.elapsed().as_secs_f64() / done as f64 * (total - done) as f64).round() as u64);
            let progress = Some(JobProgress::new(done, total, eta));
            self.events.publish(Event::Job { session_id: job.session_id.clone(), status: JobStatus::Processing, message: None, progress });
        };
        if total > 0 {
            progress(0);
        }
        chunked::transcribe(stt, pcm, &chunks, job.language.as_deref(), task, progress).await
    }
}
