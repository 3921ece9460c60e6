//! The credential body of `POST /v1/credentials` and `PUT .../secret`: which fields each kind
//! takes, what is refused, and the secret material it becomes.

use super::*;

/// Longest accepted secret value (a password, an API key), in bytes.
const MAX_SECRET_BYTES: usize = 16 * 1024;

/// The body of `POST /v1/credentials` and `PUT /v1/credentials/{id}/secret`.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Survey tool", "kind": "api_key", "api_key": "key-from-the-provider", "header_name": "X-API-TOKEN", "prefix": ""}))]
pub(crate) struct CredentialBody {
    pub(crate) name: Option<String>,
    #[schema(value_type = Option<keyway_model::Kind>)]
    pub(crate) kind: Option<String>,
    pub(crate) shared: Option<bool>,
    pub(crate) allowed_hosts: Option<Vec<String>>,
    /// Proxy mode: the upstream base URL (`https://api.example.com/v2`); within
    /// `allowed_hosts` when that is set.
    pub(crate) proxy_base_url: Option<String>,
    /// Proxy mode: the largest answer streamed back (1 MiB unless set; at most the server's
    /// `dispatch.proxy_max_response_bytes`).
    pub(crate) max_response_bytes: Option<u64>,
    #[schema(value_type = Option<String>)]
    pub(crate) username: Option<SecretString>,
    #[schema(value_type = Option<String>)]
    pub(crate) password: Option<SecretString>,
    #[schema(value_type = Option<String>)]
    pub(crate) api_key: Option<SecretString>,
    pub(crate) header_name: Option<String>,
    pub(crate) prefix: Option<String>,
    pub(crate) query_param: Option<String>,
    pub(crate) mtls: Option<MtlsInput>,
    // OAuth 2.0 fields; refused for other kinds.
    pub(crate) provider: Option<String>,
    pub(crate) grant_type: Option<String>,
    pub(crate) client_id: Option<String>,
    #[schema(value_type = Option<String>)]
    pub(crate) client_secret: Option<SecretString>,
    pub(crate) scopes: Option<Vec<String>>,
    pub(crate) authorize_url: Option<String>,
    pub(crate) token_url: Option<String>,
    pub(crate) revoke_url: Option<String>,
    pub(crate) authorize_params: Option<BTreeMap<String, String>>,
    pub(crate) token_params: Option<BTreeMap<String, String>>,
    pub(crate) client_auth: Option<String>,
}

/// Proxy mode's settings from their two API fields, each checked; `server_max` bounds the cap.
pub(crate) fn proxy_settings(
    base_url: Option<&str>,
    max_response_bytes: Option<u64>,
    server_max: u64,
) -> Result<ProxySettings, ApiError> {
    Ok(ProxySettings {
        base_url: base_url
            .map(|raw| ProxyBaseUrl::parse("proxy_base_url", raw))
            .transpose()?,
        max_response_bytes: max_response_bytes
            .map(|cap| keyway_model::proxy::parse_response_cap(cap, server_max))
            .transpose()?,
    })
}

pub(super) fn required<T>(value: Option<T>, field: &'static str) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::invalid(Some(field), format!("missing field `{field}`")))
}

pub(super) fn parse_kind(raw: &str) -> Result<Kind, ApiError> {
    Kind::parse(raw).ok_or_else(|| {
        ApiError::invalid(
            Some("kind"),
            "unknown kind: expected one of `basic`, `api_key`, `oauth2`",
        )
    })
}

/// The kind's secret fields and optional mTLS material, validated.
pub(crate) fn secret_input(kind: Kind, mut body: CredentialBody) -> Result<SecretInput, ApiError> {
    if kind != Kind::Oauth2 {
        refuse_fields(&[("client_secret", body.client_secret.is_some())], kind)?;
        refuse_fields(&oauth_settings_fields(&body), kind)?;
    }
    let material = match kind {
        Kind::Basic => {
            refuse_fields(&[("api_key", body.api_key.is_some())], kind)?;
            refuse_placement(&body, kind)?;
            let username = secret(body.username.take(), "username", false)?;
            let password = secret(body.password.take(), "password", true)?;
            Material::Basic { username, password }
        }
        Kind::ApiKey => {
            refuse_fields(
                &[
                    ("username", body.username.is_some()),
                    ("password", body.password.is_some()),
                ],
                kind,
            )?;
            let api_key = secret(body.api_key.take(), "api_key", false)?;
            let placement = ApiKeyPlacement::parse(
                body.header_name.as_deref(),
                body.prefix.as_deref(),
                body.query_param.as_deref(),
            )?;
            Material::ApiKey { api_key, placement }
        }
        Kind::Oauth2 => {
            return Err(ApiError::invalid(
                Some("kind"),
                "OAuth 2.0 credentials are created through their own path",
            ))
        }
    };
    let mtls = validated_mtls(&body)?;
    Ok(SecretInput { material, mtls })
}

/// For `PUT .../secret` on an OAuth credential: only `client_secret` (and `mtls`) change;
/// the connection's settings are fixed at creation and its tokens stay.
pub(crate) fn oauth_secret_input(
    mut body: CredentialBody,
) -> Result<(SecretString, Option<mtls::ValidatedMtls>), ApiError> {
    refuse_non_oauth_fields(&body)?;
    refuse_fields(&oauth_settings_fields(&body), Kind::Oauth2)?;
    let client_secret = secret(body.client_secret.take(), "client_secret", false)?;
    Ok((client_secret, validated_mtls(&body)?))
}

/// Basic and API-key fields, and API-key placement, on an OAuth body.
pub(super) fn refuse_non_oauth_fields(body: &CredentialBody) -> Result<(), ApiError> {
    refuse_fields(
        &[
            ("username", body.username.is_some()),
            ("password", body.password.is_some()),
            ("api_key", body.api_key.is_some()),
        ],
        Kind::Oauth2,
    )?;
    refuse_placement(body, Kind::Oauth2)
}

/// The OAuth fields that are not secret, and whether the body has each.
fn oauth_settings_fields(body: &CredentialBody) -> [(&'static str, bool); 10] {
    [
        ("provider", body.provider.is_some()),
        ("grant_type", body.grant_type.is_some()),
        ("client_id", body.client_id.is_some()),
        ("scopes", body.scopes.is_some()),
        ("authorize_url", body.authorize_url.is_some()),
        ("token_url", body.token_url.is_some()),
        ("revoke_url", body.revoke_url.is_some()),
        ("authorize_params", body.authorize_params.is_some()),
        ("token_params", body.token_params.is_some()),
        ("client_auth", body.client_auth.is_some()),
    ]
}

/// The body's mTLS material, checked now (an expired certificate is refused).
pub(crate) fn validated_mtls(
    body: &CredentialBody,
) -> Result<Option<mtls::ValidatedMtls>, ApiError> {
    Ok(body
        .mtls
        .as_ref()
        .map(|input| mtls::validate(input, time::OffsetDateTime::now_utc()))
        .transpose()?)
}

fn refuse_fields(fields: &[(&'static str, bool)], kind: Kind) -> Result<(), ApiError> {
    match fields.iter().find(|(_, present)| *present) {
        Some((field, _)) => Err(ApiError::invalid(
            Some(field),
            format!("`{field}` does not apply to kind {}", kind.as_str()),
        )),
        None => Ok(()),
    }
}

fn refuse_placement(body: &CredentialBody, kind: Kind) -> Result<(), ApiError> {
    refuse_fields(
        &[
            ("header_name", body.header_name.is_some()),
            ("prefix", body.prefix.is_some()),
            ("query_param", body.query_param.is_some()),
        ],
        kind,
    )
}

pub(super) fn secret(
    value: Option<SecretString>,
    field: &'static str,
    may_be_empty: bool,
) -> Result<SecretString, ApiError> {
    let value = required(value, field)?;
    let len = value.expose_secret().len();
    if len == 0 && !may_be_empty {
        return Err(ParseError::new(field, "must not be empty").into());
    }
    if len > MAX_SECRET_BYTES {
        return Err(ParseError::new(
            field,
            format!("is {len} bytes long; at most {MAX_SECRET_BYTES} are allowed"),
        )
        .into());
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::parse_json;

    /// Mutated credential bodies never panic the parser, and a rejection never quotes the
    /// secret that was in the body.
    #[test]
    fn mutated_bodies_are_rejected_without_echoing_secrets() {
        let secret = "s3cr3t-value-that-must-not-echo";
        let valid = json!({
            "name": "x", "kind": "basic", "username": "u", "password": secret, "shared": true,
            "allowed_hosts": ["a.example.com"], "mtls": {"certificate_pem": "c", "private_key_pem": secret},
        })
        .to_string();
        let mut state: u64 = 0x853C_49E6_748F_EA9B;
        let mut below = |n: usize| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize % n.max(1)
        };
        let mut rejected = 0;
        for _ in 0..20_000 {
            let mut body = valid.clone().into_bytes();
            for _ in 0..=below(3) {
                if body.is_empty() {
                    break;
                }
                let at = below(body.len());
                match below(4) {
                    0 => {
                        let bytes = b"{}[]\",:\\ 0tn\xff";
                        body[at] = bytes[below(bytes.len())];
                    }
                    1 => body.truncate(at),
                    2 => {
                        body.remove(at);
                    }
                    _ => body.insert(at, b"\"{[:,"[below(5)]),
                }
            }
            if let Err(err) = parse_json::<CredentialBody>(&body) {
                rejected += 1;
                let shown = err.to_string();
                assert!(
                    !shown.contains("s3cr3t"),
                    "a rejection echoed the secret: {shown}"
                );
            }
        }
        assert!(
            rejected > 10_000,
            "only {rejected} rejections: the mutations are too weak"
        );
    }
}
