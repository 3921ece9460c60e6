//! Signing: puts a resolved credential's material on an outgoing request.

use base64::Engine;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT_ENCODING, AUTHORIZATION};
use keyway_credentials::Material;
use keyway_model::ApiKeyPlacement;
use secrecy::{ExposeSecret, SecretString};
use url::Url;
use zeroize::Zeroizing;

use crate::DispatchError;

/// Replaces any same-named header the definition had: the credential decides. `bearer` is the
/// OAuth access token, for `oauth2` credentials.
pub fn sign(
    material: &Material,
    bearer: Option<&SecretString>,
    headers: &mut HeaderMap,
    url: &mut Url,
) -> Result<(), DispatchError> {
    match material {
        Material::OAuth2 { .. } => {
            let token = bearer.ok_or_else(|| {
                DispatchError::Internal("an OAuth credential was signed without a token".into())
            })?;
            let value = Zeroizing::new(format!("Bearer {}", token.expose_secret()));
            headers.insert(AUTHORIZATION, secret_header(&value)?);
        }
        Material::Basic { username, password } => {
            let value =
                Zeroizing::new(format!("Basic {}", basic_pair(username, password).as_str()));
            headers.insert(AUTHORIZATION, secret_header(&value)?);
        }
        Material::ApiKey { api_key, placement } => match placement {
            ApiKeyPlacement::Header {
                header_name,
                prefix,
            } => {
                let name = HeaderName::from_bytes(header_name.as_bytes())
                    .map_err(|_| DispatchError::Internal("stored header name is invalid".into()))?;
                let value = Zeroizing::new(format!("{prefix}{}", api_key.expose_secret()));
                headers.insert(name, secret_header(&value)?);
            }
            ApiKeyPlacement::Query { query_param } => {
                // Appended, not re-serialised: the definition's own query stays byte for byte.
                let name: String =
                    form_urlencoded::byte_serialize(query_param.as_bytes()).collect();
                let pair = Zeroizing::new(format!("{name}={}", query_value(api_key).as_str()));
                let query = Zeroizing::new(match url.query() {
                    Some(q) if !q.is_empty() => format!("{q}&{}", pair.as_str()),
                    _ => pair.to_string(),
                });
                url.set_query(Some(&query));
            }
        },
    }
    // The answer is searched for the secret before anyone reads it (`crate::scrub`), which a
    // compressed body would hide: a signed call asks for its answer unencoded.
    headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    Ok(())
}

/// The `Content-Encoding` of an answer that came encoded although the call asked for none
/// (see [`sign`]), cut to a short printable token for the error message.
pub(crate) fn encoded_answer<'a>(mut encodings: impl Iterator<Item = &'a [u8]>) -> Option<String> {
    encodings
        .find(|value| !value.trim_ascii().eq_ignore_ascii_case(b"identity"))
        .map(|value| {
            value
                .iter()
                .filter(|b| b.is_ascii_graphic() || **b == b' ')
                .take(32)
                .map(|b| char::from(*b))
                .collect()
        })
}

/// `username:password` in base64, as Basic authentication sends it.
pub(crate) fn basic_pair(username: &SecretString, password: &SecretString) -> Zeroizing<String> {
    let pair = Zeroizing::new(format!(
        "{}:{}",
        username.expose_secret(),
        password.expose_secret()
    ));
    Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(pair.as_bytes()))
}

/// An API key as it is written into a query string (form-encoded).
pub(crate) fn query_value(api_key: &SecretString) -> Zeroizing<String> {
    Zeroizing::new(form_urlencoded::byte_serialize(api_key.expose_secret().as_bytes()).collect())
}

fn secret_header(value: &str) -> Result<HeaderValue, DispatchError> {
    let mut value = HeaderValue::from_str(value).map_err(|_| {
        DispatchError::Internal("the stored secret cannot go into an HTTP header".into())
    })?;
    value.set_sensitive(true);
    Ok(value)
}
