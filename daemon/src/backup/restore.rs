//! `scribed restore`: a backup checked against its manifest, every file's size and SHA-256,
//! before anything is written; then copied into a new data dir. The search index is not in
//! a backup: the daemon started on the restored dir rebuilds it from the library.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::files;
use super::manifest::{self, DATA, Manifest, safe_relative};

/// Where a restore is: checking the backup, then copying it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Verifying,
    Copying,
}

/// What a restore made.
#[derive(Debug, Clone)]
pub struct Restored {
    pub manifest: Manifest,
    /// The backup's configuration, written beside the restored data.
    pub config: PathBuf,
}

/// Restores the backup at `src` into `data_dir`, which must be new or empty. Reports
/// `(phase, bytes done, bytes in all)`.
pub fn restore(src: &Path, data_dir: &Path, mut progress: impl FnMut(Phase, u64, u64)) -> Result<Restored> {
    if let Ok(mut entries) = std::fs::read_dir(data_dir)
        && entries.next().is_some()
    {
        anyhow::bail!("refusing to restore into {}: it is not empty; restore into a new or empty folder", data_dir.display());
    }
    let manifest = Manifest::read(src)?;
    let total: u64 = manifest.files.iter().map(|e| e.bytes).sum();
    let mut done = 0;
    progress(Phase::Verifying, 0, total);
    for entry in &manifest.files {
        let path = src.join(safe_relative(&entry.path).context("a checked manifest path")?);
        let bytes = match std::fs::metadata(&path) {
            Ok(meta) => meta.len(),
            Err(err) => anyhow::bail!("the backup is damaged: {} is missing ({err})", entry.path),
        };
        anyhow::ensure!(
            bytes == entry.bytes,
            "the backup is damaged: {} has {bytes} bytes, and the manifest says {}",
            entry.path,
            entry.bytes
        );
        let sha256 = files::sha256_counting(&path, |n| {
            done += n;
            progress(Phase::Verifying, done, total);
        })?;
        anyhow::ensure!(
            sha256 == entry.sha256,
            "the backup is damaged: the SHA-256 of {} is {sha256}, and the manifest says {}",
            entry.path,
            entry.sha256
        );
    }

    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let config = data_dir.join(manifest::CONFIG);
    let mut done = 0;
    progress(Phase::Copying, 0, total);
    for entry in &manifest.files {
        let relative = safe_relative(&entry.path).context("a checked manifest path")?;
        let from = src.join(&relative);
        let to = match relative.strip_prefix(DATA) {
            Ok(inside) => data_dir.join(inside),
            Err(_) if entry.path == manifest::CONFIG => config.clone(),
            Err(_) => continue,
        };
        if let Some(dir) = to.parent() {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        }
        files::copy_durably(&from, &to)?;
        // The token and the configuration are the operator's secrets; recordings are private.
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600))?;
        done += entry.bytes;
        progress(Phase::Copying, done, total);
    }
    Ok(Restored { manifest, config })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::manifest::{Entry, FORMAT};

    fn backup_with(dir: &Path, body: &[u8], claimed: &[u8]) {
        std::fs::create_dir_all(dir.join("data/audio/ab")).expect("dirs");
        std::fs::write(dir.join("data/audio/ab/x.wav"), body).expect("write");
        let sha256 = files::sha256_counting(&dir.join("data/audio/ab/x.wav"), |_| {}).expect("hash");
        let claimed_sha = if body == claimed { sha256 } else { "0".repeat(64) };
        let manifest = Manifest {
            format: FORMAT,
            scribed: "test".into(),
            store: None,
            started_ms: 0,
            finished_ms: 0,
            files: vec![Entry { path: "data/audio/ab/x.wav".into(), bytes: claimed.len() as u64, sha256: claimed_sha }],
            sessions: Vec::new(),
        };
        manifest.write(dir).expect("manifest");
    }

    #[test]
    fn a_whole_backup_is_restored_and_a_corrupt_one_names_its_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let good = dir.path().join("good");
        backup_with(&good, b"0123456789", b"0123456789");
        let target = dir.path().join("restored");
        restore(&good, &target, |_, _, _| {}).expect("restores");
        assert_eq!(std::fs::read(target.join("audio/ab/x.wav")).expect("restored"), b"0123456789");
        let again = restore(&good, &target, |_, _, _| {}).expect_err("not into a full dir");
        assert!(again.to_string().contains("not empty"), "{again}");

        let bad = dir.path().join("bad");
        backup_with(&bad, b"0123456789", b"0123456788");
        let target = dir.path().join("restored-bad");
        let err = restore(&bad, &target, |_, _, _| {}).expect_err("corrupt");
        assert!(err.to_string().contains("data/audio/ab/x.wav"), "{err}");
        assert!(!target.exists(), "nothing is written before the backup checks out");
    }
}
