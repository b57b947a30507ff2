//! A local HTTP server that records every request it receives: the "outside world" of the
//! sandbox tests. `/redirect?to=URL` answers 302 to `URL`; everything else answers 200 "ok".

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// One received request.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub headers: HeaderMap,
}

/// A running recorder.
#[derive(Clone)]
pub struct Recorder {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Recorder {
    pub async fn start() -> anyhow::Result<Recorder> {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new().fallback(record).with_state(requests.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Recorder { addr, requests })
    }

    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

async fn record(
    State(requests): State<Arc<Mutex<Vec<Recorded>>>>,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Ok(mut r) = requests.lock() {
        r.push(Recorded { path: uri.path().to_string(), headers });
    }
    match (uri.path(), query.get("to")) {
        ("/redirect", Some(to)) => (StatusCode::FOUND, [(header::LOCATION, to.clone())]).into_response(),
        _ => (StatusCode::OK, "ok").into_response(),
    }
}
