//! What is sent: a Chat Completions request body (OpenAI's API reference, `POST
//! /v1/chat/completions`) asking for the summary by one of three mechanisms, strongest
//! first: a strict JSON schema (`response_format: json_schema`), a forced call of one tool
//! whose parameters are the schema, or `response_format: json_object` with the schema in the
//! instructions. A repair request adds the invalid answer and what was wrong with it.

use serde_json::{Value, json};

use scribe_summarizer_kit::prompt;

use crate::settings::{Settings, Structured};

/// Name of the tool (and of the JSON schema) the summary is given through.
pub const TOOL_NAME: &str = "record_summary";

/// An answer that was not a valid summary, to be shown to the model once.
pub struct Repair<'a> {
    pub answer: &'a str,
    pub problem: &'a str,
}

/// How the answer is to be given, after the instructions.
fn answer_instruction(mechanism: Structured) -> String {
    match mechanism {
        Structured::JsonSchema => "Answer with the JSON object of the summary only.".into(),
        Structured::Tool => format!("Always answer by calling the {TOOL_NAME} tool."),
        Structured::JsonObject => format!(
            "Answer with one JSON object and nothing else, following this JSON schema:\n{}",
            prompt::schema(false)
        ),
    }
}

/// The request body for the user message `user`.
pub fn body(settings: &Settings, mechanism: Structured, user: &str, repair: Option<Repair<'_>>) -> Value {
    let mut messages = vec![
        json!({"role": "system", "content": format!("{} {}", settings.system_prompt, answer_instruction(mechanism))}),
        json!({"role": "user", "content": user}),
    ];
    if let Some(repair) = repair {
        messages.push(json!({"role": "assistant", "content": repair.answer}));
        messages.push(json!({
            "role": "user",
            "content": format!(
                "That answer is not a valid summary: {}. Answer again with the complete summary as valid JSON that follows the schema.",
                repair.problem
            ),
        }));
    }
    let mut body = json!({
        "model": settings.model,
        "messages": messages,
        "max_tokens": settings.max_tokens,
        "temperature": settings.temperature,
    });
    match mechanism {
        Structured::JsonSchema => {
            body["response_format"] = json!({
                "type": "json_schema",
                "json_schema": {"name": TOOL_NAME, "strict": true, "schema": prompt::schema(true)},
            });
        }
        Structured::Tool => {
            body["tools"] = json!([{
                "type": "function",
                "function": {"name": TOOL_NAME, "description": "Record the structured summary of the transcript.", "parameters": prompt::schema(false)},
            }]);
            body["tool_choice"] = json!({"type": "function", "function": {"name": TOOL_NAME}});
        }
        Structured::JsonObject => body["response_format"] = json!({"type": "json_object"}),
    }
    if settings.stream {
        body["stream"] = Value::Bool(true);
        // The token counts come in one last chunk.
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::read(|key| (key == "model").then(|| "llama3.2".to_string())).expect("settings")
    }

    #[test]
    fn each_mechanism_asks_for_the_schema_its_own_way() {
        let s = settings();
        let strict = body(&s, Structured::JsonSchema, "Transcript", None);
        assert_eq!(strict["response_format"]["type"], "json_schema");
        assert_eq!(strict["response_format"]["json_schema"]["strict"], true);
        assert_eq!(strict["response_format"]["json_schema"]["schema"], prompt::schema(true));
        assert!(strict.get("tools").is_none());
        assert_eq!((strict["stream"].as_bool(), strict["stream_options"]["include_usage"].as_bool()), (Some(true), Some(true)));
        assert_eq!(strict["model"], "llama3.2");
        assert_eq!(strict["messages"][1], json!({"role": "user", "content": "Transcript"}));

        let tool = body(&s, Structured::Tool, "Transcript", None);
        assert_eq!(tool["tool_choice"], json!({"type": "function", "function": {"name": TOOL_NAME}}));
        assert_eq!(tool["tools"][0]["function"]["parameters"], prompt::schema(false));
        assert!(tool.get("response_format").is_none());

        let object = body(&Settings { stream: false, ..s }, Structured::JsonObject, "Transcript", None);
        assert_eq!(object["response_format"], json!({"type": "json_object"}));
        assert!(object["messages"][0]["content"].as_str().is_some_and(|c| c.contains("\"action_items\"")), "the schema is in the instructions");
        assert!(object.get("stream").is_none() && object.get("stream_options").is_none());
    }

    #[test]
    fn a_repair_shows_the_model_its_answer_and_the_problem() {
        let b = body(&settings(), Structured::JsonObject, "Transcript", Some(Repair { answer: "{\"title\": ", problem: "it is not JSON" }));
        let messages = b["messages"].as_array().expect("messages");
        assert_eq!(messages.len(), 4);
        assert_eq!(messages[2], json!({"role": "assistant", "content": "{\"title\": "}));
        assert!(messages[3]["content"].as_str().is_some_and(|c| c.contains("it is not JSON")));
    }
}
