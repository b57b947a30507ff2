//! Typed client of the store plugin: the daemon's only way to read or write the library.
//! Because every write passes here, the client also counts them ([`Library::writes`]): the
//! search indexer waits on that count to know the store may hold something new.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::sync::watch;
use wasmtime::Store;

use crate::plugin::bindings::library::{self, StoreError};
use crate::plugin::handle::{CallError, PluginHandle, WorldBindings};
use crate::plugin::manifest::World;
use crate::plugin::state::PluginState;

pub use crate::plugin::bindings::library::{
    AudioFile, Change, NewSession, Session, SessionFilter, SessionKind, SessionPage, SessionPatch,
    SessionStatus, Speaker, StoredSummary, TranscriptVersion,
};
pub use crate::plugin::bindings::types::{
    ActionItem, Paragraph, Sentence, Summary, TranscriptStructure, Utterance, Word,
};

/// Now, as the library stores times: ms since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A new session id: the kind's letter (`f` file, `l` live) and 16 random hex digits.
pub fn new_session_id(kind: SessionKind) -> String {
    let mut bytes = [0u8; 8];
    // Falls back to the clock: ids need to be unique, not secret.
    if getrandom::fill(&mut bytes).is_err() {
        bytes = now_ms().to_le_bytes();
    }
    let letter = match kind {
        SessionKind::File => 'f',
        SessionKind::Live => 'l',
    };
    format!("{letter}{}", hex::encode(bytes))
}

/// A session as the API lists it (and webhooks carry it).
#[derive(Debug, serde::Serialize)]
pub struct SessionView {
    id: String,
    kind: &'static str,
    status: &'static str,
    source: String,
    title: String,
    created_ms: i64,
    duration_ms: Option<u64>,
    provider: Option<String>,
    error: Option<String>,
}

impl From<Session> for SessionView {
    fn from(s: Session) -> Self {
        SessionView {
            id: s.id,
            kind: kind_name(s.kind),
            status: status_name(s.status),
            source: s.source,
            title: s.title,
            created_ms: s.created_ms,
            duration_ms: s.duration_ms,
            provider: s.provider,
            error: s.error,
        }
    }
}

/// The API's name of a session kind.
pub fn kind_name(kind: SessionKind) -> &'static str {
    match kind {
        SessionKind::Live => "live",
        SessionKind::File => "file",
    }
}

/// The API's name of a session status.
pub fn status_name(status: SessionStatus) -> &'static str {
    match status {
        SessionStatus::Queued => "queued",
        SessionStatus::Recording => "recording",
        SessionStatus::Processing => "processing",
        SessionStatus::Complete => "complete",
        SessionStatus::Error => "error",
        SessionStatus::Interrupted => "interrupted",
    }
}

/// Why a library operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LibraryError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("storage failed: {0}")]
    Storage(String),
    #[error(transparent)]
    Plugin(#[from] CallError),
}

impl From<StoreError> for LibraryError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(m) => LibraryError::NotFound(m),
            StoreError::Conflict(m) => LibraryError::Conflict(m),
            StoreError::Invalid(m) => LibraryError::Invalid(m),
            StoreError::Storage(m) => LibraryError::Storage(m),
        }
    }
}

type StoreResult<R> = wasmtime::Result<Result<R, StoreError>>;

/// The library, backed by the configured store plugin.
#[derive(Clone)]
pub struct Library {
    handle: PluginHandle,
    /// Writes made so far through any clone of this client.
    writes: Arc<watch::Sender<u64>>,
}

macro_rules! library_call {
    ($self:ident, |$lib:ident, $store:ident| $body:expr) => {
        $self.call(move |$lib, $store| Box::pin(async move { $body.await })).await
    };
}

/// A call that may change the store; counted whether or not it succeeded, since a failed
/// write may still have changed something before it failed.
macro_rules! library_write {
    ($self:ident, |$lib:ident, $store:ident| $body:expr) => {{
        let result = library_call!($self, |$lib, $store| $body);
        $self.writes.send_modify(|n| *n += 1);
        result
    }};
}

impl Library {
    /// Wraps a store plugin's handle.
    pub fn new(handle: PluginHandle) -> Result<Library, CallError> {
        if handle.manifest().world != World::Store {
            return Err(handle.wrong_world(World::Store));
        }
        Ok(Library { handle, writes: Arc::new(watch::Sender::new(0)) })
    }

    /// Changes after every write made through this library, and when another node of the
    /// cluster changed the store.
    pub fn writes(&self) -> watch::Receiver<u64> {
        self.writes.subscribe()
    }

    /// Another client of the same store (a node of the cluster) changed it.
    pub fn changed_elsewhere(&self) {
        self.writes.send_modify(|n| *n += 1);
    }

    async fn call<R, F>(&self, f: F) -> Result<R, LibraryError>
    where
        R: Send + 'static,
        F: for<'a> FnOnce(&'a library::Guest, &'a mut Store<PluginState>) -> BoxFuture<'a, StoreResult<R>>
            + Send
            + 'static,
    {
        let result = self
            .handle
            .call(move |instance| {
                Box::pin(async move {
                    match &instance.bindings {
                        WorldBindings::Store(bindings) => {
                            f(bindings.scribe_plugin_library(), &mut instance.store).await
                        }
                        _ => Err(wasmtime::Error::msg("not a store plugin")),
                    }
                })
            })
            .await?;
        Ok(result?)
    }

    pub async fn migrate(&self) -> Result<u32, LibraryError> {
        library_call!(self, |lib, store| lib.call_migrate(store))
    }

    pub async fn create_session(&self, session: NewSession) -> Result<Session, LibraryError> {
        library_write!(self, |lib, store| lib.call_create_session(store, &session))
    }

    pub async fn update_session(&self, id: String, patch: SessionPatch) -> Result<Session, LibraryError> {
        library_write!(self, |lib, store| lib.call_update_session(store, &id, &patch))
    }

    pub async fn get_session(&self, id: String) -> Result<Option<Session>, LibraryError> {
        library_call!(self, |lib, store| lib.call_get_session(store, &id))
    }

    pub async fn list_sessions(
        &self,
        filter: SessionFilter,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<SessionPage, LibraryError> {
        library_call!(self, |lib, store| lib.call_list_sessions(store, filter, cursor.as_deref(), limit))
    }

    pub async fn delete_session(&self, id: String) -> Result<bool, LibraryError> {
        library_write!(self, |lib, store| lib.call_delete_session(store, &id))
    }

    pub async fn create_version(
        &self,
        session_id: String,
        provider: String,
        created_ms: i64,
    ) -> Result<TranscriptVersion, LibraryError> {
        library_write!(self, |lib, store| lib.call_create_version(store, &session_id, &provider, created_ms))
    }

    pub async fn list_versions(&self, session_id: String) -> Result<Vec<TranscriptVersion>, LibraryError> {
        library_call!(self, |lib, store| lib.call_list_versions(store, &session_id))
    }

    pub async fn append_words(&self, version_id: u64, words: Vec<Word>) -> Result<u64, LibraryError> {
        library_write!(self, |lib, store| lib.call_append_words(store, version_id, &words))
    }

    pub async fn get_words(&self, version_id: u64, offset: u64, limit: u32) -> Result<Vec<Word>, LibraryError> {
        library_call!(self, |lib, store| lib.call_get_words(store, version_id, offset, limit))
    }

    pub async fn put_structure(&self, version_id: u64, structure: TranscriptStructure) -> Result<(), LibraryError> {
        library_write!(self, |lib, store| lib.call_put_structure(store, version_id, &structure))
    }

    pub async fn get_structure(&self, version_id: u64) -> Result<TranscriptStructure, LibraryError> {
        library_call!(self, |lib, store| lib.call_get_structure(store, version_id))
    }

    pub async fn set_speaker_name(&self, session_id: String, speaker: u32, name: String) -> Result<(), LibraryError> {
        library_write!(self, |lib, store| lib.call_set_speaker_name(store, &session_id, speaker, &name))
    }

    pub async fn list_speakers(&self, session_id: String) -> Result<Vec<Speaker>, LibraryError> {
        library_call!(self, |lib, store| lib.call_list_speakers(store, &session_id))
    }

    pub async fn put_summary(&self, session_id: String, summary: StoredSummary) -> Result<(), LibraryError> {
        library_write!(self, |lib, store| lib.call_put_summary(store, &session_id, &summary))
    }

    pub async fn get_summary(&self, session_id: String) -> Result<Option<StoredSummary>, LibraryError> {
        library_call!(self, |lib, store| lib.call_get_summary(store, &session_id))
    }

    /// Sessions changed after change number `after`, oldest first, at most `limit`.
    pub async fn changes_since(&self, after: u64, limit: u32) -> Result<Vec<Change>, LibraryError> {
        library_call!(self, |lib, store| lib.call_changes_since(store, after, limit))
    }

    pub async fn put_audio_file(&self, session_id: String, file: AudioFile) -> Result<(), LibraryError> {
        library_write!(self, |lib, store| lib.call_put_audio_file(store, &session_id, &file))
    }

    pub async fn get_audio_file(&self, session_id: String) -> Result<Option<AudioFile>, LibraryError> {
        library_call!(self, |lib, store| lib.call_get_audio_file(store, &session_id))
    }
}
