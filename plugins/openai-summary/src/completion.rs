//! The answer, whole (`chat.completion`) or streamed (`chat.completion.chunk` events ending
//! in `data: [DONE]`), as the summary's JSON text with the model and token counts; then that
//! text as a summary, or what is wrong with it for one repair.

use serde_json::Value;

use scribe_plugin_api::summarizer::types::{PluginError, Summary};
use scribe_summarizer_kit::partial::parse_prefix;
use scribe_summarizer_kit::record;

use crate::errors;

/// The event that ends a stream.
const DONE: &str = "[DONE]";

/// What the model answered.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reply {
    /// The summary's JSON text: the tool call's arguments when there is one, else the
    /// message's content.
    pub text: String,
    pub model: String,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub finish_reason: Option<String>,
}

fn usage(value: &Value) -> (Option<u64>, Option<u64>) {
    let count = |key: &str| value.get("usage").and_then(|u| u.get(key)).and_then(Value::as_u64);
    (count("prompt_tokens"), count("completion_tokens"))
}

fn unreadable(what: &str, err: impl std::fmt::Display) -> PluginError {
    PluginError::Other(format!("the model server's {what} is not a chat completion: {err}"))
}

/// A whole `chat.completion` body.
pub fn from_completion(body: &[u8]) -> Result<Reply, PluginError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| unreadable("answer", e))?;
    let choice = value.get("choices").and_then(|c| c.get(0)).ok_or_else(|| unreadable("answer", "it has no choices"))?;
    let message = choice.get("message").ok_or_else(|| unreadable("answer", "its choice has no message"))?;
    let arguments = message.pointer("/tool_calls/0/function/arguments").and_then(Value::as_str);
    let content = message.get("content").and_then(Value::as_str);
    let (input_tokens, output_tokens) = usage(&value);
    Ok(Reply {
        text: arguments.or(content).unwrap_or_default().to_string(),
        model: value.get("model").and_then(Value::as_str).unwrap_or_default().to_string(),
        input_tokens,
        output_tokens,
        finish_reason: choice.get("finish_reason").and_then(Value::as_str).map(String::from),
    })
}

/// A streamed answer as its chunks arrive.
#[derive(Default)]
pub struct ChunkStream {
    content: String,
    arguments: String,
    reply: Reply,
    done: bool,
}

impl ChunkStream {
    /// One event's data. Returns the summary as far as it is written when it grew.
    pub fn on_event(&mut self, data: &str) -> Result<Option<Value>, PluginError> {
        if data.trim() == DONE {
            self.done = true;
            return Ok(None);
        }
        let chunk: Value = serde_json::from_str(data).map_err(|e| unreadable("stream event", e))?;
        if let Some(error) = chunk.get("error") {
            return Err(errors::from_stream_error(error));
        }
        if let Some(model) = chunk.get("model").and_then(Value::as_str).filter(|m| !m.is_empty()) {
            self.reply.model = model.to_string();
        }
        if chunk.get("usage").is_some_and(Value::is_object) {
            (self.reply.input_tokens, self.reply.output_tokens) = usage(&chunk);
        }
        let Some(choice) = chunk.get("choices").and_then(|c| c.get(0)) else { return Ok(None) };
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.reply.finish_reason = Some(reason.to_string());
        }
        let delta = choice.get("delta");
        let before = (self.content.len(), self.arguments.len());
        if let Some(text) = delta.and_then(|d| d.get("content")).and_then(Value::as_str) {
            self.content.push_str(text);
        }
        if let Some(text) = delta.and_then(|d| d.pointer("/tool_calls/0/function/arguments")).and_then(Value::as_str) {
            self.arguments.push_str(text);
        }
        if (self.content.len(), self.arguments.len()) == before {
            return Ok(None);
        }
        Ok(parse_prefix(strip_fence(self.text())))
    }

    fn text(&self) -> &str {
        if self.arguments.is_empty() { &self.content } else { &self.arguments }
    }

    /// Whether `[DONE]` came.
    pub fn done(&self) -> bool {
        self.done
    }

    /// The whole answer; a stream that ended without `[DONE]` was cut off.
    pub fn finish(mut self) -> Result<Reply, PluginError> {
        if !self.done {
            return Err(PluginError::Unavailable(format!(
                "the model server's stream ended before [DONE], after {} characters of the answer",
                self.text().len()
            )));
        }
        self.reply.text = self.text().to_string();
        Ok(self.reply)
    }
}

/// The JSON inside a Markdown code fence, which small models add even when told not to.
fn strip_fence(text: &str) -> &str {
    let text = text.trim();
    let Some(rest) = text.strip_prefix("```") else { return text };
    let body = rest.split_once('\n').map_or("", |(_, body)| body);
    body.trim_end().strip_suffix("```").unwrap_or(body).trim()
}

/// Why an answer is not a summary, for the repair request.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub answer: String,
    pub problem: String,
}

/// The summary in `reply`. A reply cut at `max_tokens` is an error that names the setting;
/// one that is not the schema's JSON is [`Invalid`], for one repair.
pub fn summary(reply: &Reply, max_tokens: u32) -> Result<Result<Summary, Invalid>, PluginError> {
    if reply.finish_reason.as_deref() == Some("length") {
        return Err(PluginError::Other(format!(
            "the model stopped at max_tokens ({max_tokens}) before the summary was complete; raise plugins.openai-summary.settings.max_tokens"
        )));
    }
    let invalid = |problem: String| Ok(Err(Invalid { answer: reply.text.clone(), problem }));
    let value: Value = match serde_json::from_str(strip_fence(&reply.text)) {
        Ok(value) => value,
        Err(err) => return invalid(format!("it is not valid JSON ({err})")),
    };
    if let Err(problem) = record::validate(&value) {
        return invalid(problem);
    }
    Ok(record::from_input(&value).map_err(|problem| Invalid { answer: reply.text.clone(), problem }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use scribe_summarizer_kit::sse::SseParser;

    const SUMMARY: &str = r#"{"title":"Budget","overview":"We met.","key_points":["A"],"action_items":[{"text":"Send the notes","owner":"Bob","time":"00:00:42"}],"decisions":[]}"#;

    #[test]
    fn a_whole_answer_from_content_or_a_tool_call() {
        let content = format!(
            r#"{{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"llama3.2","choices":[{{"index":0,"message":{{"role":"assistant","content":{}}},"finish_reason":"stop"}}],"usage":{{"prompt_tokens":120,"completion_tokens":40,"total_tokens":160}}}}"#,
            serde_json::to_string(SUMMARY).expect("json")
        );
        let reply = from_completion(content.as_bytes()).expect("reply");
        assert_eq!((reply.model.as_str(), reply.input_tokens, reply.output_tokens, reply.finish_reason.as_deref()), ("llama3.2", Some(120), Some(40), Some("stop")));
        let summary = summary(&reply, 100).expect("no error").expect("valid");
        assert_eq!(summary.action_items[0].at_ms, Some(42_000));

        let tool = format!(
            r#"{{"object":"chat.completion","model":"m","choices":[{{"index":0,"message":{{"role":"assistant","content":null,"tool_calls":[{{"id":"call_1","type":"function","function":{{"name":"record_summary","arguments":{}}}}}]}},"finish_reason":"tool_calls"}}]}}"#,
            serde_json::to_string(SUMMARY).expect("json")
        );
        assert_eq!(from_completion(tool.as_bytes()).expect("reply").text, SUMMARY);
        assert!(from_completion(b"{\"choices\": []}").is_err());
    }

    #[test]
    fn a_streamed_answer_grows_and_ends_at_done() {
        let mut events = String::new();
        events.push_str("data: {\"object\":\"chat.completion.chunk\",\"model\":\"llama3.2\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n");
        for piece in SUMMARY.as_bytes().chunks(17) {
            let piece = std::str::from_utf8(piece).expect("ascii");
            let chunk = serde_json::json!({"object": "chat.completion.chunk", "model": "llama3.2", "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": null}]});
            events.push_str(&format!("data: {chunk}\n\n"));
        }
        events.push_str("data: {\"object\":\"chat.completion.chunk\",\"model\":\"llama3.2\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
        events.push_str("data: {\"object\":\"chat.completion.chunk\",\"model\":\"llama3.2\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":5,\"total_tokens\":14}}\n\n");
        let mut parser = SseParser::default();
        let mut stream = ChunkStream::default();
        let mut partials = Vec::new();
        for event in parser.feed(events.as_bytes()).expect("events") {
            partials.extend(stream.on_event(&event.data).expect("chunk"));
        }
        assert!(partials.len() > 3 && partials.last().and_then(|p| p.get("title")).is_some(), "{partials:?}");
        assert!(!stream.done());
        let mut cut = ChunkStream::default();
        cut.on_event("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"{\\\"ti\"}}]}").expect("chunk");
        assert!(matches!(cut.finish(), Err(PluginError::Unavailable(m)) if m.contains("[DONE]")));
        stream.on_event("[DONE]").expect("done");
        let reply = stream.finish().expect("complete");
        assert_eq!((reply.text.as_str(), reply.input_tokens, reply.output_tokens), (SUMMARY, Some(9), Some(5)));
    }

    #[test]
    fn fences_are_read_through_and_bad_answers_say_why() {
        let fenced = Reply { text: format!("```json\n{SUMMARY}\n```"), ..Reply::default() };
        assert!(summary(&fenced, 10).expect("no error").is_ok());
        let broken = Reply { text: "{\"title\": \"x\"".into(), ..Reply::default() };
        let invalid = summary(&broken, 10).expect("no error").expect_err("invalid");
        assert!(invalid.problem.contains("not valid JSON"), "{invalid:?}");
        let incomplete = Reply { text: "{\"title\": \"x\", \"overview\": \"y\"}".into(), ..Reply::default() };
        assert!(summary(&incomplete, 10).expect("no error").expect_err("invalid").problem.contains("key_points is missing"));
        let cut = Reply { text: "{".into(), finish_reason: Some("length".into()), ..Reply::default() };
        assert!(matches!(summary(&cut, 77), Err(PluginError::Other(m)) if m.contains("max_tokens (77)")));
    }
}
