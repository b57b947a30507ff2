//! What the library stores share: the `store` world's `library` on any SQL database.
//!
//! Every session, transcript version, word, speaker name, summary and audio-file record the
//! daemon keeps passes through a store plugin. `sqlite-store` (one file, the embedded default)
//! and `postgres-store` (a database several daemons share) differ only in how a statement
//! reaches their database and in their schema's dialect, so each implements [`Database`] and
//! registers [`Store`] over it; the library's queries are written once, here. The daemon's
//! search index is derived from what the store keeps, through the change sequence.
//!
//! Statements number their parameters `?1`, `?2`, ...; a database whose placeholders differ
//! rewrites them (PostgreSQL's `$1`).

mod codec;
mod structure;

use std::marker::PhantomData;

use scribe_plugin_api::store_0_3::library::{
    AudioFile, Change, Guest as LibraryGuest, NewSession, Session, SessionFilter, SessionPage,
    SessionPatch, Speaker, StoreError, StoredSummary, TranscriptVersion,
};
use scribe_plugin_api::store_0_3::types::{
    ActionItem, Capabilities, PluginInfo, Summary, TranscriptStructure, Word,
};
use scribe_plugin_api::store_0_3::Guest as StoreGuest;

pub use codec::{Row, Value};
use codec::{
    kind_from_str, kind_str, opt_int, opt_text, status_from_str, status_str, text, to_i64,
};

/// One SQL statement and its parameters.
pub struct Statement {
    pub sql: String,
    pub params: Vec<Value>,
}

/// A database a store keeps the library in: the plugin's host capability, with its errors
/// already mapped (a violated constraint is [`StoreError::Conflict`], anything else
/// [`StoreError::Storage`] with the reason).
pub trait Database: 'static {
    /// The plugin's id and its name for people.
    const ID: &'static str;
    const NAME: &'static str;
    /// Runs one query and returns its rows.
    fn query(statement: &Statement) -> Result<Vec<Row>>;
    /// Runs one statement and returns the number of rows it changed.
    fn execute(statement: &Statement) -> Result<u64>;
    /// Runs the statements in one transaction: all or none.
    fn transaction(statements: &[Statement]) -> Result<()>;
    /// Brings the schema up to date; returns the schema version.
    fn migrate() -> Result<u32>;
}

/// The kit's `?N` placeholders as `$N` (PostgreSQL's); a `?` inside a quoted literal or
/// identifier stays as it is.
pub fn dollar_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(open), _) if c == open => quote = None,
            (None, '?') if chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push('$');
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

/// The `store` world over `D`; a plugin registers it under a name of its own
/// (`type SqliteStore = Store<Sqlite>;`).
pub struct Store<D>(PhantomData<D>);

/// Largest page `list-sessions` returns; keeps one answer well inside the host's result cap.
const MAX_PAGE: u32 = 500;
/// Largest slice `get-words` returns (about 1 MB of words).
const MAX_WORDS_PAGE: u32 = 10_000;
/// Words per INSERT statement: 8 parameters each stays far below SQLite's 32766-variable
/// limit (and PostgreSQL's 65535) while cutting statement overhead for large appends.
const WORDS_PER_INSERT: usize = 200;

const SESSION_COLUMNS: &str =
    "id, kind, status, source, title, created_ms, duration_ms, provider, error";

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

pub(crate) fn stmt(sql: impl Into<String>, params: Vec<Value>) -> Statement {
    Statement { sql: sql.into(), params }
}

pub(crate) fn query<D: Database>(sql: &str, params: Vec<Value>) -> Result<Vec<Row>> {
    D::query(&stmt(sql, params))
}

fn execute<D: Database>(sql: &str, params: Vec<Value>) -> Result<u64> {
    D::execute(&stmt(sql, params))
}

fn session_from_row(row: &Row) -> Result<Session> {
    Ok(Session {
        id: row.text(0)?,
        kind: kind_from_str(&row.text(1)?)?,
        status: status_from_str(&row.text(2)?)?,
        source: row.text(3)?,
        title: row.text(4)?,
        created_ms: row.int(5)?,
        duration_ms: row.opt_u64(6)?,
        provider: row.opt_text(7)?,
        error: row.opt_text(8)?,
    })
}

fn load_session<D: Database>(id: &str) -> Result<Option<Session>> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1");
    query::<D>(&sql, vec![text(id)])?.first().map(session_from_row).transpose()
}

fn require_session<D: Database>(id: &str) -> Result<Session> {
    load_session::<D>(id)?.ok_or_else(|| StoreError::NotFound(format!("session {id}")))
}

fn version_from_row(row: &Row) -> Result<TranscriptVersion> {
    Ok(TranscriptVersion {
        id: row.u64(0)?,
        session_id: row.text(1)?,
        provider: row.text(2)?,
        created_ms: row.int(3)?,
        word_count: row.u64(4)?,
    })
}

/// Cursor for keyset pagination: the last row's `created_ms` and id.
fn encode_cursor(session: &Session) -> String {
    format!("{}:{}", session.created_ms, session.id)
}

fn decode_cursor(cursor: &str) -> Result<(i64, String)> {
    let (ms, id) = cursor
        .split_once(':')
        .ok_or_else(|| StoreError::Invalid("malformed cursor".into()))?;
    let ms = ms
        .parse()
        .map_err(|_| StoreError::Invalid("malformed cursor".into()))?;
    Ok((ms, id.to_string()))
}

/// WHERE clause and parameters for a filter (parameters numbered from 1).
fn filter_clause(filter: &SessionFilter) -> (String, Vec<Value>) {
    let mut conditions = Vec::new();
    let mut params = Vec::new();
    let mut push = |condition: &str, value: Value| {
        params.push(value);
        conditions.push(condition.replace('#', &format!("?{}", params.len())));
    };
    if let Some(kind) = filter.kind {
        push("kind = #", text(kind_str(kind)));
    }
    if let Some(status) = filter.status {
        push("status = #", text(status_str(status)));
    }
    if let Some(from) = filter.created_from_ms {
        push("created_ms >= #", Value::Integer(from));
    }
    if let Some(before) = filter.created_before_ms {
        push("created_ms < #", Value::Integer(before));
    }
    (conditions.join(" AND "), params)
}

impl<D: Database> StoreGuest for Store<D> {
    fn describe() -> PluginInfo {
        PluginInfo {
            id: D::ID.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            name: D::NAME.into(),
            capabilities: Capabilities {
                languages: Vec::new(),
                diarization: false,
                word_timing: false,
                encodings: Vec::new(),
                max_file_bytes: None,
            },
        }
    }
}

impl<D: Database> LibraryGuest for Store<D> {
    fn migrate() -> Result<u32> {
        D::migrate()
    }

    fn create_session(session: NewSession) -> Result<Session> {
        if session.id.is_empty() {
            return Err(StoreError::Invalid("session id is empty".into()));
        }
        execute::<D>(
            "INSERT INTO sessions (id, kind, status, source, title, created_ms, provider) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            vec![
                text(&session.id),
                text(kind_str(session.kind)),
                text(status_str(session.status)),
                text(&session.source),
                text(&session.title),
                Value::Integer(session.created_ms),
                opt_text(session.provider.as_deref()),
            ],
        )
        .map_err(|err| match err {
            StoreError::Conflict(_) => StoreError::Conflict(format!("session {} exists", session.id)),
            other => other,
        })?;
        require_session::<D>(&session.id)
    }

    fn update_session(id: String, patch: SessionPatch) -> Result<Session> {
        let mut sets = Vec::new();
        let mut params = vec![text(&id)];
        let mut set = |column: &str, value: Value| {
            params.push(value);
            sets.push(format!("{column} = ?{}", params.len()));
        };
        if let Some(status) = patch.status {
            set("status", text(status_str(status)));
            if patch.error.is_none() {
                set("error", Value::Null);
            }
        }
        if let Some(title) = &patch.title {
            set("title", text(title));
        }
        if let Some(duration) = patch.duration_ms {
            set("duration_ms", Value::Integer(to_i64(duration)?));
        }
        if let Some(provider) = &patch.provider {
            set("provider", text(provider));
        }
        if let Some(error) = &patch.error {
            set("error", text(error));
        }
        if !sets.is_empty() {
            let sql = format!("UPDATE sessions SET {} WHERE id = ?1", sets.join(", "));
            if execute::<D>(&sql, params)? == 0 {
                return Err(StoreError::NotFound(format!("session {id}")));
            }
        }
        require_session::<D>(&id)
    }

    fn get_session(id: String) -> Result<Option<Session>> {
        load_session::<D>(&id)
    }

    fn list_sessions(
        filter: SessionFilter,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<SessionPage> {
        if limit == 0 || limit > MAX_PAGE {
            return Err(StoreError::Invalid(format!("limit must be 1..={MAX_PAGE}")));
        }
        let (filter_sql, filter_params) = filter_clause(&filter);
        let count_sql = if filter_sql.is_empty() {
            "SELECT COUNT(*) FROM sessions".to_string()
        } else {
            format!("SELECT COUNT(*) FROM sessions WHERE {filter_sql}")
        };
        let total = query::<D>(&count_sql, filter_params.clone())?
            .first()
            .map(|row| row.u64(0))
            .transpose()?
            .unwrap_or(0);

        let mut conditions = Vec::new();
        if !filter_sql.is_empty() {
            conditions.push(filter_sql);
        }
        let mut params = filter_params;
        if let Some(cursor) = cursor {
            let (ms, id) = decode_cursor(&cursor)?;
            params.push(Value::Integer(ms));
            let ms_param = params.len();
            params.push(text(&id));
            let id_param = params.len();
            conditions.push(format!(
                "(created_ms < ?{ms_param} OR (created_ms = ?{ms_param} AND id < ?{id_param}))"
            ));
        }
        params.push(Value::Integer(i64::from(limit) + 1));
        let where_sql = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions {where_sql} \
             ORDER BY created_ms DESC, id DESC LIMIT ?{}",
            params.len()
        );
        let mut sessions = query::<D>(&sql, params)?
            .iter()
            .map(session_from_row)
            .collect::<Result<Vec<_>>>()?;
        let next_cursor = if sessions.len() > limit as usize {
            sessions.truncate(limit as usize);
            sessions.last().map(encode_cursor)
        } else {
            None
        };
        Ok(SessionPage { sessions, next_cursor, total })
    }

    fn delete_session(id: String) -> Result<bool> {
        Ok(execute::<D>("DELETE FROM sessions WHERE id = ?1", vec![text(&id)])? > 0)
    }

    fn create_version(
        session_id: String,
        provider: String,
        created_ms: i64,
    ) -> Result<TranscriptVersion> {
        require_session::<D>(&session_id)?;
        let rows = query::<D>(
            "INSERT INTO transcript_versions (session_id, provider, created_ms) \
             VALUES (?1, ?2, ?3) RETURNING id, session_id, provider, created_ms, word_count",
            vec![text(&session_id), text(&provider), Value::Integer(created_ms)],
        )?;
        rows.first()
            .map(version_from_row)
            .transpose()?
            .ok_or_else(|| StoreError::Storage("insert returned no row".into()))
    }

    fn list_versions(session_id: String) -> Result<Vec<TranscriptVersion>> {
        query::<D>(
            "SELECT id, session_id, provider, created_ms, word_count FROM transcript_versions \
             WHERE session_id = ?1 ORDER BY id",
            vec![text(&session_id)],
        )?
        .iter()
        .map(version_from_row)
        .collect()
    }

    fn append_words(version_id: u64, words: Vec<Word>) -> Result<u64> {
        let version = to_i64(version_id)?;
        let existing = query::<D>(
            "SELECT word_count FROM transcript_versions WHERE id = ?1",
            vec![Value::Integer(version)],
        )?;
        let Some(base) = existing.first().map(|row| row.u64(0)).transpose()? else {
            return Err(StoreError::NotFound(format!("transcript version {version_id}")));
        };
        let mut statements = Vec::new();
        for (chunk_index, chunk) in words.chunks(WORDS_PER_INSERT).enumerate() {
            let mut params = Vec::with_capacity(chunk.len() * 8);
            let mut tuples = Vec::with_capacity(chunk.len());
            for (i, word) in chunk.iter().enumerate() {
                let seq = base + (chunk_index * WORDS_PER_INSERT + i) as u64;
                let first = params.len() + 1;
                tuples.push(format!(
                    "(?{}, ?{}, ?{}, ?{}, ?{}, ?{}, ?{}, ?{})",
                    first,
                    first + 1,
                    first + 2,
                    first + 3,
                    first + 4,
                    first + 5,
                    first + 6,
                    first + 7
                ));
                params.extend([
                    Value::Integer(version),
                    Value::Integer(to_i64(seq)?),
                    text(&word.text),
                    text(&word.punctuated),
                    Value::Integer(to_i64(word.start_ms)?),
                    Value::Integer(to_i64(word.end_ms)?),
                    Value::Real(f64::from(word.confidence)),
                    opt_int(word.speaker.map(i64::from)),
                ]);
            }
            statements.push(stmt(
                format!(
                    "INSERT INTO words (version_id, seq, text, punctuated, start_ms, end_ms, \
                     confidence, speaker) VALUES {}",
                    tuples.join(", ")
                ),
                params,
            ));
        }
        let total = base + words.len() as u64;
        // The guard on the old count makes a concurrent append fail the whole transaction
        // instead of interleaving sequence numbers.
        statements.push(stmt(
            "UPDATE transcript_versions SET word_count = ?2 WHERE id = ?1 AND word_count = ?3",
            vec![
                Value::Integer(version),
                Value::Integer(to_i64(total)?),
                Value::Integer(to_i64(base)?),
            ],
        ));
        D::transaction(&statements)?;
        Ok(total)
    }

    fn put_structure(version_id: u64, structure: TranscriptStructure) -> Result<()> {
        structure::put::<D>(version_id, &structure)
    }

    fn get_structure(version_id: u64) -> Result<TranscriptStructure> {
        structure::get::<D>(version_id)
    }

    fn get_words(version_id: u64, offset: u64, limit: u32) -> Result<Vec<Word>> {
        if limit == 0 || limit > MAX_WORDS_PAGE {
            return Err(StoreError::Invalid(format!("limit must be 1..={MAX_WORDS_PAGE}")));
        }
        let rows = query::<D>(
            "SELECT text, punctuated, start_ms, end_ms, confidence, speaker FROM words \
             WHERE version_id = ?1 AND seq >= ?2 ORDER BY seq LIMIT ?3",
            vec![
                Value::Integer(to_i64(version_id)?),
                Value::Integer(to_i64(offset)?),
                Value::Integer(i64::from(limit)),
            ],
        )?;
        rows.iter()
            .map(|row| {
                Ok(Word {
                    text: row.text(0)?,
                    punctuated: row.text(1)?,
                    start_ms: row.u64(2)?,
                    end_ms: row.u64(3)?,
                    confidence: row.real(4)? as f32,
                    speaker: row.opt_u32(5)?,
                })
            })
            .collect()
    }

    fn set_speaker_name(session_id: String, speaker: u32, name: String) -> Result<()> {
        require_session::<D>(&session_id)?;
        execute::<D>(
            "INSERT INTO speakers (session_id, speaker, name) VALUES (?1, ?2, ?3) \
             ON CONFLICT (session_id, speaker) DO UPDATE SET name = excluded.name",
            vec![text(&session_id), Value::Integer(i64::from(speaker)), text(&name)],
        )?;
        Ok(())
    }

    fn list_speakers(session_id: String) -> Result<Vec<Speaker>> {
        query::<D>(
            "SELECT speaker, name FROM speakers WHERE session_id = ?1 ORDER BY speaker",
            vec![text(&session_id)],
        )?
        .iter()
        .map(|row| Ok(Speaker { speaker: row.u32(0)?, name: row.text(1)? }))
        .collect()
    }

    fn put_summary(session_id: String, stored: StoredSummary) -> Result<()> {
        require_session::<D>(&session_id)?;
        let sid = || text(&session_id);
        let summary = &stored.summary;
        let mut statements = vec![
            stmt("DELETE FROM summaries WHERE session_id = ?1", vec![sid()]),
            stmt(
                "INSERT INTO summaries (session_id, title, overview, model, template, \
                 created_ms, input_tokens, output_tokens) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                vec![
                    sid(),
                    opt_text(summary.title.as_deref()),
                    text(&summary.overview),
                    text(&stored.model),
                    opt_text(stored.template.as_deref()),
                    Value::Integer(stored.created_ms),
                    opt_int(stored.input_tokens.map(to_i64).transpose()?),
                    opt_int(stored.output_tokens.map(to_i64).transpose()?),
                ],
            ),
        ];
        let item = |kind: &str, seq: usize, text_: &str, owner: Option<&str>, at: Option<i64>| {
            stmt(
                "INSERT INTO summary_items (session_id, kind, seq, text, owner, at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                vec![sid(), text(kind), Value::Integer(seq as i64), text(text_), opt_text(owner), opt_int(at)],
            )
        };
        for (seq, point) in summary.key_points.iter().enumerate() {
            statements.push(item("key-point", seq, point, None, None));
        }
        for (seq, decision) in summary.decisions.iter().enumerate() {
            statements.push(item("decision", seq, decision, None, None));
        }
        for (seq, action) in summary.action_items.iter().enumerate() {
            let at = action.at_ms.map(to_i64).transpose()?;
            statements.push(item("action", seq, &action.text, action.owner.as_deref(), at));
        }
        D::transaction(&statements)?;
        Ok(())
    }

    fn get_summary(session_id: String) -> Result<Option<StoredSummary>> {
        let rows = query::<D>(
            "SELECT title, overview, model, template, created_ms, input_tokens, output_tokens \
             FROM summaries WHERE session_id = ?1",
            vec![text(&session_id)],
        )?;
        let Some(head) = rows.first() else {
            return Ok(None);
        };
        let mut summary = Summary {
            title: head.opt_text(0)?,
            overview: head.text(1)?,
            key_points: Vec::new(),
            action_items: Vec::new(),
            decisions: Vec::new(),
        };
        let items = query::<D>(
            "SELECT kind, text, owner, at_ms FROM summary_items WHERE session_id = ?1 \
             ORDER BY kind, seq",
            vec![text(&session_id)],
        )?;
        for row in &items {
            let body = row.text(1)?;
            match row.text(0)?.as_str() {
                "key-point" => summary.key_points.push(body),
                "decision" => summary.decisions.push(body),
                _ => summary.action_items.push(ActionItem {
                    text: body,
                    owner: row.opt_text(2)?,
                    at_ms: row.opt_u64(3)?,
                }),
            }
        }
        Ok(Some(StoredSummary {
            summary,
            model: head.text(2)?,
            template: head.opt_text(3)?,
            created_ms: head.int(4)?,
            input_tokens: head.opt_u64(5)?,
            output_tokens: head.opt_u64(6)?,
        }))
    }

    fn changes_since(after: u64, limit: u32) -> Result<Vec<Change>> {
        query::<D>(
            "SELECT session_id, seq FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            vec![Value::Integer(to_i64(after)?), Value::Integer(i64::from(limit.min(MAX_PAGE)))],
        )?
        .iter()
        .map(|row| Ok(Change { session_id: row.text(0)?, seq: row.u64(1)? }))
        .collect()
    }

    fn put_audio_file(session_id: String, file: AudioFile) -> Result<()> {
        require_session::<D>(&session_id)?;
        execute::<D>(
            "INSERT INTO audio_files (session_id, sha256, mime, size_bytes, created_ms, peaks) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (session_id) DO UPDATE SET \
             sha256 = excluded.sha256, mime = excluded.mime, size_bytes = excluded.size_bytes, \
             created_ms = excluded.created_ms, peaks = excluded.peaks",
            vec![
                text(&session_id),
                text(&file.sha256),
                text(&file.mime),
                Value::Integer(to_i64(file.size_bytes)?),
                Value::Integer(file.created_ms),
                Value::Blob(file.peaks),
            ],
        )?;
        Ok(())
    }

    fn get_audio_file(session_id: String) -> Result<Option<AudioFile>> {
        query::<D>(
            "SELECT sha256, mime, size_bytes, created_ms, peaks FROM audio_files WHERE session_id = ?1",
            vec![text(&session_id)],
        )?
        .first()
        .map(|row| {
            Ok(AudioFile {
                sha256: row.text(0)?,
                mime: row.text(1)?,
                size_bytes: row.u64(2)?,
                created_ms: row.int(3)?,
                peaks: row.blob(4)?,
            })
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::dollar_placeholders;

    #[test]
    fn placeholders_become_dollars_outside_quotes() {
        assert_eq!(
            dollar_placeholders("UPDATE t SET a = ?2, b = '?1' WHERE id = ?1 AND \"c?3\" = ?10"),
            "UPDATE t SET a = $2, b = '?1' WHERE id = $1 AND \"c?3\" = $10"
        );
        assert_eq!(dollar_placeholders("SELECT '?' || 'it''s ?1', ?"), "SELECT '?' || 'it''s ?1', ?");
    }
}
