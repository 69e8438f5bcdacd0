//! The error side of the protocol: an HTTP status plus Neon's 17-key JSON body.

use axum::http::StatusCode;
use serde::Serialize;

/// The largest request and response bodies Neon's proxy accepts.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// Neon's error body. Field order is the proxy's, and serde keeps struct order, so the JSON
/// matches byte for byte. `position`, `internalPosition` and `line` are strings on purpose:
/// the proxy forwards them as text.
#[derive(Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub message: String,
    pub code: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    pub position: Option<String>,
    pub internal_position: Option<String>,
    pub internal_query: Option<String>,
    pub severity: String,
    #[serde(rename = "where")]
    pub where_: Option<String>,
    pub table: Option<String>,
    pub column: Option<String>,
    pub schema: Option<String>,
    pub data_type: Option<String>,
    pub constraint: Option<String>,
    pub file: Option<String>,
    pub line: Option<String>,
    pub routine: Option<String>,
}

/// The fields of a PostgreSQL ErrorResponse, keyed by their protocol field codes.
#[derive(Debug, Default, Clone)]
pub struct DbError {
    pub fields: Vec<(u8, String)>,
}

impl DbError {
    pub fn get(&self, code: u8) -> Option<&str> {
        self.fields
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.as_str())
    }

    pub fn code(&self) -> &str {
        self.get(b'C').unwrap_or("")
    }

    pub fn message(&self) -> &str {
        self.get(b'M').unwrap_or("")
    }

    /// FATAL and PANIC end the session, so the connection must not be reused.
    pub fn is_fatal(&self) -> bool {
        matches!(self.get(b'V').or(self.get(b'S')), Some("FATAL" | "PANIC"))
    }

    pub fn to_body(&self) -> ErrorBody {
        let s = |c: u8| self.get(c).map(str::to_owned);
        ErrorBody {
            message: self.message().to_owned(),
            code: self.code().to_owned(),
            detail: s(b'D'),
            hint: s(b'H'),
            position: s(b'P'),
            internal_position: s(b'p'),
            internal_query: s(b'q'),
            // `S` is the (possibly localised) severity the proxy reports; `V` is its fallback.
            severity: self.get(b'S').or(self.get(b'V')).unwrap_or("").to_owned(),
            where_: s(b'W'),
            table: s(b't'),
            column: s(b'c'),
            schema: s(b's'),
            data_type: s(b'd'),
            constraint: s(b'n'),
            file: s(b'F'),
            line: s(b'L'),
            routine: s(b'R'),
        }
    }
}

/// A request failure: the status and body to answer with (boxed: it is returned a lot and
/// the body is large).
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Box<ErrorBody>,
}

impl ApiError {
    /// A failure that did not come from PostgreSQL: `code` and `severity` are empty strings.
    pub fn plain(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: Box::new(ErrorBody {
                message: message.into(),
                ..ErrorBody::default()
            }),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::plain(StatusCode::BAD_REQUEST, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::plain(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    pub fn db(status: StatusCode, e: &DbError) -> Self {
        ApiError {
            status,
            body: Box::new(e.to_body()),
        }
    }

    pub fn request_too_large() -> Self {
        Self::plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request is too large (max is {MAX_BODY_BYTES} bytes)"),
        )
    }

    pub fn response_too_large() -> Self {
        Self::plain(
            StatusCode::INSUFFICIENT_STORAGE,
            format!("response is too large (max is {MAX_BODY_BYTES} bytes)"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_17_keys_in_order() {
        let v = serde_json::to_string(&ApiError::bad_request("x").body).unwrap();
        assert_eq!(
            v,
            r#"{"message":"x","code":"","detail":null,"hint":null,"position":null,"internalPosition":null,"internalQuery":null,"severity":"","where":null,"table":null,"column":null,"schema":null,"dataType":null,"constraint":null,"file":null,"line":null,"routine":null}"#
        );
    }

    #[test]
    fn db_error_maps_fields() {
        let e = DbError {
            fields: vec![
                (b'S', "ERROR".into()),
                (b'V', "ERROR".into()),
                (b'C', "42601".into()),
                (b'M', "syntax error".into()),
                (b'P', "1".into()),
                (b'L', "1188".into()),
            ],
        };
        let b = e.to_body();
        assert_eq!(b.code, "42601");
        assert_eq!(b.position.as_deref(), Some("1"));
        assert_eq!(b.line.as_deref(), Some("1188"));
        assert_eq!(b.severity, "ERROR");
        assert!(b.detail.is_none());
        assert!(!e.is_fatal());
    }
}
