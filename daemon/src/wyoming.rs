//! The Wyoming server: Home Assistant's protocol for self-hosted speech-to-text, JSON header
//! lines with binary payloads over TCP ([`wire`]). A voice command comes in as audio events
//! and leaves as a transcript ([`connection`]), read by the daemon's speech-to-text plugins
//! ([`programs`]). Wyoming has no authentication: peers outside `wyoming.allowed_clients`
//! are refused as they connect, and a listen address other than loopback needs that list.

pub mod connection;
pub mod programs;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::api::AppState;
use crate::config::{ClientNet, Config};
use connection::Shared;

/// Clients served at once; more wait to be accepted. A home has a few voice satellites.
const MAX_CONNECTIONS: usize = 32;
/// How long a refused client's events are read and dropped before its connection closes.
const REFUSAL_LINGER: std::time::Duration = std::time::Duration::from_secs(2);

/// A running server.
pub struct WyomingServer {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl WyomingServer {
    /// Starts the server when `wyoming.listen` is set.
    pub async fn start(config: &Config, state: AppState) -> anyhow::Result<Option<WyomingServer>> {
        let settings = &config.wyoming;
        let Some(listen) = settings.listen else { return Ok(None) };
        let listener = TcpListener::bind(listen).await.with_context(|| format!("binding the Wyoming server to {listen} (wyoming.listen)"))?;
        let addr = listener.local_addr()?;
        if !listen.ip().is_loopback() {
            tracing::warn!(%addr, "the Wyoming server is reachable from other machines and has no authentication; only wyoming.allowed_clients may connect");
        }
        let programs = programs::list(&state, config);
        let names: Vec<&str> = programs.iter().map(|p| p.plugin.as_str()).collect();
        tracing::info!(%addr, programs = ?names, "Wyoming server listening");
        let shared = Arc::new(Shared { state, programs, store_sessions: settings.store_sessions });
        let allowed = settings.allowed_clients.clone();
        let task = tokio::spawn(accept(listener, allowed, shared));
        Ok(Some(WyomingServer { addr, task }))
    }
}

impl Drop for WyomingServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether `peer` may connect: any loopback peer while the list is empty (only loopback can
/// reach such a server), else the peers in the list.
fn allowed(peer: std::net::IpAddr, list: &[ClientNet]) -> bool {
    match list.is_empty() {
        true => peer.to_canonical().is_loopback(),
        false => list.iter().any(|net| net.contains(peer)),
    }
}

async fn accept(listener: TcpListener, list: Vec<ClientNet>, shared: Arc<Shared>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let (mut stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!("accepting a Wyoming connection failed: {err}");
                continue;
            }
        };
        if !allowed(peer.ip(), &list) {
            tracing::warn!(%peer, "a Wyoming client outside wyoming.allowed_clients was refused");
            tokio::spawn(async move {
                let text = format!("{} may not connect: it is not in wyoming.allowed_clients", peer.ip());
                let _ = wire::write(&mut stream, &wire::Event::new("error", serde_json::json!({"text": text, "code": "forbidden"}))).await;
                // Closed with the client's first events unread, the socket would be reset and
                // the error lost: say the end, then read what comes until the client closes.
                let _ = stream.shutdown().await;
                let mut sink = tokio::io::sink();
                let _ = tokio::time::timeout(REFUSAL_LINGER, tokio::io::copy(&mut stream, &mut sink)).await;
            });
            continue;
        }
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            connection::serve(stream, shared).await;
            drop(slot);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> ClientNet {
        ClientNet::try_from(text.to_string()).expect("a network")
    }

    #[test]
    fn peers_are_let_in_by_the_list_or_by_loopback() {
        let ip = |text: &str| text.parse::<std::net::IpAddr>().expect("an address");
        assert!(allowed(ip("127.0.0.1"), &[]));
        assert!(allowed(ip("::ffff:127.0.0.1"), &[]), "IPv4 loopback through an IPv6 socket");
        assert!(!allowed(ip("192.168.1.20"), &[]));
        let list = [net("192.168.1.0/24"), net("10.0.0.7")];
        assert!(allowed(ip("192.168.1.20"), &list));
        assert!(allowed(ip("::ffff:10.0.0.7"), &list));
        assert!(!allowed(ip("10.0.0.8"), &list));
        assert!(!allowed(ip("127.0.0.1"), &list), "a list applies on loopback too");
        assert!(ClientNet::try_from("home".to_string()).is_err());
    }
}
