//! Every answer an end-to-end test receives is checked against the OpenAPI document
//! (`web/api/v1/openapi.json`), so the document cannot promise what the service does not do:
//! the operation is found by method and path template, the response by status (undeclared
//! statuses fail), its content type must be one the response declares, its required headers
//! must be there, and a JSON body must match the schema (JSON Schema 2020-12, formats
//! checked, `$ref`s resolved within the document).
//!
//! Paths outside the API (devstack's `/__admin`, `/__scheduled`, the page's files) are not
//! checked. A path no operation has must answer the contract's 404, and a known path with
//! another method its 405.

use jsonschema::Validator;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

const DOCUMENT: &str = include_str!("../../web/api/v1/openapi.json");

fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| serde_json::from_str(DOCUMENT).expect("web/api/v1/openapi.json is not JSON"))
}

/// Validators by JSON pointer into the document, built once per test binary.
fn validator(pointer: &str) -> Arc<Validator> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Validator>>>> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    cache
        .entry(pointer.to_string())
        .or_insert_with(|| {
            // The whole document is the schema's resource, so `#/components/schemas/...` resolves;
            // its other members are unknown keywords to JSON Schema and ignored.
            let mut root = document().clone();
            root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
            // A fragment is a URI part: the braces of path templates must be percent-encoded.
            root["$ref"] = json!(format!("#{}", pointer.replace('{', "%7B").replace('}', "%7D")));
            let v = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .should_validate_formats(true)
                .build(&root)
                .unwrap_or_else(|e| panic!("the document's schema at {pointer} does not compile: {e}"));
            Arc::new(v)
        })
        .clone()
}

fn escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// Whether `path` (no query) fits `template` (`/api/v1/stories/{id}`, `/l/{id}/chapters/{n}.mp3`).
fn fits(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter().zip(&p).all(|(t, p)| match (t.find('{'), t.find('}')) {
            (Some(a), Some(b)) => {
                let (prefix, suffix) = (&t[..a], &t[b + 1..]);
                p.len() > prefix.len() + suffix.len() && p.starts_with(prefix) && p.ends_with(suffix)
            }
            _ => t == p,
        })
}

/// A response object, its `$ref` followed, and the pointer to it.
fn resolve(pointer: String) -> (String, &'static Value) {
    let v = document().pointer(&pointer).unwrap_or_else(|| panic!("nothing at {pointer}"));
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => resolve(r.trim_start_matches('#').to_string()),
        None => (pointer, v),
    }
}

fn is_api(path: &str) -> bool {
    path == "/health" || path.starts_with("/api/") || path.starts_with("/l/")
}

fn error_schema_pointer() -> &'static str {
    "/components/schemas/Error"
}

/// Panics, naming the request and what differs, when the answer is outside the document.
pub fn check(method: &str, path_and_query: &str, status: u16, headers: &[(String, String)], body: &[u8]) {
    let path = path_and_query.split(['?', '#']).next().unwrap_or("");
    if method.eq_ignore_ascii_case("OPTIONS") || !is_api(path) || path == "/api/v1/openapi.json" {
        return;
    }
    let what = format!("{method} {path_and_query} answered {status}");
    let header = |name: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
    let paths = document()["paths"].as_object().unwrap();
    let Some((template, item)) = paths.iter().find(|(t, _)| fits(t, path)) else {
        assert!(status == 404 || status == 429, "{what}: no operation of the document has this path, so it must be 404");
        return check_json(&what, header("Content-Type"), body, error_schema_pointer());
    };
    let m = method.to_ascii_lowercase();
    if item.get(&m).is_none() {
        assert!(matches!(status, 405 | 404 | 429), "{what}: the document has no {method} on {template}, so it must be 405");
        return check_json(&what, header("Content-Type"), body, error_schema_pointer());
    }
    let op = format!("/paths/{}/{m}/responses", escape(template));
    let code = status.to_string();
    let Some(_) = document().pointer(&format!("{op}/{code}")) else {
        panic!("{what}: the document does not declare {status} for {method} {template}; body: {}", String::from_utf8_lossy(body));
    };
    let (pointer, response) = resolve(format!("{op}/{code}"));
    for (name, h) in response.get("headers").and_then(Value::as_object).into_iter().flatten() {
        let (_, h) = resolve_header(h);
        if h["required"] == json!(true) {
            assert!(header(name).is_some(), "{what}: the document requires the header {name} ({pointer})");
        }
    }
    let content = response.get("content").and_then(Value::as_object);
    if m == "head" || status == 204 || status == 304 {
        assert!(body.is_empty(), "{what}: a {status} to {method} has no body, got {} bytes", body.len());
        return;
    }
    let Some(content) = content else {
        assert!(body.is_empty(), "{what}: the document declares no body for it ({pointer}), got {} bytes", body.len());
        return;
    };
    let ct = header("Content-Type").unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    assert!(
        content.contains_key(&essence),
        "{what}: Content-Type {ct:?} is not one the document declares ({:?}) at {pointer}",
        content.keys().collect::<Vec<_>>()
    );
    if essence == "application/json" {
        check_json(&what, Some(ct), body, &format!("{pointer}/content/application~1json/schema"));
    }
}

fn resolve_header(h: &'static Value) -> (String, &'static Value) {
    match h.get("$ref").and_then(Value::as_str) {
        Some(r) => resolve(r.trim_start_matches('#').to_string()),
        None => (String::new(), h),
    }
}

fn check_json(what: &str, content_type: Option<&str>, body: &[u8], schema_pointer: &str) {
    let ct = content_type.unwrap_or("");
    assert!(ct.to_ascii_lowercase().starts_with("application/json"), "{what}: Content-Type {ct:?}, the document says application/json");
    let v: Value = serde_json::from_slice(body).unwrap_or_else(|e| panic!("{what}: the body is not JSON ({e}): {}", String::from_utf8_lossy(body)));
    let validator = validator(schema_pointer);
    let errors: Vec<String> = validator.iter_errors(&v).map(|e| format!("at {}: {e}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{what}: the body does not match the document's schema #{schema_pointer}:\n  {}\nbody: {v}", errors.join("\n  "));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(ct: &str) -> Vec<(String, String)> {
        vec![("Content-Type".into(), ct.into())]
    }

    #[test]
    fn templates_fit_paths() {
        assert!(fits("/api/v1/stories/{id}", "/api/v1/stories/abc"));
        assert!(!fits("/api/v1/stories/{id}", "/api/v1/stories/abc/voices"));
        assert!(fits("/l/{id}/chapters/{n}.mp3", "/l/x/chapters/3.mp3"));
        assert!(!fits("/l/{id}/chapters/{n}.mp3", "/l/x/chapters/.mp3"));
    }

    #[test]
    fn a_matching_answer_passes() {
        let body = br#"{"error": {"code": "not_found", "message": "no such story"}}"#;
        check("GET", "/api/v1/stories/x", 404, &h("application/json; charset=utf-8"), body);
        check("GET", "/__admin/log", 200, &[], b"anything");
    }

    #[test]
    fn schemas_under_templated_paths_compile() {
        check("POST", "/api/v1/stories/x/generate", 202, &h("application/json"), br#"{"task_id": "0b7c6a52-7f1e-4d4e-9a55-3f1f0c2b9e11"}"#);
    }

    #[test]
    #[should_panic(expected = "does not declare 418")]
    fn an_undeclared_status_fails() {
        check("GET", "/api/v1/me", 418, &h("application/json"), b"{}");
    }

    #[test]
    #[should_panic(expected = "does not match the document's schema")]
    fn a_body_outside_the_schema_fails() {
        check("GET", "/api/v1/stories?limit=2", 200, &h("application/json"), br#"{"stories": [{"id": "not-a-uuid"}], "next_cursor": null}"#);
    }

    #[test]
    #[should_panic(expected = "requires the header Retry-After")]
    fn a_missing_required_header_fails() {
        check("GET", "/api/v1/me", 429, &h("application/json"), br#"{"error": {"code": "rate_limited", "message": "wait"}}"#);
    }

    #[test]
    #[should_panic(expected = "is not one the document declares")]
    fn a_wrong_content_type_fails() {
        check("GET", "/api/v1/stories/x/audio", 200, &h("application/json"), b"{}");
    }
}
