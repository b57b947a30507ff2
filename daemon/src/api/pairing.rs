//! Pairing a browser with a daemon that requires a token (LAN mode).
//!
//! A browser cannot put a bearer header on an `<audio>` source or a WebSocket handshake, and
//! a token in a URL ends up in logs and history. So the web UI hands the token over once:
//!
//! - `GET /api/v1/pair`: `{"required", "paired"}`, whether a token is needed and whether this
//!   request carried a valid one;
//! - `POST /api/v1/pair` `{"token"}`: checks the token and answers with an HttpOnly,
//!   SameSite=Strict cookie holding it, which the security middleware accepts like a bearer
//!   header; a wrong token gets 401;
//! - `DELETE /api/v1/pair`: forgets it (the cookie is cleared).
//!
//! The pairing link the daemon prints carries the token in the URL fragment (`#pair=…`),
//! which browsers never send to a server.

use axum::extract::State;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::security::{COOKIE, PAIR_PATH};
use super::{ApiError, AppState};
/// How long a browser stays paired: a year, so a home server's phone is paired once.
const COOKIE_MAX_AGE_SECS: u64 = 365 * 24 * 3600;
/// Longest token accepted for checking; generated tokens are 64 hex characters.
const MAX_TOKEN_CHARS: usize = 1024;

pub fn router() -> Router<AppState> {
    Router::new().route(PAIR_PATH, get(status).post(pair).delete(unpair))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PairRequest {
    token: String,
}

async fn status(State(state): State<AppState>, headers: HeaderMap) -> Json<serde_json::Value> {
    let required = state.security.token.is_some();
    let paired = !required || super::security::presented_token(&headers).is_some_and(|t| state.security.token_matches(t));
    Json(json!({ "required": required, "paired": paired }))
}

async fn pair(State(state): State<AppState>, Json(request): Json<PairRequest>) -> Result<Response, ApiError> {
    let token = request.token.trim();
    if token.is_empty() || token.len() > MAX_TOKEN_CHARS || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid", "the token is empty or malformed"));
    }
    if !state.security.token_matches(token) {
        tracing::warn!("pairing refused: wrong token");
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "that is not this daemon's token"));
    }
    if state.security.token.is_none() {
        return Ok(Json(json!({ "required": false, "paired": true })).into_response());
    }
    let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={COOKIE_MAX_AGE_SECS}");
    let cookie = HeaderValue::from_str(&cookie).map_err(|err| ApiError::internal("pairing", &err))?;
    Ok(([(header::SET_COOKIE, cookie)], Json(json!({ "required": true, "paired": true }))).into_response())
}

async fn unpair() -> Result<Response, ApiError> {
    let cookie = HeaderValue::from_str(&format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"))
        .map_err(|err| ApiError::internal("unpairing", &err))?;
    Ok(([(header::SET_COOKIE, cookie)], StatusCode::NO_CONTENT).into_response())
}
