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

/// The system's DNS configuration (`/etc/resolv.conf`, `/etc/hosts`), asked by a resolver in
/// Rust (hickory). A lookup is a future: a call that passes its deadline drops it, and the
/// lookup ends there, with no retry left to run and no thread held. getaddrinfo, which this
/// replaced, could not be cancelled: a name whose servers never answer kept a blocking thread
/// (and one of 64 lookup slots) until the system resolver gave up, so one caller could make
/// every other caller's lookups wait. Both address families are asked for, so a name with
/// one refused address is refused whatever the other family says.
#[derive(Debug, Clone)]
pub struct SystemLookup {
    resolver: Result<Arc<hickory_resolver::TokioResolver>, Arc<str>>,
}

impl Default for SystemLookup {
    /// From the system's configuration. Without one (no readable `/etc/resolv.conf`), names
    /// fail to resolve with the reason, and IP addresses still work: Keyway never falls back
    /// to a public DNS server the operator did not choose.
    fn default() -> Self {
        let resolver = hickory_resolver::TokioResolver::builder_tokio()
            .map(|mut builder| {
                Self::tune(builder.options_mut());
                Arc::new(builder.build())
            })
            .map_err(|e| {
                Arc::from(format!(
                    "the system's DNS configuration cannot be read: {e}"
                ))
            });
        Self { resolver }
    }
}

impl SystemLookup {
    /// The name servers at `servers` (port 53 unless given), with `timeout` per attempt:
    /// for tests, which run their own server on loopback.
    pub fn with_servers(servers: &[SocketAddr], timeout: std::time::Duration) -> Self {
        use hickory_resolver::config::{NameServerConfig, ResolverConfig};
        use hickory_resolver::proto::xfer::Protocol;
        let mut config = ResolverConfig::new();
        for server in servers {
            config.add_name_server(NameServerConfig::new(*server, Protocol::Udp));
        }
        let mut builder = hickory_resolver::TokioResolver::builder_with_config(
            config,
            hickory_resolver::name_server::TokioConnectionProvider::default(),
        );
        let options = builder.options_mut();
        Self::tune(options);
        options.timeout = timeout;
        Self {
            resolver: Ok(Arc::new(builder.build())),
        }
    }

    fn tune(options: &mut hickory_resolver::config::ResolverOpts) {
        options.ip_strategy = hickory_resolver::config::LookupIpStrategy::Ipv4AndIpv6;
    }
}

impl Lookup for SystemLookup {
    fn lookup(&self, host: &str) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>> {
        let host = host.to_owned();
        let resolver = self.resolver.clone();
        Box::pin(async move {
            let resolver = resolver.map_err(|why| io::Error::other(why.to_string()))?;
            let found = resolver
                .lookup_ip(host.as_str())
                .await
                .map_err(|e| io::Error::new(io::ErrorKind::NotFound, e.to_string()))?;
            Ok(found.iter().collect())
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
