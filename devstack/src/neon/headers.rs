//! The `Neon-*` request headers that shape output and batch transactions.

use axum::http::{HeaderMap, HeaderValue};

use super::errors::ApiError;

pub const RAW_TEXT_OUTPUT: &str = "neon-raw-text-output";
pub const ARRAY_MODE: &str = "neon-array-mode";
pub const ISOLATION_LEVEL: &str = "neon-batch-isolation-level";
pub const READ_ONLY: &str = "neon-batch-read-only";
pub const DEFERRABLE: &str = "neon-batch-deferrable";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    ReadUncommitted,
    ReadCommitted,
    RepeatableRead,
    Serializable,
}

impl Isolation {
    fn from_header(v: &HeaderValue) -> Option<Self> {
        match v.as_bytes() {
            b"ReadUncommitted" => Some(Isolation::ReadUncommitted),
            b"ReadCommitted" => Some(Isolation::ReadCommitted),
            b"RepeatableRead" => Some(Isolation::RepeatableRead),
            b"Serializable" => Some(Isolation::Serializable),
            _ => None,
        }
    }

    pub fn header_value(self) -> &'static str {
        match self {
            Isolation::ReadUncommitted => "ReadUncommitted",
            Isolation::ReadCommitted => "ReadCommitted",
            Isolation::RepeatableRead => "RepeatableRead",
            Isolation::Serializable => "Serializable",
        }
    }

    fn sql(self) -> &'static str {
        match self {
            Isolation::ReadUncommitted => "READ UNCOMMITTED",
            Isolation::ReadCommitted => "READ COMMITTED",
            Isolation::RepeatableRead => "REPEATABLE READ",
            Isolation::Serializable => "SERIALIZABLE",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub raw_output: bool,
    pub array_mode: bool,
    pub isolation: Option<Isolation>,
    pub read_only: bool,
    pub deferrable: bool,
}

impl Options {
    /// Flags count only when exactly `true`, as in the proxy; a bad isolation level is an
    /// error even for a single query, because the proxy checks headers before the body.
    pub fn from_headers(h: &HeaderMap) -> Result<Self, ApiError> {
        let is_true = |name: &str| h.get(name).is_some_and(|v| v.as_bytes() == b"true");
        let isolation = match h.get(ISOLATION_LEVEL) {
            None => None,
            Some(v) => Some(
                Isolation::from_header(v)
                    .ok_or_else(|| ApiError::bad_request("invalid isolation level"))?,
            ),
        };
        Ok(Options {
            raw_output: is_true(RAW_TEXT_OUTPUT),
            array_mode: is_true(ARRAY_MODE),
            isolation,
            read_only: is_true(READ_ONLY),
            deferrable: is_true(DEFERRABLE),
        })
    }

    /// `START TRANSACTION [ISOLATION LEVEL x][, READ ONLY][, DEFERRABLE]`.
    pub fn start_transaction_sql(&self) -> String {
        let mut modes = Vec::new();
        if let Some(i) = self.isolation {
            modes.push(format!("ISOLATION LEVEL {}", i.sql()));
        }
        if self.read_only {
            modes.push("READ ONLY".to_owned());
        }
        if self.deferrable {
            modes.push("DEFERRABLE".to_owned());
        }
        if modes.is_empty() {
            "START TRANSACTION".to_owned()
        } else {
            format!("START TRANSACTION {}", modes.join(", "))
        }
    }

    /// The batch headers a successful batch response echoes (set flags only, as the proxy).
    pub fn echo_headers(&self) -> Vec<(&'static str, &'static str)> {
        let mut out = Vec::new();
        if self.read_only {
            out.push((READ_ONLY, "true"));
        }
        if self.deferrable {
            out.push((DEFERRABLE, "true"));
        }
        if let Some(i) = self.isolation {
            out.push((ISOLATION_LEVEL, i.header_value()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_start_transaction() {
        let mut h = HeaderMap::new();
        h.insert(ISOLATION_LEVEL, HeaderValue::from_static("RepeatableRead"));
        h.insert(READ_ONLY, HeaderValue::from_static("true"));
        h.insert(DEFERRABLE, HeaderValue::from_static("false"));
        let o = Options::from_headers(&h).unwrap();
        assert_eq!(
            o.start_transaction_sql(),
            "START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
        );
        assert!(!o.raw_output && !o.array_mode);
    }

    #[test]
    fn rejects_unknown_isolation() {
        let mut h = HeaderMap::new();
        h.insert(ISOLATION_LEVEL, HeaderValue::from_static("serializable"));
        assert_eq!(
            Options::from_headers(&h).unwrap_err().body.message,
            "invalid isolation level"
        );
    }
}
