//! The API's security middleware over real sockets: Host allowlist, Origin checks on
//! WebSocket upgrades and state-changing requests, bearer tokens, security headers.

use scribe_tests::{Setup, TestDaemon};
use scribed::config::AuthMode;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

async fn daemon() -> TestDaemon {
    Setup::new().start().await.expect("daemon starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_host_header_is_refused_before_routing() {
    let daemon = daemon().await;
    let client = reqwest::Client::new();
    // A POST to a GET-only route would be 405 if it reached the router; 421 proves the
    // request was refused before any routing or handler.
    for (method, path) in [(reqwest::Method::GET, "/api/v1/plugins"), (reqwest::Method::POST, "/api/v1/plugins")] {
        let response = client
            .request(method.clone(), daemon.url(path))
            .header("host", format!("rebind.evil.example:{}", daemon.port()))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 421, "{method} {path}");
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "host_not_allowed");
        assert!(body.get("plugins").is_none());
    }
    for host in ["localhost", "127.0.0.1", "app.localhost"] {
        let response = client
            .get(daemon.url("/healthz"))
            .header("host", format!("{host}:{}", daemon.port()))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 200, "{host}");
    }
    let response = client
        .get(daemon.url("/healthz"))
        .header("host", format!("localhost.evil.example:{}", daemon.port()))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 421);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrades_from_foreign_origins_are_refused() {
    let daemon = daemon().await;
    let port = daemon.port();
    let url = format!("ws://127.0.0.1:{port}/api/v1/events");
    let bad = [
        "https://evil.example".to_string(),
        "null".to_string(),
        format!("http://localhost:{port}.evil.example"),
        format!("http://localhost:{port}@evil.example"),
        format!("http://127.0.0.1:{}", port + 1),
    ];
    for origin in bad {
        let mut request = url.as_str().into_client_request().expect("request");
        request.headers_mut().insert("origin", HeaderValue::from_str(&origin).expect("header"));
        match tokio_tungstenite::connect_async(request).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 403, "{origin}");
            }
            Err(other) => panic!("{origin}: unexpected error {other}"),
            Ok(_) => panic!("{origin}: upgrade was accepted"),
        }
    }
    // The daemon's own origin is accepted and gets the hello event.
    let mut request = url.as_str().into_client_request().expect("request");
    request.headers_mut().insert("origin", HeaderValue::from_str(&format!("http://127.0.0.1:{port}")).expect("header"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("own origin accepted");
    use futures_util::StreamExt;
    let first = socket.next().await.expect("a message").expect("ok");
    let hello: serde_json::Value = serde_json::from_str(first.to_text().expect("text")).expect("json");
    assert_eq!(hello["type"], "hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_origin_state_changes_are_refused_and_headers_are_set() {
    let daemon = daemon().await;
    let client = reqwest::Client::new();
    let response = client
        .post(daemon.url("/api/v1/plugins"))
        .header("origin", "https://evil.example")
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 403);
    assert!(response.headers().get("access-control-allow-origin").is_none());
    let preflight = client
        .request(reqwest::Method::OPTIONS, daemon.url("/api/v1/plugins"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "DELETE")
        .send()
        .await
        .expect("send");
    assert_eq!(preflight.status(), 403);
    assert!(preflight.headers().get("access-control-allow-origin").is_none());

    let response = client.get(daemon.url("/")).send().await.expect("send");
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    let csp = headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(headers.get("x-content-type-options").map(|v| v.as_bytes()), Some(&b"nosniff"[..]));
    assert_eq!(headers.get("referrer-policy").map(|v| v.as_bytes()), Some(&b"no-referrer"[..]));
}

/// Tests may bind only loopback, so the non-loopback rule itself is covered by the unit
/// test of `token_required`; here `auth = "always"` drives the same middleware path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_is_required_when_auth_applies() {
    let mut setup = Setup::new();
    setup.config.server.auth = AuthMode::Always;
    let daemon = setup.start().await.expect("daemon starts");
    let token = daemon.daemon.new_token.clone().expect("a token was generated on first start");
    let token_file = daemon.daemon.data_dir().join("api-token");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&token_file).expect("token file").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let client = reqwest::Client::new();
    // The compatible APIs under /v1/ are APIs too; Deepgram's clients send `Token`.
    for path in ["/healthz", "/api/v1/plugins", "/v1/models"] {
        let response = client.get(daemon.url(path)).send().await.expect("send");
        assert_eq!(response.status(), 401, "{path} without token");
        let response = client.get(daemon.url(path)).bearer_auth("wrong").send().await.expect("send");
        assert_eq!(response.status(), 401, "{path} with a wrong token");
        let response = client.get(daemon.url(path)).bearer_auth(token.expose()).send().await.expect("send");
        assert_eq!(response.status(), 200, "{path} with the token");
        let response = client.get(daemon.url(path)).header("authorization", format!("Token {}", token.expose())).send().await.expect("send");
        assert_eq!(response.status(), 200, "{path} with the token as Deepgram sends it");
    }
    // The UI shell loads without a token so the pairing screen can show.
    assert_eq!(client.get(daemon.url("/")).send().await.expect("send").status(), 200);
    // A foreign Host is refused even with the token (no LAN-mode gap).
    let response = client
        .get(daemon.url("/healthz"))
        .bearer_auth(token.expose())
        .header("host", "evil.example")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 421);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_ui_is_served_with_etags_its_csp_and_a_filled_service_worker() {
    let daemon = daemon().await;
    let client = reqwest::Client::new();
    let page = client.get(daemon.url("/")).send().await.expect("send");
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert!(headers["content-security-policy"].to_str().expect("csp").starts_with("default-src 'self'"));
    assert_eq!(headers["cache-control"], "no-cache");
    let etag = headers["etag"].clone();
    let html = page.text().await.expect("html");
    assert!(html.contains(r#"<script type="module" src="/app.js">"#) && !html.contains("<script>"), "no inline script");

    let again = client.get(daemon.url("/")).header("if-none-match", etag).send().await.expect("send");
    assert_eq!(again.status(), 304, "an unchanged file is not sent again");
    assert!(again.bytes().await.expect("body").is_empty());

    let worker = client.get(daemon.url("/sw.js")).send().await.expect("send").text().await.expect("sw");
    assert!(!worker.contains("__VERSION__") && !worker.contains("__SHELL__"));
    assert!(worker.contains(r#""/js/views/session.js""#) && worker.contains(r#""/icons/icon-192.png""#), "{worker}");
    let manifest: serde_json::Value = client.get(daemon.url("/manifest.webmanifest")).send().await.expect("send").json().await.expect("json");
    assert_eq!(manifest["display"], "standalone");
    let icon = client.get(daemon.url("/icons/icon-512.png")).send().await.expect("send");
    assert_eq!(icon.headers()["content-type"], "image/png");
    assert!(icon.bytes().await.expect("png").starts_with(b"\x89PNG"));

    for path in ["/nope.js", "/Cargo.toml", "/js/"] {
        let missing = client.get(daemon.url(path)).send().await.expect("send");
        assert_eq!(missing.status(), 404, "{path}");
    }
    // A mistyped API call gets the API's error shape, whatever its method.
    for method in [reqwest::Method::GET, reqwest::Method::POST] {
        let wrong = client.request(method.clone(), daemon.url("/api/v1/no/such/route")).send().await.expect("send");
        assert_eq!(wrong.status(), 404, "{method}");
        let body: serde_json::Value = wrong.json().await.expect("json error");
        assert_eq!(body["error"]["code"], "not_found", "{method}");
    }

    // Loopback without auth: nothing to pair, and the status page's facts.
    assert_eq!(daemon.get_json("/api/v1/pair").await.expect("pair"), serde_json::json!({ "required": false, "paired": true }));
    let status = daemon.get_json("/api/v1/status").await.expect("status");
    assert_eq!(status["token_required"], false);
    assert_eq!(status["queues"]["files"], 0);
    assert!(status["inbox"].as_str().expect("inbox").ends_with("inbox"));
    assert!(status["storage"]["total_bytes"].as_u64().expect("bytes") > 0);
}
