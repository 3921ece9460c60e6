//! Piped text: fills `${key}` placeholders from a run's context, escaped for where each lands.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

/// Everything but RFC 3986 unreserved characters is encoded, so a value cannot end a path
/// segment, start a query or add a parameter.
const URL_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Where a placeholder lands, which decides its escaping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    Url,
    Header,
    Json,
    Xml,
    Form,
    Text,
}

/// A run's piped values. Strings are used as they are; numbers and booleans as their JSON
/// text; `null` as empty; objects and arrays as compact JSON.
#[derive(Debug, Clone, Default)]
pub struct Context(HashMap<String, String>);

impl Context {
    pub fn from_json(values: HashMap<String, Value>) -> Self {
        Self(
            values
                .into_iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => s,
                        Value::Null => String::new(),
                        other => other.to_string(),
                    };
                    (k, text)
                })
                .collect(),
        )
    }

    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.insert(key.into(), value.into());
    }
}

/// Renders templates for one call, remembering the keys the context lacked.
#[derive(Debug)]
pub struct Renderer<'a> {
    context: &'a Context,
    pub missing: BTreeSet<String>,
}

/// Filling in the values would make a part of the request larger than its limit. Found while
/// rendering, before more than one value past the limit is held.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "with the piped values filled in, the {part} would be larger than its limit of {limit} bytes"
)]
pub struct Overflow {
    pub part: &'static str,
    pub limit: usize,
}

/// A value would have put a line break into a header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the value of `{key}` contains a line break, which cannot go into the header {header}")]
pub struct HeaderInjection {
    pub key: String,
    pub header: String,
}

impl<'a> Renderer<'a> {
    pub fn new(context: &'a Context) -> Self {
        Self {
            context,
            missing: BTreeSet::new(),
        }
    }

    /// Fills `template`; an unterminated `${` is left as written.
    pub fn render<'t>(&mut self, template: &'t str, escape: Escape) -> Cow<'t, str> {
        // Without a limit nothing overflows.
        self.render_within(template, escape, usize::MAX, "")
            .unwrap_or(Cow::Borrowed(template))
    }

    /// Fills `template`, refusing once the result passes `limit` bytes. The check runs after
    /// each value, so at most the limit plus one escaped value is ever held.
    pub fn render_within<'t>(
        &mut self,
        template: &'t str,
        escape: Escape,
        limit: usize,
        part: &'static str,
    ) -> Result<Cow<'t, str>, Overflow> {
        let overflow = Overflow { part, limit };
        if !template.contains("${") {
            return if template.len() > limit {
                Err(overflow)
            } else {
                Ok(Cow::Borrowed(template))
            };
        }
        let mut out = String::with_capacity(template.len().min(limit));
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            let Some(len) = rest[start + 2..].find('}') else {
                break;
            };
            out.push_str(&rest[..start]);
            let key = &rest[start + 2..start + 2 + len];
            match self.context.0.get(key) {
                Some(value) => push_escaped(&mut out, value, escape),
                None => {
                    if !self.missing.contains(key) {
                        self.missing.insert(key.to_owned());
                    }
                }
            }
            if out.len() > limit {
                return Err(overflow);
            }
            rest = &rest[start + 2 + len + 1..];
        }
        out.push_str(rest);
        if out.len() > limit {
            return Err(overflow);
        }
        Ok(Cow::Owned(out))
    }

    /// A header value: as is, but never with CR, LF or NUL from a piped value; at most
    /// `limit` bytes.
    pub fn render_header(
        &mut self,
        name: &str,
        template: &str,
        limit: usize,
    ) -> Result<String, HeaderError> {
        if template.contains("${") {
            for (key, value) in
                placeholders(template).filter_map(|k| self.context.0.get_key_value(k))
            {
                if value.contains(['\r', '\n', '\0']) {
                    return Err(HeaderError::Injection(HeaderInjection {
                        key: key.clone(),
                        header: name.to_owned(),
                    }));
                }
            }
        }
        Ok(self
            .render_within(template, Escape::Header, limit, "header values")
            .map_err(HeaderError::Overflow)?
            .into_owned())
    }
}

/// Why a header could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error(transparent)]
    Injection(HeaderInjection),
    #[error(transparent)]
    Overflow(Overflow),
}

/// The keys of the `${...}` placeholders in `template`, in order, as a run looks them up.
pub fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    let mut rest = template;
    std::iter::from_fn(move || {
        let start = rest.find("${")?;
        let len = rest[start + 2..].find('}')?;
        let key = &rest[start + 2..start + 2 + len];
        rest = &rest[start + 2 + len + 1..];
        Some(key)
    })
}

fn push_escaped(out: &mut String, value: &str, escape: Escape) {
    match escape {
        Escape::Url => out.extend(utf8_percent_encode(value, URL_VALUE)),
        Escape::Form => out.extend(form_urlencoded::byte_serialize(value.as_bytes())),
        Escape::Header | Escape::Text => out.push_str(value),
        Escape::Json => {
            let quoted = serde_json::to_string(value).unwrap_or_default();
            out.push_str(
                quoted
                    .get(1..quoted.len().saturating_sub(1))
                    .unwrap_or_default(),
            );
        }
        Escape::Xml => {
            for c in value.chars() {
                match c {
                    '&' => out.push_str("&amp;"),
                    '<' => out.push_str("&lt;"),
                    '>' => out.push_str("&gt;"),
                    '"' => out.push_str("&quot;"),
                    '\'' => out.push_str("&apos;"),
                    c => out.push(c),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_listed_as_rendering_finds_them() {
        let found: Vec<&str> = placeholders("a${x}b${e://Field/Email}${}${unclosed").collect();
        assert_eq!(found, ["x", "e://Field/Email", ""]);
        assert_eq!(placeholders("none here").count(), 0);
    }

    fn ctx() -> Context {
        let mut c = Context::default();
        c.insert("e://Field/Name", "O'Brien & <Sons> \"ü\"\n");
        c.insert("id", "a/b?c=d");
        c
    }

    #[test]
    fn each_place_gets_its_escaping() {
        let c = ctx();
        let mut r = Renderer::new(&c);
        assert_eq!(
            r.render("https://x/${id}?q=${id}", Escape::Url),
            "https://x/a%2Fb%3Fc%3Dd?q=a%2Fb%3Fc%3Dd"
        );
        assert_eq!(
            r.render(r#"{"n":"${e://Field/Name}"}"#, Escape::Json),
            r#"{"n":"O'Brien & <Sons> \"ü\"\n"}"#
        );
        assert_eq!(
            r.render("<n>${e://Field/Name}</n>", Escape::Xml),
            "<n>O&apos;Brien &amp; &lt;Sons&gt; &quot;ü&quot;\n</n>"
        );
        assert_eq!(
            r.render("n=${e://Field/Name}&id=${id}", Escape::Form),
            "n=O%27Brien+%26+%3CSons%3E+%22%C3%BC%22%0A&id=a%2Fb%3Fc%3Dd"
        );
        assert!(r.missing.is_empty());
        assert_eq!(r.render("${nope}-${id", Escape::Text), "-${id");
        assert_eq!(r.missing.iter().collect::<Vec<_>>(), ["nope"]);
        let err = r
            .render_header("X-Name", "v ${e://Field/Name}", 100)
            .unwrap_err();
        assert!(matches!(err, HeaderError::Injection(i) if i.key == "e://Field/Name"));
        assert_eq!(r.render_header("X-Id", "${id}", 100).unwrap(), "a/b?c=d");
    }

    #[test]
    fn rendering_stops_at_the_limit() {
        let mut c = Context::default();
        c.insert("a", "x".repeat(100_000));
        let template = "<a>${a}</a>".repeat(20_000);
        let mut r = Renderer::new(&c);
        let err = r
            .render_within(&template, Escape::Xml, 1024 * 1024, "body")
            .unwrap_err();
        assert_eq!(
            err,
            Overflow {
                part: "body",
                limit: 1024 * 1024
            }
        );
        // Exactly at the limit passes; one byte more does not.
        let mut c = Context::default();
        c.insert("v", "y".repeat(10));
        let mut r = Renderer::new(&c);
        assert_eq!(
            r.render_within("ab${v}", Escape::Text, 12, "url")
                .unwrap()
                .len(),
            12
        );
        assert!(r.render_within("abc${v}", Escape::Text, 12, "url").is_err());
        assert!(r
            .render_within("abcdefghijklm", Escape::Text, 12, "url")
            .is_err());
        // An escaped value counts at its escaped size.
        c.insert("q", "&&&");
        let mut r = Renderer::new(&c);
        assert!(r.render_within("${q}", Escape::Xml, 14, "body").is_err());
        assert!(r.render_within("${q}", Escape::Xml, 15, "body").is_ok());
    }
}
