//! The host side of a guest's `connection` resource. It uses no generated type, so the
//! bindings can name it as the resource's representation.

use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// One open socket: its id and the queue its writer task sends from.
pub struct WsConnection {
    id: u64,
    outgoing: mpsc::Sender<WsMessage>,
}

impl WsConnection {
    pub fn new(id: u64, outgoing: mpsc::Sender<WsMessage>) -> WsConnection {
        WsConnection { id, outgoing }
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn outgoing(&self) -> &mpsc::Sender<WsMessage> {
        &self.outgoing
    }
}
