//! Real upstream servers on loopback for dispatch tests: plain HTTP, TLS and mutual TLS with
//! certificates generated at test time. Each records exactly what it received.

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// What the upstream saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query exactly as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The client certificate's subject common name, for mTLS.
    pub client_cn: Option<String>,
    /// The client's end of the connection: the same for requests on one kept-alive connection.
    pub peer: SocketAddr,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A CA and the PEM texts tests hand to Keyway.
pub struct Pki {
    pub ca_pem: String,
    ca_params: CertificateParams,
    ca_key: KeyPair,
}

pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl Pki {
    pub fn new(name: &str) -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        ca_params.distinguished_name = dn;
        let ca = ca_params.self_signed(&ca_key).unwrap();
        Self {
            ca_pem: ca.pem(),
            ca_params,
            ca_key,
        }
    }

    pub fn leaf(&self, cn: &str, sans: &[&str]) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        params.distinguished_name = dn;
        let issuer = Issuer::from_params(&self.ca_params, &self.ca_key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }

    fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        let der = CertificateDer::from_pem_slice(self.ca_pem.as_bytes()).unwrap();
        roots.add(der).unwrap();
        roots
    }
}

use rustls::pki_types::pem::PemObject;

pub enum Tls<'a> {
    Plain,
    /// Server certificate only.
    Server(&'a Leaf),
    /// Server certificate, and client certificates must chain to `clients`.
    Mutual(&'a Leaf, &'a Pki),
}

pub struct Upstream {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    pub async fn start(tls: Tls<'_>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let acceptor = match tls {
            Tls::Plain => None,
            Tls::Server(leaf) => Some(server_config(leaf, None)),
            Tls::Mutual(leaf, clients) => Some(server_config(leaf, Some(clients))),
        }
        .map(|c| tokio_rustls::TlsAcceptor::from(Arc::new(c)));
        let record = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, peer)) = listener.accept().await else {
                    return;
                };
                let record = record.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match acceptor {
                        None => serve(TokioIo::new(tcp), record, None, peer).await,
                        Some(acceptor) => {
                            let Ok(stream) = acceptor.accept(tcp).await else {
                                return;
                            };
                            let cn = stream
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(|c| c.first())
                                .map(|der| common_name(der));
                            serve(TokioIo::new(stream), record, cn, peer).await
                        }
                    }
                });
            }
        });
        Self { addr, seen, task }
    }

    pub fn url(&self, scheme: &str, host: &str, path: &str) -> String {
        format!("{scheme}://{host}:{}{path}", self.addr.port())
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn server_config(leaf: &Leaf, clients: Option<&Pki>) -> ServerConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match clients {
        None => builder.with_no_client_auth(),
        Some(pki) => builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder_with_provider(Arc::new(pki.roots()), provider)
                .build()
                .unwrap(),
        ),
    };
    builder
        .with_single_cert(
            vec![leaf.cert_der.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key_der.clone())),
        )
        .unwrap()
}

fn common_name(der: &CertificateDer<'_>) -> String {
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_owned();
    cn
}

async fn serve<I>(io: I, record: Arc<Mutex<Vec<Seen>>>, client_cn: Option<String>, peer: SocketAddr)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |req: Request<Incoming>| {
        let record = record.clone();
        let client_cn = client_cn.clone();
        async move {
            let method = req.method().to_string();
            let target = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default();
            let headers = req
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect::<Vec<(String, String)>>();
            let authorization = req
                .headers()
                .get("authorization")
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            // A body that broke off (a client that gave up, proxy mode's cut uploads) is not
            // a request that arrived: nothing is recorded.
            let Ok(body) = req.into_body().collect().await else {
                return Ok::<_, Infallible>(full(400, "text/plain", "incomplete body"));
            };
            let body = body.to_bytes().to_vec();
            let path = target.split('?').next().unwrap_or_default().to_owned();
            // What some real APIs do on an error page: repeat the request back.
            let echo = (path == "/echo-request").then(|| {
                let key = headers
                    .iter()
                    .find(|(k, _)| k == "x-api-key")
                    .map(|(_, v)| v);
                let echoed = format!(
                    "no such page: {target} (authorization: {authorization:?}, x-api-key: {key:?})"
                );
                let mut builder = Response::builder()
                    .status(404)
                    .header("content-type", "text/plain")
                    .header("location", format!("https://upstream.test{target}/"));
                // `?encoded`: marked compressed whatever the request asked for, as an upstream
                // that ignores `Accept-Encoding: identity` would answer.
                if target.contains("encoded") {
                    builder = builder.header("content-encoding", "gzip");
                }
                // `?chunked`: in 3-byte chunks, so a secret arrives split over several.
                let body = if target.contains("chunked") {
                    let echoed = Bytes::from(echoed);
                    let frames = (0..echoed.len()).step_by(3).map(move |at| {
                        let end = (at + 3).min(echoed.len());
                        Ok::<_, Infallible>(Frame::data(echoed.slice(at..end)))
                    });
                    StreamBody::new(futures_util::stream::iter(frames)).boxed()
                } else {
                    Full::new(Bytes::from(echoed)).boxed()
                };
                builder.body(body).unwrap()
            });
            record.lock().unwrap().push(Seen {
                method,
                target,
                headers,
                body,
                client_cn,
                peer,
            });
            if let Some(echo) = echo {
                return Ok::<_, Infallible>(echo);
            }
            Ok::<_, Infallible>(respond(&path, authorization.as_deref()).await)
        }
    });
    let _ = http1::Builder::new().serve_connection(io, service).await;
}

type Body = BoxBody<Bytes, Infallible>;

fn full(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body.into()).boxed())
        .unwrap()
}

/// `/json`, `/bearer/{token}` (401 unless that bearer token is sent), `/status/{code}`, `/bytes/{n}` (with a length), `/stream/{n}` (chunked, no
/// length, 64 KiB chunks), `/slow/{ms}`, `/redirect`, `/binary`, `/echo-request` (404 that
/// repeats the request's target, `Authorization` and `X-Api-Key` in its body and `Location`;
/// with `chunked` in the query, the body comes in 3-byte chunks; with `encoded`, it is marked
/// `Content-Encoding: gzip`);
/// anything else echoes "ok".
async fn respond(path: &str, authorization: Option<&str>) -> Response<Body> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["json"] => full(200, "application/json", r#"{"ok":true,"items":[1,2]}"#),
        ["status", code] => full(code.parse().unwrap(), "text/plain", "status"),
        ["bytes", n] => full(
            200,
            "application/octet-stream",
            vec![b'a'; n.parse::<usize>().unwrap()],
        ),
        ["stream", n] => {
            let total: usize = n.parse().unwrap();
            let chunk = Bytes::from(vec![b'b'; 64 * 1024]);
            let frames = (0..total.div_ceil(chunk.len())).map(move |i| {
                let len = chunk.len().min(total - i * chunk.len());
                Ok::<_, Infallible>(Frame::data(chunk.slice(..len)))
            });
            Response::builder()
                .status(200)
                .header("content-type", "application/octet-stream")
                .body(StreamBody::new(futures_util::stream::iter(frames)).boxed())
                .unwrap()
        }
        ["slow", ms] => {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
            full(200, "text/plain", "late")
        }
        ["redirect"] => Response::builder()
            .status(302)
            .header("location", "http://169.254.169.254/latest/meta-data/")
            .body(Full::new(Bytes::new()).boxed())
            .unwrap(),
        // 200 only for the expected bearer token, else 401 (an expired token upstream).
        ["bearer", token] if authorization == Some(&format!("Bearer {token}")) => {
            full(200, "application/json", r#"{"ok":true}"#)
        }
        ["bearer", _] => full(401, "application/json", r#"{"error":"invalid_token"}"#),
        ["binary"] => full(
            200,
            "application/octet-stream",
            vec![0xff, 0xfe, 0x00, 0x80],
        ),
        _ => full(200, "text/plain", "ok"),
    }
}
