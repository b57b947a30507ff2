//! Auto-export: when a session completes (see [`crate::finish`]), its transcript is written
//! into the outbox folder in every configured format, so other tools (a subtitle workflow, a
//! notes folder, a sync client) pick it up without talking to the API. A re-transcription rewrites the same
//! files. Each file is written under a temporary name and renamed, so a reader never sees
//! half an export.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::sinks::export::{ExportFormat, SessionExport};
use crate::clients::library::Library;

/// The outbox.
#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
    formats: Vec<ExportFormat>,
}

impl Outbox {
    pub fn new(dir: PathBuf, formats: Vec<ExportFormat>) -> Outbox {
        Outbox { dir, formats }
    }

    /// Writes every format of the session's newest transcript; returns the files written.
    pub async fn write(&self, library: &Library, session_id: &str) -> Result<Vec<PathBuf>> {
        let export = SessionExport::load_latest(library, session_id)
            .await?
            .with_context(|| format!("session {session_id} disappeared before its export"))?;
        tokio::fs::create_dir_all(&self.dir).await.with_context(|| format!("creating outbox {}", self.dir.display()))?;
        let mut written = Vec::with_capacity(self.formats.len());
        for format in &self.formats {
            let name = export.file_name(*format);
            let path = self.dir.join(&name);
            // Hidden while partial, so a watcher on the outbox ignores it.
            let partial = self.dir.join(format!(".{name}.partial"));
            tokio::fs::write(&partial, export.render(*format)).await.with_context(|| format!("writing {}", partial.display()))?;
            tokio::fs::rename(&partial, &path).await.with_context(|| format!("writing {}", path.display()))?;
            written.push(path);
        }
        Ok(written)
    }
}
