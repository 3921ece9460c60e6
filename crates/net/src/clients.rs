//! HTTP clients for outgoing calls: vetted resolution, no redirects, no proxy, our own TLS
//! roots; one client per mTLS identity, built once per credential version (and worker
//! thread) and reused.

use crate::hyper_client::{self, CallClient};
use crate::resolver::VettingResolver;
use crate::NetError;
use keyway_credentials::ClientIdentity;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static CALLS_PER_THREAD: RefCell<HashMap<u64, CallClient>> = RefCell::new(HashMap::new());
    static IDENTITY_PER_THREAD: RefCell<HashMap<(u64, String, i64), CallClient>> =
        RefCell::new(HashMap::new());
}
use std::time::Duration;

/// Identity clients kept at most; past this the cache starts again (credential versions
/// that are no longer used would otherwise stay forever).
const MAX_IDENTITY_CLIENTS: usize = 4096;

#[derive(Debug)]
pub struct Clients {
    resolver: VettingResolver,
    roots: Arc<RootCertStore>,
    plain: reqwest::Client,
    /// For building one call client per thread (see [`Clients::calls`]).
    plain_tls: ClientConfig,
    id: u64,
}

impl Clients {
    /// `extra_ca_pem`: `dispatch.extra_ca_file`, trusted for every call besides the public roots.
    pub fn new(resolver: VettingResolver, extra_ca_pem: Option<&str>) -> Result<Self, NetError> {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(pem) = extra_ca_pem {
            add_pem_roots(&mut roots, pem).map_err(NetError::ExtraCa)?;
        }
        let roots = Arc::new(roots);
        let tls = tls_builder(roots.clone())
            .map_err(NetError::Tls)?
            .with_no_client_auth();
        let plain = build(&resolver, tls.clone()).map_err(NetError::Client)?;
        Ok(Self {
            resolver,
            roots,
            plain,
            plain_tls: tls,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// The reqwest client without an identity, for the OAuth client's token calls (rare:
    /// one shared client is enough; dispatched calls use [`Clients::calls`]).
    pub fn plain(&self) -> reqwest::Client {
        self.plain.clone()
    }

    /// The client of dispatched calls without an identity, one per thread: each actix worker
    /// is one thread with its own runtime, and a pooled connection is driven by a task on the
    /// runtime that opened it, so a per-thread client keeps every call's I/O on its own
    /// thread instead of waking another one (a futex round trip per call).
    pub fn calls(&self) -> CallClient {
        CALLS_PER_THREAD.with(|cell| {
            cell.borrow_mut()
                .entry(self.id)
                .or_insert_with(|| hyper_client::build(&self.resolver, self.plain_tls.clone()))
                .clone()
        })
    }

    pub fn with_identity(
        &self,
        credential_id: &str,
        version: i64,
        identity: &ClientIdentity,
    ) -> Result<CallClient, NetError> {
        // Per thread, like [`Clients::calls`].
        let thread_key = (self.id, credential_id.to_owned(), version);
        if let Some(client) = IDENTITY_PER_THREAD.with(|c| c.borrow().get(&thread_key).cloned()) {
            return Ok(client);
        }
        let mut roots = (*self.roots).clone();
        if let Some(ca) = &identity.ca_certificate_pem {
            add_pem_roots(&mut roots, ca).map_err(NetError::BadIdentity)?;
        }
        let (chain, key_der) =
            keyway_model::mtls::load_identity(&identity.certificate_pem, &identity.private_key_pem)
                .map_err(|e| NetError::BadIdentity(e.reason().to_owned()))?;
        let tls = tls_builder(Arc::new(roots))
            .map_err(NetError::Tls)?
            .with_client_auth_cert(chain, key_der)
            .map_err(|e| NetError::BadIdentity(e.to_string()))?;
        let client = hyper_client::build(&self.resolver, tls);
        IDENTITY_PER_THREAD.with(|c| {
            let mut map = c.borrow_mut();
            if map.len() >= MAX_IDENTITY_CLIENTS {
                map.clear();
            }
            // Older versions of this credential are dead weight once a new one is in use.
            map.retain(|(owner, id, _), _| !(*owner == self.id && id == credential_id));
            map.insert(thread_key, client.clone());
        });
        Ok(client)
    }
}

fn tls_builder(
    roots: Arc<RootCertStore>,
) -> Result<rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots))
}

fn build(resolver: &VettingResolver, mut tls: ClientConfig) -> reqwest::Result<reqwest::Client> {
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .dns_resolver(resolver.clone())
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .tls_backend_preconfigured(tls)
        .pool_idle_timeout(Duration::from_secs(60))
        .tcp_nodelay(true)
        .build()
}

fn add_pem_roots(roots: &mut RootCertStore, pem: &str) -> Result<(), String> {
    let mut added = 0;
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|_| "the CA certificate is not valid PEM".to_owned())?;
        roots
            .add(cert)
            .map_err(|e| format!("the CA certificate cannot be used: {e}"))?;
        added += 1;
    }
    if added == 0 {
        return Err("no CA certificate found in the PEM text".into());
    }
    Ok(())
}
