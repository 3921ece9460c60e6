//! Assembles the request curl would send from what the options asked for: one URL, the headers
//! after removals, the implied method, content type, `Authorization` and `Accept`.

use crate::address;
use crate::values::HeaderLine;
use crate::CurlError;
use keyway_model::{ContentType, Header, RequestDefinition, RequestError, RequestInput};
use std::collections::{HashMap, HashSet};

/// What the supported options asked for, in the order given.
#[derive(Debug, Default)]
pub(crate) struct Draft {
    /// Each URL argument and its position.
    pub urls: Vec<(String, usize)>,
    pub method: Option<String>,
    pub headers: Vec<(HeaderLine, usize)>,
    pub get: bool,
    /// All data options joined, if any was given.
    pub data: Option<String>,
    /// Whether any of the data came from --json.
    pub json: bool,
    /// The `Authorization` value from `-u`, and the option as written.
    pub user: Option<(String, String)>,
}

pub(crate) fn finish(
    draft: Draft,
    command_pos: usize,
    warnings: &mut Vec<String>,
) -> Result<RequestDefinition, CurlError> {
    let mut url = single_url(&draft.urls, command_pos)?;
    let (mut headers, named, removed) = resolve_headers(draft.headers);

    let mut body = None;
    if let Some(data) = draft.data {
        if draft.get {
            url = address::append_query(&url, &data);
        } else {
            body = Some(data);
        }
    }
    let content_type = match &body {
        None => None,
        Some(_) => Some(content_type(&headers, &removed, draft.json)?),
    };
    if let Some((authorization, opt)) = draft.user {
        if named.contains("authorization") {
            warnings.push(format!(
                "{opt} is ignored because an Authorization header is given with -H, as curl does"
            ));
        } else {
            headers.insert(0, Header::new("Authorization", authorization));
            warnings.push(format!(
                "{opt} puts a password in the request; store it in a basic credential and set \
                 credential_id instead"
            ));
        }
    }
    if draft.json && !named.contains("accept") {
        headers.push(Header::new("Accept", "application/json"));
    }
    // Commands copied from a browser or from API docs often carry these; Keyway sets them
    // itself, so they are left out with a word rather than failing the import.
    headers.retain(|h| {
        let keep = !keyway_model::request::is_set_by_keyway(&h.name);
        if !keep {
            warnings.push(format!(
                "the {} header is left out: Keyway sets it itself, from the URL and the body",
                h.name
            ));
        }
        keep
    });
    let method = draft
        .method
        .unwrap_or_else(|| if body.is_some() { "POST" } else { "GET" }.to_owned());
    RequestDefinition::parse(RequestInput {
        method: Some(method),
        url,
        headers,
        body,
        content_type: content_type.map(|c| c.as_str().to_owned()),
        credential_id: None,
        timeout_ms: None,
    })
    .map_err(CurlError::Request)
}

fn single_url(urls: &[(String, usize)], command_pos: usize) -> Result<String, CurlError> {
    match urls {
        [] => Err(CurlError::invalid(
            command_pos,
            "the command has no URL; give the address to call",
        )),
        [(url, pos)] => address::normalize(url, *pos),
        [(_, first), (_, second), ..] => Err(CurlError::invalid(
            *second,
            format!(
                "a second URL at position {second} (the first is at position {first}); import \
                 takes one URL, so quote any argument that contains spaces"
            ),
        )),
    }
}

/// Applies `Name:` removals to the headers given before them. Returns the headers kept, every
/// name mentioned (lowercase; a mention also stops curl adding its own header of that name)
/// and, for removed names, where the last removal is.
fn resolve_headers(
    lines: Vec<(HeaderLine, usize)>,
) -> (Vec<Header>, HashSet<String>, HashMap<String, usize>) {
    let mut named = HashSet::new();
    let mut removed = HashMap::new();
    let mut kept = Vec::new();
    // Backwards, so each header is checked against the removals that come after it.
    for (line, pos) in lines.into_iter().rev() {
        match line {
            HeaderLine::Remove(name) => {
                let lower = name.to_ascii_lowercase();
                removed.entry(lower.clone()).or_insert(pos);
                named.insert(lower);
            }
            HeaderLine::Set(header) => {
                let lower = header.name.to_ascii_lowercase();
                if !removed.contains_key(&lower) {
                    kept.push(header);
                }
                named.insert(lower);
            }
        }
    }
    kept.reverse();
    (kept, named, removed)
}

/// The body's type: the first `Content-Type` header given, else what the data options imply.
fn content_type(
    headers: &[Header],
    removed: &HashMap<String, usize>,
    json: bool,
) -> Result<ContentType, CurlError> {
    if let Some(h) = headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-type"))
    {
        return ContentType::from_mime(&h.value).ok_or_else(|| {
            let essence = h.value.split(';').next().unwrap_or_default().trim();
            CurlError::Request(RequestError::UnsupportedContentType(
                essence.to_ascii_lowercase().chars().take(64).collect(),
            ))
        });
    }
    if let Some(pos) = removed.get("content-type") {
        return Err(CurlError::invalid(
            *pos,
            format!(
                "the header at position {pos} removes Content-Type, but the request has a body, \
                 which needs one of {}",
                ContentType::NAMES
            ),
        ));
    }
    Ok(if json {
        ContentType::Json
    } else {
        ContentType::Urlencoded
    })
}
