//! OpenAI rejects a `strict` json_schema that breaks the structured-outputs rules before it
//! generates anything; doing the same here catches a bad schema in the Worker during local
//! runs instead of on the first paid call.
use serde_json::Value;

/// Resolves a local `$ref` (`#`, `#/$defs/X`, `#/definitions/X`, or any JSON pointer into the root).
pub fn resolve_ref<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    if pointer.is_empty() {
        return Some(root);
    }
    root.pointer(pointer)
}

/// The whole schema must at least be usable: every `$ref` resolves.
pub fn check_refs(name: &str, root: &Value) -> Result<(), String> {
    let mut err = None;
    walk(root, &mut Vec::new(), &mut |node, _ctx| {
        if let Some(r) = node.get("$ref").and_then(Value::as_str) {
            if resolve_ref(root, r).is_none() && err.is_none() {
                err = Some(format!("Invalid schema for response_format '{name}': reference to component '{r}' which was not found in the schema."));
            }
        }
    });
    err.map_or(Ok(()), Err)
}

/// The structured-outputs rules that a `strict: true` schema must follow.
pub fn check_strict(name: &str, root: &Value) -> Result<(), String> {
    let root_type = root.get("type");
    if root_type != Some(&Value::String("object".into())) {
        let got = root_type.map(|t| t.to_string()).unwrap_or_else(|| "None".into());
        return Err(format!(
            "Invalid schema for response_format '{name}': schema must be a JSON Schema of 'type: \"object\"', got 'type: {got}'."
        ));
    }
    let mut err = None;
    walk(root, &mut Vec::new(), &mut |node, ctx| {
        if err.is_some() || !is_object_schema(node) {
            return;
        }
        let at = format!("Invalid schema for response_format '{name}': In context={}, ", py_tuple(ctx));
        if node.get("additionalProperties") != Some(&Value::Bool(false)) {
            err = Some(format!("{at}'additionalProperties' is required to be supplied and to be false."));
            return;
        }
        let props: Vec<&String> =
            node.get("properties").and_then(Value::as_object).map(|m| m.keys().collect()).unwrap_or_default();
        let required: Vec<&str> = node
            .get("required")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(missing) = props.iter().find(|p| !required.contains(&p.as_str())) {
            err = Some(format!("{at}'required' is required to be supplied and to be an array including every key in properties. Missing '{missing}'."));
        } else if let Some(extra) = required.iter().find(|r| !props.iter().any(|p| p == *r)) {
            err = Some(format!("{at}'required' is required to be supplied and to be an array including every key in properties. Extra required key '{extra}' supplied."));
        }
    });
    err.map_or(Ok(()), Err)
}

fn is_object_schema(node: &Value) -> bool {
    match node.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "object"),
        _ => node.get("properties").is_some(),
    }
}

/// Visits every subschema with its path (as OpenAI reports it in error messages).
fn walk(node: &Value, ctx: &mut Vec<String>, visit: &mut dyn FnMut(&Value, &[String])) {
    if !node.is_object() {
        return;
    }
    visit(node, ctx);
    for map_key in ["properties", "$defs", "definitions"] {
        if let Some(m) = node.get(map_key).and_then(Value::as_object) {
            for (k, sub) in m {
                ctx.push(map_key.into());
                ctx.push(k.clone());
                walk(sub, ctx, visit);
                ctx.truncate(ctx.len() - 2);
            }
        }
    }
    if let Some(items) = node.get("items") {
        ctx.push("items".into());
        walk(items, ctx, visit);
        ctx.pop();
    }
    for list_key in ["anyOf", "oneOf", "allOf", "prefixItems"] {
        if let Some(list) = node.get(list_key).and_then(Value::as_array) {
            for (i, sub) in list.iter().enumerate() {
                ctx.push(list_key.into());
                ctx.push(i.to_string());
                walk(sub, ctx, visit);
                ctx.truncate(ctx.len() - 2);
            }
        }
    }
}

fn py_tuple(ctx: &[String]) -> String {
    let parts: Vec<String> = ctx.iter().map(|p| format!("'{p}'")).collect();
    match parts.len() {
        0 => "()".into(),
        1 => format!("({},)", parts[0]),
        _ => format!("({})", parts.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strict_rules_are_enforced_with_openai_style_messages() {
        let ok =
            json!({"type":"object","additionalProperties":false,"required":["a"],"properties":{"a":{"type":"string"}}});
        assert!(check_strict("s", &ok).is_ok());
        let missing =
            json!({"type":"object","additionalProperties":false,"required":[],"properties":{"a":{"type":"string"}}});
        let e = check_strict("s", &missing).unwrap_err();
        assert!(e.contains("context=()") && e.contains("Missing 'a'"), "{e}");
        let nested = json!({"type":"object","additionalProperties":false,"required":["l"],"properties":{"l":{"type":"array","items":{"type":"object","properties":{}}}}});
        let e = check_strict("s", &nested).unwrap_err();
        assert!(e.contains("('properties', 'l', 'items')") && e.contains("additionalProperties"), "{e}");
        assert!(check_strict("s", &json!({"type":"array"})).is_err());
    }

    #[test]
    fn refs_resolve_or_are_reported() {
        let s = json!({"$defs":{"x":{"type":"string"}},"type":"object","properties":{"a":{"$ref":"#/$defs/x"},"b":{"$ref":"#/$defs/nope"}}});
        assert_eq!(resolve_ref(&s, "#/$defs/x"), Some(&json!({"type":"string"})));
        assert!(check_refs("s", &s).unwrap_err().contains("#/$defs/nope"));
    }
}
