//! The content-addressed audio store: every original file the daemon transcribes is kept
//! once, as `<audio dir>/<first two hex digits>/<sha256>.<ext>` (`storage.audio_dir`, by
//! default `<data_dir>/audio`). The file pipeline puts
//! files here; playback and re-transcription find them by hash.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::clients::stt::AudioEncoding;

/// The store.
#[derive(Debug, Clone)]
pub struct AudioStore {
    dir: PathBuf,
    /// Working copies, in the store unless [`AudioStore::with_scratch`] put them elsewhere.
    scratch: PathBuf,
}

/// A file now in the store.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    pub path: PathBuf,
    pub size: u64,
}

/// Hex SHA-256 of a file's bytes.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// Hex SHA-256 of the first `len` bytes of a file: whether a grown file starts with bytes
/// known by that hash.
pub fn sha256_file_prefix(path: &Path, len: u64) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?.take(len);
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// The MIME type of an encoding, for playback and the library's audio-file record.
pub fn mime_for(encoding: AudioEncoding) -> &'static str {
    match encoding {
        AudioEncoding::Linear16 => "audio/L16",
        AudioEncoding::Wav => "audio/wav",
        AudioEncoding::Flac => "audio/flac",
        AudioEncoding::Mp3 => "audio/mpeg",
        AudioEncoding::OggVorbis | AudioEncoding::OggOpus => "audio/ogg",
        AudioEncoding::WebmOpus => "audio/webm",
        AudioEncoding::Aac => "audio/mp4",
    }
}

impl AudioStore {
    pub fn new(dir: PathBuf) -> AudioStore {
        AudioStore { scratch: dir.join("scratch"), dir }
    }

    /// The store with its working copies in `dir`: one node's own, when the store is
    /// shared by the nodes of a cluster (each clears its scratch space when it starts).
    pub fn with_scratch(self, dir: PathBuf) -> AudioStore {
        AudioStore { scratch: dir, ..self }
    }

    /// The store's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where working copies live (PCM for recognisers that read samples); removed when
    /// their job ends and emptied by [`AudioStore::clear_scratch`] at start.
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.scratch.join(name)
    }

    /// Removes working copies a crash left behind.
    pub fn clear_scratch(&self) {
        let _ = std::fs::remove_dir_all(&self.scratch);
    }

    fn shard(&self, sha256: &str) -> PathBuf {
        self.dir.join(sha256.get(..2).unwrap_or("00"))
    }

    /// Where bytes with this hash and extension are kept.
    pub fn path_for(&self, sha256: &str, extension: &str) -> PathBuf {
        self.shard(sha256).join(format!("{sha256}.{extension}"))
    }

    /// Keeps `file`'s bytes under their hash `sha256` (from [`sha256_file`]; the caller has
    /// it already, to check for known bytes). With `take` the file is moved (or removed when
    /// the bytes are stored already); otherwise it is copied and left alone.
    pub async fn put(&self, file: &Path, sha256: &str, extension: &str, take: bool) -> Result<Stored> {
        let sha256 = sha256.to_string();
        let size = tokio::fs::metadata(file).await?.len();
        let path = self.path_for(&sha256, extension);
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            if take {
                let _ = tokio::fs::remove_file(file).await;
            }
            return Ok(Stored { sha256, path, size });
        }
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        if !take || tokio::fs::rename(file, &path).await.is_err() {
            // A copy (or another filesystem): written under a temporary name first, so a
            // crash never leaves a partial file under the content's name.
            let partial = path.with_extension("partial");
            tokio::fs::copy(file, &partial).await.context("storing the audio")?;
            tokio::fs::rename(&partial, &path).await.context("storing the audio")?;
            if take {
                let _ = tokio::fs::remove_file(file).await;
            }
        }
        Ok(Stored { sha256, path, size })
    }

    /// The stored file with this hash, whatever its extension.
    pub async fn find(&self, sha256: &str) -> Option<PathBuf> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut entries = tokio::fs::read_dir(self.shard(sha256)).await.ok()?;
        while let Ok(Some(entry)) = entries.next_entry().await {
            let path = entry.path();
            let stem_matches = path.file_stem().and_then(|s| s.to_str()) == Some(sha256);
            let partial = path.extension().and_then(|e| e.to_str()) == Some("partial");
            if stem_matches && !partial {
                return Some(path);
            }
        }
        None
    }

    /// Every stored file (`<shard>/<sha256>.<ext>` under the store, without scratch copies
    /// or partial writes) with its size, in name order. Blocking.
    pub fn stored_files(&self) -> Vec<(PathBuf, u64)> {
        let sorted = |dir: &Path| {
            let mut paths: Vec<PathBuf> = std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
            paths.sort();
            paths
        };
        let mut found = Vec::new();
        for shard in sorted(&self.dir) {
            let is_shard = shard.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.len() == 2 && n.bytes().all(|b| b.is_ascii_hexdigit()));
            if !is_shard {
                continue;
            }
            for file in sorted(&shard) {
                let partial = file.extension().is_some_and(|e| e == "partial");
                if let Ok(meta) = std::fs::metadata(&file)
                    && meta.is_file()
                    && !partial
                {
                    found.push((file, meta.len()));
                }
            }
        }
        found
    }

    /// Bytes of all stored files. Blocking.
    pub fn stored_bytes(&self) -> u64 {
        self.stored_files().iter().map(|(_, bytes)| bytes).sum()
    }

    /// Removes the stored file with this hash; for when no session refers to it any more.
    pub async fn remove(&self, sha256: &str) -> std::io::Result<()> {
        match self.find(sha256).await {
            Some(path) => tokio::fs::remove_file(path).await,
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_find_and_dedupe() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = AudioStore::new(dir.path().join("audio"));
        let a = dir.path().join("a.wav");
        std::fs::write(&a, b"same bytes").expect("write");
        let sha = sha256_file(&a).expect("hash");
        let copied = store.put(&a, &sha, "wav", false).await.expect("put");
        assert!(a.exists(), "a copy leaves the original");
        assert_eq!(std::fs::read(&copied.path).expect("read"), b"same bytes");
        assert_eq!(copied.size, 10);

        let b = dir.path().join("b.wav");
        std::fs::write(&b, b"same bytes").expect("write");
        let taken = store.put(&b, &sha, "wav", true).await.expect("put");
        assert_eq!(taken.path, copied.path);
        assert!(!b.exists(), "taken bytes already stored are removed");

        assert_eq!(store.find(&copied.sha256).await, Some(copied.path.clone()));
        assert_eq!(store.find("../../etc/passwd").await, None);
        std::fs::create_dir_all(dir.path().join("audio/scratch")).expect("scratch");
        std::fs::write(dir.path().join("audio/scratch/x.pcm"), b"scratch").expect("write");
        assert_eq!(store.stored_files(), vec![(copied.path.clone(), 10)], "scratch copies are not stored audio");
        store.remove(&copied.sha256).await.expect("remove");
        assert_eq!(store.find(&copied.sha256).await, None);
        assert_eq!(store.stored_bytes(), 0);
    }
}
