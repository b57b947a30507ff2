//! Values as the stores pass them to their databases, and conversions between them and the
//! library's records.

use scribe_plugin_api::store_0_3::library::{
    SessionKind, SessionStatus, StoreError,
};

/// A parameter or column value: the five types both SQLite and the PostgreSQL capability
/// speak (each plugin converts to its own interface's value).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// One result row, with typed accessors that turn a schema mismatch into an error value.
pub struct Row(pub Vec<Value>);

fn mismatch(index: usize, want: &str) -> StoreError {
    StoreError::Storage(format!("column {index}: expected {want}"))
}

impl Row {
    fn get(&self, index: usize) -> Result<&Value, StoreError> {
        self.0.get(index).ok_or_else(|| mismatch(index, "a value"))
    }

    pub fn text(&self, index: usize) -> Result<String, StoreError> {
        match self.get(index)? {
            Value::Text(s) => Ok(s.clone()),
            _ => Err(mismatch(index, "text")),
        }
    }

    pub fn opt_text(&self, index: usize) -> Result<Option<String>, StoreError> {
        match self.get(index)? {
            Value::Null => Ok(None),
            _ => self.text(index).map(Some),
        }
    }

    pub fn int(&self, index: usize) -> Result<i64, StoreError> {
        match self.get(index)? {
            Value::Integer(n) => Ok(*n),
            _ => Err(mismatch(index, "integer")),
        }
    }

    pub fn u64(&self, index: usize) -> Result<u64, StoreError> {
        u64::try_from(self.int(index)?).map_err(|_| mismatch(index, "non-negative integer"))
    }

    pub fn u32(&self, index: usize) -> Result<u32, StoreError> {
        u32::try_from(self.int(index)?).map_err(|_| mismatch(index, "32-bit integer"))
    }

    pub fn opt_u64(&self, index: usize) -> Result<Option<u64>, StoreError> {
        match self.get(index)? {
            Value::Null => Ok(None),
            _ => self.u64(index).map(Some),
        }
    }

    pub fn opt_u32(&self, index: usize) -> Result<Option<u32>, StoreError> {
        match self.get(index)? {
            Value::Null => Ok(None),
            _ => self.u32(index).map(Some),
        }
    }

    pub fn blob(&self, index: usize) -> Result<Vec<u8>, StoreError> {
        match self.get(index)? {
            Value::Blob(b) => Ok(b.clone()),
            _ => Err(mismatch(index, "blob")),
        }
    }

    pub fn real(&self, index: usize) -> Result<f64, StoreError> {
        match self.get(index)? {
            Value::Real(x) => Ok(*x),
            Value::Integer(n) => Ok(*n as f64),
            _ => Err(mismatch(index, "real")),
        }
    }
}

pub fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

pub fn opt_text(s: Option<&str>) -> Value {
    s.map_or(Value::Null, text)
}

pub fn opt_int(n: Option<i64>) -> Value {
    n.map_or(Value::Null, Value::Integer)
}

/// Database integers are signed; values above `i64::MAX` cannot be stored.
pub fn to_i64(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Invalid(format!("{n} is out of range")))
}

pub fn kind_str(kind: SessionKind) -> &'static str {
    match kind {
        SessionKind::Live => "live",
        SessionKind::File => "file",
    }
}

pub fn kind_from_str(s: &str) -> Result<SessionKind, StoreError> {
    match s {
        "live" => Ok(SessionKind::Live),
        "file" => Ok(SessionKind::File),
        other => Err(StoreError::Storage(format!("unknown session kind {other:?}"))),
    }
}

pub fn status_str(status: SessionStatus) -> &'static str {
    match status {
        SessionStatus::Queued => "queued",
        SessionStatus::Recording => "recording",
        SessionStatus::Processing => "processing",
        SessionStatus::Complete => "complete",
        SessionStatus::Error => "error",
        SessionStatus::Interrupted => "interrupted",
    }
}

pub fn status_from_str(s: &str) -> Result<SessionStatus, StoreError> {
    match s {
        "queued" => Ok(SessionStatus::Queued),
        "recording" => Ok(SessionStatus::Recording),
        "processing" => Ok(SessionStatus::Processing),
        "complete" => Ok(SessionStatus::Complete),
        "error" => Ok(SessionStatus::Error),
        "interrupted" => Ok(SessionStatus::Interrupted),
        other => Err(StoreError::Storage(format!("unknown session status {other:?}"))),
    }
}
