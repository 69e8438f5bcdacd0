//! Applies `migrations/NNNN_name.sql` over Neon's SQL-over-HTTP protocol, so one runner serves
//! the local stand-in and a real Neon endpoint alike. Neon runs one statement per query, so a
//! file is split into statements and sent as one batch (one transaction) together with its row
//! in `schema_migrations`; a file is applied completely or not at all. Applied files are
//! recorded with a SHA-256 checksum: running again is a no-op, and an edited file is refused.

use sha2::{Digest, Sha256};
use std::path::Path;
use talecast::core::neon::{self, NeonError, Query, QueryResult};

struct Endpoint {
    url: String,
    connection_string: String,
}

impl Endpoint {
    fn post(&self, r: neon::HttpRequest) -> Result<(u16, String), String> {
        let mut req = ureq::post(&self.url);
        for (k, v) in &r.headers {
            req = req.header(*k, v);
        }
        let resp = req
            .config()
            .http_status_as_error(false)
            .build()
            .send(r.body.as_bytes())
            .map_err(|e| format!("cannot reach {}: {e}", self.url))?;
        let status = resp.status().as_u16();
        let body = resp.into_body().read_to_string().map_err(|e| e.to_string())?;
        Ok((status, body))
    }

    fn query(&self, q: &Query) -> Result<QueryResult, String> {
        let (s, b) = self.post(neon::single_request(&self.connection_string, q))?;
        neon::decode_single(s, &b).map_err(describe)
    }

    fn batch(&self, qs: &[Query]) -> Result<(), String> {
        let (s, b) = self.post(neon::batch_request(&self.connection_string, qs, None))?;
        neon::decode_batch(s, &b).map(|_| ()).map_err(describe)
    }
}

fn describe(e: NeonError) -> String {
    match e {
        NeonError::Http { status, body } => format!("HTTP {status}: {body}"),
        other => other.to_string(),
    }
}

pub struct Migration {
    pub version: String,
    pub sql: String,
    pub checksum: String,
}

pub fn load(dir: &Path) -> Result<Vec<Migration>, String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let sql = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            let version = p.file_stem().unwrap().to_string_lossy().into_owned();
            let checksum = Sha256::digest(sql.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
            Ok(Migration { version, sql, checksum })
        })
        .collect()
}

/// Returns the versions it applied (empty when the database was up to date).
pub fn run(database_url: &str, endpoint: Option<&str>, dir: &Path) -> Result<Vec<String>, String> {
    let ep = Endpoint {
        url: neon::endpoint_for(database_url, endpoint).map_err(|e| e.to_string())?,
        connection_string: neon::parse_connection_string(database_url).map_err(|e| e.to_string())?.to_string(),
    };
    ep.query(&Query::new(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
    ))?;
    let done = ep.query(&Query::new("SELECT version, checksum FROM schema_migrations"))?;
    let applied: Vec<(String, String)> = done
        .rows()
        .map(|r| Ok((r.get("version")?, r.get("checksum")?)))
        .collect::<Result<_, NeonError>>()
        .map_err(|e| e.to_string())?;
    let mut newly = Vec::new();
    for m in load(dir)? {
        match applied.iter().find(|(v, _)| *v == m.version) {
            Some((_, sum)) if *sum == m.checksum => continue,
            Some(_) => return Err(format!("migration {} was changed after it was applied; add a new file instead", m.version)),
            None => {}
        }
        let mut batch: Vec<Query> = split_statements(&m.sql).into_iter().map(Query::new).collect();
        batch.push(
            Query::new("INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)").bind(&m.version).bind(&m.checksum),
        );
        ep.batch(&batch).map_err(|e| format!("migration {}: {e}", m.version))?;
        eprintln!("migrate: applied {}", m.version);
        newly.push(m.version);
    }
    if newly.is_empty() {
        eprintln!("migrate: up to date");
    }
    Ok(newly)
}

/// Splits SQL into statements at `;` outside quotes, comments and dollar-quoted bodies.
/// Hand-written because a full SQL parser (sqlparser) is far more than this needs and does not
/// keep statements byte-for-byte.
pub fn split_statements(sql: &str) -> Vec<String> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'-' if b.get(i + 1) == Some(&b'-') => i = sql[i..].find('\n').map_or(b.len(), |n| i + n),
            b'/' if b.get(i + 1) == Some(&b'*') => i = sql[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2),
            q @ (b'\'' | b'"') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    i += 1;
                }
                i += 1;
            }
            b'$' => {
                // A dollar-quote tag is `$tag$` with an identifier (possibly empty) between.
                let tag_end = sql[i + 1..].find('$').map(|n| i + 1 + n);
                match tag_end {
                    Some(e) if sql[i + 1..e].chars().all(|c| c.is_alphanumeric() || c == '_') => {
                        let tag = &sql[i..=e];
                        i = sql[e + 1..].find(tag).map_or(b.len(), |n| e + 1 + n + tag.len());
                    }
                    _ => i += 1,
                }
            }
            b';' => {
                push_statement(&mut out, &sql[start..i]);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    push_statement(&mut out, &sql[start..]);
    out
}

fn push_statement(out: &mut Vec<String>, s: &str) {
    let only_comments = s.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with("--")
    });
    if !only_comments {
        out.push(s.trim().to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_semicolons_outside_quotes_comments_and_dollar_bodies() {
        let sql = "-- a; comment\nCREATE TABLE a (x text DEFAULT ';');\n/* b; */ INSERT INTO a VALUES ('it''s;');\n\
                   CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\n-- trailing;\n";
        let s = split_statements(sql);
        assert_eq!(s.len(), 3, "{s:#?}");
        assert!(s[0].ends_with("DEFAULT ';')"));
        assert!(s[1].contains("'it''s;'"));
        assert!(s[2].contains("SELECT 1; $body$ LANGUAGE sql"));
    }

    #[test]
    fn project_migrations_split_into_statements() {
        let ms = load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations"))).unwrap();
        assert!(ms.len() >= 4);
        for m in &ms {
            let stmts = split_statements(&m.sql);
            assert!(!stmts.is_empty(), "{}", m.version);
            // The project's migrations start each statement on a line of its own.
            let starts = m.sql.lines().filter(|l| l.starts_with("CREATE ") || l.starts_with("ALTER ")).count();
            assert_eq!(stmts.len(), starts, "{}: one statement per CREATE/ALTER: {stmts:#?}", m.version);
        }
    }
}
