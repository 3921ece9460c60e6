//! Turning a definition and its context into a call ready to send: rendering within the
//! limits, the URL, the method, the headers and the body.

use super::*;

/// A call ready to send, secrets included; never logged.
pub(super) struct Prepared {
    pub(super) method: hyper::Method,
    pub(super) url: Url,
    pub(super) host: String,
    pub(super) headers: HeaderMap,
    pub(super) body: Option<String>,
    pub(super) timeout: Duration,
}

impl Dispatcher {
    pub(super) fn prepare(
        &self,
        definition: &RequestDefinition,
        context: &Context,
        strict: bool,
    ) -> Result<Prepared, DispatchError> {
        let mut renderer = Renderer::new(context);
        // Each part is limited while it is rendered, so a small template and a large value
        // cannot make Keyway build (or send) a huge request.
        let raw_url = renderer
            .render_within(&definition.url, Escape::Url, MAX_URL_BYTES, "url")
            .map_err(DispatchError::RenderedTooLarge)?
            .into_owned();
        // A piped `..` (or `.`) is a path segment of its own that the URL parser would resolve,
        // climbing to another endpoint of the allowed host than the definition names. Dots in
        // the definition's own URL are its author's.
        if has_dot_segment(&raw_url) && !has_dot_segment(&definition.url) {
            return Err(invalid(
                "url",
                "a piped value makes a `.` or `..` path segment, which would change the path the \
                 definition calls; pipe it somewhere else or refuse it upstream",
            ));
        }
        let mut headers = HeaderMap::with_capacity(definition.headers.len() + 2);
        let mut header_budget = MAX_HEADER_BYTES;
        // Definitions stored before these headers were refused may still hold one.
        let headers_kept = definition
            .headers
            .iter()
            .filter(|h| !keyway_model::request::is_set_by_keyway(&h.name));
        for h in headers_kept {
            let value = renderer
                .render_header(&h.name, &h.value, header_budget)
                .map_err(|e| match e {
                    HeaderError::Injection(inj) => DispatchError::HeaderInjection(inj),
                    HeaderError::Overflow(_) => DispatchError::RenderedTooLarge(Overflow {
                        part: "header values",
                        limit: MAX_HEADER_BYTES,
                    }),
                })?;
            // render_header kept the value within the budget.
            header_budget = header_budget.saturating_sub(value.len());
            let name = HeaderName::from_bytes(h.name.as_bytes())
                .map_err(|_| invalid("headers", format!("`{}` is not a header name", h.name)))?;
            let value = HeaderValue::from_bytes(value.as_bytes()).map_err(|_| {
                invalid(
                    "headers",
                    format!("the value of {} is not a valid header value", h.name),
                )
            })?;
            headers.append(name, value);
        }
        let body = match (&definition.body, definition.content_type) {
            (Some(body), Some(ct)) => {
                let escape = match ct {
                    ContentType::Json => Escape::Json,
                    ContentType::Xml => Escape::Xml,
                    ContentType::Urlencoded => Escape::Form,
                    ContentType::Text => Escape::Text,
                };
                if !headers.contains_key(CONTENT_TYPE) {
                    headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct.mime()));
                }
                let limit = self
                    .config
                    .max_request_body_bytes
                    .min(MAX_REQUEST_BODY_BYTES);
                Some(
                    renderer
                        .render_within(body, escape, limit, "body")
                        .map_err(DispatchError::RenderedTooLarge)?
                        .into_owned(),
                )
            }
            (Some(_), None) => {
                return Err(invalid("content_type", "a body needs a content_type"));
            }
            (None, _) => None,
        };
        if strict && !renderer.missing.is_empty() {
            return Err(DispatchError::MissingContext(
                renderer.missing.into_iter().collect(),
            ));
        }
        let url = Url::parse(&raw_url).map_err(|e| {
            invalid(
                "url",
                format!("with the piped values filled in, the URL is not valid: {e}"),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("url", "must be an http:// or https:// URL"));
        }
        let host = self.net.check_host(&url)?;
        // Checked again here: a definition stored before the method rule may name another.
        let method = RequestDefinition::check_method(&definition.method)
            .map_err(DispatchError::Invalid)
            .and_then(|m| {
                hyper::Method::from_bytes(m.as_bytes())
                    .map_err(|_| invalid("method", "is not an HTTP method"))
            })?;
        let timeout = definition
            .timeout_ms
            .map(Duration::from_millis)
            .map_or(self.config.timeout, |t| t.min(self.config.timeout));
        Ok(Prepared {
            method,
            url,
            host,
            headers,
            body,
            timeout,
        })
    }
}

pub(super) fn invalid(field: &'static str, message: impl Into<String>) -> DispatchError {
    DispatchError::Invalid(ParseError::new(field, message))
}

/// Whether the path of `url` (before its query) has a `.` or `..` segment, written plainly or
/// percent-encoded (`%2e`), which a URL parser resolves away.
fn has_dot_segment(url: &str) -> bool {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let Some(start) = after_scheme.find('/') else {
        return false;
    };
    let path = &after_scheme[start..];
    let path = path.split(['?', '#']).next().unwrap_or_default();
    // Compared in place: this runs on every call.
    const DOTS: [&str; 6] = [".", "..", "%2e", "%2e%2e", ".%2e", "%2e."];
    path.split('/')
        .any(|segment| DOTS.iter().any(|dots| segment.eq_ignore_ascii_case(dots)))
}

#[cfg(test)]
mod tests {
    use super::has_dot_segment;

    #[test]
    fn dot_segments_plain_or_encoded_in_the_path_only() {
        for url in [
            "https://a.test/x/../y",
            "https://a.test/x/./y",
            "https://a.test/x/..",
            "https://a.test/%2E%2e/y",
            "https://a.test/.%2e?q=1",
        ] {
            assert!(has_dot_segment(url), "{url}");
        }
        for url in [
            "https://a.test/x/..y",
            "https://a.test/x?next=../y",
            "https://a.test/x#..",
            "https://a.test",
            "https://a.test/v1.2/x",
            "https://a.test/%252e%252e/x",
        ] {
            assert!(!has_dot_segment(url), "{url}");
        }
    }
}
