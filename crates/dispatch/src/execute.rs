//! One call: fill in piped values, check the destination, sign, send, read the answer within
//! the limits, audit and count it.

use crate::hyper_client::CallClient;
use crate::net::Net;
use crate::resolver::VetError;
use crate::sign::sign;
use crate::template::{Context, Escape, HeaderError, Overflow, Renderer};
use crate::{AuditSink, DispatchError, DispatchMetrics};
use crate::{TokenError, TokenSource};
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use keyway_credentials::{Credentials, Material, Resolved};
use keyway_model::{Caller, ContentType, Header, ParseError, RequestDefinition, Status};
use keyway_store::{now_ms, AuditAction, AuditOutcome, NewAuditEvent};
use reqwest::header::CONTENT_LENGTH;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use secrecy::SecretString;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

#[derive(Debug, Clone)]
pub struct DispatchConfig {
    /// Per-call limit; a definition's `timeout_ms` may only lower it.
    pub timeout: Duration,
    pub max_response_bytes: usize,
    /// The rendered body's limit (1 MiB; may be configured lower, never higher).
    pub max_request_body_bytes: usize,
    pub allow_networks: Vec<ipnet::IpNet>,
    pub extra_ca_pem: Option<String>,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(16),
            max_response_bytes: 1024 * 1024,
            max_request_body_bytes: MAX_REQUEST_BODY_BYTES,
            allow_networks: Vec::new(),
            extra_ca_pem: None,
        }
    }
}

/// The largest rendered body the contract allows.
pub const MAX_REQUEST_BODY_BYTES: usize = 1024 * 1024;
/// The rendered URL's limit.
pub const MAX_URL_BYTES: usize = 8 * 1024;
/// All rendered header values together.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// The contract's call result: whatever the upstream answered.
#[derive(Debug, Clone, Serialize)]
pub struct CallResult {
    pub status: u16,
    pub headers: Vec<Header>,
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<String>,
    pub json: Option<serde_json::Value>,
    pub duration_ms: u64,
    pub attempts: u32,
}

#[derive(Debug)]
pub struct Dispatcher {
    credentials: Credentials,
    net: Arc<Net>,
    tokens: Option<Arc<dyn TokenSource>>,
    config: DispatchConfig,
    audit: AuditSink,
    metrics: DispatchMetrics,
}

/// A call ready to send, secrets included; never logged.
struct Prepared {
    method: reqwest::Method,
    url: Url,
    host: String,
    headers: HeaderMap,
    body: Option<String>,
    timeout: Duration,
}

impl Dispatcher {
    pub fn new(
        credentials: Credentials,
        config: DispatchConfig,
        net: Arc<Net>,
        audit: AuditSink,
        metrics: DispatchMetrics,
    ) -> Result<Self, String> {
        Ok(Self {
            credentials,
            net,
            tokens: None,
            config,
            audit,
            metrics,
        })
    }

    /// Signs `oauth2` credentials with tokens from `source` (the OAuth client).
    pub fn with_token_source(mut self, source: Arc<dyn TokenSource>) -> Self {
        self.tokens = Some(source);
        self
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Runs `definition` for `caller`. `web_service_id` is recorded in the audit trail.
    #[tracing::instrument(skip_all, fields(credential_id = definition.credential_id.as_deref()))]
    pub async fn run(
        &self,
        caller: &Caller,
        definition: &RequestDefinition,
        context: &Context,
        strict: bool,
        web_service_id: Option<&str>,
    ) -> Result<CallResult, DispatchError> {
        let started = Instant::now();
        let prepared = match self.prepare(definition, context, strict) {
            Ok(p) => p,
            Err(err) => {
                self.metrics.observe(err.code(), "none", None);
                return Err(err);
            }
        };
        let Some(credential_id) = definition.credential_id.as_deref() else {
            let result = self.send(self.net.calls(), prepared).await;
            let upstream = started.elapsed().as_secs_f64();
            let outcome = result
                .as_ref()
                .map_or_else(DispatchError::code, |_| "answered");
            self.metrics.observe(outcome, "none", Some(upstream));
            return result.map(|r| r.finish(started));
        };
        let resolved = match self.credentials.resolve(caller, credential_id).await {
            Ok(r) => r,
            Err(err) => {
                let err = DispatchError::from(err);
                self.metrics.observe(err.code(), "unknown", None);
                return Err(err);
            }
        };
        let kind = resolved.row.kind.clone();
        let mut trail = UseTrail {
            audit: &self.audit,
            caller,
            resolved: &resolved,
            host: &prepared.host,
            web_service_id,
            call_id: call_id(),
            started,
            finished: false,
        };
        if let Err(err) = self.refusal(&resolved, &prepared).await {
            self.metrics.observe(err.code(), &kind, None);
            trail.refused(&err).await;
            return Err(err);
        }
        // The use is on record before the signed call leaves, or the call does not leave.
        if let Err(failure) = self.audit.commit(trail.event(Stage::Started)).await {
            let err = DispatchError::AuditUnavailable(failure);
            self.metrics.observe(err.code(), &kind, None);
            return Err(err);
        }
        let result = self.send_signed(&resolved, &prepared).await;
        let elapsed = started.elapsed();
        let outcome = result
            .as_ref()
            .map_or_else(DispatchError::code, |_| "answered");
        self.metrics
            .observe(outcome, &kind, Some(elapsed.as_secs_f64()));
        trail.finish(&result).await;
        result.map(|r| r.finish(started))
    }

    /// Why the credential must not be sent with this call, checked before anything is sent.
    async fn refusal(&self, resolved: &Resolved, prepared: &Prepared) -> Result<(), DispatchError> {
        let row = &resolved.row;
        if matches!(
            Status::parse(&row.status),
            Some(Status::ReauthorizationRequired | Status::PendingAuthorization)
        ) {
            return Err(DispatchError::NeedsReauthorization {
                credential_id: row.id.clone(),
            });
        }
        if !resolved.allowed_hosts.permits(&prepared.host) {
            return Err(DispatchError::CredentialHostNotAllowed {
                host: prepared.host.clone(),
                allowed: resolved.allowed_hosts.as_slice().to_vec(),
            });
        }
        if prepared.url.scheme() == "http"
            && !resolved.allowed_hosts.permits_plain_http(&prepared.host)
            && !self.net.on_allowed_network(&prepared.url).await?
        {
            return Err(DispatchError::InsecureDestination {
                host: prepared.host.clone(),
            });
        }
        Ok(())
    }

    async fn send_signed(
        &self,
        resolved: &Resolved,
        prepared: &Prepared,
    ) -> Result<Answer, DispatchError> {
        let row = &resolved.row;
        let client = match &resolved.mtls {
            Some(identity) => self
                .net
                .with_identity(&row.id, row.secret_version, identity)?,
            None => self.net.calls(),
        };
        let bearer = match &resolved.material {
            Material::OAuth2 { .. } => Some(self.token(resolved, None).await?),
            _ => None,
        };
        let answer = self
            .send(
                client.clone(),
                self.signed(resolved, bearer.as_ref(), prepared)?,
            )
            .await?;
        // An OAuth call answered 401 is refreshed and retried once.
        match bearer {
            Some(rejected) if answer.status == 401 => {
                let fresh = self.token(resolved, Some(&rejected)).await?;
                let mut retry = self
                    .send(client, self.signed(resolved, Some(&fresh), prepared)?)
                    .await?;
                retry.attempts = 2;
                Ok(retry)
            }
            _ => Ok(answer),
        }
    }

    fn signed(
        &self,
        resolved: &Resolved,
        bearer: Option<&SecretString>,
        prepared: &Prepared,
    ) -> Result<Prepared, DispatchError> {
        let mut signed = Prepared {
            method: prepared.method.clone(),
            url: prepared.url.clone(),
            host: prepared.host.clone(),
            headers: prepared.headers.clone(),
            body: prepared.body.clone(),
            timeout: prepared.timeout,
        };
        sign(
            &resolved.material,
            bearer,
            &mut signed.headers,
            &mut signed.url,
        )?;
        Ok(signed)
    }

    async fn token(
        &self,
        resolved: &Resolved,
        rejected: Option<&SecretString>,
    ) -> Result<SecretString, DispatchError> {
        let source = self.tokens.as_ref().ok_or_else(|| {
            DispatchError::TokenUnavailable("this server has no OAuth client configured".into())
        })?;
        source
            .access_token(resolved, rejected)
            .await
            .map_err(|e| match e {
                TokenError::NeedsReauthorization => DispatchError::NeedsReauthorization {
                    credential_id: resolved.row.id.clone(),
                },
                TokenError::Unavailable(why) => DispatchError::TokenUnavailable(why),
            })
    }

    fn prepare(
        &self,
        definition: &RequestDefinition,
        context: &Context,
        strict: bool,
    ) -> Result<Prepared, DispatchError> {
        let mut renderer = Renderer::new(context);
        // Each part is limited while it is rendered, so a small template and a large value
        // cannot make Keyway build (or send) a huge request.
        let raw_url = renderer
            .render_within(&definition.url, Escape::Url, MAX_URL_BYTES, "url")
            .map_err(DispatchError::RenderedTooLarge)?
            .into_owned();
        let mut headers = HeaderMap::with_capacity(definition.headers.len() + 2);
        let mut header_budget = MAX_HEADER_BYTES;
        for h in &definition.headers {
            let value = renderer
                .render_header(&h.name, &h.value, header_budget)
                .map_err(|e| match e {
                    HeaderError::Injection(inj) => DispatchError::HeaderInjection(inj),
                    HeaderError::Overflow(_) => DispatchError::RenderedTooLarge(Overflow {
                        part: "header values",
                        limit: MAX_HEADER_BYTES,
                    }),
                })?;
            // render_header kept the value within the budget.
            header_budget = header_budget.saturating_sub(value.len());
            let name = HeaderName::from_bytes(h.name.as_bytes())
                .map_err(|_| invalid("headers", format!("`{}` is not a header name", h.name)))?;
            let value = HeaderValue::from_bytes(value.as_bytes()).map_err(|_| {
                invalid(
                    "headers",
                    format!("the value of {} is not a valid header value", h.name),
                )
            })?;
            headers.append(name, value);
        }
        let body = match (&definition.body, definition.content_type) {
            (Some(body), Some(ct)) => {
                let escape = match ct {
                    ContentType::Json => Escape::Json,
                    ContentType::Xml => Escape::Xml,
                    ContentType::Urlencoded => Escape::Form,
                    ContentType::Text => Escape::Text,
                };
                if !headers.contains_key(CONTENT_TYPE) {
                    headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct.mime()));
                }
                let limit = self
                    .config
                    .max_request_body_bytes
                    .min(MAX_REQUEST_BODY_BYTES);
                Some(
                    renderer
                        .render_within(body, escape, limit, "body")
                        .map_err(DispatchError::RenderedTooLarge)?
                        .into_owned(),
                )
            }
            (Some(_), None) => {
                return Err(invalid("content_type", "a body needs a content_type"));
            }
            (None, _) => None,
        };
        if strict && !renderer.missing.is_empty() {
            return Err(DispatchError::MissingContext(
                renderer.missing.into_iter().collect(),
            ));
        }
        let url = Url::parse(&raw_url).map_err(|e| {
            invalid(
                "url",
                format!("with the piped values filled in, the URL is not valid: {e}"),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("url", "must be an http:// or https:// URL"));
        }
        let host = self.net.check_host(&url)?;
        // Checked again here: a definition stored before the method rule may name another.
        let method = RequestDefinition::check_method(&definition.method)
            .map_err(DispatchError::Invalid)
            .and_then(|m| {
                reqwest::Method::from_bytes(m.as_bytes())
                    .map_err(|_| invalid("method", "is not an HTTP method"))
            })?;
        let timeout = definition
            .timeout_ms
            .map(Duration::from_millis)
            .map_or(self.config.timeout, |t| t.min(self.config.timeout));
        Ok(Prepared {
            method,
            url,
            host,
            headers,
            body,
            timeout,
        })
    }

    async fn send(&self, client: CallClient, call: Prepared) -> Result<Answer, DispatchError> {
        let timeout = call.timeout;
        let limit = self.config.max_response_bytes;
        let uri: hyper::Uri = call
            .url
            .as_str()
            .parse()
            .map_err(|_| invalid("url", "is not a valid request target"))?;
        let body = Full::new(call.body.map(Bytes::from).unwrap_or_default());
        let mut request = hyper::Request::new(body);
        *request.method_mut() = call.method;
        *request.uri_mut() = uri;
        *request.headers_mut() = call.headers;
        let exchange = async move {
            let response = client.request(request).await.map_err(classify_call)?;
            let declared = response
                .headers()
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > limit as u64) {
                return Err(DispatchError::TooLarge(limit));
            }
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(k, v)| Header::new(k.as_str(), String::from_utf8_lossy(v.as_bytes())))
                .collect();
            let is_json = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .and_then(ContentType::from_mime)
                == Some(ContentType::Json);
            let mut incoming = response.into_body();
            let mut body = Vec::new();
            while let Some(frame) = incoming.frame().await {
                let frame = frame.map_err(|e| classify_io(&e).unwrap_or_else(cut_off))?;
                if let Ok(chunk) = frame.into_data() {
                    if body.len() + chunk.len() > limit {
                        return Err(DispatchError::TooLarge(limit));
                    }
                    body.extend_from_slice(&chunk);
                }
            }
            Ok(Answer {
                status,
                headers,
                body,
                is_json,
                attempts: 1,
            })
        };
        // One deadline for connecting, sending and reading the whole answer.
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(DispatchError::Timeout(0)))
            .map_err(|e| match e {
                DispatchError::Timeout(_) => DispatchError::Timeout(millis(timeout)),
                other => other,
            })
    }
}

/// The audit trail of one use: `credential.use` (committed before the call leaves, or
/// `refused`), then `credential.use.result` with the outcome. If the caller goes away
/// mid-call, the result is written as `abandoned` when the call is dropped.
struct UseTrail<'a> {
    audit: &'a AuditSink,
    caller: &'a Caller,
    resolved: &'a Resolved,
    host: &'a str,
    web_service_id: Option<&'a str>,
    /// Ties the use to its result.
    call_id: String,
    started: Instant,
    finished: bool,
}

/// The audit detail of a credential use; never bodies or secrets.
#[derive(Serialize)]
struct UseDetail<'a> {
    call_id: &'a str,
    host: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    web_service_id: Option<&'a str>,
}

/// A call ID unique across replicas without asking the OS for randomness on every call: a
/// random prefix per process and a counter.
fn call_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static PREFIX: OnceLock<String> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_owned());
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Where a use stands; decides the event's action, outcome and detail.
#[derive(Clone, Copy)]
enum Stage {
    /// About to be sent: committed before it leaves.
    Started,
    /// Refused before anything was sent, with the error code.
    Refused(&'static str),
    /// The upstream answered with this status.
    Answered(u16),
    /// No answer, with the error code.
    Failed(&'static str),
    /// Dropped midway (the caller's future went away).
    Abandoned,
}

impl Stage {
    fn action(self) -> AuditAction {
        match self {
            Stage::Started | Stage::Refused(_) => AuditAction::CredentialUse,
            _ => AuditAction::CredentialUseResult,
        }
    }

    fn outcome(self) -> AuditOutcome {
        match self {
            Stage::Started => AuditOutcome::Started,
            Stage::Refused(_) => AuditOutcome::Refused,
            Stage::Answered(_) => AuditOutcome::Success,
            Stage::Failed(_) => AuditOutcome::Failure,
            Stage::Abandoned => AuditOutcome::Abandoned,
        }
    }
}

impl UseTrail<'_> {
    fn event(&self, stage: Stage) -> NewAuditEvent {
        let detail = UseDetail {
            call_id: &self.call_id,
            host: self.host,
            duration_ms: (!matches!(stage, Stage::Started)).then(|| millis(self.started.elapsed())),
            status: match stage {
                Stage::Answered(status) => Some(status),
                _ => None,
            },
            error: match stage {
                Stage::Refused(code) | Stage::Failed(code) => Some(code),
                Stage::Abandoned => Some("caller_gone"),
                _ => None,
            },
            web_service_id: self.web_service_id,
        };
        let row = &self.resolved.row;
        let event = NewAuditEvent::new(stage.action(), stage.outcome())
            .by(Some(&self.caller.user_id), &self.caller.user_name)
            .on(&row.org_id, &row.id, &row.owner_id)
            // The time of the call, not of the batched write.
            .at(now_ms());
        match serde_json::to_string(&detail) {
            Ok(json) => event.detail(json),
            Err(_) => event,
        }
    }

    async fn refused(&mut self, err: &DispatchError) {
        self.finished = true;
        self.audit
            .record(self.event(Stage::Refused(err.code())))
            .await;
    }

    async fn finish(&mut self, result: &Result<Answer, DispatchError>) {
        self.finished = true;
        let stage = match result {
            Ok(answer) => Stage::Answered(answer.status),
            Err(err) => Stage::Failed(err.code()),
        };
        self.audit.record(self.event(stage)).await;
    }
}

impl Drop for UseTrail<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.audit.record_now(self.event(Stage::Abandoned));
        }
    }
}

struct Answer {
    status: u16,
    headers: Vec<Header>,
    body: Vec<u8>,
    is_json: bool,
    attempts: u32,
}

impl Answer {
    fn finish(self, started: Instant) -> CallResult {
        let (body, body_base64) = match String::from_utf8(self.body) {
            Ok(text) => (Some(text), None),
            Err(e) => (
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(e.as_bytes())),
            ),
        };
        let json = match (&body, self.is_json) {
            (Some(text), true) => serde_json::from_str(text).ok(),
            _ => None,
        };
        CallResult {
            status: self.status,
            headers: self.headers,
            body,
            body_base64,
            json,
            duration_ms: millis(started.elapsed()),
            attempts: self.attempts,
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn invalid(field: &'static str, message: impl Into<String>) -> DispatchError {
    DispatchError::Invalid(ParseError::new(field, message))
}

/// A failed call through hyper, in the contract's terms (same causes as [`classify`]).
fn classify_call(err: hyper_util::client::legacy::Error) -> DispatchError {
    classify_vet(&err)
        .or_else(|| classify_io(&err))
        .unwrap_or_else(unanswered)
}

fn unanswered() -> DispatchError {
    DispatchError::Unreachable("the connection failed or the response was not valid HTTP".into())
}

fn classify_vet(err: &(dyn std::error::Error + 'static)) -> Option<DispatchError> {
    find::<VetError>(err).map(DispatchError::from)
}

fn classify_io(err: &(dyn std::error::Error + 'static)) -> Option<DispatchError> {
    if let Some(tls) = find::<rustls::Error>(err) {
        return Some(DispatchError::Unreachable(format!(
            "TLS handshake failed: {tls}"
        )));
    }
    let io = find::<std::io::Error>(err)?;
    Some(DispatchError::Unreachable(match io.kind() {
        std::io::ErrorKind::ConnectionRefused => "the connection was refused".into(),
        std::io::ErrorKind::ConnectionReset => "the connection was reset".into(),
        std::io::ErrorKind::TimedOut => return Some(DispatchError::Timeout(0)),
        kind => format!("the connection failed ({kind})"),
    }))
}

fn cut_off() -> DispatchError {
    DispatchError::Unreachable("the response was cut off or malformed".into())
}

/// Turns reqwest's error (the OAuth client's token calls) into the contract's, from what is in
/// its cause chain. reqwest's own text is never used: it contains the URL, which may carry an
/// API key.
pub(crate) fn classify(err: reqwest::Error) -> DispatchError {
    if err.is_timeout() {
        return DispatchError::Timeout(0);
    }
    if let Some(known) = classify_vet(&err).or_else(|| classify_io(&err)) {
        return known;
    }
    if err.is_body() || err.is_decode() {
        return cut_off();
    }
    unanswered()
}

/// The first `T` in `err`'s cause chain, also looking inside `io::Error`s (whose `source`
/// skips the error they wrap).
fn find<'e, T: std::error::Error + 'static>(
    err: &'e (dyn std::error::Error + 'static),
) -> Option<&'e T> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            if let Some(found) = find::<T>(inner) {
                return Some(found);
            }
        }
        current = e.source();
    }
    None
}
