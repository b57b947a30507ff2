//! Reading Anthropic's answer: the SSE event sequence of a streamed message
//! (docs/protocols/anthropic.md §5) or a whole message (§3), down to the summary tool call,
//! the model that wrote it and the tokens it cost.
//!
//! A stream is complete only with `message_stop`; one that ends before is an error, never a
//! half summary. `ping` and unknown events are skipped; an `error` event is mapped by type.

use serde::Deserialize;
use serde_json::Value;

use scribe_plugin_api::summarizer::types::{PluginError, Summary};

use crate::errors::{ErrorObject, from_stream_error};
use scribe_summarizer_kit::partial::parse_prefix;
use crate::prompt::TOOL_NAME;
use scribe_summarizer_kit::sse::SseEvent;
use scribe_summarizer_kit::record::from_input;

/// Summary JSON that must arrive before the summary is read again for progress: at least
/// this many bytes (about 15 tokens, a second of a model's writing)...
const PARTIAL_MIN_STEP: usize = 64;
/// ...and at least this fraction of what there is (1/16), so reading stays linear overall.
const PARTIAL_GROWTH: usize = 16;

/// A finished answer.
pub struct Answer {
    pub summary: Summary,
    pub model: String,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
}

#[derive(Deserialize, Default)]
struct Usage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct Message {
    model: Option<String>,
    #[serde(default)]
    content: Vec<Value>,
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Usage,
}

/// One content block as it is assembled.
enum Block {
    /// The summary tool's input, as JSON text so far.
    Summary(String),
    /// Text, another tool, thinking: not ours.
    Other,
}

/// The state of a streamed message.
#[derive(Default)]
pub struct MessageStream {
    request_id: Option<String>,
    model: Option<String>,
    usage: Usage,
    blocks: Vec<(u64, Block)>,
    stop_reason: Option<String>,
    stopped: bool,
    events: usize,
    /// Length of the summary JSON when it was last read for progress.
    partial_at: usize,
}

#[derive(Deserialize)]
struct BlockStart {
    index: u64,
    content_block: Value,
}

#[derive(Deserialize)]
struct BlockDelta {
    index: u64,
    delta: Value,
}

#[derive(Deserialize)]
struct MessageDelta {
    #[serde(default)]
    delta: Value,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct ErrorEvent {
    error: ErrorObject,
}

fn malformed(what: &str, err: serde_json::Error) -> PluginError {
    PluginError::Other(format!("Anthropic sent a malformed {what} event: {err}"))
}

impl MessageStream {
    pub fn new(request_id: Option<String>) -> MessageStream {
        MessageStream { request_id, ..MessageStream::default() }
    }

    /// Takes one event. Returns the summary as far as it is written when this event added
    /// to it.
    pub fn on_event(&mut self, event: &SseEvent) -> Result<Option<Value>, PluginError> {
        self.events += 1;
        match event.name.as_str() {
            "message_start" => {
                #[derive(Deserialize)]
                struct Start {
                    message: Message,
                }
                let start: Start = serde_json::from_str(&event.data).map_err(|e| malformed("message_start", e))?;
                self.model = start.message.model;
                self.merge_usage(start.message.usage);
            }
            "content_block_start" => {
                let start: BlockStart = serde_json::from_str(&event.data).map_err(|e| malformed("content_block_start", e))?;
                let block = &start.content_block;
                let ours = block["type"] == "tool_use" && block["name"] == TOOL_NAME;
                self.blocks.push((start.index, if ours { Block::Summary(String::new()) } else { Block::Other }));
            }
            "content_block_delta" => {
                let delta: BlockDelta = serde_json::from_str(&event.data).map_err(|e| malformed("content_block_delta", e))?;
                let piece = delta.delta.get("partial_json").and_then(Value::as_str);
                if let (Some(piece), Some((_, Block::Summary(json)))) =
                    (piece, self.blocks.iter_mut().find(|(index, _)| *index == delta.index))
                {
                    json.push_str(piece);
                    // Re-reading the whole prefix on every delta would be quadratic in the
                    // answer's length; reading it after each step of growth stays linear.
                    let step = PARTIAL_MIN_STEP.max(self.partial_at / PARTIAL_GROWTH);
                    if json.len() >= self.partial_at + step {
                        self.partial_at = json.len();
                        return Ok(parse_prefix(json));
                    }
                }
            }
            "message_delta" => {
                let delta: MessageDelta = serde_json::from_str(&event.data).map_err(|e| malformed("message_delta", e))?;
                if let Some(reason) = delta.delta.get("stop_reason").and_then(Value::as_str) {
                    self.stop_reason = Some(reason.to_string());
                }
                if let Some(usage) = delta.usage {
                    self.merge_usage(usage);
                }
            }
            "message_stop" => self.stopped = true,
            "error" => {
                let error: ErrorEvent = serde_json::from_str(&event.data).map_err(|e| malformed("error", e))?;
                return Err(from_stream_error(error.error, self.request_id.as_deref()));
            }
            // `ping`, `content_block_stop` and event types added later carry nothing we need.
            _ => {}
        }
        Ok(None)
    }

    /// Token counts in `message_delta` are cumulative: the latest wins.
    fn merge_usage(&mut self, usage: Usage) {
        self.usage.input_tokens = usage.input_tokens.or(self.usage.input_tokens);
        self.usage.output_tokens = usage.output_tokens.or(self.usage.output_tokens);
    }

    /// Whether `message_stop` came: the answer is whole, whatever follows in the body.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// What to say when the stream ends before `message_stop`.
    pub fn cut_message(&self) -> String {
        format!(
            "the summary stream from Anthropic was cut off after {} events{}",
            self.events,
            self.request_id.as_deref().map(|id| format!(" (request {id})")).unwrap_or_default()
        )
    }

    /// The answer, once the body has ended.
    pub fn finish(self) -> Result<Answer, PluginError> {
        if !self.stopped {
            return Err(PluginError::Unavailable(self.cut_message()));
        }
        let input = self.blocks.iter().find_map(|(_, block)| match block {
            Block::Summary(json) => Some(json.as_str()),
            Block::Other => None,
        });
        let input = input
            .map(|json| serde_json::from_str::<Value>(if json.trim().is_empty() { "{}" } else { json }))
            .transpose()
            .map_err(|err| PluginError::Other(format!("the summary Anthropic streamed is not valid JSON: {err}")))?;
        answer(self.model, self.stop_reason.as_deref(), input, self.usage)
    }
}

/// Reads a whole (non-streamed) message.
pub fn from_message(body: &[u8]) -> Result<Answer, PluginError> {
    let message: Message = serde_json::from_slice(body)
        .map_err(|err| PluginError::Other(format!("Anthropic's answer is not a message: {err}")))?;
    let input = message
        .content
        .iter()
        .find(|block| block["type"] == "tool_use" && block["name"] == TOOL_NAME)
        .map(|block| block["input"].clone());
    answer(message.model, message.stop_reason.as_deref(), input, message.usage)
}

fn answer(model: Option<String>, stop_reason: Option<&str>, input: Option<Value>, usage: Usage) -> Result<Answer, PluginError> {
    match stop_reason {
        Some("max_tokens") => {
            return Err(PluginError::Other(
                "the summary did not fit in its output budget; raise plugins.claude-summary.settings.max_tokens".into(),
            ));
        }
        Some("refusal") => return Err(PluginError::Other("Claude declined to summarise this transcript".into())),
        _ => {}
    }
    let input = input.ok_or_else(|| PluginError::Other("Anthropic answered without calling the summary tool".into()))?;
    let summary = from_input(&input).map_err(|err| PluginError::Other(format!("Anthropic's summary is unusable: {err}")))?;
    Ok(Answer {
        summary,
        model: model.unwrap_or_default(),
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use scribe_summarizer_kit::sse::SseParser;

    /// The recorded tool-use stream (tests/fixtures/anthropic-sse-tool-use.txt) with our tool's
    /// name and input.
    fn recorded_stream(cut_after: Option<usize>) -> Vec<SseEvent> {
        let recorded = include_str!("../../../tests/fixtures/anthropic-sse-tool-use.txt")
            .replace("get_weather", TOOL_NAME)
            .replace(
                r#""partial_json":"{\"locati""#,
                r#""partial_json":"{\"overview\": \"Paris weather\", \"key_points\": [], \"decisions\": [], \"action_items\": [{\"text\": \"Check\", \"time\": \"00:00:01\"}], \"locati""#,
            );
        let mut events = SseParser::default().feed(format!("{recorded}\n\n").as_bytes()).expect("parses");
        if let Some(n) = cut_after {
            events.truncate(n);
        }
        events
    }

    #[test]
    fn the_recorded_tool_stream_gives_a_summary_with_partials() {
        let mut stream = MessageStream::new(Some("req_1".into()));
        let mut partials = Vec::new();
        for event in recorded_stream(None) {
            if let Some(partial) = stream.on_event(&event).expect("event") {
                partials.push(partial);
            }
        }
        assert!(partials.iter().any(|p| p["overview"] == "Paris weather"), "{partials:?}");
        let answer = stream.finish().expect("answer");
        assert_eq!(answer.model, "claude-sonnet-4-20250514");
        assert_eq!((answer.input_tokens, answer.output_tokens), (Some(377), Some(65)));
        assert_eq!(answer.summary.overview, "Paris weather");
        assert_eq!(answer.summary.action_items[0].at_ms, Some(1_000));
    }

    #[test]
    fn a_stream_cut_short_is_an_error() {
        let mut stream = MessageStream::new(Some("req_1".into()));
        for event in recorded_stream(Some(3)) {
            stream.on_event(&event).expect("event");
        }
        match stream.finish() {
            Err(PluginError::Unavailable(m)) => assert!(m.contains("cut off after 3 events") && m.contains("req_1"), "{m}"),
            _ => panic!("a cut stream must fail"),
        }
    }

    #[test]
    fn an_error_event_and_bad_stops() {
        let mut stream = MessageStream::new(None);
        let error = SseEvent { name: "error".into(), data: r#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#.into() };
        assert!(matches!(stream.on_event(&error), Err(PluginError::Unavailable(_))));
        let text_only = br#"{"model":"m","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}"#;
        assert!(matches!(from_message(text_only), Err(PluginError::Other(m)) if m.contains("without calling")));
        let truncated = br#"{"model":"m","content":[],"stop_reason":"max_tokens","usage":{}}"#;
        assert!(matches!(from_message(truncated), Err(PluginError::Other(m)) if m.contains("max_tokens")));
    }

    #[test]
    fn a_whole_message_with_the_tool_call() {
        let body = format!(
            r#"{{"model":"claude-sonnet-4-5-20250929","id":"msg_1","type":"message","role":"assistant","content":[{{"type":"tool_use","id":"toolu_1","name":"{TOOL_NAME}","input":{{"title":"T","overview":"O","key_points":["k"],"action_items":[],"decisions":["d"]}},"caller":{{"type":"direct"}}}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{{"input_tokens":412,"output_tokens":58}}}}"#
        );
        let answer = from_message(body.as_bytes()).expect("answer");
        assert_eq!((answer.model.as_str(), answer.input_tokens, answer.output_tokens), ("claude-sonnet-4-5-20250929", Some(412), Some(58)));
        assert_eq!(answer.summary.decisions, ["d"]);
    }
}
