//! Literal secrets in a saved definition, which every member of the org can read: secret-like
//! headers and query parameters and URL user-info are refused (placeholders are fine).

use super::*;

/// Literal secrets would be stored in plain text with the definition, which everyone in the
/// org can read: they belong in a credential. Looked for in secret-like headers, secret-like
/// query parameters and the URL's user-info. A value made only of placeholders is fine (it is
/// filled per run), and so is a bare scheme such as `Bearer ` before one.
pub(super) fn refuse_stored_secrets(request: &RequestDefinition) -> Result<(), WebServiceError> {
    let literal = literal_text;
    for header in &request.headers {
        let value = literal(&header.value);
        if is_secret_header(&header.name) && holds_secret(&value) {
            return Err(stored_secret(
                "headers",
                format!(
                    "the {} header holds a literal secret, which would be stored in plain text with the web service for the whole org to read: store it as a credential (kind api_key with header_name {:?}) and set credential_id",
                    header.name, header.name
                ),
            ));
        }
    }
    // With the placeholders taken out, what is left of the URL is stored as written.
    let Ok(url) = url::Url::parse(&literal(&request.url)) else {
        // A placeholder in the host or port (`https://${host}/x`) leaves no URL to parse:
        // the same checks on the text, or a secret would pass as part of an unparsed URL.
        if literal_secret_in_url_text(&request.url) {
            return Err(stored_secret(
                "url",
                "the URL holds a literal secret (a user name or password, or a secret-like query parameter), which would be stored in plain text with the web service: store it as a credential and set credential_id".into(),
            ));
        }
        return Ok(());
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(stored_secret(
            "url",
            "the URL carries a user name or password, which would be stored in plain text with the web service: store them as a credential (kind basic) and set credential_id".into(),
        ));
    }
    for (name, value) in url.query_pairs() {
        if is_secret_param(&name) && holds_secret(&value) {
            return Err(stored_secret(
                "url",
                format!(
                    "the query parameter {name:?} holds a literal secret, which would be stored in plain text with the web service: store it as a credential (kind api_key with query_param {name:?}) and set credential_id"
                ),
            ));
        }
    }
    Ok(())
}

/// Whether a header, as written, holds a literal secret that saving a web service
/// refuses.
pub fn is_literal_secret_header(name: &str, value: &str) -> bool {
    is_secret_header(name) && holds_secret(&literal_text(value))
}

/// The URL, as written, without the literal secrets saving a web service refuses: user
/// info taken out, secret-like query parameters left empty. `None` when it had none. For
/// showing a refused or imported definition back without its secrets; placeholders stay.
pub fn url_without_literal_secrets(url: &str) -> Option<String> {
    let mut changed = false;
    let (before_fragment, fragment) = match url.split_once('#') {
        Some((head, tail)) => (head, Some(tail)),
        None => (url, None),
    };
    let (base, query) = match before_fragment.split_once('?') {
        Some((head, tail)) => (head, Some(tail)),
        None => (before_fragment, None),
    };
    let mut out = match base.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(end);
            match authority.rsplit_once('@') {
                Some((_, host)) => {
                    changed = true;
                    format!("{scheme}://{host}{path}")
                }
                None => base.to_owned(),
            }
        }
        None => base.to_owned(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, value)) => {
                    let decoded: String = form_urlencoded::parse(name.as_bytes())
                        .map(|(k, _)| k.into_owned())
                        .collect();
                    if is_secret_param(&decoded) && holds_secret(&literal_text(value)) {
                        changed = true;
                        format!("{name}=")
                    } else {
                        pair.to_owned()
                    }
                }
                None => pair.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    changed.then_some(out)
}

/// Whether the text of a URL, placeholders aside, carries user-info or a literal secret in a
/// secret-like query parameter.
fn literal_secret_in_url_text(url: &str) -> bool {
    let before_fragment = url.split('#').next().unwrap_or_default();
    let (base, query) = match before_fragment.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (before_fragment, None),
    };
    let after_scheme = base.split_once("://").map_or(base, |(_, rest)| rest);
    let authority = after_scheme.split('/').next().unwrap_or_default();
    let user_info = authority
        .rsplit_once('@')
        .is_some_and(|(info, _)| literal_text(info).chars().any(|c| c != ':'));
    user_info
        || query.is_some_and(|query| {
            url_without_literal_secrets(&format!("https://h?{query}")).is_some()
        })
}

/// `text` with its placeholders taken out.
fn literal_text(text: &str) -> String {
    Renderer::new(&Context::default())
        .render(text, Escape::Text)
        .into_owned()
}

fn stored_secret(field: &'static str, message: String) -> WebServiceError {
    WebServiceError::Invalid(ParseError::new(field, message))
}

/// The name as letters and digits only, lower case: `X-API-Key` and `x_api_key` are alike.
fn squash(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

const SECRET_WORDS: &[&str] = &[
    "apikey",
    "token",
    "secret",
    "password",
    "passwd",
    "signature",
    "credential",
    "accesskey",
    "authorization",
    "session",
    "cookie",
];

/// `Authorization`, `Cookie`, `X-API-Key`, `X-Auth-Token`, `Ocp-Apim-Subscription-Key`...
fn is_secret_header(name: &str) -> bool {
    let name = squash(name);
    SECRET_WORDS.iter().any(|w| name.contains(w))
        || (name.ends_with("key") && name != "idempotencykey")
        || name.starts_with("xauth")
}

/// `key`, `api_key`, `access_token`, `token`, `signature`, `sig`, `X-Amz-Credential`...
fn is_secret_param(name: &str) -> bool {
    let name = squash(name);
    SECRET_WORDS.iter().any(|w| name.contains(w))
        || ["key", "sig", "auth", "pass", "pwd", "code"].contains(&name.as_str())
}

/// Whether a literal (placeholders removed) still holds something: not empty and not only an
/// authentication scheme.
fn holds_secret(literal: &str) -> bool {
    let literal = literal.trim();
    !literal.is_empty()
        && !["bearer", "basic", "token", "apikey", "api-key"]
            .contains(&literal.to_ascii_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_secrets_are_taken_out_of_urls_and_found_in_headers() {
        assert_eq!(
            url_without_literal_secrets("https://u:p@h.test/x?api_key=S&q=${q}&token=${t}#f")
                .as_deref(),
            Some("https://h.test/x?api_key=&q=${q}&token=${t}#f")
        );
        assert_eq!(url_without_literal_secrets("https://h.test/x?q=1"), None);
        assert!(is_literal_secret_header("X-API-Key", "S3cr3t"));
        assert!(!is_literal_secret_header("X-API-Key", "${key}"));
        assert!(!is_literal_secret_header(
            "Authorization",
            "Bearer ${token}"
        ));
        assert!(!is_literal_secret_header("Accept", "application/json"));
    }

    #[test]
    fn a_url_that_parses_only_with_its_placeholders_is_checked_as_text() {
        let check = |url: &str| {
            let request = RequestDefinition::parse(keyway_model::RequestInput {
                method: Some("GET".into()),
                url: url.into(),
                headers: Vec::new(),
                body: None,
                content_type: None,
                credential_id: None,
                timeout_ms: None,
            })
            .unwrap();
            refuse_stored_secrets(&request).is_err()
        };
        assert!(check("https://alice:hunter2@${host}/x"));
        assert!(check("https://${h}:${p}/x?api_key=S3CR3T"));
        assert!(!check("https://${h}:${p}/x?api_key=${key}&q=1"));
        assert!(!check("https://${user}:${password}@${host}/x"));
        assert!(!check("https://${host}/x?page=2"));
    }

    #[test]
    fn secret_like_names() {
        for h in [
            "Authorization",
            "Proxy-Authorization",
            "Cookie",
            "X-API-Key",
            "x_api_token",
            "X-Auth-Token",
            "Ocp-Apim-Subscription-Key",
            "X-Auth-Email-Key",
            "Private-Token",
            "X-Session-Id",
        ] {
            assert!(is_secret_header(h), "{h}");
        }
        for h in [
            "Accept",
            "Content-Type",
            "Idempotency-Key",
            "X-Request-Id",
            "User-Agent",
            "Author",
        ] {
            assert!(!is_secret_header(h), "{h}");
        }
        for q in [
            "key",
            "api_key",
            "apiKey",
            "access_token",
            "token",
            "signature",
            "sig",
            "X-Amz-Credential",
            "X-Amz-Signature",
            "client_secret",
            "password",
        ] {
            assert!(is_secret_param(q), "{q}");
        }
        for q in ["q", "author", "page", "keyword", "monkey", "sort"] {
            assert!(!is_secret_param(q), "{q}");
        }
    }
}
