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
        if !template.contains("${") {
            return Cow::Borrowed(template);
        }
        let mut out = String::with_capacity(template.len());
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
                    self.missing.insert(key.to_owned());
                }
            }
            rest = &rest[start + 2 + len + 1..];
        }
        out.push_str(rest);
        Cow::Owned(out)
    }

    /// A header value: as is, but never with CR, LF or NUL from a piped value.
    pub fn render_header(&mut self, name: &str, template: &str) -> Result<String, HeaderInjection> {
        let mut offending = None;
        if template.contains("${") {
            for (key, value) in
                placeholders(template).filter_map(|k| self.context.0.get_key_value(k))
            {
                if value.contains(['\r', '\n', '\0']) {
                    offending = Some(key.clone());
                    break;
                }
            }
        }
        if let Some(key) = offending {
            return Err(HeaderInjection {
                key,
                header: name.to_owned(),
            });
        }
        Ok(self.render(template, Escape::Header).into_owned())
    }
}

fn placeholders(template: &str) -> impl Iterator<Item = &str> {
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
            .render_header("X-Name", "v ${e://Field/Name}")
            .unwrap_err();
        assert_eq!(err.key, "e://Field/Name");
        assert_eq!(r.render_header("X-Id", "${id}").unwrap(), "a/b?c=d");
    }
}
