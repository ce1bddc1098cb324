//! Tool schemas as each wire API accepts them. MCP servers write full JSON
//! Schema (`$ref`, `oneOf`, type arrays, `const`, formats); Gemini takes an
//! OpenAPI subset and rejects the rest, and every API wants an object at
//! the top. Normalized once per tool list, not per request.

use serde_json::{Map, Value, json};
use tern_config::WireApi;

/// How deep `$ref`s are followed (recursive schemas end in a plain object).
const MAX_REF_DEPTH: usize = 8;

/// `schema` as `wire` accepts it.
pub fn normalize(schema: Value, wire: WireApi) -> Value {
    let mut out = match wire {
        WireApi::Gemini => gemini(&schema, &schema, 0),
        _ => schema,
    };
    top_level_object(&mut out);
    out
}

/// Every API wants `{"type": "object", "properties": …}` at the top, and
/// none needs `$schema`.
fn top_level_object(schema: &mut Value) {
    let Value::Object(map) = schema else {
        *schema = json!({"type": "object", "properties": {}});
        return;
    };
    map.remove("$schema");
    if map.get("type").and_then(Value::as_str) != Some("object") {
        map.insert("type".into(), json!("object"));
    }
    map.entry("properties").or_insert_with(|| json!({}));
}

/// Gemini's keys (its `Schema` object); everything else is dropped.
const GEMINI_KEYS: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
];

fn gemini(node: &Value, root: &Value, depth: usize) -> Value {
    let Value::Object(map) = node else {
        // `true` (anything) and other shorthands: an unconstrained string.
        return json!({"type": "string"});
    };
    if let Some(r) = map.get("$ref").and_then(Value::as_str) {
        return match (depth < MAX_REF_DEPTH).then(|| resolve(root, r)).flatten() {
            Some(target) => {
                let mut resolved = gemini(target, root, depth + 1);
                if let (Some(d), Value::Object(m)) = (map.get("description"), &mut resolved) {
                    m.insert("description".into(), d.clone());
                }
                resolved
            }
            None => json!({"type": "object"}),
        };
    }
    let mut out = Map::new();
    // `allOf`: the parts merged into one object.
    if let Some(Value::Array(parts)) = map.get("allOf") {
        for part in parts {
            if let Value::Object(p) = gemini(part, root, depth + 1) {
                merge_object(&mut out, p);
            }
        }
    }
    for (key, value) in map {
        match key.as_str() {
            "type" => set_type(&mut out, value),
            "const" => {
                if let Some(s) = value.as_str() {
                    out.insert("enum".into(), json!([s]));
                    out.entry("type").or_insert(json!("string"));
                }
            }
            "enum" => {
                // Gemini takes enums of strings only.
                if let Some(items) = value.as_array()
                    && items.iter().all(Value::is_string)
                {
                    out.insert("enum".into(), value.clone());
                }
            }
            "format" => {
                if matches!(value.as_str(), Some("enum" | "date-time")) {
                    out.insert("format".into(), value.clone());
                }
            }
            "properties" => {
                let props: Map<String, Value> = value
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), gemini(v, root, depth + 1)))
                    .collect();
                out.insert("properties".into(), Value::Object(props));
            }
            "items" => {
                out.insert("items".into(), gemini(value, root, depth + 1));
            }
            "anyOf" | "oneOf" => any_of(&mut out, value, root, depth),
            k if GEMINI_KEYS.contains(&k) => {
                out.insert(key.clone(), value.clone());
            }
            _ => {}
        }
    }
    // `required` may only name properties that exist.
    if let Some(Value::Array(required)) = out.get("required").cloned() {
        let props = out.get("properties").and_then(Value::as_object);
        let kept: Vec<Value> = required
            .into_iter()
            .filter(|r| r.as_str().is_some_and(|n| props.is_some_and(|p| p.contains_key(n))))
            .collect();
        out.insert("required".into(), Value::Array(kept));
    }
    if out.get("type").and_then(Value::as_str) == Some("array") && !out.contains_key("items") {
        out.insert("items".into(), json!({"type": "string"}));
    }
    Value::Object(out)
}

/// `type: ["string", "null"]` becomes `type: "string", nullable: true`.
fn set_type(out: &mut Map<String, Value>, value: &Value) {
    match value {
        Value::Array(types) => {
            let mut named = types.iter().filter_map(Value::as_str).filter(|t| *t != "null");
            if let Some(t) = named.next() {
                out.insert("type".into(), json!(t));
            }
            if types.iter().any(|t| t == "null") {
                out.insert("nullable".into(), json!(true));
            }
        }
        other => {
            out.insert("type".into(), other.clone());
        }
    }
}

/// `anyOf`/`oneOf`: a lone non-null alternative (plus `null`) becomes that
/// schema, nullable; several stay as Gemini's `anyOf`.
fn any_of(out: &mut Map<String, Value>, value: &Value, root: &Value, depth: usize) {
    let Some(alternatives) = value.as_array() else { return };
    let is_null = |v: &Value| v.get("type").and_then(Value::as_str) == Some("null");
    let nullable = alternatives.iter().any(is_null);
    let rest: Vec<Value> = alternatives.iter().filter(|v| !is_null(v)).map(|v| gemini(v, root, depth + 1)).collect();
    match rest.as_slice() {
        [one] => {
            if let Value::Object(m) = one {
                merge_object(out, m.clone());
            }
        }
        [] => {}
        _ => {
            out.insert("anyOf".into(), Value::Array(rest));
        }
    }
    if nullable {
        out.insert("nullable".into(), json!(true));
    }
}

fn merge_object(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (k, v) in from {
        match (k.as_str(), into.get_mut(&k), v) {
            ("properties", Some(Value::Object(a)), Value::Object(b)) => a.extend(b),
            ("required", Some(Value::Array(a)), Value::Array(b)) => a.extend(b),
            (_, _, v) => {
                into.insert(k, v);
            }
        }
    }
}

/// A local `$ref` (`#/$defs/X`, `#/definitions/X`, any JSON pointer).
fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    root.pointer(reference.strip_prefix('#')?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemini_gets_its_subset() {
        let schema = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "additionalProperties": false,
            "$defs": {"Point": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}},
            "properties": {
                "name": {"type": ["string", "null"], "format": "uri"},
                "mode": {"const": "fast"},
                "level": {"type": "integer", "enum": [1, 2]},
                "at": {"$ref": "#/$defs/Point", "description": "where"},
                "either": {"oneOf": [{"type": "string"}, {"type": "null"}]},
                "list": {"type": "array"}
            },
            "required": ["name", "ghost"]
        });
        let out = normalize(schema, WireApi::Gemini);
        assert_eq!(
            out,
            json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string", "nullable": true},
                    "mode": {"enum": ["fast"], "type": "string"},
                    "level": {"type": "integer"},
                    "at": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"], "description": "where"},
                    "either": {"type": "string", "nullable": true},
                    "list": {"type": "array", "items": {"type": "string"}}
                },
                "required": ["name"]
            })
        );
    }

    #[test]
    fn recursive_refs_end() {
        let schema = json!({"type": "object", "properties": {"node": {"$ref": "#"}}});
        let out = normalize(schema, WireApi::Gemini);
        assert!(out.to_string().len() < 10_000);
    }

    #[test]
    fn every_wire_gets_an_object_at_the_top() {
        assert_eq!(normalize(json!({}), WireApi::Chat), json!({"type": "object", "properties": {}}));
        let full = json!({"type": "object", "properties": {"a": {"type": ["string", "null"]}}, "$schema": "x"});
        assert_eq!(
            normalize(full, WireApi::Anthropic),
            json!({"type": "object", "properties": {"a": {"type": ["string", "null"]}}})
        );
    }
}
