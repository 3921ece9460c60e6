//! Literal secrets in a saved definition, which every member of the org can read: secret-like
//! headers and query parameters and URL user-info are refused (placeholders are fine).

use super::*;

/// Literal secrets would be stored in plain text with the definition, which everyone in the
/// org can read: they belong in a credential. Looked for in secret-like headers, secret-like
/// query parameters and the URL's user-info. A value made only of placeholders is fine (it is
/// filled per run), and so is a bare scheme such as `Bearer ` before one.
pub(super) fn refuse_stored_secrets(request: &RequestDefinition) -> Result<(), WebServiceError> {
    let empty = Context::default();
    let literal = |template: &str| {
        Renderer::new(&empty)
            .render(template, Escape::Text)
            .into_owned()
    };
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
