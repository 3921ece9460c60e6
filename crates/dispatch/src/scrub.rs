//! Keeps a credential's secret out of what an upstream answered: an upstream that repeats its
//! request (an error page that prints the URL with its `?key=`, a redirect whose `Location`
//! repeats the query, an echo of the headers) would otherwise hand the secret to whoever
//! made the call, including a member who may only use a shared credential.

use base64::Engine;
use keyway_credentials::Material;
use keyway_model::ApiKeyPlacement;
use memchr::memmem;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

/// What a found secret is replaced with.
const REDACTED: &[u8] = b"[redacted]";
/// Shorter values are not looked for: they would match ordinary text of the answer, and a
/// secret that short is guessed sooner than echoed.
const MIN_LEN: usize = 6;

/// The forms in which a call carried its credential's secret.
pub(crate) struct Secrets(Vec<Zeroizing<Vec<u8>>>);

impl Secrets {
    /// `bearers`: the OAuth access tokens the call was signed with (a retry may add one).
    pub(crate) fn of(material: &Material, bearers: &[&SecretString]) -> Self {
        let mut found: Vec<Zeroizing<Vec<u8>>> = Vec::new();
        let mut add = |value: &[u8]| {
            if value.len() >= MIN_LEN && !found.iter().any(|f| f.as_slice() == value) {
                found.push(Zeroizing::new(value.to_vec()));
            }
        };
        match material {
            Material::OAuth2 { client_secret, .. } => {
                for bearer in bearers {
                    add(bearer.expose_secret().as_bytes());
                }
                if let Some(secret) = client_secret {
                    add(secret.expose_secret().as_bytes());
                }
            }
            Material::Basic { username, password } => {
                let pair = Zeroizing::new(format!(
                    "{}:{}",
                    username.expose_secret(),
                    password.expose_secret()
                ));
                let encoded = Zeroizing::new(
                    base64::engine::general_purpose::STANDARD.encode(pair.as_bytes()),
                );
                add(encoded.as_bytes());
                add(password.expose_secret().as_bytes());
            }
            Material::ApiKey { api_key, placement } => {
                add(api_key.expose_secret().as_bytes());
                if let ApiKeyPlacement::Query { .. } = placement {
                    // As it was written into the query.
                    let encoded: Zeroizing<String> = Zeroizing::new(
                        form_urlencoded::byte_serialize(api_key.expose_secret().as_bytes())
                            .collect(),
                    );
                    add(encoded.as_bytes());
                }
            }
        }
        Self(found)
    }

    /// `bytes` with every secret replaced, or `None` when none is in it.
    pub(crate) fn scrub(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        for secret in &self.0 {
            let current = out.as_deref().unwrap_or(bytes);
            let finder = memmem::Finder::new(secret.as_slice());
            if finder.find(current).is_none() {
                continue;
            }
            let mut next = Vec::with_capacity(current.len());
            let mut at = 0;
            for start in finder.find_iter(current) {
                // find_iter does not overlap matches, so `start >= at` always holds.
                next.extend_from_slice(current.get(at..start).unwrap_or_default());
                next.extend_from_slice(REDACTED);
                at = start + secret.len();
            }
            next.extend_from_slice(current.get(at..).unwrap_or_default());
            out = Some(next);
        }
        out
    }

    /// [`Secrets::scrub`] for text (a secret is valid UTF-8, so replacing it keeps the rest so).
    pub(crate) fn scrub_text(&self, text: &str) -> Option<String> {
        self.scrub(text.as_bytes())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(value: &str, placement: ApiKeyPlacement) -> Material {
        Material::ApiKey {
            api_key: SecretString::from(value.to_owned()),
            placement,
        }
    }

    #[test]
    fn every_form_of_the_secret_is_replaced() {
        let material = key(
            "s3cr3t key+/=",
            ApiKeyPlacement::Query {
                query_param: "key".into(),
            },
        );
        let secrets = Secrets::of(&material, &[]);
        let echoed = b"GET /x?key=s3cr3t+key%2B%2F%3D failed; your key s3cr3t key+/= is fine";
        let scrubbed = secrets.scrub(echoed).unwrap();
        assert_eq!(
            String::from_utf8(scrubbed).unwrap(),
            "GET /x?key=[redacted] failed; your key [redacted] is fine"
        );
        assert_eq!(secrets.scrub(b"nothing here"), None);
    }

    #[test]
    fn basic_and_short_values() {
        let material = Material::Basic {
            username: SecretString::from("alice".to_owned()),
            password: SecretString::from("hunter2!".to_owned()),
        };
        let secrets = Secrets::of(&material, &[]);
        let scrubbed = secrets
            .scrub_text("Authorization: Basic YWxpY2U6aHVudGVyMiE= (pw hunter2!)")
            .unwrap();
        assert_eq!(scrubbed, "Authorization: Basic [redacted] (pw [redacted])");
        // Too short to tell from ordinary text: left alone.
        let short = key(
            "abc",
            ApiKeyPlacement::Query {
                query_param: "k".into(),
            },
        );
        assert_eq!(Secrets::of(&short, &[]).scrub(b"abcabc"), None);
    }
}
