//! Request definitions: what a web service, a curl import and `/v1/dispatch` describe, parsed once.

use crate::ParseError;
use serde::{Deserialize, Serialize};

/// One header of a request definition, in the order it was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub name: String,
    pub value: String,
}

impl Header {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// The four body types Keyway sends; the type also decides how piped values are escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ContentType {
    Json,
    Xml,
    Urlencoded,
    Text,
}

impl ContentType {
    pub const NAMES: &'static str = "json, xml, urlencoded or text";

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "json" => Some(Self::Json),
            "xml" => Some(Self::Xml),
            "urlencoded" => Some(Self::Urlencoded),
            "text" => Some(Self::Text),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Xml => "xml",
            Self::Urlencoded => "urlencoded",
            Self::Text => "text",
        }
    }

    /// The `Content-Type` sent when the definition's headers do not name one.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Xml => "application/xml",
            Self::Urlencoded => "application/x-www-form-urlencoded",
            Self::Text => "text/plain; charset=utf-8",
        }
    }

    /// Classifies a `Content-Type` header value (`application/json; charset=utf-8`,
    /// `application/vnd.api+json`, `text/xml`, ...). `None` for any other media type.
    pub fn from_mime(value: &str) -> Option<Self> {
        let essence = value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let (top, sub) = essence.split_once('/')?;
        match (top, sub) {
            ("application", "json") | ("text", "json") => Some(Self::Json),
            ("application", s) if s.ends_with("+json") => Some(Self::Json),
            ("application", "xml") | ("text", "xml") => Some(Self::Xml),
            ("application", s) if s.ends_with("+xml") => Some(Self::Xml),
            ("application", "x-www-form-urlencoded") => Some(Self::Urlencoded),
            ("text", "plain") => Some(Self::Text),
            _ => None,
        }
    }
}

/// A request definition as a client sends it, before checks.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestInput {
    /// One of `GET HEAD POST PUT PATCH DELETE OPTIONS` (default: POST with a body, else GET).
    #[serde(default)]
    pub method: Option<String>,
    /// May hold `${...}` placeholders.
    pub url: String,
    #[serde(default)]
    pub headers: Vec<Header>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<ContentType>)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub credential_id: Option<String>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// A checked request definition. The URL may still hold `${...}` placeholders; it is parsed
/// in full when a call fills them in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RequestDefinition {
    pub method: String,
    pub url: String,
    pub headers: Vec<Header>,
    pub body: Option<String>,
    pub content_type: Option<ContentType>,
    pub credential_id: Option<String>,
    pub timeout_ms: Option<u64>,
}

/// Why a request definition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error(transparent)]
    Invalid(ParseError),
    #[error("content_type `{0}` is not supported; use {names}", names = ContentType::NAMES)]
    UnsupportedContentType(String),
}

impl From<ParseError> for RequestError {
    fn from(err: ParseError) -> Self {
        Self::Invalid(err)
    }
}

impl RequestDefinition {
    pub const MAX_URL_BYTES: usize = 8 * 1024;
    pub const MAX_HEADERS: usize = 100;
    pub const MAX_HEADER_BYTES: usize = 8 * 1024;
    /// The largest timeout a definition may ask for; the dispatcher's own limit may be lower.
    pub const MAX_TIMEOUT_MS: u64 = 16_000;

    pub fn parse(input: RequestInput) -> Result<Self, RequestError> {
        let method = match input.method {
            None if input.body.is_some() => "POST".to_owned(),
            None => "GET".to_owned(),
            Some(m) => Self::check_method(&m)?.to_owned(),
        };
        let url = parse_url_template(&input.url)?;
        if input.headers.len() > Self::MAX_HEADERS {
            return Err(ParseError::new(
                "headers",
                format!("at most {} headers are allowed", Self::MAX_HEADERS),
            )
            .into());
        }
        for (i, h) in input.headers.iter().enumerate() {
            if !is_token(&h.name) {
                return Err(ParseError::new(
                    "headers",
                    format!("header {i}: the name is not a valid HTTP header name"),
                )
                .into());
            }
            if is_set_by_keyway(&h.name) {
                return Err(ParseError::new(
                    "headers",
                    format!(
                        "header {i} ({}): Keyway sets this header itself (from the URL and the \
                         body); leave it out",
                        h.name
                    ),
                )
                .into());
            }
            if h.value.contains(['\r', '\n', '\0']) || h.value.len() > Self::MAX_HEADER_BYTES {
                return Err(ParseError::new(
                    "headers",
                    format!(
                        "header {i} ({}): the value must be one line of at most {} bytes",
                        h.name,
                        Self::MAX_HEADER_BYTES
                    ),
                )
                .into());
            }
        }
        let content_type = match input.content_type.as_deref() {
            None | Some("") | Some("none") => None,
            Some(raw) => Some(
                ContentType::parse(raw)
                    .ok_or_else(|| RequestError::UnsupportedContentType(truncate(raw, 64)))?,
            ),
        };
        if input.body.is_some() && content_type.is_none() {
            return Err(ParseError::new(
                "content_type",
                format!(
                    "a request with a body needs a content_type: {}",
                    ContentType::NAMES
                ),
            )
            .into());
        }
        if let Some(ms) = input.timeout_ms {
            if ms == 0 || ms > Self::MAX_TIMEOUT_MS {
                return Err(ParseError::new(
                    "timeout_ms",
                    format!(
                        "must be between 1 and {} (it may only lower the limit)",
                        Self::MAX_TIMEOUT_MS
                    ),
                )
                .into());
            }
        }
        if let Some(id) = &input.credential_id {
            if id.is_empty() || id.len() > 64 || id.chars().any(char::is_control) {
                return Err(ParseError::new("credential_id", "is not a credential ID").into());
            }
        }
        Ok(Self {
            method,
            url,
            headers: input.headers,
            body: input.body,
            content_type,
            credential_id: input.credential_id,
            timeout_ms: input.timeout_ms,
        })
    }

    /// The methods a credential may be sent with. `TRACE` echoes the request (and so the
    /// credential) back to the caller, `CONNECT` opens a tunnel, and extension methods do
    /// what each server decides: none of them is a web-service call.
    pub const METHODS: [&'static str; 7] =
        ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

    /// One of [`Self::METHODS`], in any letter case (curl sends `-X get` as written, which
    /// servers refuse; the upper-case name is what was meant).
    pub fn check_method(raw: &str) -> Result<&'static str, ParseError> {
        Self::METHODS
            .into_iter()
            .find(|m| m.eq_ignore_ascii_case(raw))
            .ok_or_else(|| {
                ParseError::new(
                    "method",
                    format!("must be one of {}", Self::METHODS.join(", ")),
                )
            })
    }

    /// The first header named `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }
}

fn parse_url_template(raw: &str) -> Result<String, ParseError> {
    let url = raw.trim();
    if url.len() > RequestDefinition::MAX_URL_BYTES {
        return Err(ParseError::new(
            "url",
            format!("is longer than {} bytes", RequestDefinition::MAX_URL_BYTES),
        ));
    }
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(ParseError::new(
            "url",
            "must be an absolute http:// or https:// URL",
        ));
    }
    if url.chars().any(|c| c.is_control() || c == ' ') {
        return Err(ParseError::new(
            "url",
            "must not contain spaces or control characters (percent-encode them)",
        ));
    }
    if !url.contains("${") {
        url::Url::parse(url)
            .map_err(|e| ParseError::new("url", format!("is not a valid URL: {e}")))?;
    }
    Ok(url.to_owned())
}

/// Headers Keyway sets itself, from the URL and the body, or that belong to one hop of a
/// connection: a definition may not set them. A `Host` would send the signed call to another
/// virtual host than the one the credential's `allowed_hosts` approved (the check, the DNS
/// lookup and TLS all use the URL's host), and a `Content-Length` on a call without a body
/// would leave a pooled connection, which other callers' calls reuse, out of step.
pub const SET_BY_KEYWAY: [&str; 10] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "expect",
];

/// Whether `name` is one of [`SET_BY_KEYWAY`], in any letter case.
pub fn is_set_by_keyway(name: &str) -> bool {
    SET_BY_KEYWAY.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// RFC 9110 `token`: what header names and methods are made of.
pub fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(url: &str) -> RequestInput {
        RequestInput {
            url: url.into(),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_and_checks() {
        let def = RequestDefinition::parse(input("https://api.example.com/x")).unwrap();
        assert_eq!(def.method, "GET");
        let err = RequestDefinition::parse(input("ftp://x")).unwrap_err();
        assert!(matches!(
            err,
            RequestError::Invalid(ParseError { field: "url", .. })
        ));
        let mut body = input("https://x.example/${e://Field/Id}");
        body.body = Some("{}".into());
        let err = RequestDefinition::parse(body.clone()).unwrap_err();
        assert!(err.to_string().contains("content_type"), "{err}");
        body.content_type = Some("multipart".into());
        assert_eq!(
            RequestDefinition::parse(body.clone()).unwrap_err(),
            RequestError::UnsupportedContentType("multipart".into())
        );
        body.content_type = Some("json".into());
        assert_eq!(RequestDefinition::parse(body).unwrap().method, "POST");
    }

    #[test]
    fn only_call_methods_are_accepted() {
        for ok in ["GET", "head", "Post", "PUT", "PATCH", "DELETE", "OPTIONS"] {
            let mut i = input("https://x.example/");
            i.method = Some(ok.into());
            assert_eq!(
                RequestDefinition::parse(i).unwrap().method,
                ok.to_ascii_uppercase()
            );
        }
        for bad in ["TRACE", "CONNECT", "TRACK", "PROPFIND", "GET ", ""] {
            let mut i = input("https://x.example/");
            i.method = Some(bad.into());
            match RequestDefinition::parse(i) {
                Err(RequestError::Invalid(e)) => assert_eq!(e.field, "method", "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn headers_keyway_sets_are_refused_in_any_case() {
        for name in [
            "Host",
            "content-length",
            "Transfer-Encoding",
            "CONNECTION",
            "TE",
            "Expect",
        ] {
            let mut i = input("https://api.example.com/x");
            i.headers = vec![Header::new(name, "x")];
            let err = RequestDefinition::parse(i).unwrap_err();
            assert!(
                err.to_string().contains("Keyway sets this header itself"),
                "{name}: {err}"
            );
        }
        let mut i = input("https://api.example.com/x");
        i.headers = vec![Header::new("X-Host", "x"), Header::new("Accept", "a")];
        assert!(RequestDefinition::parse(i).is_ok());
    }

    #[test]
    fn header_values_stay_on_one_line() {
        let mut i = input("https://x.example/");
        i.headers = vec![Header::new("X-A", "a\r\nX-Injected: 1")];
        assert!(RequestDefinition::parse(i).is_err());
    }

    #[test]
    fn mime_classification() {
        assert_eq!(
            ContentType::from_mime("application/json; charset=utf-8"),
            Some(ContentType::Json)
        );
        assert_eq!(
            ContentType::from_mime("application/vnd.api+json"),
            Some(ContentType::Json)
        );
        assert_eq!(ContentType::from_mime("text/xml"), Some(ContentType::Xml));
        assert_eq!(ContentType::from_mime("multipart/form-data"), None);
    }
}
