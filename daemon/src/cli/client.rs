//! A client of the daemon's HTTP API, used by the command line: uploads with byte progress,
//! the job events, sessions and exports. Errors carry the API's own message.

use std::path::Path;

use anyhow::{Context, Result};
use futures_util::StreamExt;
use reqwest::header::AUTHORIZATION;
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::sinks::export::ExportFormat;

/// The answer to an upload.
#[derive(Debug, Clone)]
pub struct Uploaded {
    pub session_id: String,
    /// The bytes were known already: this is their existing session.
    pub duplicate: bool,
}

/// A `job` event.
#[derive(Debug, Clone)]
pub struct JobEvent {
    pub session_id: String,
    /// queued, processing, complete or error.
    pub status: String,
    pub message: Option<String>,
    /// Chunks of speech done and in all, and the seconds left when known.
    pub progress: Option<(u64, u64, Option<u64>)>,
}

/// The client.
#[derive(Clone)]
pub struct Client {
    /// `http://host:port`, no trailing slash.
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> Client {
        Client { base: base.trim_end_matches('/').to_string(), token, http: reqwest::Client::new() }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// The body of a successful answer, or the API's error message.
    async fn checked(response: reqwest::Response) -> Result<reqwest::Response> {
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body = json(response).await.unwrap_or_default();
        let message = body["error"]["message"].as_str().unwrap_or("no details");
        anyhow::bail!("the daemon answered {status}: {message}")
    }

    async fn get_json(&self, path: &str) -> Result<Value> {
        let response = self.request(reqwest::Method::GET, path).send().await.with_context(|| format!("reaching {}", self.base))?;
        json(Client::checked(response).await?).await
    }

    /// POSTs `body` as JSON; the answer's JSON.
    pub async fn post_json(&self, path: &str, body: &Value) -> Result<Value> {
        let response = self
            .request(reqwest::Method::POST, path)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .with_context(|| format!("reaching {}", self.base))?;
        json(Client::checked(response).await?).await
    }

    /// Empties the search index; the daemon rebuilds it from the library.
    pub async fn reindex(&self) -> Result<()> {
        let response = self.request(reqwest::Method::POST, "/api/v1/search/reindex").send().await.with_context(|| format!("reaching {}", self.base))?;
        Client::checked(response).await.map(drop)
    }

    /// The search index's documents and whether it has caught up with the library.
    pub async fn search_status(&self) -> Result<(u64, bool)> {
        let status = self.get_json("/api/v1/search/status").await?;
        Ok((status["documents"].as_u64().unwrap_or(0), status["up_to_date"].as_bool().unwrap_or(false)))
    }

    /// Checks the daemon answers.
    pub async fn health(&self) -> Result<()> {
        self.get_json("/healthz").await.map(drop)
    }

    /// Streams `path` to the daemon, calling `progress` with the bytes sent so far.
    pub async fn upload(&self, path: &Path, progress: impl Fn(u64) + Send + Sync + 'static) -> Result<Uploaded> {
        let name = path.file_name().and_then(|n| n.to_str()).context("the file name is not valid UTF-8")?;
        let file = tokio::fs::File::open(path).await.with_context(|| format!("opening {}", path.display()))?;
        let size = file.metadata().await?.len();
        let mut sent = 0u64;
        let stream = tokio_util::io::ReaderStream::new(file).inspect(move |chunk| {
            if let Ok(chunk) = chunk {
                sent += chunk.len() as u64;
                progress(sent);
            }
        });
        let response = self
            .request(reqwest::Method::POST, &format!("/api/v1/uploads?name={}", encode(name)))
            .header(reqwest::header::CONTENT_LENGTH, size)
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
            .with_context(|| format!("uploading to {}", self.base))?;
        let body = json(Client::checked(response).await?).await?;
        Ok(Uploaded {
            session_id: body["session_id"].as_str().context("the upload answer has no session id")?.to_string(),
            duplicate: body["duplicate"].as_bool().unwrap_or(false),
        })
    }

    /// One session with its versions, paragraphs, audio and latest job.
    pub async fn session(&self, id: &str) -> Result<Value> {
        self.get_json(&format!("/api/v1/sessions/{}", encode(id))).await
    }

    /// One page of sessions.
    pub async fn sessions(&self, query: &[(&str, String)]) -> Result<Value> {
        let query: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(query).finish();
        self.get_json(&format!("/api/v1/sessions?{query}")).await
    }

    /// The session's newest transcript in `format`.
    pub async fn export(&self, id: &str, format: ExportFormat) -> Result<String> {
        let path = format!("/api/v1/sessions/{}/export?format={}", encode(id), format.extension());
        let response = self.request(reqwest::Method::GET, &path).send().await.with_context(|| format!("reaching {}", self.base))?;
        Ok(Client::checked(response).await?.text().await?)
    }

    /// Subscribes to the daemon's events of type `kind`; they arrive on the returned channel
    /// until the daemon goes.
    pub async fn events(&self, kind: &'static str) -> Result<tokio::sync::mpsc::UnboundedReceiver<Value>> {
        let mut request = format!("{}/api/v1/events", self.base.replacen("http", "ws", 1)).into_client_request()?;
        if let Some(token) = &self.token {
            request.headers_mut().insert(AUTHORIZATION, format!("Bearer {token}").parse()?);
        }
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.context("subscribing to the daemon's events")?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        // Read continuously, so the daemon never sees this client as lagging while it
        // uploads the next file.
        tokio::spawn(async move {
            while let Some(Ok(message)) = socket.next().await {
                let Ok(text) = message.to_text() else { continue };
                let Ok(event) = serde_json::from_str::<Value>(text) else { continue };
                if event["type"] == kind && tx.send(event).is_err() {
                    return;
                }
            }
        });
        Ok(rx)
    }

    /// Subscribes to job events.
    pub async fn job_events(&self) -> Result<tokio::sync::mpsc::UnboundedReceiver<JobEvent>> {
        let mut events = self.events("job").await?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                let job = JobEvent {
                    session_id: event["session_id"].as_str().unwrap_or_default().to_string(),
                    status: event["status"].as_str().unwrap_or_default().to_string(),
                    message: event["message"].as_str().map(str::to_string),
                    progress: event["progress"]["done"]
                        .as_u64()
                        .zip(event["progress"]["total"].as_u64())
                        .map(|(done, total)| (done, total, event["progress"]["eta_secs"].as_u64())),
                };
                if tx.send(job).is_err() {
                    return;
                }
            }
        });
        Ok(rx)
    }
}

async fn json(response: reqwest::Response) -> Result<Value> {
    Ok(serde_json::from_slice(&response.bytes().await?)?)
}

fn encode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}
