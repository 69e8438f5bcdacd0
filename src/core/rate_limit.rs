//! Rate limit classes: which limit a route counts against, what each limit is, and the
//! isolate-local memory of client IPs that failed authentication too often.
//!
//! The counting itself is the platform's Rate Limiting binding (`[[ratelimits]]` in
//! wrangler.toml). Its counts are kept per Cloudflare location and are approximate, and it
//! answers only "allowed or not". That is enough here: these limits keep one caller from
//! flooding the service; the exact guard on spend is the user's budget, checked against the
//! database before any paid call.

use std::collections::HashMap;

/// One limiter per class, each its own binding (and `namespace_id`), so exhausting one leaves
/// the others untouched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// `POST .../generate` and `POST .../audio` without `"dry_run": true`: each starts paid work.
    JobStart,
    /// Every other authenticated request that changes something (dry runs included).
    Write,
    /// Authenticated GETs.
    Read,
    /// Answers 401, counted per client IP.
    FailedAuth,
    /// `GET /health`, per client IP.
    Health,
}

impl Class {
    pub const ALL: [Class; 5] = [Class::JobStart, Class::Write, Class::Read, Class::FailedAuth, Class::Health];

    /// The binding's name in wrangler.toml.
    pub fn binding(self) -> &'static str {
        match self {
            Class::JobStart => "RATE_LIMIT_JOB_STARTS",
            Class::Write => "RATE_LIMIT_WRITES",
            Class::Read => "RATE_LIMIT_READS",
            Class::FailedAuth => "RATE_LIMIT_FAILED_AUTH",
            Class::Health => "RATE_LIMIT_HEALTH",
        }
    }

    /// The `[vars]` setting that states the binding's limit: the Worker cannot read a
    /// binding's configuration, and the answers must say what the limit is. A native test
    /// checks each against its binding in wrangler.toml, so the two cannot drift.
    pub fn setting(self) -> &'static str {
        match self {
            Class::JobStart => "RATE_LIMIT_JOB_STARTS_LIMIT",
            Class::Write => "RATE_LIMIT_WRITES_LIMIT",
            Class::Read => "RATE_LIMIT_READS_LIMIT",
            Class::FailedAuth => "RATE_LIMIT_FAILED_AUTH_LIMIT",
            Class::Health => "RATE_LIMIT_HEALTH_LIMIT",
        }
    }

    /// Used when the setting is missing or unreadable; the same as wrangler.toml's.
    pub fn default_limit(self) -> Limit {
        let requests = match self {
            Class::JobStart => 10,
            Class::Write => 60,
            Class::Read => 600,
            Class::FailedAuth => 30,
            Class::Health => 60,
        };
        Limit { requests, period_secs: 60 }
    }

    /// The class of a job start, which depends on its body: a dry run starts nothing.
    pub fn job_start(dry_run: bool) -> Class {
        if dry_run { Class::Write } else { Class::JobStart }
    }

    pub fn name(self) -> &'static str {
        match self {
            Class::JobStart => "job_starts",
            Class::Write => "writes",
            Class::Read => "reads",
            Class::FailedAuth => "failed_auth",
            Class::Health => "health",
        }
    }
}

/// What `handle` does about rate limits for a route, decided from method and path alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteLimit {
    /// Counted per user (API key) against this class before the route runs.
    PerUser(Class),
    /// A job start: the route counts it once it has read the body (`Class::job_start`).
    JobStart,
    /// `/health`: per client IP.
    Health,
    /// Signed links (`/l/...`): no user, so the reads limit is counted per client IP. Not per
    /// story: anyone could use up a story's count with forged links.
    SignedLink,
    /// Admin routes (one trusted token) and unknown paths: no per-caller count; their 401s
    /// still count against `FailedAuth`.
    None,
}

pub fn route_limit(method: &str, segments: &[&str]) -> RouteLimit {
    match (segments, method) {
        (["health"], "GET") => RouteLimit::Health,
        ([crate::core::links::PREFIX, ..], "GET" | "HEAD") => RouteLimit::SignedLink,
        // The feed is a signed link inside the API's paths (`core::links`).
        (["api", "v1", "stories", _, "feed.xml"], "GET" | "HEAD") => RouteLimit::SignedLink,
        (["api", "v1", "admin", ..], _) => RouteLimit::None,
        // Creating users needs the admin token.
        (["api", "v1", "users"], _) => RouteLimit::None,
        (["api", "v1", "stories", _, "generate" | "audio"], "POST") => RouteLimit::JobStart,
        (["api", "v1", ..], "GET" | "HEAD") => RouteLimit::PerUser(Class::Read),
        (["api", "v1", ..], "POST" | "PUT" | "PATCH" | "DELETE") => RouteLimit::PerUser(Class::Write),
        _ => RouteLimit::None,
    }
}

/// A limit: `requests` per `period_secs` (the binding accepts 10 or 60).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub requests: u32,
    pub period_secs: u32,
}

impl Limit {
    /// The setting's form, which is also the `X-RateLimit-Limit` value: `10;w=60`.
    pub fn parse(s: &str) -> Result<Limit, String> {
        let (n, w) = s.trim().split_once(";w=").ok_or_else(|| format!("{s:?} is not of the form \"10;w=60\""))?;
        let requests: u32 = n.trim().parse().map_err(|_| format!("{s:?}: the limit must be a whole number"))?;
        let period_secs: u32 = w.trim().parse().map_err(|_| format!("{s:?}: the window must be 10 or 60"))?;
        if requests == 0 {
            return Err(format!("{s:?}: the limit must be at least 1"));
        }
        if period_secs != 10 && period_secs != 60 {
            return Err(format!("{s:?}: the window must be 10 or 60 seconds (what the Rate Limiting binding supports)"));
        }
        Ok(Limit { requests, period_secs })
    }

    pub fn header_value(&self) -> String {
        format!("{};w={}", self.requests, self.period_secs)
    }

    /// The binding does not say when its window rolls over; a full window is the longest a
    /// caller can have to wait.
    pub fn retry_after_secs(&self) -> u32 {
        self.period_secs
    }
}

/// Client IPs that went over the failed-authentication limit, until their Retry-After runs
/// out. Held in isolate memory, so a refused IP costs no Neon query and no limiter call; each
/// isolate learns on its own (from its own 401s), which is enough to stop a guesser.
#[derive(Debug, Default)]
pub struct Blocked {
    until_ms: HashMap<String, u64>,
}

/// Above this many remembered IPs the expired ones are dropped, and if none were, the
/// soonest to expire, so a spray of addresses cannot grow the isolate's memory without bound.
const MAX_BLOCKED: usize = 10_000;

impl Blocked {
    /// Seconds left on the IP's block, if it has one.
    pub fn remaining_secs(&self, ip: &str, now_ms: u64) -> Option<u32> {
        let until = *self.until_ms.get(ip)?;
        (until > now_ms).then(|| (until - now_ms).div_ceil(1000) as u32)
    }

    pub fn block(&mut self, ip: &str, now_ms: u64, secs: u32) {
        if self.until_ms.len() >= MAX_BLOCKED && !self.until_ms.contains_key(ip) {
            self.until_ms.retain(|_, until| *until > now_ms);
            if self.until_ms.len() >= MAX_BLOCKED {
                if let Some(soonest) = self.until_ms.iter().min_by_key(|(_, u)| **u).map(|(k, _)| k.clone()) {
                    self.until_ms.remove(&soonest);
                }
            }
        }
        self.until_ms.insert(ip.to_string(), now_ms + u64::from(secs) * 1000);
    }

    pub fn len(&self) -> usize {
        self.until_ms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.until_ms.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(path: &str) -> Vec<&str> {
        path.trim_matches('/').split('/').collect()
    }

    #[test]
    fn routes_fall_into_their_classes() {
        let id = "00000000-0000-4000-8000-000000000000";
        let cases = [
            ("GET", "/health".to_string(), RouteLimit::Health),
            ("GET", "/api/v1/me".to_string(), RouteLimit::PerUser(Class::Read)),
            ("GET", format!("/api/v1/stories/{id}/chapters/2/audio"), RouteLimit::PerUser(Class::Read)),
            ("GET", format!("/api/v1/tasks/{id}/events"), RouteLimit::PerUser(Class::Read)),
            ("POST", "/api/v1/stories".to_string(), RouteLimit::PerUser(Class::Write)),
            ("PATCH", format!("/api/v1/stories/{id}"), RouteLimit::PerUser(Class::Write)),
            ("DELETE", format!("/api/v1/stories/{id}"), RouteLimit::PerUser(Class::Write)),
            ("PUT", format!("/api/v1/stories/{id}/voices"), RouteLimit::PerUser(Class::Write)),
            ("POST", format!("/api/v1/tasks/{id}/cancel"), RouteLimit::PerUser(Class::Write)),
            ("POST", format!("/api/v1/stories/{id}/generate"), RouteLimit::JobStart),
            ("POST", format!("/api/v1/stories/{id}/audio"), RouteLimit::JobStart),
            ("GET", format!("/api/v1/stories/{id}/audio"), RouteLimit::PerUser(Class::Read)),
            ("POST", "/api/v1/users".to_string(), RouteLimit::None),
            ("POST", "/api/v1/admin/probes".to_string(), RouteLimit::None),
            ("GET", format!("/api/v1/admin/tasks/{id}/progress"), RouteLimit::None),
            ("GET", "/nope".to_string(), RouteLimit::None),
            ("GET", "/api/v1/voices".to_string(), RouteLimit::PerUser(Class::Read)),
            ("POST", format!("/api/v1/stories/{id}/links"), RouteLimit::PerUser(Class::Write)),
            ("POST", format!("/api/v1/stories/{id}/links/revoke"), RouteLimit::PerUser(Class::Write)),
            ("GET", format!("/l/{id}/chapters/1.mp3"), RouteLimit::SignedLink),
            ("HEAD", format!("/l/{id}/book.mp3"), RouteLimit::SignedLink),
            ("GET", format!("/api/v1/stories/{id}/feed.xml"), RouteLimit::SignedLink),
            ("GET", format!("/l/{id}/cover"), RouteLimit::SignedLink),
            ("PUT", format!("/api/v1/stories/{id}/cover"), RouteLimit::PerUser(Class::Write)),
            ("POST", format!("/l/{id}/feed.xml"), RouteLimit::None),
            ("DELETE", "/health".to_string(), RouteLimit::None),
        ];
        for (method, path, want) in cases {
            assert_eq!(route_limit(method, &segs(&path)), want, "{method} {path}");
        }
    }

    #[test]
    fn a_dry_run_is_a_write_not_a_job_start() {
        assert_eq!(Class::job_start(false), Class::JobStart);
        assert_eq!(Class::job_start(true), Class::Write);
    }

    #[test]
    fn limits_parse_and_format_as_the_header_says() {
        let l = Limit::parse("10;w=60").unwrap();
        assert_eq!(l, Limit { requests: 10, period_secs: 60 });
        assert_eq!(l.header_value(), "10;w=60");
        assert_eq!(l.retry_after_secs(), 60);
        assert_eq!(Limit::parse(" 3;w=10 ").unwrap().header_value(), "3;w=10");
        for bad in ["10", "10;w=30", "0;w=60", "x;w=60", "10;w=", "-1;w=10"] {
            assert!(Limit::parse(bad).is_err(), "{bad}");
        }
        for c in Class::ALL {
            assert_eq!(Limit::parse(&c.default_limit().header_value()).unwrap(), c.default_limit());
        }
    }

    #[test]
    fn a_blocked_ip_stays_blocked_until_its_retry_after() {
        let mut b = Blocked::default();
        assert_eq!(b.remaining_secs("1.2.3.4", 1_000), None);
        b.block("1.2.3.4", 1_000, 60);
        assert_eq!(b.remaining_secs("1.2.3.4", 1_000), Some(60));
        assert_eq!(b.remaining_secs("1.2.3.4", 30_500), Some(31));
        assert_eq!(b.remaining_secs("1.2.3.4", 61_000), None);
        assert_eq!(b.remaining_secs("5.6.7.8", 30_000), None, "other IPs are not affected");
    }

    #[test]
    fn the_memory_of_blocked_ips_is_bounded() {
        let mut b = Blocked::default();
        for i in 0..MAX_BLOCKED {
            b.block(&format!("10.0.{}.{}", i / 256, i % 256), 0, 60);
        }
        assert_eq!(b.len(), MAX_BLOCKED);
        // All still blocked: the soonest to expire makes room.
        b.block("192.0.2.1", 1, 60);
        assert_eq!(b.len(), MAX_BLOCKED);
        assert!(b.remaining_secs("192.0.2.1", 2).is_some());
        // Once they have expired, adding one clears them.
        b.block("192.0.2.2", 120_000, 60);
        assert_eq!(b.len(), 1, "only the live one remains");
    }

    /// The Worker cannot read a binding's limit, so each class's setting states it; this
    /// checks that wrangler.toml's settings and bindings agree, at the top level and in every
    /// `[env.*]` (bindings and vars are not inherited).
    #[test]
    fn wrangler_toml_settings_match_their_bindings() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/wrangler.toml")).unwrap();
        let doc: toml::Table = text.parse().unwrap();
        let mut scopes = vec![("top level".to_string(), &doc)];
        for (name, env) in doc.get("env").and_then(|e| e.as_table()).into_iter().flatten() {
            scopes.push((format!("[env.{name}]"), env.as_table().unwrap()));
        }
        assert!(scopes.len() >= 2, "expected [env.production]");
        let mut namespaces = Vec::new();
        for (scope, t) in scopes {
            let vars = t.get("vars").and_then(|v| v.as_table()).unwrap_or_else(|| panic!("{scope}: no vars"));
            let limits = t.get("ratelimits").and_then(|v| v.as_array()).unwrap_or_else(|| panic!("{scope}: no [[ratelimits]]"));
            assert_eq!(limits.len(), Class::ALL.len(), "{scope}: one binding per class");
            for c in Class::ALL {
                let binding = limits
                    .iter()
                    .find(|b| b.get("name").and_then(|n| n.as_str()) == Some(c.binding()))
                    .unwrap_or_else(|| panic!("{scope}: no [[ratelimits]] named {}", c.binding()));
                let simple = binding.get("simple").unwrap_or_else(|| panic!("{scope}: {} has no simple", c.binding()));
                let get = |k: &str| simple.get(k).and_then(|v| v.as_integer()).unwrap_or_else(|| panic!("{scope}: {} simple.{k}", c.binding())) as u32;
                let bound = Limit { requests: get("limit"), period_secs: get("period") };
                let setting = vars.get(c.setting()).and_then(|v| v.as_str()).unwrap_or_else(|| panic!("{scope}: no var {}", c.setting()));
                let stated = Limit::parse(setting).unwrap_or_else(|e| panic!("{scope}: {}: {e}", c.setting()));
                assert_eq!(stated, bound, "{scope}: {} says {setting} but binding {} is {bound:?}", c.setting(), c.binding());
                let ns = binding.get("namespace_id").and_then(|v| v.as_str()).unwrap_or_else(|| panic!("{scope}: {} namespace_id", c.binding()));
                assert!(ns.parse::<u64>().is_ok(), "{scope}: namespace_id must be a positive integer as a string: {ns}");
                namespaces.push((scope.clone(), ns.to_string()));
            }
            if scope == "top level" {
                for c in Class::ALL {
                    assert_eq!(
                        Limit::parse(vars[c.setting()].as_str().unwrap()).unwrap(),
                        c.default_limit(),
                        "the code's default for {} should match wrangler.toml's",
                        c.setting()
                    );
                }
            }
        }
        // Within one scope, each class counts on its own.
        for (scope, ns) in &namespaces {
            assert_eq!(namespaces.iter().filter(|(s, n)| s == scope && n == ns).count(), 1, "{scope}: namespace_id {ns} is used twice");
        }
    }
}
