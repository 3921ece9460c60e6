//! The HTTP client of token calls: the dispatcher's destination policy and vetted resolver,
//! no redirects, a timeout, a size cap, and no body ever logged.

use keyway_net::Net;
use oauth2::{AsyncHttpClient, HttpRequest, HttpResponse};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Token responses are small; anything bigger is refused.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub struct TokenHttp {
    net: Arc<Net>,
    timeout: Duration,
}

/// Why a token call got no answer, safe to show (never the URL or a body).
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Unreachable(String),
    #[error("the provider answered HTTP {0}")]
    ServerError(u16),
    #[error("the provider's answer is larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
}

impl HttpError {
    /// Worth retrying: the provider may answer next time.
    pub fn is_transient(&self) -> bool {
        matches!(self, HttpError::Unreachable(_) | HttpError::ServerError(_))
    }
}

impl TokenHttp {
    pub fn new(net: Arc<Net>, timeout: Duration) -> Self {
        Self { net, timeout }
    }

    fn unreachable(&self, err: reqwest::Error) -> HttpError {
        HttpError::Unreachable(match keyway_net::classify_reqwest(err) {
            keyway_net::NetError::Timeout => format!(
                "the provider did not answer within {} ms",
                self.timeout.as_millis()
            ),
            other => other.to_string(),
        })
    }

    pub async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let url = request.uri().to_string();
        self.net
            .vet_url(&url)
            .await
            .map_err(|e| HttpError::Refused(e.to_string()))?;
        let (parts, body) = request.into_parts();
        let call = self
            .net
            .plain()
            .request(parts.method, url)
            .headers(parts.headers)
            .body(body)
            .timeout(self.timeout);
        let mut response = call.send().await.map_err(|e| self.unreachable(e))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(HttpError::ServerError(status.as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
        {
            return Err(HttpError::TooLarge);
        }
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.unreachable(e))? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(HttpError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let mut out = HttpResponse::new(body);
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        Ok(out)
    }
}

impl<'c> AsyncHttpClient<'c> for TokenHttp {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}
