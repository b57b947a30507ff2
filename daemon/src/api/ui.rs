//! The embedded web UI (`web-ui/`), served from the binary so no request leaves the daemon's
//! origin.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{ApiError, AppState};

/// (path, content type, bytes) of every embedded file.
const FILES: &[(&str, &str, &str)] = &[
    ("index.html", "text/html; charset=utf-8", include_str!("../../../web-ui/index.html")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("../../../web-ui/app.js")),
    ("style.css", "text/css; charset=utf-8", include_str!("../../../web-ui/style.css")),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { asset("index.html") }))
        .route("/{file}", get(|Path(file): Path<String>| async move { asset(&file) }))
}

fn asset(name: &str) -> Response {
    match FILES.iter().find(|(path, _, _)| *path == name) {
        Some((_, mime, body)) => (StatusCode::OK, [(header::CONTENT_TYPE, *mime)], *body).into_response(),
        None => ApiError::not_found(format!("no such page: {name}")).into_response(),
    }
}
