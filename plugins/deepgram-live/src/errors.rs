//! Failures of the stream as plugin errors the host acts on: `unavailable` is reconnected
//! (the host replays the audio not yet final), `unauthorized` and `bad-input` are not.

use scribe_plugin_api::stt_live::types::{PluginError, RateLimit};
use scribe_plugin_api::stt_live::websocket::{CloseInfo, WsError};

/// The status of a refused handshake, from the host's `HTTP <status>: <text>` message.
fn handshake_status(message: &str) -> Option<u16> {
    message.strip_prefix("HTTP ")?.get(..3)?.parse().ok()
}

/// Maps a failed connect or send.
pub fn from_host(err: WsError) -> PluginError {
    match err {
        WsError::Denied(m) => PluginError::Denied(m),
        WsError::Timeout => PluginError::Unavailable("Deepgram did not answer in time".into()),
        WsError::TooLarge(n) => PluginError::Other(format!("a Deepgram message exceeded {n} bytes")),
        WsError::InvalidRequest(m) => PluginError::Other(format!("invalid request: {m}")),
        WsError::Connection(m) => {
            let message = format!("Deepgram: {m}");
            match handshake_status(&m) {
                Some(401..=403) => PluginError::Unauthorized(message),
                Some(429) => PluginError::RateLimited(RateLimit { message, retry_after_ms: None }),
                Some(400) => PluginError::BadInput(message),
                _ => PluginError::Unavailable(message),
            }
        }
    }
}

/// Close codes that end a stream normally: 1000 (normal) and 1001 (going away), as the
/// official SDKs accept them after CloseStream.
const NORMAL_CLOSES: std::ops::RangeInclusive<u16> = 1000..=1001;

/// Whether a close is the end the plugin asked for with CloseStream, not a failure.
pub fn is_requested_end(closing: bool, close: &CloseInfo) -> bool {
    closing && NORMAL_CLOSES.contains(&close.code)
}

/// Maps a close that this plugin did not ask for (docs/protocols/deepgram.md §1.7): `DATA-0000` means the audio is
/// unusable; `NET-0000`/`NET-0001`, server errors and drops are worth reconnecting.
pub fn from_close(close: &CloseInfo) -> PluginError {
    let reason = if close.reason.is_empty() { String::new() } else { format!(" {}", close.reason) };
    let message = format!("Deepgram closed the stream ({}{reason})", close.code);
    if close.reason.contains("DATA-0000") {
        return PluginError::BadInput(format!("{message}: the audio could not be decoded"));
    }
    match close.code {
        1008 => PluginError::BadInput(message),
        1006 => PluginError::Unavailable("the connection to Deepgram was lost".into()),
        _ => PluginError::Unavailable(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(err: &PluginError) -> &'static str {
        match err {
            PluginError::Unauthorized(_) => "unauthorized",
            PluginError::RateLimited(_) => "rate-limited",
            PluginError::BadInput(_) => "bad-input",
            PluginError::Unavailable(_) => "unavailable",
            PluginError::Denied(_) => "denied",
            PluginError::Other(_) => "other",
        }
    }

    #[test]
    fn connect_failures() {
        let cases = [
            (WsError::Connection("HTTP 401: Invalid credentials.".into()), "unauthorized"),
            (WsError::Connection("HTTP 429: slow down".into()), "rate-limited"),
            (WsError::Connection("HTTP 400: Unknown query parameter: x".into()), "bad-input"),
            (WsError::Connection("HTTP 503: try later".into()), "unavailable"),
            (WsError::Connection("connection refused".into()), "unavailable"),
            (WsError::Timeout, "unavailable"),
            (WsError::Denied("not granted".into()), "denied"),
        ];
        for (err, want) in cases {
            let label = format!("{err:?}");
            assert_eq!(kind(&from_host(err)), want, "{label}");
        }
    }

    #[test]
    fn a_normal_close_after_close_stream_ends_the_stream() {
        let close = |code| CloseInfo { code, reason: String::new() };
        let cases = [(true, 1000, true), (true, 1001, true), (true, 1011, false), (true, 1006, false), (false, 1000, false), (false, 1001, false)];
        for (closing, code, want) in cases {
            assert_eq!(is_requested_end(closing, &close(code)), want, "closing {closing}, code {code}");
        }
    }

    #[test]
    fn closes() {
        let cases = [
            (1011, "NET-0001", "unavailable"),
            (1011, "NET-0000", "unavailable"),
            (1008, "DATA-0000", "bad-input"),
            (1006, "", "unavailable"),
            (1001, "", "unavailable"),
        ];
        for (code, reason, want) in cases {
            assert_eq!(kind(&from_close(&CloseInfo { code, reason: reason.into() })), want, "{code} {reason}");
        }
    }
}
