//! `openai-summary`: summaries through any server that speaks OpenAI's Chat Completions API
//! (`summarizer` world): Ollama, llama.cpp's `llama-server`, vLLM, LM Studio, OpenAI, Groq.
//!
//! Sits where claude-summary does: the host hands it the transcript (or one part of a long
//! one, then the parts' summaries to merge) and stores the summary it returns. The request
//! ([`request`]) asks for the summary's JSON by the strongest mechanism the server takes,
//! falling back once per refusal under `structured = "auto"` and remembering what worked
//! for the life of the instance. The answer ([`completion`]) is streamed as server-sent
//! events through the host's `http.open`, with the summary as far as it is written going to
//! `progress`; it is checked against the schema, and an invalid one is shown to the model
//! once with what is wrong. The host adds any `Authorization` header; this plugin never sees
//! a key ([`errors`] maps the server's refusals).

mod completion;
mod errors;
mod request;
mod settings;

use std::cell::Cell;

use serde_json::Value;

use scribe_plugin_api::headers::find as header;
use scribe_plugin_api::summarizer::http::{self, Method, Request, RequestBody};
use scribe_plugin_api::summarizer::log::{self, Level};
use scribe_plugin_api::summarizer::types::{PluginError, PluginInfo};
use scribe_plugin_api::summarizer::{CombineRequest, Guest, SummaryOutput, SummaryRequest, config, progress};
use scribe_summarizer_kit::{guest, record, sse::SseParser};

use completion::{ChunkStream, Invalid, Reply};
use errors::Refused;
use request::Repair;
use settings::{Settings, Structured};

/// Deadline of one request: a local model on a small machine may take minutes for a long
/// transcript; the host's own cap still applies.
const REQUEST_TIMEOUT_MS: u32 = 600_000;

thread_local! {
    /// The mechanism the server took last, under `structured = "auto"`: later summaries start
    /// there instead of being refused again.
    static CHOSEN: Cell<Option<Structured>> = const { Cell::new(None) };
}

struct OpenAiSummary;

fn settings() -> Result<Settings, PluginError> {
    Settings::read(config::get).map_err(|err| PluginError::Other(format!("plugins.{ID}.settings: {err}")))
}

/// The plugin's id, as its settings are named in the operator's config.
const ID: &str = "openai-summary";

impl Guest for OpenAiSummary {
    fn describe() -> PluginInfo {
        guest::info(ID, env!("CARGO_PKG_VERSION"), "Summaries (OpenAI-compatible)")
    }

    fn summarize(request: SummaryRequest) -> Result<SummaryOutput, PluginError> {
        let user = guest::summary_message(ID, &request, config::get)?;
        ask(&settings()?, &user)
    }

    fn combine(request: CombineRequest) -> Result<SummaryOutput, PluginError> {
        let user = guest::combine_message(ID, &request, config::get)?;
        ask(&settings()?, &user)
    }
}

/// One summary: the mechanism chain, then one repair of an invalid answer.
fn ask(settings: &Settings, user: &str) -> Result<SummaryOutput, PluginError> {
    let mut mechanism = settings.structured.or_else(|| CHOSEN.get()).unwrap_or(Structured::JsonSchema);
    loop {
        let outcome = match exchange(settings, mechanism, user, None) {
            Ok(Err(invalid)) => {
                log::log(Level::Warn, &format!("the model's answer is not a valid summary ({}); asking once more", invalid.problem));
                exchange(settings, mechanism, user, Some(Repair { answer: &invalid.answer, problem: &invalid.problem }))
            }
            other => other,
        };
        match outcome {
            Ok(Ok(output)) => {
                if settings.structured.is_none() {
                    CHOSEN.set(Some(mechanism));
                }
                return Ok(output);
            }
            Ok(Err(invalid)) => {
                return Err(PluginError::Other(format!("the model's answer is not a valid summary, twice: {}", invalid.problem)));
            }
            Err(Refused::Mechanism(reason)) => match (settings.structured, mechanism.weaker()) {
                (None, Some(weaker)) => {
                    log::log(Level::Warn, &format!("the model server refused structured = {:?} ({reason}); trying {:?}", mechanism.name(), weaker.name()));
                    mechanism = weaker;
                }
                _ => {
                    return Err(PluginError::BadInput(format!(
                        "the model server at {} refused structured = {:?}: {reason}{}",
                        settings.base_url,
                        mechanism.name(),
                        if settings.structured.is_some() { "; try structured = \"auto\"" } else { "" }
                    )));
                }
            },
            Err(Refused::Plugin(err)) => return Err(err),
        }
    }
}

/// One request and its answer read as a summary.
fn exchange(settings: &Settings, mechanism: Structured, user: &str, repair: Option<Repair<'_>>) -> Result<Result<SummaryOutput, Invalid>, Refused> {
    let body = request::body(settings, mechanism, user, repair);
    let accept = if settings.stream { "text/event-stream" } else { "application/json" };
    let headers = vec![("content-type".to_string(), "application/json".to_string()), ("accept".to_string(), accept.to_string())];
    // What this plugin sends, for the operator's debugging: credentials are added by the
    // host after this point and never pass through here.
    log::log(Level::Debug, &format!("POST {} ({}) with headers {headers:?}", settings.chat_url(), mechanism.name()));
    let request = Request {
        method: Method::Post,
        url: settings.chat_url(),
        headers,
        body: RequestBody::Bytes(serde_json::to_vec(&body).map_err(|err| Refused::Plugin(PluginError::Other(err.to_string())))?),
        timeout_ms: Some(REQUEST_TIMEOUT_MS),
    };
    let reply = if settings.stream { streamed(settings, &request)? } else { whole(settings, &request)? };
    let summary = completion::summary(&reply, settings.max_tokens).map_err(Refused::Plugin)?;
    log::log(
        Level::Info,
        &format!(
            "{}: model {}, {} input and {} output tokens",
            settings.base_url,
            reply.model,
            reply.input_tokens.map_or("?".into(), |n| n.to_string()),
            reply.output_tokens.map_or("?".into(), |n| n.to_string()),
        ),
    );
    Ok(summary.map(|summary| SummaryOutput {
        summary,
        model: if reply.model.is_empty() { settings.model.clone() } else { reply.model },
        input_tokens: reply.input_tokens,
        output_tokens: reply.output_tokens,
    }))
}

fn whole(settings: &Settings, request: &Request) -> Result<Reply, Refused> {
    let response = http::send(request).map_err(|err| Refused::Plugin(errors::from_host(err, settings)))?;
    if !(200..300).contains(&response.status) {
        return Err(errors::from_response(response.status, &response.headers, &response.body, settings));
    }
    completion::from_completion(&response.body).map_err(Refused::Plugin)
}

fn streamed(settings: &Settings, request: &Request) -> Result<Reply, Refused> {
    let host = |err| Refused::Plugin(errors::from_host(err, settings));
    let response = http::open(request).map_err(host)?;
    if !(200..300).contains(&response.status) {
        // Errors before the stream starts are ordinary JSON bodies.
        let mut body = Vec::new();
        while let Some(piece) = response.body.next().map_err(host)? {
            body.extend_from_slice(&piece);
        }
        return Err(errors::from_response(response.status, &response.headers, &body, settings));
    }
    let content_type = header(&response.headers, "content-type").unwrap_or("");
    if !content_type.starts_with("text/event-stream") {
        return Err(Refused::Plugin(PluginError::Other(format!(
            "the model server at {} answered a streaming request with {content_type:?} instead of an event stream",
            settings.base_url
        ))));
    }
    let mut parser = SseParser::default();
    let mut stream = ChunkStream::default();
    let mut shown: Option<Value> = None;
    while let Some(piece) = response.body.next().map_err(host)? {
        for event in parser.feed(&piece).map_err(|m| Refused::Plugin(PluginError::Other(m)))? {
            if let Some(partial) = stream.on_event(&event.data).map_err(Refused::Plugin)?
                && shown.as_ref() != Some(&partial)
            {
                progress::partial(&record::lenient(&partial));
                shown = Some(partial);
            }
        }
        // Complete at `[DONE]`; waiting for the body's end would only add the teardown.
        if stream.done() {
            break;
        }
    }
    stream.finish().map_err(Refused::Plugin)
}

scribe_plugin_api::register_plugin!(summarizer, OpenAiSummary);
