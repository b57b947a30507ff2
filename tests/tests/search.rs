//! Full-text search through the API: the real store, the real tantivy index kept current by
//! the indexer, queries as typed, filters, snippets with the time of the match.

use scribe_tests::{Events, Setup, TestDaemon};
use scribed::clients::library::{ActionItem, Library, NewSession, SessionKind, SessionStatus, StoredSummary, Summary, Word};
use serde_json::Value;

async fn session(library: &Library, id: &str, kind: SessionKind, title: &str, created_ms: i64, text: &str) -> Vec<Word> {
    library
        .create_session(NewSession {
            id: id.into(),
            kind,
            status: SessionStatus::Complete,
            source: "test".into(),
            title: title.into(),
            created_ms,
            provider: Some("test".into()),
        })
        .await
        .expect("session");
    let version = library.create_version(id.into(), "test".into(), created_ms).await.expect("version");
    let mut speaker = 0;
    let words: Vec<Word> = text
        .split_whitespace()
        .enumerate()
        .map(|(i, w)| {
            let word = Word {
                text: w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase(),
                punctuated: w.to_string(),
                start_ms: 1_000 + i as u64 * 500,
                end_ms: 1_400 + i as u64 * 500,
                confidence: 0.9,
                speaker: Some(speaker),
            };
            if w.ends_with('.') {
                speaker = 1 - speaker;
            }
            word
        })
        .collect();
    library.append_words(version.id, words.clone()).await.expect("words");
    words
}

async fn search(daemon: &TestDaemon, query: &str) -> Value {
    let url = reqwest::Url::parse_with_params(&daemon.url("/api/v1/search"), &[("q", query)]).expect("url");
    let response = reqwest::get(url).await.expect("search");
    assert!(response.status().is_success(), "{query}: {}", response.status());
    response.json().await.expect("json")
}

fn ids(page: &Value) -> Vec<String> {
    page["sessions"].as_array().expect("sessions").iter().map(|s| s["session_id"].as_str().unwrap_or("").to_string()).collect()
}

fn marked(snippet: &Value) -> String {
    snippet.as_array().expect("pieces").iter().map(|p| if p["hit"] == true { format!("[{}]", p["text"].as_str().unwrap_or("")) } else { p["text"].as_str().unwrap_or("").to_string() }).collect()
}

/// Renames a session through the API, which also wakes the indexer.
async fn rename(daemon: &TestDaemon, id: &str, title: &str) {
    let response = reqwest::Client::new()
        .patch(daemon.url(&format!("/api/v1/sessions/{id}")))
        .json(&serde_json::json!({"title": title}))
        .send()
        .await
        .expect("rename");
    assert!(response.status().is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_ranks_highlights_filters_and_follows_the_library() {
    let mut setup = Setup::new();
    setup.config.search.commit_interval_ms = 50;
    let daemon = setup.start().await.expect("daemon starts");
    let library = daemon.daemon.library().expect("library").clone();
    let mut events = Events::connect(&daemon).await.expect("events");
    let budget = session(&library, "s1", SessionKind::File, "Budget review", 1_000, "We will freeze hiring until June. The budget, sadly, is tight. Alice agreed.").await;
    session(&library, "s2", SessionKind::Live, "<img src=x onerror=alert(1)>", 2_000, "<script>alert(1)</script> budgets and café talk.").await;
    session(&library, "s3", SessionKind::File, "Weekly sync", 3_000, "Nothing about money here at all.").await;
    let summary = Summary {
        title: None,
        overview: "Hiring freeze agreed until June.".into(),
        key_points: vec!["Costs are under review.".into()],
        action_items: vec![ActionItem { text: "Alice will send the forecast".into(), owner: Some("Alice".into()), at_ms: Some(1_000) }],
        decisions: vec![],
    };
    let stored = StoredSummary { summary, model: "m".into(), template: None, created_ms: 1, input_tokens: None, output_tokens: None };
    library.put_summary("s1".into(), stored).await.expect("summary");
    rename(&daemon, "s3", "Weekly sync").await;
    daemon.indexed(&mut events).await.expect("indexed");

    // A finished word: s1 first (its title matches too), then s2; s3 not at all.
    let page = search(&daemon, "budget ").await;
    assert_eq!(ids(&page), ["s1"], "an exact word: 'budgets' is another word");
    let hits = page["sessions"][0]["hits"].as_array().expect("hits").clone();
    let transcript = hits.iter().find(|h| h["field"] == "transcript").expect("a transcript hit");
    let word = budget.iter().find(|w| w.punctuated == "budget,").expect("the word");
    assert_eq!(transcript["start_ms"].as_u64(), Some(word.start_ms), "the hit's time is the word's");
    assert!(marked(&transcript["snippet"]).contains("The [budget,] sadly"), "{}", transcript["snippet"]);
    assert_eq!(transcript["speaker"], "Speaker 2");
    assert!(hits.iter().any(|h| h["field"] == "title" && marked(&h["snippet"]) == "[Budget] review"), "{hits:?}");

    // While typing, the last word is a prefix: both sessions, the title match ranked first.
    let page = search(&daemon, "budg").await;
    assert_eq!(ids(&page), ["s1", "s2"]);
    let s2 = &page["sessions"][1];
    assert_eq!(s2["title"], "<img src=x onerror=alert(1)>", "titles come back as text");
    assert!(marked(&s2["hits"][0]["snippet"]).contains("<script>alert(1)</script> [budgets]"), "{}", s2["hits"][0]["snippet"]);
    assert_eq!(ids(&search(&daemon, "cafe").await), ["s2"], "accents fold");

    // Phrases: in the transcript, and in the summary.
    assert_eq!(ids(&search(&daemon, "\"freeze hiring\"").await), ["s1"]);
    assert!(ids(&search(&daemon, "\"hiring freeze\"").await) == ["s1"]);
    let page = search(&daemon, "\"hiring freeze\"").await;
    assert!(page["sessions"][0]["hits"].as_array().expect("hits").iter().any(|h| h["field"] == "summary"));
    assert!(ids(&search(&daemon, "\"june hiring\"").await).is_empty(), "a phrase needs its words in order");
    assert_eq!(ids(&search(&daemon, "forecast ").await), ["s1"], "action items are searchable");

    // Filters and pages.
    let filtered = |extra: &str| {
        let daemon = &daemon;
        let extra = extra.to_string();
        async move {
            let response = reqwest::get(daemon.url(&format!("/api/v1/search?q=budg&{extra}"))).await.expect("search");
            ids(&response.json::<Value>().await.expect("json"))
        }
    };
    assert_eq!(filtered("kind=live").await, ["s2"]);
    assert_eq!(filtered("kind=file").await, ["s1"]);
    assert_eq!(filtered("from_ms=1500").await, ["s2"]);
    assert_eq!(filtered("before_ms=1500").await, ["s1"]);
    assert_eq!(filtered("speaker=speaker%202").await, ["s1"], "'budget' was said by the second speaker");
    assert_eq!(filtered("speaker=speaker%201").await, ["s2"]);
    assert_eq!(filtered("limit=1&offset=1").await, ["s2"]);
    let page = search(&daemon, "budg").await;
    assert_eq!(page["total"], 2);

    // Bad queries are clear errors.
    for query in ["", "%20%21", &"x".repeat(600), "a&limit=0", "a&kind=video"] {
        let response = reqwest::get(daemon.url(&format!("/api/v1/search?q={query}"))).await.expect("search");
        assert_eq!(response.status(), 400, "{query}");
    }

    // A renamed session is found by its new title; a deleted one is gone.
    rename(&daemon, "s3", "Quarterly planning").await;
    daemon.indexed(&mut events).await.expect("indexed");
    assert_eq!(ids(&search(&daemon, "quarterly").await), ["s3"]);
    let deleted = reqwest::Client::new().delete(daemon.url("/api/v1/sessions/s1")).send().await.expect("delete");
    assert!(deleted.status().is_success());
    daemon.indexed(&mut events).await.expect("indexed");
    assert_eq!(ids(&search(&daemon, "budg").await), ["s2"]);

    // Rebuilt from the store: the same answers.
    let response = reqwest::Client::new().post(daemon.url("/api/v1/search/reindex")).send().await.expect("reindex");
    assert_eq!(response.status(), 202);
    daemon.indexed(&mut events).await.expect("indexed");
    assert_eq!(ids(&search(&daemon, "budg").await), ["s2"]);
    assert_eq!(ids(&search(&daemon, "quarterly").await), ["s3"]);
}
