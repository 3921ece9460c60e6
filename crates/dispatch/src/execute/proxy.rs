//! Proxy mode: a caller's own HTTP request, signed with a credential and sent on as it came,
//! under the rules of every call (methods, destination, audit before sending, deadline, cap).

use super::streams::{answer_headers, request_headers, AnswerBody, ProxyBody, UploadBody};
use super::*;
use http_body_util::BodyExt;
use hyper::Method;
use keyway_model::ProxyBaseUrl;
use std::sync::atomic::Ordering;

/// The largest answer proxy mode streams back unless the credential allows more.
pub const DEFAULT_PROXY_RESPONSE_BYTES: u64 = 1024 * 1024;

/// A caller's request in proxy mode.
#[derive(Debug)]
pub struct ProxyCall {
    pub method: Method,
    /// `Keyway-Upstream`, when the caller named the upstream itself.
    pub upstream: Option<String>,
    /// The rest of the caller's path after the credential ID, still percent-encoded.
    pub path: String,
    pub query: Option<String>,
    /// The caller's headers, all of them: what may go upstream is chosen here.
    pub headers: HeaderMap,
    pub body: ProxyBody,
    /// When Keyway began to receive the request: the call's deadline counts from here, so
    /// time spent reading a buffered body is part of the 16 s, not added to it.
    pub received: Instant,
}

/// The upstream's answer, its body still on its way.
#[derive(Debug)]
pub struct ProxyAnswer {
    pub status: hyper::StatusCode,
    pub headers: HeaderMap,
    /// The upstream's `Content-Length`, when it gave one (it is within the cap).
    pub length: Option<u64>,
    pub body: AnswerBody,
    pub attempts: u32,
}

impl Dispatcher {
    /// Runs `call` with credential `credential_id` for `caller` (a span of its own only at
    /// `debug`, as [`Dispatcher::run`]).
    #[tracing::instrument(level = "debug", skip_all, fields(credential_id = credential_id))]
    pub async fn proxy(
        &self,
        caller: &Caller,
        credential_id: &str,
        call: ProxyCall,
    ) -> Result<ProxyAnswer, DispatchError> {
        let started = call.received;
        let result = self.proxy_inner(caller, credential_id, call, started).await;
        let elapsed = started.elapsed().as_secs_f64();
        match &result {
            Ok((_, kind)) => self.metrics.observe("answered", kind, Some(elapsed)),
            Err((err, kind)) => self.metrics.observe(err.code(), kind, Some(elapsed)),
        }
        result.map(|(answer, _)| answer).map_err(|(err, _)| err)
    }

    async fn proxy_inner(
        &self,
        caller: &Caller,
        credential_id: &str,
        call: ProxyCall,
        started: Instant,
    ) -> Result<(ProxyAnswer, &'static str), (DispatchError, &'static str)> {
        let unknown = |err: DispatchError| (err, "unknown");
        // The method as the rule spells it (`get` becomes `GET`), never a look-alike.
        let method = RequestDefinition::check_method(call.method.as_str())
            .map_err(|e| unknown(DispatchError::Invalid(e)))?;
        let mut call = call;
        call.method = Method::from_bytes(method.as_bytes())
            .map_err(|_| unknown(invalid("method", "is not an HTTP method")))?;
        if let ProxyBody::Streaming(upload) = &call.body {
            if upload
                .length
                .is_some_and(|n| n > self.config.proxy_max_request_bytes)
            {
                return Err(unknown(DispatchError::BodyTooLarge(
                    self.config.proxy_max_request_bytes,
                )));
            }
        }
        let resolved = self
            .credentials
            .resolve(caller, credential_id)
            .await
            .map_err(|e| unknown(e.into()))?;
        let kind = resolved.row.kind.as_str();
        let url = upstream_url(&resolved, &call).map_err(|e| (e, kind))?;
        let host = self.net.check_host(&url).map_err(|e| (e.into(), kind))?;
        let mut trail = UseTrail::new(&self.audit, caller, &resolved, &host, None, started);
        if let Err(err) = self.refusal(&resolved, &url, &host).await {
            trail.refused(&err).await;
            return Err((err, kind));
        }
        // The use is on record before the signed call leaves, or the call does not leave.
        if let Err(failure) = trail.begin().await {
            let err = DispatchError::AuditUnavailable(failure);
            // Queued for when the log can be written again: the attempt was refused.
            trail.refused(&err).await;
            return Err((err, kind));
        }
        let result = self.proxy_signed(&resolved, url, call).await;
        trail
            .settle(match &result {
                Ok(answer) => Stage::Answered(answer.status.as_u16()),
                Err(err) => Stage::Failed(err.code()),
            })
            .await;
        result.map(|a| (a, kind)).map_err(|e| (e, kind))
    }

    async fn proxy_signed(
        &self,
        resolved: &Resolved,
        mut url: Url,
        call: ProxyCall,
    ) -> Result<ProxyAnswer, DispatchError> {
        let client = self.client_for(resolved)?;
        let deadline = tokio::time::Instant::from_std(call.received) + self.config.timeout;
        let cap = resolved
            .proxy
            .max_response_bytes
            .unwrap_or(DEFAULT_PROXY_RESPONSE_BYTES)
            .min(self.config.proxy_max_response_bytes);
        let mut headers = request_headers(call.headers);
        let bearer = match &resolved.material {
            Material::OAuth2 { .. } => Some(self.token(resolved, None).await?),
            _ => None,
        };
        sign(&resolved.material, bearer.as_ref(), &mut headers, &mut url)?;
        let uri: hyper::Uri = url
            .as_str()
            .parse()
            .map_err(|_| invalid("path", "is not a valid request target"))?;
        // A body read whole can be sent again after a refresh; a streamed one cannot.
        let replay = match &call.body {
            ProxyBody::Empty => Some(Bytes::new()),
            ProxyBody::Buffered(bytes) => Some(bytes.clone()),
            ProxyBody::Streaming(_) => None,
        };
        let (body, too_large) = match call.body {
            ProxyBody::Empty => (send::whole(Bytes::new()), None),
            ProxyBody::Buffered(bytes) => (send::whole(bytes), None),
            ProxyBody::Streaming(upload) => {
                let body = UploadBody::new(upload, self.config.proxy_max_request_bytes);
                let flag = body.too_large.clone();
                (body.boxed(), Some(flag))
            }
        };
        let request = |body, headers| {
            let mut request = hyper::Request::new(body);
            *request.method_mut() = call.method.clone();
            *request.uri_mut() = uri.clone();
            *request.headers_mut() = headers;
            request
        };
        // The headers are kept for a second attempt only when one can happen.
        let retry_headers = (bearer.is_some() && replay.is_some()).then(|| headers.clone());
        let first = self
            .exchange(&client, request(body, headers), deadline, cap)
            .await
            .map_err(|err| match too_large {
                Some(flag) if flag.load(Ordering::Relaxed) => {
                    DispatchError::BodyTooLarge(self.config.proxy_max_request_bytes)
                }
                _ => err,
            })?;
        // An OAuth call answered 401 is refreshed and retried once, if its body can be.
        let (mut answer, fresh) = match (&bearer, replay, retry_headers) {
            (Some(rejected), Some(body), Some(mut headers))
                if first.status == hyper::StatusCode::UNAUTHORIZED =>
            {
                drop(first);
                let fresh = self.token(resolved, Some(rejected)).await?;
                let mut url = url.clone();
                sign(&resolved.material, Some(&fresh), &mut headers, &mut url)?;
                let mut retry = self
                    .exchange(&client, request(send::whole(body), headers), deadline, cap)
                    .await?;
                retry.attempts = 2;
                (retry, Some(fresh))
            }
            _ => (first, None),
        };
        let encodings = answer
            .headers
            .get_all(hyper::header::CONTENT_ENCODING)
            .iter()
            .map(|value| value.as_bytes());
        if let Some(encoding) = crate::sign::encoded_answer(encodings) {
            return Err(DispatchError::EncodedAnswer(encoding));
        }
        // The headers now; the body as it streams, byte for byte (its length went ahead).
        let bearers: Vec<&SecretString> = bearer.iter().chain(fresh.iter()).collect();
        let secrets = crate::scrub::Secrets::of(&resolved.material, &bearers);
        secrets.scrub_headers(&mut answer.headers);
        answer.body.mask(crate::scrub::StreamMask::of(&secrets));
        Ok(answer)
    }

    /// Sends `request` and waits for the answer's head until `deadline`; the body follows.
    async fn exchange(
        &self,
        client: &CallClient,
        request: hyper::Request<keyway_net::CallBody>,
        deadline: tokio::time::Instant,
        cap: u64,
    ) -> Result<ProxyAnswer, DispatchError> {
        let head = request.method() == Method::HEAD;
        let response = tokio::time::timeout_at(deadline, client.request(request))
            .await
            .map_err(|_| DispatchError::Timeout(millis(self.config.timeout)))?
            .map_err(|e| DispatchError::from(keyway_net::classify_call(e)))?;
        let (parts, incoming) = response.into_parts();
        let length = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        // HEAD, 204 and 304 answers never carry the body their length describes.
        let bodiless = head
            || matches!(
                parts.status,
                hyper::StatusCode::NO_CONTENT | hyper::StatusCode::NOT_MODIFIED
            );
        if !bodiless && length.is_some_and(|n| n > cap) {
            return Err(DispatchError::TooLarge(
                usize::try_from(cap).unwrap_or(usize::MAX),
            ));
        }
        Ok(ProxyAnswer {
            status: parts.status,
            headers: answer_headers(parts.headers),
            length,
            body: AnswerBody::new(incoming, cap, deadline),
            attempts: 1,
        })
    }
}

/// Where the call goes: the caller's `Keyway-Upstream`, or else the credential's
/// `proxy_base_url`, with the caller's path and query appended.
fn upstream_url(resolved: &Resolved, call: &ProxyCall) -> Result<Url, DispatchError> {
    let base = match &call.upstream {
        Some(raw) => ProxyBaseUrl::parse("Keyway-Upstream", raw).map_err(DispatchError::Invalid)?,
        None => resolved.proxy.base_url.clone().ok_or_else(|| {
            invalid(
                "Keyway-Upstream",
                "name the upstream: send `Keyway-Upstream: https://api.example.com`, or set \
                 the credential's proxy_base_url",
            )
        })?,
    };
    base.join(&call.path, call.query.as_deref())
        .map_err(DispatchError::Invalid)
}
