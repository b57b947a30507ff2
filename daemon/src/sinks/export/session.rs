//! A whole session read back from the library for an export: the session, every word of a
//! transcript version, the speakers' names and the summary; and the file name it is saved as.

use super::ExportFormat;
use super::cues::Transcript;
use crate::clients::library::{Library, LibraryError, Session, Speaker, StoredSummary, TranscriptVersion, Word};

/// Words fetched per library call while loading a whole transcript (the store's page limit).
const WORDS_PER_PAGE: u32 = 10_000;

/// A session with everything an export shows, loaded from the library.
pub struct SessionExport {
    pub session: Session,
    pub words: Vec<Word>,
    pub speakers: Vec<Speaker>,
    pub summary: Option<StoredSummary>,
}

impl SessionExport {
    /// Loads `session` with all words of `version` (none: an empty transcript).
    pub async fn load(library: &Library, session: Session, version: Option<&TranscriptVersion>) -> Result<SessionExport, LibraryError> {
        let mut words = Vec::new();
        if let Some(version) = version {
            while (words.len() as u64) < version.word_count {
                let page = library.get_words(version.id, words.len() as u64, WORDS_PER_PAGE).await?;
                if page.is_empty() {
                    break;
                }
                words.extend(page);
            }
        }
        let speakers = library.list_speakers(session.id.clone()).await?;
        let summary = library.get_summary(session.id.clone()).await?;
        Ok(SessionExport { session, words, speakers, summary })
    }

    /// Loads the session's newest version; `None` when there is no such session.
    pub async fn load_latest(library: &Library, id: &str) -> Result<Option<SessionExport>, LibraryError> {
        let Some(session) = library.get_session(id.to_string()).await? else {
            return Ok(None);
        };
        let versions = library.list_versions(id.to_string()).await?;
        Ok(Some(SessionExport::load(library, session, versions.last()).await?))
    }

    pub fn render(&self, format: ExportFormat) -> String {
        self.transcript().render(format)
    }

    /// The transcript as the exports cut it.
    pub fn transcript(&self) -> Transcript<'_> {
        Transcript { title: &self.session.title, words: &self.words, speakers: &self.speakers, summary: self.summary.as_ref() }
    }

    /// Length of the audio, ms: as measured, else to the end of the last word.
    pub fn duration_ms(&self) -> u64 {
        self.session.duration_ms.unwrap_or_else(|| self.words.last().map_or(0, |w| w.end_ms))
    }

    /// `words` as one text, each as displayed.
    pub fn displayed(words: &[Word]) -> String {
        words.iter().map(|w| w.punctuated.as_str()).collect::<Vec<_>>().join(" ")
    }

    /// The mean confidence of `words`, 0 to 1.
    pub fn confidence(words: &[Word]) -> f64 {
        words.iter().map(|w| f64::from(w.confidence)).sum::<f64>() / words.len().max(1) as f64
    }

    /// A file name for this export: the title made safe for any filesystem, and the id so
    /// two sessions never share a name.
    pub fn file_name(&self, format: ExportFormat) -> String {
        file_name(&self.session.title, &self.session.id, format)
    }
}

/// Bytes of the title kept in an export's file name. File systems allow 255 bytes a name;
/// the rest is left for the id, the extension and the writer's `.NAME.partial`.
const MAX_FILE_TITLE_BYTES: usize = 160;

/// `<safe title>-<id>.<ext>`, the title cut at a character boundary within
/// [`MAX_FILE_TITLE_BYTES`] (a title in Cyrillic or CJK is 2-4 bytes a character).
pub(super) fn file_name(title: &str, id: &str, format: ExportFormat) -> String {
    let mut safe = String::new();
    for c in title.chars().map(|c| if c.is_alphanumeric() || matches!(c, ' ' | '-' | '_') { c } else { '_' }) {
        if safe.len() + c.len_utf8() > MAX_FILE_TITLE_BYTES {
            break;
        }
        safe.push(c);
    }
    let title = safe.trim();
    let id = safe_id(id);
    if title.is_empty() { format!("{id}.{}", format.extension()) } else { format!("{title}-{id}.{}", format.extension()) }
}

/// A session id reduced to characters safe in file names and headers.
pub fn safe_id(id: &str) -> String {
    id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}
