//! An OAuth credential's settings: what the API accepts, checked against the catalog, into
//! the typed settings (`keyway_model::oauth`) stored beside the credential.

use crate::catalog::Catalog;
use keyway_model::oauth::{ClientAuth, GrantType, OAuthSettings};
use keyway_model::ParseError;
use keyway_net::Net;
use std::collections::BTreeMap;
use url::{Host, Url};

/// The OAuth fields of `POST /v1/credentials`, before checks.
#[derive(Debug, Default)]
pub struct OAuthInput {
    pub provider: Option<String>,
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub revoke_url: Option<String>,
    pub authorize_params: Option<BTreeMap<String, String>>,
    pub token_params: Option<BTreeMap<String, String>>,
    pub client_auth: Option<String>,
}

const MAX_PARAMS: usize = 32;

/// Fills in the preset, then the credential's own values, and checks every URL.
/// Returns the settings and the preset's allowed hosts.
pub fn parse_settings(
    input: OAuthInput,
    catalog: &Catalog,
    net: &Net,
) -> Result<(OAuthSettings, Vec<String>), ParseError> {
    let provider = input.provider.unwrap_or_else(|| "custom".to_owned());
    let preset = catalog.get(&provider).ok_or_else(|| {
        ParseError::new(
            "provider",
            format!(
                "is not a known provider; use one of: {}",
                catalog.names().collect::<Vec<_>>().join(", ")
            ),
        )
    })?;
    let grant_type = match input.grant_type.as_deref() {
        None | Some("authorization_code") => GrantType::AuthorizationCode,
        Some("client_credentials") => GrantType::ClientCredentials,
        Some(_) => {
            return Err(ParseError::new(
                "grant_type",
                "must be authorization_code or client_credentials",
            ))
        }
    };
    let client_id = input
        .client_id
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| ParseError::new("client_id", "is required"))?;
    if client_id.len() > 512 || client_id.chars().any(char::is_control) {
        return Err(ParseError::new(
            "client_id",
            "must be at most 512 printable characters",
        ));
    }
    let scopes = input.scopes.unwrap_or_else(|| preset.scopes.clone());
    if scopes.len() > 100
        || scopes.iter().any(|s| {
            s.is_empty()
                || s.len() > 256
                || s.contains([' ', '"', '\\'])
                || s.chars().any(char::is_control)
        })
    {
        return Err(ParseError::new(
            "scopes",
            "must be at most 100 scope tokens without spaces, quotes or backslashes",
        ));
    }
    let own_authorize_url = input.authorize_url.is_some();
    let authorize_url = pick(
        "authorize_url",
        input.authorize_url,
        &preset.authorize_url,
        net,
    )?;
    let token_url = pick("token_url", input.token_url, &preset.token_url, net)?
        .ok_or_else(|| ParseError::new("token_url", "is required for this provider"))?;
    let revoke_url = pick("revoke_url", input.revoke_url, &preset.revoke_url, net)?;
    if grant_type == GrantType::AuthorizationCode && authorize_url.is_none() {
        return Err(ParseError::new(
            "authorize_url",
            "is required for the authorization_code grant with this provider",
        ));
    }
    let issuer = match (&preset.issuer, &authorize_url) {
        (Some(issuer), _) if !own_authorize_url => issuer.clone(),
        (_, Some(url)) => origin(url),
        (_, None) => origin(&token_url),
    };
    let mut authorize_params = preset.authorize_params.clone();
    authorize_params.extend(check_params("authorize_params", input.authorize_params)?);
    let mut token_params = preset.token_params.clone();
    token_params.extend(check_params("token_params", input.token_params)?);
    let client_auth = match input.client_auth.as_deref() {
        None => preset.client_auth,
        Some(raw) => ClientAuth::parse(raw).ok_or_else(|| {
            ParseError::new(
                "client_auth",
                "must be client_secret_basic or client_secret_post",
            )
        })?,
    };
    Ok((
        OAuthSettings {
            provider,
            grant_type,
            client_id,
            scopes,
            scope_separator: preset.scope_separator.clone(),
            authorize_url,
            token_url,
            revoke_url,
            issuer,
            authorize_params,
            token_params,
            client_auth,
            keep: preset.keep.clone(),
            resources_url: preset.resources_url.clone(),
            extras: serde_json::Map::new(),
        },
        preset.allowed_hosts.clone(),
    ))
}

fn pick(
    field: &'static str,
    given: Option<String>,
    preset: &Option<String>,
    net: &Net,
) -> Result<Option<String>, ParseError> {
    let Some(raw) = given.or_else(|| preset.clone()) else {
        return Ok(None);
    };
    let url =
        Url::parse(raw.trim()).map_err(|_| ParseError::new(field, "is not an absolute URL"))?;
    let plain_ok = match url.host() {
        Some(Host::Ipv4(ip)) => net.explicitly_allowed(ip.into()),
        Some(Host::Ipv6(ip)) => net.explicitly_allowed(ip.into()),
        _ => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if plain_ok => {}
        _ => {
            return Err(ParseError::new(
                field,
                "must be an https:// URL (plain http only for an IP on dispatch.allow_networks)",
            ))
        }
    }
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(ParseError::new(
            field,
            "must not carry a fragment or user info",
        ));
    }
    // Kept as written: an endpoint's own query parameters stay.
    Ok(Some(url.to_string()))
}

fn origin(url: &str) -> String {
    Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

fn check_params(
    field: &'static str,
    params: Option<BTreeMap<String, String>>,
) -> Result<BTreeMap<String, String>, ParseError> {
    let params = params.unwrap_or_default();
    const RESERVED: &[&str] = &[
        "client_id",
        "client_secret",
        "code",
        "code_verifier",
        "code_challenge",
        "code_challenge_method",
        "state",
        "redirect_uri",
        "grant_type",
        "refresh_token",
        "response_type",
        "scope",
    ];
    if params.len() > MAX_PARAMS {
        return Err(ParseError::new(
            field,
            format!("at most {MAX_PARAMS} parameters"),
        ));
    }
    for (k, v) in &params {
        if RESERVED.contains(&k.as_str()) {
            return Err(ParseError::new(
                field,
                format!("`{k}` is set by Keyway and cannot be overridden"),
            ));
        }
        if k.is_empty()
            || k.len() > 128
            || v.len() > 2048
            || k.chars().chain(v.chars()).any(char::is_control)
        {
            return Err(ParseError::new(
                field,
                "names and values must be short printable text",
            ));
        }
    }
    Ok(params)
}
