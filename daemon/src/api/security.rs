//! The security middleware in front of every route, HTTP and WebSocket alike, in this order:
//!
//! 1. **Host allowlist** (DNS rebinding): IP literals, `localhost` / `*.localhost`, and names
//!    the operator declared; anything else gets 421 before routing, so no handler runs.
//! 2. **Origin** on every state-changing request and every WebSocket upgrade: the parsed
//!    origin must equal the daemon's own origin as addressed (scheme, host, port, exactly)
//!    or an origin the operator declared. `null` and look-alikes are refused with 403.
//! 3. **Token** when required (non-loopback listen, or `auth = "always"`): a bearer header
//!    from programs, or the pairing cookie a browser got from `POST /api/v1/pair`; else 401.
//! 4. Security headers on every answer (CSP, frame-ancestors, nosniff, no-referrer).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderValue};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use url::Url;

use super::AppState;
use super::error::ApiError;
use crate::config::AuthMode;
use crate::secret::Secret;

const CSP: &str = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";

/// The request-screening policy.
#[derive(Debug, Clone)]
pub struct SecurityPolicy {
    /// Lower-case extra host names.
    pub allowed_hosts: Vec<String>,
    /// Extra origins, normalised to `scheme://host:port`.
    pub allowed_origins: Vec<String>,
    /// Required bearer token, when auth applies.
    pub token: Option<Secret>,
    /// Longest a plain request may run.
    pub request_timeout: Duration,
}

/// Whether a listen address requires a token.
pub fn token_required(listen: SocketAddr, mode: AuthMode) -> bool {
    match mode {
        AuthMode::Always => true,
        AuthMode::Auto => !listen.ip().is_loopback(),
    }
}

/// Normalises an origin string to `scheme://host:port`, refusing anything that is not a
/// plain origin (`null`, user info, paths, unknown schemes).
pub fn normalize_origin(raw: &str) -> Option<String> {
    let url = Url::parse(raw).ok()?;
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
        || !matches!(url.path(), "" | "/")
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return None;
    }
    let host = url.host_str()?;
    Some(format!("{}://{}:{}", url.scheme(), host.to_ascii_lowercase(), url.port_or_known_default()?))
}

/// Splits a Host header into host and port.
fn split_host(value: &str) -> Option<(String, Option<u16>)> {
    let url = Url::parse(&format!("http://{value}/")).ok()?;
    if !url.username().is_empty() || url.path() != "/" {
        return None;
    }
    Some((url.host_str()?.to_ascii_lowercase(), url.port()))
}

impl SecurityPolicy {
    /// Whether a host name may be used to address the daemon.
    pub fn host_allowed(&self, host: &str) -> bool {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<IpAddr>().is_ok()
            || host == "localhost"
            || host.ends_with(".localhost")
            || self.allowed_hosts.iter().any(|h| h == host)
    }

    /// Checks the Host header; `Ok` gives the host and port as addressed.
    fn check_host(&self, headers: &HeaderMap, uri_authority: Option<&str>) -> Result<(String, Option<u16>), ApiError> {
        // RFC 9112 §3.2: a request with more than one Host field is invalid, and which of
        // them a proxy and this daemon each believe must not be left to chance.
        if headers.get_all(header::HOST).iter().nth(1).is_some() {
            return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_host", "more than one Host header"));
        }
        let raw = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .or(uri_authority)
            .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "missing_host", "the Host header is required"))?;
        let (host, port) = split_host(raw)
            .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "bad_host", "the Host header is malformed"))?;
        if !self.host_allowed(&host) {
            return Err(ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                "host_not_allowed",
                "this daemon does not answer to that host name; add it to server.allowed_hosts",
            ));
        }
        Ok((host, port))
    }

    /// Checks the Origin header against the daemon's own origin as addressed.
    fn check_origin(&self, headers: &HeaderMap, host: &str, port: Option<u16>) -> Result<(), ApiError> {
        // Browsers send Origin on every cross-origin and state-changing request and on every
        // WebSocket handshake; a request without one comes from a non-browser client.
        let Some(raw) = headers.get(header::ORIGIN) else { return Ok(()) };
        let refused = || ApiError::new(StatusCode::FORBIDDEN, "origin_not_allowed", "cross-origin request refused");
        let origin = raw.to_str().ok().and_then(normalize_origin).ok_or_else(refused)?;
        let own = format!("http://{host}:{}", port.unwrap_or(80));
        if origin == own || self.allowed_origins.contains(&origin) {
            Ok(())
        } else {
            Err(refused())
        }
    }

    /// Whether `presented` is the required token (always true when none is required).
    pub fn token_matches(&self, presented: &str) -> bool {
        let Some(token) = &self.token else { return true };
        // Compare digests so the comparison time does not depend on where the strings differ.
        Sha256::digest(presented.as_bytes()) == Sha256::digest(token.expose().as_bytes())
    }

    fn check_token(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        if self.token_matches(presented_token(headers).unwrap_or("")) {
            Ok(())
        } else {
            Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "a valid bearer token is required"))
        }
    }
}

/// Where a browser trades the token for [`COOKIE`] (see `api/pairing.rs`); open without a
/// token, since that is how a browser gets one.
pub const PAIR_PATH: &str = "/api/v1/pair";
/// The cookie that carries the token for a paired browser.
pub const COOKIE: &str = "scribe_token";

/// The token a request presents: its `Authorization` header (`Bearer`, or `Token` as the
/// Deepgram SDKs send it), else the WebSocket subprotocols a browser offers it as (`token,
/// <token>`, Deepgram's way), else its pairing cookie.
pub fn presented_token(headers: &HeaderMap) -> Option<&str> {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let token = authorization.and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("Token ")));
    token.or_else(|| subprotocol_token(headers)).or_else(|| pairing_cookie(headers))
}

/// The token offered as WebSocket subprotocols: `token` or `bearer`, then the token.
fn subprotocol_token(headers: &HeaderMap) -> Option<&str> {
    let offered = headers.get(header::SEC_WEBSOCKET_PROTOCOL)?.to_str().ok()?;
    let mut protocols = offered.split(',').map(str::trim);
    let scheme = protocols.next()?;
    (scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer")).then(|| protocols.next()).flatten()
}

/// The pairing cookie's value, when the request carries one.
fn pairing_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Requests answered without a token: the UI shell (so the pairing screen can load) and the
/// pairing call itself, which checks the token it is given. The OpenAI-compatible API
/// (`/v1/`) is an API like `/api/`.
fn is_public(method: &Method, path: &str) -> bool {
    (matches!(*method, Method::GET | Method::HEAD) && !path.starts_with("/api/") && !path.starts_with("/v1/") && path != "/healthz")
        || path == PAIR_PATH
}

/// Requests that run as long as they need: uploads (they have their own size cap and idle
/// timeout), and OpenAI's and Deepgram's transcriptions, which answer when the file is
/// transcribed.
fn is_long(path: &str) -> bool {
    path == super::uploads::UPLOAD_PATH || path.starts_with("/v1/audio/") || path == "/v1/listen"
}

/// The middleware.
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let policy = &state.security;
    let headers = request.headers();
    let checked = policy
        .check_host(headers, request.uri().authority().map(|a| a.as_str()))
        .and_then(|(host, port)| {
            let state_changing = !matches!(*request.method(), Method::GET | Method::HEAD);
            let upgrade = is_websocket_upgrade(headers);
            if state_changing || upgrade {
                policy.check_origin(headers, &host, port)?;
            }
            if !is_public(request.method(), request.uri().path()) || upgrade {
                policy.check_token(headers)?;
            }
            Ok(upgrade)
        });
    let mut response = match checked {
        Err(err) => {
            tracing::warn!(
                method = %request.method(),
                path = %request.uri().path(),
                code = err.code,
                "request refused"
            );
            err.into_response()
        }
        // Upgrades and uploads run as long as they need; uploads have their own size cap.
        Ok(true) => next.run(request).await,
        Ok(false) if is_long(request.uri().path()) => next.run(request).await,
        Ok(false) => match tokio::time::timeout(policy.request_timeout, next.run(request)).await {
            Ok(response) => response,
            Err(_) => ApiError::new(StatusCode::REQUEST_TIMEOUT, "timeout", "the request took too long").into_response(),
        },
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> SecurityPolicy {
        SecurityPolicy {
            allowed_hosts: vec!["scribe.lan".into()],
            allowed_origins: vec!["http://scribe.lan:8737".into()],
            token: None,
            request_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn hosts() {
        let p = policy();
        let cases = [
            ("127.0.0.1", true),
            ("[::1]", true),
            ("192.168.1.10", true),
            ("localhost", true),
            ("app.localhost", true),
            ("scribe.lan", true),
            ("localhost.evil.example", false),
            ("rebind.evil.example", false),
            ("scribe.lan.evil.example", false),
        ];
        for (host, ok) in cases {
            assert_eq!(p.host_allowed(host), ok, "{host}");
        }
    }

    #[test]
    fn one_host_header_only() {
        let p = policy();
        let mut headers = HeaderMap::new();
        headers.append(header::HOST, "127.0.0.1:8737".parse().expect("value"));
        assert!(p.check_host(&headers, None).is_ok());
        headers.append(header::HOST, "scribe.lan".parse().expect("value"));
        let err = p.check_host(&headers, None).expect_err("two Host headers");
        assert_eq!((err.status, err.code), (StatusCode::BAD_REQUEST, "bad_host"));
    }

    #[test]
    fn origins() {
        let p = policy();
        let cases = [
            ("http://localhost:8737", true),
            ("HTTP://LOCALHOST:8737", true),
            ("http://localhost:8737/", true),
            ("http://scribe.lan:8737", true),
            ("http://localhost:8738", false),
            ("https://localhost:8737", false),
            ("http://localhost:8737.evil.example", false),
            ("http://localhost.evil.example:8737", false),
            ("http://localhost:8737@evil.example", false),
            ("https://evil.example", false),
            ("null", false),
            ("", false),
        ];
        for (origin, ok) in cases {
            let mut headers = HeaderMap::new();
            headers.insert(header::ORIGIN, HeaderValue::from_str(origin).expect("header"));
            assert_eq!(p.check_origin(&headers, "localhost", Some(8737)).is_ok(), ok, "{origin:?}");
        }
    }

    /// Request headers and the token they present.
    type TokenCase = (&'static [(&'static str, &'static str)], Option<&'static str>);

    #[test]
    fn presented_tokens() {
        let cases: [TokenCase; 10] = [
            (&[("authorization", "Bearer abc")], Some("abc")),
            (&[("sec-websocket-protocol", "token, abc")], Some("abc")),
            (&[("sec-websocket-protocol", "Bearer,abc")], Some("abc")),
            (&[("sec-websocket-protocol", "chat, abc")], None),
            (&[("authorization", "Token abc")], Some("abc")),
            (&[("authorization", "Basic abc")], None),
            (&[("cookie", "a=1; scribe_token=def; b=2")], Some("def")),
            (&[("cookie", "a=1"), ("cookie", "scribe_token=ghi")], Some("ghi")),
            (&[("cookie", "not_scribe_token=x; scribe_tokens=y")], None),
            (&[("authorization", "Bearer abc"), ("cookie", "scribe_token=def")], Some("abc")),
        ];
        for (pairs, expected) in cases {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.append(*name, HeaderValue::from_str(value).expect("header"));
            }
            assert_eq!(presented_token(&headers), expected, "{pairs:?}");
        }
    }

    #[test]
    fn token_rule() {
        let cases = [
            ("127.0.0.1:1", AuthMode::Auto, false),
            ("[::1]:1", AuthMode::Auto, false),
            ("0.0.0.0:1", AuthMode::Auto, true),
            ("192.168.1.10:1", AuthMode::Auto, true),
            ("[::]:1", AuthMode::Auto, true),
            ("127.0.0.1:1", AuthMode::Always, true),
        ];
        for (addr, mode, required) in cases {
            let addr: SocketAddr = addr.parse().expect("addr");
            assert_eq!(token_required(addr, mode), required, "{addr} {mode:?}");
        }
    }
}
