//! What the fake answers: the scripted summary of the request's transcript as a
//! `chat.completion` or as its `chat.completion.chunk` events, in the shapes of OpenAI's API
//! reference (content, or one forced tool call's arguments).

use serde_json::{Value, json};

use super::Fault;
use crate::fake_anthropic::reply::tool_input;

/// Characters of the answer per chunk, about what servers send.
const DELTA_CHARS: usize = 24;
/// When the fake's completions say they were made (Unix seconds; any fixed time will do).
const CREATED: u64 = 1_767_225_600;

/// How the request asked for the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// As the message content; `strict` fills every property (an absent owner is `null`).
    Content { strict: bool },
    /// As the arguments of a call of this function.
    Tool(String),
}

/// One answer, to send whole or streamed.
pub struct Answer {
    id: String,
    model: String,
    shape: Shape,
    /// The summary's JSON text (cut short by an [`Fault::InvalidJson`] or [`Fault::Length`]).
    text: String,
    finish_reason: &'static str,
    prompt_tokens: u64,
    completion_tokens: u64,
}

impl Answer {
    pub fn new(body: &Value, user_text: &str, shape: Shape, id: u64, fault: Option<&Fault>) -> Answer {
        let mut summary = tool_input(user_text);
        if shape == (Shape::Content { strict: true }) {
            for item in summary["action_items"].as_array_mut().into_iter().flatten() {
                if item.get("owner").is_none() {
                    item["owner"] = Value::Null;
                }
            }
        }
        let mut text = summary.to_string();
        let mut finish_reason = if matches!(shape, Shape::Tool(_)) { "tool_calls" } else { "stop" };
        match fault {
            Some(Fault::InvalidJson) => text.truncate(text.len() / 2),
            Some(Fault::Length) => {
                text.truncate(text.len() / 2);
                finish_reason = "length";
            }
            _ => {}
        }
        Answer {
            id: format!("chatcmpl-fake{id:012}"),
            model: body["model"].as_str().unwrap_or_default().to_string(),
            shape,
            // A rough count is enough: the plugin reports what the server says.
            prompt_tokens: (body.to_string().len() / 4) as u64,
            completion_tokens: (text.len() / 4) as u64,
            text,
            finish_reason,
        }
    }

    fn usage(&self) -> Value {
        json!({"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens, "total_tokens": self.prompt_tokens + self.completion_tokens})
    }

    /// The whole `chat.completion`.
    pub fn completion(&self) -> Value {
        let message = match &self.shape {
            Shape::Content { .. } => json!({"role": "assistant", "content": self.text, "refusal": null}),
            Shape::Tool(name) => json!({
                "role": "assistant",
                "content": null,
                "tool_calls": [{"id": format!("call_{}", self.id), "type": "function", "function": {"name": name, "arguments": self.text}}],
                "refusal": null,
            }),
        };
        json!({
            "id": self.id,
            "object": "chat.completion",
            "created": CREATED,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": self.finish_reason}],
            "usage": self.usage(),
            "system_fingerprint": "fp_fake",
        })
    }

    /// The stream's events, `data: JSON\n\n` each, ending in `data: [DONE]`; with
    /// `include_usage` every chunk has `usage: null` and one more chunk carries the counts.
    pub fn chunks(&self, include_usage: bool) -> Vec<String> {
        let chunk = |delta: Value, finish: Option<&str>| {
            let mut chunk = json!({
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": self.model,
                "system_fingerprint": "fp_fake",
                "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
            });
            if include_usage {
                chunk["usage"] = Value::Null;
            }
            format!("data: {chunk}\n\n")
        };
        let mut events = Vec::new();
        let pieces: Vec<String> = self.text.chars().collect::<Vec<_>>().chunks(DELTA_CHARS).map(|p| p.iter().collect()).collect();
        match &self.shape {
            Shape::Content { .. } => {
                events.push(chunk(json!({"role": "assistant", "content": "", "refusal": null}), None));
                events.extend(pieces.iter().map(|p| chunk(json!({"content": p}), None)));
            }
            Shape::Tool(name) => {
                let call = json!({"index": 0, "id": format!("call_{}", self.id), "type": "function", "function": {"name": name, "arguments": ""}});
                events.push(chunk(json!({"role": "assistant", "content": null, "tool_calls": [call]}), None));
                events.extend(pieces.iter().map(|p| chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}), None)));
            }
        }
        events.push(chunk(json!({}), Some(self.finish_reason)));
        if include_usage {
            let last = json!({"id": self.id, "object": "chat.completion.chunk", "created": CREATED, "model": self.model, "system_fingerprint": "fp_fake", "choices": [], "usage": self.usage()});
            events.push(format!("data: {last}\n\n"));
        }
        events.push("data: [DONE]\n\n".to_string());
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_reassembles_to_the_whole_answer() {
        let body = json!({"model": "llama3.2", "messages": []});
        let text = "Recording title: Sync\n[00:00:05] Bob: I will write the notes.\n[00:00:09] We decided to \"ship\".";
        for shape in [Shape::Content { strict: true }, Shape::Tool("record_summary".into())] {
            let answer = Answer::new(&body, text, shape.clone(), 1, None);
            let whole = answer.completion();
            let events = answer.chunks(true);
            assert_eq!(events.last().map(String::as_str), Some("data: [DONE]\n\n"));
            let chunks: Vec<Value> = events[..events.len() - 1].iter().map(|e| serde_json::from_str(e.trim().trim_start_matches("data: ")).expect("json")).collect();
            let streamed: String = chunks
                .iter()
                .filter_map(|c| c.pointer("/choices/0/delta/content").or_else(|| c.pointer("/choices/0/delta/tool_calls/0/function/arguments")))
                .filter_map(Value::as_str)
                .collect();
            let written = whole.pointer("/choices/0/message/content").filter(|c| c.is_string()).or_else(|| whole.pointer("/choices/0/message/tool_calls/0/function/arguments"));
            assert_eq!(Some(streamed.as_str()), written.and_then(Value::as_str));
            assert_eq!(chunks.last().and_then(|c| c["usage"]["total_tokens"].as_u64()), whole["usage"]["total_tokens"].as_u64());
            let summary: Value = serde_json::from_str(&streamed).expect("the summary");
            assert_eq!(summary["action_items"][0]["owner"], "Bob");
            if shape == (Shape::Content { strict: true }) {
                assert_eq!(summary["decisions"][0], "We decided to \"ship\".");
            }
        }
    }
}
