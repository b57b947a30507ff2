//! Outbound HTTP for plugins, on reqwest.
//!
//! Every hop is checked: the URL against the plugin's grants, every address a name resolves
//! to against the special-address rules (DNS pinning: reqwest connects only to the addresses
//! our resolver returned), and redirects are followed by hand so each target is checked
//! again and credentials go only to the origin they were configured for.
//!
//! Per plugin: [`HttpShared`] (grants, credentials, limits, the client). Per instance: the
//! count of open response bodies ([`HttpState`]). The guest sees both through [`HttpView`].

pub mod body;
pub mod form;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, LOCATION};
use reqwest::{Method as ReqMethod, StatusCode};
use tokio::time::Instant;
use url::Url;
use wasmtime::component::{HasData, Resource, ResourceTable};

use self::body::{BodyError, IncomingBody};
use super::audio::AudioInput;
use super::{MAX_RESOURCES, error_chain};
use crate::config::{Credential, SandboxConfig};
use crate::plugin::bindings::http::{self, HttpError, Method, Request, RequestBody, Response, StreamedResponse};
use crate::plugin::bindings::types::AudioFormat;
use crate::plugin::cpu::CpuMeter;
use crate::plugin::grants::{Denied, Grants, Origin};

/// Redirect hops followed before giving up; browsers use 20, providers need one or two.
const MAX_REDIRECTS: usize = 5;
/// Response headers handed to a guest; bounds host work on a hostile server.
const MAX_RESPONSE_HEADERS: usize = 200;
const MIB: u64 = 1024 * 1024;

/// Outbound limits, from `[sandbox]`.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_request_body: u64,
    pub max_response_body: u64,
}

impl HttpLimits {
    pub fn from_config(sandbox: &SandboxConfig) -> HttpLimits {
        HttpLimits {
            timeout: Duration::from_secs(sandbox.http_timeout_secs),
            connect_timeout: Duration::from_secs(sandbox.connect_timeout_secs),
            max_request_body: sandbox.max_request_body_mb.saturating_mul(MIB),
            max_response_body: sandbox.max_response_body_mb.saturating_mul(MIB),
        }
    }
}

/// A credential ready to inject.
#[derive(Debug, Clone)]
pub struct InjectedHeader {
    pub origin: Origin,
    pub header: String,
    pub value: crate::secret::Secret,
}

/// The plugin's credentials: headers the host adds to requests to one origin.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub injected: Vec<InjectedHeader>,
    /// Credentials that could not be resolved (missing env vars): requests to their origins
    /// are refused as unauthorized instead of going out without a key.
    pub missing: Vec<(Origin, String)>,
}

impl Credentials {
    /// Turns resolved credentials into injectable headers (origins were validated when the
    /// grants were configured).
    pub fn new(resolved: Vec<Credential>, missing: Vec<(Origin, String)>) -> Credentials {
        let injected = resolved
            .into_iter()
            .filter_map(|c| {
                Some(InjectedHeader {
                    origin: Origin::parse_rule(&c.origin).ok()?,
                    header: c.header.to_ascii_lowercase(),
                    value: c.value,
                })
            })
            .collect();
        Credentials { injected, missing }
    }
}

/// Everything outbound HTTP (and WebSocket) needs of one plugin, shared by its instances.
pub struct HttpShared {
    pub plugin: Arc<str>,
    pub grants: Grants,
    pub limits: HttpLimits,
    pub credentials: Credentials,
    client: HttpClient,
}

impl HttpShared {
    pub fn new(plugin: Arc<str>, grants: Grants, limits: HttpLimits, credentials: Credentials) -> HttpShared {
        let client = HttpClient::new(&grants, limits.connect_timeout);
        HttpShared { plugin, grants, limits, credentials, client }
    }

    /// Header names the guest may not set: the host's own, and every injected one.
    pub fn header_forbidden(&self, name: &str) -> bool {
        const HOST_OWNED: &[&str] = &[
            "authorization",
            "proxy-authorization",
            "x-api-key",
            "cookie",
            "host",
            "connection",
            "content-length",
            "transfer-encoding",
            "te",
            "trailer",
            "upgrade",
            "keep-alive",
            "proxy-connection",
            "sec-websocket-key",
            "sec-websocket-version",
            "sec-websocket-extensions",
        ];
        let lower = name.to_ascii_lowercase();
        HOST_OWNED.contains(&lower.as_str())
            || self.credentials.injected.iter().any(|c| c.header == lower)
            || self.credentials.missing.iter().any(|(_, h)| *h == lower)
    }

    /// Headers to add for a request to `origin`, or the reason it must not be sent.
    pub fn credentials_for(&self, origin: &Origin) -> Result<Vec<(&str, &str)>, String> {
        if let Some((_, header)) = self.credentials.missing.iter().find(|(o, _)| o == origin) {
            return Err(format!(
                "the credential for {} (header {header}) is not configured; set its environment \
                 variable (see plugins.{}.credentials)",
                origin.to_url_string(),
                self.plugin
            ));
        }
        Ok(self
            .credentials
            .injected
            .iter()
            .filter(|c| &c.origin == origin)
            .map(|c| (c.header.as_str(), c.value.expose()))
            .collect())
    }
}

/// Per-instance HTTP state.
#[derive(Debug, Default)]
pub struct HttpState {
    /// Response bodies the plugin holds open (`http.open`).
    open_bodies: usize,
}

/// What the `http` host functions see of one instance.
pub struct HttpView<'a> {
    pub shared: &'a HttpShared,
    pub state: &'a mut HttpState,
    /// The audio of the call in progress, for requests whose body is `audio`, and its format.
    pub audio: Option<&'a AudioInput>,
    pub format: Option<AudioFormat>,
    pub table: &'a mut ResourceTable,
    pub cpu: &'a CpuMeter,
}

/// Links `http` through [`HttpView`].
pub struct HttpCapability;

impl HasData for HttpCapability {
    type Data<'a> = HttpView<'a>;
}

/// A reqwest client whose DNS answers are filtered by the plugin's grants. Built on first
/// use: loading the system's TLS roots costs ~50 ms, which start-up should not pay for
/// plugins that have not made a request yet.
struct HttpClient {
    grants: Grants,
    connect_timeout: Duration,
    client: OnceLock<Result<reqwest::Client, String>>,
}

/// Resolver that refuses special addresses (loopback, private, link-local, ...) unless the
/// operator granted that host by name.
struct GuardedResolver {
    grants: Grants,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let grants = self.grants.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| grants.address_allowed(&host, addr.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(Box::new(Denied(format!(
                    "{host} resolves only to loopback, private or link-local addresses, which \
                     are not granted"
                ))) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

impl HttpClient {
    fn new(grants: &Grants, connect_timeout: Duration) -> HttpClient {
        HttpClient { grants: grants.clone(), connect_timeout, client: OnceLock::new() }
    }

    fn client(&self) -> Result<&reqwest::Client, HttpError> {
        self.client
            .get_or_init(|| {
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .no_proxy()
                    .connect_timeout(self.connect_timeout)
                    .dns_resolver(Arc::new(GuardedResolver { grants: self.grants.clone() }))
                    .build()
                    .map_err(|err| error_chain(&err))
            })
            .as_ref()
            .map_err(|err| HttpError::Connection(format!("the HTTP client could not be set up: {err}")))
    }
}

/// Finds our resolver's denial in an error's source chain.
pub fn denial_in(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(denied) = e.downcast_ref::<Denied>() {
            return Some(denied.0.clone());
        }
        current = e.source();
    }
    None
}

fn method(m: Method) -> ReqMethod {
    match m {
        Method::Get => ReqMethod::GET,
        Method::Head => ReqMethod::HEAD,
        Method::Post => ReqMethod::POST,
        Method::Put => ReqMethod::PUT,
        Method::Patch => ReqMethod::PATCH,
        Method::Delete => ReqMethod::DELETE,
    }
}

/// Validates the guest's headers.
pub fn guest_headers(shared: &HttpShared, headers: &[(String, String)]) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if shared.header_forbidden(name) {
            tracing::warn!(plugin = %shared.plugin, header = %name, "plugin tried to set a host-owned header");
            return Err(format!("header {name:?} is set by the host, not by plugins"));
        }
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid header name {name:?}"))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("invalid value for header {name}"))?;
        map.append(name, value);
    }
    Ok(map)
}

/// Adds the credentials configured for `origin`.
pub fn inject_credentials(shared: &HttpShared, origin: &Origin, headers: &mut HeaderMap) -> Result<(), String> {
    for (name, value) in shared.credentials_for(origin)? {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("configured credential header {name:?} is invalid"))?;
        let mut value = HeaderValue::from_str(value)
            .map_err(|_| format!("configured credential for header {name} is not a valid value"))?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    Ok(())
}

impl HttpShared {
    /// Sends a plugin's request and reads the whole response.
    pub async fn send(&self, mut request: Request, audio: Option<AudioInput>) -> Result<Response, HttpError> {
        let body = self.body(&mut request, audio)?;
        self.send_with(request, body).await
    }

    /// Sends `request` with `body` in place of its own and reads the whole response.
    async fn send_with(&self, request: Request, body: Body) -> Result<Response, HttpError> {
        let (response, deadline) = self.open_with(request, body).await?;
        read_response(response, deadline, self.limits.max_response_body).await
    }

    /// The body a guest's request asks for, taken out of it: its bytes, or the call's audio.
    fn body(&self, request: &mut Request, audio: Option<AudioInput>) -> Result<Body, HttpError> {
        match std::mem::replace(&mut request.body, RequestBody::Bytes(Vec::new())) {
            RequestBody::Bytes(bytes) if bytes.len() as u64 > self.limits.max_request_body => Err(HttpError::TooLarge(self.limits.max_request_body)),
            RequestBody::Bytes(bytes) => Ok(Body::Bytes(bytes)),
            RequestBody::Audio => Ok(Body::Audio(audio.ok_or_else(|| {
                HttpError::InvalidRequest("an audio body needs a transcription in progress".into())
            })?)),
        }
    }

    /// Sends a plugin's request up to the response headers. `audio` is the current call's
    /// audio, for requests whose body is `audio`. Returns the response with the request's
    /// deadline, which also bounds reading its body.
    pub async fn open(&self, mut request: Request, audio: Option<AudioInput>) -> Result<(reqwest::Response, Instant), HttpError> {
        let body = self.body(&mut request, audio)?;
        self.open_with(request, body).await
    }

    /// The whole policy of outbound HTTP: `request` with `body` up to the response headers.
    async fn open_with(&self, request: Request, body: Body) -> Result<(reqwest::Response, Instant), HttpError> {
        let deadline_len = request
            .timeout_ms
            .map(|ms| Duration::from_millis(u64::from(ms)).min(self.limits.timeout))
            .unwrap_or(self.limits.timeout);
        let deadline = Instant::now() + deadline_len;
        let base_headers = guest_headers(self, &request.headers).map_err(HttpError::InvalidRequest)?;
        let mut method = method(request.method);
        let mut body = Some(body);
        let mut url_text = request.url;
        for _hop in 0..=MAX_REDIRECTS {
            let (url, origin) = self.grants.check_url(&url_text).map_err(|d| {
                tracing::warn!(plugin = %self.plugin, "outbound request denied: {}", d.0);
                HttpError::Denied(d.0)
            })?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(HttpError::InvalidRequest(format!("{} is not an http(s) URL", url.scheme())));
            }
            if self.grants.literal_denied(&url) {
                return Err(HttpError::Denied(format!("{} is a loopback, private or link-local address, which is not granted", url.host_str().unwrap_or_default())));
            }
            let mut headers = base_headers.clone();
            inject_credentials(self, &origin, &mut headers).map_err(|msg| {
                HttpError::Denied(msg)
            })?;
            let mut builder = self.client.client()?.request(method.clone(), url.clone()).headers(headers);
            // Audio is read again on every hop: a 307/308 redirect resends all of it.
            match &body {
                Some(Body::Bytes(bytes)) if !bytes.is_empty() => builder = builder.body(bytes.clone()),
                Some(Body::Audio(input)) => {
                    builder = builder
                        .header(reqwest::header::CONTENT_LENGTH, input.size)
                        .body(reqwest::Body::wrap_stream(input.stream()));
                }
                Some(Body::Form(fields)) => builder = builder.multipart(fields.form()?),
                _ => {}
            }
            let response = tokio::time::timeout_at(deadline, builder.send())
                .await
                .map_err(|_| HttpError::Timeout)?
                .map_err(|err| map_send_error(&err))?;
            let status = response.status();
            if let Some(next) = status.is_redirection().then(|| redirect_target(&url, response.headers())).flatten() {
                // 303, and 301/302 after a POST, become GET without a body (as browsers do).
                if status == StatusCode::SEE_OTHER
                    || (matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND) && method == ReqMethod::POST)
                {
                    method = ReqMethod::GET;
                    body = None;
                }
                url_text = next.to_string();
                continue;
            }
            if response.content_length().is_some_and(|len| len > self.limits.max_response_body) {
                return Err(HttpError::TooLarge(self.limits.max_response_body));
            }
            return Ok((response, deadline));
        }
        Err(HttpError::Connection(format!("more than {MAX_REDIRECTS} redirects")))
    }
}

/// A request body as the host sends it.
enum Body {
    Bytes(Vec<u8>),
    Audio(AudioInput),
    /// A form whose file is the call's audio (see [`form`]).
    Form(form::Fields),
}

fn redirect_target(current: &Url, headers: &HeaderMap) -> Option<Url> {
    let location = headers.get(LOCATION)?.to_str().ok()?;
    current.join(location).ok()
}

fn map_send_error(err: &reqwest::Error) -> HttpError {
    if let Some(denied) = denial_in(err) {
        return HttpError::Denied(denied);
    }
    if err.is_timeout() {
        return HttpError::Timeout;
    }
    HttpError::Connection(error_chain(err))
}

async fn read_response(
    response: reqwest::Response,
    deadline: Instant,
    cap: u64,
) -> Result<Response, HttpError> {
    let status = response.status().as_u16();
    let headers = response_headers(&response);
    let mut incoming = IncomingBody::new(response, deadline, cap);
    let mut body = Vec::new();
    while let Some(bytes) = incoming.next().await.map_err(body_error)? {
        body.extend_from_slice(&bytes);
    }
    Ok(Response { status, headers, body })
}

fn response_headers(response: &reqwest::Response) -> Vec<(String, String)> {
    response
        .headers()
        .iter()
        .take(MAX_RESPONSE_HEADERS)
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect()
}

fn body_error(err: BodyError) -> HttpError {
    match err {
        BodyError::Timeout => HttpError::Timeout,
        BodyError::TooLarge(cap) => HttpError::TooLarge(cap),
        BodyError::Connection(message) => HttpError::Connection(message),
    }
}

impl http::Host for HttpView<'_> {
    async fn send(&mut self, request: Request) -> wasmtime::Result<Result<Response, HttpError>> {
        let audio = self.audio.cloned();
        Ok(self.cpu.host_io(self.shared.send(request, audio)).await)
    }

    async fn open(&mut self, request: Request) -> wasmtime::Result<Result<StreamedResponse, HttpError>> {
        if self.state.open_bodies >= MAX_RESOURCES {
            return Ok(Err(HttpError::InvalidRequest(format!("more than {MAX_RESOURCES} open response bodies"))));
        }
        let audio = self.audio.cloned();
        let opened = self.cpu.host_io(self.shared.open(request, audio)).await;
        let (response, deadline) = match opened {
            Ok(opened) => opened,
            Err(err) => return Ok(Err(err)),
        };
        let status = response.status().as_u16();
        let headers = response_headers(&response);
        let body = self.table.push(IncomingBody::new(response, deadline, self.shared.limits.max_response_body))?;
        self.state.open_bodies += 1;
        Ok(Ok(StreamedResponse { status, headers, body }))
    }
}

impl http::HostIncomingBody for HttpView<'_> {
    async fn next(&mut self, body: Resource<IncomingBody>) -> wasmtime::Result<Result<Option<Vec<u8>>, HttpError>> {
        let body = self.table.get_mut(&body)?;
        let piece = self.cpu.host_io(body.next()).await;
        Ok(piece.map(|p| p.map(|b| b.to_vec())).map_err(body_error))
    }

    async fn drop(&mut self, body: Resource<IncomingBody>) -> wasmtime::Result<()> {
        self.table.delete(body)?;
        self.state.open_bodies = self.state.open_bodies.saturating_sub(1);
        Ok(())
    }
}
