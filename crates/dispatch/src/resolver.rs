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

/// getaddrinfo through tokio's blocking pool.
#[derive(Debug, Default)]
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: &str) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>> {
        let host = host.to_owned();
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
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
