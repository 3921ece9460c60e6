//! The client of dispatched calls: hyper's pooled HTTP/1.1 client with our TLS configuration
//! and a connector whose name resolution goes through the vetting resolver. Leaner per call
//! than reqwest, which the OAuth client's occasional token calls still use.

use crate::resolver::{VetError, VettingResolver};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::ClientConfig;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Why a request body could not be sent on (proxy mode's streamed bodies).
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// Any request body: a whole one for dispatched calls, a stream in proxy mode.
pub type CallBody = BoxBody<Bytes, BodyError>;

pub type CallClient = Client<hyper_rustls::HttpsConnector<HttpConnector<Vetted>>, CallBody>;

/// The vetting resolver as the tower service hyper's connector wants.
#[derive(Debug, Clone)]
pub struct Vetted(VettingResolver);

impl tower_service::Service<Name> for Vetted {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = VetError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, VetError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), VetError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let resolver = self.0.clone();
        Box::pin(async move {
            let ips = resolver.vet(name.as_str()).await?;
            Ok(ips
                .into_iter()
                .map(|ip| SocketAddr::new(ip, 0))
                .collect::<Vec<_>>()
                .into_iter())
        })
    }
}

/// `tls` must not set ALPN protocols: the builder adds `http/1.1` itself (and asserts that
/// none were set before).
pub fn build(resolver: &VettingResolver, mut tls: ClientConfig) -> CallClient {
    tls.alpn_protocols.clear();
    let mut http = HttpConnector::new_with_resolver(Vetted(resolver.clone()));
    // https URLs go to the TLS layer; this only says the TCP layer may serve them.
    http.enforce_http(false);
    http.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(https)
}
