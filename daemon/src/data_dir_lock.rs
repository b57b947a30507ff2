//! One daemon per data dir. A running daemon holds an exclusive lock on
//! `<data_dir>/daemon.lock` and writes its URL into it, so a second daemon refuses to start
//! on the same databases and the CLI finds the running one wherever it listens. The lock
//! goes with the process, however it ends.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result};

/// The lock file's name in the data dir.
pub const LOCK_FILE: &str = "daemon.lock";

fn open(data_dir: &Path) -> std::io::Result<File> {
    OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(data_dir.join(LOCK_FILE))
}

/// The held lock of a running daemon.
#[derive(Debug)]
pub struct DataDirLock {
    file: File,
}

impl DataDirLock {
    /// Takes the data dir, or explains who has it.
    pub fn acquire(data_dir: &Path) -> Result<DataDirLock> {
        let lock = data_dir.join(LOCK_FILE);
        let file = open(data_dir).with_context(|| format!("opening {}", lock.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(DataDirLock { file }),
            Err(TryLockError::WouldBlock) => {
                let url = read_url(&file).unwrap_or_default();
                anyhow::bail!(
                    "another scribed is already using {} (serving on {}); stop it first, or give this one another --data-dir",
                    data_dir.display(),
                    if url.is_empty() { "an unknown address" } else { url.as_str() }
                )
            }
            Err(TryLockError::Error(err)) => Err(err).with_context(|| format!("locking {}", lock.display())),
        }
    }

    /// Records where this daemon serves.
    pub fn publish_url(&mut self, url: &str) -> Result<()> {
        self.file.set_len(0)?;
        self.file.rewind()?;
        self.file.write_all(url.as_bytes())?;
        self.file.sync_all()?;
        Ok(())
    }
}

fn read_url(mut file: &File) -> std::io::Result<String> {
    let mut url = String::new();
    file.rewind()?;
    file.read_to_string(&mut url)?;
    Ok(url.trim().to_string())
}

/// The URL of the daemon running on `data_dir`, if one is.
pub fn running_url(data_dir: &Path) -> Result<Option<String>> {
    let file = match OpenOptions::new().read(true).write(true).open(data_dir.join(LOCK_FILE)) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err).context("opening the daemon lock"),
    };
    match file.try_lock() {
        // Nobody holds it: no daemon. Dropping the file releases the probe's lock.
        Ok(()) => Ok(None),
        Err(TryLockError::WouldBlock) => Ok(Some(read_url(&file)?).filter(|u| !u.is_empty())),
        Err(TryLockError::Error(err)) => Err(err).context("probing the daemon lock"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_and_its_url() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(running_url(dir.path()).expect("probe"), None);
        let mut lock = DataDirLock::acquire(dir.path()).expect("first");
        lock.publish_url("http://127.0.0.1:4242/").expect("publish");
        assert_eq!(running_url(dir.path()).expect("probe").as_deref(), Some("http://127.0.0.1:4242/"));
        let err = DataDirLock::acquire(dir.path()).expect_err("second refused").to_string();
        assert!(err.contains("already using") && err.contains("127.0.0.1:4242"), "{err}");
        drop(lock);
        assert_eq!(running_url(dir.path()).expect("probe"), None);
        DataDirLock::acquire(dir.path()).expect("free again");
    }
}
