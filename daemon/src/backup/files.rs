//! The file work of backups and restores: SQLite's online backup API for databases, hard
//! links or copies for the audio, SHA-256 digests, and the walk over what a data dir holds.
//! All of it blocks; callers run it off the async executor.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::{Connection, OpenFlags};
use sha2::{Digest, Sha256};

use crate::audio::store::AudioStore;
use crate::config::AUDIO_DIR;

/// How long a database snapshot waits out a writer's lock before it tries again.
const BUSY_PAUSE: Duration = Duration::from_millis(50);
/// How long one SQLite call waits for a lock held by the daemon.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// The extension of every SQLite database in a data dir.
pub const DATABASE_EXTENSION: &str = "sqlite3";

/// The databases and plugins of a data dir, relative to it.
#[derive(Debug, Default)]
pub struct DataFiles {
    /// The daemon's databases at the top, and each plugin's in `plugin-data/<id>/`.
    pub databases: Vec<PathBuf>,
    /// Plugins installed in the data dir (`plugins/`, where the systemd unit puts them).
    pub plugins: Vec<PathBuf>,
}

fn is_database(path: &Path) -> bool {
    path.is_file() && path.extension().is_some_and(|e| e == DATABASE_EXTENSION)
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    files
}

/// Lists the databases and installed plugins of `data_dir` (the audio is listed by
/// [`audio_files`], after the databases are copied). The search index, models, caches and
/// scratch space are left out: each is rebuilt or fetched again.
pub fn data_files(data_dir: &Path) -> DataFiles {
    let relative = |path: &Path| path.strip_prefix(data_dir).map(Path::to_path_buf).ok();
    let mut found = DataFiles::default();
    found.databases.extend(files_in(data_dir).iter().filter(|p| is_database(p)).filter_map(|p| relative(p)));
    for plugin in files_in(&data_dir.join("plugin-data")).iter().filter(|p| p.is_dir()) {
        found.databases.extend(files_in(plugin).iter().filter(|p| is_database(p)).filter_map(|p| relative(p)));
    }
    found.plugins.extend(walk(&data_dir.join("plugins")).iter().filter_map(|p| relative(p)));
    found
}

/// The audio store's files, relative to `data_dir`, with their sizes.
pub fn audio_files(data_dir: &Path) -> Vec<(PathBuf, u64)> {
    let audio = AudioStore::new(data_dir.join(AUDIO_DIR));
    audio.stored_files().into_iter().filter_map(|(p, bytes)| Some((p.strip_prefix(data_dir).ok()?.to_path_buf(), bytes))).collect()
}

/// Copies the database at `from` to `to` through SQLite's online backup API: one consistent
/// moment of it, taken while the daemon goes on writing. The copy is a single file (no WAL),
/// made durable, and appears under its name only when whole.
pub fn snapshot_database(from: &Path, to: &Path) -> Result<()> {
    let source = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .with_context(|| format!("opening {}", from.display()))?;
    source.busy_timeout(BUSY_TIMEOUT)?;
    let partial = partial_name(to);
    remove_if_present(&partial)?;
    let mut copy = Connection::open(&partial).with_context(|| format!("creating {}", partial.display()))?;
    {
        let backup = rusqlite::backup::Backup::new(&source, &mut copy)?;
        // All pages in one step (-1): one read transaction, so one moment of the database.
        loop {
            match backup.step(-1).with_context(|| format!("backing up {}", from.display()))? {
                rusqlite::backup::StepResult::Done => break,
                rusqlite::backup::StepResult::More => {}
                // A writer holds a lock the read needs: its transaction is short.
                _ => std::thread::sleep(BUSY_PAUSE),
            }
        }
    }
    copy.pragma_update(None, "journal_mode", "DELETE")?;
    drop(copy);
    std::fs::File::open(&partial)?.sync_all()?;
    std::fs::rename(&partial, to).with_context(|| format!("writing {}", to.display()))?;
    Ok(())
}

/// How an audio file reached the backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// An earlier backup to the same place has it.
    Present,
    /// Hard-linked: the backup is on the data dir's filesystem.
    Linked,
    Copied,
}

/// Puts the content-addressed file `from` at `to`: left alone when an earlier backup put it
/// there (same name, so same bytes, and same size), else hard-linked, else copied.
pub fn place_audio(from: &Path, to: &Path, bytes: u64) -> Result<Placed> {
    match std::fs::metadata(to) {
        Ok(meta) if meta.len() == bytes => return Ok(Placed::Present),
        Ok(_) => remove_if_present(to)?,
        Err(_) => {}
    }
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if std::fs::hard_link(from, to).is_ok() {
        return Ok(Placed::Linked);
    }
    copy_durably(from, to)?;
    Ok(Placed::Copied)
}

/// Copies `from` to `to` through a partial name, synced before it takes the final one.
pub fn copy_durably(from: &Path, to: &Path) -> Result<()> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let partial = partial_name(to);
    std::fs::copy(from, &partial).with_context(|| format!("copying {} to {}", from.display(), partial.display()))?;
    std::fs::File::open(&partial)?.sync_all()?;
    std::fs::rename(&partial, to).with_context(|| format!("writing {}", to.display()))?;
    Ok(())
}

fn partial_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err).with_context(|| format!("removing {}", path.display())),
        _ => Ok(()),
    }
}

/// Hex SHA-256 of a file, reporting each block read to `progress`.
pub fn sha256_counting(path: &Path, mut progress: impl FnMut(u64)) -> Result<String> {
    use std::io::Read;
    /// Read size: large enough for disk throughput, small enough for a smooth bar.
    const BLOCK: usize = 1 << 20;
    let mut file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; BLOCK];
    loop {
        let n = file.read(&mut buffer).with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        progress(n as u64);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Every file under `dir`, recursively.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for path in files_in(dir) {
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_is_one_file_with_every_committed_row() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("a.sqlite3");
        let live = Connection::open(&db).expect("open");
        live.pragma_update(None, "journal_mode", "WAL").expect("wal");
        live.execute_batch("CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1), (2);").expect("rows");
        let copy = dir.path().join("copy.sqlite3");
        snapshot_database(&db, &copy).expect("snapshot");
        live.execute("INSERT INTO t VALUES (3)", []).expect("a later write");
        let restored = Connection::open(&copy).expect("open copy");
        let n: i64 = restored.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).expect("count");
        assert_eq!(n, 2);
        let mode: String = restored.query_row("PRAGMA journal_mode", [], |r| r.get(0)).expect("mode");
        assert_eq!(mode, "delete");
        assert!(!partial_name(&copy).exists());
    }

    #[test]
    fn audio_is_linked_once_and_then_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let from = dir.path().join("a.wav");
        std::fs::write(&from, b"0123456789").expect("write");
        let to = dir.path().join("backup/audio/ab/a.wav");
        assert_eq!(place_audio(&from, &to, 10).expect("place"), Placed::Linked);
        assert_eq!(place_audio(&from, &to, 10).expect("again"), Placed::Present);
        std::fs::remove_file(&to).expect("remove");
        std::fs::write(&to, b"short").expect("a torn copy");
        assert_eq!(place_audio(&from, &to, 10).expect("repair"), Placed::Linked);
        assert_eq!(std::fs::read(&to).expect("read"), b"0123456789");
    }
}
