//! The contract's error shape, `{"error": {"code", "message", ...details}}`, for every failure.
//! Unknown failures become an opaque 500 whose cause chain is logged, never sent.

use actix_web::http::header::{ALLOW, WWW_AUTHENTICATE};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use keyway_credentials::CredentialError;
use keyway_model::mtls::MtlsError;
use keyway_model::ParseError;
use keyway_store::{StoreError, Unavailable};
use serde_json::{json, Map, Value};
use std::fmt;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("send `Authorization: Bearer <token>` with a token from `keyway token create`")]
    Unauthenticated,
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{message}")]
    InvalidRequest {
        field: Option<String>,
        message: String,
    },
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the request body did not arrive within {seconds} s")]
    RequestTimeout { seconds: u64 },
    #[error("the method is not allowed on this path; it answers {allow}")]
    MethodNotAllowed { allow: &'static str },
    #[error("send the body as JSON with `Content-Type: application/json`")]
    UnsupportedMediaType,
    #[error("{0}")]
    InvalidMtls(MtlsError),
    #[error(transparent)]
    Credential(CredentialError),
    /// An error of another part (curl import, web services, dispatch) with its own code.
    #[error("{message}")]
    Coded {
        status: StatusCode,
        code: &'static str,
        message: String,
        details: Map<String, Value>,
    },
    #[error("the service is not ready")]
    NotReady,
    #[error("an internal error occurred; it has been logged")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn invalid(field: Option<&str>, message: impl Into<String>) -> Self {
        ApiError::InvalidRequest {
            field: field.map(str::to_owned),
            message: message.into(),
        }
    }

    /// Storage that cannot take requests, found anywhere in the cause chain: whatever the
    /// operation, the answer is 503 `storage_unavailable` and the caller may retry.
    fn storage(&self) -> Option<Unavailable> {
        self.store_error().and_then(StoreError::unavailable)
    }

    /// Text the database refused to hold (a NUL character), anywhere in the cause chain: the
    /// request's fault, 400, never a 500.
    fn unstorable(&self) -> bool {
        self.store_error()
            .is_some_and(StoreError::is_unstorable_text)
    }

    fn store_error(&self) -> Option<&StoreError> {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(err) = cause {
            if let Some(store) = err.downcast_ref::<StoreError>() {
                return Some(store);
            }
            cause = err.source();
        }
        None
    }

    /// The one table of status and code for every error (libraries own the codes of their
    /// own errors; `Coded` carries them).
    fn describe(&self) -> (StatusCode, &'static str) {
        if self.storage().is_some() {
            return (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable");
        }
        if self.unstorable() {
            return (StatusCode::BAD_REQUEST, "invalid_request");
        }
        match self {
            ApiError::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::InvalidRequest { .. } => (StatusCode::BAD_REQUEST, "invalid_request"),
            ApiError::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
            }
            ApiError::RequestTimeout { .. } => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            ApiError::MethodNotAllowed { .. } => {
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
            }
            ApiError::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::InvalidMtls(_) => (StatusCode::BAD_REQUEST, "invalid_mtls_material"),
            ApiError::NotReady => (StatusCode::SERVICE_UNAVAILABLE, "not_ready"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
            ApiError::Coded { status, code, .. } => (*status, code),
            ApiError::Credential(err) => match err {
                CredentialError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
                CredentialError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
                CredentialError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
                CredentialError::NameTaken | CredentialError::NewOwnerHasName => {
                    (StatusCode::CONFLICT, "credential_name_taken")
                }
                CredentialError::InUse(_) => (StatusCode::CONFLICT, "credential_in_use"),
                CredentialError::OwnerActive => (StatusCode::CONFLICT, "credential_owner_active"),
                CredentialError::OrgLimit(_) => (StatusCode::CONFLICT, "limit_reached"),
                CredentialError::NotImplemented(_) => {
                    (StatusCode::NOT_IMPLEMENTED, "not_implemented")
                }
                CredentialError::Store(_)
                | CredentialError::Vault(_)
                | CredentialError::Corrupt(_) => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
                }
            },
        }
    }

    pub(crate) fn code(&self) -> &'static str {
        self.describe().1
    }

    fn details(&self) -> Map<String, Value> {
        let mut details = Map::new();
        match self {
            ApiError::InvalidRequest {
                field: Some(field), ..
            } => {
                details.insert("field".into(), json!(field));
            }
            ApiError::Credential(CredentialError::Invalid(ParseError { field, .. })) => {
                details.insert("field".into(), json!(field));
            }
            ApiError::PayloadTooLarge { limit } => {
                details.insert("limit_bytes".into(), json!(limit));
            }
            ApiError::Credential(CredentialError::OrgLimit(limit)) => {
                details.insert("limit".into(), json!(limit));
            }
            ApiError::InvalidMtls(err) => {
                details.insert("field".into(), json!("mtls"));
                details.insert("reason".into(), json!(err.reason()));
            }
            ApiError::Credential(CredentialError::InUse(users)) => {
                let users: Vec<Value> = users
                    .iter()
                    .map(|u| json!({"id": u.id, "name": u.name}))
                    .collect();
                details.insert("used_by".into(), Value::Array(users));
            }
            ApiError::Coded { details: extra, .. } => {
                details.extend(extra.clone());
            }
            _ => {}
        }
        details
    }

    fn is_internal(&self) -> bool {
        self.status_code() == StatusCode::INTERNAL_SERVER_ERROR
    }
}

impl From<CredentialError> for ApiError {
    fn from(err: CredentialError) -> Self {
        ApiError::Credential(err)
    }
}

impl From<MtlsError> for ApiError {
    fn from(err: MtlsError) -> Self {
        ApiError::InvalidMtls(err)
    }
}

impl From<ParseError> for ApiError {
    fn from(err: ParseError) -> Self {
        ApiError::Credential(CredentialError::Invalid(err))
    }
}

impl ApiError {
    /// What a caller is told, logging what they are not: a storage failure (with its cause
    /// chain, as a warning) or an internal error (as an error). The API's JSON error and the
    /// console's error page both say this.
    pub(crate) fn public_message(&self) -> String {
        if let Some(why) = self.storage() {
            tracing::warn!(error = %Chain(self), reason = why.reason(), "storage unavailable");
            match why {
                Unavailable::Unreachable => "the database cannot be reached; nothing was changed; try again shortly",
                Unavailable::Full => "the database's disk is full; nothing was changed; the operator must free space",
                Unavailable::ReadOnly => "the database cannot be written (read-only); nothing was changed; the operator must fix it",
                Unavailable::DiskError => "the database's disk failed; nothing was changed; the operator must check it",
            }
            .to_owned()
        } else if self.unstorable() {
            "a value holds a NUL character (\\u0000 or %00), which cannot be stored or looked up; \
             nothing was changed"
                .to_owned()
        } else if self.is_internal() {
            tracing::error!(error = %Chain(self), "request failed");
            "an internal error occurred; it has been logged".to_owned()
        } else {
            self.to_string()
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.describe().0
    }

    fn error_response(&self) -> HttpResponse {
        let storage = self.storage();
        let message = self.public_message();
        let mut body = self.details();
        if let Some(why) = storage {
            body.insert("reason".into(), json!(why.reason()));
        }
        body.insert("code".into(), json!(self.code()));
        body.insert("message".into(), json!(message));
        let mut response = HttpResponse::build(self.status_code());
        match self {
            // RFC 6750 §3: a bearer-protected resource says so on 401.
            ApiError::Unauthenticated => {
                response.insert_header((WWW_AUTHENTICATE, "Bearer realm=\"keyway\""));
            }
            // RFC 9110 §15.5.6: a 405 lists what the resource answers.
            ApiError::MethodNotAllowed { allow } => {
                response.insert_header((ALLOW, *allow));
            }
            _ => {}
        }
        response.json(json!({ "error": body }))
    }
}

/// Displays an error with all its sources, for the log only.
struct Chain<'a>(&'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(err) = source {
            write!(f, ": {err}")?;
            source = err.source();
        }
        Ok(())
    }
}
