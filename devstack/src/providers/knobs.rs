//! Per-provider latency, an optional concurrency cap (ElevenLabs answers over-limit requests
//! with 429 too_many_concurrent_requests), and in-flight counters so tests can check that a
//! client never exceeded its own concurrency limit; plus the script size the OpenAI stand-in
//! must write (`/__admin/script`).
use super::Provider;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Default)]
pub struct ProviderKnobs {
    pub latency_ms: AtomicU64,
    /// 0 = no cap.
    pub max_concurrent: AtomicUsize,
    in_flight: Arc<AtomicUsize>,
    peak: AtomicUsize,
    total: AtomicU64,
}

/// The largest line count `/__admin/script` accepts.
pub const MAX_SCRIPT_LINES: usize = 2000;

#[derive(Default)]
pub struct Knobs {
    pub openai: ProviderKnobs,
    pub elevenlabs: ProviderKnobs,
    /// Lines every script (and enhanced script) must have; 0 = the realistic default.
    script_lines: AtomicUsize,
}

/// Counts a request as in flight for as long as it lives, including when the client gives up
/// and the handler is dropped.
pub struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl ProviderKnobs {
    /// Registers an arriving request; returns its guard and how many are in flight with it.
    pub fn enter(&self) -> (InFlight, usize) {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        self.total.fetch_add(1, Ordering::SeqCst);
        (InFlight(self.in_flight.clone()), now)
    }

    pub fn cap(&self) -> Option<usize> {
        Some(self.max_concurrent.load(Ordering::SeqCst)).filter(|c| *c > 0)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    fn stats(&self) -> Value {
        json!({
            "in_flight": self.in_flight(),
            "max_in_flight": self.peak.load(Ordering::SeqCst),
            "total": self.total.load(Ordering::SeqCst),
            "latency_ms": self.latency_ms.load(Ordering::SeqCst),
            "max_concurrent": self.cap(),
        })
    }

    fn reset(&self) {
        self.latency_ms.store(0, Ordering::SeqCst);
        self.max_concurrent.store(0, Ordering::SeqCst);
        self.peak.store(self.in_flight(), Ordering::SeqCst);
        self.total.store(0, Ordering::SeqCst);
    }
}

impl Knobs {
    pub fn of(&self, p: Provider) -> &ProviderKnobs {
        match p {
            Provider::Openai => &self.openai,
            Provider::Elevenlabs => &self.elevenlabs,
        }
    }

    pub fn stats(&self) -> Value {
        json!({"openai": self.openai.stats(), "elevenlabs": self.elevenlabs.stats()})
    }

    pub fn reset(&self) {
        self.openai.reset();
        self.elevenlabs.reset();
        self.script_lines.store(0, Ordering::SeqCst);
    }

    pub fn script_lines(&self) -> Option<usize> {
        Some(self.script_lines.load(Ordering::SeqCst)).filter(|n| *n > 0)
    }

    /// None returns to the default; callers check the range.
    pub fn set_script_lines(&self, lines: Option<usize>) {
        self.script_lines.store(lines.unwrap_or(0), Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_tracks_concurrent_guards() {
        let k = ProviderKnobs::default();
        let (a, n1) = k.enter();
        let (b, n2) = k.enter();
        assert_eq!((n1, n2), (1, 2));
        drop(a);
        drop(b);
        let (_c, n3) = k.enter();
        assert_eq!(n3, 1);
        assert_eq!(k.stats()["max_in_flight"], 2);
        assert_eq!(k.stats()["total"], 3);
        k.reset();
        assert_eq!(k.stats()["max_in_flight"], 1);
    }
}
