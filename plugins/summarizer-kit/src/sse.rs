//! Server-sent events framing (the WHATWG event-stream format) as the host delivers the
//! body: pieces cut anywhere, even inside a line or a UTF-8 character.

/// One event: its `event:` name (empty when absent) and its `data:` lines joined by `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub name: String,
    pub data: String,
}

/// Longest line kept while waiting for its end; a server that never ends a line cannot make
/// the plugin grow without bound. Anthropic's and OpenAI's events are a few hundred bytes.
const MAX_LINE: usize = 1 << 20;

/// Incremental parser.
#[derive(Default)]
pub struct SseParser {
    /// Bytes of an unfinished line.
    line: Vec<u8>,
    name: String,
    data: Vec<String>,
    /// True after a `\r`, so a following `\n` does not end a second line.
    after_cr: bool,
}

impl SseParser {
    /// Feeds a piece of the body; returns the events it completed.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, String> {
        let mut events = Vec::new();
        for &byte in bytes {
            match byte {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    let line = String::from_utf8(line).map_err(|_| "the event stream is not UTF-8".to_string())?;
                    if let Some(event) = self.line_done(&line) {
                        events.push(event);
                    }
                }
                _ => {
                    self.after_cr = false;
                    if self.line.len() >= MAX_LINE {
                        return Err(format!("an event stream line is longer than {MAX_LINE} bytes"));
                    }
                    self.line.push(byte);
                }
            }
        }
        Ok(events)
    }

    fn line_done(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            // A blank line dispatches; an event without data is dropped, as the spec says.
            let name = std::mem::take(&mut self.name);
            if self.data.is_empty() {
                return None;
            }
            let data = std::mem::take(&mut self.data).join("\n");
            return Some(SseEvent { name, data });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.name = value.to_string(),
            "data" => self.data.push(value.to_string()),
            // `id` and `retry` concern reconnecting browsers; unknown fields are ignored.
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORDED: &str = "event: message_start\ndata: {\"type\":\"message_start\"}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\n: comment\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

    fn all(pieces: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = SseParser::default();
        pieces.iter().flat_map(|p| parser.feed(p).expect("parses")).collect()
    }

    #[test]
    fn events_come_out_however_the_body_is_cut() {
        let whole = all(&[RECORDED.as_bytes()]);
        assert_eq!(whole.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["message_start", "ping", "message_stop"]);
        assert_eq!(whole[1].data, "{\"type\": \"ping\"}");
        let bytes = RECORDED.as_bytes();
        for cut in 0..bytes.len() {
            assert_eq!(all(&[&bytes[..cut], &bytes[cut..]]), whole, "cut at {cut}");
        }
        let byte_by_byte: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(all(&byte_by_byte), whole);
    }

    #[test]
    fn crlf_multiline_data_and_unterminated_events() {
        let events = all(&[b"event: a\r\ndata: one\r\ndata: two\r\n\r\nevent: b\ndata: x\n"]);
        assert_eq!(events, [SseEvent { name: "a".into(), data: "one\ntwo".into() }], "b is not dispatched without its blank line");
        let text = "data: caf\u{e9}\n\n".as_bytes();
        let (a, b) = text.split_at(9);
        assert_eq!(all(&[a, b])[0].data, "caf\u{e9}", "a character split across pieces");
    }
}
