//! The embedded web UI (`web-ui/`): a PWA of static files served from the binary, so no
//! request leaves the daemon's origin and the UI always matches the daemon's API.
//!
//! Files are revalidated on every load (`no-cache` with an ETag: a phone on the LAN gets a
//! 304, and a new build is seen at once). The service worker (`/sw.js`) is served with the
//! list of files it keeps for offline use and a digest of them all, so every build installs
//! a fresh worker.

use std::sync::LazyLock;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use super::{ApiError, AppState};

/// An embedded file: path under `/`, content type, bytes.
struct Asset {
    path: &'static str,
    mime: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $mime:expr) => {
        Asset { path: $path, mime: $mime, body: include_bytes!(concat!("../../../web-ui/", $path)) }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of `web-ui/` (a test checks that none is missing).
const FILES: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("sw.js", JS),
    asset!("manifest.webmanifest", "application/manifest+json"),
    asset!("icons/icon.svg", "image/svg+xml"),
    asset!("icons/icon-192.png", "image/png"),
    asset!("icons/icon-512.png", "image/png"),
    asset!("js/api.js", JS),
    asset!("js/dom.js", JS),
    asset!("js/events.js", JS),
    asset!("js/unsent.js", JS),
    asset!("js/recorder.js", JS),
    asset!("js/pcm-worklet.js", JS),
    asset!("js/views/library.js", JS),
    asset!("js/views/session.js", JS),
    asset!("js/views/live.js", JS),
    asset!("js/views/upload.js", JS),
    asset!("js/views/status.js", JS),
    asset!("js/views/pair.js", JS),
];

/// The service worker's source, with its file list and version filled in.
const SERVICE_WORKER: &str = "sw.js";

/// A file as served: the bytes and their ETag.
struct Served {
    mime: &'static str,
    body: Vec<u8>,
    etag: HeaderValue,
}

/// Every file as served, built once.
static SERVED: LazyLock<Vec<(&'static str, Served)>> = LazyLock::new(|| {
    let mut digest = Sha256::new();
    for file in FILES {
        digest.update(file.path.as_bytes());
        digest.update(file.body);
    }
    let version = hex::encode(&digest.finalize()[..8]);
    // The shell: `/` stands for index.html; the worker does not keep itself.
    let shell: Vec<String> = FILES
        .iter()
        .filter(|f| f.path != SERVICE_WORKER)
        .map(|f| if f.path == "index.html" { "/".to_string() } else { format!("/{}", f.path) })
        .collect();
    let shell = serde_json::to_string(&shell).unwrap_or_else(|_| "[]".into());
    FILES
        .iter()
        .map(|file| {
            let body = if file.path == SERVICE_WORKER {
                String::from_utf8_lossy(file.body)
                    .replacen("'__VERSION__'", &format!("'{version}'"), 1)
                    .replacen("__SHELL__", &shell, 1)
                    .into_bytes()
            } else {
                file.body.to_vec()
            };
            let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&body)[..12]));
            let etag = HeaderValue::from_str(&etag).unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
            (file.path, Served { mime: file.mime, body, etag })
        })
        .collect()
});

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(|headers: HeaderMap| async move { asset("index.html", &headers) }))
}

/// Every request no route took: a UI file for a GET of its path, else a JSON 404 (so a
/// mistyped API call gets the API's error shape, whatever its method).
pub async fn fallback(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    match uri.path().strip_prefix('/') {
        Some(name) if matches!(method, Method::GET | Method::HEAD) && !name.starts_with("api/") => asset(name, &headers),
        _ => ApiError::not_found("no such route").into_response(),
    }
}

fn asset(name: &str, headers: &HeaderMap) -> Response {
    let Some((_, served)) = SERVED.iter().find(|(path, _)| *path == name) else {
        return ApiError::not_found(format!("no such page: {name}")).into_response();
    };
    let cache = [(header::CACHE_CONTROL, HeaderValue::from_static("no-cache")), (header::ETAG, served.etag.clone())];
    if headers.get(header::IF_NONE_MATCH).is_some_and(|tag| tag == served.etag) {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    (StatusCode::OK, cache, [(header::CONTENT_TYPE, served.mime)], served.body.clone()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ui_file_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web-ui");
        let on_disk: Vec<String> = walkdir::WalkDir::new(&root)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(|e| e.path().strip_prefix(&root).expect("under root").to_string_lossy().replace('\\', "/"))
            .collect();
        for path in &on_disk {
            assert!(FILES.iter().any(|f| f.path == path), "web-ui/{path} is not embedded in ui.rs");
        }
        assert_eq!(on_disk.len(), FILES.len());
    }

    #[test]
    fn the_service_worker_gets_its_shell_and_version() {
        let (_, sw) = SERVED.iter().find(|(p, _)| *p == SERVICE_WORKER).expect("sw");
        let text = String::from_utf8(sw.body.clone()).expect("utf-8");
        assert!(!text.contains("__VERSION__") && !text.contains("__SHELL__"), "placeholders filled");
        assert!(text.contains(r#"const SHELL = ["/","/style.css","/app.js""#), "shell list: {text}");
        assert!(!text.contains("\"/sw.js\""));
    }
}
