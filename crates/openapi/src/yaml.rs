//! YAML documents, read as a stream of parser events into JSON values. The expansion of
//! aliases is Keyway's own, under a budget, so a "billion laughs" document is refused after a
//! bounded amount of work instead of filling memory; nesting is capped like serde_json's.

use saphyr_parser::{Event, Parser, ScalarStyle, Tag};
use serde_json::{Map, Number, Value};
use std::collections::HashMap;

use crate::OpenApiError;

/// Deepest nesting accepted (serde_json's own limit for JSON documents).
const MAX_DEPTH: usize = 128;
/// Work units one document may produce at most: a node is one, a string one more per 32
/// bytes. A 16 MiB document of ordinary YAML stays far below; aliases pasting large parts
/// over and over do not.
const BUDGET: usize = 3_000_000;
/// The budget of a small document: a value takes at least a byte of text without aliases, so
/// the budget follows the text's length (from this floor), and a small document full of
/// aliases cannot make millions of values.
const MIN_BUDGET: usize = 100_000;

/// A collection being read.
struct Open {
    value: Value,
    /// The key read for the next value of a mapping.
    key: Option<String>,
    anchor: usize,
    /// Work units of everything in it so far.
    cost: usize,
    /// How deep it goes below itself.
    height: usize,
}

/// An anchored value, kept to paste where its aliases stand.
struct Anchored {
    value: Value,
    cost: usize,
    height: usize,
}

pub(crate) fn to_json(text: &str) -> Result<Value, OpenApiError> {
    let mut stack: Vec<Open> = Vec::new();
    let mut anchors: HashMap<usize, Anchored> = HashMap::new();
    let mut root: Option<Value> = None;
    let mut spent = 0usize;
    let budget = BUDGET.min(text.len().max(MIN_BUDGET));
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| OpenApiError::Syntax(format!("YAML: {e}")))?;
        let line = span.start.line();
        let (value, anchor, cost, height) = match event {
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(too_complex(line, "nests deeper than 128 levels"));
                }
                let value = match event {
                    Event::SequenceStart(..) => Value::Array(Vec::new()),
                    _ => Value::Object(Map::new()),
                };
                stack.push(Open {
                    value,
                    key: None,
                    anchor,
                    cost: 1,
                    height: 1,
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let done = stack.pop().ok_or_else(|| unbalanced(line))?;
                (done.value, done.anchor, done.cost, done.height)
            }
            Event::Scalar(text, style, anchor, tag) => {
                let value = scalar(&text, style, tag.as_deref(), line)?;
                let cost = 1 + text.len() / 32;
                (value, anchor, cost, 0)
            }
            Event::Alias(id) => {
                let anchored = anchors.get(&id).ok_or_else(|| {
                    OpenApiError::Syntax(format!("YAML: an alias at line {line} names no anchor"))
                })?;
                if stack.len() + anchored.height > MAX_DEPTH {
                    return Err(too_complex(
                        line,
                        "nests deeper than 128 levels through an alias",
                    ));
                }
                // Checked before the copy is made, so a refused alias costs nothing.
                if spent.saturating_add(anchored.cost) > budget {
                    return Err(too_many(line));
                }
                (anchored.value.clone(), 0, anchored.cost, anchored.height)
            }
            Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd
            | Event::Nothing => continue,
        };
        spent = spent.saturating_add(cost);
        if spent > budget {
            return Err(too_many(line));
        }
        if anchor != 0 {
            // The copy kept for its aliases is as much work as the value itself: charged, or
            // anchors nested in anchors would copy one subtree once per level for free.
            spent = spent.saturating_add(cost);
            if spent > budget {
                return Err(too_many(line));
            }
            anchors.insert(
                anchor,
                Anchored {
                    value: value.clone(),
                    cost,
                    height,
                },
            );
        }
        match stack.last_mut() {
            None => {
                if root.replace(value).is_some() {
                    return Err(OpenApiError::Syntax(
                        "YAML: the text holds more than one document".to_owned(),
                    ));
                }
            }
            Some(parent) => {
                parent.cost = parent.cost.saturating_add(cost);
                parent.height = parent.height.max(height + 1);
                place(parent, value, line)?;
            }
        }
    }
    root.ok_or_else(|| OpenApiError::Syntax("YAML: the document is empty".to_owned()))
}

/// Adds a value to the collection being read: an item, a key, or a key's value.
fn place(parent: &mut Open, value: Value, line: usize) -> Result<(), OpenApiError> {
    match (&mut parent.value, parent.key.take()) {
        (Value::Array(items), _) => items.push(value),
        (Value::Object(map), Some(key)) => {
            if map.insert(key.clone(), value).is_some() {
                return Err(OpenApiError::Syntax(format!(
                    "YAML: the key {key:?} appears twice in one mapping (line {line})"
                )));
            }
        }
        (Value::Object(_), None) => {
            parent.key = Some(match value {
                Value::String(s) => s,
                Value::Array(_) | Value::Object(_) => {
                    return Err(OpenApiError::Syntax(format!(
                        "YAML: a mapping key at line {line} is a collection; keys must be scalars"
                    )))
                }
                other => other.to_string(),
            });
        }
        _ => return Err(unbalanced(line)),
    }
    Ok(())
}

/// A scalar by the YAML 1.2 core schema: plain `null`, `true`, numbers; anything quoted, in
/// a block, or tagged `!!str` is a string.
fn scalar(
    text: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
    line: usize,
) -> Result<Value, OpenApiError> {
    let core = tag
        .filter(|t| t.handle == "tag:yaml.org,2002:")
        .map(|t| t.suffix.as_str());
    match (style, core) {
        (_, Some("str")) => return Ok(Value::String(text.to_owned())),
        (ScalarStyle::Plain, None) => {}
        (ScalarStyle::Plain, Some("null" | "bool" | "int" | "float")) => {}
        (_, None) => return Ok(Value::String(text.to_owned())),
        (_, Some(other)) => {
            return Err(OpenApiError::Syntax(format!(
                "YAML: the tag !!{other} at line {line} is not supported"
            )))
        }
    }
    Ok(match text {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        _ => number(text).unwrap_or_else(|| Value::String(text.to_owned())),
    })
}

fn number(text: &str) -> Option<Value> {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if let Some(hex) = digits.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok().map(Value::from);
    }
    if let Some(oct) = digits.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok().map(Value::from);
    }
    if !digits.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    if let Ok(int) = text.parse::<i64>() {
        return Some(Value::from(int));
    }
    // A float JSON can hold; `.inf` and `.nan` stay text.
    text.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
}

fn too_complex(line: usize, what: &str) -> OpenApiError {
    OpenApiError::Syntax(format!("YAML: the document {what} (line {line})"))
}

fn too_many(line: usize) -> OpenApiError {
    too_complex(
        line,
        "expands to too many values (aliases repeat too much of it)",
    )
}

fn unbalanced(line: usize) -> OpenApiError {
    OpenApiError::Syntax(format!("YAML: unbalanced structure at line {line}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_becomes_the_json_it_means() {
        let text = "openapi: 3.0.0\ncount: 12\nratio: 0.5\nhex: 0x1F\nempty:\nyes: true\nquoted: '12'\n\
                    list: [a, \"b\", ~]\nnested:\n  - name: x\n    required: false\nbase: &base {type: string}\n\
                    copy: *base\nblock: |\n  two\n  lines\n";
        assert_eq!(
            to_json(text).unwrap(),
            json!({"openapi": "3.0.0", "count": 12, "ratio": 0.5, "hex": 31, "empty": null, "yes": true,
                   "quoted": "12", "list": ["a", "b", null], "nested": [{"name": "x", "required": false}],
                   "base": {"type": "string"}, "copy": {"type": "string"}, "block": "two\nlines\n"})
        );
    }

    #[test]
    fn hostile_yaml_is_refused_quickly() {
        // Billion laughs: ten levels of ten aliases each would be 10^10 values.
        let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..10 {
            let p = i - 1;
            text.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        // Refused by the budget (10^10 values would never finish or fit otherwise).
        let err = to_json(&text).unwrap_err();
        assert!(err.to_string().contains("too many values"), "{err}");
        // Anchors nested in anchors, never used: each level kept its own copy of the list
        // inside (100 levels of 40,000 values, in 80 KB of text).
        let list = vec!["1"; 40_000].join(",");
        let nested = format!(
            "x: {}[{list}]{}\n",
            (0..100).map(|i| format!("&a{i} [")).collect::<String>(),
            "]".repeat(100)
        );
        let err = to_json(&nested).unwrap_err();
        assert!(err.to_string().contains("too many values"), "{err}");
        let deep = format!("{}x{}", "[".repeat(200), "]".repeat(200));
        assert!(to_json(&deep).is_err());
        let mut block = String::new();
        for depth in 0..200 {
            block.push_str(&" ".repeat(depth * 2));
            block.push_str("- \n");
        }
        assert!(
            to_json(&block).unwrap_err().to_string().contains("deeper"),
            "block nesting"
        );
        assert!(to_json("a: 1\na: 2\n")
            .unwrap_err()
            .to_string()
            .contains("twice"));
        assert!(to_json("a: *nowhere\n").is_err());
        assert!(to_json("a: [unclosed\n").is_err());
        assert!(to_json("--- 1\n--- 2\n")
            .unwrap_err()
            .to_string()
            .contains("more than one"));
        assert!(to_json("? [a, b]\n: c\n")
            .unwrap_err()
            .to_string()
            .contains("keys must be scalars"));
    }
}
