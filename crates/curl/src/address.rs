//! The URL as curl reads it: a missing scheme is guessed from the host as curl guesses it, only
//! http and https are importable, and `-G` appends the data to the query.

use crate::CurlError;

pub(crate) fn normalize(raw: &str, pos: usize) -> Result<String, CurlError> {
    if raw.is_empty() {
        return Err(CurlError::invalid(
            pos,
            format!("the URL at position {pos} is empty"),
        ));
    }
    let other_scheme = |why: String| {
        CurlError::invalid(
            pos,
            format!("the URL at position {pos} {why}; import supports only http:// and https://"),
        )
    };
    match scheme(raw) {
        Some(s) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => {
            Ok(raw.to_owned())
        }
        Some(_) => Err(other_scheme("has another scheme".to_owned())),
        None => match guessed_scheme(raw) {
            None => Ok(format!("http://{raw}")),
            Some(prefix) => Err(other_scheme(format!(
                "has no scheme and its host starts with {prefix}, so curl would not use http"
            ))),
        },
    }
}

/// The scheme as curl's `Curl_is_absolute_url` finds it: letters, digits, `+`, `-`, `.`
/// starting with a letter, followed by `:/`.
fn scheme(raw: &str) -> Option<&str> {
    let bytes = raw.as_bytes();
    if !bytes.first()?.is_ascii_alphabetic() {
        return None;
    }
    let end = bytes
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')))?;
    raw.get(end..)?.starts_with(":/").then(|| raw.get(..end))?
}

/// curl guesses the protocol of a URL without scheme from its host's first label.
fn guessed_scheme(raw: &str) -> Option<&'static str> {
    ["ftp.", "dict.", "ldap.", "imap.", "smtp.", "pop3."]
        .into_iter()
        .find(|p| {
            raw.as_bytes()
                .get(..p.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(p.as_bytes()))
        })
}

/// `-G`: the data goes into the query, after a `&` when there is a query already (curl's
/// `CURLU_APPENDQUERY`), before any fragment.
pub(crate) fn append_query(url: &str, data: &str) -> String {
    let (base, fragment) = url.split_at(url.find('#').unwrap_or(url.len()));
    let mut out = base.to_owned();
    match base.split_once('?') {
        Some((_, query)) => {
            if !query.is_empty() && !query.ends_with('&') {
                out.push('&');
            }
        }
        None => out.push('?'),
    }
    out.push_str(data);
    out.push_str(fragment);
    out
}
