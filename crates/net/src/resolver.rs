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
/// every other caller's lookups wait.
///
/// A name in the hosts file is answered from it alone, as glibc's `files dns` does: no server
/// is asked, for either address family. Otherwise both A and AAAA are asked for, so a name
/// with one refused address is refused whatever the other family says.
#[derive(Debug, Clone)]
pub struct SystemLookup {
    resolver: Arc<hickory_resolver::TokioResolver>,
    hosts: Arc<hickory_resolver::Hosts>,
    /// Lookups waiting on a server at once: each holds a socket or two per address family
    /// until its call's deadline, so a caller naming hosts whose servers never answer must
    /// not run the process out of file descriptors.
    slots: Arc<tokio::sync::Semaphore>,
}

/// Attempts after the first that a test's lookup makes (hickory's default, made explicit).
pub const RETRIES: usize = 2;

/// Lookups waiting on a DNS server at once, at most.
pub const MAX_LOOKUPS: usize = 256;

impl Default for SystemLookup {
    /// From the system's configuration, read at start. Without a usable `/etc/resolv.conf`
    /// only the hosts file and `localhost` resolve (an error in the log says why): Keyway
    /// never falls back to a public DNS server the operator did not choose.
    fn default() -> Self {
        use hickory_resolver::config::ResolverConfig;
        use hickory_resolver::name_server::TokioConnectionProvider;
        let builder = hickory_resolver::TokioResolver::builder_tokio().unwrap_or_else(|e| {
            tracing::error!(
                error = %e,
                "the system's DNS configuration (/etc/resolv.conf) cannot be used; only names in /etc/hosts will resolve"
            );
            hickory_resolver::TokioResolver::builder_with_config(
                ResolverConfig::new(),
                TokioConnectionProvider::default(),
            )
        });
        let hosts = hickory_resolver::Hosts::from_system().unwrap_or_default();
        Self::from_builder(builder, hosts, None)
    }
}

impl SystemLookup {
    /// The name servers at `servers`, `timeout` per attempt, and `hosts` (a hosts file's
    /// text) instead of the system's: for tests, which run their own server on loopback.
    pub fn with_servers(servers: &[SocketAddr], timeout: std::time::Duration, hosts: &str) -> Self {
        use hickory_resolver::config::{NameServerConfig, ResolverConfig};
        use hickory_resolver::proto::xfer::Protocol;
        let mut config = ResolverConfig::new();
        for server in servers {
            config.add_name_server(NameServerConfig::new(*server, Protocol::Udp));
        }
        let builder = hickory_resolver::TokioResolver::builder_with_config(
            config,
            hickory_resolver::name_server::TokioConnectionProvider::default(),
        );
        let mut table = hickory_resolver::Hosts::default();
        // A hosts file the test wrote; a line it cannot read is left out, as the system's.
        let _ = table.read_hosts_conf(hosts.as_bytes());
        Self::from_builder(builder, table, Some(timeout))
    }

    fn from_builder(
        mut builder: hickory_resolver::ResolverBuilder<
            hickory_resolver::name_server::TokioConnectionProvider,
        >,
        hosts: hickory_resolver::Hosts,
        timeout: Option<std::time::Duration>,
    ) -> Self {
        use hickory_resolver::config::{LookupIpStrategy, ResolveHosts};
        let options = builder.options_mut();
        options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        // Read here instead, so that a name it lists never reaches a server.
        options.use_hosts_file = ResolveHosts::Never;
        if let Some(timeout) = timeout {
            options.timeout = timeout;
            options.attempts = RETRIES;
        }
        Self {
            resolver: Arc::new(builder.build()),
            hosts: Arc::new(hosts),
            slots: Arc::new(tokio::sync::Semaphore::new(MAX_LOOKUPS)),
        }
    }

    /// The addresses the hosts file gives `name`, if it lists it.
    fn in_hosts_file(&self, name: &hickory_resolver::Name) -> Option<Vec<IpAddr>> {
        use hickory_resolver::proto::op::Query;
        use hickory_resolver::proto::rr::RecordType;
        let mut found: Option<Vec<IpAddr>> = None;
        for kind in [RecordType::A, RecordType::AAAA] {
            if let Some(listed) = self
                .hosts
                .lookup_static_host(&Query::query(name.clone(), kind))
            {
                found
                    .get_or_insert_with(Vec::new)
                    .extend(listed.iter().filter_map(|data| data.ip_addr()));
            }
        }
        found
    }
}

impl Lookup for SystemLookup {
    fn lookup(&self, host: &str) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>> {
        let this = self.clone();
        let host = host.to_owned();
        Box::pin(async move {
            let not_found = |why: String| io::Error::new(io::ErrorKind::NotFound, why);
            let name =
                hickory_resolver::Name::from_utf8(&host).map_err(|e| not_found(e.to_string()))?;
            if let Some(listed) = this.in_hosts_file(&name) {
                return Ok(listed);
            }
            let _slot = this
                .slots
                .acquire()
                .await
                .map_err(|_| io::Error::other("the resolver is shutting down"))?;
            let found = this
                .resolver
                .lookup_ip(name)
                .await
                .map_err(|e| not_found(e.to_string()))?;
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
