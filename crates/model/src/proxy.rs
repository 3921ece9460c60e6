//! Proxy mode's settings of a credential: the upstream base URL calls through
//! `/v1/proxy/{credential_id}/…` go to, and how large an answer may stream back.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::{AllowedHosts, ParseError};

/// Stored with the credential (a JSON object); both fields optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxySettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<ProxyBaseUrl>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_response_bytes: Option<u64>,
}

impl ProxySettings {
    /// `base_url` must be a place `allowed_hosts` lets the credential go: a base the
    /// credential could never be sent to is a mistake to catch when it is saved.
    pub fn check_against(&self, hosts: &AllowedHosts) -> Result<(), ParseError> {
        let Some(base) = &self.base_url else {
            return Ok(());
        };
        if !hosts.permits(base.host()) {
            return Err(ParseError::new(
                "proxy_base_url",
                format!(
                    "{} is not in the credential's allowed_hosts; add it there first",
                    base.host()
                ),
            ));
        }
        Ok(())
    }
}

/// The largest answer a credential may allow in proxy mode unless the server says otherwise.
pub const DEFAULT_PROXY_RESPONSE_CAP: u64 = 64 * 1024 * 1024;

/// Parses `max_response_bytes`: between 1 KiB and the server's maximum.
pub fn parse_response_cap(value: u64, server_max: u64) -> Result<u64, ParseError> {
    if !(1024..=server_max).contains(&value) {
        return Err(ParseError::new(
            "max_response_bytes",
            format!("must be between 1024 and {server_max} (this server's maximum)"),
        ));
    }
    Ok(value)
}

/// An upstream base: `https://host[:port][/path]` (or `http://`, which the destination rules
/// then judge per call), with no user-info, query or fragment. Proxy mode appends the
/// caller's path and query to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProxyBaseUrl(Url);

impl ProxyBaseUrl {
    pub const MAX_LEN: usize = 2048;

    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ParseError> {
        let bad = |why: &str| ParseError::new(field, why.to_owned());
        if raw.len() > Self::MAX_LEN {
            return Err(bad("must be at most 2048 bytes"));
        }
        let url = Url::parse(raw.trim()).map_err(|_| {
            bad("must be an absolute URL such as https://api.example.com or https://api.example.com/v2")
        })?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(bad("must start with https:// (or http://)"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("must name a host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "must not carry user-info: store secrets as the credential, not in its URL",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("must not have a query or a fragment"));
        }
        Ok(Self(url))
    }

    pub fn host(&self) -> &str {
        self.0.host_str().unwrap_or_default()
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The upstream URL for a proxied call: this base's path, then `path` (the raw,
    /// still percent-encoded rest of the caller's path, starting with `/` or empty), then
    /// `?query`. The host and port are this base's whatever the path holds.
    pub fn join(&self, path: &str, query: Option<&str>) -> Result<Url, ParseError> {
        let base = self.0.as_str().trim_end_matches('/');
        let mut raw = String::with_capacity(base.len() + path.len() + 1);
        raw.push_str(base);
        if !path.is_empty() && !path.starts_with('/') {
            raw.push('/');
        }
        raw.push_str(path);
        let mut url = Url::parse(&raw)
            .map_err(|_| ParseError::new("path", "is not a valid request path".to_owned()))?;
        if url.host_str() != self.0.host_str() || url.port() != self.0.port() {
            return Err(ParseError::new(
                "path",
                "must not change the upstream's host".to_owned(),
            ));
        }
        url.set_query(query.filter(|q| !q.is_empty()));
        url.set_fragment(None);
        Ok(url)
    }
}

impl TryFrom<String> for ProxyBaseUrl {
    type Error = ParseError;
    fn try_from(raw: String) -> Result<Self, ParseError> {
        Self::parse("proxy_base_url", &raw)
    }
}

impl From<ProxyBaseUrl> for String {
    fn from(base: ProxyBaseUrl) -> String {
        base.0.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(raw: &str) -> ProxyBaseUrl {
        ProxyBaseUrl::parse("proxy_base_url", raw).expect("a valid base")
    }

    #[test]
    fn bases_are_plain_origins_with_an_optional_path() {
        for bad in [
            "api.example.com",
            "ftp://api.example.com",
            "https://user:pw@api.example.com",
            "https://api.example.com/?key=1",
            "https://api.example.com/#x",
            "https://",
        ] {
            assert!(
                ProxyBaseUrl::parse("proxy_base_url", bad).is_err(),
                "{bad} was accepted"
            );
        }
        assert_eq!(base("https://API.example.com").host(), "api.example.com");
    }

    #[test]
    fn joining_keeps_the_path_encoded_and_the_host_fixed() {
        let b = base("https://api.example.com/v2/");
        let url = b
            .join("/repos/a%2Fb/issues", Some("state=open&q=%20x"))
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://api.example.com/v2/repos/a%2Fb/issues?state=open&q=%20x"
        );
        assert_eq!(
            b.join("", None).unwrap().as_str(),
            "https://api.example.com/v2"
        );
        for sneaky in [
            "//evil.example/x",
            "/@evil.example",
            "/..\\..\\x",
            "/%2e%2e/x",
        ] {
            let url = b.join(sneaky, None).unwrap();
            assert_eq!(url.host_str(), Some("api.example.com"), "{sneaky}");
        }
        let port = base("http://127.0.0.1:8080");
        assert_eq!(port.join("/x", None).unwrap().port(), Some(8080));
    }

    #[test]
    fn a_base_must_be_an_allowed_host() {
        let hosts = AllowedHosts::parse(&["api.example.com"]).unwrap();
        let ok = ProxySettings {
            base_url: Some(base("https://api.example.com/v1")),
            max_response_bytes: None,
        };
        assert!(ok.check_against(&hosts).is_ok());
        let other = ProxySettings {
            base_url: Some(base("https://other.example.com")),
            max_response_bytes: None,
        };
        assert_eq!(
            other.check_against(&hosts).unwrap_err().field,
            "proxy_base_url"
        );
        assert!(other.check_against(&AllowedHosts::default()).is_ok());
    }

    #[test]
    fn response_caps_are_bounded() {
        assert!(parse_response_cap(10, 1 << 20).is_err());
        assert!(parse_response_cap(2 << 20, 1 << 20).is_err());
        assert_eq!(parse_response_cap(4096, 1 << 20), Ok(4096));
    }
}
