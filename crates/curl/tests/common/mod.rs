//! The corpus shared by the corpus test and the fuzz test: curl commands and what importing each
//! must give. `docs` holds commands as API docs publish them; `synthetic` the edge cases,
//! malformed commands and one row per unsupported option.

#![allow(dead_code, clippy::unwrap_used)]

pub mod docs;
pub mod docs_more;
pub mod synthetic;

use keyway_model::ContentType;

pub struct Case {
    pub name: String,
    pub command: String,
    pub drop: bool,
    pub expect: Expect,
    /// One fragment per warning expected, in order.
    pub warnings: Vec<&'static str>,
}

pub enum Expect {
    Ok(Req),
    /// `at` is where the error points: the first occurrence of a needle, or a char offset.
    Invalid {
        at: Pos,
        says: &'static str,
    },
    Unsupported(Vec<String>),
    /// `unsupported_content_type` with the media type it names.
    ContentType(&'static str),
}

pub enum Pos {
    Needle(&'static str),
    Char(usize),
}

#[derive(Debug, Default)]
pub struct Req {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub content_type: Option<ContentType>,
    pub dropped: Vec<String>,
}

pub fn case(name: impl Into<String>, command: impl Into<String>) -> Case {
    Case {
        name: name.into(),
        command: command.into(),
        drop: false,
        expect: Expect::Unsupported(Vec::new()),
        warnings: Vec::new(),
    }
}

impl Case {
    pub fn ok(mut self, method: &'static str, url: impl Into<String>) -> Self {
        self.expect = Expect::Ok(Req {
            method,
            url: url.into(),
            ..Req::default()
        });
        self
    }

    fn req(&mut self) -> &mut Req {
        match &mut self.expect {
            Expect::Ok(req) => req,
            _ => panic!("{}: call ok() first", self.name),
        }
    }

    pub fn h(mut self, name: &str, value: &str) -> Self {
        self.req().headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, content_type: ContentType, body: impl Into<String>) -> Self {
        let req = self.req();
        req.content_type = Some(content_type);
        req.body = Some(body.into());
        self
    }

    pub fn json(self, body: impl Into<String>) -> Self {
        self.body(ContentType::Json, body)
    }

    pub fn form(self, body: impl Into<String>) -> Self {
        self.body(ContentType::Urlencoded, body)
    }

    /// Imports with `drop_unsupported` and expects these options dropped.
    pub fn dropped(mut self, options: &[&str]) -> Self {
        self.drop = true;
        self.req().dropped = options.iter().map(|o| o.to_string()).collect();
        self
    }

    pub fn with_drop(mut self) -> Self {
        self.drop = true;
        self
    }

    pub fn warns(mut self, fragment: &'static str) -> Self {
        self.warnings.push(fragment);
        self
    }

    pub fn invalid(mut self, at: &'static str, says: &'static str) -> Self {
        self.expect = Expect::Invalid {
            at: Pos::Needle(at),
            says,
        };
        self
    }

    pub fn invalid_at(mut self, at: usize, says: &'static str) -> Self {
        self.expect = Expect::Invalid {
            at: Pos::Char(at),
            says,
        };
        self
    }

    pub fn unsupported(mut self, options: &[&str]) -> Self {
        self.expect = Expect::Unsupported(options.iter().map(|o| o.to_string()).collect());
        self
    }

    pub fn content_type(mut self, essence: &'static str) -> Self {
        self.expect = Expect::ContentType(essence);
        self
    }
}

/// Every case: the docs first, then the synthetic ones.
pub fn all() -> Vec<Case> {
    let mut cases = docs::cases();
    cases.extend(synthetic::cases());
    cases
}

/// Char offset of the first occurrence of `needle` in `haystack`.
pub fn char_offset(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .find(needle)
        .map(|byte| haystack[..byte].chars().count())
}
