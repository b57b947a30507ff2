//! The host side of a guest's `incoming-body` resource: a response body read piece by piece
//! (`http.open`), under the request's deadline and the host's cap on the total size. It uses
//! no generated type, so the bindings can name it as the resource's representation.

use axum::body::Bytes;
use futures_util::StreamExt;
use tokio::time::Instant;

use crate::plugin::capabilities::error_chain;

/// Why the next piece of a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    Timeout,
    /// More than the cap, bytes.
    TooLarge(u64),
    Connection(String),
}

/// A response body being read.
pub struct IncomingBody {
    stream: futures_util::stream::BoxStream<'static, reqwest::Result<Bytes>>,
    deadline: Instant,
    cap: u64,
    received: u64,
}

impl IncomingBody {
    pub fn new(response: reqwest::Response, deadline: Instant, cap: u64) -> IncomingBody {
        IncomingBody { stream: response.bytes_stream().boxed(), deadline, cap, received: 0 }
    }

    /// The next piece; none at the end.
    pub async fn next(&mut self) -> Result<Option<Bytes>, BodyError> {
        let chunk = tokio::time::timeout_at(self.deadline, self.stream.next()).await.map_err(|_| BodyError::Timeout)?;
        match chunk {
            None => Ok(None),
            Some(Ok(bytes)) => {
                self.received += bytes.len() as u64;
                if self.received > self.cap {
                    return Err(BodyError::TooLarge(self.cap));
                }
                Ok(Some(bytes))
            }
            Some(Err(err)) => Err(BodyError::Connection(error_chain(&err))),
        }
    }
}
