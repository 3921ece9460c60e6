//! Keeps a credential's secret out of what an upstream answered: an upstream that repeats its
//! request (an error page that prints the URL with its `?key=`, a redirect whose `Location`
//! repeats the query, an echo of the headers) would otherwise hand the secret to whoever
//! made the call, including a member who may only use a shared credential.

use hyper::header::{HeaderMap, HeaderValue};
use keyway_credentials::Material;
use keyway_model::ApiKeyPlacement;
use memchr::memmem;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::sign::{basic_pair, query_value};

/// What a found secret is replaced with.
const REDACTED: &[u8] = b"[redacted]";
/// Shorter values are not looked for: they would match ordinary text of the answer, and a
/// secret that short is guessed sooner than echoed.
const MIN_LEN: usize = 6;

/// One form of the secret: the material's own bytes, or an encoding of them made for the
/// call (wiped when dropped). Nothing is copied that need not be.
enum Form<'a> {
    Held(&'a str),
    Encoded(Zeroizing<String>),
}

impl Form<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Form::Held(text) => text.as_bytes(),
            Form::Encoded(text) => text.as_bytes(),
        }
    }
}

/// The forms in which a call carried its credential's secret, as [`crate::sign`] writes them.
pub(crate) struct Secrets<'a>(Vec<Form<'a>>);

impl<'a> Secrets<'a> {
    /// `bearers`: the OAuth access tokens the call was signed with (a retry may add one).
    pub(crate) fn of(material: &'a Material, bearers: &[&'a SecretString]) -> Self {
        let mut forms = Vec::with_capacity(2);
        match material {
            Material::OAuth2 { client_secret, .. } => {
                forms.extend(bearers.iter().map(|b| Form::Held(b.expose_secret())));
                forms.extend(client_secret.iter().map(|s| Form::Held(s.expose_secret())));
            }
            Material::Basic { username, password } => {
                forms.push(Form::Encoded(basic_pair(username, password)));
                forms.push(Form::Held(password.expose_secret()));
            }
            Material::ApiKey { api_key, placement } => {
                forms.push(Form::Held(api_key.expose_secret()));
                if let ApiKeyPlacement::Query { .. } = placement {
                    let encoded = query_value(api_key);
                    if encoded.as_str() != api_key.expose_secret() {
                        forms.push(Form::Encoded(encoded));
                    }
                }
            }
        }
        forms.retain(|form| form.bytes().len() >= MIN_LEN);
        Self(forms)
    }

    /// `bytes` with every secret replaced, or `None` when none is in it.
    pub(crate) fn scrub(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        for form in &self.0 {
            let secret = form.bytes();
            let current = out.as_deref().unwrap_or(bytes);
            let finder = memmem::Finder::new(secret);
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

    /// [`Secrets::scrub`] for every value of `headers`.
    pub(crate) fn scrub_headers(&self, headers: &mut HeaderMap) {
        for value in headers.values_mut() {
            if let Some(clean) = self.scrub(value.as_bytes()) {
                // The replacement is ASCII and the rest was a valid value already.
                *value = HeaderValue::from_bytes(&clean)
                    .unwrap_or_else(|_| HeaderValue::from_static("[redacted]"));
            }
        }
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
