//! What the fake cloud APIs share: serving a router on loopback with events sent as they are
//! made, a `text/event-stream` response paced like a model writing, and the [`Journal`] of
//! faults to play and requests seen.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use serde_json::Value;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;

/// Serves `app` on `addr` (`127.0.0.1:0` in tests) in the background; returns the address.
pub async fn serve(addr: SocketAddr, app: Router) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    // Events go out as they are made, as from a real server: without this, Nagle's
    // algorithm holds a small event until the previous one is acknowledged.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// A `text/event-stream` response sending `events` with `delay` before each; `finished` runs
/// when the last one has gone out.
pub fn event_stream(events: Vec<String>, delay: Duration, finished: impl FnOnce() + Send + 'static) -> Response {
    let stream = futures_util::stream::unfold((events.into_iter(), Some(finished)), move |(mut events, mut finished)| async move {
        let Some(event) = events.next() else {
            if let Some(finished) = finished.take() {
                finished();
            }
            return None;
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Some((Ok::<Bytes, Infallible>(Bytes::from(event)), (events, finished)))
    });
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// A request as a fake saw it.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    /// When it arrived.
    pub at: Instant,
    pub headers: HeaderMap,
    pub body: Value,
    /// The text of the user messages.
    pub text: String,
}

/// What a fake keeps between requests, shared by its handlers and the test: faults (`F`)
/// queued for the next requests, one each, the requests (`R`) it saw, when each answer was
/// complete, and the pace of its streams. It wakes whoever waits for requests.
pub struct Journal<F, R> {
    inner: Arc<Mutex<Entries<F, R>>>,
    arrived: Arc<tokio::sync::Notify>,
}

struct Entries<F, R> {
    faults: VecDeque<F>,
    seen: Vec<R>,
    finished: Vec<Instant>,
    event_delay: Duration,
}

impl<F, R> Clone for Journal<F, R> {
    fn clone(&self) -> Self {
        Journal { inner: self.inner.clone(), arrived: self.arrived.clone() }
    }
}

impl<F, R: Clone> Default for Journal<F, R> {
    fn default() -> Self {
        let entries = Entries { faults: VecDeque::new(), seen: Vec::new(), finished: Vec::new(), event_delay: Duration::ZERO };
        Journal { inner: Arc::new(Mutex::new(entries)), arrived: Arc::new(tokio::sync::Notify::new()) }
    }
}

impl<F, R: Clone> Journal<F, R> {
    fn with<T>(&self, f: impl FnOnce(&mut Entries<F, R>) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Queues a fault for the next request that has none yet.
    pub fn push_fault(&self, fault: F) {
        self.with(|e| e.faults.push_back(fault));
    }

    /// Waits this long before each streamed event (a slow model).
    pub fn set_event_delay(&self, delay: Duration) {
        self.with(|e| e.event_delay = delay);
    }

    pub fn requests(&self) -> Vec<R> {
        self.with(|e| e.seen.clone())
    }

    /// When each answer body was complete, in order: with the requests' arrival, the time
    /// the fake itself took, which a benchmark subtracts.
    pub fn finished(&self) -> Vec<Instant> {
        self.with(|e| e.finished.clone())
    }

    /// Waits until at least `count` requests have arrived.
    pub async fn wait_for_requests(&self, count: usize) {
        loop {
            let notified = self.arrived.notified();
            if self.with(|e| e.seen.len()) >= count {
                return;
            }
            notified.await;
        }
    }

    /// Records a request; returns its fault, if one is queued, and the streams' pace.
    pub fn arrived(&self, request: R) -> (Option<F>, Duration) {
        let taken = self.with(|e| {
            e.seen.push(request);
            (e.faults.pop_front(), e.event_delay)
        });
        self.arrived.notify_waiters();
        taken
    }

    /// Notes that an answer is complete.
    pub fn answered(&self) {
        self.with(|e| e.finished.push(Instant::now()));
    }
}
