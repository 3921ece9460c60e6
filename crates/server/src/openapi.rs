//! Keyway's OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations
//! and the types they take and answer. `GET /openapi.json` serves it; `keyway openapi` prints
//! it for `docs/openapi.json`, which a test keeps equal to it.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::routes;

/// Every error answer: `{"error": {"code", "message", ...details}}`.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)] // a schema only: answers are built by `ApiError::error_response`
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

/// An error's code (stable, for programs), message (for people) and details that depend on
/// the code: `field` for invalid input, `limit_bytes` for sizes, `used_by` for a credential in
/// use, `provider_error` for an OAuth provider's refusal, `options` for unsupported curl
/// options, `reason` for storage that cannot take requests, and so on.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub(crate) struct ErrorDetail {
    /// For example `invalid_request`, `not_found`, `credential_in_use`.
    code: String,
    message: String,
    /// The request field the error is about, when it is about one.
    field: Option<String>,
    #[schema(additional_properties)]
    #[serde(flatten)]
    details: std::collections::HashMap<String, serde_json::Value>,
}

// Answers built with `json!` in their handlers, described here. A schema-checking test run
// (schemathesis, in scripts/test.sh) compares every answer with these.

/// `GET /healthz`.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub(crate) struct Health {
    /// `ok`.
    status: String,
}

/// `GET /readyz`.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub(crate) struct Ready {
    /// `ready`.
    status: String,
    /// `ok`.
    database: String,
    /// How many master keys are loaded.
    master_keys: usize,
}

/// `GET /v1/me`.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub(crate) struct Me {
    user: IdName,
    org: OrgRef,
    /// `member` or `admin`.
    role: String,
}

#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub(crate) struct IdName {
    id: String,
    name: String,
}

#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub(crate) struct OrgRef {
    id: String,
    slug: String,
}

/// `POST /v1/credentials`: the new credential, and where to send the person for the
/// authorization code grant.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub(crate) struct CreatedCredential {
    #[serde(flatten)]
    credential: keyway_credentials::CredentialView,
    /// The provider's authorization URL with Keyway's state and PKCE challenge.
    authorize_url: Option<String>,
}

/// `GET /v1/credentials`.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub(crate) struct CredentialList {
    credentials: Vec<keyway_credentials::CredentialView>,
}

/// `POST /v1/credentials/{id}/authorize`.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub(crate) struct AuthorizeUrl {
    authorize_url: String,
}

/// `GET /v1/oauth/providers`.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub(crate) struct Providers {
    /// The redirect URI to register with each provider.
    redirect_uri: String,
    providers: Vec<Provider>,
}

/// One provider preset.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub(crate) struct Provider {
    name: String,
    display_name: String,
    authorize_url: Option<String>,
    token_url: Option<String>,
    revoke_url: Option<String>,
    scopes: Vec<String>,
    authorize_params: std::collections::BTreeMap<String, String>,
    token_params: std::collections::BTreeMap<String, String>,
    /// `client_secret_basic` or `client_secret_post`.
    client_auth: String,
    /// Token-response fields kept with the credential (e.g. Salesforce `instance_url`).
    keep: Vec<String>,
    allowed_hosts: Vec<String>,
}

/// `GET /v1/web-services`.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub(crate) struct WebServiceList {
    web_services: Vec<keyway_web_services::WebServiceView>,
}

/// `GET /v1/audit`.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub(crate) struct AuditPage {
    events: Vec<keyway_credentials::AuditView>,
    /// Pass as `before` for the next (older) page; `null` on the last.
    next_before: Option<i64>,
}

/// Adds the bearer scheme every `/v1` operation uses.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token from `keyway token create` (it starts with `kw_`).",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keyway",
        description = "Credential vault and OAuth 2.0 broker for outgoing web-service calls. \
            The contract is docs/SPEC.md; every error has the shape of `ErrorBody`.",
        license(name = "Proprietary"),
    ),
    paths(
        routes::health::healthz,
        routes::health::readyz,
        routes::health::metrics,
        openapi_json,
        routes::me::me,
        routes::credentials::list,
        routes::credentials::create,
        routes::credentials::get,
        routes::credentials::update,
        routes::credentials::delete,
        routes::credentials::reconnect,
        routes::credentials::transfer,
        routes::credentials::replace_secret,
        routes::oauth::providers,
        routes::oauth::redirect,
        routes::web_services::list,
        routes::web_services::create,
        routes::web_services::get,
        routes::web_services::replace,
        routes::web_services::delete,
        routes::web_services::run,
        routes::dispatch::dispatch,
        routes::dispatch::curl_import,
        routes::audit::list,
        routes::openapi_docs::operations,
        routes::proxy::proxy,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&Bearer),
    tags(
        (name = "credentials", description = "Accounts Keyway holds the secrets of"),
        (name = "oauth", description = "OAuth 2.0 presets and the provider's redirect"),
        (name = "web-services", description = "Saved request definitions, run by ID"),
        (name = "dispatch", description = "Running a definition once; importing curl commands"),
        (name = "audit", description = "Who did what with which credential"),
        (name = "proxy", description = "Any HTTP request, signed and sent on as it came (proxy mode)"),
        (name = "operations", description = "Health, readiness, metrics, this document"),
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

/// The document as pretty JSON (the form `docs/openapi.json` holds), generated once.
pub fn document() -> &'static str {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(generate)
}

fn generate() -> String {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    camel_case_links(&mut doc);
    one_operation_id_per_method(&mut doc);
    let mut json = serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".to_owned());
    json.push('\n');
    json
}

/// utoipa 5 writes a Link Object's fields in snake case (`operation_id`); OpenAPI names them
/// `operationId`, `operationRef` and `requestBody`, and validators refuse the others.
fn camel_case_links(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    let responses = paths
        .values_mut()
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut())
        .filter_map(|operation| operation.get_mut("responses"))
        .filter_map(|responses| responses.as_object_mut())
        .flat_map(|responses| responses.values_mut());
    for response in responses {
        let Some(links) = response.get_mut("links").and_then(|l| l.as_object_mut()) else {
            continue;
        };
        for link in links.values_mut().filter_map(|l| l.as_object_mut()) {
            for (from, to) in [
                ("operation_id", "operationId"),
                ("operation_ref", "operationRef"),
                ("request_body", "requestBody"),
            ] {
                if let Some(value) = link.remove(from) {
                    link.insert(to.to_owned(), value);
                }
            }
        }
    }
}

/// utoipa gives every method of a multi-method path (proxy mode's) the same `operationId`;
/// OpenAPI wants each unique, so such an operation's methods get `_get`, `_post`, ... added.
fn one_operation_id_per_method(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for item in paths.values_mut().filter_map(|i| i.as_object_mut()) {
        let mut seen = std::collections::HashMap::<String, usize>::new();
        for operation in item.values() {
            if let Some(id) = operation.get("operationId").and_then(|v| v.as_str()) {
                *seen.entry(id.to_owned()).or_default() += 1;
            }
        }
        for (method, operation) in item.iter_mut() {
            let Some(id) = operation.get("operationId").and_then(|v| v.as_str()) else {
                continue;
            };
            if seen.get(id).is_some_and(|n| *n > 1) {
                operation["operationId"] = serde_json::json!(format!("{id}_{method}"));
            }
        }
    }
}

/// `GET /openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json"))
)]
pub async fn openapi_json() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type("application/json")
        .body(document())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// Every route the server registers is in the document with exactly the methods it
    /// answers (HEAD, answered wherever GET is, is implied), and the document has no other.
    #[test]
    fn the_document_lists_every_route_and_method() {
        let doc: serde_json::Value = serde_json::from_str(super::document()).unwrap();
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                documented.insert((path.clone(), method.to_uppercase()));
            }
        }
        let mut served = BTreeSet::new();
        for (path, allow, _) in crate::routes::table() {
            // The route's pattern names its regex; the document only the parameter.
            let path = path.replace("{rest:.*}", "{rest}");
            for method in allow.split(", ").filter(|m| *m != "HEAD") {
                served.insert((path.clone(), method.to_owned()));
            }
        }
        assert_eq!(served, documented);
    }

    #[test]
    fn the_committed_document_is_the_generated_one() {
        let committed = include_str!("../../../docs/openapi.json");
        assert!(
            committed == super::document(),
            "docs/openapi.json is out of date: run `cargo run -- openapi > docs/openapi.json`"
        );
    }
}
