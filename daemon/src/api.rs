//! The HTTP/WebSocket API: one axum router behind one security middleware.
//!
//! - `GET /healthz`, `GET /api/v1/plugins…`, `GET /api/v1/status`: health and status (see
//!   [`status`]);
//! - `/api/v1/pair`: pairing a browser when a token is required (see [`pairing`]);
//! - `GET /api/v1/search…`: full-text search (see [`search`]);
//! - `GET /api/v1/events`: WebSocket of daemon events;
//! - `/api/v1/live…`, `/api/v1/devices`: live sessions and browser audio (see [`live`]);
//! - `/api/v1/sessions/…`: the library (see [`sessions`]), audio and waveforms (see
//!   [`playback`]);
//! - `POST /api/v1/retention`: the audio retention rules, now or as a dry run (see
//!   [`retention`]); `/api/v1/backup`: online backups (see [`backup`]);
//! - `POST /api/v1/uploads?name=FILE`: a file to transcribe (see [`uploads`]);
//! - `GET /api/v1/webhooks/deliveries`: what the webhooks sent (see [`webhooks`]);
//! - `/v1/audio/…`, `/v1/models`: OpenAI's speech-to-text API (see [`openai`]);
//! - `/v1/listen`: Deepgram's pre-recorded API (`POST`) and live WebSocket (`GET`) (see
//!   [`deepgram`]);
//! - everything else under `/`: the embedded web UI.

pub(crate) mod compat;
mod backup;
mod deepgram;
mod error;
mod events;
mod live;
mod openai;
mod pairing;
mod playback;
mod retention;
pub mod security;
mod sessions;
mod speakers;
mod search;
mod summary;
mod status;
pub(crate) mod uploads;
mod webhooks;
mod ui;

use std::sync::Arc;

use axum::Router;
use axum::middleware;
pub use error::ApiError;
pub use security::SecurityPolicy;

use crate::sinks::events::EventHub;
use crate::files::FilePipeline;
use crate::live::LiveSessions;
use crate::clients::library::Library;
pub use status::DaemonPaths;
pub use uploads::{UploadLimits, clear_upload_leftovers};
use crate::plugin::registry::PluginRegistry;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<AppInner>,
}

pub struct AppInner {
    pub registry: Arc<PluginRegistry>,
    /// Which plugin plays each speech-to-text part, and why.
    pub roles: crate::plugin::roles::Roles,
    /// The library, when the store plugin is up.
    pub library: Option<Library>,
    /// Why there is no library, for the status page.
    pub library_error: Option<String>,
    /// This node's part in a cluster, when it is one.
    pub cluster: Option<crate::cluster::Cluster>,
    /// File transcription, when the library is up.
    pub files: Option<Arc<FilePipeline>>,
    pub uploads: UploadLimits,
    pub security: SecurityPolicy,
    pub events: EventHub,
    pub live: LiveSessions,
    /// Summaries, when the library is up.
    pub summaries: Option<Arc<crate::summaries::Summaries>>,
    /// The search index and its indexer, when the library is up.
    pub indexer: Option<Arc<crate::sinks::search::indexer::Indexer>>,
    /// The voice profiles.
    pub voices: Arc<crate::speakers::voices::Voices>,
    /// The webhook deliveries, when receivers are configured.
    pub webhooks: Option<crate::queue::webhooks::WebhookQueue>,
    /// New uploads wait while the disk is low.
    pub disk: Arc<crate::disk::DiskGuard>,
    /// Pins and removed audio, when the library is up.
    pub retention: Option<Arc<crate::retention::Retention>>,
    /// Online backups, when the library is up.
    pub backups: Option<Arc<crate::backup::Backups>>,
    pub paths: DaemonPaths,
}

impl std::ops::Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.inner
    }
}

impl AppState {
    pub fn new(inner: AppInner) -> AppState {
        AppState { inner: Arc::new(inner) }
    }
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(status::router())
        .merge(pairing::router())
        .merge(events::router())
        .merge(live::router())
        .merge(sessions::router())
        .merge(summary::router())
        .merge(speakers::router())
        .merge(search::router())
        .merge(playback::router())
        .merge(retention::router())
        .merge(backup::router())
        .merge(uploads::router())
        .merge(webhooks::router())
        .merge(openai::router())
        .merge(deepgram::router())
        .merge(ui::router())
        .fallback(ui::fallback)
        .layer(middleware::from_fn(error::json_errors))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(error::panicked))
        .layer(middleware::from_fn_with_state(state.clone(), security::guard))
        .with_state(state)
}
