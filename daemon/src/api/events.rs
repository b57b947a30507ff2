//! `GET /api/v1/events[?session=ID][&since=SEQ]`: a WebSocket of daemon events (see
//! [`crate::sinks::events`]), for all sessions or one. `since` resumes after the last sequence
//! number a client saw; the first message says whether events were missed for good
//! (`gap`), in which case the client reloads what it shows.
//!
//! Every client has its own bounded window: one that falls too far behind, or whose socket
//! stops accepting data, is closed with a reason and never slows publishing or other clients.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use futures_util::SinkExt;
use serde::Deserialize;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::AppState;
use crate::sinks::events::Published;

/// Longest a single send may wait for the client's socket before the client counts as
/// stalled: far above any live network hiccup, short enough to free the connection.
const STALL: Duration = Duration::from_secs(5);
/// Close code for a client dropped for being too slow (RFC 6455 "policy violation").
const CLOSE_TOO_SLOW: u16 = 1008;
/// Most events written before one flush.
const MAX_BATCH: usize = 64;
/// Close code when the daemon goes away.
const CLOSE_GOING_AWAY: u16 = 1001;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// Only this session's events.
    session: Option<String>,
    /// Resume after this sequence number.
    since: Option<u64>,
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/events", get(events))
}

async fn events(State(state): State<AppState>, Query(params): Query<Params>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| stream(socket, state, params))
}

fn wanted(published: &Published, session: Option<&str>) -> bool {
    session.is_none_or(|want| published.event.session_id() == Some(want))
}

async fn stream(mut socket: WebSocket, state: AppState, params: Params) {
    let subscription = state.events.subscribe(params.since);
    let mut live = subscription.live;
    let session = params.session.as_deref();
    let hello = serde_json::json!({
        "type": "hello",
        "version": env!("CARGO_PKG_VERSION"),
        "next_seq": state.events.next_seq(),
        "gap": subscription.gap,
    });
    if send_text(&mut socket, hello.to_string()).await.is_err() {
        return;
    }
    let mut last = params.since.unwrap_or(0);
    for published in subscription.backlog.iter().filter(|p| wanted(p, session)) {
        if send_text(&mut socket, published.json.clone()).await.is_err() {
            return;
        }
        last = published.seq;
    }
    loop {
        tokio::select! {
            event = live.recv() => {
                // Whatever else is waiting goes out with it, flushed once: under load a client
                // costs one write per burst rather than one per event.
                let mut batch = Vec::new();
                let mut next = event;
                loop {
                    match next {
                        Ok(published) => {
                            // The backlog may already have carried it.
                            if published.seq > last && wanted(&published, session) {
                                last = published.seq;
                                batch.push(published);
                            }
                        }
                        Err(RecvError::Lagged(missed)) => {
                            tracing::info!(missed, "an events client fell behind; disconnected");
                            let reason = format!("too slow: {missed} events behind; reconnect with since={last}");
                            close(&mut socket, CLOSE_TOO_SLOW, reason).await;
                            return;
                        }
                        Err(RecvError::Closed) => {
                            close(&mut socket, CLOSE_GOING_AWAY, "the daemon is stopping".into()).await;
                            return;
                        }
                    }
                    if batch.len() >= MAX_BATCH {
                        break;
                    }
                    next = match live.try_recv() {
                        Ok(published) => Ok(published),
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Lagged(missed)) => Err(RecvError::Lagged(missed)),
                        Err(TryRecvError::Closed) => Err(RecvError::Closed),
                    };
                }
                match send_batch(&mut socket, &batch).await {
                    Ok(()) => {}
                    Err(Send::Stalled) => {
                        tracing::info!("an events client stopped reading; disconnected");
                        return;
                    }
                    Err(Send::Gone) => return,
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

pub(super) enum Send {
    Stalled,
    Gone,
}

/// Sends a text message, giving up on a client that does not take it within [`STALL`].
pub(super) async fn send_text(socket: &mut WebSocket, text: String) -> Result<(), Send> {
    match tokio::time::timeout(STALL, socket.send(Message::Text(text.into()))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Send::Gone),
        Err(_) => Err(Send::Stalled),
    }
}

/// Sends events and flushes once, giving up on a client that does not take them within
/// [`STALL`].
async fn send_batch(socket: &mut WebSocket, batch: &[Arc<Published>]) -> Result<(), Send> {
    if batch.is_empty() {
        return Ok(());
    }
    let write = async {
        for published in batch {
            socket.feed(Message::Text(published.json.clone().into())).await?;
        }
        socket.flush().await
    };
    match tokio::time::timeout(STALL, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Send::Gone),
        Err(_) => Err(Send::Stalled),
    }
}

async fn close(socket: &mut WebSocket, code: u16, reason: String) {
    let frame = CloseFrame { code, reason: reason.into() };
    let _ = tokio::time::timeout(STALL, socket.send(Message::Close(Some(frame)))).await;
}
