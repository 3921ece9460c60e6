//! A parsed document and its version.

use serde_json::Value;

use crate::OpenApiError;

/// The largest document read (GitHub's REST API description is about 10 MB).
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub enum Version {
    #[serde(rename = "2.0")]
    Swagger2,
    #[serde(rename = "3.0")]
    OpenApi30,
    #[serde(rename = "3.1")]
    OpenApi31,
}

/// A document as read: its root and version.
#[derive(Debug, Clone)]
pub struct Document {
    pub root: Value,
    pub version: Version,
}

impl Document {
    /// Reads a JSON or YAML document (JSON when it starts with `{`). Both refuse nesting
    /// deeper than 128 levels, so a hostile document cannot exhaust the stack.
    pub fn parse(bytes: &[u8]) -> Result<Self, OpenApiError> {
        if bytes.len() > MAX_DOCUMENT_BYTES {
            return Err(OpenApiError::TooLarge {
                limit: MAX_DOCUMENT_BYTES,
            });
        }
        let json = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        let root: Value = if json {
            serde_json::from_slice(bytes).map_err(|e| OpenApiError::Syntax(format!("JSON: {e}")))?
        } else {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| OpenApiError::Syntax("the document is not UTF-8 text".to_owned()))?;
            crate::yaml::to_json(text)?
        };
        let version = version_of(&root)?;
        Ok(Self { root, version })
    }
}

fn version_of(root: &Value) -> Result<Version, OpenApiError> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if let Some(v) = root.get("openapi") {
        let v = text(v);
        return match v.split('.').take(2).collect::<Vec<_>>().as_slice() {
            ["3", "0"] => Ok(Version::OpenApi30),
            ["3", "1"] => Ok(Version::OpenApi31),
            _ => Err(OpenApiError::UnsupportedVersion(v)),
        };
    }
    if let Some(v) = root.get("swagger") {
        let v = text(v);
        return if v == "2.0" {
            Ok(Version::Swagger2)
        } else {
            Err(OpenApiError::UnsupportedVersion(v))
        };
    }
    Err(OpenApiError::NotOpenApi)
}
