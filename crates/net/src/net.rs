//! [`Net`]: the one handle on the outgoing network, holding the destination policy, the
//! vetting resolver and the HTTP clients built on them.

use crate::clients::Clients;
use crate::hyper_client::CallClient;
use crate::policy::Policy;
use crate::resolver::{Lookup, VettingResolver};
use crate::NetError;
use keyway_model::ParseError;
use std::net::IpAddr;
use std::sync::Arc;
use url::{Host, Url};

/// What the operator decides about the outgoing network.
#[derive(Debug, Clone, Default)]
pub struct NetConfig {
    /// Networks calls may reach although they are loopback or private
    /// (`dispatch.allow_networks`).
    pub allow_networks: Vec<ipnet::IpNet>,
    /// CA certificates trusted for every call besides the public roots
    /// (`dispatch.extra_ca_file`).
    pub extra_ca_pem: Option<String>,
}

#[derive(Debug)]
pub struct Net {
    policy: Arc<Policy>,
    resolver: VettingResolver,
    clients: Clients,
}

impl Net {
    pub fn new(config: &NetConfig, lookup: Arc<dyn Lookup>) -> Result<Self, NetError> {
        let policy = Arc::new(Policy::new(config.allow_networks.clone()));
        let resolver = VettingResolver::new(policy.clone(), lookup);
        let clients = Clients::new(resolver.clone(), config.extra_ca_pem.as_deref())?;
        Ok(Self {
            policy,
            resolver,
            clients,
        })
    }

    /// The client without an identity: vetted resolution, no redirects, no proxy.
    pub fn plain(&self) -> reqwest::Client {
        self.clients.plain()
    }

    /// The client of dispatched calls (see `hyper_client`).
    pub fn calls(&self) -> CallClient {
        self.clients.calls()
    }

    /// The clients of dispatched calls, also those that present a credential's mTLS
    /// identity (`clients().with_identity(..)`, built once per credential version).
    pub fn clients(&self) -> &Clients {
        &self.clients
    }

    /// Whether `ip` is on a network the operator allowed explicitly (where plain-HTTP OAuth
    /// endpoints are accepted, as in tests).
    pub fn explicitly_allowed(&self, ip: IpAddr) -> bool {
        self.policy.explicitly_allowed(ip)
    }

    /// Whether every address `url` leads to is on a network the operator allowed explicitly:
    /// the one case where a credential may travel over plain HTTP without the owner naming
    /// the host. A name is resolved for this (through the vetting resolver, so a destination
    /// the policy refuses is refused as such).
    pub async fn on_allowed_network(&self, url: &Url) -> Result<bool, NetError> {
        let ips = match url.host() {
            Some(Host::Ipv4(ip)) => vec![ip.into()],
            Some(Host::Ipv6(ip)) => vec![ip.into()],
            Some(Host::Domain(name)) => self
                .resolver
                .vet(name)
                .await
                .map_err(|e| NetError::from(&e))?,
            None => return Ok(false),
        };
        Ok(ips.into_iter().all(|ip| self.policy.explicitly_allowed(ip)))
    }

    /// Checks where `url` would lead without connecting: a literal IP against the policy, a
    /// name through the vetting resolver. The addresses a call would use, or the refusal.
    pub async fn vet_url(&self, url: &str) -> Result<Vec<std::net::IpAddr>, NetError> {
        let url = Url::parse(url).map_err(|e| invalid("url", format!("is not valid: {e}")))?;
        let host = self.check_host(&url)?;
        match url.host() {
            Some(Host::Ipv4(ip)) => Ok(vec![ip.into()]),
            Some(Host::Ipv6(ip)) => Ok(vec![ip.into()]),
            _ => self
                .resolver
                .vet(&host)
                .await
                .map_err(|e| NetError::from(&e)),
        }
    }

    /// Literal IPs (every spelling the URL parser accepts: decimal, octal, hex, mapped IPv6)
    /// are checked here; names are checked by the resolver when the connection is made.
    pub fn check_host(&self, url: &Url) -> Result<String, NetError> {
        let host = url
            .host_str()
            .ok_or_else(|| invalid("url", "has no host"))?
            .to_owned();
        let ip = match url.host() {
            Some(Host::Ipv4(ip)) => Some(ip.into()),
            Some(Host::Ipv6(ip)) => Some(ip.into()),
            _ => None,
        };
        if let Some(ip) = ip {
            self.policy
                .check(ip)
                .map_err(|reason| NetError::DestinationNotAllowed {
                    host: host.clone(),
                    reason: Some(reason.describe()),
                })?;
        }
        Ok(host)
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> NetError {
    NetError::Invalid(ParseError::new(field, message))
}
