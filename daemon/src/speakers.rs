//! Who spoke when: the stage between a stored transcript that came without speakers
//! (whisper-local's, a live session's) and the finish stage ([`crate::finish`]), so exports
//! and the summary see the speakers.
//!
//! The diarizer plugin ([`crate::clients::diarizer`]) reads the session's canonical PCM and
//! gives speaker turns and one voice embedding per speaker. [`assign`] lays the turns over
//! the words; the result is stored as a new transcript version (the provider's id joined to
//! the diarizer's, e.g. `whisper-local+diarize-local`), so the version the recogniser made
//! stays as it was. [`voices`] then names the speakers whose voice matches a profile.

pub mod assign;
pub mod parts;
pub mod voices;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::clients::diarizer::{Diarizer, SpeakerCount};
use crate::clients::library::{Library, now_ms};
use crate::plugin::bindings::types::{TranscriptStructure, Word};
use crate::plugin::capabilities::audio::AudioInput;
use crate::plugin::capabilities::work_progress::WorkSink;
use crate::sinks::events::{Event, EventHub, JobProgress, JobStatus};
use voices::Voices;

/// Words stored per library call (as the file pipeline stores them).
const WORDS_PER_APPEND: usize = 2_000;
/// Progress is reported in thousandths.
const PROGRESS_UNITS: usize = 1_000;

/// What diarizing a session gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Labelled {
    /// The new transcript version.
    pub version_id: u64,
    /// Distinct speakers among the words.
    pub speakers: usize,
    /// Speakers named from a voice profile.
    pub recognised: usize,
    /// What the diarizer could not honour.
    pub warnings: Vec<String>,
}

/// The stage: a diarizer, the library and the voice profiles.
pub struct Speakers {
    diarizer: Diarizer,
    library: Library,
    voices: Arc<Voices>,
    events: EventHub,
}

impl std::fmt::Debug for Speakers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Speakers({})", self.diarizer.id())
    }
}

/// Whether a transcript needs its speakers found: it has words and none has a speaker.
pub fn needed(words: &[Word]) -> bool {
    !words.is_empty() && words.iter().all(|w| w.speaker.is_none())
}

impl Speakers {
    pub fn new(diarizer: Diarizer, library: Library, voices: Arc<Voices>, events: EventHub) -> Speakers {
        Speakers { diarizer, library, voices, events }
    }

    pub fn id(&self) -> &str {
        self.diarizer.id()
    }

    /// Diarizes the canonical PCM at `pcm` of a session whose transcript (`words` and
    /// `structure`, from `provider`) has no speakers, and stores the transcript with
    /// speakers as a new version. Progress goes out as job events. The error is a message
    /// for the session: the transcript it had stays.
    pub async fn label(&self, session_id: &str, provider: &str, words: &[Word], structure: &TranscriptStructure, pcm: &Path) -> Result<Labelled, String> {
        let input = AudioInput::from_path(pcm).map_err(|err| format!("the decoded audio is unreadable: {err}"))?;
        let (events, session, started) = (self.events.clone(), session_id.to_string(), Instant::now());
        let progress = WorkSink::new(move |fraction| {
            let done = (fraction * PROGRESS_UNITS as f64) as usize;
            let eta = (done > 0).then(|| (started.elapsed().as_secs_f64() / done as f64 * (PROGRESS_UNITS - done.min(PROGRESS_UNITS)) as f64).round() as u64);
            events.publish(Event::Job {
                session_id: session.clone(),
                status: JobStatus::Processing,
                message: Some("telling the speakers apart".into()),
                progress: Some(JobProgress::new(done, PROGRESS_UNITS, eta)),
            });
        });
        let diarization = match parts::diarize(&self.diarizer, input, SpeakerCount::Any, parts::MIN_PART, progress).await {
            Ok(Ok(d)) => d,
            Ok(Err(err)) => return Err(format!("{}: {}", self.diarizer.id(), crate::retry::Failure::classify(err, self.diarizer.id()).into_message())),
            Err(call) => return Err(call.to_string()),
        };
        let labelled = assign::label_words(words, &diarization.turns);
        let structure = assign::restructure(structure, &labelled);
        let storage = |err: crate::clients::library::LibraryError| format!("storing the speakers failed: {err}");
        let version = self
            .library
            .create_version(session_id.to_string(), format!("{provider}+{}", self.diarizer.id()), now_ms())
            .await
            .map_err(storage)?;
        for chunk in labelled.chunks(WORDS_PER_APPEND) {
            self.library.append_words(version.id, chunk.to_vec()).await.map_err(storage)?;
        }
        if !structure.paragraphs.is_empty() || !structure.utterances.is_empty() {
            self.library.put_structure(version.id, structure).await.map_err(storage)?;
        }
        let mut heard: Vec<u32> = labelled.iter().filter_map(|w| w.speaker).collect();
        heard.sort_unstable();
        heard.dedup();
        let voices = self.voices.clone();
        let (session, embeddings) = (session_id.to_string(), diarization.speakers);
        let names = tokio::task::spawn_blocking(move || voices.remember_and_recognise(&session, &embeddings))
            .await
            .map_err(|err| format!("matching voice profiles failed: {err}"))?
            .map_err(|err| format!("matching voice profiles failed: {err:#}"))?;
        let mut recognised = 0;
        for (speaker, name) in names.iter().enumerate() {
            if let Some(name) = name {
                self.library.set_speaker_name(session_id.to_string(), speaker as u32, name.clone()).await.map_err(storage)?;
                recognised += 1;
            }
        }
        tracing::info!(session = session_id, speakers = heard.len(), recognised, "speakers found");
        Ok(Labelled { version_id: version.id, speakers: heard.len(), recognised, warnings: diarization.warnings })
    }
}
