//! What is sent: the Messages request body (docs/protocols/anthropic.md §2, §4) with the
//! user message ([`scribe_summarizer_kit::guest`]) and the summary forced through one tool
//! call, so the answer is parsed JSON rather than prose to be scraped. No `temperature`
//! or `top_k`: newer models reject them.

use serde_json::{Value, json};

use scribe_summarizer_kit::prompt;

use crate::settings::Settings;

/// Name of the tool the model must call.
pub const TOOL_NAME: &str = "record_summary";

/// The tool whose input is the summary.
fn tool() -> Value {
    json!({
        "name": TOOL_NAME,
        "description": "Record the structured summary of the transcript.",
        "input_schema": prompt::schema(false),
    })
}

/// The request body for the user message `user` ([`scribe_summarizer_kit::guest`]).
pub fn body(settings: &Settings, user: String) -> Value {
    let mut body = json!({
        "model": settings.model,
        "max_tokens": settings.max_tokens,
        "system": settings.system_prompt,
        "messages": [{"role": "user", "content": user}],
        "tools": [tool()],
        "tool_choice": {"type": "tool", "name": TOOL_NAME, "disable_parallel_tool_use": true},
    });
    if settings.stream {
        body["stream"] = Value::Bool(true);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::read(|_| None).expect("defaults")
    }

    #[test]
    fn a_request_forces_the_tool_and_carries_the_message() {
        let body = body(&settings(), "Transcript:\n[00:00:01] Alice: Hello all.\n".into());
        assert_eq!(body["tool_choice"], json!({"type": "tool", "name": TOOL_NAME, "disable_parallel_tool_use": true}));
        assert_eq!(body["tools"][0]["name"], TOOL_NAME);
        assert_eq!(body["tools"][0]["input_schema"], prompt::schema(false));
        assert_eq!(body["stream"], true);
        assert!(body.get("temperature").is_none() && body.get("top_k").is_none());
        assert_eq!(body["messages"][0]["content"], "Transcript:\n[00:00:01] Alice: Hello all.\n");
        let whole = super::body(&Settings { stream: false, ..settings() }, String::new());
        assert!(whole.get("stream").is_none());
    }
}
