//! Outbound WebSockets for plugins, on tokio-tungstenite.
//!
//! `connect` checks the grant, resolves the name through the same special-address rules as
//! HTTP, injects credentials and completes the handshake within the HTTP timeout. Each
//! connection gets a writer task fed by a bounded queue and a reader task that turns frames
//! into [`SocketEvent`]s on the instance's event queue, from which the live-session driver
//! delivers them to the plugin's `on-socket-event` export.
//!
//! Per plugin it uses the HTTP capability's grants, credentials and limits; per instance it
//! keeps [`WsState`]. The guest sees both through [`WsView`].

pub mod connection;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wasmtime::component::{HasData, Resource, ResourceTable};

use self::connection::WsConnection;
use super::http::{HttpShared, guest_headers, inject_credentials};
use super::{MAX_RESOURCES, error_chain};
use crate::plugin::bindings::websocket::{self, CloseInfo, Message, SocketEvent, WsError};
use crate::plugin::cpu::CpuMeter;

/// Outgoing messages queued per connection before `send` reports back-pressure.
const SEND_QUEUE: usize = 256;
/// Incoming events buffered per instance before the reader waits for the plugin.
const EVENT_QUEUE: usize = 1024;
/// Close code reported when the connection dropped without a close frame (RFC 6455).
const ABNORMAL_CLOSURE: u16 = 1006;

static NEXT_SOCKET_ID: AtomicU64 = AtomicU64::new(1);

/// WebSocket bookkeeping of one instance.
pub struct WsState {
    plugin: Arc<str>,
    events_tx: mpsc::Sender<(u64, SocketEvent)>,
    /// Events for the live-session driver to deliver to the guest.
    pub events: mpsc::Receiver<(u64, SocketEvent)>,
    open: usize,
    /// Connections whose reader still runs: the peer has not closed yet.
    connected: Arc<AtomicUsize>,
}

impl WsState {
    pub fn new(plugin: Arc<str>) -> WsState {
        let (events_tx, events) = mpsc::channel(EVENT_QUEUE);
        WsState { plugin, events_tx, events, open: 0, connected: Arc::new(AtomicUsize::new(0)) }
    }

    /// Connections not closed yet: a driver waiting for a plugin's last messages stops
    /// waiting when this reaches zero and the event queue is empty.
    pub fn connected(&self) -> usize {
        self.connected.load(Ordering::Acquire)
    }
}

/// What the `websocket` host functions see of one instance.
pub struct WsView<'a> {
    pub http: &'a HttpShared,
    pub state: &'a mut WsState,
    pub table: &'a mut ResourceTable,
    pub cpu: &'a CpuMeter,
}

/// Links `websocket` through [`WsView`].
pub struct WsCapability;

impl HasData for WsCapability {
    type Data<'a> = WsView<'a>;
}

/// Counts a reader task as connected for as long as it lives.
struct Connected(Arc<AtomicUsize>);

impl Connected {
    fn new(count: &Arc<AtomicUsize>) -> Connected {
        count.fetch_add(1, Ordering::AcqRel);
        Connected(count.clone())
    }
}

impl Drop for Connected {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl WsView<'_> {
    async fn ws_connect(
        &mut self,
        url: String,
        headers: Vec<(String, String)>,
    ) -> Result<WsConnection, WsError> {
        if self.state.open >= MAX_RESOURCES {
            return Err(WsError::InvalidRequest(format!("more than {MAX_RESOURCES} open sockets")));
        }
        let shared = self.http;
        let (url, origin) = shared.grants.check_url(&url).map_err(|d| {
            tracing::warn!(plugin = %shared.plugin, "websocket denied: {}", d.0);
            WsError::Denied(d.0)
        })?;
        if !matches!(url.scheme(), "ws" | "wss") {
            return Err(WsError::InvalidRequest(format!("{} is not a ws(s) URL", url.scheme())));
        }
        let mut extra = guest_headers(shared, &headers).map_err(WsError::InvalidRequest)?;
        inject_credentials(shared, &origin, &mut extra).map_err(WsError::Denied)?;
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|err| WsError::InvalidRequest(err.to_string()))?;
        request.headers_mut().extend(extra);

        let host = origin.host.trim_start_matches('[').trim_end_matches(']').to_string();
        let max = usize::try_from(shared.limits.max_response_body).unwrap_or(usize::MAX);
        let config = WebSocketConfig::default().max_message_size(Some(max)).max_frame_size(Some(max));
        let handshake = async {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), origin.port))
                .await
                .map_err(|err| WsError::Connection(err.to_string()))?
                .collect();
            let allowed: Vec<SocketAddr> =
                addrs.into_iter().filter(|a| shared.grants.address_allowed(&host, a.ip())).collect();
            let Some(addr) = allowed.first() else {
                return Err(WsError::Denied(format!(
                    "{host} resolves only to loopback, private or link-local addresses, which are not granted"
                )));
            };
            let tcp = tokio::time::timeout(shared.limits.connect_timeout, tokio::net::TcpStream::connect(addr))
                .await
                .map_err(|_| WsError::Timeout)?
                .map_err(|err| WsError::Connection(err.to_string()))?;
            // A live plugin sends a 20 ms audio frame at a time: each goes out at once rather
            // than waiting for the provider to acknowledge the previous one (Nagle).
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::debug!(plugin = %shared.plugin, "cannot turn off Nagle's algorithm: {err}");
            }
            tokio_tungstenite::client_async_tls_with_config(request, tcp, Some(config), None)
                .await
                .map_err(handshake_error)
        };
        let (stream, _response) = tokio::time::timeout(shared.limits.timeout, handshake)
            .await
            .map_err(|_| WsError::Timeout)??;

        let id = NEXT_SOCKET_ID.fetch_add(1, Ordering::Relaxed);
        let (mut sink, mut source) = stream.split();
        let (outgoing, mut queue) = mpsc::channel::<WsMessage>(SEND_QUEUE);
        tokio::spawn(async move {
            while let Some(message) = queue.recv().await {
                let closing = matches!(message, WsMessage::Close(_));
                if sink.send(message).await.is_err() || closing {
                    break;
                }
            }
        });
        let events = self.state.events_tx.clone();
        let plugin = self.state.plugin.clone();
        let connected = Connected::new(&self.state.connected);
        tokio::spawn(async move {
            // Decremented after the last event is queued.
            let _connected = connected;
            let mut closed = CloseInfo { code: ABNORMAL_CLOSURE, reason: String::new() };
            loop {
                // Stop reading once the instance is gone (trapped or finished): nobody is
                // left to deliver frames to, and the socket should close.
                let frame = tokio::select! {
                    frame = source.next() => frame,
                    () = events.closed() => return,
                };
                let Some(frame) = frame else { break };
                let event = match frame {
                    Ok(WsMessage::Text(text)) => Message::Text(text.to_string()),
                    Ok(WsMessage::Binary(bytes)) => Message::Binary(bytes.to_vec()),
                    Ok(WsMessage::Close(frame)) => {
                        if let Some(frame) = frame {
                            closed = CloseInfo { code: frame.code.into(), reason: frame.reason.to_string() };
                        }
                        break;
                    }
                    Ok(_) => continue,
                    Err(err) => {
                        tracing::debug!(plugin = %plugin, socket = id, "websocket read failed: {err}");
                        break;
                    }
                };
                if events.send((id, SocketEvent::Message(event))).await.is_err() {
                    return;
                }
            }
            let _ = events.send((id, SocketEvent::Closed(closed))).await;
        });
        self.state.open += 1;
        Ok(WsConnection::new(id, outgoing))
    }
}

/// Longest part of a refused handshake's body quoted to the plugin.
const MAX_REFUSAL_TEXT: usize = 300;

/// A failed handshake. A refusal reads `HTTP <status>: <text>` (the text from the body or,
/// when that is empty, the status's reason), so plugins can tell bad credentials from an
/// outage.
fn handshake_error(err: tokio_tungstenite::tungstenite::Error) -> WsError {
    match err {
        tokio_tungstenite::tungstenite::Error::Http(response) => {
            let status = response.status();
            let body = response.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default();
            let body: String = body.trim().chars().take(MAX_REFUSAL_TEXT).collect();
            let text = if body.is_empty() { status.canonical_reason().unwrap_or_default().to_string() } else { body };
            WsError::Connection(format!("HTTP {}: {text}", status.as_u16()))
        }
        other => WsError::Connection(error_chain(&other)),
    }
}

impl websocket::Host for WsView<'_> {}

impl websocket::HostConnection for WsView<'_> {
    async fn connect(
        &mut self,
        url: String,
        headers: Vec<(String, String)>,
    ) -> wasmtime::Result<Result<Resource<WsConnection>, WsError>> {
        let cpu = self.cpu;
        let result = cpu.host_io(self.ws_connect(url, headers)).await;
        match result {
            Ok(connection) => Ok(Ok(self.table.push(connection)?)),
            Err(err) => Ok(Err(err)),
        }
    }

    async fn id(&mut self, this: Resource<WsConnection>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&this)?.id())
    }

    async fn send(
        &mut self,
        this: Resource<WsConnection>,
        message: Message,
    ) -> wasmtime::Result<Result<(), WsError>> {
        let frame = match message {
            Message::Text(text) => WsMessage::Text(text.into()),
            // An empty binary frame means "end of stream" to several providers.
            Message::Binary(bytes) if bytes.is_empty() => {
                return Ok(Err(WsError::InvalidRequest("empty binary frames are not sent".into())));
            }
            Message::Binary(bytes) => WsMessage::Binary(bytes.into()),
        };
        let connection = self.table.get(&this)?;
        Ok(connection.outgoing().try_send(frame).map_err(|err| match err {
            mpsc::error::TrySendError::Full(_) => WsError::Connection("send queue full".into()),
            mpsc::error::TrySendError::Closed(_) => WsError::Connection("connection closed".into()),
        }))
    }

    async fn close(
        &mut self,
        this: Resource<WsConnection>,
        code: u16,
        reason: String,
    ) -> wasmtime::Result<Result<(), WsError>> {
        let connection = self.table.get(&this)?;
        let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
        Ok(connection
            .outgoing()
            .try_send(WsMessage::Close(Some(frame)))
            .map_err(|_| WsError::Connection("connection closed".into())))
    }

    async fn drop(&mut self, this: Resource<WsConnection>) -> wasmtime::Result<()> {
        // Dropping the sender ends the writer task, which drops the sink and the socket.
        self.table.delete(this)?;
        self.state.open = self.state.open.saturating_sub(1);
        Ok(())
    }
}
