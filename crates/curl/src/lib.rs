//! Turns a curl command pasted from API docs into the request definition curl itself would send.
//!
//! Pure: no I/O, no environment. The command is split into words as a POSIX shell would, but
//! `$VAR`, `${VAR}` and `$(..)` are kept as written (no shell runs here; the import warns), the
//! options are read with curl's own rules, and the result is checked by
//! [`RequestDefinition::parse`]. Errors never quote header values or data, which may hold
//! secrets; they name the option and its position (a 0-based character offset).
//!
//! Where curl leaves a choice, the request is what curl sends: data options are joined with
//! `&` (`--json` pieces are concatenated), data implies POST and a form body unless a
//! `Content-Type` header says otherwise, `-G` moves the data to the query, `-u` becomes a
//! leading `Authorization: Basic` header unless `-H` names `Authorization`, `--json` appends
//! `Accept: application/json` unless `-H` names `Accept`, and a URL without scheme is guessed
//! as curl guesses (`http://`, but `ftp.` hosts are FTP and refused). `-H 'Name:'` removes
//! earlier headers of that name and the header curl would add itself.

mod address;
mod ansi_c;
mod args;
mod build;
mod options;
mod shell;
mod values;

use keyway_model::{ContentType, RequestDefinition, RequestError};
use serde::{Deserialize, Serialize};

/// How to treat options that import does not support.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct ImportOptions {
    /// Leave unsupported options out (listed in [`Import::dropped`]) instead of failing.
    pub drop_unsupported: bool,
}

/// A successful import.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Import {
    pub request: RequestDefinition,
    /// Unsupported options left out, as written, in order (only with `drop_unsupported`).
    pub dropped: Vec<String>,
    /// Things the caller should know, e.g. that `-u` put a password into the request.
    pub warnings: Vec<String>,
}

/// Why a command was not imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurlError {
    /// `invalid_curl_command`: the command cannot be read; `position` is a 0-based character
    /// offset into the input.
    #[error("invalid curl command: {message}")]
    Invalid { message: String, position: usize },
    /// `unsupported_curl_options`: each option as written, in order, without repeats.
    #[error(
        "unsupported curl options: {}; each changes or observes the transfer in a way a \
         web-service call cannot: remove them, or import with drop_unsupported to leave them out",
        options.join(", ")
    )]
    Unsupported { options: Vec<String> },
    /// The request built is not a valid request definition.
    #[error("{}", request_message(.0))]
    Request(RequestError),
}

impl CurlError {
    /// The API error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "invalid_curl_command",
            Self::Unsupported { .. } => "unsupported_curl_options",
            Self::Request(RequestError::UnsupportedContentType(_)) => "unsupported_content_type",
            Self::Request(RequestError::Invalid(_)) => "invalid_request",
        }
    }

    pub(crate) fn invalid(position: usize, message: impl Into<String>) -> Self {
        Self::Invalid {
            message: message.into(),
            position,
        }
    }
}

// The model's own message for an unsupported content type quotes the value, which comes from a
// header here; say what is wrong without it.
fn request_message(err: &RequestError) -> String {
    match err {
        RequestError::UnsupportedContentType(_) => format!(
            "the Content-Type header is not a body type Keyway can send ({}); multipart and \
             binary bodies cannot be imported",
            ContentType::NAMES
        ),
        RequestError::Invalid(e) => format!("the imported request is not valid: {e}"),
    }
}

/// Imports one curl command. See the crate documentation for what is supported.
pub fn import(command: &str, options: &ImportOptions) -> Result<Import, CurlError> {
    let split = shell::split(command)?;
    let (first, rest) = split
        .words
        .split_first()
        .ok_or_else(|| CurlError::invalid(0, "the command is empty"))?;
    if !is_curl(&first.text) {
        return Err(CurlError::invalid(
            first.pos,
            format!(
                "not a curl command: it must start with curl (position {})",
                first.pos
            ),
        ));
    }
    let walked = args::walk(rest)?;
    if !walked.unsupported.is_empty() && !options.drop_unsupported {
        return Err(CurlError::Unsupported {
            options: walked.unsupported,
        });
    }
    let mut warnings = Vec::new();
    let request = build::finish(walked.draft, first.pos, &mut warnings)?;
    if let Some(at) = split.variable_at {
        warnings.push(format!(
            "the command refers to shell variables (the first at position {at}); import does \
             not expand them, so they are kept as written: replace them before use"
        ));
    }
    Ok(Import {
        request,
        dropped: walked.unsupported,
        warnings,
    })
}

fn is_curl(word: &str) -> bool {
    let base = word.rsplit('/').next().unwrap_or(word);
    base.eq_ignore_ascii_case("curl") || base.eq_ignore_ascii_case("curl.exe")
}
