//! Name resolution that vets every address against the policy, so a connection only ever goes
//! to an address that was checked (no DNS rebinding between check and connect).

use crate::policy::{Blocked, Policy};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

/// Looks names up. The system resolver in production; a fixed table in tests, so a test can
/// name a host that "resolves" to a private address without asking any DNS server.
pub trait Lookup: Send + Sync + std::fmt::Debug {
    fn lookup(&self, host: &str) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>>;
}

/// getaddrinfo on tokio's blocking pool. A call that passes its deadline drops its wait, but
/// getaddrinfo itself cannot be cancelled: it runs on until the system resolver gives up. So
/// at most [`MAX_LOOKUPS`] run at once; a lookup holds its slot until getaddrinfo returns,
/// and a call waiting for a slot gives up at its own deadline. Names pointed at a slow DNS
/// server therefore cannot fill the blocking pool that other work shares.
#[derive(Debug)]
pub struct SystemLookup {
    slots: Arc<tokio::sync::Semaphore>,
}

/// Concurrent getaddrinfo calls at most.
pub const MAX_LOOKUPS: usize = 64;

impl Default for SystemLookup {
    fn default() -> Self {
        Self {
            slots: Arc::new(tokio::sync::Semaphore::new(MAX_LOOKUPS)),
        }
    }
}

impl Lookup for SystemLookup {
    fn lookup(&self, host: &str) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>> {
        let host = host.to_owned();
        let slots = self.slots.clone();
        Box::pin(async move {
            let slot = slots
                .acquire_owned()
                .await
                .map_err(|_| io::Error::other("the resolver is shutting down"))?;
            let found = tokio::task::spawn_blocking(move || {
                let _slot = slot;
                std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), 0))
                    .map(|addrs| addrs.map(|a| a.ip()).collect::<Vec<_>>())
            })
            .await
            .map_err(|_| io::Error::other("the lookup task failed"))?;
            found
        })
    }
}

/// A fixed name → addresses table; unknown names fail as NXDOMAIN would.
#[derive(Debug, Default, Clone)]
pub struct StaticLookup(pub HashMap<String, Vec<IpAddr>>);

impl Lookup for StaticLookup {
    fn lookup(&self, host: &str) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>> {
        let found = self
            .0
            .get(&host.trim_end_matches('.').to_ascii_lowercase())
            .cloned();
        Box::pin(async move {
            found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such host"))
        })
    }
}

/// A resolved name led somewhere the policy refuses. Found again in reqwest's error chain.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to {ip}, {}", reason.describe())]
pub struct RefusedAddress {
    pub host: String,
    pub ip: IpAddr,
    pub reason: Blocked,
}

/// The resolver reqwest uses: any refused address refuses the whole name, so a name that
/// mixes public and private answers cannot be steered to the private one.
#[derive(Debug, Clone)]
pub struct VettingResolver {
    policy: Arc<Policy>,
    lookup: Arc<dyn Lookup>,
}

impl VettingResolver {
    pub fn new(policy: Arc<Policy>, lookup: Arc<dyn Lookup>) -> Self {
        Self { policy, lookup }
    }

    /// The vetted addresses of `host`, or why it is refused.
    pub async fn vet(&self, host: &str) -> Result<Vec<IpAddr>, VetError> {
        let ips = self.lookup.lookup(host).await.map_err(VetError::Lookup)?;
        if ips.is_empty() {
            return Err(VetError::Lookup(io::Error::new(
                io::ErrorKind::NotFound,
                "no addresses",
            )));
        }
        for ip in &ips {
            self.policy.check(*ip).map_err(|reason| {
                VetError::Refused(RefusedAddress {
                    host: host.to_owned(),
                    ip: *ip,
                    reason,
                })
            })?;
        }
        Ok(ips)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VetError {
    #[error(transparent)]
    Refused(RefusedAddress),
    #[error("the host name could not be resolved")]
    Lookup(#[source] io::Error),
}

impl Resolve for VettingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        Box::pin(async move {
            let ips = this.vet(name.as_str()).await?;
            let addrs: Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}
