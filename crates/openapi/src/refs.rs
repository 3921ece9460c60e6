//! Internal `$ref`s (`#/components/...`), followed within the document only.

use serde_json::Value;

use crate::OpenApiError;

/// How many references one lookup may follow before it is called a cycle.
const MAX_HOPS: usize = 64;

/// `value`, or what its `$ref` (and theirs) points to. `at` names where it was met.
pub(crate) fn resolve<'a>(
    root: &'a Value,
    value: &'a Value,
    at: &str,
) -> Result<&'a Value, OpenApiError> {
    let mut current = value;
    let mut seen: Vec<&str> = Vec::new();
    while let Some(target) = current.get("$ref").and_then(Value::as_str) {
        if seen.contains(&target) || seen.len() >= MAX_HOPS {
            return Err(OpenApiError::CyclicRef {
                at: at.to_owned(),
                target: target.to_owned(),
            });
        }
        seen.push(target);
        let Some(pointer) = target.strip_prefix('#') else {
            return Err(OpenApiError::RemoteRef {
                at: at.to_owned(),
                target: target.to_owned(),
            });
        };
        // A JSON pointer; `~1` and `~0` are unescaped by `Value::pointer`.
        current =
            root.pointer(&percent_decoded(pointer))
                .ok_or_else(|| OpenApiError::MissingRef {
                    at: at.to_owned(),
                    target: target.to_owned(),
                })?;
    }
    Ok(current)
}

/// A reference is a URI fragment, so `%7B` may stand for `{` in a path's name.
fn percent_decoded(pointer: &str) -> String {
    percent_encoding::percent_decode_str(pointer)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_are_followed_inside_only() {
        let root = json!({
            "components": {"parameters": {"a": {"$ref": "#/components/parameters/b"}, "b": {"name": "b"},
                "loop": {"$ref": "#/components/parameters/loop2"}, "loop2": {"$ref": "#/components/parameters/loop"}},
                "schemas": {"x~y/z": {"type": "string"}}},
        });
        let r = |target: &str| resolve(&root, &json!({"$ref": target}), "here").cloned();
        assert_eq!(r("#/components/parameters/a"), Ok(json!({"name": "b"})));
        assert_eq!(
            r("#/components/schemas/x~0y~1z"),
            Ok(json!({"type": "string"}))
        );
        assert!(matches!(
            r("#/components/parameters/loop"),
            Err(OpenApiError::CyclicRef { .. })
        ));
        assert!(matches!(
            r("https://evil.example/x.json#/a"),
            Err(OpenApiError::RemoteRef { .. })
        ));
        assert!(matches!(
            r("other.yaml#/a"),
            Err(OpenApiError::RemoteRef { .. })
        ));
        assert!(matches!(
            r("#/nothing"),
            Err(OpenApiError::MissingRef { .. })
        ));
    }
}
