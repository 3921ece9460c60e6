//! A request definition built from one operation: the server and path with each path
//! parameter as a `${...}` placeholder, required query parameters and headers as placeholders
//! (optional ones left out and listed), a body skeleton with placeholders for required fields,
//! `Accept` from the response's media type, and the credential its security scheme suggests.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::document::{Document, Version};
use crate::operations::{Operation, SecurityScheme};
use crate::refs::resolve;
use crate::OpenApiError;

/// Which operation: its ID, or its method and path.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Selector {
    Id(String),
    MethodPath { method: String, path: String },
}

/// What the document gave, ready to become a web service's request.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Built {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// `json`, `xml`, `urlencoded` or `text`.
    pub content_type: Option<String>,
    /// Each placeholder and where it came from.
    pub placeholders: Vec<Filled>,
    /// Optional parameters and fields left out.
    pub left_out: Vec<String>,
    /// The credential the operation's security scheme suggests.
    pub credential: Option<Suggestion>,
    /// What the document asks for that a web service cannot do.
    pub unmapped: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Filled {
    pub placeholder: String,
    pub from: String,
}

/// A credential form filled in from a security scheme.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Suggestion {
    /// `api_key`, `basic` or `oauth2`.
    pub kind: String,
    pub header_name: Option<String>,
    pub prefix: Option<String>,
    pub query_param: Option<String>,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub scopes: Vec<String>,
    /// The scheme it came from.
    pub from: String,
}

/// What a JSON body skeleton is built into, and what it may still use.
struct Skeleton<'a> {
    /// The placeholders, by dotted path.
    fields: &'a mut Vec<String>,
    left_out: &'a mut Vec<String>,
    /// Required fields that may still be filled in.
    budget: usize,
    /// Optional fields past [`MAX_LEFT_OUT`], counted instead of listed.
    unlisted: usize,
}

/// How deep a body skeleton follows nested objects.
const MAX_SKELETON_DEPTH: usize = 8;
/// How many required fields a body skeleton fills in at most, at every depth together. A
/// schema whose required properties refer back to it doubles (or more) the work at every
/// level, so without a bound a 1 KB document made a request build billions of fields.
const MAX_SKELETON_FIELDS: usize = 512;
/// How many optional fields are listed as left out at most (the rest are counted).
const MAX_LEFT_OUT: usize = 256;

impl Document {
    /// The request definition for `selector`, on `server` (or the operation's first).
    pub fn build(&self, selector: &Selector, server: Option<&str>) -> Result<Built, OpenApiError> {
        let operations = self.operations()?;
        let op = operations
            .iter()
            .find(|op| match selector {
                Selector::Id(id) => &op.id == id,
                Selector::MethodPath { method, path } => {
                    op.method.eq_ignore_ascii_case(method) && &op.path == path
                }
            })
            .ok_or_else(|| invalid("operation", "the document has no such operation"))?;
        let mut built = Built {
            method: op.method.clone(),
            url: String::new(),
            headers: Vec::new(),
            body: None,
            content_type: None,
            placeholders: Vec::new(),
            left_out: Vec::new(),
            credential: None,
            unmapped: Vec::new(),
        };
        let base =
            match server {
                Some(server) => server.to_owned(),
                None => op.servers.first().cloned().ok_or_else(|| {
                    invalid("server", "the document names no server: give `server`")
                })?,
            };
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(invalid(
                "server",
                "the server URL is relative or not http(s): give an absolute `server`",
            ));
        }
        let base = braces_to_placeholders(&base, "server variable", &mut built.placeholders);
        let path = braces_to_placeholders(&op.path, "path parameter", &mut built.placeholders);
        built.url = format!("{}{path}", base.trim_end_matches('/'));
        self.parameters(op, &mut built);
        self.body(op, &mut built)?;
        self.accept(op, &mut built);
        suggest(op, &mut built);
        Ok(built)
    }

    fn parameters(&self, op: &Operation, built: &mut Built) {
        let mut query = Vec::new();
        for param in &op.parameters {
            let what = format!("{} parameter `{}`", param.location, param.name);
            match (param.location.as_str(), param.required) {
                ("path", _) => {}
                ("query", true) => {
                    query.push(format!("{}=${{{}}}", encode(&param.name), param.name));
                    built.placeholders.push(filled(&param.name, &what));
                }
                ("header", _)
                    if ["accept", "content-type", "authorization"]
                        .contains(&param.name.to_ascii_lowercase().as_str()) => {}
                ("header", true) => {
                    built
                        .headers
                        .push((param.name.clone(), format!("${{{}}}", param.name)));
                    built.placeholders.push(filled(&param.name, &what));
                }
                ("cookie", _) => built
                    .unmapped
                    .push(format!("{what}: web services send no cookies")),
                _ => built.left_out.push(format!("optional {what}")),
            }
        }
        if !query.is_empty() {
            built
                .url
                .push(if built.url.contains('?') { '&' } else { '?' });
            built.url.push_str(&query.join("&"));
        }
    }

    fn body(&self, op: &Operation, built: &mut Built) -> Result<(), OpenApiError> {
        if op.request_body_types.is_empty() {
            return Ok(());
        }
        let pick = |wanted: fn(&str) -> bool| op.request_body_types.iter().find(|t| wanted(t));
        let (media, kind) = if let Some(t) = pick(|t| t.contains("json")) {
            (t, "json")
        } else if let Some(t) = pick(|t| t == "application/x-www-form-urlencoded") {
            (t, "urlencoded")
        } else if let Some(t) = pick(|t| t.contains("xml")) {
            (t, "xml")
        } else if let Some(t) = pick(|t| t.starts_with("text/")) {
            (t, "text")
        } else {
            return Err(OpenApiError::UnsupportedContentType(
                op.request_body_types.join(", "),
            ));
        };
        let schema = self.body_schema(op, media);
        let mut fields = Vec::new();
        let skeleton = match kind {
            "json" => {
                let mut out = Skeleton {
                    fields: &mut fields,
                    left_out: &mut built.left_out,
                    budget: MAX_SKELETON_FIELDS,
                    unlisted: 0,
                };
                let skeleton = self.json_skeleton(schema, "", 0, &mut out)?;
                if out.unlisted > 0 {
                    let more = format!("{} more optional fields", out.unlisted);
                    out.left_out.push(more);
                }
                Some(skeleton.to_string())
            }
            "urlencoded" => {
                let (required, optional) = self.properties(schema)?;
                built.left_out.extend(
                    optional
                        .into_iter()
                        .map(|f| format!("optional field `{f}`")),
                );
                fields.extend(required.iter().cloned());
                Some(
                    required
                        .iter()
                        .map(|f| format!("{}=${{{f}}}", encode(f)))
                        .collect::<Vec<_>>()
                        .join("&"),
                )
            }
            "xml" => {
                let (required, optional) = self.properties(schema)?;
                built.left_out.extend(
                    optional
                        .into_iter()
                        .map(|f| format!("optional field `{f}`")),
                );
                fields.extend(required.iter().cloned());
                let root = schema
                    .and_then(|s| s.pointer("/xml/name"))
                    .and_then(Value::as_str)
                    .unwrap_or("request");
                let inner: String = required
                    .iter()
                    .map(|f| format!("<{f}>${{{f}}}</{f}>"))
                    .collect();
                Some(format!("<{root}>{inner}</{root}>"))
            }
            _ => {
                fields.push("body".to_owned());
                Some("${body}".to_owned())
            }
        };
        for field in fields {
            built
                .placeholders
                .push(filled(&field, "request body field"));
        }
        built.body = skeleton;
        built.content_type = Some(kind.to_owned());
        Ok(())
    }

    /// The request body's schema for `media`, if the document gives one.
    fn body_schema(&self, op: &Operation, media: &str) -> Option<&Value> {
        let root = &self.root;
        let operation = root.pointer(&format!(
            "/paths/{}/{}",
            op.path.replace('~', "~0").replace('/', "~1"),
            op.method.to_ascii_lowercase()
        ))?;
        if self.version == Version::Swagger2 {
            let params = operation.get("parameters")?.as_array()?;
            let body = params
                .iter()
                .filter_map(|p| resolve(root, p, "").ok())
                .find(|p| p.get("in").and_then(Value::as_str) == Some("body"))?;
            return resolve(root, body.get("schema")?, "").ok();
        }
        let body = resolve(root, operation.get("requestBody")?, "").ok()?;
        resolve(
            root,
            body.pointer(&format!(
                "/content/{}/schema",
                media.replace('~', "~0").replace('/', "~1")
            ))?,
            "",
        )
        .ok()
    }

    /// The required and optional property names of an object schema.
    fn properties(
        &self,
        schema: Option<&Value>,
    ) -> Result<(Vec<String>, Vec<String>), OpenApiError> {
        let Some(schema) = schema else {
            return Ok((Vec::new(), Vec::new()));
        };
        let schema = resolve(&self.root, schema, "requestBody.schema")?;
        let required: Vec<String> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        // A set, not the list: a document's `required` and `properties` may each hold
        // millions of names, and comparing every one with every other is their product.
        let needed: std::collections::HashSet<&str> = required.iter().map(String::as_str).collect();
        let optional = schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| {
                p.keys()
                    .filter(|k| !needed.contains(k.as_str()))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        Ok((required, optional))
    }

    fn json_skeleton(
        &self,
        schema: Option<&Value>,
        prefix: &str,
        depth: usize,
        out: &mut Skeleton<'_>,
    ) -> Result<Value, OpenApiError> {
        let Some(schema) = schema else {
            return Ok(Value::Object(Map::new()));
        };
        let schema = resolve(&self.root, schema, "requestBody.schema")?;
        let (required, optional) = self.properties(Some(schema))?;
        let mut object = Map::new();
        for name in required {
            if object.contains_key(&name) {
                continue;
            }
            out.budget = out
                .budget
                .checked_sub(1)
                .ok_or_else(|| OpenApiError::Invalid {
                    at: "requestBody.schema".into(),
                    message: format!(
                        "the request body needs more than {MAX_SKELETON_FIELDS} required fields \
                     (counting nested objects); Keyway fills in at most that many"
                    ),
                })?;
            let key = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            let property = schema.pointer(&format!(
                "/properties/{}",
                name.replace('~', "~0").replace('/', "~1")
            ));
            let property = property
                .map(|p| resolve(&self.root, p, "requestBody.schema"))
                .transpose()?;
            let nested = property.is_some_and(|p| {
                p.get("type").and_then(Value::as_str) == Some("object")
                    || p.get("properties").is_some()
            });
            let value = if nested && depth < MAX_SKELETON_DEPTH {
                self.json_skeleton(property, &key, depth + 1, out)?
            } else {
                out.fields.push(key.clone());
                Value::String(format!("${{{key}}}"))
            };
            object.insert(name, value);
        }
        let room = MAX_LEFT_OUT.saturating_sub(out.left_out.len());
        out.unlisted += optional.len().saturating_sub(room);
        out.left_out
            .extend(optional.into_iter().take(room).map(|f| {
                let key = if prefix.is_empty() {
                    f
                } else {
                    format!("{prefix}.{f}")
                };
                format!("optional field `{key}`")
            }));
        Ok(Value::Object(object))
    }

    /// `Accept` from the first success response's media type.
    fn accept(&self, op: &Operation, built: &mut Built) {
        let root = &self.root;
        let Some(operation) = root.pointer(&format!(
            "/paths/{}/{}",
            op.path.replace('~', "~0").replace('/', "~1"),
            op.method.to_ascii_lowercase()
        )) else {
            return;
        };
        let media = if self.version == Version::Swagger2 {
            operation
                .get("produces")
                .or_else(|| root.get("produces"))
                .and_then(Value::as_array)
                .and_then(|p| p.first())
                .and_then(Value::as_str)
                .map(str::to_owned)
        } else {
            operation
                .get("responses")
                .and_then(Value::as_object)
                .and_then(|r| {
                    r.iter()
                        .find(|(code, _)| code.starts_with('2'))
                        .map(|(_, v)| v)
                })
                .and_then(|r| resolve(root, r, "").ok())
                .and_then(|r| r.get("content").and_then(Value::as_object))
                .and_then(|c| c.keys().next().cloned())
        };
        if let Some(media) = media {
            built.headers.push(("Accept".to_owned(), media));
        }
    }
}

/// `{name}` becomes `${name}`, noted as coming from `what`.
fn braces_to_placeholders(text: &str, what: &str, placeholders: &mut Vec<Filled>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start + 1..].find('}') else {
            break;
        };
        let name = &rest[start + 1..start + 1 + len];
        out.push_str(&rest[..start]);
        out.push_str(&format!("${{{name}}}"));
        placeholders.push(filled(name, &format!("{what} `{name}`")));
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

/// The credential form the first security option suggests.
fn suggest(op: &Operation, built: &mut Built) {
    let Some(option) = op.security.first() else {
        return;
    };
    let [scheme] = option.schemes.as_slice() else {
        if !option.schemes.is_empty() {
            built
                .unmapped
                .push("a security option that needs several schemes at once".to_owned());
        }
        return;
    };
    let from = format!("security scheme `{}`", scheme.name);
    let form = |kind: &str, s: &SecurityScheme| Suggestion {
        kind: kind.to_owned(),
        header_name: None,
        prefix: None,
        query_param: None,
        authorize_url: None,
        token_url: None,
        scopes: s.scopes.clone(),
        from: from.clone(),
    };
    let http = scheme.scheme.as_deref().map(str::to_ascii_lowercase);
    built.credential = match (
        scheme.kind.as_str(),
        http.as_deref(),
        scheme.location.as_deref(),
    ) {
        ("apiKey", _, Some("header")) => Some(Suggestion {
            header_name: scheme.parameter_name.clone(),
            prefix: Some(String::new()),
            ..form("api_key", scheme)
        }),
        ("apiKey", _, Some("query")) => Some(Suggestion {
            query_param: scheme.parameter_name.clone(),
            ..form("api_key", scheme)
        }),
        ("http", Some("basic"), _) | ("basic", _, _) => Some(form("basic", scheme)),
        ("http", Some("bearer"), _) => Some(Suggestion {
            header_name: Some("Authorization".to_owned()),
            prefix: Some("Bearer ".to_owned()),
            ..form("api_key", scheme)
        }),
        ("oauth2", _, _) => Some(Suggestion {
            authorize_url: scheme.authorization_url.clone(),
            token_url: scheme.token_url.clone(),
            ..form("oauth2", scheme)
        }),
        _ => {
            built
                .unmapped
                .push(format!("{from} of type {}", scheme.kind));
            None
        }
    };
}

fn filled(placeholder: &str, from: &str) -> Filled {
    Filled {
        placeholder: placeholder.to_owned(),
        from: from.to_owned(),
    }
}

/// A query parameter's name as it goes into the URL: everything but RFC 3986 unreserved
/// characters percent-encoded, as piped values are.
fn encode(name: &str) -> String {
    const NAME: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(name, NAME).to_string()
}

fn invalid(at: &str, message: &str) -> OpenApiError {
    OpenApiError::Invalid {
        at: at.to_owned(),
        message: message.to_owned(),
    }
}
