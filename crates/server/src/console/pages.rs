//! The console's pages: templates compiled into the binary (askama escapes every value), and
//! the headers every page carries.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;
use keyway_credentials::CredentialView;
use keyway_model::Status;

/// No inline script or style anywhere: styles and the one script come from the console
/// itself. Forms post only here, except a Connect form's redirect to its provider (see
/// [`page_posting_to`]).
pub(super) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; \
     base-uri 'none'; frame-ancestors 'none'";

/// What every signed-in page shows around its content: who is signed in, and the session's
/// CSRF token for its forms (sign-out included).
pub(super) struct Frame<'a> {
    pub user: &'a str,
    pub org: &'a str,
    pub csrf: &'a str,
}

impl<'a> Frame<'a> {
    pub fn new(caller: &'a keyway_model::Caller, csrf: &'a str) -> Self {
        Self {
            user: &caller.user_name,
            org: &caller.org_slug,
            csrf,
        }
    }
}

#[derive(Template)]
#[template(path = "console/login.html")]
pub(super) struct Login<'a> {
    pub title: &'a str,
    pub csrf: &'a str,
    pub problem: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "console/link.html")]
pub(super) struct Link<'a> {
    pub title: &'a str,
    pub csrf: &'a str,
    pub link: &'a str,
}

#[derive(Template)]
#[template(path = "console/credentials.html")]
pub(super) struct Credentials<'a> {
    pub title: &'a str,
    pub frame: Frame<'a>,
    pub notice: Option<&'a str>,
    pub rows: Vec<CredentialRow>,
    pub pager: Pager,
}

/// Rows a list page shows at most: it keeps a page under its weight budget in any org.
pub(super) const LIST_PAGE: usize = 100;

/// Where a list page is among its pages (1-based).
pub(super) struct Pager {
    pub page: usize,
    pub pages: usize,
    pub total: usize,
}

impl Pager {
    /// The page asked for in `?page=N` (clamped), and the range of rows it shows.
    pub fn new(query: &str, total: usize) -> (Self, std::ops::Range<usize>) {
        #[derive(serde::Deserialize)]
        struct Query {
            page: Option<usize>,
        }
        let asked = serde_urlencoded::from_str::<Query>(query)
            .ok()
            .and_then(|q| q.page)
            .unwrap_or(1);
        let pages = total.div_ceil(LIST_PAGE).max(1);
        let page = asked.clamp(1, pages);
        let start = (page - 1) * LIST_PAGE;
        let pager = Self { page, pages, total };
        (pager, start..(start + LIST_PAGE).min(total))
    }

    pub fn previous(&self) -> Option<usize> {
        (self.page > 1).then(|| self.page - 1)
    }

    pub fn next(&self) -> Option<usize> {
        (self.page < self.pages).then(|| self.page + 1)
    }
}

#[derive(Template)]
#[template(path = "console/new_credential.html")]
pub(super) struct NewCredential<'a> {
    pub title: &'a str,
    pub frame: Frame<'a>,
    pub kind: &'a str,
    pub problem: Option<&'a str>,
    /// What was typed, secrets left out: a page never shows a secret back.
    pub form: &'a super::add::Kept,
    /// (name, display name) of the OAuth 2.0 provider presets.
    pub presets: Vec<(String, String)>,
    pub redirect_uri: String,
}

#[derive(Template)]
#[template(path = "console/credential.html")]
pub(super) struct Credential<'a> {
    pub title: &'a str,
    pub frame: Frame<'a>,
    pub id: &'a str,
    pub row: CredentialRow,
    pub allowed_hosts: String,
    pub allowed_hosts_lines: String,
    pub used_by: Vec<String>,
    pub can_manage: bool,
    pub is_owner: bool,
    pub oauth: Option<OAuthFacts>,
    pub mtls: Option<keyway_model::mtls::MtlsSummary>,
    pub notice: Option<&'a str>,
    pub problem: Option<&'a str>,
}

/// What an OAuth 2.0 account's page shows about its connection.
pub(super) struct OAuthFacts {
    pub provider: String,
    pub grant: &'static str,
    pub client_id: String,
    pub scopes: String,
    /// The redirect URL to register (authorization code grant).
    pub redirect_uri: Option<String>,
    /// "Connect" or "Reconnect", when the person may start a connection.
    pub connect: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
pub(super) struct Audit<'a> {
    pub title: &'a str,
    pub frame: Frame<'a>,
    pub is_admin: bool,
    /// (credential ID, name) of the accounts to filter by.
    pub choices: Vec<(String, String)>,
    pub selected: &'a str,
    pub events: Vec<AuditLine>,
    pub older: Option<i64>,
}

#[derive(Template)]
#[template(path = "console/web_services.html")]
pub(super) struct WebServices<'a> {
    pub title: &'a str,
    pub frame: Frame<'a>,
    pub notice: Option<&'a str>,
    pub rows: Vec<ServiceRow>,
    pub pager: Pager,
}

/// One web service as the list shows it.
pub(super) struct ServiceRow {
    pub id: String,
    pub name: String,
    pub method: String,
    pub url: String,
    pub owner: String,
    /// The account that signs it, if any.
    pub credential: Option<String>,
    pub credential_removed: bool,
}

#[derive(Template)]
#[template(path = "console/web_service.html")]
pub(super) struct WebService<'a> {
    pub title: &'a str,
    pub frame: Frame<'a>,
    /// `None`: not saved yet.
    pub id: Option<&'a str>,
    pub form: &'a super::services::DefinitionForm,
    pub methods: &'static [&'static str],
    /// (ID, name) of the accounts the person may bind.
    pub credentials: Vec<(String, String)>,
    pub can_change: bool,
    pub credential_removed: bool,
    /// The saved definition's placeholders, with the values last typed for them.
    pub test_values: Vec<(String, String)>,
    pub extras: super::services::Extras,
}

/// What a test run showed: the upstream's answer, or Keyway's own refusal explained.
pub(crate) struct TestOutcome {
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub truncated: bool,
    pub duration_ms: u64,
    pub attempts: u32,
    /// Keyway's error code and message.
    pub error: Option<(&'static str, String)>,
}

impl TestOutcome {
    pub fn answered(result: keyway_dispatch::CallResult, shown: usize) -> Self {
        let body = match (&result.json, result.body, result.body_base64) {
            (Some(json), _, _) => serde_json::to_string_pretty(json).unwrap_or_default(),
            (None, Some(text), _) => text,
            (None, None, Some(_)) => "(binary body, not shown)".to_owned(),
            (None, None, None) => String::new(),
        };
        let truncated = body.len() > shown;
        let mut end = shown.min(body.len());
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        Self {
            status: Some(result.status),
            headers: result
                .headers
                .into_iter()
                .map(|h| (h.name, h.value))
                .collect(),
            body: body[..end].to_owned(),
            truncated,
            duration_ms: result.duration_ms,
            attempts: result.attempts,
            error: None,
        }
    }

    pub fn refused(err: &crate::error::ApiError) -> Self {
        Self {
            status: None,
            headers: Vec::new(),
            body: String::new(),
            truncated: false,
            duration_ms: 0,
            attempts: 0,
            error: Some((err.code(), err.public_message())),
        }
    }
}

/// One event as the audit page shows it.
pub(super) struct AuditLine {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub credential: String,
    pub outcome: String,
}

#[derive(Template)]
#[template(path = "console/api.html")]
pub(super) struct Api<'a> {
    pub title: &'a str,
    pub frame: Frame<'a>,
    pub operations: &'a [super::api::Operation],
    pub shapes: &'a [super::api::Shape],
}

#[derive(Template)]
#[template(path = "console/message.html")]
pub(super) struct Message<'a> {
    pub title: &'a str,
    pub message: &'a str,
}

/// One account as the list shows it.
pub(super) struct CredentialRow {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
    pub owner: String,
    pub shared: bool,
    pub status: &'static str,
    pub status_class: &'static str,
    pub used_by: usize,
    /// When the mTLS certificate expires, if there is one.
    pub mtls_expiry: Option<String>,
    /// It expires within 30 days (or has).
    pub mtls_expires_soon: bool,
}

/// Whether an RFC 3339 time is less than 30 days away (or past).
fn within_30_days(at: &str) -> bool {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(at, &Rfc3339)
        .map(|at| at - time::OffsetDateTime::now_utc() < time::Duration::days(30))
        .unwrap_or(false)
}

impl From<CredentialView> for CredentialRow {
    fn from(view: CredentialView) -> Self {
        let (status, status_class) = match view.status {
            Status::Active => ("active", "ok"),
            Status::Connected => ("connected", "ok"),
            Status::PendingAuthorization => ("waiting for authorization", "waiting"),
            Status::ReauthorizationRequired => ("needs reconnecting", "attention"),
        };
        let mtls_expiry = view.mtls.as_ref().map(|m| m.not_after.clone());
        Self {
            used_by: view.used_by_count,
            mtls_expires_soon: mtls_expiry.as_deref().is_some_and(within_30_days),
            mtls_expiry,
            id: view.id,
            name: view.name,
            kind: match view.kind {
                keyway_model::Kind::Basic => "Basic",
                keyway_model::Kind::ApiKey => "API key",
                keyway_model::Kind::Oauth2 => "OAuth 2.0",
            },
            owner: view.owner.name,
            shared: view.shared,
            status,
            status_class,
        }
    }
}

/// A rendered page with the console's headers; a template that fails to render is a 500
/// whose cause is logged.
pub(super) fn page(status: StatusCode, template: &impl Template) -> HttpResponse {
    match template.render() {
        Ok(body) => html(status, body),
        Err(err) => {
            tracing::error!(error = %err, "a console page could not be rendered");
            html(
                StatusCode::INTERNAL_SERVER_ERROR,
                "<!doctype html><title>Keyway</title><p>Something went wrong.</p>".to_owned(),
            )
        }
    }
}

/// A page whose forms may also lead to `origin`: Chromium applies `form-action` to the
/// redirects that follow a form post, and a Connect form's answer redirects to the provider.
pub(super) fn page_posting_to(
    status: StatusCode,
    template: &impl Template,
    origin: Option<&url::Origin>,
) -> HttpResponse {
    let mut response = page(status, template);
    if let Some(origin) = origin.filter(|o| o.is_tuple()) {
        let policy = CONTENT_SECURITY_POLICY.replace(
            "form-action 'self'",
            &format!("form-action 'self' {}", origin.ascii_serialization()),
        );
        if let Ok(value) = policy.parse() {
            response
                .headers_mut()
                .insert(actix_web::http::header::CONTENT_SECURITY_POLICY, value);
        }
    }
    response
}

pub(super) fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(body)
}

/// The page for a missing object, the same whether it does not exist or belongs to another
/// org.
pub(super) fn not_found() -> HttpResponse {
    page(
        StatusCode::NOT_FOUND,
        &Message {
            title: "Not found",
            message: "There is nothing here, or it is not yours to see.",
        },
    )
}
