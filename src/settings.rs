//! Configuration read from the Worker's environment: `[vars]` in wrangler.toml and secrets
//! (`.dev.vars` locally, `wrangler secret put` in production). Secret values stay inside this
//! struct and are never logged or returned.

use worker::Env;

pub struct Settings {
    pub database_url: String,
    /// Where Neon's SQL-over-HTTP endpoint is; empty means "derive it from DATABASE_URL".
    pub neon_http_endpoint: Option<String>,
    pub admin_token: String,
}

impl Settings {
    pub fn from_env(env: &Env) -> Result<Self, String> {
        Ok(Settings {
            database_url: secret(env, "DATABASE_URL")?,
            neon_http_endpoint: var(env, "NEON_HTTP_ENDPOINT"),
            admin_token: secret(env, "ADMIN_TOKEN")?,
        })
    }
}

fn secret(env: &Env, name: &str) -> Result<String, String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("secret {name} is not set (see .dev.vars.example)"))
}

pub fn var(env: &Env, name: &str) -> Option<String> {
    env.var(name).ok().map(|v| v.to_string()).filter(|s| !s.trim().is_empty())
}
