//! Wyoming's framing: an event is one line of JSON (`type`, optional `data`, `data_length`,
//! `payload_length`), then `data_length` bytes of more JSON data, then `payload_length`
//! bytes of payload (audio). Sizes are checked before anything is read into memory.

use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Longest header line, bytes: an `info` with many programs is a few KiB.
pub const MAX_HEADER_BYTES: u64 = 64 * 1024;
/// Longest extra data, bytes.
pub const MAX_DATA_BYTES: u64 = 64 * 1024;
/// Largest payload, bytes: a second of 48 kHz stereo 32-bit audio, far above the ~2 KiB
/// chunks Home Assistant sends.
pub const MAX_PAYLOAD_BYTES: u64 = 48_000 * 2 * 4;
/// The protocol version this server writes in its events (the `wyoming` package it was
/// built against).
const VERSION: &str = "1.10.2";

/// One event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: String,
    pub data: Map<String, Value>,
    pub payload: Option<Vec<u8>>,
}

impl Event {
    pub fn new(kind: &str, data: Value) -> Event {
        let data = match data {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        Event { kind: kind.into(), data, payload: None }
    }
}

/// Why an event could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("the event's {0} is larger than this server takes ({1} bytes)")]
    TooLarge(&'static str, u64),
    #[error("malformed event: {0}")]
    Malformed(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The header line's fields.
#[derive(serde::Deserialize)]
struct Header {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    data: Option<Map<String, Value>>,
    #[serde(default)]
    data_length: Option<u64>,
    #[serde(default)]
    payload_length: Option<u64>,
}

/// Reads `length` bytes, refusing more than `max`.
async fn exactly(reader: &mut (impl AsyncBufRead + Unpin), length: u64, max: u64, what: &'static str) -> Result<Vec<u8>, WireError> {
    if length > max {
        return Err(WireError::TooLarge(what, max));
    }
    let mut bytes = vec![0; length as usize];
    reader.read_exact(&mut bytes).await?;
    Ok(bytes)
}

/// The next event; `None` when the peer closed the connection between events.
pub async fn read(reader: &mut (impl AsyncBufRead + Unpin)) -> Result<Option<Event>, WireError> {
    let mut line = Vec::new();
    (&mut *reader).take(MAX_HEADER_BYTES + 1).read_until(b'\n', &mut line).await?;
    if line.is_empty() {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return match line.len() as u64 > MAX_HEADER_BYTES {
            true => Err(WireError::TooLarge("header", MAX_HEADER_BYTES)),
            false => Err(WireError::Malformed("the connection closed inside an event's header".into())),
        };
    }
    let header: Header = serde_json::from_slice(&line).map_err(|err| WireError::Malformed(format!("the header is not an event: {err}")))?;
    let mut data = header.data.unwrap_or_default();
    if let Some(length) = header.data_length.filter(|&n| n > 0) {
        let bytes = exactly(reader, length, MAX_DATA_BYTES, "data").await?;
        let more: Map<String, Value> = serde_json::from_slice(&bytes).map_err(|err| WireError::Malformed(format!("the data is not a JSON object: {err}")))?;
        data.extend(more);
    }
    let payload = match header.payload_length.filter(|&n| n > 0) {
        Some(length) => Some(exactly(reader, length, MAX_PAYLOAD_BYTES, "payload").await?),
        None => None,
    };
    Ok(Some(Event { kind: header.kind, data, payload }))
}

/// Writes `event` as the `wyoming` package does: data after the header line.
pub async fn write(writer: &mut (impl AsyncWrite + Unpin), event: &Event) -> std::io::Result<()> {
    let mut header = json!({"type": event.kind, "version": VERSION});
    let data = (!event.data.is_empty()).then(|| serde_json::to_vec(&event.data)).transpose()?;
    if let Some(data) = &data {
        header["data_length"] = data.len().into();
    }
    if let Some(payload) = &event.payload {
        header["payload_length"] = payload.len().into();
    }
    let mut out = serde_json::to_vec(&header)?;
    out.push(b'\n');
    out.extend(data.unwrap_or_default());
    out.extend(event.payload.as_deref().unwrap_or_default());
    writer.write_all(&out).await?;
    writer.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_bytes(bytes: &[u8]) -> Result<Option<Event>, WireError> {
        read(&mut tokio::io::BufReader::new(bytes)).await
    }

    #[tokio::test]
    async fn events_round_trip_with_data_and_payload() {
        let mut event = Event::new("audio-chunk", json!({"rate": 16000, "width": 2, "channels": 1}));
        event.payload = Some(vec![1, 2, 3, 4]);
        let mut bytes = Vec::new();
        write(&mut bytes, &event).await.expect("written");
        assert_eq!(read_bytes(&bytes).await.expect("read"), Some(event));
        // Data inline in the header and in a data block are merged.
        let inline = b"{\"type\":\"transcribe\",\"data\":{\"language\":\"en\"},\"data_length\":15}\n{\"name\":\"tiny\"}";
        let read = read_bytes(inline).await.expect("read").expect("event");
        assert_eq!((read.data["language"].as_str(), read.data["name"].as_str()), (Some("en"), Some("tiny")));
        assert!(read_bytes(b"").await.expect("end").is_none());
    }

    #[tokio::test]
    async fn oversized_and_malformed_events_are_refused_before_they_are_read() {
        let huge = format!("{{\"type\":\"audio-chunk\",\"payload_length\":{}}}\n", MAX_PAYLOAD_BYTES + 1);
        assert!(matches!(read_bytes(huge.as_bytes()).await, Err(WireError::TooLarge("payload", _))));
        let data = format!("{{\"type\":\"x\",\"data_length\":{}}}\n", u64::MAX);
        assert!(matches!(read_bytes(data.as_bytes()).await, Err(WireError::TooLarge("data", _))));
        let endless = vec![b'a'; MAX_HEADER_BYTES as usize + 10];
        assert!(matches!(read_bytes(&endless).await, Err(WireError::TooLarge("header", _))));
        assert!(matches!(read_bytes(b"not json\n").await, Err(WireError::Malformed(_))));
        assert!(matches!(read_bytes(b"{\"type\":\"x\"}").await, Err(WireError::Malformed(_))), "cut inside the header");
        assert!(matches!(read_bytes(b"{\"type\":\"x\",\"payload_length\":8}\nabc").await, Err(WireError::Io(_))), "cut inside the payload");
    }
}
