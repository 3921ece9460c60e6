//! OpenAPI documents people paste to set up web services: OpenAPI 3.0 and 3.1 or Swagger 2.0,
//! JSON or YAML, read within limits, their internal `$ref`s resolved (cycles and
//! remote references refused), and their operations listed. Pure: nothing is fetched.

mod build;
mod document;
mod operations;
mod refs;
mod yaml;

pub use build::{Built, Filled, Selector, Suggestion};
pub use document::{Document, Version, MAX_DOCUMENT_BYTES};
pub use operations::{Operation, Parameter, SecurityOption, SecurityScheme};

/// Why a document was refused. Every message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenApiError {
    #[error("the document is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the document cannot be read: {0}")]
    Syntax(String),
    #[error("the document is neither OpenAPI 3 (an `openapi` field) nor Swagger 2.0 (a `swagger` field)")]
    NotOpenApi,
    #[error("OpenAPI version {0:?} is not supported: use 3.0, 3.1 or Swagger 2.0")]
    UnsupportedVersion(String),
    #[error("{at}: {message}")]
    Invalid { at: String, message: String },
    #[error("{at}: the reference {target:?} points outside the document; Keyway never fetches references: inline it")]
    RemoteRef { at: String, target: String },
    #[error("{at}: the reference {target:?} points to nothing in the document")]
    MissingRef { at: String, target: String },
    #[error("{at}: the reference {target:?} leads back to itself")]
    CyclicRef { at: String, target: String },
    #[error("the operation's request body is {0}: Keyway sends JSON, XML, URL-encoded or plain text bodies only")]
    UnsupportedContentType(String),
}

impl OpenApiError {
    /// The API error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "payload_too_large",
            Self::UnsupportedContentType(_) => "unsupported_content_type",
            _ => "invalid_openapi_document",
        }
    }
}
