//! Online backups and restores of a data dir, beside the data path: they copy what its
//! stages stored. [`Backups::start`] takes a consistent backup while the daemon runs and
//! keeps ingesting:
//!
//! - every SQLite database (the daemon's own and each plugin's, the store's among them)
//!   through SQLite's online backup API, whole, so the store plugin stays the only owner of
//!   its schema ([`files::snapshot_database`]);
//! - the content-addressed audio, incrementally: a second backup to the same place copies
//!   only new files, and hard-links them when the backup is on the same filesystem;
//! - the configuration, the API token (mode 0600) and plugins installed in the data dir;
//!   not the search index, which is rebuilt from the library, nor models and caches;
//! - last, the [`manifest`] with every file's SHA-256 and the sessions held whole.
//!
//! [`restore`] checks a backup against its manifest and makes a new data dir of it.

pub mod files;
pub mod manifest;
pub mod restore;

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::clients::library::{Library, SessionFilter, now_ms};
use crate::sinks::events::{BackupStage as Stage, BackupStatus as Status, BackupSummary as Summary, Event, EventHub};
use files::Placed;
use manifest::{DATA, Entry, Listed, Manifest, StoreVersion};

/// A file in a backup folder that says a backup made it: a non-empty folder without it is
/// never written to.
const MARKER: &str = ".scribe-backup";
/// Library changes and sessions read per store call.
const PAGE: u32 = 500;
/// The API token's name in the data dir and the backup.
const TOKEN: &str = crate::secret::TOKEN_FILE;

/// Why a backup could not start.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("a backup is running already")]
    Busy,
    #[error("{0}")]
    Destination(String),
}

/// What is backed up.
#[derive(Clone)]
pub struct Source {
    pub data_dir: PathBuf,
    /// The configuration file's text (the embedded defaults when none was given).
    pub config_text: String,
    pub library: Library,
    pub store: Option<StoreVersion>,
}

/// Backups of this daemon's data dir, one at a time.
pub struct Backups {
    source: Source,
    events: EventHub,
    latest: std::sync::Mutex<Option<Status>>,
    running: Arc<tokio::sync::Mutex<()>>,
}

impl Backups {
    pub fn new(source: Source, events: EventHub) -> Arc<Backups> {
        Arc::new(Backups { source, events, latest: std::sync::Mutex::new(None), running: Arc::new(tokio::sync::Mutex::new(())) })
    }

    /// The latest backup's state, if one was started since the daemon started.
    pub fn latest(&self) -> Option<Status> {
        self.latest.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn report(&self, status: Status) {
        self.events.publish(Event::Backup(Box::new(status.clone())));
        *self.latest.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(status);
    }

    /// Starts a backup to `dest`; its progress and end are `backup` events and
    /// [`Backups::latest`].
    pub fn start(self: &Arc<Self>, dest: &Path) -> Result<PathBuf, BackupError> {
        let running = self.running.clone().try_lock_owned().map_err(|_| BackupError::Busy)?;
        let dest = check_destination(dest, &self.source.data_dir)?;
        let this = self.clone();
        let target = dest.clone();
        let status = move |stage, done_bytes, total_bytes| Status {
            dest: target.clone(),
            stage,
            done_bytes,
            total_bytes,
            message: None,
            summary: None,
        };
        self.report(status(Stage::Databases, 0, 0));
        let target = dest.clone();
        tokio::spawn(async move {
            let _running = running;
            let progress = {
                let this = this.clone();
                move |stage, done, total| this.report(status(stage, done, total))
            };
            let outcome = take(&this.source, &target, progress).await;
            let (stage, message, summary) = match outcome {
                Ok(summary) => {
                    tracing::info!(dest = %target.display(), files = summary.files, bytes = summary.bytes, copied = summary.copied_bytes, "backup done");
                    (Stage::Done, None, Some(summary))
                }
                Err(err) => {
                    tracing::error!(dest = %target.display(), "backup failed: {err:#}");
                    (Stage::Failed, Some(format!("{err:#}")), None)
                }
            };
            let last = this.latest();
            let (done_bytes, total_bytes) = last.map_or((0, 0), |s| (s.done_bytes, s.total_bytes));
            this.report(Status { dest: target, stage, done_bytes, total_bytes, message, summary });
        });
        Ok(dest)
    }
}

/// `dest` made absolute and checked: outside the data dir, and either new, empty, or an
/// earlier backup.
fn check_destination(dest: &Path, data_dir: &Path) -> Result<PathBuf, BackupError> {
    let bad = |m: String| BackupError::Destination(m);
    if !dest.is_absolute() {
        return Err(bad(format!("the backup folder must be an absolute path, not {}", dest.display())));
    }
    let canonical_data = data_dir.canonicalize().unwrap_or_else(|_| data_dir.to_path_buf());
    // The nearest existing ancestor decides where the folder really is (symlinks included).
    let mut existing = dest.to_path_buf();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.file_name().map(ToOwned::to_owned), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => break,
        }
    }
    let mut real = existing.canonicalize().map_err(|e| bad(format!("{}: {e}", dest.display())))?;
    real.extend(rest.iter().rev());
    if real.starts_with(&canonical_data) || canonical_data.starts_with(&real) {
        return Err(bad(format!(
            "the backup folder {} overlaps the data dir {}; choose a folder outside it (another disk is best)",
            real.display(),
            canonical_data.display()
        )));
    }
    if real.is_dir() {
        let empty = std::fs::read_dir(&real).map_err(|e| bad(format!("{}: {e}", real.display())))?.next().is_none();
        if !empty && !real.join(MARKER).exists() {
            return Err(bad(format!(
                "{} is not empty and holds no earlier scribed backup; choose an empty or new folder",
                real.display()
            )));
        }
    } else if real.exists() {
        return Err(bad(format!("{} is not a folder", real.display())));
    }
    Ok(real)
}

/// Session ids and their latest change numbers.
async fn changes(library: &Library) -> Result<HashMap<String, u64>> {
    let mut seen = HashMap::new();
    let mut after = 0;
    loop {
        let page = library.changes_since(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        seen.extend(page.into_iter().map(|c| (c.session_id, c.seq)));
    }
    Ok(seen)
}

async fn session_ids(library: &Library) -> Result<HashSet<String>> {
    let filter = SessionFilter { kind: None, status: None, created_from_ms: None, created_before_ms: None };
    let mut ids = HashSet::new();
    let mut cursor = None;
    loop {
        let page = library.list_sessions(filter, cursor, PAGE).await?;
        ids.extend(page.sessions.into_iter().map(|s| s.id));
        cursor = page.next_cursor;
        if cursor.is_none() {
            return Ok(ids);
        }
    }
}

fn private_dir(dir: &Path) -> Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).with_context(|| format!("creating {}", dir.display()))
}

fn slash_path(path: &Path) -> String {
    path.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// Takes a backup of `source` into `dest`, reporting `(stage, done bytes, total bytes)`.
pub async fn take(source: &Source, dest: &Path, progress: impl Fn(Stage, u64, u64) + Send + Sync + 'static) -> Result<Summary> {
    let started = Instant::now();
    let started_ms = now_ms();
    private_dir(dest)?;
    std::fs::write(dest.join(MARKER), b"a scribed backup; restore it with `scribed restore`\n")?;
    // Gone first: until the new one is written last, this backup is recognisably incomplete.
    match std::fs::remove_file(dest.join(manifest::FILE)) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err).context("removing the earlier manifest"),
        _ => {}
    }
    let before = changes(&source.library).await?;
    let data_dir = source.data_dir.clone();
    let target = dest.join(DATA);
    let progress = Arc::new(progress);
    let copied = {
        let progress = progress.clone();
        let (data_dir, target) = (data_dir.clone(), target.clone());
        tokio::task::spawn_blocking(move || copy_state(&data_dir, &target, &*progress)).await??
    };
    // A session that changed while the databases were copied may be caught half-way (its
    // words but not its summary): only the ones that did not are listed as held whole.
    let after = changes(&source.library).await?;
    let present = session_ids(&source.library).await?;
    let mut sessions: Vec<Listed> = before
        .into_iter()
        .filter(|(id, seq)| after.get(id) == Some(seq) && present.contains(id))
        .map(|(id, change)| Listed { id, change })
        .collect();
    sessions.sort_by(|a, b| a.id.cmp(&b.id));

    let (mut entries, mut summary) = copied;
    let audio = {
        let progress = progress.clone();
        let (data_dir, target) = (data_dir.clone(), target.clone());
        tokio::task::spawn_blocking(move || copy_audio(&data_dir, &target, &*progress)).await??
    };
    summary.audio_linked = audio.1.audio_linked;
    summary.audio_copied = audio.1.audio_copied;
    summary.audio_present = audio.1.audio_present;
    summary.copied_bytes += audio.1.copied_bytes;
    entries.extend(audio.0);

    let config = dest.join(manifest::CONFIG);
    std::fs::write(&config, &source.config_text).with_context(|| format!("writing {}", config.display()))?;
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600))?;
    let digest = files::sha256_counting(&config, |_| {})?;
    entries.push(Entry { path: manifest::CONFIG.into(), bytes: source.config_text.len() as u64, sha256: digest });

    summary.files = entries.len();
    summary.bytes = entries.iter().map(|e| e.bytes).sum();
    summary.sessions = sessions.len();
    let manifest = Manifest {
        format: manifest::FORMAT,
        scribed: env!("CARGO_PKG_VERSION").into(),
        store: source.store.clone(),
        started_ms,
        finished_ms: now_ms(),
        files: entries,
        sessions,
    };
    let root = dest.to_path_buf();
    let keep: HashSet<PathBuf> = manifest.files.iter().map(|e| root.join(&e.path)).collect();
    tokio::task::spawn_blocking(move || -> Result<()> {
        manifest.write(&root)?;
        // What the earlier backup held and this one does not (audio retention removed, a
        // deleted session's) goes now that the new manifest stands.
        for stale in files::walk(&root.join(DATA)).into_iter().filter(|p| !keep.contains(p)) {
            let _ = std::fs::remove_file(stale);
        }
        Ok(())
    })
    .await??;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Snapshots every database and copies the token and the installed plugins; returns their
/// entries.
fn copy_state(data_dir: &Path, target: &Path, progress: &dyn Fn(Stage, u64, u64)) -> Result<(Vec<Entry>, Summary)> {
    let found = files::data_files(data_dir);
    let total: u64 = found.databases.iter().filter_map(|p| std::fs::metadata(data_dir.join(p)).ok()).map(|m| m.len()).sum();
    let mut done = 0;
    let mut entries = Vec::new();
    let mut summary = Summary::default();
    progress(Stage::Databases, 0, total);
    for relative in &found.databases {
        let to = target.join(relative);
        if let Some(dir) = to.parent() {
            private_dir(dir)?;
        }
        files::snapshot_database(&data_dir.join(relative), &to)?;
        let bytes = std::fs::metadata(&to)?.len();
        let sha256 = files::sha256_counting(&to, |_| {})?;
        entries.push(Entry { path: format!("{DATA}/{}", slash_path(relative)), bytes, sha256 });
        summary.copied_bytes += bytes;
        done += bytes;
        progress(Stage::Databases, done.min(total), total);
    }
    let token = data_dir.join(TOKEN);
    if token.is_file() {
        let to = target.join(TOKEN);
        files::copy_durably(&token, &to)?;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600))?;
        let bytes = std::fs::metadata(&to)?.len();
        entries.push(Entry { path: format!("{DATA}/{TOKEN}"), bytes, sha256: files::sha256_counting(&to, |_| {})? });
    }
    // A few MB, and a plugin may be replaced under the same name: copied every time.
    for relative in &found.plugins {
        let to = target.join(relative);
        files::copy_durably(&data_dir.join(relative), &to)?;
        let bytes = std::fs::metadata(&to)?.len();
        summary.copied_bytes += bytes;
        entries.push(Entry { path: format!("{DATA}/{}", slash_path(relative)), bytes, sha256: files::sha256_counting(&to, |_| {})? });
    }
    Ok((entries, summary))
}

/// Puts every stored audio file into the backup; returns their entries.
fn copy_audio(data_dir: &Path, target: &Path, progress: &dyn Fn(Stage, u64, u64)) -> Result<(Vec<Entry>, Summary)> {
    let sized = files::audio_files(data_dir);
    let total: u64 = sized.iter().map(|(_, bytes)| bytes).sum();
    let mut done = 0;
    let mut entries = Vec::new();
    let mut summary = Summary::default();
    progress(Stage::Audio, 0, total);
    for (relative, bytes) in sized {
        let from = data_dir.join(&relative);
        let to = target.join(&relative);
        // Content-addressed: the name is the digest, checked again by a restore.
        let named = relative.file_stem().and_then(|s| s.to_str()).filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()));
        let sha256 = match named {
            Some(sha) => sha.to_string(),
            None => files::sha256_counting(&from, |_| {})?,
        };
        match files::place_audio(&from, &to, bytes) {
            Ok(Placed::Present) => summary.audio_present += 1,
            Ok(Placed::Linked) => summary.audio_linked += 1,
            Ok(Placed::Copied) => {
                summary.audio_copied += 1;
                summary.copied_bytes += bytes;
            }
            // Removed since the listing (retention, a deleted session): not in this backup.
            Err(_) if !from.exists() => continue,
            Err(err) => return Err(err),
        }
        entries.push(Entry { path: format!("{DATA}/{}", slash_path(&relative)), bytes, sha256 });
        done += bytes;
        progress(Stage::Audio, done, total);
    }
    Ok((entries, summary))
}
