//! Maps the errors of curl import, web services and dispatch to the contract's codes.

use actix_web::http::StatusCode;
use keyway_curl::CurlError;
use keyway_dispatch::DispatchError;
use keyway_model::RequestError;
use keyway_web_services::WebServiceError;
use serde_json::{json, Map, Value};

use crate::error::ApiError;

/// 409 `limit_reached`: the org has as many of something as it may (`limit`).
fn limit_reached(message: String, limit: i64) -> ApiError {
    coded(
        StatusCode::CONFLICT,
        "limit_reached",
        message,
        detail(&[("limit", json!(limit))]),
    )
}

fn coded(
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Map<String, Value>,
) -> ApiError {
    ApiError::Coded {
        status,
        code,
        message,
        details,
    }
}

fn detail(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

impl From<RequestError> for ApiError {
    fn from(err: RequestError) -> Self {
        match err {
            RequestError::Invalid(parse) => parse.into(),
            RequestError::UnsupportedContentType(_) => coded(
                StatusCode::BAD_REQUEST,
                "unsupported_content_type",
                err.to_string(),
                detail(&[("field", json!("content_type"))]),
            ),
        }
    }
}

impl From<keyway_openapi::OpenApiError> for ApiError {
    fn from(err: keyway_openapi::OpenApiError) -> Self {
        match err {
            keyway_openapi::OpenApiError::TooLarge { limit } => ApiError::PayloadTooLarge { limit },
            other => coded(
                StatusCode::BAD_REQUEST,
                other.code(),
                other.to_string(),
                Map::new(),
            ),
        }
    }
}

impl From<CurlError> for ApiError {
    fn from(err: CurlError) -> Self {
        let message = err.to_string();
        match err {
            CurlError::Invalid { position, .. } => coded(
                StatusCode::BAD_REQUEST,
                "invalid_curl_command",
                message,
                detail(&[("position", json!(position))]),
            ),
            CurlError::Unsupported { options } => coded(
                StatusCode::BAD_REQUEST,
                "unsupported_curl_options",
                message,
                detail(&[("options", json!(options))]),
            ),
            CurlError::Request(request) => request.into(),
        }
    }
}

impl From<WebServiceError> for ApiError {
    fn from(err: WebServiceError) -> Self {
        let message = err.to_string();
        match err {
            WebServiceError::NotFound => {
                ApiError::NotFound("no web service with this ID is visible to you")
            }
            WebServiceError::Forbidden => ApiError::Forbidden(
                "only the web service's owner or an admin of its org may change or remove it",
            ),
            WebServiceError::CredentialNotFound => coded(
                StatusCode::NOT_FOUND,
                "not_found",
                message,
                detail(&[("field", json!("credential_id"))]),
            ),
            WebServiceError::Busy => {
                coded(StatusCode::SERVICE_UNAVAILABLE, "busy", message, Map::new())
            }
            WebServiceError::OrgLimit(limit) => limit_reached(message, limit),
            WebServiceError::DocumentNotFound => coded(
                StatusCode::NOT_FOUND,
                "not_found",
                message,
                detail(&[("field", json!("openapi.document_id"))]),
            ),
            WebServiceError::CredentialRemoved(id) => coded(
                StatusCode::CONFLICT,
                "credential_removed",
                message,
                detail(&[("web_service_id", json!(id))]),
            ),
            WebServiceError::Invalid(parse) => parse.into(),
            WebServiceError::Request(request) => request.into(),
            WebServiceError::Curl(curl) => curl.into(),
            WebServiceError::OpenApi(openapi) => openapi.into(),
            WebServiceError::Credential(credential) => credential.into(),
            other @ (WebServiceError::Store(_) | WebServiceError::Corrupt(_)) => {
                ApiError::Internal(Box::new(other))
            }
        }
    }
}

impl From<DispatchError> for ApiError {
    fn from(err: DispatchError) -> Self {
        let err = match err {
            DispatchError::Invalid(parse) => return parse.into(),
            DispatchError::Credential(credential) => return credential.into(),
            other => other,
        };
        let message = err.to_string();
        let code = err.code();
        let (status, details) = match &err {
            DispatchError::Invalid(_) | DispatchError::Credential(_) => {
                return ApiError::Internal(Box::new(err));
            }
            DispatchError::MissingContext(keys) => {
                (StatusCode::BAD_REQUEST, detail(&[("missing", json!(keys))]))
            }
            DispatchError::HeaderInjection(inj) => (
                StatusCode::BAD_REQUEST,
                detail(&[("key", json!(inj.key)), ("header", json!(inj.header))]),
            ),
            DispatchError::RenderedTooLarge(overflow) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                detail(&[
                    ("part", json!(overflow.part)),
                    ("limit_bytes", json!(overflow.limit)),
                ]),
            ),
            DispatchError::DestinationNotAllowed { host, .. } => {
                (StatusCode::FORBIDDEN, detail(&[("host", json!(host))]))
            }
            DispatchError::CredentialHostNotAllowed { host, allowed } => (
                StatusCode::FORBIDDEN,
                detail(&[("host", json!(host)), ("allowed_hosts", json!(allowed))]),
            ),
            DispatchError::InsecureDestination { host } => {
                (StatusCode::BAD_REQUEST, detail(&[("host", json!(host))]))
            }
            DispatchError::NeedsReauthorization { credential_id } => (
                StatusCode::CONFLICT,
                detail(&[("credential_id", json!(credential_id))]),
            ),
            DispatchError::Unreachable(_)
            | DispatchError::EncodedAnswer(_)
            | DispatchError::TokenUnavailable(_) => (StatusCode::BAD_GATEWAY, Map::new()),
            DispatchError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, Map::new()),
            DispatchError::AuditUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, Map::new()),
            DispatchError::TooLarge(limit) => (
                StatusCode::BAD_GATEWAY,
                detail(&[("limit_bytes", json!(limit))]),
            ),
            DispatchError::BodyTooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                detail(&[("limit_bytes", json!(limit))]),
            ),
            DispatchError::BadIdentity(_) | DispatchError::Internal(_) | DispatchError::Net(_) => {
                return ApiError::Internal(Box::new(err));
            }
        };
        coded(status, code, message, details)
    }
}

impl From<keyway_oauth::OAuthError> for ApiError {
    fn from(err: keyway_oauth::OAuthError) -> Self {
        use keyway_oauth::OAuthError;
        let message = err.to_string();
        match err {
            OAuthError::Invalid(parse) => parse.into(),
            OAuthError::Credential(credential) => credential.into(),
            OAuthError::TokenRequestFailed { provider_error, .. } => {
                // The provider answered with an OAuth error: the request was wrong (400).
                // No answer at all: a gateway problem (502).
                let status = if provider_error.is_some() {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::BAD_GATEWAY
                };
                coded(
                    status,
                    "oauth_token_request_failed",
                    message,
                    detail(&[("provider_error", json!(provider_error))]),
                )
            }
            OAuthError::NotAuthorizationCode => coded(
                StatusCode::CONFLICT,
                "not_authorization_code",
                message,
                Map::new(),
            ),
            OAuthError::Internal(_) => ApiError::Internal(Box::new(err)),
        }
    }
}
