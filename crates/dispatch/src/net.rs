//! The network side of outgoing calls, shared by the dispatcher and the OAuth client: the
//! destination policy, the vetting resolver and the HTTP clients.

use crate::clients::Clients;
use crate::policy::Policy;
use crate::resolver::{Lookup, VettingResolver};
use crate::DispatchError;
use keyway_credentials::ClientIdentity;
use keyway_model::ParseError;
use std::net::IpAddr;
use std::sync::Arc;
use url::{Host, Url};

#[derive(Debug)]
pub struct Net {
    policy: Arc<Policy>,
    resolver: VettingResolver,
    clients: Clients,
}

impl Net {
    pub fn new(
        allow_networks: Vec<ipnet::IpNet>,
        extra_ca_pem: Option<&str>,
        lookup: Arc<dyn Lookup>,
    ) -> Result<Self, String> {
        let policy = Arc::new(Policy::new(allow_networks));
        let resolver = VettingResolver::new(policy.clone(), lookup);
        let clients = Clients::new(resolver.clone(), extra_ca_pem)?;
        Ok(Self {
            policy,
            resolver,
            clients,
        })
    }

    pub fn from_config(
        config: &crate::DispatchConfig,
        lookup: Arc<dyn Lookup>,
    ) -> Result<Self, String> {
        Self::new(
            config.allow_networks.clone(),
            config.extra_ca_pem.as_deref(),
            lookup,
        )
    }

    /// The client without an identity: vetted resolution, no redirects, no proxy.
    pub fn plain(&self) -> reqwest::Client {
        self.clients.plain()
    }

    /// The client of dispatched calls (see `hyper_client`).
    pub(crate) fn calls(&self) -> crate::hyper_client::CallClient {
        self.clients.calls()
    }

    pub(crate) fn with_identity(
        &self,
        credential_id: &str,
        version: i64,
        identity: &ClientIdentity,
    ) -> Result<crate::hyper_client::CallClient, DispatchError> {
        self.clients.with_identity(credential_id, version, identity)
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
    pub async fn on_allowed_network(&self, url: &Url) -> Result<bool, DispatchError> {
        let ips = match url.host() {
            Some(Host::Ipv4(ip)) => vec![ip.into()],
            Some(Host::Ipv6(ip)) => vec![ip.into()],
            Some(Host::Domain(name)) => self
                .resolver
                .vet(name)
                .await
                .map_err(|e| DispatchError::from(&e))?,
            None => return Ok(false),
        };
        Ok(ips.into_iter().all(|ip| self.policy.explicitly_allowed(ip)))
    }

    /// Turns a reqwest failure into the contract's error (never reqwest's text: it has the URL).
    pub fn classify(err: reqwest::Error) -> DispatchError {
        crate::execute::classify(err)
    }

    /// Checks where `url` would lead without connecting: a literal IP against the policy, a
    /// name through the vetting resolver. The addresses a call would use, or the refusal.
    pub async fn vet_url(&self, url: &str) -> Result<Vec<std::net::IpAddr>, DispatchError> {
        let url = Url::parse(url).map_err(|e| invalid("url", format!("is not valid: {e}")))?;
        let host = self.check_host(&url)?;
        match url.host() {
            Some(Host::Ipv4(ip)) => Ok(vec![ip.into()]),
            Some(Host::Ipv6(ip)) => Ok(vec![ip.into()]),
            _ => self
                .resolver
                .vet(&host)
                .await
                .map_err(|e| DispatchError::from(&e)),
        }
    }

    /// Literal IPs (every spelling the URL parser accepts: decimal, octal, hex, mapped IPv6)
    /// are checked here; names are checked by the resolver when the connection is made.
    pub fn check_host(&self, url: &Url) -> Result<String, DispatchError> {
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
                .map_err(|reason| DispatchError::DestinationNotAllowed {
                    host: host.clone(),
                    reason: Some(reason.describe()),
                })?;
        }
        Ok(host)
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> DispatchError {
    DispatchError::Invalid(ParseError::new(field, message))
}
