//! Webhooks: what happened to sessions, told to the operator's receivers as Standard Webhooks
//! (headers `webhook-id`, `webhook-timestamp`, `webhook-signature`: `v1,` and the base64
//! HMAC-SHA256 of `id.timestamp.body` under the endpoint's `whsec_` secret).
//!
//! The events come from the event hub ([`hook_events`]); each becomes one delivery per
//! receiver that asked for it, kept in the persistent [`WebhookQueue`] before anything is
//! sent, so a receiver that is down or a restart loses nothing. Deliveries go out through the
//! same guarded outbound client as plugins' requests (grants, address rules, redirects checked
//! hop by hop): a URL that reaches loopback or private addresses needs `allow_private`. A
//! failed attempt is tried again with exponential back-off and jitter, or after the
//! receiver's `Retry-After` (seconds or a date), until a 2xx, a `410 Gone`, or `webhooks.give_up_hours`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use tokio::sync::Notify;
use tokio::sync::broadcast::error::RecvError;

use super::events::{Event, EventHub, JobStatus, LiveStatus, SummaryStatus};
use crate::clients::library::{Library, SessionView, now_ms};
use crate::config::{Config, WebhookEvent};
use crate::plugin::bindings::http::{HttpError, Method, Request, RequestBody};
use crate::plugin::capabilities::http::{Credentials, HttpLimits, HttpShared};
use crate::plugin::grants::{Grants, Origin};
use crate::queue::webhooks::{Attempted, Delivery, WebhookQueue};
use crate::retry::{RetryPolicy, jitter};

/// Deliveries sent in one pass; the rest wait for the next.
const BATCH: u32 = 32;
/// The prefix of a Standard Webhooks secret.
const SECRET_PREFIX: &str = "whsec_";
/// The label outbound refusals name.
const LABEL: &str = "webhooks";

/// One receiver.
struct Endpoint {
    url: String,
    events: Vec<WebhookEvent>,
    key: Vec<u8>,
}

/// The webhook service.
pub struct Webhooks {
    queue: WebhookQueue,
    endpoints: Vec<Endpoint>,
    http: HttpShared,
    retry: RetryPolicy,
    give_up: Duration,
    /// A delivery was queued.
    queued: Notify,
}

/// The key of a Standard Webhooks secret: base64 after `whsec_`.
fn key(secret: &str) -> Result<Vec<u8>> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    BASE64.decode(encoded).context("the secret is not base64 after whsec_")
}

/// `v1,` and the signature of `body` sent as `id` at `timestamp`.
fn signature(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    // HMAC accepts a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

/// The webhook events a daemon event stands for, with its session.
fn hook_events(event: &Event) -> Vec<(WebhookEvent, &str)> {
    match event {
        Event::Job { session_id, status: JobStatus::Complete, .. } => vec![(WebhookEvent::SessionCompleted, session_id)],
        Event::Job { session_id, status: JobStatus::Error, .. } => vec![(WebhookEvent::SessionFailed, session_id)],
        Event::Live { session_id, status: LiveStatus::Recording, .. } => vec![(WebhookEvent::LiveStarted, session_id)],
        Event::Live { session_id, status: LiveStatus::Complete, .. } => vec![(WebhookEvent::LiveEnded, session_id), (WebhookEvent::SessionCompleted, session_id)],
        Event::Live { session_id, status: LiveStatus::Error, .. } => vec![(WebhookEvent::LiveEnded, session_id), (WebhookEvent::SessionFailed, session_id)],
        // Handed to the file pipeline: its job completes the session.
        Event::Live { session_id, status: LiveStatus::Queued, .. } => vec![(WebhookEvent::LiveEnded, session_id)],
        Event::Summary { session_id, status: SummaryStatus::Complete, .. } => vec![(WebhookEvent::SummaryCompleted, session_id)],
        _ => Vec::new(),
    }
}

/// A new `webhook-id`: random, so ids never repeat across restarts.
fn message_id() -> String {
    let mut random = [0u8; 16];
    if getrandom::fill(&mut random).is_err() {
        // No system randomness: the time keeps ids apart within this daemon.
        random[..8].copy_from_slice(&now_ms().to_le_bytes());
    }
    format!("msg_{}", hex::encode(random))
}

/// How long the receiver's `Retry-After` asks to wait: seconds, or an HTTP date (RFC 9110
/// §10.2.3); a date already past means at once.
fn retry_after(headers: &[(String, String)], now: std::time::SystemTime) -> Option<Duration> {
    let value = headers.iter().find(|(name, _)| name == "retry-after").map(|(_, value)| value.trim())?;
    match value.parse::<u64>() {
        Ok(seconds) => Some(Duration::from_secs(seconds)),
        Err(_) => httpdate::parse_http_date(value).ok().map(|at| at.duration_since(now).unwrap_or_default()),
    }
}

impl Webhooks {
    /// The service, when receivers are configured; `env` resolves `${VAR}` in secrets.
    pub fn new(config: &Config, queue_path: &std::path::Path, env: &impl Fn(&str) -> Option<String>) -> Result<Option<Arc<Webhooks>>> {
        let settings = &config.webhooks;
        if settings.endpoints.is_empty() {
            return Ok(None);
        }
        let mut endpoints = Vec::new();
        let mut origins = Vec::new();
        for (index, endpoint) in settings.endpoints.iter().enumerate() {
            let at = || format!("webhooks.endpoints[{index}]");
            let secret = crate::secret::interpolate(&endpoint.secret, env).with_context(|| format!("{}.secret", at()))?;
            let key = key(secret.expose()).with_context(|| format!("{}.secret", at()))?;
            let url = url::Url::parse(&endpoint.url).with_context(|| format!("{}.url", at()))?;
            let origin = Origin::of(&url).with_context(|| format!("{}.url has no http(s) origin", at()))?;
            origins.push((origin, endpoint.allow_private));
            endpoints.push(Endpoint { url: endpoint.url.clone(), events: endpoint.events.clone(), key });
        }
        let http = HttpShared::new(LABEL.into(), Grants::for_daemon(LABEL, origins), HttpLimits::from_config(&config.sandbox), Credentials::new(Vec::new(), Vec::new()));
        let retry = RetryPolicy {
            max_attempts: u32::MAX,
            base: Duration::from_millis(settings.retry_base_ms),
            max: Duration::from_millis(settings.retry_max_ms),
        };
        let queue = WebhookQueue::open(queue_path)?;
        let give_up = Duration::from_secs(settings.give_up_hours.saturating_mul(3600));
        Ok(Some(Arc::new(Webhooks { queue, endpoints, http, retry, give_up, queued: Notify::new() })))
    }

    pub fn queue(&self) -> &WebhookQueue {
        &self.queue
    }

    /// Queues the deliveries of the hub's events and sends them, until the hub closes.
    pub fn run(self: &Arc<Self>, events: &EventHub, library: Option<Library>) {
        let mut feed = events.subscribe(None).live;
        let service = self.clone();
        tokio::spawn(async move {
            loop {
                match feed.recv().await {
                    Ok(published) => service.queue_event(&published.event, library.as_ref()).await,
                    Err(RecvError::Lagged(missed)) => tracing::error!(missed, "webhooks fell behind the daemon's events; some were not sent"),
                    Err(RecvError::Closed) => return,
                }
            }
        });
        let service = self.clone();
        tokio::spawn(async move { service.send_loop().await });
    }

    /// Queues one delivery for every receiver of each webhook event `event` stands for.
    async fn queue_event(&self, event: &Event, library: Option<&Library>) {
        for (hook, session_id) in hook_events(event) {
            let wanted: Vec<&Endpoint> = self.endpoints.iter().filter(|e| e.events.contains(&hook)).collect();
            if wanted.is_empty() {
                continue;
            }
            let session = match library {
                Some(library) => library.get_session(session_id.to_string()).await.ok().flatten().map(SessionView::from),
                None => None,
            };
            let now = now_ms();
            let timestamp = humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + Duration::from_millis(now.unsigned_abs())).to_string();
            let session = session.map_or_else(|| json!({"id": session_id}), |view| json!(view));
            let payload = json!({"type": hook.as_str(), "timestamp": timestamp, "data": {"session": session}}).to_string();
            for endpoint in wanted {
                let id = message_id();
                if let Err(err) = self.queue.enqueue(&id, &endpoint.url, hook.as_str(), Some(session_id), &payload, now) {
                    tracing::error!(endpoint = %endpoint.url, "queueing a webhook failed: {err:#}");
                }
            }
            self.queued.notify_one();
        }
    }

    /// Sends what is due, then sleeps until the next delivery is due or one is queued.
    async fn send_loop(&self) {
        loop {
            let due = match self.queue.due(now_ms(), BATCH) {
                Ok(due) => due,
                Err(err) => {
                    tracing::error!("reading the webhook queue failed: {err:#}");
                    Vec::new()
                }
            };
            for delivery in &due {
                let outcome = self.attempt(delivery).await;
                match &outcome {
                    Attempted::Delivered { .. } => tracing::info!(id = %delivery.id, endpoint = %delivery.endpoint, event = %delivery.event, "webhook delivered"),
                    Attempted::Retry { error, .. } => tracing::warn!(id = %delivery.id, endpoint = %delivery.endpoint, "webhook attempt failed, will retry: {error}"),
                    Attempted::Failed { error, .. } => tracing::warn!(id = %delivery.id, endpoint = %delivery.endpoint, "webhook given up: {error}"),
                }
                if let Err(err) = self.queue.attempted(&delivery.id, &outcome, now_ms()) {
                    tracing::error!(id = %delivery.id, "recording a webhook attempt failed: {err:#}");
                }
            }
            if due.len() as u32 == BATCH {
                continue;
            }
            let wait = match self.queue.next_due_ms() {
                Ok(Some(next)) => Duration::from_millis(next.saturating_sub(now_ms()).unsigned_abs()),
                // Nothing pending, or the queue unreadable: wait for news, or look again later.
                Ok(None) => self.retry.max,
                Err(_) => self.retry.base,
            };
            let _ = tokio::time::timeout(wait, self.queued.notified()).await;
        }
    }

    /// One attempt at `delivery`.
    async fn attempt(&self, delivery: &Delivery) -> Attempted {
        let Some(endpoint) = self.endpoints.iter().find(|e| e.url == delivery.endpoint) else {
            return Attempted::Failed { status: None, error: "the endpoint is no longer configured".into() };
        };
        let timestamp = now_ms() / 1000;
        let headers = vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("webhook-id".to_string(), delivery.id.clone()),
            ("webhook-timestamp".to_string(), timestamp.to_string()),
            ("webhook-signature".to_string(), signature(&endpoint.key, &delivery.id, timestamp, &delivery.payload)),
        ];
        let request = Request { method: Method::Post, url: endpoint.url.clone(), headers, body: RequestBody::Bytes(delivery.payload.clone().into_bytes()), timeout_ms: None };
        let (status, error, after) = match self.http.send(request, None).await {
            Ok(response) if (200..300).contains(&response.status) => return Attempted::Delivered { status: response.status },
            Ok(response) if response.status == 410 => {
                return Attempted::Failed { status: Some(410), error: "the receiver answered 410 Gone".into() };
            }
            Ok(response) => {
                let after = retry_after(&response.headers, std::time::SystemTime::now());
                (Some(response.status), format!("the receiver answered {}", response.status), after)
            }
            Err(HttpError::Denied(reason)) => return Attempted::Failed { status: None, error: format!("refused: {reason}") },
            Err(HttpError::InvalidRequest(reason)) => return Attempted::Failed { status: None, error: format!("invalid request: {reason}") },
            Err(HttpError::Timeout) => (None, "the receiver did not answer in time".to_string(), None),
            Err(HttpError::TooLarge(cap)) => (None, format!("the receiver's answer is larger than {cap} bytes"), None),
            Err(HttpError::Connection(reason)) => (None, reason, None),
        };
        let wait = after.unwrap_or_else(|| jitter(self.retry.delay(delivery.attempts + 1, None)));
        let next_ms = now_ms().saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
        let deadline = delivery.created_ms.saturating_add(i64::try_from(self.give_up.as_millis()).unwrap_or(i64::MAX));
        if next_ms > deadline {
            let error = format!("given up after {} attempts over {} h: {error}", delivery.attempts + 1, self.give_up.as_secs() / 3600);
            return Attempted::Failed { status, error };
        }
        Attempted::Retry { status, error, next_ms }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_the_standard_webhooks_example() {
        // The specification's example: secret, id, timestamp, body and signature.
        let secret = key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("key");
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(signature(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(key("whsec_not base64!").is_err());
    }

    #[test]
    fn daemon_events_map_to_webhook_events() {
        let live = |status| Event::Live { session_id: "s".into(), status, message: None };
        let hooks = |event: &Event| hook_events(event).into_iter().map(|(h, _)| h).collect::<Vec<_>>();
        assert_eq!(hooks(&live(LiveStatus::Recording)), vec![WebhookEvent::LiveStarted]);
        assert_eq!(hooks(&live(LiveStatus::Complete)), vec![WebhookEvent::LiveEnded, WebhookEvent::SessionCompleted]);
        assert_eq!(hooks(&live(LiveStatus::Queued)), vec![WebhookEvent::LiveEnded]);
        assert!(hooks(&live(LiveStatus::Reconnecting)).is_empty());
        let job = Event::Job { session_id: "s".into(), status: JobStatus::Error, message: None, progress: None };
        assert_eq!(hooks(&job), vec![WebhookEvent::SessionFailed]);
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_445_412_470);
        let header = |value: &str| [("retry-after".to_string(), value.to_string())];
        assert_eq!(retry_after(&header(" 7 "), now), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(&header("Wed, 21 Oct 2015 07:28:00 GMT"), now), Some(Duration::from_secs(10)));
        assert_eq!(retry_after(&header("Wed, 21 Oct 2015 07:27:00 GMT"), now), Some(Duration::ZERO), "a date past");
        assert_eq!(retry_after(&header("soon"), now), None);
        assert_eq!(retry_after(&[], now), None);
    }
}
