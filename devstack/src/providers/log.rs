//! The request log that tests read through `/__admin/requests`. Entries are opened on arrival
//! (status null, `at` set) and closed when answered (`status`, `answered_at`, `duration_ms`), so a
//! hung or abandoned request is visible too. Each entry says what the stand-in did to it, so tests
//! check facts rather than clocks: `latency_ms` is the injected delay it actually waited out, and
//! `hang` says how an injected hang ended ("released" when faults were cleared, "elapsed" when
//! its `hang_ms` ran out). Text-to-speech entries also say which `engine` voiced the clip
//! ("espeak-ng", or "tone" when espeak-ng is missing).
use super::Provider;
use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::Mutex;

#[derive(Clone, Serialize)]
pub struct Entry {
    pub seq: u64,
    pub provider: Provider,
    pub method: String,
    pub path: String,
    pub query: Map<String, Value>,
    /// Parsed JSON; the raw text as a string when it is not JSON; null when empty.
    pub body: Value,
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voice_id: Option<String>,
    /// Arrival, unix milliseconds.
    pub at: u64,
    /// When the answer was ready, unix milliseconds: `at + duration_ms`; null while the request
    /// is open.
    pub answered_at: Option<u64>,
    /// Arrival to answer, milliseconds (includes injected latency), on a monotonic clock.
    pub duration_ms: Option<u64>,
    /// The injected latency this request waited out, milliseconds; 0 when there was none (or
    /// while it is still waiting).
    pub latency_ms: u64,
    /// How an injected hang ended: "released" (faults cleared) or "elapsed" (`hang_ms` ran out).
    /// Absent for requests that did not hang, and while the hang lasts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hang: Option<&'static str>,
    /// What voiced a text-to-speech answer: "espeak-ng" or "tone". Absent for other requests and
    /// for ones answered before any audio was made (auth, faults, bad input).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<&'static str>,
    /// The id of the fault that answered this request, if any.
    pub fault: Option<u64>,
}

#[derive(Default)]
pub struct RequestLog {
    // Sequence numbers keep growing across clears, so `since=` cursors stay valid.
    inner: Mutex<(u64, Vec<Entry>)>,
}

pub struct NewEntry<'a> {
    pub provider: Provider,
    pub method: &'a str,
    pub path: &'a str,
    pub query: Map<String, Value>,
    pub body: &'a [u8],
    pub voice_id: Option<&'a str>,
}

impl RequestLog {
    pub fn open(&self, e: NewEntry) -> u64 {
        let body = if e.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(e.body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(e.body).into_owned()))
        };
        let mut g = self.inner.lock().unwrap();
        g.0 += 1;
        let seq = g.0;
        g.1.push(Entry {
            seq,
            provider: e.provider,
            method: e.method.to_string(),
            path: e.path.to_string(),
            query: e.query,
            body,
            status: None,
            voice_id: e.voice_id.map(str::to_string),
            at: now_ms(),
            answered_at: None,
            duration_ms: None,
            latency_ms: 0,
            hang: None,
            engine: None,
            fault: None,
        });
        seq
    }

    /// Recorded when the fault fires, so a hung request the client abandoned still shows it.
    pub fn mark_fault(&self, seq: u64, fault: u64) {
        self.update(seq, |e| e.fault = Some(fault));
    }

    /// Recorded once the delay has been waited out.
    pub fn set_latency(&self, seq: u64, ms: u64) {
        self.update(seq, |e| e.latency_ms = ms);
    }

    pub fn set_hang_end(&self, seq: u64, how: &'static str) {
        self.update(seq, |e| e.hang = Some(how));
    }

    pub fn set_engine(&self, seq: u64, engine: &'static str) {
        self.update(seq, |e| e.engine = Some(engine));
    }

    /// `answered_at` is derived from the arrival and the monotonic duration, so the two always
    /// agree even if the wall clock is stepped while the request is open.
    pub fn close(&self, seq: u64, status: u16, duration_ms: u64) {
        self.update(seq, |e| {
            e.status = Some(status);
            e.answered_at = Some(e.at + duration_ms);
            e.duration_ms = Some(duration_ms);
        });
    }

    fn update(&self, seq: u64, f: impl FnOnce(&mut Entry)) {
        let mut g = self.inner.lock().unwrap();
        if let Some(e) = g.1.iter_mut().rev().find(|e| e.seq == seq) {
            f(e);
        }
    }

    pub fn list(&self, provider: Option<Provider>, since: u64) -> Vec<Entry> {
        let g = self.inner.lock().unwrap();
        g.1.iter().filter(|e| e.seq > since && provider.is_none_or(|p| p == e.provider)).cloned().collect()
    }

    pub fn clear(&self) {
        self.inner.lock().unwrap().1.clear();
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(p: Provider, body: &'a [u8]) -> NewEntry<'a> {
        NewEntry { provider: p, method: "POST", path: "/x", query: Map::new(), body, voice_id: None }
    }

    #[test]
    fn open_close_filter_clear() {
        let log = RequestLog::default();
        let a = log.open(entry(Provider::Openai, br#"{"a":1}"#));
        let b = log.open(entry(Provider::Elevenlabs, b"not json"));
        log.set_latency(a, 40);
        log.close(a, 200, 5);
        log.mark_fault(b, 7);
        log.set_engine(b, "tone");
        let all = log.list(None, 0);
        assert_eq!(all[0].answered_at, Some(all[0].at + 5));
        assert_eq!((all[0].latency_ms, all[1].latency_ms), (40, 0));
        assert_eq!((all[0].hang, all[1].hang), (None, None));
        log.set_hang_end(b, "released");
        assert_eq!(log.list(None, a)[0].hang, Some("released"));
        assert_eq!((all[1].answered_at, all[1].engine), (None, Some("tone")));
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].body["a"], 1);
        assert_eq!(all[1].body, "not json");
        assert_eq!((all[1].status, all[1].fault), (None, Some(7)));
        assert_eq!(log.list(Some(Provider::Openai), 0).len(), 1);
        assert_eq!(log.list(None, a).len(), 1);
        log.clear();
        assert!(log.list(None, 0).is_empty());
        assert!(log.open(entry(Provider::Openai, b"")) > b);
    }
}
