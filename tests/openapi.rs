//! The OpenAPI document (`web/api/v1/openapi.json`, served as a static asset) against the
//! router (`src/api/mod.rs`): the same operations, no more, no fewer, so neither can change
//! without the other. The router's match arms are read as text, the way a reader sees them;
//! the signed-link arm is expanded from `core::links::Resource`, which decides those paths.

use std::collections::BTreeSet;

use serde_json::Value;
use talecast::core::links::Resource;

const ROUTER: &str = include_str!("../src/api/mod.rs");
const DOCUMENT: &str = include_str!("../web/api/v1/openapi.json");

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn document() -> Value {
    serde_json::from_str(DOCUMENT).expect("web/api/v1/openapi.json is not JSON")
}

/// `METHOD /path/{param}` for every operation of the document.
fn documented() -> BTreeSet<String> {
    let doc = document();
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if item.get(m).is_some() {
                ops.insert(format!("{} {path}", m.to_uppercase()));
            }
        }
    }
    ops
}

/// The router's arms, `(["api", "v1", "stories", id], Get) => …`, as `GET /api/v1/stories/{id}`;
/// `Get | Head` gives both. The signed-link arm (`["l", ..]`) comes back as `None` paths to
/// expand.
fn routed() -> (BTreeSet<String>, Vec<String>) {
    let start = ROUTER.find("match (segments, m.clone()) {").expect("the router's match");
    let body = &ROUTER[start..];
    let end = body.find("known_path(s) =>").expect("the router's fallback arm");
    let mut ops = BTreeSet::new();
    let mut signed_methods = Vec::new();
    for line in body[..end].lines().map(str::trim).filter(|l| l.starts_with("([")) {
        let (pattern, rest) = line[1..].split_once("], ").unwrap_or_else(|| panic!("unreadable arm: {line}"));
        let methods: Vec<String> = rest
            .split(')')
            .next()
            .unwrap()
            .split('|')
            .map(|m| m.trim().to_uppercase())
            .collect();
        let segments: Vec<&str> = pattern.trim_start_matches('[').split(", ").map(str::trim).collect();
        if segments == ["\"l\"", ".."] {
            assert!(line.contains("if signed_path(segments)"), "the /l/ arm must be guarded by signed_path: {line}");
            signed_methods = methods;
            continue;
        }
        let path: String = segments
            .iter()
            .map(|s| match s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                Some(lit) => format!("/{lit}"),
                None => {
                    assert!(s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "unreadable segment {s} in {line}");
                    format!("/{{{s}}}")
                }
            })
            .collect();
        for m in methods {
            ops.insert(format!("{m} {path}"));
        }
    }
    assert!(ops.len() > 20, "read only {} arms from src/api/mod.rs: has its layout changed?", ops.len());
    (ops, signed_methods)
}

/// The signed-link paths, as templates: one per kind of `Resource`.
fn signed_paths() -> Vec<String> {
    let all = [Resource::Book, Resource::Feed, Resource::Cover, Resource::Chapter(7)];
    all.iter()
        .map(|r| match r {
            // A new kind of link fails to compile here until the document has it.
            Resource::Book | Resource::Feed | Resource::Cover => r.path("{id}"),
            Resource::Chapter(_) => r.path("{id}").replace("/7.mp3", "/{n}.mp3"),
        })
        .collect()
}

#[test]
fn the_router_and_the_document_have_the_same_operations() {
    let (mut routed, signed_methods) = routed();
    assert_eq!(signed_methods, ["GET", "HEAD"], "the signed-link arm's methods");
    for p in signed_paths() {
        for m in &signed_methods {
            routed.insert(format!("{m} {p}"));
        }
    }
    let documented = documented();
    let missing: Vec<_> = routed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "web/api/v1/openapi.json and src/api/mod.rs differ:\n  routed, not documented: {missing:?}\n  documented, not routed: {extra:?}"
    );
}

#[test]
fn documented_signed_paths_are_links_the_worker_accepts() {
    let id = "0b7c6a52-7f1e-4d4e-9a55-3f1f0c2b9e11";
    for p in signed_paths() {
        let concrete = p.replace("{id}", id).replace("{n}", "3");
        let segments: Vec<&str> = concrete.trim_matches('/').split('/').collect();
        assert!(Resource::from_segments(&segments).is_some(), "{concrete} is not a signed link");
    }
}

/// Every `$ref` names something the document has, and every operation declares its answers
/// with a schema for each JSON body (a response the e2e client cannot check is no contract).
#[test]
fn every_reference_resolves_and_every_json_answer_has_a_schema() {
    let doc = document();
    fn walk(doc: &Value, v: &Value, at: &str) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    let ptr = r.strip_prefix('#').unwrap_or_else(|| panic!("{at}: only local references: {r}"));
                    assert!(doc.pointer(ptr).is_some(), "{at}: {r} names nothing");
                }
                for (k, v) in m {
                    walk(doc, v, &format!("{at}/{k}"));
                }
            }
            Value::Array(a) => a.iter().enumerate().for_each(|(i, v)| walk(doc, v, &format!("{at}/{i}"))),
            _ => {}
        }
    }
    walk(&doc, &doc, "#");
    assert_eq!(doc["openapi"].as_str().map(|v| v.starts_with("3.1")), Some(true));
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            let responses = op["responses"].as_object().unwrap_or_else(|| panic!("{m} {path}: no responses"));
            assert!(responses.keys().any(|s| s.starts_with('2')), "{m} {path}: no 2xx answer");
            // Signed links (the feed too, inside /api/v1) take no key, so no 401.
            let signed = op["security"].as_array().is_some_and(|s| s.iter().any(|x| x.get("signedLink").is_some()));
            if path != "/health" && !signed {
                assert!(responses.contains_key("401") && responses.contains_key("429"), "{m} {path}: 401 and 429 are real answers");
            }
            for (status, r) in responses {
                let r = match r.get("$ref").and_then(Value::as_str) {
                    Some(p) => doc.pointer(&p[1..]).unwrap(),
                    None => r,
                };
                if let Some(json) = r.pointer("/content/application~1json") {
                    assert!(json.get("schema").is_some(), "{m} {path} {status}: a JSON answer without a schema");
                }
            }
        }
    }
}
