//! Reads the values of supported options as curl does: header lines, the data forms, `-u`'s
//! credentials and `-X`'s method. Messages name the option and position, never the value.

use crate::options::Opt;
use crate::CurlError;
use base64::Engine as _;
use keyway_model::request::is_token;
use keyway_model::{Header, RequestDefinition};

/// One `-H` argument.
#[derive(Debug, Clone)]
pub(crate) enum HeaderLine {
    Set(Header),
    /// `Name:` with nothing after the colon: send no header of that name.
    Remove(String),
}

pub(crate) fn header(raw: &str, opt: &str, pos: usize) -> Result<HeaderLine, CurlError> {
    if raw.starts_with('@') {
        return Err(CurlError::invalid(
            pos,
            format!(
                "{opt} at position {pos} reads headers from a file, which import cannot do; \
                 give each header with its own {opt} \"Name: value\""
            ),
        ));
    }
    let malformed = || {
        CurlError::invalid(
            pos,
            format!(
                "the header given with {opt} at position {pos} is not \"Name: value\" \
                 (or \"Name;\" for an empty value)"
            ),
        )
    };
    let (name, value, empty_form) = if let Some((name, value)) = raw.split_once(':') {
        (name, value.trim_matches([' ', '\t']), false)
    } else if let Some((name, rest)) = raw.split_once(';') {
        // curl sends `Name;` as an empty header, and ignores `Name; more`.
        if !rest.trim().is_empty() {
            return Err(malformed());
        }
        (name, "", true)
    } else {
        return Err(malformed());
    };
    if !is_token(name) {
        return Err(CurlError::invalid(
            pos,
            format!("the header given with {opt} at position {pos} has no valid header name"),
        ));
    }
    if value.is_empty() && !empty_form {
        return Ok(HeaderLine::Remove(name.to_owned()));
    }
    if value.contains(['\r', '\n', '\0']) {
        return Err(CurlError::invalid(
            pos,
            format!("the header value given with {opt} at position {pos} is not one line"),
        ));
    }
    if value.len() > RequestDefinition::MAX_HEADER_BYTES {
        return Err(CurlError::invalid(
            pos,
            format!(
                "the header value given with {opt} at position {pos} is longer than {} bytes",
                RequestDefinition::MAX_HEADER_BYTES
            ),
        ));
    }
    Ok(HeaderLine::Set(Header::new(name, value)))
}

/// The text one data option adds to the request data.
pub(crate) fn data(kind: Opt, raw: &str, opt: &str, pos: usize) -> Result<String, CurlError> {
    let reads_file = || {
        let fix = match kind {
            Opt::Json => "paste the JSON itself with --json '...'",
            Opt::DataUrlencode => "paste the content as name=content",
            _ => "paste the content with --data-raw",
        };
        CurlError::invalid(
            pos,
            format!("{opt} at position {pos} reads a file (@...), which import cannot do; {fix}"),
        )
    };
    match kind {
        Opt::DataRaw => Ok(raw.to_owned()),
        Opt::DataUrlencode => {
            // curl: `name=content` or `=content` or `content` (no `=`), and `name@file`.
            if let Some((name, content)) = raw.split_once('=') {
                if name.is_empty() {
                    Ok(percent_encode(content))
                } else {
                    Ok(format!("{name}={}", percent_encode(content)))
                }
            } else if raw.contains('@') {
                Err(reads_file())
            } else {
                Ok(percent_encode(raw))
            }
        }
        _ if raw.starts_with('@') => Err(reads_file()),
        _ => Ok(raw.to_owned()),
    }
}

/// curl_easy_escape: everything but RFC 3986 unreserved characters becomes `%XX`.
pub(crate) fn percent_encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0F)]));
        }
    }
    out
}

/// `-u user:password` as the Basic authorization header value curl sends.
pub(crate) fn basic(raw: &str, opt: &str, pos: usize) -> Result<String, CurlError> {
    if !raw.contains(':') {
        return Err(CurlError::invalid(
            pos,
            format!(
                "{opt} at position {pos} gives no password (curl would ask for one); \
                 write user:password"
            ),
        ));
    }
    Ok(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    ))
}

pub(crate) fn method(raw: &str, opt: &str, pos: usize) -> Result<String, CurlError> {
    RequestDefinition::check_method(raw)
        .map(str::to_owned)
        .map_err(|e| {
            CurlError::invalid(
                pos,
                format!(
                    "the method given with {opt} at position {pos} is not an HTTP method Keyway sends: {}",
                    e.message
                ),
            )
        })
}
