//! A stored file translated into English, for `POST /v1/audio/translations`. The session's
//! audio goes through a recogniser once more ([`super::recognise`]) with the task `translate`;
//! the English words are the answer to the request, not a version of the session: the
//! library keeps the transcript in the language spoken, which is what its search, summary
//! and speakers are about. A translation is no job of the session, so it is neither queued
//! nor reported; a client that hangs up cancels it (the session is whole without it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::FilePipeline;
use crate::audio::TARGET_RATE;
use crate::clients::stt::{AudioEncoding, AudioFormat, AudioInput, Task, Transcript};
use crate::plugin::bindings::types::PluginError;
use crate::queue::files::{Job, JobAsk};
use crate::retry::Failure;

/// Why there is no translation.
#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    /// The recogniser does not translate (an English-only model, a plugin built before
    /// `scribe:plugin@0.3.0`); its reason.
    #[error("{0}")]
    Unsupported(String),
    /// Worth asking again later (a provider outage, a busy sandbox).
    #[error("{0}")]
    Unavailable(String),
    /// The audio could not be translated.
    #[error("{0}")]
    Failed(String),
}

/// Names the working PCM of concurrent translations apart.
static TRANSLATIONS: AtomicU64 = AtomicU64::new(0);

impl FilePipeline {
    /// Translates the stored audio of `session_id` into English with the recogniser `ask`
    /// names (the configured one when none), in the spoken language it names, if any. The
    /// recogniser is first asked with no audio whether it translates at all, so a refusal
    /// costs no decoding.
    pub async fn translate(&self, session_id: &str, ask: &JobAsk) -> Result<Transcript, TranslateError> {
        let failed = |err: &dyn std::fmt::Display| TranslateError::Failed(format!("{err}"));
        let job = self.jobs.get(session_id).await.map_err(|e| failed(&e))?.ok_or_else(|| failed(&format!("the session {session_id} has no file")))?;
        let stt = self.providers.get(ask.provider.as_deref()).ok_or_else(|| failed(&"no speech-to-text plugin is configured (roles.stt_batch)"))?;
        let nothing = AudioFormat { encoding: AudioEncoding::Linear16, sample_rate: TARGET_RATE, channels: 1 };
        match stt.transcribe_asking(nothing, AudioInput::from_memory(Vec::new().into()), None, None, Task::Translate, Some(Duration::ZERO)).await {
            Ok(Ok(_)) => {}
            Ok(Err(PluginError::BadInput(reason))) => return Err(TranslateError::Unsupported(format!("{} does not translate: {reason}", stt.id()))),
            Ok(Err(err)) => return Err(classified(Failure::classify(err, stt.id()))),
            Err(call) => return Err(TranslateError::Unavailable(call.to_string())),
        }
        let stored = match self.library.get_audio_file(session_id.to_string()).await.map_err(|e| failed(&e))? {
            Some(file) => self.audio.find(&file.sha256).await,
            None => None,
        };
        let path = stored.ok_or_else(|| failed(&format!("the session {session_id} has no stored audio")))?;
        let job = Job { path, provider: Some(stt.id().to_string()), language: ask.language.clone(), prompt: ask.prompt.clone(), ..job };
        let scratch = format!("translation-{}.pcm", TRANSLATIONS.fetch_add(1, Ordering::Relaxed));
        let prepared = self.prepare(&job, &scratch, Task::Translate).await.map_err(classified)?;
        self.recognise(&job, &prepared).await.map_err(classified)
    }
}

fn classified(failure: Failure) -> TranslateError {
    match failure {
        Failure::Retry { message, .. } => TranslateError::Unavailable(message),
        other => TranslateError::Failed(other.into_message()),
    }
}
