//! Summaries end to end: a session transcribed through the fake Deepgram is summarised by
//! the real claude-summary component through the fake Anthropic, streamed, retried, split
//! when long, and stored with its provenance.

use std::time::Duration;

use scribe_tests::fake_anthropic::{FakeAnthropic, Fault};
use scribe_tests::fake_deepgram::{FakeDeepgram, Script};
use scribe_tests::{Events, MEETING, Setup, TestDaemon};
use serde_json::Value;

const DG_KEY: &str = "dg-summary-key";
const AN_KEY: &str = "sk-ant-summary-test-7f3a";
/// A guard against a hung test, not a synchronisation delay.
const LIMIT: Duration = Duration::from_secs(60);

struct World {
    daemon: TestDaemon,
    anthropic: FakeAnthropic,
    _deepgram: FakeDeepgram,
}

async fn start(text: &str, key: &str, tune: impl FnOnce(&mut Setup)) -> World {
    let deepgram = FakeDeepgram::loopback(DG_KEY).await;
    deepgram.default_script(Script::from_text(text, text.split_whitespace().count() as f64 * 0.4));
    let anthropic = FakeAnthropic::loopback(AN_KEY).await;
    let mut setup = Setup::new().with_fake_deepgram(&deepgram, DG_KEY).with_fake_anthropic(&anthropic, key);
    setup.config.summaries.retry_base_ms = 50;
    tune(&mut setup);
    let daemon = setup.start().await.expect("daemon starts");
    World { daemon, anthropic, _deepgram: deepgram }
}

impl World {
    /// Uploads a one-second tone (the fake Deepgram hears the script in it).
    async fn upload(&self) -> String {
        scribe_tests::upload_tone(&self.daemon.url(""), "meeting.wav").await.expect("upload")
    }

    async fn session(&self, id: &str) -> Value {
        self.daemon.get_json(&format!("/api/v1/sessions/{id}")).await.expect("session")
    }

    async fn regenerate(&self, id: &str, body: &str) -> reqwest::Response {
        reqwest::Client::new()
            .post(self.daemon.url(&format!("/api/v1/sessions/{id}/summary")))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("request")
    }
}

/// Summary events of `id` up to the one `last` accepts.
async fn summary_events(events: &mut Events, id: &str, last: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let event = events.until(LIMIT, |e| e["type"] == "summary" && e["session_id"] == id).await.expect("summary event");
        let done = last(&event);
        seen.push(event);
        if done {
            return seen;
        }
    }
}

fn ended(event: &Value) -> bool {
    ["complete", "error", "empty"].contains(&event["status"].as_str().unwrap_or(""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_session_gets_a_streamed_summary_with_times_from_its_transcript() {
    let world = start(MEETING, AN_KEY, |_| {}).await;
    // Slow enough that partial summaries pass the host's rate bound.
    world.anthropic.set_event_delay(Duration::from_millis(60));
    let mut events = Events::connect(&world.daemon).await.expect("events");
    let id = world.upload().await;
    let seen = summary_events(&mut events, &id, ended).await;
    let statuses: Vec<&str> = seen.iter().map(|e| e["status"].as_str().unwrap_or("")).collect();
    assert_eq!(statuses.first(), Some(&"queued"), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&"complete"), "{seen:?}");
    let partials: Vec<&str> = seen.iter().filter(|e| e["status"] == "partial").map(|e| e["summary"]["overview"].as_str().unwrap_or("")).collect();
    assert!(partials.len() >= 2, "partial summaries arrive while it is written: {statuses:?}");
    let complete = &seen[seen.len() - 1]["summary"];
    let overview = complete["overview"].as_str().expect("overview");
    assert!(partials.iter().any(|p| !p.is_empty() && p.len() < overview.len()), "a partial shows the overview half written: {partials:?}");

    let session = world.session(&id).await;
    let stored = &session["summary"];
    assert_eq!(stored["summary"], *complete, "the event carries what was stored");
    assert_eq!(stored["model"], "claude-sonnet-4-5-20250929");
    assert!(stored["input_tokens"].as_u64().is_some_and(|n| n > 0) && stored["output_tokens"].as_u64().is_some_and(|n| n > 0));
    assert_eq!(session["summary_status"]["state"], "done");
    assert_eq!(stored["summary"]["decisions"], serde_json::json!(["We decided to freeze hiring until June."]));

    // Every action item points at the start of a word of the transcript, where it was said.
    let words = world.daemon.get_json(&format!("/api/v1/sessions/{id}/words")).await.expect("words");
    let words = words["words"].as_array().expect("words").clone();
    let items = stored["summary"]["action_items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{items:?}");
    for (item, first_word) in items.iter().zip(["Alice", "Bob"]) {
        let at = item["at_ms"].as_u64().expect("a time");
        let word = words.iter().find(|w| w["start_ms"].as_u64() == Some(at)).expect("a word starts at the item's time");
        assert_eq!(word["punctuated"], first_word, "{item}");
        assert!(item["text"].as_str().is_some_and(|t| t.starts_with(first_word)));
    }

    // What the fake received: the forced tool, streaming, the key in x-api-key, no temperature.
    let request = world.anthropic.requests().pop().expect("a request");
    assert_eq!(request.headers.get("x-api-key").and_then(|v| v.to_str().ok()), Some(AN_KEY));
    assert_eq!(request.headers.get("anthropic-version").and_then(|v| v.to_str().ok()), Some("2023-06-01"));
    assert_eq!(request.body["stream"], true);
    assert_eq!(request.body["tool_choice"]["type"], "tool");
    assert!(request.body.get("temperature").is_none() && request.body.get("top_k").is_none());
    assert!(request.text.contains("Alice will send the revised forecast by Friday."), "{}", request.text);

    // The Markdown export carries it.
    let md = reqwest::get(world.daemon.url(&format!("/api/v1/sessions/{id}/export?format=md"))).await.expect("export").text().await.expect("md");
    assert!(md.contains("## Summary") && md.contains("- [ ] Bob will book the venue for the offsite."), "{md}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_stream_is_an_error_and_stores_nothing() {
    let world = start(MEETING, AN_KEY, |setup| setup.config.summaries.max_attempts = 2).await;
    world.anthropic.push_fault(Fault::CutAfter(3));
    world.anthropic.push_fault(Fault::CutAfter(3));
    let mut events = Events::connect(&world.daemon).await.expect("events");
    let id = world.upload().await;
    let seen = summary_events(&mut events, &id, ended).await;
    let last = &seen[seen.len() - 1];
    assert_eq!(last["status"], "error", "{seen:?}");
    assert!(last["message"].as_str().is_some_and(|m| m.contains("cut off after 3 events")), "{last}");
    assert!(seen.iter().any(|e| e["status"] == "retrying"), "a cut stream is tried again: {seen:?}");
    let session = world.session(&id).await;
    assert_eq!(session["summary"], Value::Null, "no half summary stored");
    assert_eq!(session["summary_status"]["state"], "failed");
    assert!(session["summary_status"]["message"].as_str().is_some_and(|m| m.contains("cut off")));

    // Asked again (with a template the plugin does not know): a clear error, then with none: stored.
    assert_eq!(world.regenerate(&id, r#"{"template": "retro"}"#).await.status(), 202);
    let seen = summary_events(&mut events, &id, ended).await;
    assert!(seen.last().and_then(|e| e["message"].as_str()).is_some_and(|m| m.contains("templates.retro")), "{seen:?}");
    // A renamed speaker is named in the prompt.
    let renamed = reqwest::Client::new()
        .put(world.daemon.url(&format!("/api/v1/sessions/{id}/speakers/0")))
        .json(&serde_json::json!({"name": "Dana"}))
        .send()
        .await
        .expect("rename");
    assert!(renamed.status().is_success());
    assert_eq!(world.regenerate(&id, "").await.status(), 202);
    let seen = summary_events(&mut events, &id, ended).await;
    assert_eq!(seen.last().map(|e| e["status"].clone()), Some("complete".into()));
    assert_eq!(world.session(&id).await["summary_status"]["state"], "done");
    let prompt = world.anthropic.requests().pop().expect("request").text;
    assert!(prompt.contains("] Dana: Welcome to the budget review.") && prompt.contains("] Speaker 2: "), "{prompt}");
    assert_eq!(world.regenerate("nope", "").await.status(), 404);
    assert_eq!(world.regenerate(&id, r#"{"template": "../x"}"#).await.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overloaded_is_retried_and_a_refused_key_is_not() {
    let world = start(MEETING, AN_KEY, |_| {}).await;
    world.anthropic.push_fault(Fault::Status { status: 529, retry_after: None });
    world.anthropic.push_fault(Fault::OverloadedAfter(4));
    let mut events = Events::connect(&world.daemon).await.expect("events");
    let id = world.upload().await;
    let seen = summary_events(&mut events, &id, ended).await;
    assert_eq!(seen.last().map(|e| e["status"].clone()), Some("complete".into()), "{seen:?}");
    let retries: Vec<&str> = seen.iter().filter(|e| e["status"] == "retrying").filter_map(|e| e["message"].as_str()).collect();
    assert_eq!(retries.len(), 2, "{retries:?}");
    assert!(retries[0].contains("HTTP 529") && retries[1].contains("overloaded_error"), "{retries:?}");
    assert_eq!(world.anthropic.requests().len(), 3);
    assert_eq!(world.session(&id).await["summary_status"]["state"], "done");

    // A wrong key: one request, a clear error naming the key, no retry loop.
    let wrong = start(MEETING, "sk-ant-wrong", |_| {}).await;
    let mut events = Events::connect(&wrong.daemon).await.expect("events");
    let id = wrong.upload().await;
    let seen = summary_events(&mut events, &id, ended).await;
    let last = seen.last().expect("an end");
    assert_eq!(last["status"], "error");
    let message = last["message"].as_str().unwrap_or("");
    assert!(message.contains("Anthropic rejected the API key") && message.contains("plugins.claude-summary.credentials"), "{message}");
    assert!(message.contains("(request req_fake"), "the request id is kept: {message}");
    assert!(!seen.iter().any(|e| e["status"] == "retrying"), "{seen:?}");
    assert_eq!(wrong.anthropic.requests().len(), 1);
    let health = wrong.daemon.get_json("/api/v1/plugins").await.expect("plugins");
    let plugin = health["plugins"].as_array().and_then(|p| p.iter().find(|p| p["id"] == "claude-summary")).cloned().expect("listed");
    assert_eq!(plugin["health"]["state"], "healthy", "a provider's refusal is not the plugin's failure: {plugin}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transcript_over_the_budget_is_summarised_in_parts_and_merged() {
    let sentences: Vec<String> = (1..=60)
        .map(|i| if i % 20 == 7 { format!("Person{i} will handle item number {i} next week.") } else { format!("Sentence number {i} talks about topic {i} at some length.") })
        .collect();
    let text = sentences.join(" ");
    // The whole-message path (no streaming) is used here.
    let world = start(&text, AN_KEY, |setup| {
        setup.config.summaries.max_input_tokens = 200;
        let plugin = setup.config.plugins.get_mut("claude-summary").expect("configured");
        plugin.settings.insert("stream".into(), toml::Value::Boolean(false));
    })
    .await;
    let mut events = Events::connect(&world.daemon).await.expect("events");
    let id = world.upload().await;
    let seen = summary_events(&mut events, &id, ended).await;
    assert_eq!(seen.last().map(|e| e["status"].clone()), Some("complete".into()), "{seen:?}");
    let writing: Vec<(u64, u64, String)> = seen
        .iter()
        .filter(|e| e["status"] == "writing")
        .map(|e| (e["part"].as_u64().unwrap_or(0), e["parts"].as_u64().unwrap_or(0), e["message"].as_str().unwrap_or("").to_string()))
        .collect();
    let parts = writing.len() as u64;
    assert!(parts >= 3, "{writing:?}");
    for (index, (part, of, message)) in writing.iter().enumerate() {
        assert_eq!((*part, *of), (index as u64 + 1, parts));
        assert_eq!(message, &format!("part {part} of {parts}"));
    }
    assert!(seen.iter().any(|e| e["status"] == "combining"), "{seen:?}");

    // Every sentence went to exactly one part request; none over the budget.
    let requests = world.anthropic.requests();
    let (map, merge): (Vec<_>, Vec<_>) = requests.iter().partition(|r| r.text.contains("Transcript:"));
    assert_eq!(map.len() as u64, parts);
    assert!(!merge.is_empty());
    for sentence in &sentences {
        let holders = map.iter().filter(|r| r.text.contains(sentence.as_str())).count();
        assert_eq!(holders, 1, "{sentence}");
    }
    for request in &map {
        let transcript = request.text.split("Transcript:\n").nth(1).unwrap_or("");
        assert!(transcript.chars().count() <= 200 * 3, "a part within the budget: {} chars", transcript.chars().count());
    }

    // One combined summary, with the action items of the first and the last part.
    let session = world.session(&id).await;
    let items = session["summary"]["summary"]["action_items"].as_array().expect("items").clone();
    let owners: Vec<&str> = items.iter().filter_map(|i| i["text"].as_str()).collect();
    assert_eq!(owners, ["Person7 will handle item number 7 next week.", "Person27 will handle item number 27 next week.", "Person47 will handle item number 47 next week."]);
    let words = world.daemon.get_json(&format!("/api/v1/sessions/{id}/words")).await.expect("words");
    for item in &items {
        let at = item["at_ms"].as_u64().expect("time");
        let word = words["words"].as_array().and_then(|w| w.iter().find(|w| w["start_ms"].as_u64() == Some(at))).expect("a word at the time");
        assert!(item["text"].as_str().is_some_and(|t| t.starts_with(word["punctuated"].as_str().unwrap_or("?"))), "{item}");
    }
    assert!(requests.iter().all(|r| r.body.get("stream").is_none()), "stream = false is honoured");
    assert!(!seen.iter().any(|e| e["status"] == "partial"));
    assert!(session["summary"]["input_tokens"].as_u64().is_some_and(|n| n > 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_near_empty_transcript_is_not_sent() {
    let world = start("Hello? Anyone there?", AN_KEY, |_| {}).await;
    let mut events = Events::connect(&world.daemon).await.expect("events");
    let id = world.upload().await;
    let seen = summary_events(&mut events, &id, ended).await;
    let last = seen.last().expect("end");
    assert_eq!(last["status"], "empty");
    assert!(last["message"].as_str().is_some_and(|m| m.contains("nothing to summarise")), "{last}");
    assert!(world.anthropic.requests().is_empty(), "no provider call");
    assert_eq!(world.session(&id).await["summary_status"]["state"], "empty");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plugin_never_sees_the_key() {
    use futures_util::StreamExt;
    use scribe_tests::process::{command, config_text_with_anthropic, serve_logged};

    let dir = tempfile::tempdir().expect("tempdir");
    let deepgram = FakeDeepgram::loopback(DG_KEY).await;
    deepgram.default_script(Script::from_text(MEETING, 20.0));
    let anthropic = FakeAnthropic::loopback(AN_KEY).await;
    let config = dir.path().join("scribed.toml");
    std::fs::write(&config, config_text_with_anthropic(&deepgram, &anthropic)).expect("config");
    let mut serve = command("serve", &config, &dir.path().join("data"), DG_KEY);
    // The plugin logs the headers of its own request at debug level: its view of it.
    serve.env("ANTHROPIC_API_KEY", AN_KEY).env("RUST_LOG", "warn,scribed::plugin::capabilities::platform=debug");
    let log = dir.path().join("scribed.log");
    let (mut child, url) = serve_logged(serve, &log);

    let host = url.trim_start_matches("http://");
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{host}/api/v1/events")).await.expect("events");
    scribe_tests::upload_tone(&url, "meeting.wav").await.expect("upload");
    let ended = tokio::time::timeout(LIMIT, async {
        while let Some(Ok(message)) = socket.next().await {
            let event: Value = serde_json::from_str(message.to_text().unwrap_or("null")).unwrap_or(Value::Null);
            if event["type"] == "summary" && ended(&event) {
                return event;
            }
        }
        Value::Null
    })
    .await
    .expect("the summary ends");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(ended["status"], "complete", "{ended}");

    let seen = anthropic.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].headers.get("x-api-key").and_then(|v| v.to_str().ok()), Some(AN_KEY), "the host added the key");
    let log = std::fs::read_to_string(&log).expect("log");
    let view = log.lines().find(|l| l.contains("/v1/messages with headers")).unwrap_or_else(|| panic!("the plugin logged its request: {log}"));
    assert!(view.contains("anthropic-version"), "{view}");
    assert!(!view.to_lowercase().contains("x-api-key") && !view.to_lowercase().contains("authorization"), "{view}");
    assert!(!log.contains(AN_KEY), "the key appears nowhere in the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_follows_the_messages_protocol() {
    let fake = FakeAnthropic::loopback(AN_KEY).await;
    let url = format!("{}/v1/messages", fake.base_url());
    let tool = serde_json::json!({"name": "record_summary", "input_schema": {"type": "object", "properties": {}, "required": ["overview"]}});
    let body = |extra: Value| {
        let mut body = serde_json::json!({"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "[00:00:01] A: We will test."}]});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        body
    };
    let send = |auth: (&'static str, String), version: &'static str, body: Value| {
        reqwest::Client::new()
            .post(url.clone())
            .header(auth.0, auth.1)
            .header("anthropic-version", version)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let key = ("x-api-key", AN_KEY.to_string());
    let forced = serde_json::json!({"tools": [tool], "tool_choice": {"type": "tool", "name": "record_summary"}});
    // (auth header, version, body, status, error type)
    type Case = ((&'static str, String), &'static str, Value, u16, &'static str);
    let cases: Vec<Case> = vec![
        (("x-api-key", "wrong".into()), "2023-06-01", body(forced.clone()), 401, "authentication_error"),
        (key.clone(), "2022-01-01", body(forced.clone()), 400, "invalid_request_error"),
        (key.clone(), "2023-06-01", body(serde_json::json!({"temperature": 0.5})), 400, "invalid_request_error"),
        (key.clone(), "2023-06-01", body(serde_json::json!({"top_k": 5})), 400, "invalid_request_error"),
        (key.clone(), "2023-06-01", body(serde_json::json!({"model": "gpt-4"})), 404, "not_found_error"),
        (key.clone(), "2023-06-01", body(serde_json::json!({"max_tokens": 0})), 400, "invalid_request_error"),
        (key.clone(), "2023-06-01", body(serde_json::json!({"tools": [], "tool_choice": {"type": "tool", "name": "x"}})), 400, "invalid_request_error"),
    ];
    for (auth, version, body, status, kind) in cases {
        let response = send(auth, version, body.clone()).await.expect("answer");
        assert_eq!(response.status().as_u16(), status, "{body}");
        assert!(response.headers().get("request-id").is_some());
        assert_eq!(response.headers().get("x-should-retry").and_then(|v| v.to_str().ok()), Some("false"));
        let envelope: Value = response.json().await.expect("json");
        assert_eq!((envelope["type"].as_str(), envelope["error"]["type"].as_str()), (Some("error"), Some(kind)), "{envelope}");
        assert!(envelope["request_id"].as_str().is_some_and(|id| id.starts_with("req_")));
    }

    // A forced tool, whole: the tool_use block, the resolved model; Bearer auth and the newer version work.
    let response = send(("authorization", format!("Bearer {AN_KEY}")), "2026-10-21", body(forced.clone())).await.expect("answer");
    assert_eq!(response.status(), 200);
    let message: Value = response.json().await.expect("json");
    assert_eq!((message["model"].as_str(), message["stop_reason"].as_str()), (Some("claude-sonnet-4-5-20250929"), Some("tool_use")));
    assert_eq!(message["content"][0]["name"], "record_summary");
    assert_eq!(message["content"][0]["input"]["action_items"][0]["time"], "00:00:01");

    // Unforced and streamed: the recorded text stream; a temperature of 1 is still accepted.
    let response = send(key.clone(), "2023-06-01", body(serde_json::json!({"stream": true, "temperature": 1.0}))).await.expect("answer");
    assert_eq!(response.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("text/event-stream; charset=utf-8"));
    let text = response.text().await.expect("stream");
    let recorded = include_str!("../fixtures/anthropic-sse-text.txt").replace("claude-3-opus-latest", "claude-sonnet-4-5-20250929");
    assert_eq!(text.trim_end(), recorded.trim_end());

    // A queued 429 carries retry-after and may be retried.
    fake.push_fault(Fault::Status { status: 429, retry_after: Some(7) });
    let response = send(key, "2023-06-01", body(forced)).await.expect("answer");
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("7"));
    assert_eq!(response.headers().get("x-should-retry").and_then(|v| v.to_str().ok()), Some("true"));
}
