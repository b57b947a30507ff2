//! What the fake answers: a tool call whose input is built from the request's text, so tests
//! can assert content, sent whole (docs/protocols/anthropic.md §3) or as the recorded event sequence (§5).

use serde_json::{Value, json};

/// One line of transcript the fake understood: `[hh:mm:ss] Speaker: text`, optionally after
/// `- ` (the merge requests list part summaries' action items that way).
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub time: String,
    pub speaker: Option<String>,
    pub text: String,
}

/// Longest key point the fake writes, characters.
const KEY_POINT_CHARS: usize = 80;
/// Characters of tool input per `input_json_delta`, about what the API sends.
const DELTA_CHARS: usize = 24;

pub fn lines(text: &str) -> Vec<Line> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim().trim_start_matches("- ");
            let rest = line.strip_prefix('[')?;
            let (time, rest) = rest.split_once("] ")?;
            let well_formed = time.split(':').count() == 3 && time.split(':').all(|p| p.len() >= 2 && p.bytes().all(|b| b.is_ascii_digit()));
            if !well_formed {
                return None;
            }
            let (speaker, text) = match rest.split_once(": ") {
                Some((speaker, text)) if speaker.chars().count() <= 40 => (Some(speaker.to_string()), text),
                _ => (None, rest),
            };
            Some(Line { time: time.to_string(), speaker, text: text.to_string() })
        })
        .collect()
}

/// The scripted summary of `text`: overview naming the line count, the first three lines
/// as key points, every line saying "will" as an action item (its speaker the owner, its
/// time the item's), every line saying "decided" or "agreed" as a decision.
pub fn tool_input(text: &str) -> Value {
    let title = text
        .lines()
        .find_map(|l| l.strip_prefix("Recording title: "))
        .map_or_else(|| "Untitled".to_string(), |t| format!("About {t}"));
    let lines = lines(text);
    let lower = |l: &Line| l.text.to_lowercase();
    let key_points: Vec<String> = lines.iter().take(3).map(|l| l.text.chars().take(KEY_POINT_CHARS).collect()).collect();
    let action_items: Vec<Value> = lines
        .iter()
        .filter(|l| lower(l).split(|c: char| !c.is_alphanumeric()).any(|w| w == "will"))
        .map(|l| {
            let mut item = json!({"text": l.text, "time": l.time});
            if let Some(owner) = &l.speaker {
                item["owner"] = Value::String(owner.clone());
            }
            item
        })
        .collect();
    let decisions: Vec<String> =
        lines.iter().filter(|l| lower(l).contains("decided") || lower(l).contains("agreed")).map(|l| l.text.clone()).collect();
    json!({
        "title": title,
        "overview": format!("The fake read {} transcript lines.", lines.len()),
        "key_points": key_points,
        "action_items": action_items,
        "decisions": decisions,
    })
}

/// The dated id a model alias resolves to, as the API echoes it (docs/protocols/anthropic.md §7).
pub fn resolved_model(model: &str) -> String {
    match model {
        "claude-sonnet-4-5" => "claude-sonnet-4-5-20250929".into(),
        "claude-haiku-4-5" => "claude-haiku-4-5-20251001".into(),
        "claude-opus-4-5" => "claude-opus-4-5-20251101".into(),
        other => other.into(),
    }
}

/// A whole message with one `tool_use` block.
pub fn message(model: &str, tool: &str, input: &Value, input_tokens: u64, output_tokens: u64, id: u64) -> Value {
    json!({
        "model": resolved_model(model),
        "id": format!("msg_fake{id:020}"),
        "type": "message",
        "role": "assistant",
        "content": [{"type": "tool_use", "id": format!("toolu_fake{id:016}"), "name": tool, "input": input, "caller": {"type": "direct"}}],
        "stop_reason": "tool_use",
        "stop_sequence": null,
        "usage": {"input_tokens": input_tokens, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": output_tokens, "service_tier": "standard"},
    })
}

/// The SSE events of the same message, framed `event: NAME\ndata: JSON\n\n`, in the order
/// and shapes of the recorded tool-use stream (the `ping` with its space after the colon).
pub fn stream_events(model: &str, tool: &str, input: &Value, input_tokens: u64, output_tokens: u64, id: u64) -> Vec<String> {
    let frame = |name: &str, data: &Value| format!("event: {name}\ndata: {data}\n\n");
    let mut events = vec![
        frame(
            "message_start",
            &json!({"type": "message_start", "message": {
                "id": format!("msg_fake{id:020}"), "type": "message", "role": "assistant", "model": resolved_model(model),
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": input_tokens, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1, "service_tier": "standard"},
            }}),
        ),
        frame(
            "content_block_start",
            &json!({"type": "content_block_start", "index": 0, "content_block": {
                "type": "tool_use", "id": format!("toolu_fake{id:016}"), "name": tool, "caller": {"type": "direct"}, "input": {},
            }}),
        ),
        "event: ping\ndata: {\"type\": \"ping\"}\n\n".to_string(),
        frame("content_block_delta", &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": ""}})),
    ];
    let json = input.to_string();
    let chars: Vec<char> = json.chars().collect();
    for piece in chars.chunks(DELTA_CHARS) {
        let piece: String = piece.iter().collect();
        events.push(frame("content_block_delta", &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": piece}})));
    }
    events.push(frame("content_block_stop", &json!({"type": "content_block_stop", "index": 0})));
    events.push(frame(
        "message_delta",
        &json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": output_tokens}}),
    ));
    events.push(frame("message_stop", &json!({"type": "message_stop"})));
    events
}

/// The recorded text stream (`tests/fixtures/anthropic-sse-text.txt`), verbatim but for the model,
/// for requests that do not force a tool: split into events.
pub fn text_stream_events(model: &str) -> Vec<String> {
    const RECORDED: &str = include_str!("../../fixtures/anthropic-sse-text.txt");
    RECORDED
        .replace("\"model\":\"claude-3-opus-latest\"", &format!("\"model\":{}", Value::String(resolved_model(model))))
        .split("\n\n")
        .filter(|event| !event.trim().is_empty())
        .map(|event| format!("{}\n\n", event.trim_end()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcript_lines_and_the_scripted_summary() {
        let text = "Recording title: Sync\n\nTranscript:\n[00:00:01] Alice: We decided to ship.\n[00:00:05] Bob: I will write the notes.\n- [00:01:00] Carol: Carol will call.\n[bad] no\nplain line\n";
        let parsed = lines(text);
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[1], Line { time: "00:00:05".into(), speaker: Some("Bob".into()), text: "I will write the notes.".into() });
        let input = tool_input(text);
        assert_eq!(input["title"], "About Sync");
        assert_eq!(input["decisions"], json!(["We decided to ship."]));
        assert_eq!(input["action_items"][0], json!({"text": "I will write the notes.", "time": "00:00:05", "owner": "Bob"}));
        assert_eq!(input["action_items"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn the_text_stream_is_the_recording() {
        let events = text_stream_events("claude-3-opus-latest");
        assert_eq!(events.concat().trim_end(), include_str!("../../fixtures/anthropic-sse-text.txt").trim_end());
        assert_eq!(events.len(), 9);
        assert!(text_stream_events("claude-haiku-4-5")[0].contains("\"model\":\"claude-haiku-4-5-20251001\""));
    }

    #[test]
    fn the_stream_reassembles_to_the_message() {
        let input = tool_input("[00:00:01] A: x \"quoted\" will");
        let events = stream_events("claude-sonnet-4-5", "t", &input, 10, 20, 1);
        assert!(events[0].starts_with("event: message_start\ndata: {"));
        assert_eq!(events[2], "event: ping\ndata: {\"type\": \"ping\"}\n\n");
        assert_eq!(events.last().map(String::as_str), Some("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
        let json: String = events
            .iter()
            .filter_map(|e| e.strip_prefix("event: content_block_delta\ndata: "))
            .map(|data| serde_json::from_str::<Value>(data.trim()).expect("json")["delta"]["partial_json"].as_str().unwrap_or("").to_string())
            .collect();
        assert_eq!(serde_json::from_str::<Value>(&json).expect("whole input"), input);
    }
}
