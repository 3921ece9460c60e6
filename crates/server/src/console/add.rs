//! Adding an API-key, Basic or OAuth 2.0 account, optionally with an mTLS identity, through
//! the same paths as `POST /v1/credentials`. A refused form comes back with the reason and
//! what was typed, never with a secret.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use keyway_credentials::console as sessions;
use keyway_model::mtls::MtlsInput;
use keyway_model::{Caller, CredentialName, Kind};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::accounts::signed_in_post;
use super::pages::{self, page};
use super::{form, see_other, signed_in, ConsoleError};
use crate::routes::credentials::body::CredentialBody;
use crate::AppState;

/// The non-secret fields of the add form, kept to show the form again after a mistake.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Kept {
    pub name: String,
    pub shared: bool,
    pub allowed_hosts: String,
    pub placement: String,
    pub header_name: String,
    pub prefix: String,
    pub query_param: String,
    pub certificate_pem: String,
    pub ca_certificate_pem: String,
    pub provider: String,
    pub grant_type: String,
    pub client_id: String,
    pub scopes: String,
    pub authorize_url: String,
    pub token_url: String,
    pub revoke_url: String,
    pub client_auth: String,
}

/// The add form as posted (the replace-secret form posts a part of it).
#[derive(Deserialize)]
pub(super) struct NewForm {
    pub(super) csrf: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    shared: Option<String>,
    #[serde(default)]
    allowed_hosts: String,
    api_key: Option<SecretString>,
    #[serde(default)]
    placement: String,
    #[serde(default)]
    header_name: String,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    query_param: String,
    username: Option<SecretString>,
    password: Option<SecretString>,
    #[serde(default)]
    certificate_pem: String,
    private_key_pem: Option<SecretString>,
    #[serde(default)]
    ca_certificate_pem: String,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    grant_type: String,
    #[serde(default)]
    client_id: String,
    client_secret: Option<SecretString>,
    #[serde(default)]
    scopes: String,
    #[serde(default)]
    authorize_url: String,
    #[serde(default)]
    token_url: String,
    #[serde(default)]
    revoke_url: String,
    #[serde(default)]
    client_auth: String,
}

impl NewForm {
    fn kept(&self) -> Kept {
        Kept {
            name: self.name.clone(),
            shared: self.shared.is_some(),
            allowed_hosts: self.allowed_hosts.clone(),
            placement: self.placement.clone(),
            header_name: self.header_name.clone(),
            prefix: self.prefix.clone(),
            query_param: self.query_param.clone(),
            certificate_pem: self.certificate_pem.clone(),
            ca_certificate_pem: self.ca_certificate_pem.clone(),
            provider: self.provider.clone(),
            grant_type: self.grant_type.clone(),
            client_id: self.client_id.clone(),
            scopes: self.scopes.clone(),
            authorize_url: self.authorize_url.clone(),
            token_url: self.token_url.clone(),
            revoke_url: self.revoke_url.clone(),
            client_auth: self.client_auth.clone(),
        }
    }

    /// The API's body for the same account.
    pub(super) fn into_body(self, kind: Kind) -> CredentialBody {
        let given = |text: String| (!text.trim().is_empty()).then_some(text);
        let by_query = self.placement == "query";
        let private_key = self
            .private_key_pem
            .filter(|key| !key.expose_secret().trim().is_empty());
        let mtls = match (given(self.certificate_pem), private_key) {
            (None, None) => None,
            (certificate, key) => Some(MtlsInput {
                certificate_pem: certificate.unwrap_or_default(),
                private_key_pem: key.unwrap_or_else(|| SecretString::from(String::new())),
                ca_certificate_pem: given(self.ca_certificate_pem),
            }),
        };
        let hosts: Vec<String> = self
            .allowed_hosts
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect();
        let mut body = CredentialBody {
            shared: Some(self.shared.is_some()),
            // OAuth 2.0: none typed means the preset's hosts, as in the API.
            allowed_hosts: (kind != Kind::Oauth2 || !hosts.is_empty()).then_some(hosts),
            mtls,
            ..CredentialBody::default()
        };
        match kind {
            Kind::Oauth2 => {
                // The select always posts a method; a preset brings its own.
                if self.provider == "custom" {
                    body.client_auth = given(self.client_auth);
                }
                body.provider = given(self.provider);
                body.grant_type = given(self.grant_type);
                body.client_id = given(self.client_id);
                body.client_secret = self
                    .client_secret
                    .filter(|s| !s.expose_secret().trim().is_empty());
                let scopes: Vec<String> =
                    self.scopes.split_whitespace().map(str::to_owned).collect();
                body.scopes = (!scopes.is_empty()).then_some(scopes);
                body.authorize_url = given(self.authorize_url);
                body.token_url = given(self.token_url);
                body.revoke_url = given(self.revoke_url);
            }
            Kind::ApiKey => {
                body.api_key = self.api_key;
                if by_query {
                    body.query_param = Some(self.query_param);
                } else {
                    body.header_name = given(self.header_name);
                    // A prefix keeps its spaces ("Bearer ").
                    body.prefix = (!self.prefix.is_empty()).then_some(self.prefix);
                }
            }
            _ => {
                body.username = self.username;
                body.password = self.password;
            }
        }
        body
    }
}

fn form_kind(raw: &str) -> Option<Kind> {
    Kind::parse(raw)
}

#[derive(Deserialize)]
struct KindQuery {
    kind: Option<String>,
}

pub(super) async fn new_form(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let (caller, session) = signed_in(&req, &state).await?;
    let query: KindQuery = form(req.query_string().as_bytes())?;
    let kind = query
        .kind
        .as_deref()
        .and_then(form_kind)
        .unwrap_or(Kind::ApiKey);
    let csrf = sessions::csrf_token(session.expose_secret());
    Ok(new_page(
        &state,
        &caller,
        &csrf,
        kind,
        &Kept::default(),
        None,
        StatusCode::OK,
    ))
}

fn new_page(
    state: &AppState,
    caller: &Caller,
    csrf: &str,
    kind: Kind,
    kept: &Kept,
    problem: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    page(
        status,
        &pages::NewCredential {
            title: "Add an account",
            frame: pages::Frame::new(caller, csrf),
            kind: kind.as_str(),
            problem,
            form: kept,
            presets: state
                .oauth
                .catalog()
                .iter()
                .map(|(name, preset)| (name.to_owned(), preset.display_name.clone()))
                .collect(),
            redirect_uri: state.oauth.redirect_uri(),
        },
    )
}

/// The add and replace-secret forms: PEM chains, keys and CA certificates, pasted or as files.
pub(super) const ACCOUNT_FORM_LIMIT: usize = 64 * 1024;

/// `POST /console/credentials/check-mtls` (from the page's script): the validated subject,
/// issuer, expiry and fingerprint of the mTLS identity in the form, before it is saved, or
/// why it is refused. Nothing is stored.
pub(super) async fn check_mtls(
    req: HttpRequest,
    body: super::FormBody<ACCOUNT_FORM_LIMIT>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let posted: NewForm = form(&body)?;
    signed_in_post(&req, &state, &posted.csrf).await?;
    let kind = form_kind(&posted.kind).unwrap_or(Kind::Basic);
    let body = posted.into_body(kind);
    let (status, answer) = match crate::routes::credentials::body::validated_mtls(&body) {
        Ok(Some(valid)) => {
            let s = valid.summary;
            (
                StatusCode::OK,
                serde_json::json!({
                    "subject": s.subject, "issuer": s.issuer, "not_after": s.not_after,
                    "sha256_fingerprint": s.sha256_fingerprint, "key_type": s.key_type,
                }),
            )
        }
        // The contract's error shape, as every other refusal.
        Ok(None) => (
            StatusCode::BAD_REQUEST,
            serde_json::json!({"error": {"code": "invalid_request", "field": "mtls",
                "message": "give a client certificate and its private key first"}}),
        ),
        Err(err) => (
            err.status_code(),
            serde_json::json!({"error": {"code": err.code(), "message": err.public_message()}}),
        ),
    };
    Ok(HttpResponse::build(status)
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(answer))
}

pub(super) async fn create(
    req: HttpRequest,
    body: super::FormBody<ACCOUNT_FORM_LIMIT>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let posted: NewForm = form(&body)?;
    let (caller, csrf) = signed_in_post(&req, &state, &posted.csrf).await?;
    let kind = form_kind(&posted.kind).ok_or(ConsoleError::BadForm)?;
    let kept = posted.kept();
    let outcome = match CredentialName::parse(&posted.name) {
        Ok(name) => add(&state, &caller, name, kind, posted.into_body(kind)).await,
        Err(err) => Err(err.into()),
    };
    match outcome {
        Ok((id, done)) => Ok(see_other(&format!("/console/credentials/{id}?done={done}"))),
        Err(err) if err.status_code().is_client_error() => Ok(new_page(
            &state,
            &caller,
            &csrf,
            kind,
            &kept,
            Some(&err.to_string()),
            err.status_code(),
        )),
        Err(err) => Err(err.into()),
    }
}

/// Adds the account; the ID and the notice for its page. An OAuth 2.0 account with the
/// authorization code grant waits for its Connect button (the person registers the redirect
/// URL first); client credentials fetch their first token now and fail here if it is refused.
async fn add(
    state: &AppState,
    caller: &Caller,
    name: CredentialName,
    kind: Kind,
    body: CredentialBody,
) -> Result<(String, &'static str), crate::error::ApiError> {
    use crate::routes::credentials::{create_oauth, create_with_secret};
    if kind != Kind::Oauth2 {
        let view = create_with_secret(state, caller, name, kind, body).await?;
        return Ok((view.id, "added"));
    }
    let (view, _) = create_oauth(state, caller, name, body, keyway_oauth::Start::Later).await?;
    let done = match view.status {
        keyway_model::Status::PendingAuthorization => "added-connect",
        _ => "added",
    };
    Ok((view.id, done))
}
