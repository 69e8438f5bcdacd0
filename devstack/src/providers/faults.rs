//! Injected faults: the next matching requests of a provider get an error status, a hang, or a
//! broken body instead of the real answer, so retry and resume paths can be exercised.
use super::Provider;
use serde_json::{json, Value};
use std::sync::Mutex;
use tokio::sync::Notify;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// Answer with `status`, `body` and optionally Retry-After.
    Status,
    /// Hold the request unanswered for `hang_ms` (or until faults are cleared), then 504.
    Hang,
    /// 200 with a body that is not JSON (OpenAI) / not MP3 (ElevenLabs).
    Malformed,
    /// OpenAI only: a well-formed completion whose message content is truncated JSON.
    MalformedContent,
    /// 200 with an empty completion content (OpenAI) / an empty audio body (ElevenLabs).
    Empty,
}

impl Kind {
    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "status" => Kind::Status,
            "hang" => Kind::Hang,
            "malformed" => Kind::Malformed,
            "malformed_content" => Kind::MalformedContent,
            "empty" => Kind::Empty,
            _ => return None,
        })
    }
    fn name(self) -> &'static str {
        match self {
            Kind::Status => "status",
            Kind::Hang => "hang",
            Kind::Malformed => "malformed",
            Kind::MalformedContent => "malformed_content",
            Kind::Empty => "empty",
        }
    }
}

const DEFAULT_HANG_MS: u64 = 600_000;

#[derive(Clone)]
pub struct Fault {
    pub id: u64,
    pub provider: Provider,
    pub kind: Kind,
    pub status: u16,
    pub retry_after: Option<u64>,
    pub body: Option<Value>,
    pub hang_ms: u64,
    pub matcher: Option<String>,
    skip: u64,
    skip_left: u64,
    times: Option<u64>,
    remaining: Option<u64>,
    fired: u64,
}

#[derive(Default)]
pub struct FaultBook {
    inner: Mutex<(u64, Vec<Fault>)>,
    /// Wakes hung requests when faults are cleared, so a test can end a hang early.
    pub release: Notify,
}

impl FaultBook {
    pub fn add(&self, spec: &Value) -> Result<u64, String> {
        let provider: Provider = serde_json::from_value(spec.get("provider").cloned().unwrap_or(Value::Null))
            .map_err(|_| "'provider' must be \"openai\" or \"elevenlabs\"".to_string())?;
        let kind_name = spec.get("kind").and_then(Value::as_str).unwrap_or("status");
        let kind = Kind::parse(kind_name)
            .ok_or_else(|| format!("unknown kind '{kind_name}' (status, hang, malformed, malformed_content, empty)"))?;
        if kind == Kind::MalformedContent && provider != Provider::Openai {
            return Err("kind 'malformed_content' applies to provider openai only".into());
        }
        let status = match spec.get("status") {
            None | Some(Value::Null) => 500,
            Some(v) => {
                v.as_u64().filter(|s| (100..=599).contains(s)).ok_or("'status' must be an HTTP status 100..=599")?
                    as u16
            }
        };
        let uint = |k: &str| -> Result<Option<u64>, String> {
            match spec.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_u64().map(Some).ok_or_else(|| format!("'{k}' must be a non-negative integer")),
            }
        };
        // Absent means once; an explicit null means forever.
        let times = match spec.get("times") {
            None => Some(1),
            Some(Value::Null) => None,
            Some(_) => uint("times")?,
        };
        let matcher = match spec.get("match") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err("'match' must be a string".into()),
        };
        let skip = uint("skip")?.unwrap_or(0);
        let mut g = self.inner.lock().unwrap();
        g.0 += 1;
        let id = g.0;
        g.1.push(Fault {
            id,
            provider,
            kind,
            status,
            retry_after: uint("retry_after")?,
            body: spec.get("body").filter(|b| !b.is_null()).cloned(),
            hang_ms: uint("hang_ms")?.unwrap_or(DEFAULT_HANG_MS),
            matcher,
            skip,
            skip_left: skip,
            times,
            remaining: times,
            fired: 0,
        });
        Ok(id)
    }

    /// The fault this request runs into, if any. Faults are looked at in insertion order; one
    /// still skipping counts the request and lets it on to the next fault, the first armed one
    /// fires.
    pub fn take(&self, provider: Provider, body: &[u8]) -> Option<Fault> {
        let text = String::from_utf8_lossy(body);
        let mut g = self.inner.lock().unwrap();
        for f in g.1.iter_mut() {
            if f.provider != provider
                || f.remaining == Some(0)
                || f.matcher.as_ref().is_some_and(|m| !text.contains(m.as_str()))
            {
                continue;
            }
            if f.skip_left > 0 {
                f.skip_left -= 1;
                continue;
            }
            f.fired += 1;
            if let Some(r) = f.remaining.as_mut() {
                *r -= 1;
            }
            return Some(f.clone());
        }
        None
    }

    pub fn list(&self) -> Value {
        let g = self.inner.lock().unwrap();
        Value::Array(
            g.1.iter()
                .map(|f| {
                    json!({
                        "id": f.id, "provider": f.provider, "kind": f.kind.name(), "status": (f.kind == Kind::Status).then_some(f.status),
                        "retry_after": f.retry_after, "body": f.body, "hang_ms": f.hang_ms, "match": f.matcher,
                        "skip": f.skip, "skip_left": f.skip_left, "times": f.times, "remaining": f.remaining,
                        "fired": f.fired,
                    })
                })
                .collect(),
        )
    }

    pub fn remove(&self, id: u64) -> bool {
        let mut g = self.inner.lock().unwrap();
        let before = g.1.len();
        g.1.retain(|f| f.id != id);
        before != g.1.len()
    }

    pub fn clear(&self) {
        self.inner.lock().unwrap().1.clear();
        self.release.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_times_match_and_order() {
        let book = FaultBook::default();
        let a = book.add(&json!({"provider":"openai","status":429,"skip":1,"times":2})).unwrap();
        let b = book.add(&json!({"provider":"openai","status":500,"match":"boom","times":null})).unwrap();
        assert!(book.take(Provider::Elevenlabs, b"").is_none());
        assert!(book.take(Provider::Openai, b"x").is_none()); // a skips
        assert_eq!(book.take(Provider::Openai, b"x").unwrap().id, a);
        assert_eq!(book.take(Provider::Openai, b"boom").unwrap().id, a);
        assert!(book.take(Provider::Openai, b"x").is_none()); // a spent, b does not match
        for _ in 0..3 {
            assert_eq!(book.take(Provider::Openai, b"big boom").unwrap().id, b);
        }
        let listed = book.list();
        assert_eq!(listed[0]["remaining"], 0);
        assert_eq!(listed[1]["remaining"], Value::Null);
        assert_eq!(listed[1]["fired"], 3);
        assert!(book.remove(b) && !book.remove(b));
    }

    #[test]
    fn bad_specs_are_rejected() {
        let book = FaultBook::default();
        assert!(book.add(&json!({"provider":"nope"})).is_err());
        assert!(book.add(&json!({"provider":"openai","kind":"explode"})).is_err());
        assert!(book.add(&json!({"provider":"openai","status":99})).is_err());
        assert!(book.add(&json!({"provider":"elevenlabs","kind":"malformed_content"})).is_err());
    }
}
