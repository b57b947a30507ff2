//! `claude-summary`: summaries with Anthropic's Messages API (`summarizer` world).
//!
//! Sits after a session completes: the host hands it the transcript (or one part of a long
//! one, then the parts' summaries to merge) and stores the summary it returns. The request
//! ([`prompt`]) forces one tool call whose input is the structured summary; the answer is
//! streamed as server-sent events ([`messages`]) read through the host's `http.open`, and the
//! summary as far as it is written goes to the host's `progress` import for the UI. What does
//! not depend on Anthropic's API is in `scribe-summarizer-kit`. The host adds the `x-api-key` header; this plugin never sees the key. Errors
//! are mapped so the host retries overloads and rate limits and never a refused key
//! ([`errors`]).

mod errors;
mod messages;
mod prompt;
mod settings;

use serde_json::Value;

use scribe_plugin_api::summarizer::http::{self, Method, Request, RequestBody};
use scribe_plugin_api::summarizer::log::{self, Level};
use scribe_plugin_api::summarizer::types::{PluginError, PluginInfo};
use scribe_plugin_api::summarizer::{config, progress};
use scribe_plugin_api::summarizer::{CombineRequest, Guest, SummaryOutput, SummaryRequest};

use errors::{from_host, from_response};
use scribe_plugin_api::headers::find as header;
use messages::{Answer, MessageStream, from_message};
use settings::Settings;
use scribe_summarizer_kit::{guest, record};
use scribe_summarizer_kit::sse::SseParser;

/// The API version every request names (docs/protocols/anthropic.md §1).
const ANTHROPIC_VERSION: &str = "2023-06-01";
/// Deadline of one request, as the official SDKs use; the host's own cap still applies.
const REQUEST_TIMEOUT_MS: u32 = 600_000;

struct ClaudeSummary;

fn settings() -> Result<Settings, PluginError> {
    Settings::read(config::get).map_err(|err| PluginError::Other(format!("plugins.{ID}.settings: {err}")))
}

/// The plugin's id, as its settings are named in the operator's config.
const ID: &str = "claude-summary";

impl Guest for ClaudeSummary {
    fn describe() -> PluginInfo {
        guest::info(ID, env!("CARGO_PKG_VERSION"), "Claude summaries")
    }

    fn summarize(request: SummaryRequest) -> Result<SummaryOutput, PluginError> {
        let user = guest::summary_message(ID, &request, config::get)?;
        let settings = settings()?;
        ask(&settings, &prompt::body(&settings, user))
    }

    fn combine(request: CombineRequest) -> Result<SummaryOutput, PluginError> {
        let user = guest::combine_message(ID, &request, config::get)?;
        let settings = settings()?;
        ask(&settings, &prompt::body(&settings, user))
    }
}

/// Sends one Messages request and reads the answer.
fn ask(settings: &Settings, body: &Value) -> Result<SummaryOutput, PluginError> {
    let accept = if settings.stream { "text/event-stream" } else { "application/json" };
    let headers = vec![
        ("anthropic-version".to_string(), ANTHROPIC_VERSION.to_string()),
        ("content-type".to_string(), "application/json".to_string()),
        ("accept".to_string(), accept.to_string()),
    ];
    // What this plugin sends, for the operator's debugging: credentials are added by the
    // host after this point and never pass through here.
    log::log(Level::Debug, &format!("POST {} with headers {headers:?}", settings.messages_url()));
    let request = Request {
        method: Method::Post,
        url: settings.messages_url(),
        headers,
        body: RequestBody::Bytes(serde_json::to_vec(body).map_err(|err| PluginError::Other(err.to_string()))?),
        timeout_ms: Some(REQUEST_TIMEOUT_MS),
    };
    let (answer, request_id) = if settings.stream { streamed(&request)? } else { whole(&request)? };
    log::log(
        Level::Info,
        &format!(
            "Anthropic request {}: model {}, {} input and {} output tokens",
            request_id.as_deref().unwrap_or("(no request-id)"),
            answer.model,
            answer.input_tokens.map_or("?".into(), |n| n.to_string()),
            answer.output_tokens.map_or("?".into(), |n| n.to_string()),
        ),
    );
    Ok(SummaryOutput {
        summary: answer.summary,
        model: answer.model,
        input_tokens: answer.input_tokens,
        output_tokens: answer.output_tokens,
    })
}

fn whole(request: &Request) -> Result<(Answer, Option<String>), PluginError> {
    let response = http::send(request).map_err(from_host)?;
    if !(200..300).contains(&response.status) {
        return Err(from_response(response.status, &response.headers, &response.body));
    }
    let request_id = header(&response.headers, "request-id").map(String::from);
    Ok((from_message(&response.body)?, request_id))
}

fn streamed(request: &Request) -> Result<(Answer, Option<String>), PluginError> {
    let response = http::open(request).map_err(from_host)?;
    let request_id = header(&response.headers, "request-id").map(String::from);
    if !(200..300).contains(&response.status) {
        // Errors before the stream starts are ordinary JSON bodies.
        let mut body = Vec::new();
        while let Some(piece) = response.body.next().map_err(from_host)? {
            body.extend_from_slice(&piece);
        }
        return Err(from_response(response.status, &response.headers, &body));
    }
    let content_type = header(&response.headers, "content-type").unwrap_or("");
    if !content_type.starts_with("text/event-stream") {
        return Err(PluginError::Other(format!(
            "Anthropic answered a streaming request with {content_type:?} instead of an event stream"
        )));
    }
    let mut parser = SseParser::default();
    let mut stream = MessageStream::new(request_id.clone());
    let mut shown: Option<Value> = None;
    loop {
        let piece = match response.body.next() {
            Ok(Some(piece)) => piece,
            Ok(None) => break,
            Err(err) => {
                return Err(match from_host(err) {
                    PluginError::Unavailable(reason) => PluginError::Unavailable(format!("{} ({reason})", stream.cut_message())),
                    other => other,
                });
            }
        };
        for event in parser.feed(&piece).map_err(PluginError::Other)? {
            if let Some(partial) = stream.on_event(&event)?
                && shown.as_ref() != Some(&partial)
            {
                progress::partial(&record::lenient(&partial));
                shown = Some(partial);
            }
        }
        // The message is complete at `message_stop`; waiting for the body's end would only
        // add the server's connection teardown.
        if stream.stopped() {
            break;
        }
    }
    Ok((stream.finish()?, request_id))
}

scribe_plugin_api::register_plugin!(summarizer, ClaudeSummary);
