//! Reads the `Neon-Connection-String` (and `Authorization`) headers the way Neon's proxy does.
//!
//! One deliberate difference: the proxy takes the endpoint from the host and rejects IP hosts.
//! Here the host is ignored (every request goes to the configured PostgreSQL), so any host,
//! including `localhost` and IPs, is accepted.

use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use percent_encoding::percent_decode_str;
use url::Url;

use super::errors::ApiError;

pub const CONN_STRING: &str = "neon-connection-string";

/// libpq client-side settings that PostgreSQL would reject as startup parameters.
const CLIENT_ONLY_PARAMS: &[&str] = &[
    "sslmode",
    "sslcert",
    "sslkey",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslpassword",
    "sslsni",
    "sslcompression",
    "sslnegotiation",
    "sslcertmode",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "channel_binding",
    "connect_timeout",
    "target_session_attrs",
    "load_balance_hosts",
    "gssencmode",
    "gsslib",
    "gssdelegation",
    "krbsrvname",
    "requirepeer",
    "require_auth",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "passfile",
    "service",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "fallback_application_name",
    "pgbouncer",
    "pool_timeout",
    "connection_limit",
];

/// Who to log in as and with which startup parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConnInfo {
    pub user: String,
    /// `None` only with an `Authorization: Bearer` header (there is no JWT check locally).
    pub password: Option<Vec<u8>>,
    /// Startup parameters other than `user`, `database` first, the rest sorted.
    pub params: Vec<(String, String)>,
}

pub fn from_headers(headers: &HeaderMap) -> Result<ConnInfo, ApiError> {
    let raw = headers
        .get(CONN_STRING)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::bad_request(format!("invalid header: {CONN_STRING}")))?;
    let bearer = match headers.get(AUTHORIZATION) {
        None => None,
        Some(v) => {
            let v = v
                .to_str()
                .map_err(|_| ApiError::bad_request(format!("invalid header: {AUTHORIZATION}")))?;
            Some(v.strip_prefix("Bearer ").ok_or_else(|| {
                ApiError::bad_request(
                    "missing authentication credentials: required authorization bearer token in JWT format",
                )
            })?)
        }
    };
    parse(raw, bearer.is_some())
}

fn parse(raw: &str, has_bearer: bool) -> Result<ConnInfo, ApiError> {
    let url = Url::parse(raw)
        .map_err(|e| ApiError::bad_request(format!("invalid connection string: {e}")))?;
    if url.scheme() != "postgres" && url.scheme() != "postgresql" {
        return Err(ApiError::bad_request("incorrect scheme"));
    }
    let first = url
        .path_segments()
        .and_then(|mut s| s.next())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("missing database name"))?;
    let database = decode(first).ok_or_else(|| ApiError::bad_request("invalid database name"))?;
    let user = decode(url.username()).ok_or_else(|| ApiError::bad_request("invalid username"))?;
    if user.is_empty() {
        return Err(ApiError::bad_request("missing username"));
    }
    let password = url
        .password()
        .map(|p| percent_decode_str(p).collect::<Vec<u8>>());
    if password.is_none() && !has_bearer {
        return Err(ApiError::bad_request(
            "missing authentication credentials: required password",
        ));
    }

    let mut extra: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "database" && !CLIENT_ONLY_PARAMS.contains(&k.as_ref()))
        .map(|(k, v)| {
            let v = if k == "options" {
                strip_neon_options(&v)
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .filter(|(k, v)| !(k == "options" && v.is_empty()))
        .collect();
    extra.sort();
    extra.dedup_by(|a, b| a.0 == b.0);
    let mut params = vec![("database".to_owned(), database)];
    params.extend(extra);
    Ok(ConnInfo {
        user,
        password,
        params,
    })
}

fn decode(s: &str) -> Option<String> {
    percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// Neon's proxy consumes `endpoint=`/`project=` from `options`; PostgreSQL would reject them.
fn strip_neon_options(options: &str) -> String {
    options
        .split_whitespace()
        .filter(|o| !o.starts_with("endpoint=") && !o.starts_with("project="))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(raw: &str) -> String {
        parse(raw, false).unwrap_err().body.message
    }

    #[test]
    fn parses_a_driver_connection_string() {
        let c = parse(
            "postgresql://app%40x:p%40ss@ep-a-1.aws.neon.tech/my%20db?sslmode=require&application_name=pkg%3Anpm",
            false,
        )
        .unwrap();
        assert_eq!(c.user, "app@x");
        assert_eq!(c.password.as_deref(), Some(&b"p@ss"[..]));
        assert_eq!(
            c.params,
            vec![
                ("database".to_owned(), "my db".to_owned()),
                ("application_name".to_owned(), "pkg:npm".to_owned())
            ]
        );
    }

    #[test]
    fn accepts_ip_hosts_and_ports() {
        assert!(parse("postgres://u:p@127.0.0.1:5432/db", false).is_ok());
    }

    #[test]
    fn rejects_like_the_proxy() {
        assert_eq!(msg("mysql://u:p@h/db"), "incorrect scheme");
        assert_eq!(msg("postgresql://u:p@h"), "missing database name");
        assert_eq!(msg("postgresql://:p@h/db"), "missing username");
        assert_eq!(
            msg("postgresql://u@h/db"),
            "missing authentication credentials: required password"
        );
        assert!(msg("not a url").starts_with("invalid connection string: "));
        assert!(parse("postgresql://u@h/db", true)
            .unwrap()
            .password
            .is_none());
    }

    #[test]
    fn strips_neon_only_options() {
        assert_eq!(
            strip_neon_options("endpoint=ep-1 -c search_path=x"),
            "-c search_path=x"
        );
    }
}
