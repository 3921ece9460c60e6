//! The operations of a document: what a person picks from to set up a web service.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::document::{Document, Version};
use crate::refs::resolve;
use crate::OpenApiError;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The most entries a listing holds: operations, and their parameters, servers and security
/// schemes, all together. Each operation inherits the document's servers and security, so
/// a small document could otherwise list their product (20,000 paths under 20,000 security
/// options are 400 million entries from 500 KB of text). The largest public APIs list a few
/// tens of thousands.
const MAX_LISTED: usize = 200_000;

/// What is left of [`MAX_LISTED`] while a listing is built.
struct Room(usize);

impl Room {
    fn take(&mut self, n: usize) -> Result<(), OpenApiError> {
        self.0 = self.0.checked_sub(n).ok_or_else(|| {
            invalid(
                "paths",
                &format!(
                    "lists more than {MAX_LISTED} operations, parameters, servers and security                      schemes in all (each operation counts those it inherits): Keyway lists at                      most that many"
                ),
            )
        })?;
        Ok(())
    }
}

/// One operation: a method on a path, with what calling it needs.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Operation {
    /// The document's `operationId`, or `METHOD path` when it gives none.
    pub id: String,
    pub method: String,
    pub path: String,
    pub summary: Option<String>,
    /// Base URLs, most specific first (the operation's, the path's, the document's).
    pub servers: Vec<String>,
    pub parameters: Vec<Parameter>,
    /// Media types of the request body, if it takes one.
    pub request_body_types: Vec<String>,
    /// Ways to authenticate: any one option will do; an option needs all its schemes.
    pub security: Vec<SecurityOption>,
}

/// A path, query, header or cookie parameter.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Parameter {
    pub name: String,
    /// `path`, `query`, `header` or `cookie`.
    #[serde(rename = "in")]
    pub location: String,
    pub required: bool,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SecurityOption {
    pub schemes: Vec<SecurityScheme>,
}

/// A security scheme as the document defines it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SecurityScheme {
    pub name: String,
    /// `apiKey`, `http`, `oauth2`, `openIdConnect`, `mutualTLS` (or Swagger 2.0's `basic`).
    #[serde(rename = "type")]
    pub kind: String,
    /// `http`: `basic`, `bearer`, ...
    pub scheme: Option<String>,
    /// `apiKey`: `header`, `query` or `cookie`.
    #[serde(rename = "in")]
    pub location: Option<String>,
    /// `apiKey`: the header or query parameter's name.
    pub parameter_name: Option<String>,
    pub scopes: Vec<String>,
    /// `oauth2`: the first flow's endpoints.
    pub authorization_url: Option<String>,
    pub token_url: Option<String>,
}

impl Document {
    /// Every operation, in the document's order of paths and methods.
    pub fn operations(&self) -> Result<Vec<Operation>, OpenApiError> {
        let root = &self.root;
        let empty = Map::new();
        let paths = match root.get("paths") {
            None => &empty,
            Some(paths) => paths
                .as_object()
                .ok_or_else(|| invalid("paths", "must be an object"))?,
        };
        let mut operations = Vec::new();
        let mut room = Room(MAX_LISTED);
        for (path, item) in paths {
            let at = format!("paths.{path}");
            let item = resolve(root, item, &at)?;
            let item = item
                .as_object()
                .ok_or_else(|| invalid(&at, "must be an object"))?;
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                let at = format!("{at}.{method}");
                let op = op
                    .as_object()
                    .ok_or_else(|| invalid(&at, "must be an object"))?;
                room.take(1)?;
                operations.push(self.operation(path, method, item, op, &at, &mut room)?);
            }
        }
        Ok(operations)
    }

    fn operation(
        &self,
        path: &str,
        method: &str,
        item: &Map<String, Value>,
        op: &Map<String, Value>,
        at: &str,
        room: &mut Room,
    ) -> Result<Operation, OpenApiError> {
        let root = &self.root;
        // A slot per parameter, and where each (name, place) stands: an operation's
        // parameter replaces the path's of the same name and place without a search.
        let mut parameters: Vec<Option<Parameter>> = Vec::new();
        let mut placed: std::collections::HashMap<(String, String), usize> =
            std::collections::HashMap::new();
        let mut body_types = Vec::new();
        let mut form_params = false;
        let listed = [item.get("parameters"), op.get("parameters")];
        for (list, list_at) in listed.iter().zip([
            format!("paths.{path}.parameters"),
            format!("{at}.parameters"),
        ]) {
            let Some(list) = list else { continue };
            let list = list
                .as_array()
                .ok_or_else(|| invalid(&list_at, "must be a list"))?;
            for (i, param) in list.iter().enumerate() {
                room.take(1)?;
                let param_at = format!("{list_at}[{i}]");
                let param = resolve(root, param, &param_at)?;
                let text = |key: &str| param.get(key).and_then(Value::as_str).map(str::to_owned);
                let name = text("name").ok_or_else(|| invalid(&param_at, "has no name"))?;
                let location = text("in").ok_or_else(|| invalid(&param_at, "has no `in`"))?;
                match location.as_str() {
                    "body" => body_types.push(String::new()),
                    "formData" => form_params = true,
                    _ => {
                        let parameter = Parameter {
                            required: location == "path"
                                || param
                                    .get("required")
                                    .and_then(Value::as_bool)
                                    .unwrap_or(false),
                            description: text("description"),
                            name,
                            location,
                        };
                        let key = (parameter.name.clone(), parameter.location.clone());
                        if let Some(replaced) = placed.insert(key, parameters.len()) {
                            if let Some(slot) = parameters.get_mut(replaced) {
                                *slot = None;
                            }
                        }
                        parameters.push(Some(parameter));
                    }
                }
            }
        }
        let request_body_types = match self.version {
            Version::Swagger2 if !body_types.is_empty() || form_params => {
                let consumes = op.get("consumes").or_else(|| root.get("consumes"));
                let listed: Vec<String> = consumes
                    .and_then(Value::as_array)
                    .map(|types| {
                        types
                            .iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                match (listed.is_empty(), form_params) {
                    (false, _) => listed,
                    (true, true) => vec!["application/x-www-form-urlencoded".to_owned()],
                    (true, false) => vec!["application/json".to_owned()],
                }
            }
            Version::Swagger2 => Vec::new(),
            _ => match op.get("requestBody") {
                None => Vec::new(),
                Some(body) => {
                    let body_at = format!("{at}.requestBody");
                    let body = resolve(root, body, &body_at)?;
                    body.get("content")
                        .and_then(Value::as_object)
                        .map(|content| content.keys().cloned().collect())
                        .unwrap_or_default()
                }
            },
        };
        let parameters: Vec<Parameter> = parameters.into_iter().flatten().collect();
        let servers = self.servers(item, op);
        room.take(servers.len())?;
        let security = self.security(op, at, room)?;
        Ok(Operation {
            id: op.get("operationId").and_then(Value::as_str).map_or_else(
                || format!("{} {path}", method.to_uppercase()),
                str::to_owned,
            ),
            method: method.to_uppercase(),
            path: path.to_owned(),
            summary: op.get("summary").and_then(Value::as_str).map(str::to_owned),
            servers,
            parameters,
            request_body_types,
            security,
        })
    }

    fn servers(&self, item: &Map<String, Value>, op: &Map<String, Value>) -> Vec<String> {
        let urls = |list: Option<&Value>| -> Vec<String> {
            list.and_then(Value::as_array)
                .map(|servers| {
                    servers
                        .iter()
                        .filter_map(|s| s.get("url").and_then(Value::as_str))
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        if self.version != Version::Swagger2 {
            return [
                op.get("servers"),
                item.get("servers"),
                self.root.get("servers"),
            ]
            .into_iter()
            .map(urls)
            .find(|found| !found.is_empty())
            .unwrap_or_default();
        }
        let host = self.root.get("host").and_then(Value::as_str);
        let base = self
            .root
            .get("basePath")
            .and_then(Value::as_str)
            .unwrap_or("");
        let schemes: Vec<&str> = op
            .get("schemes")
            .or_else(|| self.root.get("schemes"))
            .and_then(Value::as_array)
            .map(|s| s.iter().filter_map(Value::as_str).collect())
            .unwrap_or_else(|| vec!["https"]);
        match host {
            Some(host) => schemes
                .iter()
                .map(|s| format!("{s}://{host}{base}"))
                .collect(),
            None if !base.is_empty() => vec![base.to_owned()],
            None => Vec::new(),
        }
    }

    fn security(
        &self,
        op: &Map<String, Value>,
        at: &str,
        room: &mut Room,
    ) -> Result<Vec<SecurityOption>, OpenApiError> {
        let root = &self.root;
        let Some(requirements) = op.get("security").or_else(|| root.get("security")) else {
            return Ok(Vec::new());
        };
        let requirements = requirements
            .as_array()
            .ok_or_else(|| invalid(&format!("{at}.security"), "must be a list"))?;
        let definitions = match self.version {
            Version::Swagger2 => root.get("securityDefinitions"),
            _ => root.pointer("/components/securitySchemes"),
        };
        let mut options = Vec::new();
        for requirement in requirements {
            room.take(1)?;
            let Some(requirement) = requirement.as_object() else {
                continue;
            };
            room.take(requirement.len())?;
            let mut schemes = Vec::new();
            for (name, scopes) in requirement {
                let scheme_at = format!("{at}.security.{name}");
                let Some(definition) = definitions.and_then(|d| d.get(name)) else {
                    return Err(invalid(
                        &scheme_at,
                        "names a security scheme the document does not define",
                    ));
                };
                let definition = resolve(root, definition, &scheme_at)?;
                let text = |key: &str| {
                    definition
                        .get(key)
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                };
                let flow = definition
                    .get("flows")
                    .and_then(Value::as_object)
                    .and_then(|flows| flows.values().next())
                    .unwrap_or(definition);
                let flow_text =
                    |key: &str| flow.get(key).and_then(Value::as_str).map(str::to_owned);
                schemes.push(SecurityScheme {
                    name: name.clone(),
                    kind: text("type").unwrap_or_default(),
                    scheme: text("scheme"),
                    location: text("in"),
                    parameter_name: if text("type").as_deref() == Some("apiKey") {
                        text("name")
                    } else {
                        None
                    },
                    scopes: scopes
                        .as_array()
                        .map(|s| {
                            s.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_owned)
                                .collect()
                        })
                        .unwrap_or_default(),
                    authorization_url: flow_text("authorizationUrl"),
                    token_url: flow_text("tokenUrl"),
                });
            }
            options.push(SecurityOption { schemes });
        }
        Ok(options)
    }
}

fn invalid(at: &str, message: &str) -> OpenApiError {
    OpenApiError::Invalid {
        at: at.to_owned(),
        message: message.to_owned(),
    }
}
