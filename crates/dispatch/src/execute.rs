//! One call: fill in piped values, check the destination, sign, send, read the answer within
//! the limits, audit and count it.

use crate::sign::sign;
use crate::{AuditSink, DispatchError, DispatchMetrics};
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::CONTENT_LENGTH;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use keyway_credentials::{Credentials, Material, Resolved};
use keyway_model::template::{Context, Escape, HeaderError, Overflow, Renderer};
use keyway_model::{Caller, ContentType, Header, ParseError, RequestDefinition, Status};
use keyway_net::{CallClient, Net, TokenError, TokenSource};
use keyway_store::{now_ms, AuditAction, AuditOutcome, NewAuditEvent};
use secrecy::SecretString;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

mod prepare;
mod proxy;
mod send;
mod streams;
mod trail;

pub use proxy::{ProxyAnswer, ProxyCall, DEFAULT_PROXY_RESPONSE_BYTES};
pub use streams::{upload, AnswerBody, AnswerCut, ProxyBody, Upload, UploadCut, UploadSender};

use prepare::{invalid, Prepared};
use send::{millis, Answer};
pub(crate) use trail::abandoned_after;
use trail::{Stage, UseTrail};

#[derive(Debug, Clone)]
pub struct DispatchConfig {
    /// Per-call limit; a definition's `timeout_ms` may only lower it.
    pub timeout: Duration,
    pub max_response_bytes: usize,
    /// The rendered body's limit (1 MiB; may be configured lower, never higher).
    pub max_request_body_bytes: usize,
    /// Proxy mode: the largest request body streamed upstream.
    pub proxy_max_request_bytes: u64,
    /// Proxy mode: the most a credential's `max_response_bytes` may allow.
    pub proxy_max_response_bytes: u64,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(16),
            max_response_bytes: 1024 * 1024,
            max_request_body_bytes: MAX_REQUEST_BODY_BYTES,
            proxy_max_request_bytes: 64 * 1024 * 1024,
            proxy_max_response_bytes: keyway_model::proxy::DEFAULT_PROXY_RESPONSE_CAP,
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
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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

impl Dispatcher {
    pub fn new(
        credentials: Credentials,
        config: DispatchConfig,
        net: Arc<Net>,
        audit: AuditSink,
        metrics: DispatchMetrics,
    ) -> Self {
        Self {
            credentials,
            net,
            tokens: None,
            config,
            audit,
            metrics,
        }
    }

    /// Signs `oauth2` credentials with tokens from `source` (the OAuth client).
    pub fn with_token_source(mut self, source: Arc<dyn TokenSource>) -> Self {
        self.tokens = Some(source);
        self
    }

    pub fn config(&self) -> &DispatchConfig {
        &self.config
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Runs `definition` for `caller`. `web_service_id` is recorded in the audit trail.
    ///
    /// A span of its own only at `debug`: at the default level a span per call was a few per
    /// cent of the CPU under load, and the server records the credential on the request's
    /// span instead.
    #[tracing::instrument(level = "debug", skip_all, fields(credential_id = definition.credential_id.as_deref()))]
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
        let kind = resolved.row.kind.as_str();
        let mut trail = UseTrail::new(
            &self.audit,
            caller,
            &resolved,
            &prepared.host,
            web_service_id,
            started,
        );
        if let Err(err) = self.refusal(&resolved, &prepared.url, &prepared.host).await {
            self.metrics.observe(err.code(), kind, None);
            trail.refused(&err).await;
            return Err(err);
        }
        // The use is on record before the signed call leaves, or the call does not leave.
        if let Err(failure) = trail.begin().await {
            let err = DispatchError::AuditUnavailable(failure);
            self.metrics.observe(err.code(), kind, None);
            // Queued for when the log can be written again: the attempt was refused.
            trail.refused(&err).await;
            return Err(err);
        }
        let result = self.send_signed(&resolved, &prepared).await;
        let elapsed = started.elapsed();
        let outcome = result
            .as_ref()
            .map_or_else(DispatchError::code, |_| "answered");
        self.metrics
            .observe(outcome, kind, Some(elapsed.as_secs_f64()));
        trail.finish(&result).await;
        result.map(|r| r.finish(started))
    }

    /// Why the credential must not be sent to `url`, checked before anything is sent.
    pub(crate) async fn refusal(
        &self,
        resolved: &Resolved,
        url: &Url,
        host: &str,
    ) -> Result<(), DispatchError> {
        let row = &resolved.row;
        if matches!(
            row.status,
            Status::ReauthorizationRequired | Status::PendingAuthorization
        ) {
            return Err(DispatchError::NeedsReauthorization {
                credential_id: row.id.clone(),
            });
        }
        if !resolved.allowed_hosts.permits(host) {
            return Err(DispatchError::CredentialHostNotAllowed {
                host: host.to_owned(),
                allowed: resolved.allowed_hosts.as_slice().to_vec(),
            });
        }
        if url.scheme() == "http" && !resolved.allowed_hosts.permits_plain_http(host) {
            // The lookup waits for a resolver slot and the name's servers: never longer than
            // a call may take, so a name whose servers never answer cannot hold a request
            // (and, many at once, every other caller's lookups) past the contract's limit.
            let limit = self.config.timeout;
            let allowed = tokio::time::timeout(limit, self.net.on_allowed_network(url))
                .await
                .map_err(|_| DispatchError::Timeout(send::millis(limit)))??;
            if allowed {
                return Ok(());
            }
            return Err(DispatchError::InsecureDestination {
                host: host.to_owned(),
            });
        }
        Ok(())
    }

    async fn send_signed(
        &self,
        resolved: &Resolved,
        prepared: &Prepared,
    ) -> Result<Answer, DispatchError> {
        let client = self.client_for(resolved)?;
        let bearer = match &resolved.material {
            Material::OAuth2 { .. } => Some(self.token(resolved, None).await?),
            _ => None,
        };
        let mut answer = self
            .send(
                client.clone(),
                self.signed(resolved, bearer.as_ref(), prepared)?,
            )
            .await?;
        // An OAuth call answered 401 is refreshed and retried once.
        let fresh = match &bearer {
            Some(rejected) if answer.status == 401 => {
                let fresh = self.token(resolved, Some(rejected)).await?;
                answer = self
                    .send(client, self.signed(resolved, Some(&fresh), prepared)?)
                    .await?;
                answer.attempts = 2;
                Some(fresh)
            }
            _ => None,
        };
        let encodings = answer
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("content-encoding"))
            .map(|h| h.value.as_bytes());
        if let Some(encoding) = crate::sign::encoded_answer(encodings) {
            return Err(DispatchError::EncodedAnswer(encoding));
        }
        let bearers: Vec<&SecretString> = bearer.iter().chain(fresh.iter()).collect();
        answer.scrub(&crate::scrub::Secrets::of(&resolved.material, &bearers));
        Ok(answer)
    }

    /// The client a call with this credential goes out on: with its mTLS identity, if it has
    /// one (cached per worker thread and secret version).
    pub(crate) fn client_for(&self, resolved: &Resolved) -> Result<CallClient, DispatchError> {
        let row = &resolved.row;
        Ok(match &resolved.mtls {
            Some(identity) => {
                self.net
                    .clients()
                    .with_identity(&row.id, row.secret_version, identity)?
            }
            None => self.net.calls(),
        })
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
                TokenError::Storage(err) => DispatchError::Credential(err),
            })
    }
}
