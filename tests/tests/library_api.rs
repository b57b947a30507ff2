//! The library's HTTP API over real sockets, backed by the real sqlite-store component.

use scribe_tests::{Setup, TestDaemon};
use scribed::clients::library::{NewSession, SessionKind, SessionStatus, Word};
use serde_json::Value;

async fn seeded() -> TestDaemon {
    let daemon = Setup::new().start().await.expect("daemon starts");
    let library = daemon.daemon.library().expect("library").clone();
    for i in 0..5i64 {
        library
            .create_session(NewSession {
                id: format!("s{i}"),
                kind: if i == 4 { SessionKind::Live } else { SessionKind::File },
                status: SessionStatus::Complete,
                source: format!("<img src=x onerror=alert({i})>.wav"),
                title: format!("Meeting {i}"),
                created_ms: 1_000 + i,
                provider: Some("deepgram-batch".into()),
            })
            .await
            .expect("create");
    }
    let version = library.create_version("s1".into(), "deepgram-batch".into(), 2_000).await.expect("version");
    let words: Vec<Word> = ["Hello", "there.", "General", "Kenobi."]
        .iter()
        .enumerate()
        .map(|(i, w)| Word {
            text: w.trim_end_matches('.').to_lowercase(),
            punctuated: w.to_string(),
            start_ms: i as u64 * 500,
            end_ms: i as u64 * 500 + 400,
            confidence: 0.9,
            speaker: Some(if i < 2 { 0 } else { 1 }),
        })
        .collect();
    library.append_words(version.id, words).await.expect("words");
    daemon
}

async fn send(daemon: &TestDaemon, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, String) {
    let mut request = reqwest::Client::new().request(method, daemon.url(path));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("send");
    (response.status().as_u16(), response.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_get_rename_export_delete() {
    let daemon = seeded().await;

    let page = daemon.get_json("/api/v1/sessions?limit=2").await.expect("list");
    assert_eq!(page["total"], 5);
    let ids: Vec<&str> = page["sessions"].as_array().expect("array").iter().filter_map(|s| s["id"].as_str()).collect();
    assert_eq!(ids, vec!["s4", "s3"]);
    let cursor = page["next_cursor"].as_str().expect("cursor");
    let next = daemon
        .get_json(&format!("/api/v1/sessions?limit=10&cursor={}", urlencode(cursor)))
        .await
        .expect("page 2");
    assert_eq!(next["sessions"].as_array().map(Vec::len), Some(3));
    assert!(next["next_cursor"].is_null());
    let live = daemon.get_json("/api/v1/sessions?kind=live").await.expect("filter");
    assert_eq!(live["total"], 1);

    let one = daemon.get_json("/api/v1/sessions/s1").await.expect("get");
    assert_eq!(one["session"]["title"], "Meeting 1");
    assert_eq!(one["session"]["source"], "<img src=x onerror=alert(1)>.wav", "user text comes back verbatim as JSON");
    assert_eq!(one["versions"][0]["word_count"], 4);

    let words = daemon.get_json("/api/v1/sessions/s1/words?limit=3").await.expect("words");
    assert_eq!(words["words"].as_array().map(Vec::len), Some(3));
    assert_eq!(words["next_offset"], 3);
    assert_eq!(words["paragraph_gap_ms"], scribed::sinks::export::PARAGRAPH_GAP_MS, "the UI splits paragraphs as the exports do");
    let rest = daemon.get_json("/api/v1/sessions/s1/words?offset=3").await.expect("words");
    assert_eq!(rest["words"][0]["punctuated"], "Kenobi.");
    assert!(rest["next_offset"].is_null());

    let (status, body) = send(&daemon, reqwest::Method::PATCH, "/api/v1/sessions/s1", Some(serde_json::json!({ "title": "  Jedi sync " }))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"title\":\"Jedi sync\""), "{body}");
    let (status, _) = send(&daemon, reqwest::Method::PUT, "/api/v1/sessions/s1/speakers/1", Some(serde_json::json!({ "name": "Grievous" }))).await;
    assert_eq!(status, 204);

    let response = reqwest::get(daemon.url("/api/v1/sessions/s1/export?format=srt")).await.expect("export");
    assert_eq!(response.headers().get("content-disposition").and_then(|v| v.to_str().ok()), Some("attachment; filename=\"scribe-s1.srt\""));
    let srt = response.text().await.expect("srt");
    assert_eq!(
        srt,
        "1\n00:00:00,000 --> 00:00:00,900\nSpeaker 1: Hello there.\n\n2\n00:00:01,000 --> 00:00:01,900\nGrievous: General Kenobi.\n\n"
    );
    let md = reqwest::get(daemon.url("/api/v1/sessions/s1/export?format=md")).await.expect("md").text().await.expect("md");
    assert!(md.starts_with("# Jedi sync\n"), "{md}");

    let (status, _) = send(&daemon, reqwest::Method::DELETE, "/api/v1/sessions/s1", None).await;
    assert_eq!(status, 204);
    let (status, body) = send(&daemon, reqwest::Method::GET, "/api/v1/sessions/s1", None).await;
    assert_eq!(status, 404);
    assert!(body.contains("\"code\":\"not_found\""), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_clear_and_change_nothing() {
    let daemon = seeded().await;
    let cases: Vec<(reqwest::Method, &str, Option<Value>, u16)> = vec![
        (reqwest::Method::GET, "/api/v1/sessions?limit=0", None, 400),
        (reqwest::Method::GET, "/api/v1/sessions?kind=video", None, 400),
        (reqwest::Method::GET, "/api/v1/sessions?cursor=garbage", None, 400),
        (reqwest::Method::GET, "/api/v1/sessions?sort=x", None, 400),
        (reqwest::Method::GET, "/api/v1/sessions/s1/export?format=docx", None, 400),
        (reqwest::Method::GET, "/api/v1/sessions/nope/export?format=srt", None, 404),
        (reqwest::Method::GET, "/api/v1/sessions/s1/words?version=999", None, 404),
        (reqwest::Method::PATCH, "/api/v1/sessions/s1", Some(serde_json::json!({ "title": "" })), 400),
        (reqwest::Method::PATCH, "/api/v1/sessions/s1", Some(serde_json::json!({ "title": "x", "status": "complete" })), 400),
        (reqwest::Method::PATCH, "/api/v1/sessions/nope", Some(serde_json::json!({ "title": "x" })), 404),
        (reqwest::Method::PUT, "/api/v1/sessions/nope/speakers/0", Some(serde_json::json!({ "name": "x" })), 404),
        (reqwest::Method::PUT, "/api/v1/sessions/s1/speakers/minus-one", Some(serde_json::json!({ "name": "x" })), 400),
        (reqwest::Method::PUT, "/api/v1/sessions/s1/speakers/0", Some(serde_json::json!({ "nom": "x" })), 400),
        (reqwest::Method::DELETE, "/api/v1/sessions/nope", None, 404),
    ];
    for (method, path, body, want) in cases {
        let (status, text) = send(&daemon, method.clone(), path, body).await;
        assert_eq!(status, want, "{method} {path}: {text}");
        let json: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}"));
        assert!(json["error"]["code"].is_string() && json["error"]["message"].is_string(), "{text}");
    }
    let one = daemon.get_json("/api/v1/sessions/s1").await.expect("still there");
    assert_eq!(one["session"]["title"], "Meeting 1");
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
