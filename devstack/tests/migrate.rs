//! `devstack migrate` over the Neon HTTP protocol against a real PostgreSQL: applies every file
//! once, is a no-op the second time, and refuses an applied file that was edited.

mod common;
use common::*;
use serde_json::json;
use std::process::Command;

fn migrate(endpoint: &str, db_url: &str, dir: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_devstack"))
        .args(["migrate", "--endpoint", endpoint, "--dir"])
        .arg(dir)
        .env("DATABASE_URL", db_url)
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn sql(endpoint: &str, conn: &str, q: &str) -> serde_json::Value {
    let r = agent()
        .post(endpoint)
        .header("Neon-Connection-String", conn)
        .header("Neon-Array-Mode", "true")
        .header("Neon-Raw-Text-Output", "true")
        .send(json!({"query": q, "params": []}).to_string())
        .unwrap();
    assert_eq!(r.status(), 200);
    serde_json::from_str(&r.into_body().read_to_string().unwrap()).unwrap()
}

#[test]
fn applies_once_then_no_op_then_refuses_an_edited_file() {
    let admin = admin_url();
    let (prefix, pg_addr) = split_url(&admin);
    let (mut child, _out, base) = start_server(&pg_addr);
    let endpoint = format!("{base}/sql");
    let db = unique_name("migrate_test");
    sql(&endpoint, &admin, &format!("CREATE DATABASE \"{db}\""));
    let db_url = format!("{prefix}/{db}");
    let project = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let files = std::fs::read_dir(&project).unwrap().count();

    let (ok, log) = migrate(&endpoint, &db_url, &project);
    assert!(ok, "{log}");
    assert_eq!(log.matches("applied").count(), files, "{log}");
    let tables = sql(&endpoint, &db_url, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'");
    assert_eq!(tables["rows"][0][0], "8", "7 tables and schema_migrations");

    let (ok, log) = migrate(&endpoint, &db_url, &project);
    assert!(ok, "{log}");
    assert!(log.contains("up to date") && !log.contains("applied"), "{log}");

    // An edited copy of an applied file is refused, and nothing else is applied with it.
    let edited = std::env::temp_dir().join(unique_name("migrations"));
    std::fs::create_dir_all(&edited).unwrap();
    for e in std::fs::read_dir(&project).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, edited.join(p.file_name().unwrap())).unwrap();
    }
    let first = edited.join("0001_users_and_api_keys.sql");
    let text = std::fs::read_to_string(&first).unwrap();
    std::fs::write(&first, text + "\n-- edited\n").unwrap();
    std::fs::write(edited.join("9999_new.sql"), "CREATE TABLE should_not_exist (x int);").unwrap();
    let (ok, log) = migrate(&endpoint, &db_url, &edited);
    assert!(!ok);
    assert!(log.contains("0001_users_and_api_keys was changed"), "{log}");
    let t = sql(&endpoint, &db_url, "SELECT to_regclass('should_not_exist') IS NULL AS absent");
    assert_eq!(t["rows"][0][0], "t");

    // A file that fails part-way leaves nothing behind: each file is one transaction.
    std::fs::write(&first, std::fs::read_to_string(project.join("0001_users_and_api_keys.sql")).unwrap()).unwrap();
    std::fs::write(edited.join("9999_new.sql"), "CREATE TABLE half_done (x int);\nCREATE TABLE broken (;").unwrap();
    let (ok, _) = migrate(&endpoint, &db_url, &edited);
    assert!(!ok);
    let t = sql(&endpoint, &db_url, "SELECT to_regclass('half_done') IS NULL AS absent");
    assert_eq!(t["rows"][0][0], "t");

    std::fs::remove_dir_all(&edited).unwrap();
    sql(&endpoint, &admin, &format!("DROP DATABASE \"{db}\" WITH (FORCE)"));
    let _ = child.kill();
}
