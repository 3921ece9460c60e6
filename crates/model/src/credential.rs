//! Credential names, kinds, statuses, API-key placement and allowed-host patterns.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A rejected value, with the field it came from and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ParseError {
    pub field: &'static str,
    pub message: String,
}

impl ParseError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// A credential's display name: 1 to 200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CredentialName(String);

impl CredentialName {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let trimmed = raw.trim();
        let chars = trimmed.chars().count();
        if chars == 0 {
            return Err(ParseError::new("name", "must not be empty"));
        }
        if chars > Self::MAX_CHARS {
            return Err(ParseError::new(
                "name",
                format!(
                    "is {chars} characters long; at most {} are allowed",
                    Self::MAX_CHARS
                ),
            ));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(ParseError::new(
                "name",
                "must not contain control characters (newlines, tabs, ...)",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CredentialName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a credential signs a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Basic,
    ApiKey,
    Oauth2,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Basic => "basic",
            Kind::ApiKey => "api_key",
            Kind::Oauth2 => "oauth2",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "basic" => Some(Kind::Basic),
            "api_key" => Some(Kind::ApiKey),
            "oauth2" => Some(Kind::Oauth2),
            _ => None,
        }
    }
}

/// Lifecycle of a credential as the API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Connected,
    PendingAuthorization,
    ReauthorizationRequired,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Connected => "connected",
            Status::PendingAuthorization => "pending_authorization",
            Status::ReauthorizationRequired => "reauthorization_required",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Status::Active,
            Status::Connected,
            Status::PendingAuthorization,
            Status::ReauthorizationRequired,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

/// Where an API key goes on the outgoing call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "in", rename_all = "snake_case")]
pub enum ApiKeyPlacement {
    /// `{header_name}: {prefix}{key}`.
    Header { header_name: String, prefix: String },
    /// `?{query_param}={key}`.
    Query { query_param: String },
}

impl ApiKeyPlacement {
    /// The contract's default: `Authorization: Bearer <key>`.
    pub fn parse(
        header_name: Option<&str>,
        prefix: Option<&str>,
        query_param: Option<&str>,
    ) -> Result<Self, ParseError> {
        if let Some(param) = query_param {
            if header_name.is_some() || prefix.is_some() {
                return Err(ParseError::new(
                    "query_param",
                    "give either query_param or header_name/prefix, not both",
                ));
            }
            if param.is_empty() || param.len() > 128 || param.chars().any(char::is_control) {
                return Err(ParseError::new(
                    "query_param",
                    "must be 1 to 128 printable characters",
                ));
            }
            return Ok(Self::Query {
                query_param: param.to_owned(),
            });
        }
        let header_name = header_name.unwrap_or("Authorization");
        if !is_header_token(header_name) || header_name.len() > 128 {
            return Err(ParseError::new(
                "header_name",
                "must be a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~), at most 128 characters",
            ));
        }
        let prefix = prefix.map_or_else(
            || {
                if header_name.eq_ignore_ascii_case("authorization") {
                    "Bearer ".to_owned()
                } else {
                    String::new()
                }
            },
            str::to_owned,
        );
        if prefix.len() > 128 || prefix.chars().any(char::is_control) {
            return Err(ParseError::new(
                "prefix",
                "must be at most 128 printable characters",
            ));
        }
        Ok(Self::Header {
            header_name: header_name.to_owned(),
            prefix,
        })
    }
}

fn is_header_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Hosts a credential may be sent to: exact names or `*.example.com`. Empty means anywhere
/// the destination policy allows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct AllowedHosts(Vec<String>);

impl AllowedHosts {
    pub const MAX_ENTRIES: usize = 100;

    pub fn parse<S: AsRef<str>>(raw: &[S]) -> Result<Self, ParseError> {
        if raw.len() > Self::MAX_ENTRIES {
            return Err(ParseError::new(
                "allowed_hosts",
                format!("at most {} entries are allowed", Self::MAX_ENTRIES),
            ));
        }
        let mut hosts = Vec::with_capacity(raw.len());
        for (i, entry) in raw.iter().enumerate() {
            let entry = entry
                .as_ref()
                .trim()
                .trim_end_matches('.')
                .to_ascii_lowercase();
            let pattern = entry.strip_prefix(PLAIN_HTTP).unwrap_or(&entry);
            let name = pattern.strip_prefix("*.").unwrap_or(pattern);
            if !is_host_name(name) {
                return Err(ParseError::new(
                    "allowed_hosts",
                    format!(
                        "entry {i} is not a host name or a '*.example.com' pattern (no port or path; \
                         the only scheme is http:// to allow plain HTTP to that host)"
                    ),
                ));
            }
            if !hosts.contains(&entry) {
                hosts.push(entry);
            }
        }
        Ok(Self(hosts))
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// Whether a call to `host` may carry the credential.
    pub fn permits(&self, host: &str) -> bool {
        self.0.is_empty() || self.matches(host, |p| Some(p.strip_prefix(PLAIN_HTTP).unwrap_or(p)))
    }

    /// Whether the owner allowed the credential over plain `http://` to `host`, by listing
    /// it as `http://host` (an empty list allows any host, but never plain HTTP).
    pub fn permits_plain_http(&self, host: &str) -> bool {
        self.matches(host, |p| p.strip_prefix(PLAIN_HTTP))
    }

    fn matches(&self, host: &str, pattern_of: impl Fn(&str) -> Option<&str>) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.0
            .iter()
            .filter_map(|entry| pattern_of(entry))
            .any(|pattern| match pattern.strip_prefix("*.") {
                Some(suffix) => host
                    .strip_suffix(suffix)
                    .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
                None => pattern == host,
            })
    }
}

/// The one scheme an `allowed_hosts` entry may name: it opts that host into plain HTTP.
const PLAIN_HTTP: &str = "http://";

fn is_host_name(s: &str) -> bool {
    let is_ip6 = s.starts_with('[')
        && s.ends_with(']')
        && s[1..s.len() - 1].parse::<std::net::Ipv6Addr>().is_ok();
    is_ip6
        || (!s.is_empty()
            && s.len() <= 253
            && s.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            CredentialName::parse("  Jira  ").map(|n| n.0),
            Ok("Jira".to_owned())
        );
        assert_eq!(CredentialName::parse(" ").map_err(|e| e.field), Err("name"));
        assert!(CredentialName::parse(&"x".repeat(200)).is_ok());
        let err = CredentialName::parse(&"x".repeat(10_000)).unwrap_err();
        assert!(err.message.contains("10000 characters"), "{err}");
        assert!(CredentialName::parse("a\nb").is_err());
    }

    #[test]
    fn api_key_defaults_to_bearer_authorization() {
        assert_eq!(
            ApiKeyPlacement::parse(None, None, None),
            Ok(ApiKeyPlacement::Header {
                header_name: "Authorization".into(),
                prefix: "Bearer ".into()
            })
        );
        assert_eq!(
            ApiKeyPlacement::parse(Some("X-API-TOKEN"), None, None),
            Ok(ApiKeyPlacement::Header {
                header_name: "X-API-TOKEN".into(),
                prefix: String::new()
            })
        );
        assert!(ApiKeyPlacement::parse(Some("Bad Header"), None, None).is_err());
        assert!(ApiKeyPlacement::parse(Some("X"), None, Some("key")).is_err());
        assert_eq!(
            ApiKeyPlacement::parse(None, None, Some("api_key")),
            Ok(ApiKeyPlacement::Query {
                query_param: "api_key".into()
            })
        );
    }

    #[test]
    fn allowed_hosts_match_exact_and_wildcard() {
        let hosts = AllowedHosts::parse(&["api.example.com", "*.Salesforce.com"]).unwrap();
        assert!(hosts.permits("api.example.com"));
        assert!(hosts.permits("API.example.com."));
        assert!(!hosts.permits("evil-api.example.com"));
        assert!(hosts.permits("eu1.salesforce.com"));
        assert!(!hosts.permits("salesforce.com"));
        assert!(!hosts.permits("evilsalesforce.com"));
        assert!(AllowedHosts::default().permits("anything"));
        assert!(!AllowedHosts::default().permits_plain_http("anything"));
        assert!(!hosts.permits_plain_http("api.example.com"));
        let plain = AllowedHosts::parse(&["HTTP://legacy.example.com", "*.example.org"]).unwrap();
        assert_eq!(plain.as_slice()[0], "http://legacy.example.com");
        assert!(plain.permits("legacy.example.com"));
        assert!(plain.permits_plain_http("legacy.example.com"));
        assert!(!plain.permits_plain_http("a.example.org"));
        assert!(plain.permits("a.example.org"));
        for bad in [
            "https://x.com",
            "x.com:443",
            "x.com/path",
            "",
            "*.",
            "a b",
            "http://",
        ] {
            assert!(AllowedHosts::parse(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn kinds_and_statuses_round_trip() {
        for kind in [Kind::Basic, Kind::ApiKey, Kind::Oauth2] {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(
            Status::parse("reauthorization_required"),
            Some(Status::ReauthorizationRequired)
        );
        assert_eq!(Status::parse("nope"), None);
    }
}

/// A stored name (kind, status, role) that is not one Keyway knows: a corrupt row, or one
/// written by a newer version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the database holds an unknown {what}: {value:?}")]
pub struct UnknownName {
    pub what: &'static str,
    pub value: String,
}

/// `TryFrom<String>` for the enums stored as text, so rows decode straight into them.
macro_rules! stored_as_text {
    ($($ty:ty => $what:literal),* $(,)?) => {$(
        impl TryFrom<String> for $ty {
            type Error = UnknownName;
            fn try_from(value: String) -> Result<Self, UnknownName> {
                <$ty>::parse(&value).ok_or(UnknownName { what: $what, value })
            }
        }
    )*};
}

stored_as_text!(Kind => "kind", Status => "status", crate::Role => "role");
