//! A backup's table of contents, `manifest.json`, written last: a backup without one was
//! interrupted. It names every file with its size and SHA-256, the versions that wrote it,
//! and the sessions whose state the backup holds whole.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// The manifest's own format; a restore refuses formats it does not know.
pub const FORMAT: u32 = 1;
/// Its name in a backup.
pub const FILE: &str = "manifest.json";
/// The folder of a backup that mirrors the data dir.
pub const DATA: &str = "data";
/// The daemon's configuration in a backup.
pub const CONFIG: &str = "scribed.toml";

/// One file of the backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Relative to the backup's root, `/`-separated.
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// A session the backup holds as it was: it did not change while the databases were copied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listed {
    pub id: String,
    /// Its latest change number in the library.
    pub change: u64,
}

/// The manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    /// The `scribed` version that wrote it.
    pub scribed: String,
    /// The store plugin and its schema version.
    pub store: Option<StoreVersion>,
    pub started_ms: i64,
    pub finished_ms: i64,
    pub files: Vec<Entry>,
    pub sessions: Vec<Listed>,
}

/// Which store plugin's database the backup holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreVersion {
    pub plugin: String,
    pub schema: u32,
}

impl Manifest {
    /// Writes it durably under its final name; the last step of a backup.
    pub fn write(&self, root: &Path) -> Result<()> {
        let path = root.join(FILE);
        let partial = root.join(format!("{FILE}.partial"));
        let json = serde_json::to_vec_pretty(self)?;
        std::fs::write(&partial, json).with_context(|| format!("writing {}", partial.display()))?;
        std::fs::File::open(&partial)?.sync_all()?;
        std::fs::rename(&partial, &path).with_context(|| format!("writing {}", path.display()))?;
        std::fs::File::open(root)?.sync_all()?;
        Ok(())
    }

    /// Reads the manifest of the backup at `root`.
    pub fn read(root: &Path) -> Result<Manifest> {
        let path = root.join(FILE);
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
                "{} holds no complete backup: it has no {FILE} (a backup writes it last, so one that was \
                 interrupted has none)",
                root.display()
            ),
            Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
        };
        let manifest: Manifest = serde_json::from_slice(&text).with_context(|| format!("{} is not a backup manifest", path.display()))?;
        anyhow::ensure!(
            manifest.format == FORMAT,
            "{} is in backup format {}, and this scribed reads format {FORMAT}",
            path.display(),
            manifest.format
        );
        for entry in &manifest.files {
            anyhow::ensure!(safe_relative(&entry.path).is_some(), "{} names a file outside the backup: {:?}", path.display(), entry.path);
        }
        Ok(manifest)
    }
}

/// `path` as a relative path that stays inside the folder it is joined to: no root, no `..`.
pub fn safe_relative(path: &str) -> Option<PathBuf> {
    let relative = Path::new(path);
    let normal = relative.components().all(|c| matches!(c, std::path::Component::Normal(_)));
    (normal && !path.is_empty()).then(|| relative.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_are_accepted() {
        assert!(safe_relative("data/audio/ab/ab.wav").is_some());
        for bad in ["", "/etc/passwd", "data/../../x", "./x", "data//..//x"] {
            assert!(safe_relative(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn a_missing_manifest_says_the_backup_is_incomplete() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = Manifest::read(dir.path()).expect_err("no manifest");
        assert!(err.to_string().contains("no complete backup"), "{err}");
        let manifest = Manifest {
            format: FORMAT,
            scribed: "0".into(),
            store: None,
            started_ms: 1,
            finished_ms: 2,
            files: vec![Entry { path: "../x".into(), bytes: 0, sha256: String::new() }],
            sessions: Vec::new(),
        };
        manifest.write(dir.path()).expect("write");
        let err = Manifest::read(dir.path()).expect_err("hostile path");
        assert!(err.to_string().contains("outside the backup"), "{err}");
    }
}
