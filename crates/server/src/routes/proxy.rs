//! `ANY /v1/proxy/{credential_id}/{rest}`: proxy mode. The caller's request goes upstream as
//! it came, signed with the credential, and the upstream's answer comes back as it is, both
//! bodies streamed. Keyway's own refusals carry a `Keyway-Error` header naming their code, so
//! a client can tell them from the upstream's answers.

use actix_web::body::{BodyStream, SizedStream};
use actix_web::http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, TRANSFER_ENCODING};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use bytes::Bytes;
use futures_util::StreamExt;
use keyway_dispatch::{http, ProxyBody, ProxyCall};
use std::time::Duration;

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::AppState;

/// A request body up to this size is read whole before it is sent, so an OAuth call
/// answered 401 can be sent again with a fresh token; a larger one is streamed, once.
const REPLAYABLE_BODY_BYTES: u64 = 64 * 1024;

/// The header that names Keyway's error code on Keyway's own failures.
pub const KEYWAY_ERROR: &str = "keyway-error";

/// Keyway's failure in proxy mode: the contract's error, plus `Keyway-Error: code`.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ProxyError(#[from] ApiError);

impl ResponseError for ProxyError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = self.0.error_response();
        response.headers_mut().insert(
            HeaderName::from_static(KEYWAY_ERROR),
            HeaderValue::from_static(self.0.code()),
        );
        response
    }
}

impl From<keyway_dispatch::DispatchError> for ProxyError {
    fn from(err: keyway_dispatch::DispatchError) -> Self {
        ProxyError(err.into())
    }
}

#[utoipa::path(method(get, post, put, patch, delete, options), path = "/v1/proxy/{credential_id}/{rest}", operation_id = "proxy", summary = "Send any HTTP request through Keyway, signed with a credential (proxy mode)", tag = "proxy", security(("bearer" = [])),
    description = "The method, the rest of the path, the query, the headers (minus hop-by-hop ones, `Authorization`, `Cookie` and `Keyway-*`) and the body go to the upstream named by `Keyway-Upstream` or the credential's `proxy_base_url`, signed with the credential; the upstream's status, headers (minus `Set-Cookie`) and body come back as they are, streamed. Keyway's own failures have the contract's error shape and a `Keyway-Error` header with the code.",
    params(("credential_id" = String, Path, description = "The credential to sign with"),
           ("rest" = String, Path, description = "The path to append to the upstream's base"),
           ("Keyway-Upstream" = Option<String>, Header, description = "The upstream's base URL, e.g. https://api.example.com (else the credential's proxy_base_url)")),
    responses((status = "default", description = "The upstream's answer as it came, or Keyway's own error (with a `Keyway-Error` header)")))]
pub async fn proxy(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ProxyError> {
    let received = std::time::Instant::now();
    let Authenticated(caller) =
        Authenticated::from_request(&req, &mut actix_web::dev::Payload::None).await?;
    let (credential_id, path) = split_path(req.uri().path())?;
    tracing::Span::current().record("credential_id", credential_id);
    let call = ProxyCall {
        method: http::Method::from_bytes(req.method().as_str().as_bytes())
            .map_err(|_| ApiError::invalid(Some("method"), "is not an HTTP method"))?,
        upstream: req
            .headers()
            .get("keyway-upstream")
            .map(|v| {
                v.to_str()
                    .map(str::to_owned)
                    .map_err(|_| ApiError::invalid(Some("Keyway-Upstream"), "must be an ASCII URL"))
            })
            .transpose()?,
        path: path.to_owned(),
        query: req.uri().query().map(str::to_owned),
        headers: headers_in(&req),
        body: body_of(&req, payload.into_inner(), &state).await?,
        received,
    };
    let answer = state.dispatcher.proxy(&caller, credential_id, call).await?;
    let status = actix_web::http::StatusCode::from_u16(answer.status.as_u16())
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    let mut response = HttpResponse::build(status);
    for (name, value) in &answer.headers {
        if name == http::header::CONTENT_LENGTH {
            continue; // the body below says its length
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            response.append_header((name, value));
        }
    }
    // HEAD: the upstream's length if it gave one, no body (actix sends none for HEAD).
    Ok(match answer.length {
        Some(length) => response.body(SizedStream::new(length, answer.body)),
        None => response.body(BodyStream::new(answer.body)),
    })
}

/// The credential ID and the raw rest of the path (still percent-encoded, `/…` or empty).
fn split_path(path: &str) -> Result<(&str, &str), ApiError> {
    let tail = path
        .strip_prefix("/v1/proxy/")
        .ok_or(ApiError::NotFound("no such endpoint"))?;
    let (id, rest) = tail.split_at(tail.find('/').unwrap_or(tail.len()));
    if id.is_empty() {
        return Err(ApiError::NotFound("name a credential: /v1/proxy/{id}/..."));
    }
    Ok((id, rest))
}

/// The caller's headers in hyper's types; which of them go upstream is dispatch's rule.
fn headers_in(req: &HttpRequest) -> http::HeaderMap {
    let mut headers = http::HeaderMap::with_capacity(req.headers().len());
    for (name, value) in req.headers() {
        if let (Ok(name), Ok(value)) = (
            http::header::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::header::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(name, value);
        }
    }
    headers
}

/// No body, a small one read whole, or a stream fed from the caller's connection by a task
/// of this worker (the payload cannot leave its thread) through a small bounded channel.
async fn body_of(
    req: &HttpRequest,
    mut payload: actix_web::dev::Payload,
    state: &AppState,
) -> Result<ProxyBody, ApiError> {
    let length = match req.headers().get(CONTENT_LENGTH) {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| ApiError::invalid(Some("Content-Length"), "is not a number"))?,
        ),
        None => None,
    };
    let chunked = req.headers().contains_key(TRANSFER_ENCODING);
    match length {
        Some(0) => return Ok(ProxyBody::Empty),
        None if !chunked => return Ok(ProxyBody::Empty),
        // The API's bounded reader: its limit, its 10 s arrival timeout, a wiped buffer.
        Some(n) if n <= REPLAYABLE_BODY_BYTES => {
            let body =
                crate::body::read_limited(req, payload, REPLAYABLE_BODY_BYTES as usize).await?;
            return Ok(ProxyBody::Buffered(Bytes::copy_from_slice(&body)));
        }
        _ => {}
    }
    let (sender, upload) = keyway_dispatch::upload(length);
    // The pump ends with the call: a caller that stops sending, or an upstream that stops
    // reading, cannot keep it (and the connection's buffers) alive past the deadline.
    let deadline = state.dispatcher.config().timeout + Duration::from_secs(1);
    actix_web::rt::spawn(async move {
        let pump = async {
            while let Some(chunk) = payload.next().await {
                match chunk {
                    Ok(chunk) => {
                        if !sender.send(chunk).await {
                            return;
                        }
                    }
                    Err(_) => {
                        sender.clone().cut();
                        return;
                    }
                }
            }
        };
        if actix_web::rt::time::timeout(deadline, pump).await.is_err() {
            sender.cut();
        }
    });
    Ok(ProxyBody::Streaming(upload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_splits_into_credential_and_rest() {
        assert_eq!(
            split_path("/v1/proxy/abc/x/y%2Fz").unwrap(),
            ("abc", "/x/y%2Fz")
        );
        assert_eq!(split_path("/v1/proxy/abc").unwrap(), ("abc", ""));
        assert_eq!(split_path("/v1/proxy/abc/").unwrap(), ("abc", "/"));
        assert!(split_path("/v1/proxy//x").is_err());
    }
}
