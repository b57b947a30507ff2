//! `GET /api/v1/events`: a WebSocket that pushes daemon events to UI clients. A client that
//! falls more than the buffer behind is disconnected rather than slowing anyone else.

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;

use super::AppState;

/// An event pushed to clients.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Event {
    /// First message on every connection.
    Hello { version: &'static str },
    /// A file job moved: `queued`, `processing`, `complete` or `error` (with a message).
    Job { session_id: String, status: String, message: Option<String> },
    /// The inbox finished with a file: `kept`, `done`, `deleted` or `failed`.
    InboxFile { name: String, outcome: String },
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/events", get(events))
}

async fn events(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| stream(socket, state))
}

async fn stream(mut socket: WebSocket, state: AppState) {
    let mut events = state.events.subscribe();
    let hello = Event::Hello { version: env!("CARGO_PKG_VERSION") };
    if send(&mut socket, &hello).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) => {
                    if send(&mut socket, &event).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => {
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                }
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

async fn send(socket: &mut WebSocket, event: &Event) -> Result<(), axum::Error> {
    let text = serde_json::to_string(event).unwrap_or_else(|_| "{}".into());
    socket.send(Message::Text(text.into())).await
}
