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

    /// `bytes` with every secret replaced, or `None` when none is in it. Each run of bytes
    /// that any form covers becomes one `[redacted]`.
    pub(crate) fn scrub(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let found = covered(self.0.iter().map(Form::bytes), bytes);
        if found.is_empty() {
            return None;
        }
        let mut out = Vec::with_capacity(bytes.len());
        let mut at = 0;
        for (start, end) in found {
            out.extend_from_slice(bytes.get(at..start).unwrap_or_default());
            out.extend_from_slice(REDACTED);
            at = end;
        }
        out.extend_from_slice(bytes.get(at..).unwrap_or_default());
        Some(out)
    }

    /// [`Secrets::scrub`] for text (a secret is valid UTF-8, so replacing it keeps the rest so).
    pub(crate) fn scrub_text(&self, text: &str) -> Option<String> {
        self.scrub(text.as_bytes())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    }

    /// [`Secrets::scrub`] for every string and key of a parsed JSON answer: an upstream that
    /// escapes characters (`\/`, `\u003d`) writes the secret in a form the search of the raw
    /// bytes does not find, and parsing turns it back into the secret. `true` when something
    /// was replaced. Parsed JSON nests at most 128 levels deep, which bounds the recursion.
    pub(crate) fn scrub_json(&self, value: &mut serde_json::Value) -> bool {
        use serde_json::Value;
        match value {
            Value::String(text) => match self.scrub_text(text) {
                Some(clean) => {
                    *text = clean;
                    true
                }
                None => false,
            },
            Value::Array(items) => items
                .iter_mut()
                .fold(false, |found, item| self.scrub_json(item) | found),
            Value::Object(map) => {
                let mut found = false;
                if map.keys().any(|key| self.scrub_text(key).is_some()) {
                    let entries = std::mem::take(map);
                    for (key, item) in entries {
                        let key = self.scrub_text(&key).unwrap_or(key);
                        map.insert(key, item);
                    }
                    found = true;
                }
                map.values_mut()
                    .fold(found, |found, item| self.scrub_json(item) | found)
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => false,
        }
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

/// Where `forms` occur in `bytes`, as sorted runs that do not touch one another: every
/// occurrence, also those that overlap (a secret that begins as it ends, `abcXYZabc`,
/// repeated as `abcXYZabcXYZabc`, is one run), found in the original bytes rather than in
/// bytes another form's replacement already changed.
fn covered<'a>(forms: impl Iterator<Item = &'a [u8]>, bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for form in forms {
        let finder = memmem::Finder::new(form);
        let first = runs.len();
        let mut from = 0;
        while let Some(found) = bytes.get(from..).and_then(|rest| finder.find(rest)) {
            let start = from + found;
            let end = start + form.len();
            // One form's occurrences come in order: an overlapping one extends the last run,
            // so a body of repeats makes one run, not one per byte.
            let extends = runs.len() > first;
            match runs.last_mut() {
                Some(last) if extends && start <= last.1 => last.1 = end,
                _ => runs.push((start, end)),
            }
            from = start + 1;
        }
    }
    runs.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(runs.len());
    for (start, end) in runs {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// What proxy mode masks a secret with in a streamed body: one byte for each of the secret's,
/// so that the upstream's `Content-Length`, sent before the body, stays true.
const MASK: u8 = b'*';

/// Masks a call's secret in an answer body that streams on after the call has returned (proxy
/// mode), whatever chunks it arrives in: the end of a chunk that may be the start of a secret
/// is held back until the next chunk shows whether it is one. At most the longest form, less
/// one byte, is held, and only while the data could still become a secret, so ordinary
/// streams (server-sent events) pass through as they come.
pub(crate) struct StreamMask {
    /// The forms, copied (the body outlives the call's material), wiped when dropped.
    forms: Vec<Zeroizing<Vec<u8>>>,
    /// The end of what came so far, as it came: it may be the start of a secret.
    held: Zeroizing<Vec<u8>>,
    /// Runs of `held` that an occurrence already covers, masked when they are sent.
    held_covered: Vec<(usize, usize)>,
}

impl StreamMask {
    /// `None` when there is nothing to look for.
    pub(crate) fn of(secrets: &Secrets<'_>) -> Option<Self> {
        let forms: Vec<_> = secrets
            .0
            .iter()
            .map(|form| Zeroizing::new(form.bytes().to_vec()))
            .collect();
        (!forms.is_empty()).then(|| Self {
            forms,
            held: Zeroizing::new(Vec::new()),
            held_covered: Vec::new(),
        })
    }

    /// What of `chunk` (after anything held) can be sent now, masked.
    pub(crate) fn next(&mut self, chunk: bytes::Bytes) -> bytes::Bytes {
        let clean = self.held.is_empty()
            && self
                .forms
                .iter()
                .all(|form| memmem::find(&chunk, form).is_none());
        if clean {
            // The common case: nothing to mask, and no copy unless the end must wait.
            let ready = chunk.len() - self.undecided(&chunk);
            self.held
                .extend_from_slice(chunk.get(ready..).unwrap_or_default());
            return chunk.slice(..ready);
        }
        // Searched as it came (masking first would hide an occurrence that overlaps one
        // already found), with what earlier chunks' occurrences covered of the held part.
        let mut data = Zeroizing::new(std::mem::take(&mut *self.held));
        data.extend_from_slice(&chunk);
        let mut runs = covered(self.forms.iter().map(|f| f.as_slice()), &data);
        runs.append(&mut self.held_covered);
        let ready = data.len() - self.undecided(&data);
        self.held
            .extend_from_slice(data.get(ready..).unwrap_or_default());
        let mut out = data.get(..ready).unwrap_or_default().to_vec();
        for (start, end) in runs {
            if let Some(hit) = out.get_mut(start.min(ready)..end.min(ready)) {
                hit.fill(MASK);
            }
            if end > ready {
                self.held_covered
                    .push((start.max(ready) - ready, end - ready));
            }
        }
        bytes::Bytes::from(out)
    }

    /// What was held back, once the body has ended (the start of a secret that never came).
    pub(crate) fn finish(&mut self) -> bytes::Bytes {
        let mut rest = self.held.to_vec();
        for (start, end) in std::mem::take(&mut self.held_covered) {
            if let Some(hit) = rest.get_mut(start..end) {
                hit.fill(MASK);
            }
        }
        self.held.clear();
        bytes::Bytes::from(rest)
    }

    /// How many bytes at the end of `data` are the start of some form: they must wait.
    fn undecided(&self, data: &[u8]) -> usize {
        let mut keep = 0;
        for form in &self.forms {
            let (Some(&first), longest) = (form.first(), form.len().saturating_sub(1)) else {
                continue;
            };
            let from = data.len() - longest.min(data.len());
            let tail = data.get(from..).unwrap_or_default();
            // The first candidate is the longest one.
            for at in memchr::memchr_iter(first, tail) {
                let rest = tail.get(at..).unwrap_or_default();
                if rest.len() > keep && form.starts_with(rest) {
                    keep = rest.len();
                    break;
                }
            }
        }
        keep
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

    /// An API key sent in a header.
    fn header_key(value: &str) -> Material {
        key(
            value,
            ApiKeyPlacement::Header {
                header_name: "X-Key".into(),
                prefix: String::new(),
            },
        )
    }

    /// Checks that `body`, cut into three chunks at every pair of places, streams out as
    /// `expected`.
    fn masked_at_every_cut(secrets: &Secrets<'_>, body: &[u8], expected: &str) {
        for a in 0..=body.len() {
            for b in a..=body.len() {
                let mut mask = StreamMask::of(secrets).unwrap();
                let out = streamed(&mut mask, body, &[a, b]);
                assert_eq!(
                    String::from_utf8_lossy(&out),
                    expected,
                    "cut at {a} and {b}"
                );
            }
        }
    }

    /// Masks `body` cut into chunks at `cuts`, as a stream would deliver it.
    fn streamed(mask: &mut StreamMask, body: &[u8], cuts: &[usize]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut from = 0;
        for &cut in cuts.iter().chain(std::iter::once(&body.len())) {
            let chunk = bytes::Bytes::copy_from_slice(&body[from..cut]);
            out.extend_from_slice(&mask.next(chunk));
            from = cut;
        }
        out.extend_from_slice(&mask.finish());
        out
    }

    #[test]
    fn a_streamed_secret_is_masked_wherever_the_chunks_split_it() {
        let material = header_key("s3cr3t-key");
        masked_at_every_cut(
            &Secrets::of(&material, &[]),
            b"x-key: s3cr3t-key; again s3cr3t-keys3cr3t-key; almost s3cr3t-ke",
            "x-key: **********; again ********************; almost s3cr3t-ke",
        );
    }

    #[test]
    fn overlapping_occurrences_are_covered_whole() {
        // A secret that begins as it ends, repeated so that its occurrences overlap.
        let material = header_key("abcXYZabc");
        let secrets = Secrets::of(&material, &[]);
        assert_eq!(
            secrets.scrub_text("<abcXYZabcXYZabc>").unwrap(),
            "<[redacted]>"
        );
        masked_at_every_cut(
            &secrets,
            b"<abcXYZabcXYZabc> abcXYZab abcXYZabc",
            "<***************> abcXYZab *********",
        );
    }

    #[test]
    fn a_body_of_repeats_makes_one_run() {
        let runs = covered([b"aaaaaa".as_slice()].into_iter(), &[b'a'; 100_000]);
        assert_eq!(runs, vec![(0, 100_000)]);
        let runs = covered(
            [b"abab".as_slice(), b"zz".as_slice()].into_iter(),
            b"zzababab-abab",
        );
        assert_eq!(runs, vec![(0, 8), (9, 13)]);
    }

    #[test]
    fn a_stream_without_the_secret_is_passed_on_as_it_comes() {
        let material = header_key("s3cr3t-key");
        let mut mask = StreamMask::of(&Secrets::of(&material, &[])).unwrap();
        let event = bytes::Bytes::from_static(b"data: {\"n\":1}\n\n");
        assert_eq!(mask.next(event.clone()), event, "nothing held back");
        // Only a possible start of the secret waits for the next chunk.
        assert_eq!(
            &mask.next(bytes::Bytes::from_static(b"data: s3c"))[..],
            b"data: "
        );
        assert_eq!(
            &mask.next(bytes::Bytes::from_static(b"ond\n"))[..],
            b"s3cond\n"
        );
        assert!(mask.finish().is_empty());
    }
}
