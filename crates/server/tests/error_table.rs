//! The error table: every error of every library, as the API answers it (status, code), read
//! from the real response. The `*_variants` functions match without a wildcard, so a new
//! variant does not compile until it is added here with its answer.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use actix_web::ResponseError;
use keyway_credentials::CredentialError;
use keyway_curl::CurlError;
use keyway_dispatch::{AuditFailure, DispatchError};
use keyway_model::mtls::MtlsError;
use keyway_model::template::{HeaderInjection, Overflow};
use keyway_model::{ParseError, RequestError};
use keyway_oauth::OAuthError;
use keyway_openapi::OpenApiError;
use keyway_server::error::ApiError;
use keyway_store::StoreError;
use keyway_web_services::WebServiceError;

async fn answer(err: ApiError) -> (u16, String) {
    let response = err.error_response();
    let status = response.status().as_u16();
    let body = actix_web::body::to_bytes(response.into_body())
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    (status, json["error"]["code"].as_str().unwrap().to_owned())
}

fn parse() -> ParseError {
    ParseError::new("name", "must not be empty")
}

fn unreachable_store() -> StoreError {
    StoreError::Database(sqlx::Error::PoolTimedOut)
}

fn broken_store() -> StoreError {
    StoreError::Database(sqlx::Error::RowNotFound)
}

fn credential_errors() -> Vec<(CredentialError, u16, &'static str)> {
    vec![
        (CredentialError::NotFound, 404, "not_found"),
        (CredentialError::Forbidden("x"), 403, "forbidden"),
        (CredentialError::Invalid(parse()), 400, "invalid_request"),
        (CredentialError::NameTaken, 409, "credential_name_taken"),
        (
            CredentialError::NewOwnerHasName,
            409,
            "credential_name_taken",
        ),
        (CredentialError::InUse(vec![]), 409, "credential_in_use"),
        (CredentialError::OwnerActive, 409, "credential_owner_active"),
        (CredentialError::OrgLimit(2), 409, "limit_reached"),
        (CredentialError::NotImplemented("x"), 501, "not_implemented"),
        (
            CredentialError::Store(broken_store()),
            500,
            "internal_error",
        ),
        (
            CredentialError::Store(unreachable_store()),
            503,
            "storage_unavailable",
        ),
        (
            CredentialError::Vault(keyway_vault::VaultError::KeyLength {
                id: "k".into(),
                len: 1,
            }),
            500,
            "internal_error",
        ),
        (CredentialError::Corrupt("x"), 500, "internal_error"),
    ]
}

fn credential_variants(e: &CredentialError) {
    match e {
        CredentialError::NotFound
        | CredentialError::Forbidden(_)
        | CredentialError::Invalid(_)
        | CredentialError::NameTaken
        | CredentialError::NewOwnerHasName
        | CredentialError::InUse(_)
        | CredentialError::OwnerActive
        | CredentialError::OrgLimit(_)
        | CredentialError::NotImplemented(_)
        | CredentialError::Store(_)
        | CredentialError::Vault(_)
        | CredentialError::Corrupt(_) => {}
    }
}

fn dispatch_errors() -> Vec<(DispatchError, u16, &'static str)> {
    let host = || "h.example".to_owned();
    vec![
        (DispatchError::Invalid(parse()), 400, "invalid_request"),
        (
            DispatchError::MissingContext(vec!["a".into()]),
            400,
            "missing_context_values",
        ),
        (
            DispatchError::HeaderInjection(HeaderInjection {
                key: "a".into(),
                header: "X".into(),
            }),
            400,
            "invalid_piped_value",
        ),
        (
            DispatchError::RenderedTooLarge(Overflow {
                part: "body",
                limit: 1,
            }),
            413,
            "rendered_request_too_large",
        ),
        (
            DispatchError::DestinationNotAllowed {
                host: host(),
                reason: None,
            },
            403,
            "destination_not_allowed",
        ),
        (
            DispatchError::CredentialHostNotAllowed {
                host: host(),
                allowed: vec![],
            },
            403,
            "credential_host_not_allowed",
        ),
        (
            DispatchError::InsecureDestination { host: host() },
            400,
            "insecure_destination",
        ),
        (
            DispatchError::NeedsReauthorization {
                credential_id: "c".into(),
            },
            409,
            "credential_needs_reauthorization",
        ),
        (
            DispatchError::Credential(CredentialError::NotFound),
            404,
            "not_found",
        ),
        (
            DispatchError::TokenUnavailable("x".into()),
            502,
            "oauth_token_request_failed",
        ),
        (
            DispatchError::Unreachable("x".into()),
            502,
            "upstream_unreachable",
        ),
        (
            DispatchError::EncodedAnswer("gzip".into()),
            502,
            "upstream_unreachable",
        ),
        (DispatchError::Timeout(1), 504, "upstream_timeout"),
        (DispatchError::TooLarge(1), 502, "response_too_large"),
        (DispatchError::BodyTooLarge(1), 413, "payload_too_large"),
        (
            DispatchError::BadIdentity("x".into()),
            500,
            "internal_error",
        ),
        (
            DispatchError::AuditUnavailable(AuditFailure::StorageUnavailable),
            503,
            "storage_unavailable",
        ),
        (
            DispatchError::AuditUnavailable(AuditFailure::WriteFailed),
            503,
            "audit_unavailable",
        ),
        (
            DispatchError::AuditUnavailable(AuditFailure::ExportFailed),
            503,
            "audit_unavailable",
        ),
        (DispatchError::Internal("x".into()), 500, "internal_error"),
        (
            DispatchError::Net(keyway_net::NetError::ExtraCa("x".into())),
            500,
            "internal_error",
        ),
    ]
}

fn dispatch_variants(e: &DispatchError) {
    match e {
        DispatchError::Invalid(_)
        | DispatchError::MissingContext(_)
        | DispatchError::HeaderInjection(_)
        | DispatchError::RenderedTooLarge(_)
        | DispatchError::DestinationNotAllowed { .. }
        | DispatchError::CredentialHostNotAllowed { .. }
        | DispatchError::InsecureDestination { .. }
        | DispatchError::NeedsReauthorization { .. }
        | DispatchError::Credential(_)
        | DispatchError::TokenUnavailable(_)
        | DispatchError::Unreachable(_)
        | DispatchError::EncodedAnswer(_)
        | DispatchError::Timeout(_)
        | DispatchError::TooLarge(_)
        | DispatchError::BodyTooLarge(_)
        | DispatchError::BadIdentity(_)
        | DispatchError::AuditUnavailable(_)
        | DispatchError::Internal(_)
        | DispatchError::Net(_) => {}
    }
}

fn web_service_errors() -> Vec<(WebServiceError, u16, &'static str)> {
    let bad_json = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
    vec![
        (WebServiceError::NotFound, 404, "not_found"),
        (WebServiceError::Forbidden, 403, "forbidden"),
        (WebServiceError::CredentialNotFound, 404, "not_found"),
        (
            WebServiceError::CredentialRemoved("w".into()),
            409,
            "credential_removed",
        ),
        (WebServiceError::Invalid(parse()), 400, "invalid_request"),
        (
            WebServiceError::Request(RequestError::UnsupportedContentType("yaml".into())),
            400,
            "unsupported_content_type",
        ),
        (
            WebServiceError::Curl(CurlError::Unsupported {
                options: vec!["-L".into()],
            }),
            400,
            "unsupported_curl_options",
        ),
        (WebServiceError::DocumentNotFound, 404, "not_found"),
        (WebServiceError::Busy, 503, "busy"),
        (WebServiceError::OrgLimit(2), 409, "limit_reached"),
        (
            WebServiceError::OpenApi(OpenApiError::NotOpenApi),
            400,
            "invalid_openapi_document",
        ),
        (
            WebServiceError::Credential(CredentialError::NameTaken),
            409,
            "credential_name_taken",
        ),
        (
            WebServiceError::Store(broken_store()),
            500,
            "internal_error",
        ),
        (
            WebServiceError::Store(unreachable_store()),
            503,
            "storage_unavailable",
        ),
        (WebServiceError::Corrupt(bad_json), 500, "internal_error"),
    ]
}

fn openapi_errors() -> Vec<(OpenApiError, u16, &'static str)> {
    let at = || ("paths./a".to_owned(), "#/x".to_owned());
    vec![
        (
            OpenApiError::TooLarge { limit: 1 },
            413,
            "payload_too_large",
        ),
        (
            OpenApiError::Syntax("x".into()),
            400,
            "invalid_openapi_document",
        ),
        (OpenApiError::NotOpenApi, 400, "invalid_openapi_document"),
        (
            OpenApiError::UnsupportedVersion("4".into()),
            400,
            "invalid_openapi_document",
        ),
        (
            OpenApiError::Invalid {
                at: "a".into(),
                message: "b".into(),
            },
            400,
            "invalid_openapi_document",
        ),
        (
            OpenApiError::RemoteRef {
                at: at().0,
                target: at().1,
            },
            400,
            "invalid_openapi_document",
        ),
        (
            OpenApiError::MissingRef {
                at: at().0,
                target: at().1,
            },
            400,
            "invalid_openapi_document",
        ),
        (
            OpenApiError::CyclicRef {
                at: at().0,
                target: at().1,
            },
            400,
            "invalid_openapi_document",
        ),
        (
            OpenApiError::UnsupportedContentType("multipart/form-data".into()),
            400,
            "unsupported_content_type",
        ),
    ]
}

fn openapi_variants(e: &OpenApiError) {
    match e {
        OpenApiError::TooLarge { .. }
        | OpenApiError::Syntax(_)
        | OpenApiError::NotOpenApi
        | OpenApiError::UnsupportedVersion(_)
        | OpenApiError::Invalid { .. }
        | OpenApiError::RemoteRef { .. }
        | OpenApiError::MissingRef { .. }
        | OpenApiError::CyclicRef { .. }
        | OpenApiError::UnsupportedContentType(_) => {}
    }
}

fn web_service_variants(e: &WebServiceError) {
    match e {
        WebServiceError::NotFound
        | WebServiceError::Forbidden
        | WebServiceError::CredentialNotFound
        | WebServiceError::DocumentNotFound
        | WebServiceError::Busy
        | WebServiceError::OrgLimit(_)
        | WebServiceError::CredentialRemoved(_)
        | WebServiceError::Invalid(_)
        | WebServiceError::Request(_)
        | WebServiceError::Curl(_)
        | WebServiceError::OpenApi(_)
        | WebServiceError::Credential(_)
        | WebServiceError::Store(_)
        | WebServiceError::Corrupt(_) => {}
    }
}

fn curl_errors() -> Vec<(CurlError, u16, &'static str)> {
    vec![
        (
            CurlError::Invalid {
                message: "x".into(),
                position: 0,
            },
            400,
            "invalid_curl_command",
        ),
        (
            CurlError::Unsupported {
                options: vec!["-L".into()],
            },
            400,
            "unsupported_curl_options",
        ),
        (
            CurlError::Request(RequestError::Invalid(parse())),
            400,
            "invalid_request",
        ),
    ]
}

fn curl_variants(e: &CurlError) {
    match e {
        CurlError::Invalid { .. } | CurlError::Unsupported { .. } | CurlError::Request(_) => {}
    }
}

fn oauth_errors() -> Vec<(OAuthError, u16, &'static str)> {
    vec![
        (OAuthError::Invalid(parse()), 400, "invalid_request"),
        (
            OAuthError::Credential(CredentialError::NotFound),
            404,
            "not_found",
        ),
        (
            OAuthError::TokenRequestFailed {
                message: "x".into(),
                provider_error: Some("invalid_client".into()),
            },
            400,
            "oauth_token_request_failed",
        ),
        (
            OAuthError::TokenRequestFailed {
                message: "x".into(),
                provider_error: None,
            },
            502,
            "oauth_token_request_failed",
        ),
        (
            OAuthError::NotAuthorizationCode,
            409,
            "not_authorization_code",
        ),
        (OAuthError::Internal("x".into()), 500, "internal_error"),
    ]
}

fn oauth_variants(e: &OAuthError) {
    match e {
        OAuthError::Invalid(_)
        | OAuthError::Credential(_)
        | OAuthError::TokenRequestFailed { .. }
        | OAuthError::NotAuthorizationCode
        | OAuthError::Internal(_) => {}
    }
}

fn api_errors() -> Vec<(ApiError, u16, &'static str)> {
    vec![
        (ApiError::Unauthenticated, 401, "unauthenticated"),
        (ApiError::NotFound("x"), 404, "not_found"),
        (ApiError::Forbidden("x"), 403, "forbidden"),
        (ApiError::invalid(Some("f"), "x"), 400, "invalid_request"),
        (
            ApiError::PayloadTooLarge { limit: 1 },
            413,
            "payload_too_large",
        ),
        (
            ApiError::RequestTimeout { seconds: 1 },
            408,
            "request_timeout",
        ),
        (
            ApiError::MethodNotAllowed { allow: "GET" },
            405,
            "method_not_allowed",
        ),
        (
            ApiError::UnsupportedMediaType,
            415,
            "unsupported_media_type",
        ),
        (
            ApiError::InvalidMtls(MtlsError::CertificateMissing { detail: "x".into() }),
            400,
            "invalid_mtls_material",
        ),
        (ApiError::NotReady, 503, "not_ready"),
        (ApiError::Internal("x".into()), 500, "internal_error"),
        (
            ApiError::Internal(Box::new(unreachable_store())),
            503,
            "storage_unavailable",
        ),
    ]
}

fn api_variants(e: &ApiError) {
    match e {
        ApiError::Unauthenticated
        | ApiError::NotFound(_)
        | ApiError::Forbidden(_)
        | ApiError::InvalidRequest { .. }
        | ApiError::PayloadTooLarge { .. }
        | ApiError::RequestTimeout { .. }
        | ApiError::MethodNotAllowed { .. }
        | ApiError::UnsupportedMediaType
        | ApiError::InvalidMtls(_)
        | ApiError::Credential(_)
        | ApiError::Coded { .. }
        | ApiError::NotReady
        | ApiError::Internal(_) => {}
    }
}

#[tokio::test]
async fn every_error_answers_its_status_and_code() {
    let mut cases: Vec<(ApiError, u16, &'static str, String)> = vec![];
    for (e, status, code) in credential_errors() {
        credential_variants(&e);
        let name = format!("credential {e:?}");
        cases.push((e.into(), status, code, name));
    }
    for (e, status, code) in dispatch_errors() {
        dispatch_variants(&e);
        let name = format!("dispatch {e:?}");
        cases.push((e.into(), status, code, name));
    }
    for (e, status, code) in openapi_errors() {
        openapi_variants(&e);
        let name = format!("openapi {e:?}");
        cases.push((e.into(), status, code, name));
    }
    for (e, status, code) in web_service_errors() {
        web_service_variants(&e);
        let name = format!("web service {e:?}");
        cases.push((e.into(), status, code, name));
    }
    for (e, status, code) in curl_errors() {
        curl_variants(&e);
        let name = format!("curl {e:?}");
        cases.push((e.into(), status, code, name));
    }
    for (e, status, code) in oauth_errors() {
        oauth_variants(&e);
        let name = format!("oauth {e:?}");
        cases.push((e.into(), status, code, name));
    }
    for (e, status, code) in api_errors() {
        api_variants(&e);
        let name = format!("api {e:?}");
        cases.push((e, status, code, name));
    }
    for (err, status, code, name) in cases {
        assert_eq!(answer(err).await, (status, code.to_owned()), "{name}");
    }
}
